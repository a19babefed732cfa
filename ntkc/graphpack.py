"""Packing graphs for the joint node-pair layout (``ntkc.graphjoint``):
size groups chosen by a cost model, graphs into bins of P node slots (best
fit decreasing), bins into tiles of equal shape along graph boundaries, and
each tile side's NumPy arrays — adjacency per bin, membership, one-hot labels
or features, and the neighbour lists of the sparse row aggregation."""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# Working set of one tile pair, bytes: 1024 node slots a side in float64 with Θ.
# Measured whole Grams, idle 2-core machine (session 8), 1182 slots (128 MiB)
# against 1024: IMDB-BINARY 5.9 -> 4.2-4.3 s, IMDB-MULTI 5.0 -> ~3.9 s (768),
# NCI1 (800 graphs) 38.2 -> 36.8 s, PROTEINS (400) 36.2 -> 37.4 s; the bin
# products' speed on CPU jumps with the tile's width (Eigen's blocking), so
# this is a measured point, not a model.
TILE_WORK = 96 * 2**20
SMALLEST_BIN = 8
# Cost model for choosing size groups, in ns (measured orders of magnitude on a
# 2-core CPU): an activation pass per node pair, one flop of aggregation, and
# compiling one more tile function: a base plus a share per layer (process CPU
# seconds of first minus compiled calls, benchmarks/graph_changes.py: ~0.5 s
# a function for IMDB's 3 layers, ~2.2 s for PTC's 26).
PAIR_NS, FLOP_NS, COMPILE_NS, COMPILE_LAYER_NS = 20.0, 0.1, 0.3e9, 0.07e9
# Aggregating rows by neighbour lists: one neighbour slot of one node, per
# node pair, in ns (measured against FLOP_NS on PTC's and IMDB's tiles,
# benchmarks/graph_changes.py: on bins of 32 the gathers of 32 neighbour slots
# cost what the dense bin product does).
GATHER_NS = 0.3

class Tile(NamedTuple):
    """One tile side's arrays: ``features (U, F)`` (or, for one-hot
    features, each node's label ``(U,)``, int32, -1 at empty slots),
    ``adjacency (m, P, P)``
    (block-diagonal inside each bin), ``mask (m, P)`` (1 at real nodes),
    ``member (m, k, P)`` (1 where slot p of bin b holds the bin's k-th graph),
    and for a sparse side (D > 0) each node's neighbours in A + I as slots of
    its bin, ``neighbours (U, D)`` (int32), with ``valid (U, D)`` 1 where the
    entry is one (D = 0: the side aggregates by dense per-bin products)."""
    features: Any
    adjacency: Any
    mask: Any
    member: Any
    neighbours: Any
    valid: Any


@dataclass(frozen=True)
class Side:
    """The shape of every tile of one size group: ``bins`` bins of ``size``
    node slots, each with ``slots`` graph slots; ``degree`` neighbour slots
    per node when it aggregates sparsely (0: densely); ``labels`` the
    feature count F when the features are one-hot and the tiles hold labels
    (0: features)."""
    size: int
    bins: int
    slots: int
    degree: int = 0
    labels: int = 0

    @property
    def nodes(self) -> int:
        return self.size * self.bins


@dataclass
class Group:
    side: Side
    tiles: list      # Tile of NumPy arrays
    index: list      # graph id per graph slot of each tile, bin by bin (-1: empty)



def candidate_tops(sizes) -> list:
    top = max(1, int(max(sizes)))
    tops = [SMALLEST_BIN * 2 ** k for k in range(12) if SMALLEST_BIN * 2 ** k < top]
    return tops + [top]


def choose_tops(sizes, activations: int, aggregations: int, sym: bool = True,
                degrees=None) -> tuple:
    """The bin sizes of the size groups: the subset of :func:`candidate_tops`
    (always with max V) minimising the cost model — per node pair of a group
    pair (a, b), activations·PAIR_NS + aggregations·(row_a + 2P_b·FLOP_NS),
    with row_a the cheaper of 2P_a·FLOP_NS and D_a·GATHER_NS (D_a: the most
    neighbour slots, :func:`degree`, of the group's graphs, from ``degrees``
    per graph; without them rows are dense) — plus compiling each tile
    function (one per group pair, and one per group for the diagonal)."""
    sizes = np.asarray(sizes)
    degs = None if degrees is None else np.asarray(degrees)
    cands = candidate_tops(sizes)
    best = None
    for r in range(len(cands)):
        for extra in itertools.combinations(cands[:-1], r):
            tops = list(extra) + [cands[-1]]
            lo = [0] + tops[:-1]
            inside = [(sizes > a) & (sizes <= b) for a, b in zip(lo, tops)]
            nodes = [float(sizes[i].sum()) for i in inside]
            rows = [2 * p * FLOP_NS if degs is None or not i.any() else
                    min(2 * p * FLOP_NS, float(degs[i].max()) * GATHER_NS)
                    for p, i in zip(tops, inside)]
            cost = 0.0
            for (na, ra), (nb, pb) in itertools.product(zip(nodes, rows), zip(nodes, tops)):
                cost += na * nb * (activations * PAIR_NS + aggregations * (ra + 2 * pb * FLOP_NS))
            k = sum(1 for n in nodes if n > 0)
            functions = k * (k + 1) / 2 + k if sym else k * k
            compile_ns = COMPILE_NS + COMPILE_LAYER_NS * (activations + aggregations)
            cost = cost / (2 if sym else 1) + compile_ns * functions
            if best is None or cost < best[0]:
                best = (cost, tuple(t for t, n in zip(tops, nodes) if n > 0) or (tops[-1],))
    return best[1]


