"""Finite-width networks built from the same checked net as the kernel.

Every layer's finite forward is its registry entry's ``init``/``apply``, so a
network has one description for both halves. The parameterization is NTK's:
weights and biases are drawn N(0, 1) and a weight layer computes
``W_std/√fan_in · W x + b_std · b``; with ``width`` channels in every hidden
weight layer, the network's kernels converge to the compiled Σ and Θ as the
width grows.

Channels are bookkept by running each layer's forward on abstract shapes
(``jax.eval_shape``), so layers that change the channel count (``Flatten``
folds positions into channels) need no special case. Where a block combines
streams, their channel counts must agree: ``Residual`` and ``Sum`` bodies
write as many channels as a parameter-free branch fixes (else ``width``),
``Concat`` branches get channels in proportion to their ``Branch(width=w)``,
and ``JumpingKnowledge`` segments match its first tap. The network's last
weight layer writes ``out_width`` channels unless a block follows it.

If that bookkeeping would make a weight layer read a narrow hidden stream
(``Residual { Dense }`` straight on a 3-channel input must return 3
channels), the input is tiled to at least ``width`` channels instead: tiling
x to [x, x, …] (t copies) leaves the input kernel x·x'/C and the law of every
weight layer's output unchanged (W·[x, …, x]/√(tC) is N(0, x·x/C) per unit),
while every stream becomes wide.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .check import CheckedNet, Node
from .correlation import has_skip
from .errors import NtkError


@dataclass(frozen=True)
class Layer:
    """One node of the finite network with the channels it reads and writes."""
    node: Node
    path: tuple        # (i,) at top level, (i, body, j, ...) inside blocks
    c_in: int
    c_out: int
    bodies: tuple = ()  # for block layers: a tuple of Layers per body

    @property
    def line(self) -> int:
        return self.node.pos[0]


class FiniteNet:
    """A finite-width network of one :class:`~ntkc.check.CheckedNet`.

    ``init(key) -> params`` draws every weight and bias N(0, 1) (in ``dtype``);
    ``apply(params, x, ctx=None) -> (N, C)`` runs a batch (``ctx`` holds
    ``"adjacency" (N, V, V)`` and ``"mask" (N, V)`` for graphs);
    ``intermediates(params, x, ctx)`` returns ``{path: output}`` of every
    layer, bodies included (see :meth:`walk` for the order).

    The parameters are a JAX pytree with a fixed contract, so any JAX optimizer
    (a hand-written step, optax, ...) can train them:

    * a list with one entry per top-level layer of the net: ``None`` for a
      layer without parameters, the dict its rule's ``init`` returns otherwise
      (``Dense``: ``{"W": (C_in, C_out), "b": (C_out,)}``), and for a block
      ``{"own": ..., "bodies": [list per body, the same way]}``;
    * every leaf a floating array in the network's ``dtype``, drawn N(0, 1);
      the layer scales it in ``apply`` (``W_std/√fan_in · W x + b_std · b``),
      so a gradient step on these leaves is gradient descent in the NTK
      parameterization;
    * ``apply`` is a pure function of (params, x): it composes with
      ``jax.jit``, ``jax.grad``, ``jax.vmap`` and ``jax.jvp``.

    ``apply`` and ``intermediates`` check the parameters' structure and the
    input's shape (both static, so also under ``jit``) and raise
    :class:`~ntkc.NtkError` with the expected and the given shape.
    """

    def __init__(self, net: CheckedNet, width: int = 1024, out_width: int | None = None,
                 dtype=jnp.float32):
        out_width = width if out_width is None else out_width
        if not (isinstance(width, int) and width >= 1):
            raise NtkError(f"width must be a whole number >= 1, not {width!r}")
        if not (isinstance(out_width, int) and out_width >= 1):
            raise NtkError(f"out_width must be a whole number >= 1, not {out_width!r}")
        self.net, self.width, self.out_width = net, width, out_width
        self.dtype = jnp.dtype(dtype)
        shape = net.input
        v = 3 if shape.kind == "graph" else None
        self._spatial = tuple(v if s is None else s for s in shape.spatial)
        self._ctx_example = _abstract_ctx(shape.kind, v, self.dtype)
        self.tile = 1
        try:
            self.layers, out, narrow = self._build_all()
        except _Mismatch:
            narrow = True
        if narrow:  # some weight layer would read a narrow hidden stream: widen the input
            self.tile = -(-width // shape.channels)
            self.layers, out, narrow = self._build_all()
        self.out_channels = int(out.shape[-1])

    # -- construction -------------------------------------------------------------
    def _build_all(self):
        self._narrow = False
        c = self.net.input.channels * self.tile
        x = jax.ShapeDtypeStruct((1,) + self._spatial + (c,), self.dtype)
        layers, out, _ = self._build(self.net.layers, x, self.out_width, (), False)
        return layers, out, self._narrow

    def _build(self, nodes, x, target, prefix, hidden):
        """Layers for ``nodes`` reading abstract ``x``. The last weight layer
        (or block) at this level writes ``target`` channels, unless a block
        with a skip term follows it; ``hidden`` says whether ``x`` comes out
        of a weight layer (else it is the data, exactly Gaussian downstream)."""
        last = None
        for i in reversed(range(len(nodes))):
            rule = nodes[i].rule
            if rule.writes_width or (rule.kind == "block" and not has_skip(nodes[i])):
                last = i
                break
            if rule.kind == "block":
                break
        layers = []
        for i, node in enumerate(nodes):
            rule, path = node.rule, prefix + (i,)
            c_in = int(x.shape[-1])
            want = target if i == last else self.width
            if rule.kind == "block":
                bodies, hidden_out = self._block(node, x, want, path, hidden)
                layer = Layer(node, path, c_in, want if rule.writes_width else c_in, bodies)
            else:
                if rule.has_params:
                    # a narrow hidden stream, or the data where the layer's
                    # kernel is the limit of many input channels
                    self._narrow |= c_in < self.width and (
                        hidden or rule.wide_input_for(node.kwargs) is not None)
                layer = Layer(node, path, c_in, want if rule.writes_width else c_in)
                hidden_out = hidden or rule.writes_width
            x = self._out(layer, x)
            layers.append(Layer(node, path, c_in, int(x.shape[-1]), layer.bodies))
            hidden = hidden_out
        return tuple(layers), x, hidden

    def _block(self, node, x, target, path, hidden):
        """The bodies of a block, sized by its body mode so that the streams it
        combines agree."""
        mode = node.rule.body
        want = mode.widths(self, node, x, target, hidden, self._free_channels)
        x = mode.body_input(x, target)
        layers, outs, h, hid = [], [], x, hidden
        for j, (body, w) in enumerate(zip(node.bodies, want)):
            src, hid_in = (h, hid) if mode.sequential else (x, hidden)
            lay, h, hid = self._build(body, src, w, path + (j,), hid_in)
            layers.append(lay)
            outs.append(hid)
        return tuple(layers), any(outs) or (hidden and has_skip(node)) or node.rule.writes_width

    def _free_channels(self, body, x, hidden):
        """The channel count ``body`` writes whatever it is asked (None if it
        follows the request: it ends in a weight layer)."""
        saved = self._narrow
        try:
            a = int(self._build(body, x, 7, (), hidden)[1].shape[-1])
            b = int(self._build(body, x, 11, (), hidden)[1].shape[-1])
        finally:
            self._narrow = saved
        return None if a != b else a

    def _out(self, layer, x):
        """The abstract output of one layer."""
        params = jax.eval_shape(lambda k: self._init_layer(layer, k), jax.random.PRNGKey(0))
        try:
            return jax.eval_shape(lambda p, h: _run((layer,), (p,), h, self._ctx_example, None),
                                  params, x)
        except (TypeError, ValueError) as e:  # the streams a block combines disagree
            raise _Mismatch(f"{layer.node.layer} on line {layer.line}: {e}") from None

    def _init_layer(self, layer: Layer, key):
        node = layer.node
        if layer.bodies:
            own = self._init_layer(Layer(node, layer.path, layer.c_in, layer.c_out),
                                   jax.random.fold_in(key, len(layer.bodies)))
            return {"own": own, "bodies": [self._init_layers(b, jax.random.fold_in(key, j))
                                           for j, b in enumerate(layer.bodies)]}
        if not node.rule.has_params:
            return None
        # Draw in the network's precision: float64 threefry costs ~1.6x float32 on CPU.
        with jax.enable_x64(self.dtype == jnp.float64):
            p = node.rule.init(key, layer.c_in, layer.c_out, node.finite_args,
                               node.in_shape.nspatial)
        return jax.tree_util.tree_map(lambda a: jnp.asarray(a, self.dtype), p)

    def _init_layers(self, layers, key):
        return [self._init_layer(lay, jax.random.fold_in(key, i)) for i, lay in enumerate(layers)]

    # -- the network ------------------------------------------------------------------
    def init(self, key):
        """All parameters for one draw: a list (one entry per top-level layer),
        every leaf N(0, 1); see the class docstring for the pytree contract."""
        return self._init_layers(self.layers, key)

    def apply(self, params, x, ctx=None):
        """The network's output ``f(x) = (N, C)`` on a batch ``x`` shaped as the
        input line declares (``(N, D)`` for ``vector(dim=D)``, ...); for a
        graph net an :class:`~ntkc.Graphs` (or a GraphBatch, or a list of
        pairs: see :meth:`graph_input`)."""
        self.check_params(params)
        x, ctx = self.graph_input(x, ctx)
        return _run(self.layers, params, self._input(x), ctx, None)

    def intermediates(self, params, x, ctx=None) -> dict:
        """``{path: (N, *S, C)}``: every layer's output (bodies included)."""
        self.check_params(params)
        x, ctx = self.graph_input(x, ctx)
        rec = {}
        _run(self.layers, params, self._input(x), ctx, rec)
        return rec

    def graph_input(self, x, ctx=None, name: str = "x"):
        """``(features, ctx)`` for the layers: a graph input (an
        :class:`~ntkc.Graphs`, a GraphBatch — also one of tracers under
        ``jax.jit`` — or a list of pairs) becomes its padded view's features
        ``(N, V, F)`` and ``ctx = {"adjacency": (N, V, V), "mask": (N, V)}``,
        the arrays the padded kernel path reads (``ntkc.graphs.padded_arrays``),
        so GraphAgg's ``operator`` sees the same Â in both. An array ``x`` comes
        back with ``ctx`` as given (the old form: the padded arrays by hand)."""
        from .graphs import is_graph_input, padded_arrays
        graph = self.net.input.kind == "graph"
        if graph and is_graph_input(x):
            if ctx:
                raise NtkError(f"{name}: the graphs carry their adjacency; give ctx only with "
                               f"an array of padded features")
            f, a, m = padded_arrays(x, name, self.net.input.channels, self.dtype)
            return f, {"adjacency": a, "mask": m}
        if graph and "adjacency" not in (ctx or {}):
            raise NtkError(f"{name}: the net's input is a graph; pass an ntkc.Graphs (or a list "
                           f"of (features, adjacency) pairs, or an ntkc.GraphBatch)")
        return x, dict(ctx or {})

    def check_input(self, x, name: str = "x"):
        """Raise :class:`~ntkc.NtkError` unless ``x`` is a batch of this net's
        examples; only shapes are read, so tracers pass too."""
        shape = self.net.input
        want = (None,) + tuple(shape.spatial) + (shape.channels,)
        got = tuple(jnp.shape(x))
        if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
            raise NtkError(f"{name} has shape {got}, but the input line declares {shape.kind}: "
                           f"expected {shape.batch_shape()}")

    def check_params(self, params):
        """Raise :class:`~ntkc.NtkError` unless ``params`` has :meth:`init`'s
        structure and leaf shapes."""
        want = self._shapes()
        if params is want:
            return
        ws, ts = jax.tree_util.tree_flatten(want)
        try:
            gs = ts.flatten_up_to(params)
        except (TypeError, ValueError):
            given = jax.tree_util.tree_structure(params)
            raise NtkError(f"params do not have the structure FiniteNet.init returns: "
                           f"expected {ts}, given {given}") from None
        for (path, w), g in zip(jax.tree_util.tree_flatten_with_path(want)[0], gs):
            if tuple(jnp.shape(g)) != tuple(w.shape):
                raise NtkError(f"params{jax.tree_util.keystr(path)} has shape "
                               f"{tuple(jnp.shape(g))}, expected {tuple(w.shape)}")

    def _input(self, x):
        self.check_input(x)
        x = jnp.asarray(x, self.dtype)
        return jnp.tile(x, (1,) * (x.ndim - 1) + (self.tile,)) if self.tile > 1 else x

    def walk(self):
        """Every layer, depth first, in the order :meth:`intermediates` records them
        (a block after its bodies' layers)."""
        def go(layers):
            for lay in layers:
                if lay.bodies and lay.node.rule.body.observed:
                    for body in lay.bodies:
                        yield from go(body)
                yield lay
        yield from go(self.layers)

    def sample(self, seed: int, draw: int, channels=(), counts=()):
        """Draw ``draw`` of ``seed``: parameters shaped as :meth:`init`'s, every
        entry iid N(0, 1) (the NTK parameterization; tests/test_finite.py checks
        that every registered weight layer's ``init`` draws exactly that), and
        per probe k NTK directions (C, k): independent Rademacher vectors
        ±1/√C, or the identity when k ≥ C. Drawn with numpy: XLA compiles one threefry kernel per
        parameter shape (seconds each on a small CPU), numpy none, and draws
        faster as well."""
        rng = np.random.default_rng([int(seed), int(draw)])
        shapes = self._shapes()
        leaves = [jnp.asarray(rng.standard_normal(a.shape, dtype=np.float32)
                              if self.dtype == jnp.float32 else rng.standard_normal(a.shape), self.dtype)
                  for a in jax.tree_util.tree_leaves(shapes)]
        params = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(shapes), leaves)
        dirs = []
        for c, k in zip(channels, counts):
            if k >= c:  # every channel: the exact channel mean
                d = np.eye(c)
            else:       # Rademacher: each channel weighted exactly 1/C
                d = rng.choice([-1.0, 1.0], size=(c, k)) / np.sqrt(c)
            dirs.append(jnp.asarray(d, self.dtype))
        return params, dirs

    def _shapes(self):
        if "_param_shapes" not in self.__dict__:
            self._param_shapes = jax.eval_shape(self.init, jax.random.PRNGKey(0))
        return self._param_shapes

    def num_params(self, upto: int | None = None) -> int:
        """Parameters of the network (of its first ``upto`` top-level layers)."""
        shapes = self._shapes() if upto is None else self._shapes()[:upto]
        return int(sum(np.prod(a.shape) for a in jax.tree_util.tree_leaves(shapes)))


