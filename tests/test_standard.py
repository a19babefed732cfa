"""The standard parameterization (Dense/Conv ``parameterization="standard"``):
kernels equal neural-tangents 0.6.5's to 1e-6 (goldens made by
benchmarks/make_standard_goldens.py), ``explain`` evaluates to them, widths
are tracked as stax tracks them and a missing one is an error, and the
finite network's empirical NTK is the standard layer's own gradient sum."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkc
from conftest import GOLDEN
from ntkc.finite import finite_net

HERE = GOLDEN / "standard"
CASES = [c["name"] for c in json.loads((HERE / "cases.json").read_text())["cases"]]


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("name", CASES)
def test_golden(name):
    z, kernel = np.load(HERE / f"{name}.npz"), ntkc.load(HERE / f"{name}.ntk")
    nngp11, ntk11 = kernel(z["x1"], get=("nngp", "ntk"))
    nngp12, ntk12 = kernel(z["x1"], z["x2"], get=("nngp", "ntk"))
    for ours, key in ((nngp11, "nngp_11"), (ntk11, "ntk_11"), (nngp12, "nngp_12"), (ntk12, "ntk_12")):
        assert rel(ours, z[key]) < 1e-6, key


@pytest.mark.parametrize("name", ["fc_mixed", "cnn_mixed_nobias", "fc_residual_std"])
def test_explain_equals_golden(name):
    z, kernel = np.load(HERE / f"{name}.npz"), ntkc.load(HERE / f"{name}.ntk")
    x = z["x1"][:3]
    nngp, ntk = kernel.explain().evaluate(x, get=("nngp", "ntk"))
    assert rel(nngp, z["nngp_11"][:3, :3]) < 1e-6
    assert rel(ntk, z["ntk_11"][:3, :3]) < 1e-6


def test_the_ntk_parameterization_ignores_widths_and_the_standard_does_not():
    def k(width, p):
        return ntkc.compile(f'input vector(dim=3)\nnet n {{ Dense(width={width}, b_std=0.1) Relu '
                            f'Dense(W_std=1.2, parameterization="{p}") }}')
    x = np.random.default_rng(0).normal(size=(3, 3))
    np.testing.assert_allclose(k(8, "ntk")(x), k(80, "ntk")(x), rtol=1e-12)
    small, big = k(8, "standard")(x), k(80, "standard")(x)
    assert rel(big - 1, 10 * (small - 1)) < 0.2  # Θ ≈ N·Σ + 1 dominates


def test_bias_false_equals_b_std_zero_only_in_ntk():
    x = np.random.default_rng(1).normal(size=(4, 5))

    def k(last):
        return ntkc.compile(f"input vector(dim=5)\nnet n {{ Dense(width=7) Erf {last} }}")(x)
    np.testing.assert_allclose(k("Dense(b_std=0)"), k("Dense(bias=false)"), rtol=1e-12)
    std = k('Dense(b_std=0, parameterization="standard")')
    np.testing.assert_allclose(std - 1, k('Dense(bias=false, parameterization="standard")'),
                               rtol=1e-12)


@pytest.mark.parametrize("src, message", [
    ('input vector(dim=3)\nnet n { Dense Relu Dense(parameterization="standard") }',
     r'2:20: error: Dense\(parameterization="standard"\) needs the width of its input'),
    ('input image(height=4, width=4, channels=2)\nnet n { Conv(kernel=2) Relu '
     'Conv(kernel=2, parameterization="standard") Flatten Dense }',
     r'Conv\(parameterization="standard"\) needs the width of its input'),
    ('input vector(dim=3)\nnet n { Dense(bias=false, b_std=0.1) }',
     r"Dense has bias=false but b_std=0.1"),
    ('input vector(dim=3)\nnet n { Dense(parameterization="mup") }',
     r'parameterization of Dense must be one of "ntk", "standard"'),
    ('input vector(dim=3)\nnet n { Dense(width=0) }', r"width of Dense must be at least 1"),
    ('input vector(dim=3)\nnet n { Dense(width=4) Residual { Relu Dense(width=5) } Dense }',
     r"Residual adds streams of width 4 and 5"),
])
def test_errors(src, message):
    with pytest.raises(ntkc.NtkError, match=message):
        ntkc.compile(src)


def test_widths_follow_stax():
    net = ntkc.compile('input image(height=3, width=2, channels=2)\nnet n { Conv(kernel=2, width=5) '
                       'Relu Flatten Concat { Dense(width=4) Dense(width=6) } Dense }').net
    widths = [(n.layer, n.out_shape.width) for n in net.layers]
    assert widths == [("Conv", 5), ("Relu", 5), ("Flatten", 30), ("Concat", 10), ("Dense", None)]
    assert net.input.width == 2
    # parameterization is case-blind, as stax's
    ntkc.compile('input vector(dim=3)\nnet n { Dense(parameterization="Standard") }')


def test_finite_standard_layer_gradients():
    """One standard Dense on the input: the forward is the NTK layer's (its
    output law does not depend on the parameterization) and the empirical NTK
    is N·x·x'/C_in·(width scale) + 1 exactly, N the declared input width."""
    src = 'input vector(dim=4)\nnet n {{ Dense(W_std=1.3, b_std=0.4{}) }}'
    std = ntkc.compile(src.format(', parameterization="standard"')).net
    ntk = ntkc.compile(src.format("")).net
    x = jnp.asarray(np.random.default_rng(2).normal(size=(3, 4)))
    f_std, f_ntk = finite_net(std, width=16, dtype=jnp.float64), finite_net(ntk, 16, dtype=jnp.float64)
    params = f_std.init(jax.random.PRNGKey(0))
    np.testing.assert_allclose(f_std.apply(params, x), f_ntk.apply(params, x), rtol=1e-12)
    jac = jax.jacrev(lambda p: f_std.apply(p, x)[:, 0])(params)
    rows = [np.asarray(a).reshape(3, -1) for a in jax.tree_util.tree_leaves(jac)]
    gram = sum(r @ r.T for r in rows)
    want = 4 * np.asarray(x @ x.T) / 4 + 1  # N = 4 (the input's width): N·Σ + 1
    np.testing.assert_allclose(gram, want, rtol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("src", [
    'input vector(dim=3)\nnet n { Dense(width=64, W_std=1.4, b_std=0.1, parameterization="standard") '
    'Relu Dense(width=32, W_std=1.2, parameterization="standard") Erf '
    'Dense(width=1, bias=false, parameterization="standard") }',
    'input sequence(length=4, channels=2)\nnet n { Conv(kernel=3, width=16, b_std=0.2) Relu '
    'Conv(kernel=2, width=8, W_std=1.3, parameterization="standard") Relu GlobalAvgPool '
    'Dense(width=1, parameterization="standard") }',
])
def test_monte_carlo_agrees(src):
    from ntkc.verification import random_inputs
    k = ntkc.compile(src)
    report = ntkc.verify(k, random_inputs(k.net, 4, 1), width=512, samples=24, seed=0,
                         diagnose=False)
    assert report.passed, str(report)
