"""The graph value every entry point takes: :class:`Graphs`, a ragged set of
graphs checked once, and its padded view :class:`GraphBatch`.

A graph is node features ``(V, F)`` and an adjacency ``(V, V)``: 0/1 or
weighted, any finite, non-negative, symmetric matrix (GraphAgg's
Â = c ⊙ (A (+ I)) then carries the weights; ``norm="mean"`` divides each row
by its weighted degree). ``Graphs`` is what the kernel, ``Kernel.gram``,
``regression.graph_gram``, the finite network, ``empirical_ntk``,
``verify``, the TU loader and the command line pass along; every other form
is converted by :func:`as_graphs` at the boundary:

* a list of ``(features, adjacency)`` pairs of any sizes;
* a :class:`GraphBatch` (padded to V nodes, with a node mask): its padding
  is stripped graph by graph.

The two layouts the computations read are views of it: :meth:`Graphs.padded`
(the padded path, the finite network: a :class:`GraphBatch`, a JAX pytree that
may hold tracers) and the joint node-pair layout (``ntkc.graphjoint`` packs
its bins from ``graphs[i]``). A directed, negative, NaN or wrongly shaped
graph is an :class:`~ntkc.errors.NtkError` naming the graph and the fault.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .errors import NtkError, float64_unavailable


@dataclass(frozen=True)
class GraphBatch:
    """A batch of graphs padded to V nodes: ``features (N, V, F)``, symmetric
    non-negative ``adjacency (N, V, V)`` (0/1 or weighted; GraphAgg adds the self loops),
    and ``mask (N, V)`` marking real nodes (all ones when omitted).

    The padded view of a :class:`Graphs` (``graphs.padded()``), and accepted
    wherever a ``Graphs`` is. A JAX pytree, so it can carry tracers into
    ``jax.jit``/``vmap``/``grad`` (where only its shapes are checked)."""
    features: object
    adjacency: object
    mask: object = None

    @classmethod
    def from_graphs(cls, graphs, nodes: int | None = None) -> "GraphBatch":
        """Pad ``[(features_i (V_i, F), adjacency_i (V_i, V_i)), ...]`` to one V
        (shapes checked here, values where the batch is used)."""
        graphs = list(graphs)
        if not graphs:
            raise NtkError("from_graphs needs at least one graph")
        feats = [np.asarray(f) for f, _ in graphs]
        if any(f.ndim != 2 for f in feats):
            raise NtkError("each graph's features must be shaped (V_i, F)")
        if any(f.shape[1] != feats[0].shape[1] for f in feats):
            raise NtkError("all graphs must have the same number of features")
        adjs = [np.asarray(a) for _, a in graphs]
        for i, (f, a) in enumerate(zip(feats, adjs)):
            n = f.shape[0]
            if a.shape != (n, n):
                raise NtkError(f"graph {i}: adjacency is {a.shape}, expected ({n}, {n}) "
                               f"for its {n} nodes")
        return _pad(feats, adjs, nodes, np.result_type(*feats, np.float32))

    def __len__(self):
        return int(np.shape(self.features)[0])


jax.tree_util.register_pytree_node(
    GraphBatch, lambda g: ((g.features, g.adjacency, g.mask), None),
    lambda _, children: GraphBatch(*children))


class Graphs:
    """N graphs of any sizes, each ``(features (V_i, F), adjacency (V_i, V_i))``,
    checked once when made.

    ``Graphs(pairs, name=None)`` takes a list of pairs;
    :meth:`from_padded` a :class:`GraphBatch`. A ``Graphs`` is a sequence:
    ``len(g)``, ``g[i]`` is graph i's ``(features, adjacency)`` (read-only
    arrays), ``g[idx]`` with a slice or index array the subset as a ``Graphs``
    (not checked again). ``g.padded(nodes=None)`` is the padded view;
    ``g.astype(dtype)`` casts every array. Arrays keep the dtype they were
    given (a loader's int8 adjacency stays small); a computation casts to
    its float dtype (:meth:`float_dtype`).

    ``name`` prefixes the messages of the checks: ``x1 graph 3: adjacency is
    not symmetric (entry (0, 1) is 1 but (1, 0) is 0); graphs must be
    undirected``. ``channels`` (F), when given, is checked graph by graph.
    """

    def __init__(self, graphs, name: str | None = None, channels: int | None = None):
        what = name or "graphs"
        if isinstance(graphs, (Graphs, GraphBatch)) or not isinstance(graphs, (list, tuple)):
            raise NtkError(f"{what}: give a list of (features (V_i, F), adjacency (V_i, V_i)) "
                           f"pairs (Graphs.from_padded takes a GraphBatch)")
        if not graphs:
            raise NtkError(f"{what} has no graphs")
        arrays = []
        for i, item in enumerate(graphs):
            where = _where(name, i)
            if not isinstance(item, (list, tuple)) or len(item) != 2:
                raise NtkError(f"{where}: expected a (features, adjacency) pair")
            arrays.append((_array(item[0], f"{where}: features"),
                           _array(item[1], f"{where}: adjacency")))
        if channels is None:
            f0 = arrays[0][0]
            channels = f0.shape[1] if f0.ndim == 2 else -1
        checked = [check_graph(f, a, _where(name, i), channels) for i, (f, a) in enumerate(arrays)]
        self._set([f for f, _ in checked], [a for _, a in checked], channels)

    @classmethod
    def from_padded(cls, batch, name: str | None = None, channels: int | None = None) -> "Graphs":
        """The graphs of a :class:`GraphBatch`, each cut to its real (masked)
        nodes; an edge at a padded node, a mask not 0/1, or NaN anywhere in
        the features is an error. A graph of the batch may have no real nodes."""
        what = name or "graphs"
        if not isinstance(batch, GraphBatch):
            raise NtkError(f"{what}: from_padded takes an ntkc.GraphBatch, "
                           f"not {type(batch).__name__}")
        f = _array(batch.features, f"{what}.features")
        want = "F" if channels is None else channels
        if f.ndim != 3 or (channels is not None and f.shape[2] != channels):
            raise NtkError(f"{what}.features has shape {f.shape}, expected (N, V, {want})")
        n, v = f.shape[:2]
        if n == 0:
            raise NtkError(f"{what} has no graphs")
        a = _array(batch.adjacency, f"{what}.adjacency")
        if a.shape != (n, v, v):
            raise NtkError(f"{what}.adjacency has shape {a.shape}, expected ({n}, {v}, {v})")
        m = np.ones((n, v)) if batch.mask is None else _array(batch.mask, f"{what}.mask")
        if m.shape != (n, v):
            raise NtkError(f"{what}.mask has shape {m.shape}, expected ({n}, {v})")
        if not np.all((m == 0) | (m == 1)):
            raise NtkError(f"{what}.mask must hold only 0/1 or booleans")
        m = m.astype(bool)
        bad = ~np.isfinite(f.astype(float))
        if bad.any():   # padded nodes too: NaN there still means bad data
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise NtkError(f"{what}.features contains NaN or Inf (first at index {at})")
        feats, adjs = [], []
        for i in range(n):
            keep = m[i]
            if np.any(a[i][~keep]) or np.any(a[i][:, ~keep]):
                raise NtkError(f"{what}.adjacency has edges at padded (masked) nodes (graph {i})")
            fi, ai = check_graph(f[i][keep], a[i][np.ix_(keep, keep)], _where(name, i),
                                 f.shape[2], empty_ok=True)
            feats.append(fi)
            adjs.append(ai)
        out = cls.__new__(cls)
        out._set(feats, adjs, f.shape[2])
        return out

    def _set(self, feats, adjs, channels):
        for arr in (*feats, *adjs):
            arr.flags.writeable = False
        self._features, self._adjacency = tuple(feats), tuple(adjs)
        self.channels = int(channels)
        self._view = None

    def _subset(self, idx) -> "Graphs":
        out = Graphs.__new__(Graphs)
        out._set([self._features[i] for i in idx], [self._adjacency[i] for i in idx],
                 self.channels)
        return out

    # -- the sequence -------------------------------------------------------------------
    def __len__(self):
        return len(self._features)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._subset(range(len(self))[i])
        if isinstance(i, (int, np.integer)):
            return self._features[i], self._adjacency[i]
        idx = np.asarray(i)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return self._subset([int(k) for k in idx.reshape(-1)])

    def __iter__(self):
        return iter(zip(self._features, self._adjacency))

    def __repr__(self):
        sizes = self.sizes
        span = f"{sizes.min()}–{sizes.max()}" if len(sizes) else "0"
        return f"<ntkc.Graphs: {len(self)} graphs, {span} nodes, {self.channels} features>"

    @property
    def features(self) -> tuple:
        """Each graph's node features ``(V_i, F)``."""
        return self._features

    @property
    def adjacency(self) -> tuple:
        """Each graph's adjacency ``(V_i, V_i)``."""
        return self._adjacency

    @property
    def sizes(self) -> np.ndarray:
        """Each graph's node count V_i."""
        return np.array([f.shape[0] for f in self._features], dtype=int)

    # -- views ----------------------------------------------------------------------------
    def float_dtype(self):
        """The float dtype computations use: the features' (float32 at least;
        float64 only with JAX's x64 enabled)."""
        dtype = np.result_type(*(f.dtype for f in self._features), np.float32)
        if dtype == np.float64 and not jax.config.jax_enable_x64:
            float64_unavailable("the graphs' data")
            dtype = np.dtype(np.float32)
        return np.dtype(dtype)

    def astype(self, dtype) -> "Graphs":
        """Every feature and adjacency array as ``dtype`` (self if already)."""
        dtype = np.dtype(dtype)
        if all(f.dtype == dtype and a.dtype == dtype for f, a in self):
            return self
        out = Graphs.__new__(Graphs)
        out._set([f.astype(dtype) for f in self._features],
                 [a.astype(dtype) for a in self._adjacency], self.channels)
        return out

    def padded(self, nodes: int | None = None, dtype=None) -> GraphBatch:
        """The padded view: a :class:`GraphBatch` of ``nodes`` nodes (default
        the largest graph's) in ``dtype`` (default :meth:`float_dtype`), with
        zeros at padded nodes and their mask. Kept for the next call with the
        same arguments; its arrays are read-only."""
        dtype = self.float_dtype() if dtype is None else np.dtype(dtype)
        key = (nodes, dtype)
        if self._view is None or self._view[0] != key:
            view = _pad(self._features, self._adjacency, nodes, dtype, self.channels)
            for arr in (view.features, view.adjacency, view.mask):
                arr.flags.writeable = False
            # the view knows its checked graphs, so handing it back is not a new input
            object.__setattr__(view, "_source", (self, dtype))
            self._view = (key, view)
        return self._view[1]


def as_graphs(x, name: str | None = None, channels: int | None = None) -> Graphs:
    """``x`` — a :class:`Graphs`, a :class:`GraphBatch` or a list of
    ``(features, adjacency)`` pairs — as a checked ``Graphs``; ``channels``
    (the net's F) must match. The boundary conversion every entry point uses."""
    if isinstance(x, Graphs):
        return _check_channels(x, name, channels)
    if isinstance(x, GraphBatch):
        source = x.__dict__.get("_source")
        if source is not None:   # a view of checked graphs (read-only arrays)
            return as_graphs(source[0].astype(source[1]), name, channels)
        return Graphs.from_padded(x, name, channels)
    if not isinstance(x, (list, tuple)):
        want = "F" if channels is None else channels
        raise NtkError(f"{name or 'graphs'}: the net's input is a graph; pass an ntkc.Graphs, a "
                       f"list of (features (V_i, {want}), adjacency (V_i, V_i)) pairs or an "
                       f"ntkc.GraphBatch")
    return Graphs(x, name, channels)


def padded_arrays(x, name: str, channels: int, dtype=None, nodes: int | None = None):
    """``(features, adjacency, mask)`` of a graph input as JAX arrays: the
    padded view of its checked :class:`Graphs` (to ``nodes``; a GraphBatch
    keeps its own padding) in ``dtype`` (default the graphs' float dtype). A
    GraphBatch of tracers (under ``jax.jit``, ``vmap``, ``grad``) is used as
    it is, only its shapes checked, its features zeroed at padded nodes.
    What the padded kernel path and the finite network both read."""
    view = None
    if isinstance(x, GraphBatch) and _traced(x):
        f = x.features
        if jnp.ndim(f) != 3 or jnp.shape(f)[2] != channels:
            raise NtkError(f"{name}.features has shape {tuple(jnp.shape(f))}, expected "
                           f"(N, V, {channels})")
        n, v = jnp.shape(f)[:2]
        a, m = x.adjacency, jnp.ones((n, v)) if x.mask is None else x.mask
        if jnp.shape(a) != (n, v, v):
            raise NtkError(f"{name}.adjacency has shape {jnp.shape(a)}, expected ({n}, {v}, {v})")
        if jnp.shape(m) != (n, v):
            raise NtkError(f"{name}.mask has shape {jnp.shape(m)}, expected ({n}, {v})")
        if dtype is None:
            dtype = f.dtype if jnp.issubdtype(f.dtype, jnp.floating) else jnp.zeros(0).dtype
        m = jnp.asarray(m, dtype)
        return jnp.asarray(f, dtype) * m[:, :, None], jnp.asarray(a, dtype), m
    if isinstance(x, GraphBatch):
        v = int(np.shape(x.features)[1])
        nodes = v if nodes is None else nodes
        if "_source" in x.__dict__ and nodes == v and dtype in (None, x.features.dtype):
            _check_channels(x.__dict__["_source"][0], name, channels)  # checked graphs' view
            view = x
    if view is None:
        view = as_graphs(x, name, channels).padded(nodes, dtype)
    return jnp.asarray(view.features), jnp.asarray(view.adjacency), jnp.asarray(view.mask)


def _traced(batch: GraphBatch) -> bool:
    return any(isinstance(a, jax.core.Tracer) for a in (batch.features, batch.adjacency, batch.mask))


def is_graph_input(x) -> bool:
    """Whether ``x`` is a graph input form rather than an array."""
    return isinstance(x, (Graphs, GraphBatch)) or (
        isinstance(x, (list, tuple)) and (len(x) == 0 or isinstance(x[0], (list, tuple))))


def _check_channels(g: Graphs, name, channels) -> Graphs:
    if channels is not None and g.channels != channels:
        raise NtkError(f"{name or 'graphs'}: the graphs have {g.channels} features per node, "
                       f"expected {channels}")
    return g


def _where(name, i) -> str:
    return f"{name} graph {i}" if name else f"graph {i}"


def _array(x, what):
    try:
        arr = np.asarray(x)
    except Exception:
        raise NtkError(f"{what} is not an array") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating)
                                   or np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise NtkError(f"{what} has dtype {arr.dtype}; expected real numbers")
    return arr


