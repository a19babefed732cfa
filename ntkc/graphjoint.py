"""Graph Grams on the joint node-pair layout.

The padded path gives every graph pair its own (V, V) node-pair block, padded
to a size class, and aggregates it with a small dense einsum per pair. Here
the nodes of many graphs lie side by side and the state of a *tile* of the
Gram is one node-pair matrix Σ (U₁, U₂) (and Θ) over all of them:

* aggregation is Σ' = Â₁ Σ Â₂ᵀ with block-diagonal Â (no graph reaches
  another), done as batched dense products over *bins*: each side's nodes are
  packed into bins of P slots (several small graphs share a bin, best fit
  decreasing), so Â₁ is (m, P, P) and each product is (P × P)·(P × U₂), long
  enough to run near the machine's matmul rate; a size group whose graphs
  have few neighbours (molecules) does the row side by gathers over padded
  neighbour lists instead (a cost model's choice per group);
* one-hot node features (every GNTK data set's) are held as labels, and
  Σ⁰ = x·x'/F is their equality over F, with no product;
* elementwise rules (activations, Dense, the sums of JumpingKnowledge) act on
  the node-pair matrix unchanged: the node variances they need are the
  diagonals of the within-bin self-covariances (m, P, P) the state carries;
* the readout is a segment sum over graphs, M₁ Σ M₂ᵀ with M the (graphs ×
  nodes) membership matrix.

Graphs are split into a few size groups (bins of P = 8, 16, …, max V nodes,
chosen by a cost model), each group cut into tiles of equal shape along graph
boundaries, sized by the memory budget; a tile pair is independent through
every layer, so each is one call of one jitted function per group pair, and
with x2 omitted only tiles on and above the diagonal are computed.

A rule takes part by stating ``joint`` (``ntkc.registry.Rule``): ``"same"``
when its ``kernel`` acts on this layout unchanged, or its own implementation.
"""

from __future__ import annotations

import itertools
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .errors import NtkError
from .graphpack import (  # noqa: F401  (re-exported: the layout's public pieces)
    COMPILE_LAYER_NS, COMPILE_NS, FLOP_NS, GATHER_NS, PAIR_NS, SMALLEST_BIN, TILE_WORK, Group,
    Side, Tile, candidate_tops, choose_tops, degree, layer_counts, layout, one_hot, pack,
    sparse_pays, tile_nodes)
from .state import State, materialise

#: worker threads compiling tile functions ahead of the tiles that need them
COMPILE_THREADS = 2


# -- the state --------------------------------------------------------------------

@dataclass(frozen=True)
class JointState(State):
    """A :class:`State` over the joint layout: ``nngp``/``ntk`` are (U₁, U₂)
    node-pair matrices, ``cov1``/``cov2`` the within-bin self-covariances
    (m, P, P) of each side, ``side1``/``side2`` the tiles' :class:`Tile`."""
    side1: Any = None
    side2: Any = None
    #: set when both sides are one tile (the Gram's diagonal)
    itself: bool = False

    def rule_kernel(self, rule):
        how = rule.joint
        if how == "same":
            return rule.kernel
        if callable(how):
            return how
        raise NtkError(f"{rule.name} has no rule on the joint node-pair layout")

    def variances(self, side: int):
        cov = self.cov1 if side == 1 else self.cov2
        if self.itself:
            # a tile paired with itself (the Gram's diagonal): read the variances
            # off Σ's own diagonal, so a node paired with itself has cos θ = 1
            # exactly (within-bin sums, rounded differently, would miss by an
            # ulp, which arccos magnifies to √ulp). Its own compiled function:
            # this makes every layer wait for the whole Σ before its
            # elementwise pass, which off the diagonal would cost ~3× (XLA
            # fuses a chain of elementwise layers when the variances are small)
            return jnp.diagonal(self.nngp)
        return jnp.diagonal(cov, axis1=1, axis2=2).reshape(-1)

    def pair_variances(self, which: str):
        if which == "cross":
            return self.variances(1)[:, None], self.variances(2)[None, :]
        cov = self.cov1 if which == "cov1" else self.cov2
        v = jnp.diagonal(cov, axis1=1, axis2=2)
        return v[:, :, None], v[:, None, :]

    def to_diag(self):
        raise NtkError("the joint graph layout keeps every node pair")