def _run(layers, params, x, ctx, rec):
    for layer, p in zip(layers, params):
        rule, args = layer.node.rule, layer.node.finite_args
        if layer.bodies:
            fns = [partial(_run, body, bp, ctx=ctx, rec=rec)
                   for body, bp in zip(layer.bodies, p["bodies"])]
            x = rule.apply(p["own"], x, args, ctx, fns)
        else:
            x = rule.apply(p, x, args, ctx)
        if rec is not None:
            rec[layer.path] = x
    return x


class _Mismatch(Exception):
    pass


def _abstract_ctx(kind, v, dtype):
    if kind != "graph":
        return {}
    # A small all-connected graph stands in for shape inference.
    return {"adjacency": jnp.ones((1, v, v), dtype) - jnp.eye(v, dtype=dtype)[None],
            "mask": jnp.ones((1, v), dtype)}


_NETS: dict = {}


def finite_net(net, width: int = 1024, out_width: int | None = None,
               dtype=jnp.float32) -> FiniteNet:
    """The finite-width network of a :class:`~ntkc.CheckedNet`, a
    :class:`~ntkc.Kernel` or a ``.ntk`` file's path (its last net).

    >>> net = ntkc.finite_net("examples/mlp.ntk", width=512, out_width=1)
    >>> params = net.init(jax.random.PRNGKey(0))     # a pytree (FiniteNet's docstring)
    >>> f = net.apply(params, x)                      # (N, 1)

    Networks are cached (a few), so verifying the same net again reuses its
    compiled Monte Carlo functions; the key holds every layer's ``init`` and
    ``apply``, so a changed rule gets a fresh network."""
    if isinstance(net, (str, os.PathLike)):
        from .check import check
        from .parse import parse, read_source
        source = read_source(net)
        net = check(parse(source, str(net)), None, str(net), source)
    net = getattr(net, "net", net)
    if not isinstance(net, CheckedNet):
        raise NtkError(f"finite_net takes a CheckedNet, a Kernel or a .ntk path, "
                       f"not {type(net).__name__}")
    key = (net, width, out_width, jnp.dtype(dtype).name,
           tuple((n.rule.init, n.rule.apply) for n in net.walk()))
    if key not in _NETS:
        while len(_NETS) >= 8:
            _NETS.pop(next(iter(_NETS)))
        _NETS[key] = FiniteNet(net, width, out_width, dtype)
    return _NETS[key]
