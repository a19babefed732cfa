"""Families: several nets of one file in one pass (ntkc.load_family). Each
member's kernels equal its own net's, the shared prefix is traced once, and a
family is refused when its nets read different inputs."""

import jax
import numpy as np
import pytest

import ntkc

RNG = np.random.default_rng(3)

GNTK = """
input graph(features=3)

def block(norm, mlp) {
    GraphAgg(self_loops=true, norm=norm)
    repeat mlp { Relu Dense(W_std=sqrt(2)) }
    Tap
}

def gntk(blocks, mlp, norm) {
    Dense(W_std=sqrt(6))
    JumpingKnowledge { Tap repeat blocks { block(norm, mlp) } }
    GlobalSumPool
}

net b1_m2_mean { gntk(1, 2, "mean") }
net b2_m2_mean { gntk(2, 2, "mean") }
net b3_m2_mean { gntk(3, 2, "mean") }
net b3_m1_sum { gntk(3, 1, "sum") }
"""

MLP = """
input vector(dim=4)
net short { Dense(W_std=1.5, b_std=0.1) Erf Dense }
net long { Dense(W_std=1.5, b_std=0.1) Erf Dense(W_std=1.2) Relu Dense }
"""


def graphs(n, v, seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, v + 1, size=n)
    feats = np.zeros((n, v, 3))
    adj = np.zeros((n, v, v))
    mask = np.zeros((n, v))
    for i, s in enumerate(sizes):
        feats[i, :s] = np.eye(3)[rng.integers(0, 3, size=s)]
        a = np.triu(rng.random((s, s)) < 0.4, 1)
        adj[i, :s, :s] = a + a.T
        mask[i, :s] = 1
    return ntkc.GraphBatch(feats, adj, mask)


NETS = ["b1_m2_mean", "b2_m2_mean", "b3_m2_mean", "b3_m1_sum"]


@pytest.mark.parametrize("cross", [False, True])
def test_family_equals_members(cross):
    jax.config.update("jax_enable_x64", True)
    g1 = graphs(5, 6, 0)
    g2 = graphs(4, 6, 1) if cross else None
    fam = ntkc.compile_family(GNTK, NETS)
    got = fam(g1, g2, get=None)
    assert list(got) == NETS
    for name in NETS:
        # batch_size keeps the member on the padded path, the family's own
        # (the joint layout agrees with it to ~1e-9, not bit for bit)
        want = ntkc.compile(GNTK, name)(g1, g2, get=None, batch_size=len(g1))
        for a, b in zip(got[name], want):
            a, b = np.asarray(a), np.asarray(b)
            assert a.dtype == np.float64
            assert np.max(np.abs(a - b)) <= 1e-10 * np.max(np.abs(b))
    # the Dense and the first blocks of the mean nets are shared: traced once
    assert fam.last_trace["reused"] > 0


def test_family_traces_the_shared_prefix_once():
    jax.config.update("jax_enable_x64", True)
    g = graphs(3, 5, 2)
    mean = ["b1_m2_mean", "b2_m2_mean", "b3_m2_mean"]
    fam = ntkc.compile_family(GNTK, mean)
    fam(g)
    deepest = ntkc.compile_family(GNTK, mean[-1:])
    deepest(g)
    # beyond the deepest net, only each shallower net's own JumpingKnowledge
    # block and readout are new: 2 steps per extra member
    assert fam.last_trace["run"] == deepest.last_trace["run"] + 2 * 2


def test_family_blocked_and_get():
    jax.config.update("jax_enable_x64", True)
    x = RNG.normal(size=(7, 4))
    fam = ntkc.compile_family(MLP, ["short", "long"])
    got = fam(x, get=("nngp", "ntk"), batch_size=3)
    one = fam(x, get="nngp")
    for name in ("short", "long"):
        # the same blocks as the member's own (Relu's arc-cosine on a diagonal
        # rounds differently in a block than in one call, ~1e-9)
        want = ntkc.compile(MLP, name)(x, get=("nngp", "ntk"), batch_size=3)
        for a, b in zip(got[name], want):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)
        alone = ntkc.compile(MLP, name)(x, get="nngp")
        np.testing.assert_allclose(np.asarray(one[name]), np.asarray(alone), rtol=1e-12)


def test_family_errors():
    with pytest.raises(ntkc.NtkError, match="at least one"):
        ntkc.compile_family(MLP, [])
    with pytest.raises(ntkc.NtkError, match="named twice"):
        ntkc.compile_family(MLP, ["short", "short"])
    with pytest.raises(ntkc.NtkError, match="list of net names"):
        ntkc.compile_family(MLP, "short")
    with pytest.raises(ntkc.NtkError, match="nope"):
        ntkc.compile_family(MLP, ["short", "nope"])
    src = "input vector(dim=4)\nnet a { Dense }\n"
    other = "input vector(dim=5)\nnet b { Dense }\n"
    fam_a = ntkc.compile(src, "a").net
    fam_b = ntkc.compile(other, "b").net
    with pytest.raises(ntkc.NtkError, match="read one input"):
        ntkc.Family([fam_a, fam_b])


@pytest.mark.slow
def test_graph_gram_of_a_family():
    """regression.graph_gram pads by size class and cuts into chunks; a
    family's Grams come back from it as {net: Gram}, each its member's."""
    from ntkc.data import GraphDataset
    from ntkc.regression import graph_gram
    jax.config.update("jax_enable_x64", True)
    b = graphs(9, 7, 4)
    items = []
    for f, a, m in zip(b.features, b.adjacency, b.mask):
        n = int(m.sum())
        items.append((f[:n], a[:n, :n]))
    ds = GraphDataset("toy", items, np.zeros(len(items), int))
    mean = ["b1_m2_mean", "b3_m2_mean"]
    got = graph_gram(ntkc.compile_family(GNTK, mean), ds, levels=2, block=200, padded=True)
    assert sorted(got) == sorted(mean)
    for name in mean:
        want = graph_gram(ntkc.compile(GNTK, name), ds, levels=2, block=200, padded=True)
        assert np.max(np.abs(got[name] - want)) <= 1e-10 * np.max(np.abs(want))
    # without padded=True each member runs on the joint layout, as it would alone
    joint = graph_gram(ntkc.compile_family(GNTK, mean), ds)
    assert sorted(joint) == sorted(mean)
    for name in mean:
        assert np.array_equal(joint[name], graph_gram(ntkc.compile(GNTK, name), ds))
        assert np.max(np.abs(joint[name] - got[name])) <= 1e-8 * np.max(np.abs(got[name]))
