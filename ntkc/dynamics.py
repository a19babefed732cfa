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
from .spectral import PSDEigen
from .spectral import matrix as _matrix
from .spectral import vector as _vector


class GradientFlow:
    """Closed-form gradient flow of squared loss for a fixed kernel.

    ``H`` is the (n, n) train Gram, ``y`` the targets (n,) or (n, K), ``u0``
    the outputs at t = 0 (zeros by default: the infinite-width network's mean),
    ``lr`` = η and ``ridge`` = λ ≥ 0. Times ``t`` may be a scalar, ``np.inf``
    or an array (results then gain a leading time axis).
    """

    def __init__(self, H, y, u0=None, lr: float = 1.0, ridge: float = 0.0):
        self.eig = PSDEigen(H, "H", shift=ridge)
        self.H, self.V = self.eig.matrix, self.eig.vectors
        n = self.H.shape[0]
        self.y = _vector(y, n, "y")
        self.u0 = np.zeros_like(self.y) if u0 is None else _vector(u0, n, "u0")
        if self.u0.shape != self.y.shape:
            raise NtkError(f"u0 has shape {self.u0.shape}, y has {self.y.shape}")
        if not lr > 0:
            raise NtkError(f"lr must be positive, not {lr!r}")
        self.lr, self.ridge = float(lr), float(ridge)
        # Eigenvalues clipped at 0 within the rounding tolerance (ntkc.spectral).
        self.eigenvalues, self.tol = self.eig.eigenvalues, self.eig.zero

    # -- spectral filters --------------------------------------------------------
    def coefficients(self, t) -> np.ndarray:
        """α(t) = (H + λI)⁻¹(I − e^{−ηt(H + λI)})(y − u(0)), so that
        f(x, t) = f₀(x) + k(x, X) α(t); shape (T…, n[, K])."""
        return self.eig.apply(self.eig.filter(t, self.lr), self.y - self.u0)

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
            r0 = self.V.T @ (self.y - self.u0)
            r2 = r0 ** 2 if r0.ndim == 1 else (r0 ** 2).sum(1)
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
    H, _ = _matrix(H)
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
    H, _ = _matrix(H)
    y = _vector(y, H.shape[0], "y")
    try:
        c = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        raise NtkError("H is not positive definite: yᵀH⁻¹y is undefined (add a ridge)") from None
    z = np.linalg.solve(c, y)
    return float(np.sqrt(2 * (z @ z) / H.shape[0]))
