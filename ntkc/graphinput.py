"""Graph inputs as users hold them: a list of ``(features, adjacency)`` pairs
of any sizes, or a padded :class:`~ntkc.kernel.GraphBatch`, checked graph by
graph.

An adjacency may be weighted: any finite, non-negative, symmetric matrix
(GraphAgg's Â = A (+ I) then carries the weights, and ``norm="mean"`` divides
each row by its weighted degree). A directed, negative, NaN or wrongly shaped
one is an :class:`~ntkc.errors.NtkError` that names the graph and the fault.
"""

from __future__ import annotations

import numpy as np

from .errors import NtkError


def is_graph_list(x) -> bool:
    """Whether ``x`` looks like a list of (features, adjacency) pairs rather
    than an array or a GraphBatch."""
    return isinstance(x, (list, tuple)) and (len(x) == 0 or isinstance(x[0], (list, tuple)))


def graph_list(x, name: str, channels: int, dtype=None) -> list:
    """``x`` (a list of pairs or a GraphBatch) as a checked list of float
    ``(features (V_i, F), adjacency (V_i, V_i))``, padding of a batch dropped."""
    from .kernel import GraphBatch
    if isinstance(x, GraphBatch):
        return _from_batch(x, name, channels, dtype)
    if not isinstance(x, (list, tuple)):
        raise NtkError(f"{name}: the net's input is a graph; pass a list of (features (V_i, "
                       f"{channels}), adjacency (V_i, V_i)) pairs or an ntkc.GraphBatch")
    if not x:
        raise NtkError(f"{name} has no graphs")
    arrays = []
    for i, item in enumerate(x):
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise NtkError(f"{name} graph {i}: expected a (features, adjacency) pair")
        arrays.append((_array(item[0], f"{name} graph {i}: features"),
                       _array(item[1], f"{name} graph {i}: adjacency")))
    if dtype is None:
        dtype = np.result_type(*(f.dtype for f, _ in arrays), np.float32)
        import jax
        if dtype == np.float64 and not jax.config.jax_enable_x64:
            dtype = np.dtype(np.float32)
    return [check_graph(f, a, f"{name} graph {i}", channels, dtype) for i, (f, a) in enumerate(arrays)]


def _array(x, what):
    try:
        arr = np.asarray(x)
    except Exception:
        raise NtkError(f"{what} is not an array") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating)
                                   or np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise NtkError(f"{what} has dtype {arr.dtype}; expected real numbers")
    return arr


def check_graph(f, a, where: str, channels: int, dtype, empty_ok: bool = False):
    """One graph's arrays, checked: shapes, finite values, a non-negative
    symmetric adjacency. ``where`` names it in messages ("x1 graph 3")."""
    if f.ndim != 2 or f.shape[1] != channels:
        raise NtkError(f"{where}: features have shape {f.shape}, expected (V, {channels})")
    v = f.shape[0]
    if v == 0 and not empty_ok:
        raise NtkError(f"{where} has no nodes")
    if a.shape != (v, v):
        raise NtkError(f"{where}: adjacency has shape {a.shape}, expected ({v}, {v}) for its "
                       f"{v} nodes")
    f = f.astype(dtype)
    a = a.astype(dtype)
    for arr, what in ((f, "features"), (a, "adjacency")):
        bad = ~np.isfinite(arr)
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
    return f, a


def _from_batch(x, name, channels, dtype):
    f = _array(x.features, f"{name}.features")
    if f.ndim != 3 or f.shape[2] != channels:
        raise NtkError(f"{name}.features has shape {f.shape}, expected (N, V, {channels})")
    n, v = f.shape[:2]
    if n == 0:
        raise NtkError(f"{name} has no graphs")
    a = _array(x.adjacency, f"{name}.adjacency")
    if a.shape != (n, v, v):
        raise NtkError(f"{name}.adjacency has shape {a.shape}, expected ({n}, {v}, {v})")
    m = np.ones((n, v)) if x.mask is None else _array(x.mask, f"{name}.mask")
    if m.shape != (n, v):
        raise NtkError(f"{name}.mask has shape {m.shape}, expected ({n}, {v})")
    if not np.all((m == 0) | (m == 1)):
        raise NtkError(f"{name}.mask must hold only 0/1 or booleans")
    m = m.astype(bool)
    bad = ~np.isfinite(f.astype(float))
    if bad.any():   # padded nodes too: NaN there still means bad data
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NtkError(f"{name}.features contains NaN or Inf (first at index {where})")
    if dtype is None:
        dtype = f.dtype if np.issubdtype(f.dtype, np.floating) else np.float32
        import jax
        if dtype == np.float64 and not jax.config.jax_enable_x64:
            dtype = np.dtype(np.float32)
    out = []
    for i in range(n):
        keep = m[i]
        if np.any(a[i][~keep]) or np.any(a[i][:, ~keep]):
            raise NtkError(f"{name}.adjacency has edges at padded (masked) nodes (graph {i})")
        out.append(check_graph(f[i][keep], a[i][np.ix_(keep, keep)], f"{name} graph {i}",
                               channels, dtype, empty_ok=True))
    return out
