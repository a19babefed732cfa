"""ntkc.predict against stax's nt.predict (goldens made by
benchmarks/make_predict_goldens.py), against an independent numpy computation
(inverses, scipy's expm, scipy's Gaussian density), and on the ill-conditioned
Grams where stax returns NaN or negative variances."""

import functools

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import multivariate_normal

import ntkc
from conftest import GOLDEN
from ntkc import predict

CASES = sorted(p.stem for p in (GOLDEN / "predict").glob("*.npz"))
G = ("nngp", "ntk")


def load(name):
    z = np.load(GOLDEN / "predict" / f"{name}.npz")
    grams = [{g: z[f"{g}_{s}"] for g in G} for s in ("dd", "td", "tt")]
    return z, grams


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


def ours_for(key, grams, y):
    """What ntkc.predict gives for one golden key (see the generator's docstring)."""
    kdd, ktd, ktt = grams
    parts = key.split("/")
    if parts[0] in ("gp", "gp_abs"):
        _, reg, g, what = parts
        out = predict.gp_inference(kdd, y, float(reg), parts[0] == "gp_abs")(g, ktd, ktt)
    else:
        if parts[0] == "ens":
            reg, t, g, what = parts[1:]
        else:
            (t, g, what), reg, ktd, ktt = parts[1:], 0.0, None, True
        out = predict.ensemble_from_grams(kdd, y, 0.5, float(reg))(float(t), ktd, ktt, g)
    return out.mean if what == "mean" else out.covariance


@pytest.mark.parametrize("name", CASES)
def test_goldens(name):
    """Every gp_inference / ensemble result stax computed, means and
    covariances, t ∈ {0.5, 5, 50, ∞}, diag_reg 0 and 0.01 (relative and
    absolute), test and train sets: equal to 1e-10 (seen: ≤ 2e-13)."""
    z, grams = load(name)
    keys = [k for k in z.files if k.split("/")[0] in ("gp", "gp_abs", "ens", "ens_train")]
    assert len(keys) == 60
    errors = {k: rel(ours_for(k, grams, z["y_train"]), z[k]) for k in keys}
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-10, (worst, errors[worst])


@pytest.mark.parametrize("name", ["mlp_relu", "cnn_gap"])
def test_goldens_from_kernel_and_data(name):
    """The Kernel + data path: the .ntk twin of the stax net, compiled by ntkc,
    inside gradient_descent_mse_ensemble (its Grams equal stax's to 1e-6)."""
    z, _ = load(name)
    kernel = ntkc.load(GOLDEN / "predict" / f"{name}.ntk")
    fn = predict.gradient_descent_mse_ensemble(kernel, z["x_train"], z["y_train"],
                                               learning_rate=0.5, diag_reg=0.01)
    for t in (5.0, None):
        out = fn(t, z["x_test"], get=G, compute_cov=True)
        tk = "inf" if t is None else t
        for g in G:
            assert rel(getattr(out, g).mean, z[f"ens/0.01/{tk}/{g}/mean"]) < 1e-6
            assert rel(getattr(out, g).covariance, z[f"ens/0.01/{tk}/{g}/cov"]) < 1e-6
    mean = fn(np.array([0.5, 50.0]), z["x_test"], get="ntk")
    assert mean.shape == (2, 5, 2)
    assert rel(mean[1], z["ens/0.01/50.0/ntk/mean"]) < 1e-6


# -- an independent computation ------------------------------------------------------------

