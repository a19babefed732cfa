"""Inference with infinite-width kernels, as neural-tangents' ``nt.predict``:
the posterior of the NNGP and NTK Gaussian processes, the outputs of an
infinite ensemble of infinitely wide networks trained by gradient descent on
the MSE at any time t (t = ∞ included), and the marginal likelihood.

Conventions are stax's (neural-tangents 0.6.5). Training minimises
``½·mean((f(X) − Y)²)`` over all n·K target entries with learning rate η, so
the train outputs move by du/dt = −(η/(nK))·Θ(u − Y); ``t`` counts steps of
size η (absolute time η·t). ``diag_reg`` r adds r·I to the train Gram before
it is inverted, in units of its mean diagonal tr(K)/n unless
``diag_reg_absolute_scale=True``. With K the kernel of the mode (Σ for
``"nngp"``, Θ for ``"ntk"``), μ the eigenvalues of K_dd + rI and
φ_t(μ) = (1 − e^{−ηtμ/(nK)})/μ (φ_∞ = 1/μ), the test outputs are Gaussian with

    mean  = K_td φ_t(K_dd + rI) Y
    cov   = L S Lᵀ,  L = [−K_td φ_t(K_dd + rI),  I]

where S is the joint prior covariance of (f₀(X_train), f₀(X_test)): the NNGP
Gram [[Σ_dd + rI, Σ_dt], [Σ_td, Σ_tt]] for ``"nngp"`` (so that
cov = Σ_tt − Σ_td φ_{2t} Σ_dt, at t = ∞ the Bayesian posterior with noise
variance r), the same without rI for ``"ntk"`` (the ensemble of trained
nets: Σ_tt + Θ_td φ Σ_dd φ Θ_dt − (Θ_td φ Σ_dt + transpose)), and the NTK
Gram with rI for ``gp_inference``'s ``"ntkgp"``. These are stax's formulas.

Where stax loses them (NaN from 0/0 at a zero eigenvalue, negative variances
from the difference of two large terms on ill-conditioned Grams), this module
works from eigendecompositions (``ntkc.spectral``): φ_t uses expm1 (→ ηt/(nK)
as μ → 0), and a covariance is computed as G Gᵀ with G = L R, R Rᵀ = S, so
every variance is a sum of squares and every covariance matrix is positive
semi-definite by construction. Eigenvalues of S or K_dd negative by no more
than rounding (see ``ntkc.spectral``) are clipped to 0; a Gram more negative
than that, a singular K_dd at t = ∞ with ``diag_reg=0``, or a wrongly shaped
input is an :class:`~ntkc.errors.NtkError`. Results are float64 NumPy arrays;
the Grams may be float32 (their tolerances then follow float32).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from .errors import NtkError
from .spectral import PSDEigen, epsilon, matrix, vector

__all__ = ["Gaussian", "gp_inference", "gradient_descent_mse_ensemble", "ensemble_from_grams",
           "marginal_likelihood"]

Gaussian = namedtuple("Gaussian", "mean covariance")
Gaussian.__doc__ = "A (mean, covariance) pair, as stax's ``nt.predict.Gaussian``."

#: Which Gram gives each mode's mean, and which its prior covariance S.
_MEAN = {"nngp": "nngp", "ntk": "ntk", "ntkgp": "ntk"}
_PRIOR = {"nngp": "nngp", "ntk": "nngp", "ntkgp": "ntk"}


# -- inputs ----------------------------------------------------------------------------

def _modes(get, allowed) -> tuple:
    names = ("nngp", "ntk") if get is None else (get,) if isinstance(get, str) else tuple(get)
    if not names:
        raise NtkError(f"get=(): ask for one or more of {', '.join(map(repr, allowed))}")
    for g in names:
        if g not in allowed:
            raise NtkError(f"get={g!r}: ask for {', '.join(map(repr, allowed))} or a tuple of them")
    return names


def _pick(k, g, name):
    """The ``g`` Gram of ``k``: an array (the same for every mode), a mapping
    or an object with ``nngp``/``ntk`` attributes (stax's ``Kernel``, a named
    tuple)."""
    if isinstance(k, dict):
        v = k.get(g)
    elif hasattr(k, "shape") and not hasattr(k, g):
        v = k
    else:
        v = getattr(k, g, None)
    if v is None:
        raise NtkError(f"{name} has no {g!r} Gram; pass an array, or a dict / named tuple "
                       f"holding {g!r}")
    return v


def _array(k, shape, name):
    """A finite float64 array of ``shape`` (None: any size), and its dtype's ε."""
    eps = epsilon(k)
    try:
        a = np.asarray(k, dtype=np.float64)
    except (TypeError, ValueError):
        raise NtkError(f"{name} is not a numeric array") from None
    if a.ndim != len(shape) or any(w is not None and w != g for w, g in zip(shape, a.shape)):
        want = "(" + ", ".join("m" if w is None else str(w) for w in shape) + ")"
        raise NtkError(f"{name} has shape {a.shape}, expected {want}")
    if not np.all(np.isfinite(a)):
        raise NtkError(f"{name} contains NaN or Inf")
    return a, eps