def check_graph(f, a, where: str, channels: int, empty_ok: bool = False):
    """One graph's arrays, checked: shapes, finite values, a non-negative
    symmetric adjacency; returned as private copies. ``where`` names the
    graph in messages ("x1 graph 3")."""
    if f.ndim != 2 or f.shape[1] != channels:
        want = channels if channels >= 0 else "F"
        raise NtkError(f"{where}: features have shape {f.shape}, expected (V, {want})")
    v = f.shape[0]
    if v == 0 and not empty_ok:
        raise NtkError(f"{where} has no nodes")
    if a.shape != (v, v):
        raise NtkError(f"{where}: adjacency has shape {a.shape}, expected ({v}, {v}) for its "
                       f"{v} nodes")
    for arr, what in ((f, "features"), (a, "adjacency")):
        bad = ~np.isfinite(arr.astype(float))
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise NtkError(f"{where}: {what} contain NaN or Inf (first at {at})")
    if (a < 0).any():
        at = tuple(int(i) for i in np.argwhere(a < 0)[0])
        raise NtkError(f"{where}: adjacency has a negative weight {a[at]:g} at {at}; "
                       f"weights must be non-negative")
    if not np.array_equal(a, a.T):
        at = tuple(int(i) for i in np.argwhere(a != a.T)[0])
        raise NtkError(f"{where}: adjacency is not symmetric (entry {at} is {a[at]:g} but "
                       f"{at[::-1]} is {a[at[::-1]]:g}); graphs must be undirected")
    return np.array(f), np.array(a)


def _pad(feats, adjs, nodes, dtype, width=None) -> GraphBatch:
    """Graphs padded to ``nodes`` (default the largest) as one GraphBatch."""
    sizes = [f.shape[0] for f in feats]
    v = max(sizes) if nodes is None else int(nodes)
    if v < max(sizes):
        raise NtkError(f"nodes={v} is smaller than the largest graph ({max(sizes)} nodes)")
    width = feats[0].shape[1] if width is None else width
    x = np.zeros((len(feats), v, width), dtype)
    a = np.zeros((len(feats), v, v), dtype)
    m = np.zeros((len(feats), v), dtype)
    for i, (f, adj) in enumerate(zip(feats, adjs)):
        n = sizes[i]
        x[i, :n] = f
        a[i, :n, :n] = adj
        m[i, :n] = 1
    return GraphBatch(x, a, m)
