"""Recurrent nets with weights shared over time: the compiled kernel against an
independent numpy recursion over time-step pairs, what coincides with the
untied net (and what does not), and Monte Carlo from the same file, with a
deliberately broken rule caught and located."""

import numpy as np
import pytest

import ntkc
from ntkc.errors import NtkError

W, U, B = 1.2, 0.9, 0.3


def source(T, readout="last", cell="Relu", channels=3):
    return f"""input sequence(length={T}, channels={channels})
net rnn {{
    Recurrent(W_std={W}, U_std={U}, b_std={B}, readout="{readout}") {{ {cell} }}
    Dense(W_std=1.1, b_std=0.2)
}}
"""


def relu_pair(c, v1, v2):
    """E[relu(u)relu(v)] and E[relu'(u)relu'(v)] (arc-cosine, independent of ntkc)."""
    norm = np.sqrt(v1 * v2)
    cos = np.clip(c / norm, -1, 1)
    th = np.arccos(cos)
    return norm * (np.sin(th) + (np.pi - th) * cos) / (2 * np.pi), (np.pi - th) / (2 * np.pi)


def reference(x, readout, tied=True, pre=None):
    """Σ and Θ of ``source(T, readout)`` by loops over time-step pairs.
    ``tied=False`` is the net with fresh weights at every step, whose
    pre-activations at different steps are uncorrelated. ``pre=(W_std, b_std)``
    puts a Dense layer before the recurrence (its Θ = its Σ reaches every step
    through U)."""
    n, T, C = x.shape
    sx = np.einsum("itc,jsc->ijts", x, x) / C
    tx = np.zeros_like(sx)
    if pre is not None:
        sx = pre[0] ** 2 * sx + pre[1] ** 2
        tx = sx
    sg, tg, sh, th = (np.zeros((n, n, T, T)) for _ in range(4))
    for m in range(T):  # (t, s) needs (t−1, s−1) and the variances at (t, t), (s, s)
        pairs = [(m, m)] + [(m, s) for s in range(m)] + [(t, m) for t in range(m)]
        for t, s in pairs:
            if tied or t == s:
                prev_s = sh[:, :, t - 1, s - 1] if t and s else 0.0
                prev_t = th[:, :, t - 1, s - 1] if t and s else 0.0
                sg[:, :, t, s] = W**2 * prev_s + U**2 * sx[:, :, t, s] + B**2
                tg[:, :, t, s] = sg[:, :, t, s] + W**2 * prev_t + U**2 * tx[:, :, t, s]
            v1 = np.diag(sg[:, :, t, t])[:, None]
            v2 = np.diag(sg[:, :, s, s])[None, :]
            sig, dot = relu_pair(sg[:, :, t, s], v1, v2)
            sh[:, :, t, s], th[:, :, t, s] = sig, dot * tg[:, :, t, s]
    if readout == "last":
        s_out, t_out = sh[:, :, -1, -1], th[:, :, -1, -1]
    else:
        s_out, t_out = sh.mean((2, 3)), th.mean((2, 3))
    nngp = 1.1**2 * s_out + 0.2**2
    return nngp, nngp + 1.1**2 * t_out


def inputs(n=4, T=5, seed=0):
    return np.random.default_rng(seed).standard_normal((n, T, 3))