def input_state(t1: Tile, t2: Tile, side1: Side, side2: Side, want_ntk: bool,
                itself: bool = False) -> JointState:
    """Σ⁰ = x·x'/F over every node pair and within every bin; ``itself``:
    whether t2 is t1. For one-hot features (``Side.labels``) x·x' is whether
    the labels are equal: a comparison per pair, not F multiply-adds."""
    if side1.labels:
        c = side1.labels
        l1, l2 = t1.features, t2.features

        def equal(a, b):
            return jnp.where((a == b) & (a >= 0), 1.0 / c, 0.0).astype(t1.adjacency.dtype)

        def self_cov(lab, side):
            b = lab.reshape(side.bins, side.size)
            return equal(b[:, :, None], b[:, None, :])

        nngp = equal(l1[:, None], l2[None, :])
    else:
        f1, f2 = t1.features, t2.features
        c = f1.shape[-1]

        def self_cov(f, side):
            b = f.reshape(side.bins, side.size, c)
            return jnp.einsum("mpf,mqf->mpq", b, b) / c

        nngp = f1 @ f2.T / c
    return JointState(nngp=nngp, ntk=jnp.zeros_like(nngp) if want_ntk else None,
                      cov1=self_cov(t1.features, side1), cov2=self_cov(t2.features, side2),
                      diag=False, nspatial=1, same=False, side1=t1, side2=t2, itself=itself)


def aggregate(state: JointState, operator) -> JointState:
    """Σ' = Â₁ Σ Â₂ᵀ, Θ' = Â₁ Θ Â₂ᵀ with ``operator(adjacency, mask)`` giving
    each side's per-bin Â (m, P, P), which must be zero outside A + I (the
    sparse sides read Â only there)."""
    t1, t2 = state.side1, state.side2
    a1 = operator(t1.adjacency, t1.mask)
    a2 = a1 if t2 is t1 else operator(t2.adjacency, t2.mask)
    rows, cols = _side_product(a1, t1, 0), _side_product(a2, t2, 1)

    def cross(x):
        return cols(rows(x))

    def within(c, a):
        return jnp.einsum("muv,mvw,mxw->mux", a, c, a, optimize="optimal")

    nngp = cross(state.nngp)
    # after the first weight layer Θ = Σ is the same array: aggregate it once
    ntk = state.ntk if state.ntk is None else (nngp if state.ntk is state.nngp else cross(state.ntk))
    return state.replace(nngp=nngp, ntk=ntk, cov1=within(state.cov1, a1),
                         cov2=within(state.cov2, a2))


