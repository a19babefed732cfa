"""Gradient-flow dynamics and spectra against independent numerics: explicit
Euler integration of the ODE, numpy.linalg.solve, scipy's matrix exponential."""

import numpy as np
import pytest
import scipy.linalg

import ntkc
from ntkc.dynamics import GradientFlow, complexity, kernel_regression, predicted_loss, spectrum


def gram(n, m=0, seed=0, rank=None):
    """A PSD train Gram (n, n) and test cross Gram (m, n) from random features."""
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n + m, rank or n + 3))
    k = feats @ feats.T / feats.shape[1]
    return k[:n, :n], k[n:, :n]


def euler(H, y, u0, lr, t, steps, k_test=None, f0=None):
    """Explicit Euler on du/dt = −ηH(u − y) and df(x)/dt = −η k(x,X)(u − y)."""
    dt = t / steps
    u = u0.copy()
    f = None if k_test is None else f0.copy()
    for _ in range(steps):
        r = u - y
        if f is not None:
            f = f - dt * lr * k_test @ r
        u = u - dt * lr * H @ r
    return u, f


def test_gradient_flow_matches_euler():
    H, K = gram(7, 3)
    rng = np.random.default_rng(1)
    y, u0, f0 = rng.normal(size=7), rng.normal(size=7), rng.normal(size=3)
    flow = GradientFlow(H, y, u0=u0, lr=0.7)
    t = 2.5
    u_e, f_e = euler(H, y, u0, 0.7, t, 20000, K, f0)
    np.testing.assert_allclose(flow.train(t), u_e, rtol=0, atol=2e-4)
    np.testing.assert_allclose(flow.predict(K, t, f0=f0), f_e, rtol=0, atol=2e-4)
    # The flow has moved a lot in that time: a stale answer would not pass.
    assert np.abs(flow.train(t) - u0).max() > 0.1


def test_train_is_matrix_exponential():
    H, _ = gram(6, seed=2)
    rng = np.random.default_rng(3)
    y, u0 = rng.normal(size=6), rng.normal(size=6)
    ts = np.array([0.0, 0.3, 4.0])
    flow = GradientFlow(H, y, u0=u0, lr=1.3)
    want = [y + scipy.linalg.expm(-1.3 * t * H) @ (u0 - y) for t in ts]
    np.testing.assert_allclose(flow.train(ts), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(flow.loss(ts), [np.sum((w - y) ** 2) for w in want], rtol=1e-10)


def test_infinite_time_is_kernel_regression():
    H, K = gram(8, 4, seed=4)
    y = np.random.default_rng(5).normal(size=(8, 2))  # two outputs at once
    flow = GradientFlow(H, y)
    want = K @ np.linalg.solve(H, y)
    np.testing.assert_allclose(flow.predict(K, np.inf), want, rtol=1e-9)
    np.testing.assert_allclose(flow.train(np.inf), y, rtol=1e-9, atol=1e-10)
    # a long but finite time converges to the same predictor
    np.testing.assert_allclose(flow.predict(K, 1e4 / np.linalg.eigvalsh(H).min()), want, rtol=1e-8)


def test_ridge_matches_solve():
    H, K = gram(9, 5, seed=6)
    y = np.random.default_rng(7).normal(size=9)
    for lam in (1e-3, 0.5, 10.0):
        want = K @ np.linalg.solve(H + lam * np.eye(9), y)
        np.testing.assert_allclose(kernel_regression(H, K, y, ridge=lam), want, rtol=1e-10)
        # and the ridge flow at a finite time against Euler on dα/dt = −η((H+λI)α − y)
        flow = GradientFlow(H, y, ridge=lam, lr=0.5)
        a = np.zeros(9)
        for _ in range(20000):
            a -= 1e-4 * 0.5 * ((H + lam * np.eye(9)) @ a - y)
        np.testing.assert_allclose(flow.coefficients(2.0), a, atol=2e-4)


def test_singular_gram_needs_ridge():
    H, K = gram(6, 2, rank=3)  # rank 3: singular
    y = np.arange(6.0)
    flow = GradientFlow(H, y)
    with pytest.raises(ntkc.NtkError, match="singular"):
        flow.predict(K, np.inf)
    # finite times are fine: (1 − e^{−ηtλ})/λ → ηt on the null space
    u = flow.train(3.0)
    assert np.all(np.isfinite(u))
    np.testing.assert_allclose(u, scipy.linalg.expm(-3.0 * H) @ (-y) + y, atol=1e-10)
    # with a ridge the limit exists
    want = K @ np.linalg.solve(H + 0.1 * np.eye(6), y)
    np.testing.assert_allclose(kernel_regression(H, K, y, ridge=0.1), want, rtol=1e-9)


def test_bad_inputs_are_errors():
    H, _ = gram(4)
    with pytest.raises(ntkc.NtkError, match="square"):
        GradientFlow(H[:3], np.zeros(4))
    with pytest.raises(ntkc.NtkError, match="symmetric"):
        GradientFlow(H + np.triu(np.ones((4, 4)), 1), np.zeros(4))
    with pytest.raises(ntkc.NtkError, match="positive semi-definite"):
        GradientFlow(H - 2 * np.eye(4) * np.abs(H).max(), np.zeros(4))
    with pytest.raises(ntkc.NtkError, match="NaN"):
        GradientFlow(H, np.array([0, np.nan, 0, 0]))
    with pytest.raises(ntkc.NtkError, match="shape"):
        GradientFlow(H, np.zeros(4)).predict(np.zeros((2, 3)))


def test_spectrum_and_predicted_loss():
    H, _ = gram(10, seed=8)
    y = np.sign(np.random.default_rng(9).normal(size=10))
    lam, proj = spectrum(H, y)
    assert np.all(np.diff(lam) <= 0)
    np.testing.assert_allclose(np.sum(proj ** 2), y @ y)  # an orthonormal basis
    np.testing.assert_allclose((proj ** 2 / lam).sum(), y @ np.linalg.solve(H, y), rtol=1e-9)
    t = np.array([0.0, 0.5, 3.0])
    want = [np.sum((scipy.linalg.expm(-0.4 * s * H) @ y) ** 2) for s in t]
    np.testing.assert_allclose(predicted_loss(H, y, t, lr=0.4), want, rtol=1e-10)


def test_complexity():
    H, _ = gram(12, seed=10)
    y = np.sign(np.random.default_rng(11).normal(size=12))
    np.testing.assert_allclose(complexity(H, y), np.sqrt(2 * y @ np.linalg.solve(H, y) / 12))
    with pytest.raises(ntkc.NtkError, match="positive definite"):
        complexity(gram(6, rank=2)[0], np.ones(6))