def _number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _times(t) -> np.ndarray:
    t = np.inf if t is None else t
    try:
        t = np.asarray(t, dtype=np.float64)
    except (TypeError, ValueError):
        raise NtkError(f"t must be a number, inf/None or an array of them, not {t!r}") from None
    if np.any(np.isnan(t)) or np.any(t < 0):
        raise NtkError(f"times must be ≥ 0 (or inf/None), got {t}")
    return t


# -- the common computation ------------------------------------------------------------------

class _Posterior:
    """Train Grams, targets and regulariser; eigendecompositions made once per
    kernel and kept."""

    def __init__(self, k_train_train, y_train, diag_reg, absolute, learning_rate=1.0):
        if not (_number(diag_reg) and np.isfinite(diag_reg) and diag_reg >= 0):
            raise NtkError(f"diag_reg must be a finite number ≥ 0, not {diag_reg!r}")
        if not (_number(learning_rate) and np.isfinite(learning_rate) and learning_rate > 0):
            raise NtkError(f"learning_rate must be a positive number, not {learning_rate!r}")
        self.k = k_train_train
        self.diag_reg, self.absolute = float(diag_reg), bool(absolute)
        self.y = None if y_train is None else np.asarray(y_train)
        self.rate = None
        self.learning_rate = float(learning_rate)
        self._grams, self._eigs = {}, {}

    def gram(self, g):
        """(K_dd of kernel g in float64, its ε). The first Gram read fixes n and
        checks the targets against it."""
        if g not in self._grams:
            k = matrix(_pick(self.k, g, "k_train_train"), f"k_train_train.{g}")
            n = k[0].shape[0]
            if self.rate is None:
                self.y = vector(self.y, n, "y_train")
                self.rate = self.learning_rate / self.y.size
            elif n != self.y.shape[0]:
                raise NtkError(f"k_train_train.{g} has shape {(n, n)}, expected "
                               f"{(self.y.shape[0],) * 2} (one row per training target)")
            self._grams[g] = k
        return self._grams[g]

    def reg(self, g) -> float:
        k, _ = self.gram(g)
        return self.diag_reg if self.absolute else self.diag_reg * float(np.trace(k)) / k.shape[0]

    def eig(self, g) -> PSDEigen:
        if g not in self._eigs:
            k, eps = self.gram(g)
            self._eigs[g] = PSDEigen(k, f"k_train_train.{g}", shift=self.reg(g), eps=eps)
        return self._eigs[g]

    def __call__(self, mode, t, k_test_train, k_test_test):
        """(mean, cov or None) of ``mode`` at times ``t`` (an array, inf allowed).
        ``k_test_train=None``: the outputs on the training inputs."""
        eig = self.eig(_MEAN[mode])
        n = self.y.shape[0]
        if k_test_train is None:
            k_td, eps_td = self.gram(_MEAN[mode])
        else:
            k_td, eps_td = _array(_pick(k_test_train, _MEAN[mode], "k_test_train"), (None, n),
                                  f"k_test_train.{_MEAN[mode]}")
        phi = eig.filter(t, self.rate)                        # (T…, n)
        # M = K_td V diag(φ) Vᵀ, the map from train targets to test means.
        m_map = ((k_td @ eig.vectors) * phi[..., None, :]) @ eig.vectors.T
        mean = m_map @ self.y
        if k_test_test is None:
            return mean, None
        return mean, self._cov(mode, m_map, k_test_train, k_test_test, eps_td)

    def _cov(self, mode, m_map, k_test_train, k_test_test, eps_td):
        g = _PRIOR[mode]
        if g != _MEAN[mode] and any(hasattr(k, "shape") and not hasattr(k, g)
                                    for k in (self.k, k_test_train, k_test_test)):
            raise NtkError(f"the {mode!r} covariance needs both Grams, NNGP and NTK: pass "
                           f"dicts or named tuples with 'nngp' and 'ntk', not bare arrays")
        s_dd, eps_dd = self.gram(g)
        n, m = s_dd.shape[0], m_map.shape[-2]
        if k_test_train is None:
            s_td, s_tt, eps = s_dd, s_dd, eps_dd
        else:
            s_td, e1 = _array(_pick(k_test_train, g, "k_test_train"), (m, n), f"k_test_train.{g}")
            s_tt, e2 = _array(_pick(k_test_test, g, "k_test_test"), (m, m), f"k_test_test.{g}")
            eps = max(eps_dd, e1, e2, eps_td)
        # The ensemble's prior is the plain NNGP; the Bayesian modes add the
        # noise variance r to the observed (train) block.
        reg = 0.0 if mode == "ntk" else self.reg(g)
        joint = np.block([[s_dd + reg * np.eye(n), s_td.T], [s_td, s_tt]])
        root = PSDEigen(joint, f"the joint {g} Gram [[k_train_train, k_test_train.T], "
                               f"[k_test_train, k_test_test]]", eps=eps).root()
        left = root[n:] - m_map @ root[:n]                    # G = L R, (T…, m, n + m)
        return left @ np.swapaxes(left, -1, -2)