def _side_product(a, tile, axis: int):
    """x ↦ Â x along ``axis`` of a node-pair matrix (0: rows, Â₁ x; 1:
    columns, x Â₂ᵀ) for one side with per-bin Â ``a`` (m, P, P)."""
    m, p = a.shape[:2]
    d = tile.neighbours.shape[1]
    if d and axis == 0:
        # sparse rows: Σ_k w[u, k] x[n[u, k], :] over each node's padded
        # neighbour list (~D row reads a pair against 2P flops of a dense bin
        # product), in one loop XLA fuses with the write of the next
        # elementwise pass. Its input is computed once into memory: fused
        # into the gathers, an activation's output was recomputed per
        # neighbour (~10× slower on PTC's net). Columns stay dense: gathers
        # along rows of a row-major matrix, or by transposes around row
        # gathers, ran 1.4-2× slower than the bin products on PTC's tiles
        # (benchmarks/graph_changes.py).
        local = tile.neighbours
        w = jnp.take_along_axis(a.reshape(m * p, p), local, axis=1) * tile.valid
        idx = local + (jnp.arange(m * p, dtype=local.dtype) // p * p)[:, None]

        def sparse(x):
            x = materialise(x)
            out = w[:, 0, None] * x[idx[:, 0], :]
            for k in range(1, d):
                out = out + w[:, k, None] * x[idx[:, k], :]
            return out
        return sparse

    def dense(x):
        # batched matmuls with the bin as leading batch axis, which XLA:CPU
        # runs as GEMMs; the column side's bins are brought to the front by an
        # explicit swap (an einsum with the batch axis in the middle ran at
        # half the speed for bins of 32, benchmarks/graph_floor.py)
        u1, u2 = x.shape
        if axis == 0:
            return jnp.matmul(a, x.reshape(m, p, u2)).reshape(u1, u2)
        y = x.reshape(u1, m, p)
        z = jnp.matmul(jnp.swapaxes(y, 0, 1), jnp.swapaxes(a, 1, 2))
        return jnp.swapaxes(z, 0, 1).reshape(u1, u2)
    return dense


def pool(state: JointState, mean: bool) -> State:
    """The readout: Σ'(g, h) = Σ_{u∈g, v∈h} Σ(u, v) (÷ |g||h| for the mean),
    as M₁ Σ M₂ᵀ with each graph's membership row inside its own bin, so each
    side costs (graphs per bin) multiply-adds per node pair; the result is an
    ordinary per-graph :class:`State` over the tiles' graph slots."""
    def weights(t):
        m = t.member    # (bins, graphs per bin, P)
        return m / jnp.maximum(m.sum(2, keepdims=True), 1) if mean else m

    w1, w2 = weights(state.side1), weights(state.side2)
    (m1, g1, p1), (m2, g2, p2) = w1.shape, w2.shape

    def cross(x):
        y = jnp.einsum("mgp,mpc->mgc", w1, x.reshape(m1, p1, -1)).reshape(m1 * g1, -1)
        return jnp.einsum("rnq,nhq->rnh", y.reshape(m1 * g1, m2, p2), w2).reshape(m1 * g1, m2 * g2)

    def within(c, w):
        return jnp.einsum("mgu,muv,mgv->mg", w, c, w, optimize="optimal").reshape(-1)

    nngp = cross(state.nngp)
    ntk = None if state.ntk is None else (nngp if state.ntk is state.nngp else cross(state.ntk))
    cov1, cov2 = within(state.cov1, w1), within(state.cov2, w2)
    if state.itself:   # as in JointState.variances
        cov1 = cov2 = jnp.diagonal(nngp)
    return State(nngp=nngp, ntk=ntk, cov1=cov1, cov2=cov2, diag=True, nspatial=0)


# -- which nets can use it ----------------------------------------------------------

def missing_rule(net):
    """The first layer (a checked Node) on the way to the graph readout whose
    rule states no ``joint`` implementation, or None when the whole net runs on
    the joint layout. A net with no readout (a per-node output) returns the
    string "readout"."""
    def walk(nodes, top):
        for node in nodes:
            if node.in_shape.kind != "graph":
                return None      # past the readout: ordinary per-graph states
            if node.rule.joint is None:
                return node
            for body in node.bodies:
                bad = walk(body, False)
                if bad is not None:
                    return bad
            if node.out_shape.kind != "graph":
                return None
        return "readout" if top else None
    return walk(net.layers, True)


# -- running ----------------------------------------------------------------------

def tile_function(nets, get: tuple, side1: Side, side2: Side, itself: bool = False,
                  stats: dict | None = None):
    """One jitted function (tile1, tile2) -> the kernels ``get`` over their
    graph slots of each of ``nets`` (a checked net, or a family's: one pass,
    a layer they share run once, as ``ntkc.family``), for a pair of size
    groups (``itself``: tile2 is tile1), with the accuracy checks of
    ``fusion.fuse``."""
    from .family import Shared
    from .fusion import Checked, layouts, run_nets
    nets = _as_nets(nets)
    plans = [layouts(net.layers) for net in nets]
    checks = []

    def fn(t1, t2):
        shared = Shared()
        out = run_nets(plans, lambda diag: input_state(t1, t2, side1, side2, False, itself),
                       get, checks, shared)
        if stats is not None:
            stats.update(run=shared.run, reused=shared.reused)
        return out

    return Checked(jax.jit(fn), checks, nets[-1])


def _as_nets(nets) -> tuple:
    return tuple(nets) if isinstance(nets, (list, tuple)) else (nets,)


def gram(nets, graphs1, graphs2, get: tuple, memory_limit=None, devices=None, progress=None,
         tops=None, nodes=None, cache=None, sparse=None, labels=None, stats=None):
    """The Grams ``get`` of ``graphs1`` × ``graphs2`` (None: × graphs1, only
    tiles on and above the diagonal) as NumPy arrays, of one checked net or of
    each net of a family (a sequence of nets, one pass: ``len(nets) *
    len(get)`` arrays, net after net; ``stats`` receives the steps the last
    compiled tile function ran and reused). ``tops`` (bin sizes) and
    ``nodes`` (node slots per tile side) override the planned ones;
    ``cache`` (a dict) keeps the compiled tile functions between calls;
    ``sparse`` forces neighbour-list (True) or dense (False) aggregation on
    every size group (None: each group as :func:`sparse_pays`); ``labels``
    False keeps one-hot features as features (None: labels when every graph's
    features are :func:`one_hot`)."""
    from .blocking import progress_bar
    from .fusion import Checked
    sym = graphs2 is None
    dtype = graphs1[0][0].dtype
    devices = list(devices or jax.local_devices())
    nets = _as_nets(nets)
    # the deepest member sets the cost; each other one keeps a running readout
    acts, aggs = max(layer_counts(net) for net in nets)
    if nodes is None:
        nodes = tile_nodes(np.dtype(dtype).itemsize, "ntk" in get, memory_limit, len(nets))

    def plan(graphs):
        sizes = [f.shape[0] for f, _ in graphs]
        degs = None if sparse is False else [degree(a) for _, a in graphs]
        t = tops if tops is not None else choose_tops(sizes, acts, aggs, sym, degs)
        return layout(graphs, t, nodes, sparse, labels)

    if labels is None:
        labels = all(one_hot(f) for f, _ in itertools.chain(graphs1, graphs2 or ()))
    rows = plan(graphs1)
    cols = rows if sym else plan(graphs2)
    flat_r = [(g, t) for g, grp in enumerate(rows) for t in range(len(grp.tiles))]
    flat_c = [(g, t) for g, grp in enumerate(cols) for t in range(len(grp.tiles))]
    pairs = [(i, j) for i in range(len(flat_r)) for j in range(len(flat_c)) if not sym or j >= i]
    n1 = len(graphs1)
    n2 = n1 if sym else len(graphs2)
    out = [np.full((n1, n2), np.nan, dtype) for _ in range(len(nets) * len(get))]
    cache = {} if cache is None else cache
    bar = progress_bar(len(pairs), progress, unit="tile")
    pending = deque()

    def collect():
        i, j, res = pending.popleft()
        (ga, ta), (gb, tb) = flat_r[i], flat_c[j]
        ia, ib = rows[ga].index[ta], cols[gb].index[tb]
        ka, kb = ia >= 0, ib >= 0
        ia, ib = ia[ka], ib[kb]
        for k, block in enumerate(res):
            block = np.asarray(block)[np.ix_(ka, kb)]
            if sym and i == j:
                block = (block + block.T) / 2
            out[k][np.ix_(ia, ib)] = block
            if sym and i != j:
                out[k][np.ix_(ib, ia)] = block.T
        bar.update(1)

    def key_of(i, j):
        (ga, _), (gb, _) = flat_r[i], flat_c[j]
        return get, rows[ga].side, cols[gb].side, sym and i == j

    def make(i, j, dev):
        (ga, ta), (gb, tb) = flat_r[i], flat_c[j]
        fn = tile_function(nets, get, rows[ga].side, cols[gb].side, sym and i == j, stats)
        # compiled ahead for its device, on the first tiles that need it
        t1 = jax.device_put(rows[ga].tiles[ta], dev)
        t2 = jax.device_put(cols[gb].tiles[tb], dev)
        return Checked(fn.fn.lower(t1, t2).compile(), fn.checks, fn.net)

    # Each size-group pair has its own tile function (0.3-1.5 s to compile):
    # they are compiled in worker threads, in the order the tiles need them,
    # while the main thread runs the tiles of those already compiled (XLA
    # compiles without the GIL, and a tile's batched bin products run on one
    # core). IMDB-BINARY's Gram: 6.6-7.3 s -> 5.7-6.2 s, compile included.
    pool = ThreadPoolExecutor(max_workers=COMPILE_THREADS)
    try:
        ahead = {}
        for n, (i, j) in enumerate(pairs):
            dev = devices[n % len(devices)]
            key = key_of(i, j) + (dev,)
            if key not in cache and key not in ahead:
                ahead[key] = pool.submit(make, i, j, dev)
        for n, (i, j) in enumerate(pairs):
            (ga, ta), (gb, tb) = flat_r[i], flat_c[j]
            dev = devices[n % len(devices)]
            key = key_of(i, j) + (dev,)
            if key not in cache:
                cache[key] = ahead.pop(key).result()
            if len(pending) > len(devices):   # one queued behind each running tile
                collect()
            t1 = jax.device_put(rows[ga].tiles[ta], dev)
            t2 = jax.device_put(cols[gb].tiles[tb], dev)
            pending.append((i, j, cache[key](t1, t2)))
        while pending:
            collect()
    finally:
        pool.shutdown(cancel_futures=True)
    bar.close()
    return tuple(out)
