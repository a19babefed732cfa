"""Training on noisy labels: label noise, a finite network trained by gradient
descent with the two regularised losses of Hu et al. (2020), and kernel ridge
regression with a ridge picked from the noisy labels alone.

Hu et al.'s losses (the lecture notes' "RDI" and "AUX"), for a network
f(w, x) started at w(0) and noisy labels ỹ:

    RDI:  ℓ(w)    = ½ Σᵢ (f(w, xᵢ) − ỹᵢ)² + ½λ ‖w − w(0)‖²
    AUX:  ℓ(w, b) = ½ Σᵢ (f(w, xᵢ) + √λ bᵢ − ỹᵢ)²,   b(0) = 0,  b read only in training.

On the linearised network f(w, x) ≈ f(w(0), x) + J(x)(w − w(0)), with H = J Jᵀ
on the training set, RDI's minimiser is the ridge solution and gradient
descent on AUX stays in the row space of [J, √λ I], so it converges to the
minimum-norm interpolant for the kernel H + λI; either way the test outputs
tend to

    f(x) = f(w(0), x) + k(x, X)(H + λI)⁻¹(ỹ − u(0)),

and as the width grows H → Θ (the compiled NTK): the notes' Theorem 5. The
initial function f(w(0), ·) is a random Gaussian process, not part of the
ridge predictor; :func:`train` therefore trains the *centred* network
f(w, x) − f(w(0), x) (same Jacobian, same NTK, zero output at w(0)), whose
limit is exactly the ridge predictor k(x, X)(Θ + λI)⁻¹ỹ.
"""

from __future__ import annotations

import numpy as np

from .errors import NtkError
from .spectral import matrix as _matrix
from .spectral import vector as _vector

__all__ = ["resample_labels", "RidgeCV", "ridge_cv", "train"]


def resample_labels(y, p: float, seed=0, values=None) -> np.ndarray:
    """Symmetric label noise: each label is, with probability ``p``, replaced by
    a class drawn uniformly from ``values`` (default: the classes in ``y``),
    which may be its own. With C classes a label ends up wrong with probability
    p(C − 1)/C: for two classes p/2, so every p < 1 keeps the true class the
    more likely one (flipping with probability p itself would invert a
    two-class task for p > ½)."""
    y = np.asarray(y)
    if not 0 <= p <= 1:
        raise NtkError(f"the noise rate p must lie in [0, 1], not {p!r}")
    values = np.unique(y) if values is None else np.asarray(values)
    rng = np.random.default_rng(seed)
    hit = rng.random(len(y)) < p
    out = y.copy()
    out[hit] = rng.choice(values, size=int(hit.sum()))
    return out


class RidgeCV:
    """K-fold cross-validation of the ridge λ in f(x) = k(x, X)(H + λI)⁻¹y on the
    given (possibly noisy) labels ±1. Each fold's training Gram is decomposed
    once, so :meth:`select` costs two matrix products per fold for any labels
    and any number of ridges.

    The score is the number of sign errors on the held-out folds, ties broken
    by the held-out squared error. Under symmetric noise that makes a label
    wrong with probability q < ½ independently of x, the expected held-out
    error against noisy labels is q + (1 − 2q)·(error against clean ones), so
    the noisy score ranks the ridges as the clean one would, without clean data.
    """

    def __init__(self, H, folds: int = 5, seed=0):
        self.H, _ = _matrix(H, "H")
        n = self.n = self.H.shape[0]
        if not (isinstance(folds, int) and 2 <= folds <= n):
            raise NtkError(f"folds must be a whole number in 2..{n}, not {folds!r}")
        part = np.random.default_rng(seed).permutation(n) % folds
        self.folds = []
        for k in range(folds):
            tr, va = np.flatnonzero(part != k), np.flatnonzero(part == k)
            lam, v = np.linalg.eigh(self.H[np.ix_(tr, tr)])
            # (H_tr + λI)⁻¹ = V diag(1/(λᵢ + λ)) Vᵀ; H_va,tr V is kept for the predictions
            self.folds.append((tr, va, np.clip(lam, 0, None), v, self.H[np.ix_(va, tr)] @ v))

    def select(self, y, ridges) -> dict:
        """``{"ridge": best λ, "ridges": [...], "error": [...], "mse": [...]}``
        (error and mse per ridge, averaged over all n held-out predictions)."""
        y = _vector(y, self.n, "y")
        ridges = np.asarray(ridges, dtype=np.float64)
        if ridges.ndim != 1 or not ridges.size or not np.all(ridges > 0):
            raise NtkError("ridges must be a 1-d array of positive numbers")
        wrong, sq = np.zeros(len(ridges)), np.zeros(len(ridges))
        for tr, va, lam, v, kv in self.folds:
            c = v.T @ y[tr]
            pred = (c / (lam + ridges[:, None])) @ kv.T          # (R, n_va)
            wrong += (np.sign(pred) != y[va]).sum(1)
            sq += ((pred - y[va]) ** 2).sum(1)
        best = int(np.lexsort((sq, wrong))[0])
        return {"ridge": float(ridges[best]), "ridges": ridges.tolist(),
                "error": (wrong / self.n).tolist(), "mse": (sq / self.n).tolist()}