def _shape_out(out, names, single):
    if single:
        return out[names[0]]
    return namedtuple("Gaussians", names)(*(out[g] for g in names))


# -- public API --------------------------------------------------------------------------

def gp_inference(k_train_train, y_train, diag_reg: float = 0.0,
                 diag_reg_absolute_scale: bool = False):
    """The posterior of the NNGP / NTK Gaussian processes, as stax's
    ``nt.predict.gp_inference``.

    ``k_train_train`` is the (n, n) train Gram: an array (used for every mode)
    or a dict / named tuple / stax ``Kernel`` with ``nngp`` and ``ntk``;
    ``y_train`` is (n,) or (n, K). Returns
    ``predict_fn(get=None, k_test_train=None, k_test_test=None)``: for each mode
    in ``get`` (``"nngp"``, ``"ntk"``, ``"ntkgp"`` or a tuple; None: both of
    the first two) the test mean K_td (K_dd + rI)⁻¹ Y, shaped (m,) or (m, K),
    or with ``k_test_test`` (m, m) given the ``Gaussian(mean, covariance)``
    (module docstring). ``"nngp"`` is the exact Bayesian posterior of the
    infinitely wide net, ``"ntk"`` the t = ∞ ensemble of gradient-descent
    trained nets (its covariance needs both Grams), ``"ntkgp"`` the GP with the
    NTK as prior covariance. One name gives one result, a tuple a named tuple
    ``Gaussians`` with a field per name. ``k_test_train=None`` gives stax's
    train-set answer N(Y, 0) (for the regularised one pass k_train_train).
    """
    post = _Posterior(k_train_train, y_train, diag_reg, diag_reg_absolute_scale)

    def predict_fn(get=None, k_test_train=None, k_test_test=None):
        names = _modes(get, ("nngp", "ntk", "ntkgp"))
        out = {}
        for g in names:
            if k_test_train is None:
                k, _ = post.gram(_MEAN[g])
                cov = None if k_test_test is None else np.zeros_like(k)
                mean = post.y.copy()
            else:
                mean, cov = post(g, np.inf, k_test_train, k_test_test)
            out[g] = mean if cov is None else Gaussian(mean, cov)
        return _shape_out(out, names, isinstance(get, str))

    return predict_fn


def ensemble_from_grams(k_train_train, y_train, learning_rate: float = 1.0,
                        diag_reg: float = 0.0, diag_reg_absolute_scale: bool = False):
    """:func:`gradient_descent_mse_ensemble` from precomputed Grams.

    Returns ``predict_fn(t=None, k_test_train=None, k_test_test=None, get=None)``:
    the ensemble's mean at time(s) ``t`` (None or ``inf``: trained to
    convergence; an array of times adds its axes in front), and with the
    test-test Gram ``k_test_test`` the ``Gaussian(mean, covariance)``. The
    Grams are arrays or dicts / named tuples with ``nngp`` and ``ntk``; the
    ``"ntk"`` covariance needs both. ``k_test_train=None`` predicts the
    training inputs (equal to stax's ``x_test=None`` when ``diag_reg=0``).
    """
    return _ensemble(_Posterior(k_train_train, y_train, diag_reg, diag_reg_absolute_scale,
                                learning_rate))


