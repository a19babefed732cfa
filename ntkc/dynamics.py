"""Training dynamics of an infinitely wide network under squared loss, and the
spectral quantities the lecture notes read off the kernel.

Gradient flow on ``ℓ = ½ Σᵢ (f(xᵢ) − yᵢ)²`` with learning rate η moves the
training outputs by ``du/dt = −η H (u − y)`` (H the NTK Gram of the training
set), so

    u(t) = y + e^{−ηtH} (u(0) − y),
    f(x, t) = f₀(x) + k(x, X) H⁻¹ (I − e^{−ηtH}) (y − u(0)),

and as t → ∞, with u(0) = 0, f*(x) = k(x, X) H⁻¹ y (kernel regression). With
a ridge λ (gradient flow on the linearised network with the penalty
½λ‖w − w(0)‖²) every H⁻¹(I − e^{−ηtH}) becomes (H + λI)⁻¹(I − e^{−ηt(H + λI)})
and the limit is k(x, X)(H + λI)⁻¹ y.

Everything is evaluated from one symmetric eigendecomposition H = V diag(λ) Vᵀ
in float64: the matrix functions become scalar functions of the eigenvalues,
(1 − e^{−ηtμ})/μ is computed with ``expm1`` (finite, → ηt, as μ → 0), and only
the t → ∞ limit with λ = 0 needs H to be invertible — a singular H is then an
:class:`~ntkc.errors.NtkError`, never a silent pseudo-inverse.
"""

from __future__ import annotations

import numpy as np

from .errors import NtkError


def _matrix(h, name="H") -> np.ndarray:
    h = np.asarray(h, dtype=np.float64)
    if h.ndim != 2 or h.shape[0] != h.shape[1]:
        raise NtkError(f"{name} must be a square Gram matrix, got shape {h.shape}")
    if not np.all(np.isfinite(h)):
        raise NtkError(f"{name} contains NaN or Inf")
    if not np.allclose(h, h.T, rtol=1e-8, atol=1e-12 * max(1.0, np.abs(h).max())):
        raise NtkError(f"{name} is not symmetric")
    return (h + h.T) / 2


