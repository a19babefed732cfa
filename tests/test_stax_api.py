"""ntkc.stax's API: what a stax layer or argument ntkc lacks says, the
triple's three functions, caching, to_ntk and JAX transformations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkc
from ntkc import stax
from ntkc.registry import lookup

X = np.random.default_rng(0).normal(size=(3, 4))


@pytest.mark.parametrize("make, words", [
    (lambda: stax.Dropout(0.5), r"stax\.Dropout has no ntkc equivalent"),
    (lambda: stax.SumPool((2, 2)), r"stax\.SumPool"),
    (lambda: stax.FanInProd(), r"stax\.FanInProd"),
    (lambda: stax.Dense(8, parameterization="standard", s=(2, 2)), r"s=\(2, 2\).*s=\(1, 1\) only"),
    (lambda: stax.Conv(8, (3, 3), parameterization="mup"), r"parameterization='mup'"),
    (lambda: stax.Conv(8, (3, 3), padding="CAUSAL"), r"padding='CAUSAL'.*'SAME', 'VALID', 'CIRCULAR'"),
    (lambda: stax.AvgPool((2, 2), padding="CIRCULAR"), r"AvgPool\(padding='CIRCULAR'\)"),
    (lambda: stax.Conv(8, (3, 3), dimension_numbers=("NCHW", "OIHW", "NCHW")), "dimension_numbers"),
    (lambda: stax.Dense(0), r"out_dim must be a whole number >= 1"),
    (lambda: stax.Dense(8, W_std="big"), r"W_std must be a finite number"),
    (lambda: stax.Elementwise(jnp.tanh, nngp_fn=lambda c, v1, v2: c), r"nngp_fn"),
    (lambda: stax.ElementwiseNumerical(lambda x: x**3, deg=10), r"named functions only"),
    (lambda: stax.Exp(a=2.0), r"stax\.Exp\(a=2\.0"),
    (lambda: stax.LayerNorm(eps=1e-3) if lookup("LayerNorm").param("eps") is None
     else stax.Dropout(0.1), r"eps=0\.001|Dropout"),
    (lambda: stax.serial(stax.Dense(8), (None, None, None)), r"takes layers from ntkc\.stax"),
    (lambda: stax.Aggregate(implementation="SPARSE"), r"implementation='SPARSE'"),
    (lambda: stax.repeat(stax.Relu(), 0), r"n must be a whole number >= 1"),
])
def test_what_ntkc_lacks_is_an_error_naming_it(make, words):
    with pytest.raises(ntkc.NtkError, match=words):
        make()


def test_global_self_attention_follows_the_registry():
    make = lambda: stax.GlobalSelfAttention(8, 8, 8, 2)  # noqa: E731
    if lookup("SelfAttention") is None:
        with pytest.raises(ntkc.NtkError, match="SelfAttention layer, which this version"):
            make()
    else:
        assert "SelfAttention(" in stax.serial(make(), stax.Flatten()).to_ntk((-1, 4, 3))


def test_wiring_errors():
    _, _, k = stax.serial(stax.Dense(8), stax.FanOut(2), stax.Relu())
    with pytest.raises(ntkc.NtkError, match=r"stax\.Relu takes one input, but it gets 2"):
        k(X)
    _, _, k = stax.serial(stax.Dense(8), stax.parallel(stax.Dense(8), stax.Dense(8)))
    with pytest.raises(ntkc.NtkError, match=r"put FanOut\(2\) before it"):
        k(X)
    _, _, k = stax.serial(stax.Dense(8), stax.FanOut(2), stax.parallel(stax.Dense(8), stax.Dense(4)),
                          stax.FanInSum())
    with pytest.raises(ntkc.NtkError, match=r"different channel counts \[8, 4\]"):
        k(X)
    _, _, k = stax.serial(stax.Conv(8, (3,)), stax.Flatten(), stax.Dense(1))
    with pytest.raises(ntkc.NtkError, match=r"a window of 1 axes \(3,\) on an image"):
        k(np.ones((2, 5, 5, 1)))


def test_kernel_fn_arguments():
    init_fn, apply_fn, kernel_fn = stax.serial(stax.Dense(8, 1.5, 0.1), stax.Relu(), stax.Dense(1))
    with pytest.raises(ntkc.NtkError, match=r"get='cov1'"):
        kernel_fn(X, None, "cov1")
    with pytest.raises(ntkc.NtkError, match=r"kernel_fn got diagonal_spatial="):
        kernel_fn(X, None, "ntk", diagonal_spatial=True)
    with pytest.raises(ntkc.NtkError, match=r"x2 has shape \(2, 5\).*expected \(N, 4\)"):
        kernel_fn(X, np.ones((2, 5)), "ntk")
    both = kernel_fn(X)
    assert isinstance(both, ntkc.kernel.Kernels)
    nngp, ntk = kernel_fn(X, None, ("nngp", "ntk"))
    np.testing.assert_allclose(ntk, both.ntk, rtol=1e-14)
    # another input size compiles another kernel; the first stays cached
    kernel_fn(np.ones((2, 6)), None, "nngp")
    net = stax.serial(stax.Dense(8, 1.5, 0.1), stax.Relu(), stax.Dense(1))
    with pytest.raises(ntkc.NtkError, match=r"needs input_shape"):
        net.to_ntk()


def test_jit_grad_vmap_of_kernel_fn():
    _, _, kernel_fn = stax.serial(stax.Dense(8, 1.5, 0.1), stax.Erf(), stax.Dense(1, 1.5))
    x2 = np.random.default_rng(1).normal(size=(2, 4))
    eager = kernel_fn(X, x2, "ntk")
    np.testing.assert_allclose(jax.jit(lambda a: kernel_fn(a, x2, "ntk"))(X), eager, rtol=1e-12)
    sets = np.stack([x2, 2 * x2])
    out = jax.vmap(lambda b: kernel_fn(X, b, "nngp"))(sets)
    np.testing.assert_allclose(out[1], kernel_fn(X, 2 * x2, "nngp"), rtol=1e-12)
    g = jax.jit(jax.grad(lambda a: kernel_fn(a, x2, "ntk")[0, 1]))(X)
    h = 1e-6
    e = np.zeros_like(X)
    e[0, 2] = h
    fd = (kernel_fn(X + e, x2, "ntk")[0, 1] - kernel_fn(X - e, x2, "ntk")[0, 1]) / (2 * h)
    assert abs(g[0, 2] - fd) <= 1e-6 * abs(fd)


def test_finite_network_shapes_and_widths():
    net = stax.serial(stax.Conv(16, (3, 3), padding="SAME"), stax.Relu(),
                      stax.Conv(24, (3, 3), padding="SAME"), stax.Relu(), stax.Flatten(),
                      stax.Dense(5))
    init_fn, apply_fn, _ = net
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 3)).astype(np.float32)
    out_shape, params = init_fn(jax.random.PRNGKey(0), x.shape)
    assert out_shape == (2, 5)
    assert apply_fn(params, x).shape == (2, 5)
    # hidden weight layers all get the largest hidden width (24): ntkc.finite has one width
    assert [p["W"].shape[-1] for p in params if isinstance(p, dict) and "W" in p] == [24, 24, 5]


def test_graphs_with_pattern():
    rng = np.random.default_rng(3)
    a = (rng.random((2, 4, 4)) < 0.5).astype(float)
    a = np.triu(a, 1)
    a = a + np.swapaxes(a, 1, 2)
    f = rng.normal(size=(2, 4, 3))
    init_fn, apply_fn, kernel_fn = stax.serial(stax.Aggregate(), stax.Dense(8, 1.5, 0.1),
                                               stax.Relu(), stax.GlobalSumPool(), stax.Dense(1))
    ours = kernel_fn(f, None, "ntk", pattern=(a, None))
    text = ("input graph(features=3)\nnet g { GraphAgg(self_loops=false) Dense(W_std=1.5, b_std=0.1) "
            "Relu GlobalSumPool Dense }")
    np.testing.assert_allclose(ours, ntkc.compile(text)(ntkc.GraphBatch(f, a)), rtol=1e-12)
    with pytest.raises(ntkc.NtkError, match="pass pattern="):
        kernel_fn(f, None, "ntk")
    _, params = init_fn(jax.random.PRNGKey(0), f.shape)
    assert apply_fn(params, f, pattern=a).shape == (2, 1)


def test_standard_parameterization_is_stax_s():
    """stax.Dense/Conv(parameterization='standard') compile to the .ntk
    standard layers, widths and b_std=None (no bias) included: the kernels
    equal the standard goldens made from neural-tangents itself."""
    from conftest import GOLDEN
    z = np.load(GOLDEN / "standard" / "cnn_mixed_nobias.npz")
    _, _, kernel_fn = stax.serial(
        stax.Conv(6, (3, 3), padding="SAME", W_std=1.2, b_std=0.1), stax.Relu(),
        stax.Conv(10, (2, 2), padding="VALID", W_std=1.3, parameterization="standard"),
        stax.Relu(), stax.Conv(7, (2, 2), padding="CIRCULAR", W_std=1.1, b_std=0.2), stax.Erf(),
        stax.Flatten(), stax.Dense(1, W_std=1.0, parameterization="Standard"))
    got = kernel_fn(z["x1"], z["x2"])
    np.testing.assert_allclose(got.ntk, z["ntk_12"], rtol=0, atol=1e-6 * np.abs(z["ntk_12"]).max())
    np.testing.assert_allclose(got.nngp, z["nngp_12"], rtol=0, atol=1e-6 * np.abs(z["nngp_12"]).max())
    init_fn, apply_fn, _ = stax.serial(stax.Dense(16, parameterization="standard"), stax.Relu(),
                                       stax.Dense(1, b_std=0.1, parameterization="standard"))
    out_shape, params = init_fn(jax.random.PRNGKey(0), (3, 4))
    assert out_shape == (3, 1) and apply_fn(params, X).shape == (3, 1)
