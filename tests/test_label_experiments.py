"""The pieces examples/labels_mnist_cifar.py and examples/noisy_labels.py rely
on, against independent numerics: eigen-projections against direct solves and
scipy's matrix exponential, cross-validated ridge against np.linalg.solve per
fold, and wide finite networks trained with the AUX / RDI losses against the
kernel ridge predictor they tend to (Hu et al. 2020, Theorem 5)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import ntkc
from ntkc.dynamics import GradientFlow, complexity, kernel_regression, spectrum
from ntkc.finite import finite_net
from ntkc.regularized import resample_labels, ridge_cv, train

FC = """
let dim = 5
input vector(dim=dim)
net mlp {
    Dense
    Relu
    Dense(W_std=sqrt(2))
}
"""


def problem(n, m, d=5, seed=0):
    """Unit-norm·√d inputs, ±1 labels from a smooth rule, the compiled NTK Grams."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + m, d))
    x *= np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    y = np.sign(x[:, 0] + 0.5 * x[:, 1] ** 2 - 0.3)
    kernel = ntkc.compile(FC, constants={"dim": d})
    k = np.asarray(kernel(x))
    return kernel, x[:n], y[:n], x[n:], y[n:], k[:n, :n], k[n:, :n]


def test_projections_against_direct_solves():
    """On an NTK Gram of the experiments' kind: ⟨vᵢ, y⟩ rebuild y, give yᵀH⁻¹y and
    the loss curve Σ e^{−2ηλᵢt}⟨vᵢ, y⟩² that scipy's expm gives directly."""
    _, _, y, _, _, H, K = problem(40, 7)
    lam, proj = spectrum(H, y)
    _, v = np.linalg.eigh(H)
    np.testing.assert_allclose(np.abs(proj), np.abs(v[:, ::-1].T @ y), atol=1e-10)
    np.testing.assert_allclose((proj ** 2 / lam).sum(), y @ np.linalg.solve(H, y), rtol=1e-8)
    np.testing.assert_allclose(complexity(H, y), np.sqrt(2 * y @ np.linalg.solve(H, y) / 40), rtol=1e-8)
    flow = GradientFlow(H, y, lr=0.3)
    for t in (0.0, 0.7, 20.0):
        e = scipy.linalg.expm(-0.3 * t * H)
        np.testing.assert_allclose(flow.loss(t), np.sum((e @ y) ** 2), rtol=1e-8)
        # test outputs: k(x, X) H⁻¹(I − e^{−ηtH}) y
        want = K @ np.linalg.solve(H, y - e @ y)
        np.testing.assert_allclose(flow.predict(K, t), want, rtol=1e-6, atol=1e-8)


def test_ridge_cv_against_direct_solves():
    _, _, y, _, _, H, _ = problem(30, 0, seed=1)
    ridges = np.array([1e-3, 0.1, 1.0, 10.0])
    got = ridge_cv(H, y, ridges, folds=3, seed=4)
    part = np.random.default_rng(4).permutation(30) % 3
    wrong, sq = np.zeros(4), np.zeros(4)
    for k in range(3):
        tr, va = part != k, part == k
        for j, lam in enumerate(ridges):
            pred = H[np.ix_(va, tr)] @ np.linalg.solve(H[np.ix_(tr, tr)] + lam * np.eye(tr.sum()), y[tr])
            wrong[j] += np.sum(np.sign(pred) != y[va])
            sq[j] += np.sum((pred - y[va]) ** 2)
    np.testing.assert_allclose(got["error"], wrong / 30)
    np.testing.assert_allclose(got["mse"], sq / 30, rtol=1e-6)
    best = min(range(4), key=lambda j: (wrong[j], sq[j]))
    assert got["ridge"] == ridges[best]
    with pytest.raises(ntkc.NtkError, match="positive"):
        ridge_cv(H, y, [0.0, 1.0])


def test_resample_labels_rate():
    y = np.where(np.arange(20000) % 3 == 0, 1.0, -1.0)
    assert np.array_equal(resample_labels(y, 0.0), y)
    for p in (0.2, 0.6):
        flipped = np.mean(resample_labels(y, p, seed=1) != y)
        assert abs(flipped - p / 2) < 0.01        # two classes: wrong w.p. p/2
    assert set(np.unique(resample_labels(y, 1.0))) == {-1.0, 1.0}
    with pytest.raises(ntkc.NtkError, match=r"\[0, 1\]"):
        resample_labels(y, 1.5)


@pytest.mark.parametrize("loss", ["rdi", "aux"])
def test_wide_net_tends_to_kernel_ridge(loss):
    """Theorem 5 on a tiny problem: a width-4096 network trained to convergence
    with the RDI or AUX loss predicts within 10% (relative RMS over the test
    points) of k(x, X)(Θ + λI)⁻¹ỹ, and not within 10% of the λ = 0 interpolant,
    so the tolerance separates the two limits."""
    kernel, x, y, xt, _, H, K = problem(8, 6, seed=2)
    lam = 0.5 * np.mean(np.diag(H))
    want = kernel_regression(H, K, y, ridge=lam)
    other = kernel_regression(H, K, y)
    net = finite_net(kernel, width=4096, out_width=1, dtype=jnp.float64)
    params = net.init(jax.random.PRNGKey(0))
    lr = 1.0 / (np.linalg.eigvalsh(H)[-1] + lam)
    got = train(net.apply, params, x, y, xt, loss=loss, ridge=lam, lr=lr, steps=400)["test"]
    rms = lambda a: np.sqrt(np.mean(a ** 2))
    assert rms(got - want) / rms(want) < 0.1
    assert rms(other - want) / rms(want) > 0.1


def test_plain_training_follows_gradient_flow():
    """λ = 0: the centred wide net's training loss follows Σ e^{−2ηλᵢk}⟨vᵢ, y⟩²."""
    kernel, x, y, _, _, H, _ = problem(8, 0, seed=3)
    net = finite_net(kernel, width=4096, out_width=1, dtype=jnp.float64)
    lr = 0.1 / np.linalg.eigvalsh(H)[-1]
    steps = [0, 10, 100, 400]
    got = train(net.apply, net.init(jax.random.PRNGKey(1)), x, y, loss="plain", lr=lr,
                steps=400, record=steps)["loss"]
    want = GradientFlow(H, y, lr=lr).loss(np.array(steps, float))
    np.testing.assert_allclose(got, want, rtol=0.15)
    with pytest.raises(ntkc.NtkError, match="ridge"):
        train(net.apply, None, x, y, loss="aux", lr=lr, steps=1)
