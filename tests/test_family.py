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


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("cross", [False, True])
def test_family_equals_members(cross, padded):
    jax.config.update("jax_enable_x64", True)
    g1 = graphs(5, 6, 0)
    g2 = graphs(4, 6, 1) if cross else None
    # batch_size keeps the family and the member on the padded path; without
    # it both take the joint layout (the two agree to ~1e-9, not bit for bit)
    kw = {"batch_size": len(g1)} if padded else {}
    fam = ntkc.compile_family(GNTK, NETS)
    got = fam(g1, g2, get=None, **kw)
    assert list(got) == NETS
    assert bool(fam._joint) is not padded
    for name in NETS:
        want = ntkc.compile(GNTK, name)(g1, g2, get=None, **kw)
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
    # without padded=True the family's one pass runs on the joint layout
    joint = graph_gram(ntkc.compile_family(GNTK, mean), ds)
    assert sorted(joint) == sorted(mean)
    for name in mean:
        alone = graph_gram(ntkc.compile(GNTK, name), ds)
        assert np.max(np.abs(joint[name] - alone)) <= 1e-12 * np.max(np.abs(alone))
        assert np.max(np.abs(joint[name] - got[name])) <= 1e-8 * np.max(np.abs(got[name]))


def ragged(b):
    return [(f[:int(m.sum())], a[:int(m.sum()), :int(m.sum())])
            for f, a, m in zip(b.features, b.adjacency, b.mask)]


@pytest.mark.parametrize("cross", [False, True])
def test_family_on_the_joint_layout(cross):
    """A family's one pass on the joint node-pair layout: each member's Grams
    are its own net's on that layout (tiles of several size groups, the
    diagonal's own tile functions, x1 ≠ x2), the shared blocks run once."""
    from ntkc import graphjoint
    jax.config.update("jax_enable_x64", True)
    g1 = ragged(graphs(9, 12, 5))
    g2 = ragged(graphs(6, 12, 6)) if cross else None
    mean = ["b1_m2_mean", "b2_m2_mean", "b3_m2_mean"]
    fam = ntkc.compile_family(GNTK, mean)
    stats = {}
    got = graphjoint.gram(fam.nets, g1, g2, ("nngp", "ntk"), tops=(4, 12), nodes=16,
                          stats=stats)
    assert len(got) == 2 * len(mean)
    for i, name in enumerate(mean):
        want = graphjoint.gram(ntkc.compile(GNTK, name).net, g1, g2, ("nngp", "ntk"),
                               tops=(4, 12), nodes=16)
        for a, b in zip(got[2 * i:2 * i + 2], want):
            assert np.all(np.isfinite(a))
            assert np.max(np.abs(a - b)) <= 1e-12 * np.max(np.abs(b))
    # beyond the deepest net only each shallower one's JumpingKnowledge and
    # readout are traced (2 steps per extra member), as on the padded path
    deepest = {}
    graphjoint.gram(fam.nets[-1:], g1, g2, ("nngp", "ntk"), tops=(4, 12), nodes=16,
                    stats=deepest)
    assert stats["run"] == deepest["run"] + 2 * 2


def test_family_call_takes_the_joint_layout():
    """family(graphs) on ragged graphs whose padding would cost much goes to
    the joint layout as one net's call does, and returns {net: Gram}."""
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(7)
    g = ragged(graphs(12, 4, 8)) + [(np.eye(3)[rng.integers(0, 3, 40)],
                                     np.triu(rng.random((40, 40)) < 0.1, 1) * 1.0)]
    g[-1] = (g[-1][0], g[-1][1] + g[-1][1].T)
    names = ["b1_m2_mean", "b3_m1_sum"]
    fam = ntkc.compile_family(GNTK, names)
    got = fam(g)
    assert fam._joint, "the family's Gram did not take the joint layout"
    for name in names:
        want = np.asarray(ntkc.compile(GNTK, name)(g))
        assert np.max(np.abs(np.asarray(got[name]) - want)) <= 1e-12 * np.max(np.abs(want))