@pytest.mark.parametrize("T", [1, 2, 5])
@pytest.mark.parametrize("readout", ["last", "mean"])
def test_equals_numpy_recursion(T, readout):
    x = inputs(T=T)
    k = ntkc.compile(source(T, readout))
    nngp, ntk = k(x, get=("nngp", "ntk"))
    want_nngp, want_ntk = reference(x, readout)
    np.testing.assert_allclose(nngp, want_nngp, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(ntk, want_ntk, rtol=1e-7, atol=1e-12)


def test_a_weight_layer_before_reaches_every_step():
    """Θ of the recurrence's input enters each step's pre-activation through U
    (U_std²·Θ^x), as Σ^x does."""
    x = inputs(T=4)
    text = source(4, "mean").replace("    Recurrent(", "    Dense(W_std=1.3, b_std=0.2)\n    Recurrent(")
    nngp, ntk = ntkc.compile(text)(x, get=("nngp", "ntk"))
    want_nngp, want_ntk = reference(x, "mean", pre=(1.3, 0.2))
    np.testing.assert_allclose(nngp, want_nngp, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(ntk, want_ntk, rtol=1e-7, atol=1e-12)


def test_x2_given_equals_the_gram_block():
    x = inputs(n=6, T=4)
    k = ntkc.compile(source(4, "mean"))
    full = k(x, get="ntk")
    np.testing.assert_allclose(k(x[:2], x[2:], get="ntk"), full[:2, 2:],
                               rtol=1e-7, atol=1e-12)


def test_one_step_is_a_dense_layer_and_the_cell():
    """T = 1: h_1 = Relu(U x_1 + b) (h_0 = 0), the kernel of Dense Relu Dense."""
    x = inputs(T=1)
    rnn = ntkc.compile(source(1))
    mlp = ntkc.compile(f"input vector(dim=3)\nnet m {{ Dense(W_std={U}, b_std={B}) Relu "
                       f"Dense(W_std=1.1, b_std=0.2) }}")
    for get in ("nngp", "ntk"):
        np.testing.assert_allclose(rnn(x, get=get),
                                   mlp(x[:, 0], get=get), rtol=1e-12)


def test_last_readout_coincides_with_the_untied_net():
    """readout="last" reads only equal-time pairs, so weight sharing changes
    neither kernel there: the cross-time terms a shared W adds to the NTK pair
    gradients at different lags from two readouts at the same step, and only
    equal lags survive at infinite width."""
    x = inputs(T=5)
    nngp, ntk = ntkc.compile(source(5, "last"))(x, get=("nngp", "ntk"))
    untied = reference(x, "last", tied=False)
    np.testing.assert_allclose(nngp, untied[0], rtol=1e-7)
    np.testing.assert_allclose(ntk, untied[1], rtol=1e-7)


def test_mean_readout_differs_from_the_untied_net():
    x = inputs(T=5)
    nngp, ntk = ntkc.compile(source(5, "mean"))(x, get=("nngp", "ntk"))
    un_nngp, un_ntk = reference(x, "mean", tied=False)
    assert np.abs(nngp - un_nngp).max() > 0.05 * np.abs(nngp).max()
    assert np.abs(ntk - un_ntk).max() > 0.05 * np.abs(ntk).max()


@pytest.mark.parametrize("text, message", [
    ('input vector(dim=3)\nnet n { Recurrent { Relu } Dense }', "reads a sequence, not a vector"),
    ('input sequence(length=4, channels=2)\nnet n { Recurrent { Conv(kernel=1) } Dense }',
     "Conv needs"),
    ('input sequence(length=4, channels=2)\nnet n { Recurrent { Relu Flatten } Dense }',
     "Flatten cannot run inside the cell of Recurrent"),
    ('input sequence(length=4, channels=2)\nnet n { Recurrent(readout="first") { Relu } Dense }',
     'readout of Recurrent must be one of "last", "mean"'),
    ('input sequence(length=4, channels=2)\nnet n { Recurrent { } Dense }', "is empty"),
])
def test_bad_recurrent_nets_are_positioned_errors(text, message):
    with pytest.raises(NtkError, match=message) as e:
        ntkc.compile(text)
    assert e.value.line == 2


def test_verify_agrees_small():
    k = ntkc.compile(source(3, "mean"))
    report = ntkc.verify(k, inputs(n=3, T=3), width=256, samples=16, seed=0, diagnose=False)
    assert report.passed, str(report)


def _broken_shift(a):
    """The rule with the cross-time terms dropped: only (t−1, t−1) feeds (t, t)."""
    import jax.numpy as jnp
    pad = [(0, 0)] * (a.ndim - 2) + [(1, 0), (1, 0)]
    return jnp.pad(a[..., :-1, :-1], pad) * jnp.eye(a.shape[-1], dtype=a.dtype)


@pytest.mark.slow
@pytest.mark.parametrize("T", [2, 8, 20])
@pytest.mark.parametrize("readout", ["last", "mean"])
@pytest.mark.parametrize("cell", ["Relu", "Erf", "Relu Dense(W_std=1.4) Relu"])
def test_verify_agrees(T, readout, cell):
    k = ntkc.compile(source(T, readout, cell))
    report = ntkc.verify(k, inputs(n=4, T=T, seed=T), width=512, samples=32, seed=1,
                         diagnose=False)
    assert report.passed, str(report)


@pytest.mark.slow
def test_broken_cross_time_rule_is_caught_and_located(monkeypatch):
    """Monte Carlo from the same file refutes a cell rule without cross-time
    terms (the untied net's kernel) for the mean readout, and the layer-by-layer
    diagnosis names the Recurrent layer and its line."""
    from ntkc.rules import recurrent
    monkeypatch.setattr(recurrent, "_shift", _broken_shift)
    k = ntkc.compile(source(4, "mean"))
    # 32 draws: verify allows the measured finite-width bias of 4 recurrent steps
    # (Recurrent's mc_bias), so the NTK's 20 % error must clear z·SE + 9/256
    report = ntkc.verify(k, inputs(n=4, T=4), width=256, samples=32, seed=0)
    assert not report.passed, str(report)
    bad = report.first_bad
    assert bad is not None and bad.layer == "Recurrent" and bad.line == 3, str(report)
