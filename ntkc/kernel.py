"""The compiled kernel users call: input checks, blocking, and the public API."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import blocking
from .check import CheckedNet
from .fusion import bytes_per_pair, fuse
from .errors import NtkError, float64_unavailable
from .graphs import GraphBatch, Graphs, as_graphs, padded_arrays


class Kernels(NamedTuple):
    """Both kernels of one call, ``kernel(x1, x2, get=None)``: the fields stax's
    ``Kernel`` object has for them."""
    nngp: object
    ntk: object


class Kernel:
    """The infinite-width kernels of one network.

    ``kernel(x1, x2=None, get="ntk")`` returns Θ(x1, x2) (``get="nngp"``: Σ; a
    tuple of names gives a tuple; ``get=None`` gives both as
    :class:`Kernels` ``(nngp, ntk)``). ``kernel.nngp`` and ``kernel.ntk`` are
    the two as plain functions ``(x1, x2) -> array``.

    A kernel composes with JAX: inside ``jax.jit``, ``jax.vmap`` or
    ``jax.grad`` (any input a tracer) the shapes are checked statically and
    the fused jitted function is called directly, as one call. Eager calls
    also check the values (NaN, adjacency) and cut Grams too big for one call
    into blocks (``memory_limit`` etc.), which needs concrete arrays.
    """

    def __init__(self, net: CheckedNet):
        self.net = net
        self.nets = (net,)      # a Family's are several, computed in one pass
        self.source = net.source
        self.filename = net.filename
        self._fns = {}
        self._joint = {}        # compiled tile functions of the joint graph layout
        self._warned = False

    def __repr__(self):
        return f"<ntkc.Kernel net={self.net.name!r} input={self.net.input.describe()} from {self.filename}>"

    # -- public ------------------------------------------------------------------
    def __call__(self, x1, x2=None, get="ntk", batch_size: int | None = None,
                 memory_limit=None, devices=None, progress=None):
        """Keyword arguments for big inputs: ``memory_limit`` (bytes or a size
        such as ``"8GB"``; default ``blocking.DEFAULT_MEMORY``) bounds the
        working memory of one block of the Gram, from which block sizes are
        planned; ``batch_size`` sets the block size directly; ``devices`` (a
        list of JAX devices, default all local ones) share the blocks;
        ``progress`` forces the progress bar on or off (default: on for runs
        over a few seconds when stdout and stderr are terminals).

        Under ``jax.jit``/``vmap``/``grad`` (x1 or x2 a tracer) the Gram is
        one call of the fused function, so none of those options apply;
        compute big Grams eagerly. The value checks (finite entries, a 0/1
        symmetric adjacency) need concrete values and are skipped there."""
        names = _names(get)
        if progress is not None and not isinstance(progress, bool):
            raise NtkError(f"progress={progress!r}: give True, False or None (automatic)")
        traced = _traced(x1) or _traced(x2)
        if traced:
            asked = [k for k, v in (("batch_size", batch_size), ("memory_limit", memory_limit),
                                    ("devices", devices), ("progress", progress)) if v is not None]
            if asked:
                raise NtkError(f"{asked[0]}= needs concrete arrays: under jax.jit, vmap or grad "
                               f"the kernel is computed in one call; call it outside the "
                               f"transformation to compute a big Gram in blocks")
        if self.net.input.kind == "graph" and not traced:
            a, b, out = self._graphs(x1, x2, names, batch_size, memory_limit, devices, progress)
            if out is not None:
                return Kernels(*out) if get is None else (out[0] if isinstance(get, str) else out)
        else:
            a = self._prepare(x1, "x1")
            b = None if x2 is None else self._prepare(x2, "x2", like=a)
        if traced:
            fn = self._fn(names, b is None)
            out = fn(a[0], None, a[1], None) if b is None else fn(a[0], b[0], a[1], b[1])
        else:
            out = self._blocked(a, b, names, batch_size, memory_limit, devices, progress)
        if get is None:
            return Kernels(*out)
        return out[0] if isinstance(get, str) else out

    def _graphs(self, x1, x2, get, batch_size, memory_limit, devices, progress):
        """Graph inputs, eagerly: one :class:`~ntkc.Graphs` a side, then the
        joint node-pair layout (``ntkc.graphjoint``) when every layer up to the
        readout has a rule there, no ``batch_size`` asks for blocks of
        examples and padding would cost more than :data:`PADDED_EXCESS` times
        the node pairs; otherwise the padded view for the padded path.
        Returns (padded x1, padded x2, None) or (None, None, kernels)."""
        from . import graphjoint
        g1, g2 = self._graph_pair(x1, x2)
        why = self.joint_blocker()
        if why is None and batch_size is None and _padding_excess(g1, g2, x1, x2) > PADDED_EXCESS:
            if memory_limit is not None:
                from .blocking import parse_memory
                parse_memory(memory_limit)
            out = graphjoint.gram(self.nets, g1, g2, get, memory_limit, _devices(devices),
                                  progress, cache=self._joint, stats=self._trace_stats())
            return None, None, tuple(jax.device_put(o, may_alias=True) for o in out)
        if why is not None and not self._warned:
            import warnings
            self._warned = True
            warnings.warn(f"{why}: this graph Gram takes the padded path (slower)", stacklevel=3)
        a = _padded_arrays(g1, _nodes(x1))
        return a, None if g2 is None else _padded_arrays(g2, _nodes(x2)), None

    def _graph_pair(self, x1, x2):
        """Both sides as Graphs in one float dtype (the wider of the two)."""
        c = self.net.input.channels
        g1 = as_graphs(x1, "x1", c)
        g2 = None if x2 is None else as_graphs(x2, "x2", c)
        dtype = g1.float_dtype() if g2 is None else np.result_type(g1.float_dtype(),
                                                                   g2.float_dtype())
        return g1.astype(dtype), None if g2 is None else g2.astype(dtype)

    def joint_blocker(self):
        """None when graph Grams of this net (of every net of a family) run on
        the joint node-pair layout, else why not: the first layer without a
        joint rule, or no readout."""
        from .graphjoint import missing_rule
        if self.net.input.kind != "graph":
            return "the net's input is not a graph"
        for net in self.nets:
            bad = missing_rule(net)
            if bad == "readout":
                return f"net {net.name} has no graph readout (GlobalSumPool or GlobalAvgPool)"
            if bad is not None:
                return f"{bad.layer} (line {bad.pos[0]}) has no rule on the joint node-pair layout"
        return None

    def _trace_stats(self):
        return None

    def nngp(self, x1, x2=None, **kw):
        """Σ(x1, x2), the NNGP covariance of the network's output."""
        return self(x1, x2, get="nngp", **kw)

    def ntk(self, x1, x2=None, **kw):
        """Θ(x1, x2), the neural tangent kernel of the network's output."""
        return self(x1, x2, get="ntk", **kw)

    def gram(self, x1, x2=None, *, store, get="ntk", memory_limit=None, batch_size=None,
             chunk=None, client=None, devices=None, progress=None):
        """Compute ``kernel(x1, x2, get=…)`` into a persistent, resumable store
        on disk (a zarr group at ``store``) and return it as a
        ``ntkc.store.GramStore`` (``.array()``, ``.rows(i, j)``, ``.save(path)``,
        ``.status()``). Needs ``pip install 'ntkc[store]'``; see docs/scale_out.md.

        The blocks are planned as for ``kernel(…)`` (``memory_limit``,
        ``batch_size``) and grouped into chunks of about ``chunk`` examples a
        side (default ``ntkc.gramjob.chunk_sizes``); each finished chunk is
        written atomically and durably before it is recorded done. Calling
        again with the same net and inputs resumes: done chunks are kept,
        the rest computed. A store made for another net, inputs, dtype,
        ``get`` or plan is refused with an ``NtkError``. With x2 omitted only
        the chunks on and above the diagonal are computed.

        ``client``: a ``dask.distributed.Client`` or a scheduler address
        (``pip install 'ntkc[distributed]'``): the chunks are computed by its
        workers, each compiling the net once, writing to the store (which
        must be on a file system all of them see); a chunk whose worker dies
        is rerun on another. Default: here, on ``devices``."""
        from .gramjob import gram
        return gram(self, x1, x2, store=store, get=get, memory_limit=memory_limit,
                    batch_size=batch_size, chunk=chunk, client=client, devices=devices,
                    progress=progress)

    def explain(self):
        from .explain import explain
        return explain(self.net)

    # -- inputs ------------------------------------------------------------------
    def _prepare(self, x, name, like=None):
        """Validate one input; returns (features, graphs or None) as JAX arrays."""
        shape = self.net.input
        if shape.kind == "graph":
            return self._prepare_graphs(x, name, like)
        if isinstance(x, (GraphBatch, Graphs)):
            raise NtkError(f"{name}: the net's input is a {shape.kind}, not a graph; "
                           f"expected an array shaped {shape.batch_shape()}")
        arr = _as_float_array(x, name)
        want = (None,) + tuple(shape.spatial) + (shape.channels,)
        if arr.ndim != len(want) or any(w is not None and w != g for w, g in zip(want, arr.shape)):
            raise NtkError(f"{name} has shape {tuple(arr.shape)}, but the input line declares "
                           f"{shape.kind}: expected {shape.batch_shape()}")
        if arr.shape[0] == 0:
            raise NtkError(f"{name} has no examples")
        if not _traced(arr):
            _check_finite(arr, name)
        if like is not None and like[0].dtype != arr.dtype:
            arr = arr.astype(jnp.result_type(arr.dtype, like[0].dtype))
        return (jnp.asarray(arr), None)

    def _prepare_graphs(self, x, name, like):
        """A graph input's padded view as (features, (adjacency, mask))
        (``ntkc.graphs.padded_arrays``): eager inputs checked once as
        :class:`~ntkc.Graphs`, a GraphBatch of tracers by its shapes only."""
        c = self.net.input.channels
        if _traced(x):
            f, a, m = padded_arrays(x, name, c)
        else:
            g = as_graphs(x, name, c)
            dtype = None if like is None else np.result_type(g.float_dtype(), like[0].dtype)
            f, a, m = padded_arrays(g, name, c, dtype, _nodes(x))
        return (f, (a, m))

    # -- evaluation ----------------------------------------------------------------
    def _outputs(self, get) -> int:
        """How many matrices the fused function returns for ``get``."""
        return len(get)

    def _fn(self, get, same):
        key = (get, same)
        if key not in self._fns:
            self._fns[key] = fuse(self.net, get, same)
        return self._fns[key]

    def plan(self, x1, x2=None, get="ntk", batch_size: int | None = None,
             memory_limit=None, devices=None) -> blocking.Plan:
        """The blocks ``kernel(x1, x2, …)`` would compute, as a ``blocking.Plan``
        (``rows × cols`` examples each; ``plan.single``: one call)."""
        names = _names(get)
        a = self._prepare(x1, "x1")
        b = None if x2 is None else self._prepare(x2, "x2", like=a)
        return self._plan(a, b, names, batch_size, memory_limit, _devices(devices))

    def _plan(self, a, b, get, batch_size, memory_limit, devices):
        return self._plan_for(a, b, get, batch_size, memory_limit, len(devices),
                              devices[0].platform)

    def _plan_for(self, a, b, get, batch_size, memory_limit, ndevices, platform):
        n1 = a[0].shape[0]
        n2 = n1 if b is None else b[0].shape[0]
        return blocking.plan(n1, n2, b is None, self._per_pair(a, get), memory_limit,
                             batch_size, ndevices, platform)

    def _per_pair(self, a, get):
        x1, g1 = a
        nodes = x1.shape[1] if g1 is not None else 1
        return bytes_per_pair(self.net, x1.dtype.itemsize, nodes, "ntk" in get)

    def _blocked(self, a, b, get, batch_size, memory_limit, devices, progress):
        """One call when the Gram is one block, else blocks (see
        ``ntkc.blocking``); x2 omitted computes each pair once."""
        devices = _devices(devices)
        plan = self._plan(a, b, get, batch_size, memory_limit, devices)
        x1, g1 = a
        if plan.single and len(devices) == 1:
            # uncommitted inputs follow the default device: make it the one asked for
            with jax.default_device(devices[0]):
                if b is None:
                    return self._fn(get, True)(x1, None, g1, None)
                return self._fn(get, False)(x1, b[0], g1, b[1])
        out = blocking.run(self._fn(get, False), a, b, plan, self._outputs(get), devices, progress)
        # the assembled NumPy buffers become the results without another copy
        return tuple(jax.device_put(o, may_alias=True) for o in out)


