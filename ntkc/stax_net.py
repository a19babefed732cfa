"""The object every ``ntkc.stax`` layer returns: ``(init_fn, apply_fn,
kernel_fn)`` over one network, compiled from its generated ``.ntk`` source
(see ``ntkc/stax.py`` for the API, ``ntkc/stax_source.py`` for the text)."""

from __future__ import annotations

import jax.numpy as jnp

from . import stax_source as src
from .stax_source import error as _error
from .graphs import GraphBatch, Graphs

_KERNEL_OPTIONS = ("memory_limit", "batch_size", "devices", "progress")


class Layer:
    """``(init_fn, apply_fn, kernel_fn)`` of one stax layer or network (it
    unpacks to the three, and indexes like stax's tuple), plus
    :meth:`to_ntk`. Compiled kernels and finite networks are cached per
    example shape."""

    def __init__(self, spec: src.Spec, label: str):
        self.spec, self.label = spec, label
        self._compiled = {}   # example shape -> (ntkc.Kernel, final stream)
        self._last_shape = None

    def __len__(self):
        return 3

    def __iter__(self):
        return iter((self.init_fn, self.apply_fn, self.kernel_fn))

    def __getitem__(self, i):
        return (self.init_fn, self.apply_fn, self.kernel_fn)[i]

    def __repr__(self):
        return f"<ntkc.stax {self.label}>"

    # -- the .ntk source ---------------------------------------------------------
    def to_ntk(self, input_shape=None) -> str:
        """The ``.ntk`` file equivalent to this network for inputs shaped
        ``input_shape`` (batch axis first, as ``init_fn`` takes it; default:
        the shape of the last ``kernel_fn`` call). ``ntkc.compile`` of it is
        the kernel ``kernel_fn`` computes."""
        if input_shape is None:
            if self._last_shape is None:
                raise _error(f"{self.label}.to_ntk() needs input_shape (e.g. (-1, 8)) until "
                             f"kernel_fn has been called once")
            example = self._last_shape
        else:
            example = _example_shape(input_shape, "input_shape")
        return src.source(self.spec, example)[0]

    def _compile(self, example: tuple):
        if example not in self._compiled:
            from . import compile as compile_source
            text, out = src.source(self.spec, example)
            self._compiled[example] = (compile_source(text, filename="<ntkc.stax>"), out)
        self._last_shape = example
        return self._compiled[example]

    # -- the three functions ---------------------------------------------------------
    def kernel_fn(self, x1, x2=None, get=None, **kwargs):
        """Σ and/or Θ of the network between x1 and x2 (stax's ``kernel_fn``)."""
        pattern = kwargs.pop("pattern", None)
        if "mask_constant" in kwargs:
            raise _error("kernel_fn got mask_constant=: ntkc has no masks for variable-length "
                         "sequences or images (docs/language.md §7.1); graph inputs take a node "
                         "mask (ntkc.GraphBatch)")
        bad = [k for k in kwargs if k not in _KERNEL_OPTIONS]
        if bad:
            raise _error(f"kernel_fn got {bad[0]}=: ntkc.stax's kernel_fn takes x1, x2, get, "
                         f"pattern (graphs) and {', '.join(_KERNEL_OPTIONS)}")
        if isinstance(x1, (GraphBatch, Graphs)) or pattern is not None:
            x1, x2 = _graphs(x1, x2, pattern)
            example = (None, x1.channels if isinstance(x1, Graphs)
                       else int(jnp.shape(x1.features)[2]))
        else:
            if jnp.ndim(x1) == 0:
                raise _error("kernel_fn: x1 must be a batch of inputs (N, ...), not a scalar")
            example = tuple(int(v) for v in jnp.shape(x1)[1:])
        kernel, _ = self._compile(example)
        if kernel.net.input.kind == "graph" and not isinstance(x1, (GraphBatch, Graphs)):
            raise _error("kernel_fn: this net aggregates over a graph (stax.Aggregate); pass "
                         "pattern=(adjacency1, adjacency2), each (N, V, V)")
        return kernel(x1, x2, get, **kwargs)

    def _finite(self, example: tuple):
        from .finite import finite_net
        kernel, out = self._compile(example)
        widths = list(out.widths)
        last = out.last_width
        hidden = widths[:-1] if last is not None and widths else widths
        width = max(hidden) if hidden else (last or 1)
        dtype = jnp.asarray(0.0).dtype  # float64 under jax_enable_x64, as stax draws
        return finite_net(kernel, width=width, out_width=last, dtype=dtype)

    def init_fn(self, key, input_shape):
        """``(output_shape, params)`` of the finite network (stax's ``init_fn``)."""
        example = _example_shape(input_shape, "input_shape")
        if "Aggregate" in set(self.spec.layers()):
            example = (None, example[-1])
        fnet = self._finite(example)
        return (tuple(input_shape)[0], fnet.out_channels), fnet.init(key)

    def apply_fn(self, params, inputs, **kwargs):
        """The finite network's output on ``inputs`` (stax's ``apply_fn``);
        graphs take ``pattern=adjacency (N, V, V)``."""
        pattern = kwargs.pop("pattern", None)
        kwargs.pop("rng", None)  # only stax.Dropout draws from it; ntkc has none
        if kwargs:
            raise _error(f"apply_fn got {next(iter(kwargs))}=: ntkc.stax's apply_fn takes "
                         f"params, inputs, pattern (graphs) and rng (ignored)")
        example = _example_shape(jnp.shape(inputs), "inputs")
        if "Aggregate" in set(self.spec.layers()):
            if pattern is None:
                raise _error("apply_fn: this net aggregates over a graph; pass pattern=adjacency")
            example = (None, example[-1])
            inputs = GraphBatch(inputs, pattern)
        return self._finite(example).apply(params, inputs)


def to_ntk(layer, input_shape) -> str:
    """``layer.to_ntk(input_shape)``: the ``.ntk`` source of a stax network."""
    if not isinstance(layer, Layer):
        raise _error("to_ntk takes a layer or network from ntkc.stax")
    return layer.to_ntk(input_shape)


def _example_shape(shape, name) -> tuple:
    try:
        shape = tuple(int(v) for v in shape)
    except TypeError:
        raise _error(f"{name} must be a shape tuple with the batch axis first, "
                     f"not {shape!r}") from None
    if len(shape) < 2:
        raise _error(f"{name} {shape} has no example axes: give (N, ...) with the batch first")
    return shape[1:]


def _graphs(x1, x2, pattern):
    """stax's (features, pattern=(adjacency1, adjacency2)) as GraphBatches."""
    if isinstance(x1, (GraphBatch, Graphs)):
        if pattern is not None:
            raise _error("kernel_fn: give either graph inputs (ntkc.Graphs, GraphBatch) or "
                         "pattern=, not both")
        return x1, x2
    if not (isinstance(pattern, (tuple, list)) and len(pattern) == 2):
        raise _error("kernel_fn: pattern must be a pair (adjacency1, adjacency2); "
                     "adjacency2 may be None when x2 is None")
    p1, p2 = pattern
    if p1 is None or (x2 is not None and p2 is None):
        raise _error("kernel_fn: pattern=(adjacency1, adjacency2) needs an adjacency "
                     "(N, V, V) for each input given")
    return GraphBatch(x1, p1), (None if x2 is None else GraphBatch(x2, p2))
