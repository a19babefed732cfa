"""Branching: Sum, Concat, Identity, Branch and JumpingKnowledge, against
independent compositions of plain nets, the GNTK authors' jk=1 Gram, and the
rejection of correlated sums."""

import numpy as np
import pytest

import ntkc
from conftest import GOLDEN

RNG = np.random.default_rng(0)
X = RNG.normal(size=(5, 4))
IMG = RNG.normal(size=(3, 5, 5, 2))


def gram(src, x, get=("nngp", "ntk")):
    return [np.asarray(k) for k in ntkc.compile(src)(x, get=get)]


def vec(body):
    return f"input vector(dim=4)\nnet n {{ {body} }}"


def test_jumping_knowledge_equals_gntk_reference():
    ref = GOLDEN / "gntk_reference"
    z = np.load(ref / "MUTAG_inputs.npz")
    kernel = ntkc.load(ref / "MUTAG_b3_m2_jk1_degree.ntk")
    k = np.asarray(kernel(ntkc.GraphBatch(z["features"], z["adjacency"], z["mask"])))
    want = np.load(ref / "MUTAG_b3_m2_jk1_degree.npy")
    assert np.max(np.abs(k - want)) / np.max(np.abs(want)) < 1e-8


def test_sum_of_fresh_branches_is_sum_of_kernels():
    pre = "Dense(W_std=1.3, b_std=0.2) Relu"
    a = "Dense(W_std=1.1, b_std=0.1)"
    b = "Branch { Dense(W_std=1.2) Relu Dense(W_std=0.9, b_std=0.3) }"
    total = gram(vec(f"{pre} Sum {{ {a} {b} }}"), X)
    one = gram(vec(f"{pre} {a}"), X)
    two = gram(vec(f"{pre} Dense(W_std=1.2) Relu Dense(W_std=0.9, b_std=0.3)"), X)
    for t, p, q in zip(total, one, two):
        np.testing.assert_allclose(t, p + q, rtol=1e-12)


def test_identity_plus_branch_is_residual():
    body = "Relu Dense(W_std=1.5, b_std=0.1)"
    s = gram(vec(f"Dense(W_std=1.5) Sum {{ Identity Branch {{ {body} }} }} Relu Dense"), X)
    r = gram(vec(f"Dense(W_std=1.5) Residual {{ {body} }} Relu Dense"), X)
    for p, q in zip(s, r):
        np.testing.assert_allclose(p, q, rtol=1e-12)


def test_concat_is_channel_weighted_mean():
    img = "input image(height=5, width=5, channels=2)\nnet n {{ Conv(kernel=3, W_std=1.4) Relu {} Relu GlobalAvgPool Dense }}"
    a = "Conv(kernel=1, W_std=1.3)"
    b = "Conv(kernel=3, W_std=1.2, b_std=0.1) Relu Conv(kernel=3, W_std=1.5)"
    both = gram(img.format(f"Concat {{ {a} Branch(width=3) {{ {b} }} }}"), IMG, get="nngp")[0]
    # The mean over channels happens before the next nonlinearity: compare the
    # state right after Concat by reading it out linearly.
    lin = "input image(height=5, width=5, channels=2)\nnet n {{ Conv(kernel=3, W_std=1.4) Relu {} GlobalAvgPool }}"
    ka = gram(lin.format(a), IMG, get="nngp")[0]
    kb = gram(lin.format(b), IMG, get="nngp")[0]
    kab = gram(lin.format(f"Concat {{ {a} Branch(width=3) {{ {b} }} }}"), IMG, get="nngp")[0]
    np.testing.assert_allclose(kab, 0.25 * ka + 0.75 * kb, rtol=1e-12)
    assert np.all(np.isfinite(both))


def test_jumping_knowledge_is_sum_of_taps():
    jk = vec("Dense(W_std=1.2) JumpingKnowledge { Tap Relu Dense(W_std=1.4, b_std=0.1) Tap "
             "Relu Dense(W_std=1.1) Tap }")
    h0 = vec("Dense(W_std=1.2)")
    h1 = vec("Dense(W_std=1.2) Relu Dense(W_std=1.4, b_std=0.1)")
    h2 = vec("Dense(W_std=1.2) Relu Dense(W_std=1.4, b_std=0.1) Relu Dense(W_std=1.1)")
    total = gram(jk, X)
    parts = [gram(s, X) for s in (h0, h1, h2)]
    for i in range(2):
        np.testing.assert_allclose(total[i], sum(p[i] for p in parts), rtol=1e-12)


def test_nested_residual_body_is_accepted():
    """A body ending in a Residual whose input and body are fresh is fresh."""
    ntkc.compile(vec("Dense Residual { Dense Residual { Relu Dense } } Dense"))
    ntkc.compile(vec("Dense Residual { Relu Sum { Dense Branch { Relu Dense } } } Dense"))


@pytest.mark.parametrize("body, message", [
    ("Dense Sum { Identity Relu } Dense",
     "2:15: error: the branches Identity (line 2) and Relu (line 2) of Sum are correlated"),
    ("Dense JumpingKnowledge { Tap Relu Tap } Dense",
     "2:15: error: JumpingKnowledge: the layers between Tap 1 and Tap 2 must end in a weight layer"),
    ("Dense Tap Dense", "2:15: error: Tap is only allowed directly inside JumpingKnowledge"),
    ("Dense JumpingKnowledge { Tap Dense } Dense",
     "2:38: error: layers after the last Tap of JumpingKnowledge would not reach its output"),
    ("Dense Residual { Dense Residual { Relu } } Dense",
     "2:32: error: the body of Residual must end in a weight layer"),
    ("Dense Sum { } Dense", "2:15: error: the body of Sum is empty"),
])
def test_rejected(body, message):
    with pytest.raises(ntkc.NtkError) as err:
        ntkc.compile(vec(body))
    assert message in str(err.value)


def test_concat_shapes_must_agree():
    src = ("input image(height=5, width=5, channels=2)\nnet n { Concat { Conv(kernel=1) "
           "Conv(kernel=3, padding=\"valid\") } GlobalAvgPool }")
    with pytest.raises(ntkc.NtkError, match="produce different shapes"):
        ntkc.compile(src)
