"""Graph Grams on the joint node-pair layout (ntkc.graphjoint) against the
padded path, the GNTK authors' Grams and an independent numpy reference
(test_graph_reference's node-pair recursion on the disjoint union), and the
graph-list input's checks."""

from pathlib import Path

import numpy as np
import pytest

import ntkc
from ntkc import graphjoint
from test_graph_reference import reference, source

GOLDEN = Path(__file__).parent / "golden"
REF = GOLDEN / "gntk_reference"
F = 3
LAYERS = [("dense", 1.3, 0.2), ("agg", True, "mean"), ("relu",), ("dense", 1.2, 0.1),
          ("agg", True, "sum"), ("relu",), ("dense", 1.1, 0.0), ("pool", False)]


# Compiled kernels are shared across the tests (each keeps its compiled tile
# functions, one per tile shape), which is most of this file's cost.
_KERNELS = {}


def kernel_of(src):
    if src not in _KERNELS:
        _KERNELS[src] = ntkc.compile(src)
    return _KERNELS[src]


def mutag(count=None):
    """MUTAG as the authors load it; ``count``: that many graphs, spread
    over the sizes (the largest included), and their indices."""
    d = np.load(REF / "MUTAG_inputs.npz")
    idx = np.arange(len(d["mask"]))
    if count is not None:
        idx = np.sort(np.argsort(d["mask"].sum(1), kind="stable")[
            np.linspace(0, len(idx) - 1, count).round().astype(int)])
    return ntkc.GraphBatch(d["features"][idx].astype(float), d["adjacency"][idx].astype(float),
                           d["mask"][idx].astype(float)), idx


def graphs_of(rng, sizes, p=0.4, weighted=False):
    out = []
    for v in sizes:
        a = np.triu((rng.random((v, v)) < p).astype(float), 1)
        if weighted:
            a *= rng.uniform(0.1, 3.0, (v, v))
        out.append((rng.standard_normal((v, F)), a + a.T))
    return out


def both(kernel, g1, g2=None, **kw):
    return [np.asarray(k) for k in kernel(g1, g2, get=("nngp", "ntk"), **kw)]