def pack(sizes, tops) -> list:
    """Graphs into bins: [(P, [[graph ids of a bin], ...]), ...], one entry per
    size group, largest first. Going down the groups, every graph larger than
    the next smaller P opens or joins a bin of this group (best fit
    decreasing), and smaller graphs fill the bins' slack before they go on."""
    sizes = np.asarray(sizes)
    left = [int(g) for g in np.argsort(-sizes, kind="stable")]
    out = []
    for k in range(len(tops) - 1, -1, -1):
        p, lo = tops[k], (tops[k - 1] if k else -1)
        bins, slack = [], []      # slack: sorted (free slots, bin number)
        rest = []
        for g in left:
            v = int(sizes[g])
            i = bisect.bisect_left(slack, (v, -1))
            if i < len(slack):
                free, b = slack.pop(i)
                bins[b].append(g)
                bisect.insort(slack, (free - v, b))
            elif v > lo:
                bins.append([g])
                bisect.insort(slack, (p - v, len(bins) - 1))
            else:
                rest.append(g)
        left = rest
        if bins:
            out.append((p, bins))
    return out


def tile_nodes(itemsize: int, ntk: bool, memory_limit=None, members: int = 1) -> int:
    """Node slots per tile side: the square tile pair whose pair-sized arrays
    (about 6 per kernel computed, as ``fusion.bytes_per_pair``, and one more a
    kernel for each further member of a family, its running readout) fit the
    smaller of the memory budget and TILE_WORK."""
    from .blocking import parse_memory
    budget = min(parse_memory(memory_limit), TILE_WORK) if memory_limit is None \
        else parse_memory(memory_limit)
    per_pair = (5 + members) * (2 if ntk else 1) * itemsize
    return max(1, math.isqrt(max(1, budget // per_pair)))


def degree(adjacency) -> int:
    """The most entries a row of A + I has: a node's neighbour slots."""
    if not len(adjacency):
        return 1
    return int(((adjacency != 0) | np.eye(len(adjacency), dtype=bool)).sum(1).max())


def sparse_pays(size: int, deg: int) -> bool:
    """Whether a side of bins of ``size`` nodes, ``deg`` neighbour slots a
    node, aggregates its rows faster by gathers than by dense bin products."""
    return deg * GATHER_NS < 2 * size * FLOP_NS


def one_hot(features) -> bool:
    """Whether every row is one-hot: a single 1, the rest 0."""
    return bool(np.all((features == 0) | (features == 1)) and np.all(features.sum(1) == 1))


def layout(graphs, tops, nodes: int, sparse=None, labels: bool = False) -> list:
    """The size groups of ``graphs`` as :class:`Group`s of NumPy tiles of
    about ``nodes`` node slots a side; ``sparse``: whether the groups
    aggregate by neighbour lists (None: where :func:`sparse_pays`);
    ``labels``: hold one-hot features as labels (:func:`one_hot` must hold)."""
    sizes = [f.shape[0] for f, _ in graphs]
    dtype = graphs[0][0].dtype
    c = graphs[0][0].shape[1]
    groups = []
    for p, bins in pack(sizes, tops):
        per = max(1, min(len(bins), round(nodes / p)))
        count = math.ceil(len(bins) / per)
        per = math.ceil(len(bins) / count)
        cuts = [bins[t * per:(t + 1) * per] for t in range(count)]
        slots = max(len(b) for b in bins)
        deg = max(degree(graphs[g][1]) for b in bins for g in b)
        if not (sparse_pays(p, deg) if sparse is None else sparse):
            deg = 0
        side = Side(p, per, slots, deg, c if labels else 0)
        tiles, index = [], []
        for cut in cuts:
            f = np.full(per * p, -1, np.int32) if labels else np.zeros((per * p, c), dtype)
            a = np.zeros((per, p, p), dtype)
            mask = np.zeros((per, p), dtype)
            member = np.zeros((per, slots, p), dtype)
            nbr = np.zeros((per * p, deg), np.int32)
            valid = np.zeros((per * p, deg), dtype)
            ids = np.full(per * slots, -1)
            for b, members in enumerate(cut):
                at = 0
                for k, g in enumerate(members):
                    x, adj = graphs[g]
                    v = x.shape[0]
                    f[b * p + at:b * p + at + v] = np.argmax(x, 1) if labels else x
                    a[b, at:at + v, at:at + v] = adj
                    mask[b, at:at + v] = 1
                    member[b, k, at:at + v] = 1
                    ids[b * slots + k] = g
                    if deg:
                        for u, row in enumerate((adj != 0) | np.eye(v, dtype=bool)):
                            q = np.flatnonzero(row)
                            nbr[b * p + at + u, :len(q)] = at + q
                            valid[b * p + at + u, :len(q)] = 1
                    at += v
            tiles.append(Tile(f, a, mask, member, nbr, valid))
            index.append(ids)
        groups.append(Group(side, tiles, index))
    return groups


def layer_counts(net) -> tuple:
    """(activations, aggregations) on the joint layout, for the cost model:
    node-pair passes of elementwise rules and of rules with their own joint form."""
    acts = aggs = 0

    def walk(nodes):
        nonlocal acts, aggs
        for node in nodes:
            if node.in_shape.kind != "graph":
                return
            if node.rule.kind == "activation":
                acts += 1
            elif callable(node.rule.joint):
                aggs += 1
            for body in node.bodies:
                walk(body)
    walk(net.layers)
    return max(acts, 1), max(aggs, 1)