def grams(n, m, seed=0, dtype=np.float64):
    """Joint NNGP Σ and NTK Θ = Σ + (another PSD) over n train and m test points."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n + m, n + m + 4)), rng.normal(size=(n + m, n + m + 2))
    s = a @ a.T / a.shape[1]
    th = s + b @ b.T / b.shape[1]
    cut = [{"nngp": k[i, j].astype(dtype), "ntk": th[i, j].astype(dtype)}
           for k in (s,) for i, j in ((slice(0, n),) * 2, (slice(n, None), slice(0, n)),
                                      (slice(n, None),) * 2)]
    return cut, rng.normal(size=(n, 3))


def reference(kdd, ktd, ktt, y, t, lr, reg):
    """stax's formulas written out with expm and solve, per mode."""
    n = y.shape[0]
    out = {}
    for g in G:
        k = kdd[g] + reg * np.trace(kdd[g]) / n * np.eye(n)
        decay = np.zeros((n, n)) if np.isinf(t) else scipy.linalg.expm(-lr * t * k / y.size)
        m = ktd[g] @ np.linalg.solve(k, np.eye(n) - decay)
        mean = m @ y
        if g == "nngp":
            cov = ktt["nngp"] - ktd["nngp"] @ np.linalg.solve(k, np.eye(n) - decay @ decay) @ ktd["nngp"].T
        else:
            cross = m @ ktd["nngp"].T
            cov = ktt["nngp"] + m @ kdd["nngp"] @ m.T - cross - cross.T
        out[g] = (mean, cov)
    return out