def check(layers, g1, g2=None, **kw):
    kernel = kernel_of(source(layers))
    sigma, theta = reference(g1 + (g2 or []), layers)
    n1 = len(g1)
    cut = (slice(None, n1), slice(n1, None) if g2 else slice(None, n1))
    for got, want in zip(both(kernel, g1, g2, **kw), (sigma, theta)):
        np.testing.assert_allclose(got, want[cut], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("jk", [0, 1])
def test_joint_equals_padded_and_the_authors_grams(jk):
    """On 40 of MUTAG's graphs (all 188, on the joint path by default, are
    checked against the same Grams in test_golden (jk 0) and test_branching
    (jk 1))."""
    kernel = ntkc.load(str(REF / f"MUTAG_b3_m2_jk{jk}_degree.ntk"))
    assert kernel.joint_blocker() is None
    batch, idx = mutag(40)
    want = np.load(REF / f"MUTAG_b3_m2_jk{jk}_degree.npy")[np.ix_(idx, idx)]
    joint = np.asarray(kernel(batch))
    padded = np.asarray(kernel(batch, batch_size=20))   # batch_size: the padded path
    np.testing.assert_allclose(joint, want, rtol=1e-8)
    np.testing.assert_allclose(joint, padded, rtol=1e-8)
    if jk:
        # small tiles and two size groups: the same Gram, assembled from pieces
        g = [(f[m > 0], a[np.ix_(m > 0, m > 0)]) for f, a, m in
             zip(batch.features, batch.adjacency, batch.mask)]
        (pieces,) = graphjoint.gram(kernel.net, g, None, ("ntk",), tops=(16, 28), nodes=112)
        np.testing.assert_allclose(pieces, want, rtol=1e-8)


def test_list_input_x1_not_x2_and_tiles_match_numpy():
    rng = np.random.default_rng(0)
    g1, g2 = graphs_of(rng, [5, 3, 9, 1, 4, 7]), graphs_of(rng, [6, 2, 8])
    check(LAYERS, g1)
    check(LAYERS, g1, g2)
    check(LAYERS, g1, g2, memory_limit=4000)   # tiny tiles: many tile pairs


def test_permuting_nodes_and_graphs_permutes_the_gram():
    rng = np.random.default_rng(1)
    g = graphs_of(rng, [6, 4, 9, 3, 7])
    kernel = kernel_of(source(LAYERS))
    base = np.asarray(kernel(g))
    shuffled = []
    for f, a in g:
        p = rng.permutation(len(f))
        shuffled.append((f[p], a[np.ix_(p, p)]))
    np.testing.assert_allclose(np.asarray(kernel(shuffled)), base, rtol=1e-10)
    order = rng.permutation(len(g))
    np.testing.assert_allclose(np.asarray(kernel([g[i] for i in order])),
                               base[np.ix_(order, order)], rtol=1e-10)


def test_edgeless_single_node_and_500_node_graphs_in_one_call():
    rng = np.random.default_rng(2)
    g = graphs_of(rng, [1, 4, 500, 2], p=0.02)
    g[1] = (g[1][0], np.zeros((4, 4)))          # no edges
    check(LAYERS, g)
    check([("dense", 1.5, 0.1), ("agg", False, "mean"), ("relu",), ("dense", 1.0, 0.0),
           ("pool", True)], g)


def test_weighted_adjacency_matches_numpy():
    rng = np.random.default_rng(3)
    g1, g2 = graphs_of(rng, [5, 8, 3], weighted=True), graphs_of(rng, [4, 6], weighted=True)
    check(LAYERS, g1, g2)
    batch = ntkc.GraphBatch.from_graphs(g1)
    kernel = kernel_of(source(LAYERS))
    # the padded path in blocks pairs a graph with itself in a cross block: 1e-8
    np.testing.assert_allclose(np.asarray(kernel(batch, batch_size=3)),
                               np.asarray(kernel(g1)), rtol=1e-8)


@pytest.mark.parametrize("sparse", [True, False])
def test_sparse_and_dense_aggregation_match_numpy(sparse):
    """Neighbour-list gathers and dense bin products, forced on every size
    group (the cost model picks one per group), on weighted graphs with sum
    and mean aggregation, an edgeless and a one-node graph, x1 ≠ x2."""
    rng = np.random.default_rng(4)
    g1 = graphs_of(rng, [5, 8, 1, 13, 3], p=0.3, weighted=True)
    g1[0] = (g1[0][0], np.zeros((5, 5)))
    g2 = graphs_of(rng, [4, 11, 6], p=0.3, weighted=True)
    kernel = kernel_of(source(LAYERS))
    sigma, theta = reference(g1 + g2, LAYERS)
    for x2, cut in ((None, np.s_[:5, :5]), (g2, np.s_[:5, 5:])):
        got = graphjoint.gram(kernel.net, g1, x2, ("nngp", "ntk"), tops=(8, 16), nodes=24,
                              sparse=sparse)
        assert {g.side.degree > 0 for g in graphjoint.layout(g1, (8, 16), 24, sparse)} == {sparse}
        for k, want in zip(got, (sigma, theta)):
            np.testing.assert_allclose(k, want[cut], rtol=1e-10, atol=1e-12)


def test_one_hot_features_as_labels_match_numpy():
    """One-hot features are held as labels (Σ⁰ by label equality): the same
    Grams as the features' products and the numpy reference, x1 ≠ x2; one
    graph with a non-one-hot row keeps every graph's features."""
    rng = np.random.default_rng(5)

    def hot(graphs):
        return [(np.eye(F)[rng.integers(0, F, len(f))], a) for f, a in graphs]
    g1, g2 = hot(graphs_of(rng, [5, 8, 1, 13])), hot(graphs_of(rng, [4, 11, 6]))
    assert all(graphjoint.one_hot(f) for f, _ in g1 + g2)
    assert not graphjoint.one_hot(g1[0][0] * 2) and not graphjoint.one_hot(g1[0][0] * 0)
    kernel = kernel_of(source(LAYERS))
    sigma, theta = reference(g1 + g2, LAYERS)
    for x2, cut in ((None, np.s_[:4, :4]), (g2, np.s_[:4, 4:])):
        for labels in (None, False):
            got = graphjoint.gram(kernel.net, g1, x2, ("nngp", "ntk"), tops=(8, 16), nodes=24,
                                  labels=labels)
            for k, want in zip(got, (sigma, theta)):
                np.testing.assert_allclose(k, want[cut], rtol=1e-10, atol=1e-12)
    assert all(g.side.labels == F for g in graphjoint.layout(g1, (8, 16), 24, labels=True))
    check(LAYERS, g1, [(g2[0][0] * 0.5, g2[0][1])] + g2[1:])


def test_a_net_without_a_joint_rule_falls_back_and_says_so():
    src = f"input graph(features={F})\nnet n {{ Dense(W_std=1.2) GraphAgg LayerNorm Relu GlobalSumPool }}\n"
    kernel = ntkc.compile(src)
    assert "LayerNorm" in kernel.joint_blocker()
    g = graphs_of(np.random.default_rng(4), [3, 5])
    with pytest.warns(UserWarning, match="LayerNorm .* padded path"):
        got = np.asarray(kernel(g))
    np.testing.assert_allclose(got, np.asarray(kernel(ntkc.GraphBatch.from_graphs(g))), rtol=1e-12)


def bad(*edits):
    g = graphs_of(np.random.default_rng(5), [3, 4, 5])
    for i, f, a in edits:
        g[i] = (g[i][0] if f is None else f, g[i][1] if a is None else a)
    return g


def directed():
    a = np.zeros((4, 4))
    a[0, 1] = 1
    return a


@pytest.mark.parametrize("graphs, match", [
    (bad((1, None, directed())), r"x1 graph 1: adjacency is not symmetric \(entry \(0, 1\)"),
    (bad((2, None, -np.ones((5, 5)))), r"x1 graph 2: adjacency has a negative weight -1"),
    (bad((0, None, np.full((3, 3), np.nan))), r"x1 graph 0: adjacency contain NaN"),
    (bad((1, None, np.zeros((4, 3)))), r"x1 graph 1: adjacency has shape \(4, 3\), expected \(4, 4\)"),
    (bad((2, np.zeros((5, 2)), None)), r"x1 graph 2: features have shape \(5, 2\), expected \(V, 3\)"),
    (bad((0, np.full((3, 3), np.inf), None)), r"x1 graph 0: features contain NaN or Inf"),
    (bad((1, np.zeros((0, 3)), np.zeros((0, 0)))), r"x1 graph 1 has no nodes"),
    ([(np.ones((2, 3)),)], r"x1 graph 0: expected a \(features, adjacency\) pair"),
    ([], r"x1 has no graphs"),
])
def test_bad_graph_inputs_are_errors(graphs, match):
    kernel = kernel_of(source(LAYERS))
    with pytest.raises(ntkc.NtkError, match=match):
        kernel(graphs)
    with pytest.raises(ntkc.NtkError, match=match.replace("x1", "x2")):
        kernel(bad(), graphs)


def test_packing_keeps_every_graph_once_and_fills_bins():
    sizes = np.random.default_rng(6).integers(1, 60, 300)
    tops = graphjoint.choose_tops(sizes, 2, 2)
    groups = graphjoint.pack(sizes, tops)
    seen = sorted(g for _, bins in groups for b in bins for g in b)
    assert seen == list(range(len(sizes)))
    for p, bins in groups:
        assert all(sizes[b].sum() <= p for b in map(np.array, bins))
    slots = sum(p * len(bins) for p, bins in groups)
    assert slots < 1.15 * sizes.sum()     # best fit leaves little room unused


def test_cli_reads_a_tu_data_set_as_a_graph_list():
    from ntkc.cli import load_inputs
    from ntkc.data import load_tu
    kernel = ntkc.load(str(REF / "MUTAG_b3_m2_jk0_degree.ntk"))
    root = Path(__file__).parent / "data" / "graphs"
    want = load_tu(root, "MUTAG").graphs
    for path in (root / "MUTAG", root / "MUTAG" / "MUTAG.txt"):
        got = load_inputs(str(path), kernel)
        assert len(got) == len(want)
        np.testing.assert_array_equal(got[5][1], want[5][1])


def test_accuracy_checks_on_the_joint_layout():
    """An approximate layer's run-time accuracy check also guards the joint
    layout, whose tile functions are compiled ahead in worker threads: cos
    after three sum aggregations of a dense graph is refused at its layer,
    and the same net on small variances is computed."""
    import jax
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(1)
    src = ('input graph(features=2)\nnet n {{ Dense GraphAgg Dense GraphAgg Dense GraphAgg Dense '
           'Elementwise(fn="cos") GlobalSumPool Dense(W_std={w}) }}')
    small = [(rng.standard_normal((2, 2)), np.ones((2, 2)) - np.eye(2)) for _ in range(10)]
    dense = [(rng.standard_normal((12, 2)), np.ones((12, 12)) - np.eye(12))]
    kernel = ntkc.compile(src.format(w=1), "n")
    with pytest.raises(ntkc.NtkError) as e:
        kernel(small + dense)
    assert kernel._joint, "the Gram did not take the joint layout"
    assert e.value.line == 2 and "Cos" in e.value.message
    ok = ntkc.compile(src.format(w=1).replace("GraphAgg Dense GraphAgg Dense GraphAgg",
                                              "GraphAgg(norm=\"mean\")"), "n")
    got = np.asarray(ok(small + dense))
    assert ok._joint and np.all(np.isfinite(got))
