"""Positive semi-definite Gram matrices by eigendecomposition: the checks,
the round-off tolerance, and the matrix functions that gradient flow and GP
inference read off the spectrum (``ntkc.dynamics``, ``ntkc.predict``).

A Gram H = V diag(λ) Vᵀ is decomposed once, in float64 whatever its dtype,
but its tolerances follow the dtype it was computed in (ε = that dtype's
machine epsilon, s = max |λ|, n its size):

* eigenvalues with |λ| ≤ n·ε·s are *zero*: H counts as singular when one of
  them is, whatever tiny value rounding left there;
* negative eigenvalues down to −max(√ε, n·ε)·s are rounding and are clipped
  to 0 (float64: −1.5e-8·s for n ≤ 6.7e7; float32: −3.5e-4·s); anything more
  negative means the matrix is not a kernel Gram and is an
  :class:`~ntkc.errors.NtkError`.

Kernel Grams carry more than n·ε of error (an arc-cosine near 1 loses half
the digits), hence the √ε floor for what still counts as rounding.
"""

from __future__ import annotations

import numpy as np

from .errors import NtkError


def epsilon(array) -> float:
    """Machine epsilon of the dtype the numbers were computed in (float64 for
    integers, which are exact)."""
    dtype = getattr(array, "dtype", None)
    if dtype is not None and np.issubdtype(dtype, np.floating):
        return float(np.finfo(dtype).eps)
    return float(np.finfo(np.float64).eps)


def matrix(h, name="H") -> tuple:
    """Check a square, finite, symmetric matrix; returns (h in float64,
    symmetrised, ε of its dtype)."""
    eps = epsilon(h)
    try:
        a = np.asarray(h, dtype=np.float64)
    except (TypeError, ValueError):
        raise NtkError(f"{name} is not a numeric array") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise NtkError(f"{name} must be a square Gram matrix (n, n), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise NtkError(f"{name} contains NaN or Inf")
    scale = max(1.0, float(np.abs(a).max(initial=0.0)))
    rtol = max(1e-8, 1e3 * eps)
    if not np.allclose(a, a.T, rtol=rtol, atol=rtol * scale):
        raise NtkError(f"{name} is not symmetric")
    return (a + a.T) / 2, eps


def vector(y, n, name) -> np.ndarray:
    """Targets or outputs shaped (n,) or (n, K), finite, as float64."""
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise NtkError(f"{name} is not a numeric array") from None
    if y.shape[:1] != (n,) or y.ndim > 2:
        raise NtkError(f"{name} must have shape ({n},) or ({n}, K), got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise NtkError(f"{name} contains NaN or Inf")
    return y


class PSDEigen:
    """H + shift·I = V diag(μ) Vᵀ for a PSD Gram H and a ridge ``shift`` ≥ 0.

    ``values`` are μ = max(λ, 0) + shift; ``zero`` is the tolerance below
    which an eigenvalue of H counts as 0 (see the module docstring); ``eps``
    overrides the machine epsilon read off h's dtype (for a matrix assembled
    in float64 from float32 parts).
    """

    def __init__(self, h, name="H", shift: float = 0.0, eps: float | None = None):
        self.matrix, own = matrix(h, name)
        eps = own if eps is None else eps
        n = self.matrix.shape[0]
        lam, self.vectors = np.linalg.eigh(self.matrix)
        scale = max(float(np.abs(lam).max(initial=0.0)), np.finfo(float).tiny)
        self.zero = n * eps * scale
        floor = max(np.sqrt(eps), n * eps) * scale
        if lam.min() < -floor:
            raise NtkError(f"{name} is not positive semi-definite (smallest eigenvalue "
                           f"{lam.min():.3g}, largest {lam.max():.3g}: more negative than "
                           f"the {floor:.2g} rounding allows; a float32 Gram passed as float64 "
                           f"is judged by float64's tolerance)")
        if not shift >= 0:
            raise NtkError(f"the ridge (diagonal regulariser) must be ≥ 0, not {shift!r}")
        self.shift = float(shift)
        self.eigenvalues = np.clip(lam, 0.0, None)   # of H itself
        self.values = self.eigenvalues + self.shift

    @property
    def singular(self) -> bool:
        return self.shift == 0 and self.eigenvalues.min() <= self.zero

    def filter(self, t, rate: float) -> np.ndarray:
        """φ_t(μ) = (1 − e^{−rate·t·μ})/μ per eigenvalue, shape t.shape + (n,):
        the spectrum of (H + shift)⁻¹(I − e^{−rate·t·(H + shift)}). Computed with
        expm1 (→ rate·t as μ → 0, never 0/0); t = ∞ gives 1/μ and needs H + shift
        to be invertible."""
        t = np.asarray(t, dtype=np.float64)
        if np.any(np.isnan(t)) or np.any(t < 0):
            raise NtkError(f"times must be ≥ 0 (or inf), got {t}")
        mu = self.values
        out = np.empty(t.shape + mu.shape)
        flat = out.reshape(-1, mu.size)
        for row, ti in zip(flat, t.reshape(-1)):
            if np.isinf(ti):
                if self.singular:
                    raise NtkError(
                        f"the Gram is singular (smallest eigenvalue {self.eigenvalues.min():.3g}"
                        f" ≤ {self.zero:.2g}, the rounding tolerance, largest "
                        f"{self.eigenvalues.max():.3g}; duplicated training points?): the "
                        f"t → ∞ limit needs its inverse; pass a ridge / diag_reg > 0 or a "
                        f"finite time")
                row[:] = 1.0 / mu
            else:
                safe = np.where(mu > 0, mu, 1.0)
                row[:] = np.where(mu > 0, -np.expm1(-rate * ti * mu) / safe, rate * ti)
        return out

    def apply(self, spectrum, b) -> np.ndarray:
        """V diag(spectrum) Vᵀ b for one spectrum (n,) or a stack (T…, n); b is
        (n,) or (n, K). Result: spectrum's leading axes + b.shape."""
        v = self.vectors
        c = v.T @ np.asarray(b, dtype=np.float64)
        if c.ndim == 1:
            return (spectrum * c) @ v.T
        return v @ (spectrum[..., :, None] * c)

    def root(self) -> np.ndarray:
        """R = V diag(√μ) with R Rᵀ = H + shift·I: a square root whose Grams
        (M R)(M R)ᵀ are positive semi-definite by construction."""
        return self.vectors * np.sqrt(self.values)
