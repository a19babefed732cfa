"""Graph kernels against a reference written independently in plain numpy.

GraphAgg's aggregation matrix Â serves both the kernel rule and the finite
network, so Monte Carlo verification cannot see a wrong Â: both halves would
agree on it. Here Â is built from its definition for each option
(Â = A (+ I), rows divided by their degree for ``norm="mean"``), every graph
batch becomes one disjoint union of its real nodes (padding dropped, so a
padded node that leaks into a sum shows up as a difference), and the
Σ/Θ recursion is run on node-pair matrices:

    Dense:    Σ' = W²Σ + b²,  Θ' = W²Θ + Σ'
    Relu:     Σ' = √(v v') (sin θ + (π − θ) cos θ)/2π,  Θ' = Θ·(π − θ)/2π
    GraphAgg: Σ' = Â Σ Âᵀ,  Θ' = Â Θ Âᵀ
    pools:    Σ' = M Σ Mᵀ, M the graph-membership matrix (÷ node count for the mean)

The nets put a nonlinearity after every linear graph layer, so that each
layer's self-covariances (the variances the next Relu reads) are checked too,
not only the cross-covariance.
"""

import numpy as np
import pytest

import ntkc

F = 3  # node features


def np_relu(sigma, theta):
    v = np.diag(sigma)
    norm = np.sqrt(np.outer(v, v))
    cos = np.clip(sigma / np.where(norm > 0, norm, 1), -1, 1)
    t = np.arccos(cos)
    return norm * (np.sin(t) + (np.pi - t) * cos) / (2 * np.pi), theta * (np.pi - t) / (2 * np.pi)


def np_erf(sigma, theta):
    v = 1 + 2 * np.diag(sigma)
    d = np.outer(v, v)
    return 2 / np.pi * np.arcsin(2 * sigma / np.sqrt(d)), theta * 4 / np.pi / np.sqrt(d - 4 * sigma ** 2)


def np_a_hat(adjacency, self_loops, norm):
    a = adjacency + (np.eye(len(adjacency)) if self_loops else 0)
    if norm == "mean":
        degree = a.sum(1, keepdims=True)
        a = a / np.where(degree > 0, degree, 1)
    return a


def reference(graphs, layers):
    """Σ and Θ over every pair of ``graphs`` ([(features, adjacency), ...]) for
    ``layers``: ("dense", w, b) | ("relu",) | ("erf",) | ("agg", self_loops, norm) |
    ("pool", mean)."""
    sizes = [len(f) for f, _ in graphs]
    total = sum(sizes)
    z = np.concatenate([f for f, _ in graphs])
    adjacency = np.zeros((total, total))
    member = np.zeros((len(graphs), total))
    start = 0
    for g, (n, (_, a)) in enumerate(zip(sizes, graphs)):
        adjacency[start:start + n, start:start + n] = a
        member[g, start:start + n] = 1
        start += n
    sigma, theta = z @ z.T / z.shape[1], np.zeros((total, total))
    for layer in layers:
        if layer[0] == "dense":
            _, w, b = layer
            sigma = w * w * sigma + b * b
            theta = w * w * theta + sigma
        elif layer[0] in ("relu", "erf"):
            sigma, theta = (np_relu if layer[0] == "relu" else np_erf)(sigma, theta)
        elif layer[0] == "agg":
            a = np_a_hat(adjacency, layer[1], layer[2])
            sigma, theta = a @ sigma @ a.T, a @ theta @ a.T
        else:
            m = member / member.sum(1, keepdims=True) if layer[1] else member
            sigma, theta = m @ sigma @ m.T, m @ theta @ m.T
    return sigma, theta


def source(layers):
    words = []
    for layer in layers:
        if layer[0] == "dense":
            words.append(f"Dense(W_std={layer[1]}, b_std={layer[2]})")
        elif layer[0] in ("relu", "erf"):
            words.append(layer[0].capitalize())
        elif layer[0] == "agg":
            words.append(f'GraphAgg(self_loops={str(layer[1]).lower()}, norm="{layer[2]}")')
        else:
            words.append("GlobalAvgPool" if layer[1] else "GlobalSumPool")
    return f"input graph(features={F})\nnet n {{\n  " + "\n  ".join(words) + "\n}\n"


def random_graphs(rng, sizes):
    """Graphs with an isolated node in the first one (degree 0: the mean norm's
    guard) and otherwise edge probability 0.5."""
    out = []
    for i, v in enumerate(sizes):
        a = np.triu((rng.random((v, v)) < 0.5).astype(float), 1)
        a = a + a.T
        if i == 0:
            a[0, :] = a[:, 0] = 0
        out.append((rng.standard_normal((v, F)), a))
    return out