def _names(get) -> tuple:
    """The kernels asked for: a name, a tuple of names, or None for both."""
    if get is None:
        return ("nngp", "ntk")
    if isinstance(get, str):
        names = (get,)
    else:
        try:
            names = tuple(get)
        except TypeError:
            raise NtkError(f"get={get!r}: ask for 'nngp', 'ntk', a tuple of them, "
                           f"or None for both") from None
    for g in names:
        if not isinstance(g, str) or g not in ("nngp", "ntk"):
            raise NtkError(f"get={g!r}: ask for 'nngp', 'ntk', a tuple of them, or None for both")
    if not names:
        raise NtkError("get=(): ask for 'nngp', 'ntk' or both")
    return names


# The joint layout's overhead where padding costs nothing: 200 graphs of 20
# nodes each (benchmarks' W4) ran 1.5× slower there than on the padded path
# (0.19 against 0.12 s); on the GNTK sets padding costs 15-50× the node pairs.
PADDED_EXCESS = 1.5


def _padding_excess(g1, g2, x1, x2) -> float:
    """Node pairs of the padded path over those of the joint layout."""
    def side(g, x):
        return len(g) * (_nodes(x) or int(max(g.sizes))), int(sum(g.sizes))
    p1, j1 = side(g1, x1)
    p2, j2 = (p1, j1) if g2 is None else side(g2, x2)
    return p1 * p2 / max(j1 * j2, 1)


