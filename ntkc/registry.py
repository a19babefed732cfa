"""One entry per layer: everything the checker, compiler, finite networks,
verifier and ``explain`` need to know about it, in one place.

Like a JAX primitive's rule tables, but as one record per layer: the argument
schema and shape rule (read by ``check``), the (Σ, Θ) rule and its demand
(read by ``compile``), the finite-width ``init``/``apply`` (read by
``finite``), and the symbolic form (read by ``explain``). A layer is added by
writing one module in ``ntkc/rules/`` that calls :func:`register`; it cannot be
registered without its finite-width twin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

REQUIRED = object()


class ShapeError(Exception):
    """Raised by a shape rule; the checker adds the layer's position."""


@dataclass(frozen=True)
class Param:
    """One argument of a layer: ``type`` is float, int, bool, str, ints (an
    int or a tuple of ints, one per spatial axis) or floats (a number or a
    tuple of numbers, normalised to a tuple of floats)."""
    name: str
    type: str
    default: Any = REQUIRED
    choices: tuple | None = None
    low: float | None = None      # inclusive lower bound
    above: float | None = None    # exclusive lower bound
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def convert(self, value):
        """Check ``value`` against this schema; return it normalised or raise
        ``ValueError`` with a message that names what was expected."""
        t = self.type
        if t == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"must be a number, not {_kind(value)}")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError("must be a finite number")
        elif t == "int":
            value = _as_int(value)
        elif t == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, not {_kind(value)}")
        elif t == "str":
            if not isinstance(value, str):
                raise ValueError(f"must be a string, not {_kind(value)}")
        elif t == "floats":
            items = value if isinstance(value, tuple) else (value,)
            if not items or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in items):
                raise ValueError("must be a number or a tuple of numbers")
            value = tuple(float(v) for v in items)
            if not all(math.isfinite(v) for v in value):
                raise ValueError("must hold finite numbers")
        elif t == "ints":
            if isinstance(value, tuple):
                if not value:
                    raise ValueError("must be a whole number or a tuple of whole numbers")
                value = tuple(_as_int(v) for v in value)
            else:
                value = _as_int(value)
        if self.choices is not None and value not in self.choices:
            options = ", ".join(f'"{c}"' if isinstance(c, str) else str(c) for c in self.choices)
            shown = f'"{value}"' if isinstance(value, str) else value
            raise ValueError(f"must be one of {options}, not {shown}")
        for v in (value if isinstance(value, tuple) else (value,)):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if self.low is not None and v < self.low:
                    raise ValueError(f"must be at least {_num(self.low)}, not {_num(v)}")
                if self.above is not None and v <= self.above:
                    raise ValueError(f"must be greater than {_num(self.above)}, not {_num(v)}")
        return value


def _num(v):
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _kind(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, tuple):
        return "a tuple"
    return f"the number {_num(value)}"


def _as_int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a whole number, not {_kind(value)}")
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise ValueError(f"must be a whole number, not {_num(value)}")
        value = int(value)
    return value


def _same_demand(args, out_diag: bool) -> bool:
    return out_diag


@dataclass(frozen=True)
class LayerRule:
    """Everything about one layer. ``role`` is "weight" (has parameters),
    "activation", "linear" (parameter-free, linear in its input) or "block"
    (takes a body, e.g. Residual)."""
    name: str
    params: tuple
    shape: Callable            # (in Shape, args) -> out Shape; raises ShapeError
    kernel: Callable           # (State, args) -> State, or for blocks (State, args, body_fn)
    apply: Callable            # finite forward: (params, x, args, ctx) -> y
    role: str
    doc: str
    init: Callable | None = None   # (key, c_in, c_out, args, nspatial) -> params, weight layers only
    demand: Callable = _same_demand  # (args, out_diag) -> in_diag
    symbolic: Callable | None = None
    extra: dict = field(default_factory=dict)

    def param(self, name) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


LAYERS: dict[str, LayerRule] = {}


def register(rule: LayerRule) -> LayerRule:
    if rule.name in LAYERS:
        raise RuntimeError(f"layer {rule.name} registered twice")
    if rule.apply is None or (rule.role == "weight" and rule.init is None):
        raise RuntimeError(f"layer {rule.name} has no finite-width forward")
    LAYERS[rule.name] = rule
    return rule


def lookup(name: str) -> LayerRule | None:
    from . import rules  # noqa: F401  (importing registers every layer)
    return LAYERS.get(name)


def all_layers() -> dict:
    from . import rules  # noqa: F401
    return dict(LAYERS)
