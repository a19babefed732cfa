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
        np.testing.assert_allclose(t, p + q, rtol=1e-9)


def test_identity_plus_branch_is_residual():
    body = "Relu Dense(W_std=1.5, b_std=0.1)"
    s = gram(vec(f"Dense(W_std=1.5) Sum {{ Identity Branch {{ {body} }} }} Relu Dense"), X)
    r = gram(vec(f"Dense(W_std=1.5) Residual {{ {body} }} Relu Dense"), X)
    for p, q in zip(s, r):
        np.testing.assert_allclose(p, q, rtol=1e-9)


def test_concat_is_channel_weighted_mean():
    """Read the state right after Concat out linearly: Σ = (1·Σ_a + 3·Σ_b)/4."""
    lin = ("input image(height=5, width=5, channels=2)\n"
           "net n {{ Conv(kernel=3, W_std=1.4) Relu {} GlobalAvgPool }}")
    a = "Conv(kernel=1, W_std=1.3)"
    b = "Conv(kernel=3, W_std=1.2, b_std=0.1) Relu Conv(kernel=3, W_std=1.5)"
    ka, kb, kab = (gram(lin.format(s), IMG) for s in
                   (a, b, f"Concat {{ {a} Branch(width=3) {{ {b} }} }}"))
    for i in range(2):
        np.testing.assert_allclose(kab[i], 0.25 * ka[i] + 0.75 * kb[i], rtol=1e-9)


def test_jumping_knowledge_is_sum_of_taps():
    jk = vec("Dense(W_std=1.2) JumpingKnowledge { Tap Relu Dense(W_std=1.4, b_std=0.1) Tap "
             "Relu Dense(W_std=1.1) Tap }")
    h0 = vec("Dense(W_std=1.2)")
    h1 = vec("Dense(W_std=1.2) Relu Dense(W_std=1.4, b_std=0.1)")
    h2 = vec("Dense(W_std=1.2) Relu Dense(W_std=1.4, b_std=0.1) Relu Dense(W_std=1.1)")
    total = gram(jk, X)
    parts = [gram(s, X) for s in (h0, h1, h2)]
    for i in range(2):
        np.testing.assert_allclose(total[i], sum(p[i] for p in parts), rtol=1e-9)


def test_nested_residual_body_is_accepted():
    """A body ending in a Residual whose input and body are fresh is fresh."""
    ntkc.compile(vec("Dense Residual { Dense Residual { Relu Dense } } Dense"))
    ntkc.compile(vec("Dense Residual { Relu Dense Sum { Dense Branch { Relu Dense } } } Dense"))


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


BRANCH_GOLDEN = GOLDEN / "branching"


@pytest.mark.parametrize("name", ["inception_concat", "densenet_concat", "fanin_sum"])
def test_stax_fanin_goldens(name):
    """stax FanInConcat/FanInSum networks (tests/golden/branching/generate.py)."""
    z = np.load(BRANCH_GOLDEN / f"{name}.npz")
    kernel = ntkc.load(BRANCH_GOLDEN / f"{name}.ntk")
    got = kernel(z["x1"], get=("nngp", "ntk")) + kernel(z["x1"], z["x2"], get=("nngp", "ntk"))
    for k, key in zip(got, ("nngp_11", "ntk_11", "nngp_12", "ntk_12")):
        assert np.max(np.abs(np.asarray(k) - z[key])) / np.max(np.abs(z[key])) < 1e-6


@pytest.mark.parametrize("body, col", [
    ("Relu Dense", 9),                                   # raw input
    ("Dense Relu Relu Dense", 20),                       # an activation's output
    ("Dense Relu Sum { Identity Dense } Relu Dense", 43),  # Identity passes a non-Gaussian
    ("Dense Concat { Dense Dense } Relu Dense", 38),     # a mixture of branches
])
def test_activation_needs_gaussian_input(body, col):
    """stax raises this at run time; ntkc at compile time, with the position."""
    with pytest.raises(ntkc.NtkError) as err:
        ntkc.compile(vec(body))
    assert f"2:{col}: error: Relu needs a Gaussian input" in str(err.value)


def test_flatten_then_activation_is_rejected():
    src = "input image(height=3, width=3, channels=1)\nnet n { Conv(kernel=2) Flatten Relu Dense }"
    with pytest.raises(ntkc.NtkError, match="Relu needs a Gaussian input"):
        ntkc.compile(src)


def test_monte_carlo_agrees_on_accepted_sum():
    kernel = ntkc.compile(vec("Dense(W_std=1.5) Sum { Identity Branch { Relu Dense(W_std=1.5) } } "
                              "Relu Dense(W_std=1.5)"))
    report = ntkc.verify(kernel, X, width=512, samples=16, seed=0)
    assert report.passed, str(report)


def test_monte_carlo_refutes_the_rejected_sum(monkeypatch):
    """Identity + a branch ending in Relu is correlated. Switching the check
    off (what stax does) gives a kernel that Monte Carlo refutes — the reason
    the checker rejects it."""
    src = vec("Dense(W_std=1.5, b_std=0.3) Sum { Identity Relu } Dense(W_std=1.5)")
    with pytest.raises(ntkc.NtkError, match="are correlated"):
        ntkc.compile(src)
    import dataclasses
    monkeypatch.setitem(ntkc.registry.LAYERS, "Sum",
                        dataclasses.replace(ntkc.registry.LAYERS["Sum"], validate=lambda node: None))
    kernel = ntkc.compile(src)
    report = ntkc.verify(kernel, X, width=512, samples=16, seed=0, diagnose=False)
    assert not report.passed, str(report)