def ridge_cv(H, y, ridges, folds: int = 5, seed=0) -> dict:
    """:class:`RidgeCV` ``(H, folds, seed).select(y, ridges)``: λ picked by
    ``folds``-fold cross-validation on the labels ``y`` alone."""
    return RidgeCV(H, folds, seed).select(y, ridges)


def train(apply, params, x, y, x_test=None, *, loss: str = "plain", ridge: float = 0.0,
          lr: float, steps: int, record=()) -> dict:
    """Full-batch gradient descent on the centred network f(w, ·) − f(w(0), ·).

    ``apply(params, x)`` is a network's forward pass (outputs (N,) or (N, 1)),
    ``params`` its initial parameters (any pytree), ``y`` (N,) the targets.
    ``loss`` is ``"plain"`` (½Σ(f − y)²), ``"rdi"`` or ``"aux"`` (module
    docstring) with ``ridge`` = λ; ``lr`` the step η; ``steps`` the number of
    steps. Returns ``{"loss": [Σ(f(xᵢ) − yᵢ)² at the steps in record, in step order],
    "train": f(X) and "test": f(x_test) after the last step}`` (float64 NumPy).
    """
    import jax
    import jax.numpy as jnp

    if loss not in ("plain", "rdi", "aux"):
        raise NtkError(f"loss must be 'plain', 'rdi' or 'aux', not {loss!r}")
    if not ridge >= 0 or (loss != "plain" and not ridge > 0):
        raise NtkError(f"the {loss} loss needs a ridge λ > 0, not {ridge!r}")
    if not lr > 0 or int(steps) != steps or steps < 0:
        raise NtkError(f"need lr > 0 and a whole number of steps ≥ 0, got {lr!r}, {steps!r}")

    def out(p, a):
        f = apply(p, a)
        return f.reshape(f.shape[0]) if f.ndim == 2 and f.shape[1] == 1 else f

    x = jnp.asarray(x)
    f0 = out(params, x)
    if f0.ndim != 1:
        raise NtkError(f"train needs one output per example; the network gives shape {f0.shape}")
    y = jnp.asarray(_vector(y, f0.shape[0], "y"), f0.dtype)
    w0 = params
    fit = jax.jit(lambda p: out(p, x) - f0)
    root = float(np.sqrt(ridge))

    def objective(theta):
        if loss == "aux":
            p, b = theta
            return 0.5 * jnp.sum((fit(p) + root * b - y) ** 2)
        r = 0.5 * jnp.sum((fit(theta) - y) ** 2)
        if loss == "rdi":
            sq = jax.tree_util.tree_map(lambda a, b: jnp.sum((a - b) ** 2), theta, w0)
            r = r + 0.5 * ridge * sum(jax.tree_util.tree_leaves(sq))
        return r

    @jax.jit
    def step(theta):
        g = jax.grad(objective)(theta)
        return jax.tree_util.tree_map(lambda a, d: a - lr * d, theta, g)

    theta = (params, jnp.zeros_like(y)) if loss == "aux" else params
    record, losses = set(int(k) for k in record), []
    for k in range(int(steps) + 1):
        if k in record:
            p = theta[0] if loss == "aux" else theta
            losses.append(float(jnp.sum((fit(p) - y) ** 2)))
        if k < steps:
            theta = step(theta)
    p = theta[0] if loss == "aux" else theta
    result = {"loss": losses, "train": np.asarray(fit(p), np.float64)}
    if x_test is not None:
        xt = jnp.asarray(x_test)
        result["test"] = np.asarray(out(p, xt) - out(w0, xt), np.float64)
    return result