@pytest.mark.parametrize("t", [0.3, 7.0, np.inf])
@pytest.mark.parametrize("reg", [0.0, 0.1])
def test_matches_numpy(t, reg):
    (kdd, ktd, ktt), y = grams(12, 5)
    want = reference(kdd, ktd, ktt, y, t, 0.7, reg)
    got = predict.ensemble_from_grams(kdd, y, 0.7, reg)(t, ktd, ktt)
    for g in G:
        np.testing.assert_allclose(getattr(got, g).mean, want[g][0], rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(getattr(got, g).covariance, want[g][1], rtol=1e-9, atol=1e-11)


def test_gp_inference_ntkgp_and_train_set():
    (kdd, ktd, ktt), y = grams(10, 4, seed=1)
    out = predict.gp_inference(kdd, y, diag_reg=0.05)("ntkgp", ktd, ktt)
    th = kdd["ntk"] + 0.05 * np.trace(kdd["ntk"]) / 10 * np.eye(10)
    np.testing.assert_allclose(out.mean, ktd["ntk"] @ np.linalg.solve(th, y), rtol=1e-10)
    np.testing.assert_allclose(out.covariance, ktt["ntk"] - ktd["ntk"] @ np.linalg.solve(th, ktd["ntk"].T),
                               rtol=1e-9, atol=1e-12)
    train = predict.gp_inference(kdd, y)("nngp", None, True)   # stax: N(y, 0)
    assert np.array_equal(train.mean, y) and not train.covariance.any()
    one = predict.gp_inference(kdd["nngp"], y[:, 0])("nngp", ktd["nngp"])
    assert one.shape == (4,)


def test_marginal_likelihood():
    (kdd, _, _), y = grams(9, 0, seed=2)
    r = 0.2 * np.trace(kdd["nngp"]) / 9
    want = sum(multivariate_normal(np.zeros(9), kdd["nngp"] + r * np.eye(9)).logpdf(y[:, k])
               for k in range(3))
    assert abs(predict.marginal_likelihood(kdd, y, diag_reg=0.2) - want) < 1e-9 * abs(want)
    got = predict.marginal_likelihood(kdd["ntk"], y[:, 0], diag_reg=0.3, diag_reg_absolute_scale=True)
    assert abs(got - multivariate_normal(np.zeros(9), kdd["ntk"] + 0.3 * np.eye(9)).logpdf(y[:, 0])) < 1e-9


# -- ill-conditioned Grams ----------------------------------------------------------------

def assert_psd(cov):
    """Finite, symmetric, every variance ≥ 0, eigenvalues ≥ −1e-12·scale."""
    assert np.all(np.isfinite(cov))
    np.testing.assert_allclose(cov, np.swapaxes(cov, -1, -2), rtol=0, atol=1e-12 * np.abs(cov).max())
    assert np.all(np.diagonal(cov, axis1=-2, axis2=-1) >= 0)
    lam = np.linalg.eigvalsh(cov)
    assert lam.min() >= -1e-12 * max(lam.max(), 1e-300)


@functools.cache
def relu_kernel():
    return ntkc.compile("input vector(dim=4)\nnet n { Dense(W_std=1.5, b_std=0.05) Relu "
                        "Dense(W_std=1.5, b_std=0.05) Relu Dense(W_std=1.5) }")


def relu_grams(x_train, x_test, dtype=np.float64):
    """[dd, td, tt] dicts of a ReLU net's Grams, cut from one joint Gram."""
    n = len(x_train)
    joint = relu_kernel()(np.concatenate([x_train, x_test]).astype(dtype), get=G)
    cuts = ((slice(0, n),) * 2, (slice(n, None), slice(0, n)), (slice(n, None),) * 2)
    return [{g: np.asarray(k)[i, j] for g, k in zip(G, joint)} for i, j in cuts]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_duplicated_training_points(dtype):
    """Each training point three times (stax: NaN at t=None, as its Cholesky
    fails): finite and PSD at finite t, and at t = ∞ with diag_reg > 0; at
    t = ∞ without it, an NtkError saying why. Under the mean-squared loss the
    copies change nothing: the outputs equal those of the 5 distinct points."""
    rng = np.random.default_rng(3)
    x, x_test = rng.normal(size=(5, 4)), rng.normal(size=(4, 4))
    kdd, ktd, ktt = relu_grams(np.concatenate([x, x, x]), x_test, dtype)
    y = np.tile(rng.normal(size=(5, 1)), (3, 1))
    times = np.array([1.0, 1e3, 1e8])
    out = predict.ensemble_from_grams(kdd, y)(times, ktd, ktt)
    one_dd, one_td, one_tt = relu_grams(x, x_test, dtype)
    one = predict.ensemble_from_grams(one_dd, y[:5])(times, one_td, one_tt)
    # t = 1e8 is nearly the inverse of a Gram with condition number ~1e4
    tol = 1e-6 if dtype == np.float64 else 1e-3
    for g in G:
        assert np.all(np.isfinite(getattr(out, g).mean))
        assert_psd(getattr(out, g).covariance)
        np.testing.assert_allclose(getattr(out, g).mean, getattr(one, g).mean, rtol=tol, atol=tol)
        np.testing.assert_allclose(getattr(out, g).covariance, getattr(one, g).covariance,
                                   rtol=tol, atol=tol)
    post = predict.gp_inference(kdd, y, diag_reg=1e-6)(("nngp", "ntk", "ntkgp"), ktd, ktt)
    for gauss in post:
        assert np.all(np.isfinite(gauss.mean))
        assert_psd(gauss.covariance)
    with pytest.raises(ntkc.NtkError, match="singular.*diag_reg"):
        predict.gp_inference(kdd, y)("nngp", ktd)


def test_tiny_eigenvalues():
    """A joint Gram with eigenvalues from 1 down to 1e-12, no regulariser,
    t = ∞: every mode's variances stay ≥ 0 and covariances PSD, and the NNGP
    posterior equals a 50-digit mpmath computation from the same float64 Gram
    (covariance to 1e-13 of the prior scale; the posterior variances are ~1e-9)."""
    import mpmath
    rng = np.random.default_rng(4)
    q, _ = np.linalg.qr(rng.normal(size=(14, 14)))
    joint = (q * np.geomspace(1.0, 1e-12, 14)) @ q.T
    joint = (joint + joint.T) / 2
    n = 10
    kdd, ktd, ktt = joint[:n, :n], joint[n:, :n], joint[n:, n:]
    y = rng.normal(size=(n, 1))
    both = [{g: k for g in G} for k in (kdd, ktd, ktt)]   # Θ = Σ here
    post = predict.gp_inference(both[0], y)(("nngp", "ntk", "ntkgp"), *both[1:])
    for out in post:
        assert np.all(np.isfinite(out.mean))
        assert_psd(out.covariance)
    mpmath.mp.dps = 50
    a, b, c = (mpmath.matrix(m.tolist()) for m in (kdd, ktd, ktt))
    x = b * mpmath.inverse(a)
    exact_cov = np.array((c - x * b.T).tolist(), dtype=float)
    exact_mean = np.array((x * mpmath.matrix(y.tolist())).tolist(), dtype=float)
    assert np.abs(post.nngp.covariance - exact_cov).max() < 1e-13
    np.testing.assert_allclose(post.nngp.mean, exact_mean, rtol=1e-6)


def test_float32_grams_near_duplicates():
    """float32 Grams of points 1e-4 apart: float32's tolerances apply, and
    the outputs stay finite and PSD."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 4))
    xs = np.concatenate([x, x + 1e-4 * rng.normal(size=x.shape)])
    kdd, ktd, ktt = relu_grams(xs, rng.normal(size=(3, 4)), np.float32)
    assert kdd["ntk"].dtype == np.float32
    y = rng.normal(size=(12, 2))
    out = predict.ensemble_from_grams(kdd, y, diag_reg=1e-4)(np.array([10.0, np.inf]), ktd, ktt)
    for g in G:
        assert np.all(np.isfinite(getattr(out, g).mean))
        assert_psd(getattr(out, g).covariance)


# -- errors --------------------------------------------------------------------------------

def test_errors():
    (kdd, ktd, ktt), y = grams(6, 2, seed=6)
    fn = predict.gp_inference(kdd, y)
    with pytest.raises(ntkc.NtkError, match=r"k_test_train.nngp has shape \(2, 5\), expected \(m, 6\)"):
        fn("nngp", {g: k[:, :5] for g, k in ktd.items()})
    with pytest.raises(ntkc.NtkError, match=r"k_test_test.nngp has shape \(2, 3\), expected \(2, 2\)"):
        fn("ntk", ktd, {g: np.zeros((2, 3)) for g in G})
    with pytest.raises(ntkc.NtkError, match=r"y_train must have shape \(6,\) or \(6, K\), got \(5, 3\)"):
        predict.gp_inference(kdd, y[:5])("nngp", ktd)
    with pytest.raises(ntkc.NtkError, match="not positive semi-definite"):
        predict.gp_inference(kdd["nngp"] - 3 * np.eye(6), y)("nngp", ktd["nngp"])
    with pytest.raises(ntkc.NtkError, match="joint nngp Gram.*not positive semi-definite"):
        fn("nngp", ktd, {g: -np.eye(2) for g in G})
    with pytest.raises(ntkc.NtkError, match="square"):
        predict.gp_inference(np.zeros((6, 5)), y)("nngp", ktd["nngp"])
    with pytest.raises(ntkc.NtkError, match="no 'nngp' Gram"):
        predict.gp_inference({"ntk": kdd["ntk"]}, y)("ntk", {"ntk": ktd["ntk"]}, {"ntk": ktt["ntk"]})
    with pytest.raises(ntkc.NtkError, match="NaN"):
        fn("nngp", {g: np.full((2, 6), np.nan) for g in G})
    with pytest.raises(ntkc.NtkError, match="'ntk' covariance needs both Grams"):
        predict.gp_inference(kdd["ntk"], y)("ntk", ktd["ntk"], ktt["ntk"])
    with pytest.raises(ntkc.NtkError, match="diag_reg must be"):
        predict.gp_inference(kdd, y, diag_reg="0.1")
    with pytest.raises(ntkc.NtkError, match="get='ntkgp'"):
        predict.ensemble_from_grams(kdd, y)(1.0, ktd, get="ntkgp")
    with pytest.raises(ntkc.NtkError, match="times must be"):
        predict.ensemble_from_grams(kdd, y)(-1.0, ktd)
    with pytest.raises(ntkc.NtkError, match="diag_reg"):
        predict.gp_inference(kdd, y, diag_reg=-1.0)
    with pytest.raises(ntkc.NtkError, match="learning_rate"):
        predict.ensemble_from_grams(kdd, y, learning_rate=0.0)
