"""The self-covariance demand pass (``fusion.self_layouts``): the per-example
Σ(x, x) kept at same-position pairs, or dropped, where no later layer reads
more. The Gram must equal the one computed with every pair kept (each rule run
on the cross layout, as ``verification`` does), bit for bit on the Gram's
diagonal, where an example paired with itself needs cos = 1 exactly."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkc
from ntkc.fusion import input_state, layouts, run_steps, run_zero_ntk_prefix, self_layouts

IMG = "input image(height=5, width=4, channels=3)\n"
NETS = {
    # (source, the self demand each layer gets, in order)
    "cnn-gap": (IMG + "net n { Conv(kernel=3, W_std=1.4, b_std=0.1) Relu "
                "Conv(kernel=(3, 2), W_std=1.3) Erf GlobalAvgPool Dense }",
                ["diag", "diag", "diag", "diag", "none", "none"]),
    # a readout's variance read by a later activation: every pair is needed
    "gap-relu": (IMG + "net n { Conv(kernel=3, W_std=1.4) Relu GlobalAvgPool "
                 "Dense(W_std=1.2, b_std=0.3) Relu Dense }",
                 ["full", "full", "full", "diag", "diag", "none"]),
    "circular-stride": (IMG + 'net n { Conv(kernel=3, stride=2, padding="circular", W_std=1.3) '
                        "Gelu Conv(kernel=2, padding=\"valid\") Relu GlobalSumPool Dense }",
                        ["diag", "diag", "diag", "diag", "none", "none"]),
    # AvgPool and Residual do not declare self_pairs: the cross layout upstream
    "avgpool-residual": (IMG + "net n { Conv(kernel=3, W_std=1.4) Relu AvgPool(window=2) "
                         "Residual { Conv(kernel=3) Relu Conv(kernel=3) } GlobalAvgPool Dense }",
                         ["full", "full", "full", "full", "none", "none"]),
    "flatten": (IMG + "net n { Conv(kernel=3, W_std=1.4) Relu Conv(kernel=3) Relu Flatten Dense }",
                ["diag", "diag", "diag", "diag", "diag", "none"]),
}


def every_pair(net, x):
    """Σ and Θ with the self-covariances in the cross layout at every layer
    (jitted, as the fused kernel is: XLA's fusion decides where multiply-adds
    are fused, so eager evaluation rounds differently)."""
    steps = layouts(net.layers)

    def run(x):
        state = input_state(x, None, None, None, net.input.nspatial, steps[0].in_diag, True)
        state, start = run_zero_ntk_prefix(steps, state)
        state = run_steps(steps[start:], state, start=start)
        return state.nngp, state.ntk
    return tuple(np.asarray(a) for a in jax.jit(run)(x))


@pytest.mark.parametrize("name", sorted(NETS))
def test_self_demand_and_values(name):
    src, want = NETS[name]
    kernel = ntkc.compile(src)
    got = [s.self_in for s in self_layouts(layouts(kernel.net.layers))]
    assert got == want
    x = np.random.default_rng(3).standard_normal((3, 5, 4, 3))
    nngp, ntk = kernel(x, get=("nngp", "ntk"))
    ref_nngp, ref_ntk = every_pair(kernel.net, x)
    np.testing.assert_allclose(nngp, ref_nngp, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(ntk, ref_ntk, rtol=1e-13, atol=1e-15)
    # blocks (x2 given inside) and the whole Gram agree, the diagonal exactly
    blocked = kernel(x, get="ntk", batch_size=1)
    np.testing.assert_allclose(blocked, ntk, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_example_with_itself_sees_cos_one(dtype):
    """The Gram's diagonal from the fused kernel equals the every-pair path's
    exactly: the variances come from the same products as Σ(x, x), so
    arccos(1) is exact (an ulp off would be √ulp after arccos)."""
    kernel = ntkc.compile(NETS["cnn-gap"][0])
    x = np.random.default_rng(4).standard_normal((2, 5, 4, 3)).astype(dtype)
    ntk = np.asarray(kernel(x, batch_size=1))
    ref = every_pair(kernel.net, x)[1]
    np.testing.assert_array_equal(np.diag(ntk), np.diag(ref))


@pytest.mark.parametrize("strided", [True, False])
@pytest.mark.parametrize("lead, spatial", [((3,), (5,)), ((2, 3), (4, 3)), ((1,), (9, 8))])
def test_pair_diagonal_both_ways_equal_numpy(monkeypatch, strided, lead, spatial):
    """Same-position pairs a[..., p, p] by the strided slice (many positions)
    and by the masked sum (few), each forced, against numpy's own diagonal."""
    from ntkc import state
    monkeypatch.setattr(state, "STRIDED_DIAGONAL", 1 if strided else 10**9)
    d = len(spatial)
    a = np.random.default_rng(3).standard_normal(lead + spatial + spatial)
    p = int(np.prod(spatial))
    want = np.diagonal(a.reshape(lead + (p, p)), axis1=-2, axis2=-1).reshape(lead + spatial)
    np.testing.assert_array_equal(np.asarray(state._pair_diagonal(jnp.asarray(a), d)), want)