def _nodes(x):
    """The node count a GraphBatch was padded to (its padding is kept on the
    padded path, so its compiled shapes are the caller's), else None."""
    return int(np.shape(x.features)[1]) if isinstance(x, GraphBatch) else None


def _padded_arrays(graphs: Graphs, nodes=None):
    """(features, (adjacency, mask)) of the padded view, as JAX arrays."""
    f, a, m = padded_arrays(graphs, "", graphs.channels, nodes=nodes)
    return (f, (a, m))


def _traced(x) -> bool:
    """Whether ``x`` (an array or a GraphBatch) is being traced by a JAX
    transformation, so its values are unknown."""
    if isinstance(x, GraphBatch):
        return any(_traced(a) for a in (x.features, x.adjacency, x.mask))
    return isinstance(x, jax.core.Tracer)


def _devices(devices) -> list:
    if devices is not None and (isinstance(devices, (str, jax.Device))
                                or not hasattr(devices, "__iter__")):
        raise NtkError(f"devices={devices!r}: give a list of JAX devices, e.g. jax.devices()")
    devices = list(jax.local_devices() if devices is None else devices)
    if not devices:
        raise NtkError("devices=[]: give at least one JAX device")
    bad = [d for d in devices if not isinstance(d, jax.Device)]
    if bad:
        raise NtkError(f"devices: {bad[0]!r} is not a JAX device; give a list such as "
                       f"jax.devices()")
    return devices


def _as_float_array(x, name):
    if isinstance(x, jax.Array):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception:
            raise NtkError(f"{name} is not an array") from None
    if arr.dtype == object or not (jnp.issubdtype(arr.dtype, jnp.floating)
                                   or jnp.issubdtype(arr.dtype, jnp.integer)
                                   or arr.dtype == bool):
        raise NtkError(f"{name} has dtype {arr.dtype}; expected real numbers (float32 or float64)")
    if not jnp.issubdtype(arr.dtype, jnp.floating):
        arr = arr.astype(jnp.zeros(0).dtype)
    if isinstance(arr, np.ndarray) and arr.dtype == np.float64 and not jax.config.jax_enable_x64:
        float64_unavailable(name)
        arr = arr.astype(np.float32)
    return arr


def _check_finite(arr, name):
    bad = ~np.isfinite(np.asarray(arr))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NtkError(f"{name} contains NaN or Inf (first at index {where})")
