"""Relu: the arc-cosine kernel of degree 1 (Cho & Saul).

With cos θ = Σ₁₂/√(Σ₁₁Σ₂₂):
Σ' = √(Σ₁₁Σ₂₂)/(2π) · (sin θ + (π − θ) cos θ),   Σ̇ = (π − θ)/(2π).
"""

import math

import jax.numpy as jnp
import numpy as np

from ..state import materialise
from ._activation import cosine, register_activation, safe_sqrt


def _asin_poly(degree: int, taylor_terms: int = 48) -> tuple:
    """Power-basis coefficients of P(z) ≈ asin(s)/s in z = s² on [0, 1/4],
    by Chebyshev economisation of its Taylor series Σ C(2k, k)/(4^k (2k + 1)) zᵏ,
    in exact rational arithmetic: the series (whose tail past 48 terms is
    below 4⁻⁴⁸) in the Chebyshev basis of [0, 1/4], cut after ``degree``.
    Degree 13 is as accurate as 24 Taylor terms (within 2 ulp of arccos in float64)."""
    from fractions import Fraction as F

    taylor = [F(math.comb(2 * k, k), 4**k * (2 * k + 1)) for k in range(taylor_terms)]
    # z = (1 + t)/8 maps t ∈ [-1, 1] onto [0, 1/4]
    in_t = _compose(taylor, [F(1, 8), F(1, 8)])
    cheb = [F(0)] * len(in_t)  # tⁿ = 2¹⁻ⁿ Σ_k C(n, k) T_{n−2k} (the middle term once)
    for n, a in enumerate(in_t):
        for k in range(n // 2 + 1):
            w = F(math.comb(n, k), 2 ** (n - 1)) if n else F(1)
            cheb[n - 2 * k] += a * (w / 2 if n and 2 * k == n else w)
    basis = [[F(1)], [F(0), F(1)]]
    while len(basis) <= degree:
        prev, prev2 = basis[-1], basis[-2]
        basis.append([2 * c for c in [F(0)] + prev])
        for i, c in enumerate(prev2):
            basis[-1][i] -= c
    cut = [F(0)] * (degree + 1)
    for j in range(degree + 1):
        for i, c in enumerate(basis[j]):
            cut[i] += cheb[j] * c
    return tuple(float(c) for c in _compose(cut, [F(-1), F(8)]))  # back to z: t = 8z − 1


def _compose(poly, inner):
    """poly(b₀ + b₁x) for a power-basis coefficient list, inner = [b₀, b₁]."""
    b0, b1 = inner
    out = [0] * len(poly)
    power = [1]  # (b₀ + b₁x)ᵏ
    for c in poly:
        for i, p in enumerate(power):
            out[i] += c * p
        power = [b0 * p + b1 * q for p, q in zip(power + [0], [0] + power)]
    return out


def _acos_root_poly(degree: int) -> tuple:
    """Power-basis coefficients of P(a) ≈ arccos(a)/√(1 − a) on [0, 1] (smooth
    there: the square root carries arccos's singularity at 1), from Chebyshev
    interpolation in float64. Degree 7 is within 1 ulp of arccos in float32
    before rounding; evaluated in float32 the result is within 3 ulp."""
    from numpy.polynomial import Chebyshev, Polynomial

    def g(a):
        a = np.asarray(a, np.float64)
        inner = np.minimum(a, 1 - 1e-300)
        return np.where(a < 1, np.arccos(inner) / np.sqrt(1 - inner), np.sqrt(2.0))
    fit = Chebyshev.interpolate(g, degree, domain=[0, 1])
    # Python floats, not numpy float64 scalars, so float32 inputs stay float32
    return tuple(float(c) for c in fit.convert(kind=Polynomial, domain=[0, 1], window=[0, 1]).coef)


# float64: asin on s ≤ 1/2 by a degree-13 polynomial in s² (14 multiply-adds;
# the Taylor series needs 24 terms for the same accuracy).
# float32: one branch, arccos(|x|) = √(1 − |x|)·P(|x|), fewer operations.
_SERIES = _asin_poly(13)
_ROOT_POLY = _acos_root_poly(7)


def arccos(x):
    """arccos for x in [-1, 1], to within 3 ulp in float32 and 2 in float64.

    XLA's arccos goes through atan2 and costs ~40 elementwise operations.
    float32: arccos(a) = √(1 − a)·P(a) for a = |x| with P a degree-7 polynomial.
    float64: |x| ≤ 1/2 uses π/2 − asin(|x|) and |x| > 1/2 the cancellation-free
    2·asin(√((1 − |x|)/2)) (1 − |x| is exact there), asin(s)/s on s ≤ 1/2
    from a degree-13 polynomial in s². Both: arccos(−a) = π − arccos(a).
    """
    a = jnp.abs(x)
    if x.dtype.itemsize <= 4:
        poly = _horner(_ROOT_POLY, a)
        r = safe_sqrt(1 - a) * poly
        return jnp.where(x < 0, jnp.pi - r, r)
    big = a > 0.5
    z = jnp.where(big, (1 - a) * 0.5, a * a)
    s = jnp.where(big, safe_sqrt(z), a)
    asin = s * _horner(_SERIES, z)
    r = jnp.where(big, 2 * asin, jnp.pi / 2 - asin)
    return jnp.where(x < 0, jnp.pi - r, r)


def _horner(coeffs, z):
    poly = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        poly = poly * z + c
    return poly


# position pairs from which π − θ is computed into memory once (8×8 images: 4096)
MATERIALISE_PAIRS = 1024


def pair(c, v1, v2, args):
    cos, norm = cosine(c, v1, v2)
    # only π − θ appears; taking it as arccos(−cos) keeps its relative precision as θ → π
    rest = arccos(-cos)
    if rest.ndim > 2:
        # Σ' and Σ̇ both need it. With position-pair axes XLA:CPU computes each
        # in its own loop, and the arccos costs more than one pass through
        # memory: float64 W2 0.66 → 0.52 s, W4 0.20 → 0.18 s; float32, the
        # arc-cosine pass over 32×32 position pairs 1.60 → 1.37 ns per pair.
        # A vector net's layers fuse into few loops over the N1×N2 pairs, which
        # a materialisation would break (W1 0.16 → 0.32 s), and so do small
        # position-pair blocks: graphs of 20 nodes (W4's 400 node pairs) ran
        # 1.3× slower materialised (a 40×40 block 8.2 → 10.7 ms, float32).
        if math.prod(rest.shape[2:]) >= MATERIALISE_PAIRS:
            rest = materialise(rest)
    sin = safe_sqrt(jnp.maximum(1.0 - cos * cos, 0.0))
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
