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

import inspect
import math
from dataclasses import dataclass
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
    #: May be given positionally. Layers whose stax namesake takes a width
    #: first (Dense(512), Conv(64, (3, 3))) take keywords only, so a stax
    #: habit is an error rather than a silently different meaning.
    positional: bool = True
    #: String choices matched without regard to case ("SAME" is "same", as stax spells it).
    ignore_case: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def convert(self, value):
        """Check ``value`` against this schema; return it normalised or raise
        ``ValueError`` with a message that names what was expected."""
        t = self.type
        if t == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"must be a number, not {describe_value(value)}")
            value = float(value)
            if not math.isfinite(value):
                raise ValueError("must be a finite number")
        elif t == "int":
            value = _as_int(value)
        elif t == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"must be true or false, not {describe_value(value)}")
        elif t == "str":
            if not isinstance(value, str):
                raise ValueError(f"must be a string, not {describe_value(value)}")
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
        if self.ignore_case and isinstance(value, str) and self.choices is not None:
            folded = {c.lower(): c for c in self.choices if isinstance(c, str)}
            value = folded.get(value.lower(), value)
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


def describe_value(value) -> str:
    """How a value reads in an error message: "the number 2", "a tuple", ..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, tuple):
        return "a tuple"
    return f"the number {_num(value)}"


def _as_int(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a whole number, not {describe_value(value)}")
    if isinstance(value, float):
        if not (math.isfinite(value) and value.is_integer()):
            raise ValueError(f"must be a whole number, not {_num(value)}")
        value = int(value)
    return value


def _same_demand(args, out_diag: bool) -> bool:
    return out_diag


def _block_demand(args, out_diag: bool, body_in_diag: bool = True) -> bool:
    return out_diag and body_in_diag


# The signature of every callable a rule may carry, per kind of rule: the
# argument names are documentation, the count is checked at registration so a
# rule with a wrong arity fails on import, not deep inside a kernel call.
SIGNATURES = {
    "layer": {
        "shape": ("in_shape", "args"),                      # -> out Shape; raises ShapeError
        "kernel": ("state", "args", "in_shape"),            # -> State
        "apply": ("params", "x", "args", "ctx"),            # finite forward -> y
        "init": ("key", "c_in", "c_out", "args", "nspatial"),  # -> params pytree
        "demand": ("args", "out_diag"),                     # -> in_diag
        "symbolic": ("args", "in_shape"),                   # -> symbolic.Affine | Pointwise
        "theta_at_zero": ("args",),                         # if a function: -> "zero" | "nngp" | None
        "mc_bias": ("args",),
        "wide_input": ("args",),                            # -> None or why
    },
    "activation": {
        "shape": ("in_shape", "args"),
        "kernel": ("state", "args", "in_shape"),
        "apply": ("params", "x", "args", "ctx"),
        "demand": ("args", "out_diag"),
        "symbolic": ("args",),                              # -> ((c, v1, v2), Σ', Σ̇)
        "pair": ("c", "v1", "v2", "args"),                  # -> (Σ', Σ̇)
        "fn": ("x", "args"),                                # φ(x)
        "function": ("args",),                              # -> φ's name, for explain
        "theta_at_zero": ("args",),
        "mc_bias": ("args",),
        "wide_input": ("args",),
    },
    "block": {
        "shape": ("in_shape", "args", "body_shapes"),
        "kernel": ("state", "args", "in_shape", "bodies"),  # bodies: State -> State callables
        "apply": ("params", "x", "args", "ctx", "bodies"),  # bodies: x -> y callables
        "init": ("key", "c_in", "c_out", "args", "nspatial"),  # the block's own parameters
        "demand": ("args", "out_diag", "body_in_diag"),
        "symbolic": ("args", "in_shape", "bodies"),         # -> symbolic.Combine
        "terms": ("node",),                                 # -> chains of nodes it combines
        "validate": ("node",),                              # -> None or a message
        "theta_at_zero": ("args",),
        "mc_bias": ("args",),
        "wide_input": ("args",),
    },
}


@dataclass(frozen=True)
class Rule:
    """What every kind of rule holds. Capabilities are stated, never inferred:

    * ``theta_at_zero`` — what Θ' is when Θ = 0 (the network's input): ``"zero"``
      (Θ' is linear in Θ: parameter-free layers, activations), ``"nngp"``
      (Θ' = Σ': a layer whose only parameters are one affine map of its input,
      as Dense), or None (unknown: the compiler runs the rule with Θ = 0 as it
      is). The compiler skips Θ up to the first rule that is not ``"zero"``.
      It may be a function of the layer's arguments returning one of these
      (Dense's is ``"nngp"`` in the NTK parameterization, None in the standard).
    * ``fresh`` — the output is uncorrelated with the input and with anything
      computed before (it ends in zero-mean weights used nowhere else).
    * ``gaussian_out`` — the output's channels are i.i.d. Gaussian processes
      ``"always"`` (after weights), ``"if_input"`` (a linear map of them) or
      ``"never"`` (an activation's output); ``needs_gaussian`` — the kernel rule
      holds only for such an input; ``mixes`` — the output's channels are not
      identically distributed (Flatten's positions, Concat's branches).
    * ``writes_width`` — the finite network gives the layer's output ``width``
      channels (a layer with parameters); otherwise it keeps its input's.
    * ``positionwise`` — the layer acts on each position alone, so it may run
      inside a recurrent cell, one time step at a time.
    * ``joint`` — how the rule acts on graphs' joint node-pair layout
      (``ntkc.graphjoint``): ``"same"`` (its ``kernel`` works there unchanged:
      elementwise rules, weight layers, blocks that add their bodies' states),
      a callable ``(state, args, in_shape) -> State`` of its own (GraphAgg, the
      graph readouts), or None (graph Grams of a net holding it take the
      padded path).
    * ``mc_bias`` — ``verify``'s allowance for the finite-width bias
      E K̂ − K that this layer's weights add where they read a hidden
      (width-channel) stream, in units of 1/width (a number, or a function
      of the arguments). 1.0 covers Dense and Conv with a margin of about 3
      (docs/verification.md); a layer whose output depends on averages of
      its own input more than linearly (unnormalised attention) states more.
      A block's body counts once per pass (``body.passes``, a recurrent
      cell's T steps).
    * ``reads_width`` — the finite ``init``/``apply`` read ``args["in_width"]``,
      the width of the input stream as the net declares it
      (:attr:`~ntkc.shapes.Shape.width`; a standard-parameterized layer's
      NTK term is that fan-in times Σ).
    * ``reads_shape`` — the finite ``init``/``apply`` read ``args["in_shape"]``,
      the input's :class:`~ntkc.shapes.Shape` (SelfAttention draws its
      positional embeddings per position).
    * ``wide_input`` — None, or a function of the arguments returning why the
      layer's kernel is the limit of many *input* channels (None where it is
      not, for these arguments): SelfAttention's positional embeddings are
      drawn per input channel, so where the layer reads the data (few,
      fixed channels) a finite net's embedding is a few random vectors, not
      their covariance. The checker warns there, and the finite network
      widens the data by tiling its channels (which leaves every other
      layer's distribution as it is) so that it has the kernel's limit.
    * ``self_pairs`` — which position pairs of the per-example
      self-covariances Σ(x, x) the rule reads, so the compiler can keep only
      the same-position pairs (their variances) where no layer needs more:
      ``"cross"`` (the default: the same pairs as the cross-covariance),
      ``"tied"`` (the output's same-position pairs come from the input's
      same-position pairs alone, and Σ(x, x') and Θ never read Σ(x, x):
      Dense, Conv), ``"variances"`` (tied, and Σ(x, x') reads the variances:
      the activations) or ``"pool"`` (Σ(x, x') never reads Σ(x, x), but the
      output's self-covariance reads all the pairs of the cross layout:
      global pools).
    """
    name: str
    params: tuple
    shape: Callable
    kernel: Callable
    apply: Callable
    doc: str
    symbolic: Callable | None = None
    demand: Callable = _same_demand
    init: Callable | None = None
    theta_at_zero: str | Callable | None = None
    fresh: bool = False
    gaussian_out: str = "if_input"
    needs_gaussian: bool = False
    mixes: bool = False
    writes_width: bool = False
    positionwise: bool = False
    joint: Any = None
    reads_width: bool = False
    reads_shape: bool = False
    mc_bias: float | Callable = 1.0
    self_pairs: str = "cross"
    wide_input: Callable | None = None

    kind = "layer"

    @property
    def has_params(self) -> bool:
        return self.init is not None

    @property
    def role(self) -> str:
        """A one-word summary for tables and generators: "weight", "linear",
        "activation" or "block" (read the capabilities for decisions)."""
        if self.kind != "layer":
            return self.kind
        return "weight" if self.has_params else "linear"

    def mc_bias_for(self, args) -> float:
        """``mc_bias`` for a layer with these arguments."""
        return float(self.mc_bias(args) if callable(self.mc_bias) else self.mc_bias)

    def wide_input_for(self, args) -> str | None:
        """``wide_input``'s reason for a layer with these arguments, or None."""
        return None if self.wide_input is None else self.wide_input(args)

    def theta_at_zero_for(self, args) -> str | None:
        """``theta_at_zero`` for a layer with these arguments."""
        how = self.theta_at_zero
        return how(args) if callable(how) else how

    def param(self, name) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None


@dataclass(frozen=True)
class LayerRule(Rule):
    """A leaf layer: a linear map, a weight layer, a readout.

    ``only_inside`` names the block a marker layer (Tap) may appear in,
    directly."""
    only_inside: str | None = None


@dataclass(frozen=True)
class ActivationRule(Rule):
    """An elementwise φ, given by ``pair(c, v1, v2, args) -> (Σ', Σ̇)`` on the
    2×2 covariance of a Gaussian pair and the pointwise ``fn(x, args)`` the
    finite network applies; ``function(args)`` names φ for ``explain`` when
    there is no closed form (``symbolic`` is None)."""
    pair: Callable | None = None
    fn: Callable | None = None
    function: Callable | None = None
    theta_at_zero: str | None = "zero"
    gaussian_out: str = "never"
    needs_gaussian: bool = True
    positionwise: bool = True
    joint: Any = "same"
    self_pairs: str = "variances"

    kind = "activation"


@dataclass(frozen=True)
class BlockRule(Rule):
    """A layer with bodies (Residual, Sum, Concat, JumpingKnowledge, ...).

    ``body`` is its body mode (:mod:`ntkc.bodies`): how its source body is cut
    into bodies, planned, and sized in the finite network. ``terms(node)``
    returns the chains from the block's input to each output it combines (the
    empty chain for a skip connection), from which correlation and Gaussianity
    are derived; ``validate(node)`` may reject a block the shape rule cannot.
    ``init``, if given, draws the block's own parameters (besides its bodies');
    ``weights_first`` says they map the block's input before any body reads it,
    so the bodies read a fresh, Gaussian input (Recurrent's U x_t + W h + b)."""
    body: Any = None
    terms: Callable | None = None
    validate: Callable | None = None
    weights_first: bool = False
    demand: Callable = _block_demand

    kind = "block"


LAYERS: dict[str, Rule] = {}

_CHOICES = {"theta_at_zero": (None, "zero", "nngp"),
            "gaussian_out": ("always", "if_input", "never"),
            "self_pairs": ("cross", "tied", "variances", "pool")}


def register(rule: Rule) -> Rule:
    """Add ``rule`` to the registry after checking that it is complete: the
    callables its kind needs, each with the arity of :data:`SIGNATURES`."""
    def fail(why):
        raise RuntimeError(f"layer {rule.name}: {why}")

    if rule.name in LAYERS:
        fail("registered twice")
    if not isinstance(rule, (LayerRule, ActivationRule, BlockRule)):
        fail("a rule is a LayerRule, an ActivationRule or a BlockRule")
    if rule.apply is None:
        fail("has no finite-width forward (apply)")
    needed = {"shape", "kernel", "apply"}
    if isinstance(rule, ActivationRule):
        needed |= {"pair", "fn"}
        if rule.init is not None:
            fail("an activation has no parameters (init); give φ's layer a weight layer before it")
    if isinstance(rule, BlockRule):
        needed |= {"body", "terms"}
    for name in sorted(needed):
        if getattr(rule, name) is None:
            fail(f"has no {name}")
    for name, params in SIGNATURES[rule.kind].items():
        fn = getattr(rule, name, None)
        if fn is not None and not _accepts(fn, len(params)):
            fail(f"{name} must take ({', '.join(params)})")
    for name, allowed in _CHOICES.items():
        if name == "theta_at_zero" and callable(rule.theta_at_zero):
            continue  # its arity is checked with the other callables
        if getattr(rule, name) not in allowed:
            fail(f"{name} must be one of {allowed}, not {getattr(rule, name)!r}")
    if not (rule.joint in (None, "same") or (callable(rule.joint)
                                                and _accepts(rule.joint, len(SIGNATURES[rule.kind]["kernel"])))):
        fail(f'joint must be None, "same" or a callable ({", ".join(SIGNATURES[rule.kind]["kernel"])})')
    if _theta_at_zero_by_default(rule) == "nngp" and not rule.has_params:
        fail('theta_at_zero="nngp" (Θ\' = Σ\' from Θ = 0) needs parameters')
    LAYERS[rule.name] = rule
    return rule


def _theta_at_zero_by_default(rule):
    """``theta_at_zero`` with the default arguments (as given, if no function)."""
    if not callable(rule.theta_at_zero):
        return rule.theta_at_zero
    try:
        return rule.theta_at_zero({p.name: p.default for p in rule.params})
    except Exception:  # a required argument: nothing to say before the layer is used
        return None


def _accepts(fn, n: int) -> bool:
    """Whether ``fn`` can be called with ``n`` positional arguments."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    try:
        sig.bind(*range(n))
    except TypeError:
        return False
    return True


def lookup(name: str) -> Rule | None:
    from . import rules  # noqa: F401  (importing registers every layer)
    return LAYERS.get(name)


def all_layers() -> dict:
    from . import rules  # noqa: F401
    return dict(LAYERS)


def sum_width(a, b, what: str):
    """The width (finite channel count, see :class:`~ntkc.shapes.Shape`) of
    a sum of two streams: whichever is known; two known ones must agree, as
    stax's FanInSum needs equal shapes."""
    if a is not None and b is not None and a != b:
        raise ShapeError(f"{what} adds streams of width {a} and {b}; give the weight layers "
                         f"that write them the same width=")
    return a if a is not None else b


def weight_layers() -> str:
    """The registered layers whose output is fresh, for messages: "Dense, Conv or ..."."""
    names = [n for n, r in all_layers().items() if r.kind == "layer" and r.fresh]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