def compare(layers, graphs1, graphs2, nodes=9):
    """The compiled kernel, on padded batches (x1 alone and (x1, x2)), against
    the numpy reference on the union of both batches' real nodes — on both
    paths: the joint node-pair layout (the default for ragged graphs) and the
    padded path (``batch_size``: blocks of graphs), whose rules are separate."""
    kernel = ntkc.compile(source(layers))
    sigma, theta = reference(graphs1 + graphs2, layers)
    n1 = len(graphs1)
    g1 = ntkc.GraphBatch.from_graphs(graphs1, nodes=nodes)
    g2 = ntkc.GraphBatch.from_graphs(graphs2, nodes=nodes)
    for kw in ({}, {"batch_size": 2}):
        for got, want in zip(kernel(g1, get=("nngp", "ntk"), **kw), (sigma, theta)):
            np.testing.assert_allclose(np.asarray(got), want[:n1, :n1], rtol=1e-10, atol=1e-12)
        for got, want in zip(kernel(g1, g2, get=("nngp", "ntk"), **kw), (sigma, theta)):
            np.testing.assert_allclose(np.asarray(got), want[:n1, n1:], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("norm", ["sum", "mean"])
@pytest.mark.parametrize("self_loops", [True, False])
def test_graph_agg_matches_numpy(self_loops, norm):
    """Every Â option, read by a Relu (node variances) and by a second
    aggregation (off-diagonal node pairs), on graphs of 3–7 nodes padded to 9."""
    rng = np.random.default_rng(7)
    layers = [("dense", 1.3, 0.2), ("agg", self_loops, norm), ("relu",),
              ("dense", 1.2, 0.1), ("agg", self_loops, norm), ("relu",),
              ("dense", 1.1, 0.0), ("pool", False)]
    compare(layers, random_graphs(rng, [5, 3, 7]), random_graphs(rng, [4, 6]))


@pytest.mark.parametrize("mean", [True, False])
def test_global_pools_then_an_activation_match_numpy(mean):
    """A pool read by a Relu: the pooled self-covariances (mean: divided by
    the squared node count) decide the Relu's variances."""
    rng = np.random.default_rng(8)
    layers = [("dense", 1.4, 0.3), ("agg", True, "sum"), ("erf",), ("dense", 1.2, 0.2),
              ("pool", mean), ("dense", 1.3, 0.1), ("relu",), ("dense", 0.9, 0.2)]
    compare(layers, random_graphs(rng, [6, 3, 5]), random_graphs(rng, [7, 2]))


def test_reference_a_hat_on_a_path_graph():
    """The reference's Â itself, on the path 0 – 1 – 2, written out by hand."""
    a = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], float)
    np.testing.assert_array_equal(np_a_hat(a, False, "sum"), a)
    np.testing.assert_array_equal(np_a_hat(a, True, "sum"), a + np.eye(3))
    np.testing.assert_allclose(np_a_hat(a, False, "mean"),
                               [[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]])
    np.testing.assert_allclose(np_a_hat(a, True, "mean"),
                               [[0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3], [0, 0.5, 0.5]])


DEEP = """
input graph(features=3)
net deep {
    Dense(W_std=sqrt(6))
    JumpingKnowledge { Tap repeat 9 { GraphAgg(self_loops=true, norm="sum") Relu Dense(W_std=sqrt(2)) Tap } }
    GlobalSumPool
}
"""


def test_deep_graph_net_diagonal_against_80_bit_reference():
    """A graph paired with itself: each node with itself is at cos θ = 1
    exactly, where arccos turns any rounding into √ulp, and nine blocks add
    it up (the padded path once aggregated a graph's self-covariance apart
    from the cross Σ: 1e-9 off here, 5e-8 on PTC's deepest net; now ~1e-11).
    Both graph paths, on graphs without twin nodes (real-valued features),
    against the recursion in 80-bit numpy."""
    import jax
    from ntkc import graphjoint
    jax.config.update("jax_enable_x64", True)
    L = np.longdouble
    rng = np.random.default_rng(11)
    kernel = ntkc.compile(DEEP, "deep")
    for v in (12, 20, 28):
        x = rng.normal(size=(v, F))
        a = np.triu(rng.random((v, v)) < 0.25, 1) * 1.0
        a = a + a.T
        ah = a.astype(L) + np.eye(v, dtype=L)
        s = 2 * (x.astype(L) @ x.T.astype(L))
        t = s.copy()
        acc = t.copy()
        for _ in range(9):
            s, t = ah @ s @ ah.T, ah @ t @ ah.T
            d = np.sqrt(np.diag(s))
            cos = np.clip(s / np.outer(d, d), -1, 1)
            th = np.arccos(cos)
            sr = np.outer(d, d) * (np.sin(th) + (np.pi - th) * cos) / (2 * np.pi)
            t, s = 2 * t * (np.pi - th) / (2 * np.pi) + 2 * sr, 2 * sr
            acc = acc + t
        want = float(acc.sum())
        padded = float(np.asarray(kernel([(x, a)], batch_size=1))[0, 0])
        (joint,) = graphjoint.gram(kernel.net, [(x, a)], None, ("ntk",))
        for got in (padded, float(joint[0, 0])):
            assert abs(got - want) <= 1e-10 * want, (v, got, want)