def _vector(y, n, name):
    y = np.asarray(y, dtype=np.float64)
    if y.shape[:1] != (n,) or y.ndim > 2:
        raise NtkError(f"{name} must have shape ({n},) or ({n}, K), got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise NtkError(f"{name} contains NaN or Inf")
    return y


class GradientFlow:
    """Closed-form gradient flow of squared loss for a fixed kernel.

    ``H`` is the (n, n) train Gram, ``y`` the targets (n,) or (n, K), ``u0``
    the outputs at t = 0 (zeros by default: the infinite-width network's mean),
    ``lr`` = η and ``ridge`` = λ ≥ 0. Times ``t`` may be a scalar, ``np.inf``
    or an array (results then gain a leading time axis).
    """

    def __init__(self, H, y, u0=None, lr: float = 1.0, ridge: float = 0.0):
        self.H = _matrix(H)
        n = self.H.shape[0]
        self.y = _vector(y, n, "y")
        self.u0 = np.zeros_like(self.y) if u0 is None else _vector(u0, n, "u0")
        if self.u0.shape != self.y.shape:
            raise NtkError(f"u0 has shape {self.u0.shape}, y has {self.y.shape}")
        if not lr > 0:
            raise NtkError(f"lr must be positive, not {lr!r}")
        if not ridge >= 0:
            raise NtkError(f"ridge must be ≥ 0, not {ridge!r}")
        self.lr, self.ridge = float(lr), float(ridge)
        lam, self.V = np.linalg.eigh(self.H)
        # Rounding leaves eigenvalues of a PSD Gram within ~n·ε·‖H‖ of their true
        # value; anything clearly negative means the matrix is not a kernel Gram.
        self.tol = n * np.finfo(np.float64).eps * max(np.abs(lam).max(), np.finfo(float).tiny)
        if lam.min() < -1e3 * self.tol:
            raise NtkError(f"H is not positive semi-definite (smallest eigenvalue {lam.min():.3g},"
                           f" largest {lam.max():.3g})")
        self.eigenvalues = np.clip(lam, 0.0, None)
        # Residual at t = 0 in the eigenbasis: Vᵀ (y − u(0)).
        self.r0 = self.V.T @ (self.y - self.u0)

    # -- spectral filters --------------------------------------------------------
    def _phi(self, t):
        """φ_t(μ) = (1 − e^{−ηtμ})/μ per eigenvalue, μ = λ + ridge: H⁻¹(I − e^{−ηtH})."""
        mu = self.eigenvalues + self.ridge
        t = np.asarray(t, dtype=np.float64)
        if np.any(t < 0):
            raise NtkError("times must be ≥ 0")
        out = np.empty(t.shape + mu.shape)
        flat = out.reshape(-1, mu.size)
        for row, ti in zip(flat, t.reshape(-1)):
            if np.isinf(ti):
                if mu.min() <= self.tol and self.ridge == 0:
                    raise NtkError(
                        f"H is singular (smallest eigenvalue {self.eigenvalues.min():.3g} vs "
                        f"largest {self.eigenvalues.max():.3g}): the t → ∞ limit k(x,X)H⁻¹y does "
                        f"not exist; pass ridge > 0 or a finite time")
                row[:] = 1.0 / mu
            else:
                z = self.lr * ti * mu
                safe = np.where(mu > 0, mu, 1.0)
                row[:] = np.where(mu > 0, -np.expm1(-z) / safe, self.lr * ti)
        return out

    def coefficients(self, t) -> np.ndarray:
        """α(t) = (H + λI)⁻¹(I − e^{−ηt(H + λI)})(y − u(0)), so that
        f(x, t) = f₀(x) + k(x, X) α(t); shape (T…, n[, K])."""
        r = self.r0 if self.r0.ndim == 2 else self.r0[:, None]
        a = np.einsum("ij,...j,jk->...ik", self.V, self._phi(t), r)
        return a if self.y.ndim == 2 else a[..., 0]

    def _times(self, m, t):
        """m @ α(t) over the sample axis, for one or many times."""
        a = self.coefficients(t)
        a = a if self.y.ndim == 2 else a[..., None]
        out = np.einsum("mj,...jk->...mk", m, a)
        return out if self.y.ndim == 2 else out[..., 0]

    # -- predictions -------------------------------------------------------------
    def train(self, t) -> np.ndarray:
        """u(t) = u(0) + H α(t) = y + e^{−ηtH}(u(0) − y) when λ = 0."""
        return self.u0 + self._times(self.H, t)

    def predict(self, k_test, t=np.inf, f0=None) -> np.ndarray:
        """f(x, t) = f₀(x) + k(x, X) α(t) for the (m, n) cross Gram ``k_test``."""
        k = np.asarray(k_test, dtype=np.float64)
        n = self.H.shape[0]
        if k.ndim != 2 or k.shape[1] != n:
            raise NtkError(f"k_test must have shape (m, {n}), got {k.shape}")
        if not np.all(np.isfinite(k)):
            raise NtkError("k_test contains NaN or Inf")
        out = self._times(k, t)
        return out if f0 is None else out + np.asarray(f0, dtype=np.float64)

    def loss(self, t) -> np.ndarray:
        """‖u(t) − y‖² = Σᵢ e^{−2η(λᵢ+λ)t} ⟨vᵢ, y − u(0)⟩² (λ = 0: the notes' formula);
        with a ridge the flow stops short of y and this is computed directly."""
        if self.ridge == 0:
            t = np.asarray(t, dtype=np.float64)
            decay = np.exp(-2 * self.lr * np.multiply.outer(t, self.eigenvalues))
            r2 = self.r0 ** 2 if self.r0.ndim == 1 else (self.r0 ** 2).sum(1)
            return decay @ r2
        res = self.train(t) - self.y
        return (res ** 2).reshape(np.shape(t) + (-1,)).sum(-1)


def kernel_regression(H, k_test, y, ridge: float = 0.0) -> np.ndarray:
    """The t → ∞ predictor f*(x) = k(x, X)(H + λI)⁻¹ y."""
    return GradientFlow(H, y, ridge=ridge).predict(k_test, np.inf)


# -- spectra and generalization ------------------------------------------------------

def spectrum(H, y):
    """Eigenvalues λ₁ ≥ … ≥ λₙ of H and the label projections ⟨vᵢ, y⟩ in the same
    order: the components of y that gradient flow fits at rate λᵢ."""
    H = _matrix(H)
    y = _vector(y, H.shape[0], "y")
    lam, v = np.linalg.eigh(H)
    order = np.argsort(lam)[::-1]
    return lam[order], (v[:, order].T @ y)


def predicted_loss(H, y, t, lr: float = 1.0) -> np.ndarray:
    """Σᵢ e^{−2ηλᵢt} ⟨vᵢ, y⟩²: the training loss ‖u(t) − y‖² from u(0) = 0."""
    return GradientFlow(H, y, lr=lr).loss(t)


def complexity(H, y) -> float:
    """√(2 yᵀH⁻¹y / n), the notes' generalization quantity (for labels ±1 it
    bounds the classification error when H is scaled so that tr H = O(n)).
    Solved through a Cholesky factor; a singular H is an NtkError."""
    H = _matrix(H)
    y = _vector(y, H.shape[0], "y")
    try:
        c = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        raise NtkError("H is not positive definite: yᵀH⁻¹y is undefined (add a ridge)") from None
    z = np.linalg.solve(c, y)
    return float(np.sqrt(2 * (z @ z) / H.shape[0]))
