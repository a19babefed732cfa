"""Relu: the arc-cosine kernel of degree 1 (Cho & Saul).

With cos θ = Σ₁₂/√(Σ₁₁Σ₂₂):
Σ' = √(Σ₁₁Σ₂₂)/(2π) · (sin θ + (π − θ) cos θ),   Σ̇ = (π − θ)/(2π).
"""

import math

import jax.numpy as jnp

from ._activation import cosine, register_activation


def _asin_series(terms: int) -> tuple:
    """Taylor coefficients of asin(s)/s in z = s²: c_k = C(2k, k) / (4^k (2k + 1))."""
    return tuple(math.comb(2 * k, k) / 4**k / (2 * k + 1) for k in range(terms))


# On s ≤ 1/2 (z ≤ 1/4) every coefficient is positive and the k-th term is below
# 4^-k/(2k+1), so 10 terms reach float32's and 24 float64's rounding level.
_SERIES = {4: _asin_series(10), 8: _asin_series(24)}


def arccos(x):
    """arccos for x in [-1, 1], to within 2 ulp in float32 and float64.

    XLA's arccos goes through atan2 and costs ~40 elementwise operations; here
    |x| ≤ 1/2 uses acos = π/2 − asin(|x|) and |x| > 1/2 uses the cancellation-free
    acos(|x|) = 2·asin(√((1 − |x|)/2)) (1 − |x| is exact there), with asin(s)
    from its Taylor series on s ≤ 1/2; acos(−a) = π − acos(a).
    """
    a = jnp.abs(x)
    big = a > 0.5
    z = jnp.where(big, (1 - a) * 0.5, a * a)
    s = jnp.where(big, jnp.sqrt(z), a)
    coeffs = _SERIES[8 if x.dtype.itemsize >= 8 else 4]
    poly = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        poly = poly * z + c
    asin = s * poly
    r = jnp.where(big, 2 * asin, jnp.pi / 2 - asin)
    return jnp.where(x < 0, jnp.pi - r, r)


def pair(c, v1, v2, args):
    cos, norm = cosine(c, v1, v2)
    # only π − θ appears; taking it as arccos(−cos) keeps its relative precision as θ → π
    rest = arccos(-cos)
    sin = jnp.sqrt(jnp.maximum(1.0 - cos * cos, 0.0))
    sigma = norm / (2 * jnp.pi) * (sin + rest * cos)
    dot = rest / (2 * jnp.pi)
    return sigma, dot


def symbolic(args):
    import sympy as sp
    c, v1, v2 = sp.symbols("Sigma_12 Sigma_11 Sigma_22", real=True)
    theta = sp.acos(c / sp.sqrt(v1 * v2))
    sigma = sp.sqrt(v1 * v2) / (2 * sp.pi) * (sp.sin(theta) + (sp.pi - theta) * sp.cos(theta))
    return (c, v1, v2), sigma, (sp.pi - theta) / (2 * sp.pi)


register_activation(
    "Relu", (), pair, lambda x, args: jnp.maximum(x, 0),
    doc="Σ' = √(Σ₁₁Σ₂₂)(sin θ + (π−θ)cos θ)/2π, Σ̇ = (π−θ)/2π", symbolic=symbolic)