def _ensemble(post):
    def predict_fn(t=None, k_test_train=None, k_test_test=None, get=None):
        names = _modes(get, ("nngp", "ntk"))
        times = _times(t)
        out = {}
        for g in names:
            if k_test_train is None and np.all(np.isinf(times)):
                # Trained to convergence the train outputs are Y exactly (stax
                # too), with no inverse needed.
                k, _ = post.gram(_MEAN[g])
                mean = np.broadcast_to(post.y, times.shape + post.y.shape).copy()
                cov = None if k_test_test is None else np.zeros(times.shape + k.shape)
            else:
                mean, cov = post(g, times, k_test_train, k_test_test)
            out[g] = mean if cov is None else Gaussian(mean, cov)
        return _shape_out(out, names, isinstance(get, str))

    return predict_fn


def gradient_descent_mse_ensemble(kernel_fn, x_train, y_train, learning_rate: float = 1.0,
                                  diag_reg: float = 0.0, diag_reg_absolute_scale: bool = False,
                                  **kernel_kwargs):
    """The outputs of an infinite ensemble of infinitely wide networks trained
    by gradient descent on the MSE, as stax's
    ``nt.predict.gradient_descent_mse_ensemble``.

    ``kernel_fn`` is an :class:`ntkc.Kernel` (or any ``f(x1, x2, get)``
    returning a tuple in ``get``'s order or an object with ``nngp``/``ntk``
    attributes); ``kernel_kwargs`` (e.g. ``memory_limit``) go to every call.
    Returns ``predict_fn(t=None, x_test=None, get=None, compute_cov=False)``:
    the mean at time(s) ``t`` (steps of size ``learning_rate``; None or inf:
    converged) on ``x_test`` (None: the training inputs), for ``get`` in
    ``"nngp"``, ``"ntk"`` or both (None); with ``compute_cov`` the
    ``Gaussian(mean, covariance)``. Train Grams are computed once and kept.
    """
    train = {}

    def grams(x1, x2, names):
        out = kernel_fn(x1, x2, get=tuple(names), **kernel_kwargs)
        if all(hasattr(out, g) for g in names):
            return {g: getattr(out, g) for g in names}
        if len(names) == 1 and hasattr(out, "shape"):
            return {names[0]: out}
        out = tuple(out)
        if len(out) != len(names):
            raise NtkError(f"kernel_fn returned {len(out)} Grams for get={tuple(names)}")
        return dict(zip(names, out))

    def train_grams(names):
        missing = [g for g in names if g not in train]
        if missing:
            train.update(grams(x_train, None, missing))
        return train

    fn = _ensemble(_Posterior(train, y_train, diag_reg, diag_reg_absolute_scale, learning_rate))

    def predict_fn(t=None, x_test=None, get=None, compute_cov=False):
        names = _modes(get, ("nngp", "ntk"))
        need = sorted({_MEAN[g] for g in names} | ({_PRIOR[g] for g in names} if compute_cov else set()))
        train_grams(need)
        if x_test is None:
            return fn(t, None, True if compute_cov else None, get)
        k_td = grams(x_test, x_train, need)
        k_tt = grams(x_test, None, sorted({_PRIOR[g] for g in names})) if compute_cov else None
        return fn(t, k_td, k_tt, get)

    return predict_fn


def marginal_likelihood(k_train_train, y_train, diag_reg: float = 0.0,
                        diag_reg_absolute_scale: bool = False, get: str = "nngp") -> float:
    """log p(Y) under the GP prior with covariance K + rI (K the ``get`` Gram,
    default the NNGP; r as in ``diag_reg``), summed over the K independent
    output columns:

        −½ Σ_k y_kᵀ (K + rI)⁻¹ y_k − (K/2) log det(K + rI) − (nK/2) log 2π.

    From the eigenvalues of K + rI; a singular one (diag_reg=0 and duplicated
    training points) is an NtkError, since the density is then undefined."""
    post = _Posterior(k_train_train, y_train, diag_reg, diag_reg_absolute_scale)
    eig = post.eig(_modes(get, ("nngp", "ntk"))[0])
    if eig.singular or eig.values.min() <= 0:
        raise NtkError(f"k_train_train.{get} + diag_reg·I is singular (smallest eigenvalue "
                       f"{eig.eigenvalues.min():.3g}): the likelihood needs diag_reg > 0")
    y = post.y if post.y.ndim == 2 else post.y[:, None]
    proj = eig.vectors.T @ y
    cols = y.shape[1]
    return float(-0.5 * np.sum(proj ** 2 / eig.values[:, None])
                 - 0.5 * cols * np.sum(np.log(eig.values))
                 - 0.5 * y.size * np.log(2 * np.pi))
