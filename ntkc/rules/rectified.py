"""RectifiedMonomial(degree): φ(x) = max(x, 0)ⁿ, the arc-cosine kernels of
Cho & Saul (2009), for any degree n ≥ 0.

With cos θ = Σ₁₂/√(Σ₁₁Σ₂₂), E[φ(u)φ(v)] = (Σ₁₁Σ₂₂)^(n/2)·Jₙ(θ)/(2π), where
Jₙ(θ) = Aₙ(cos θ)·sin θ + Bₙ(cos θ)·(π − θ) for two polynomials:

    J₀ = π − θ,  J₁ = sin θ + (π − θ)cos θ,  J₂ = 3 sin θ cos θ + (π − θ)(1 + 2cos²θ).

Rather than differentiate Cho & Saul's Jₙ = (−1)ⁿ sin²ⁿ⁺¹θ·(∂_θ/sin θ)ⁿ((π−θ)/sin θ),
which divides by sin θ and is NaN at x = x' (stax 0.6.5's RectifiedMonomial
is), the polynomials come from Price's theorem d/dρ E[φₙ(u)φₙ(v)] =
n²·E[φₙ₋₁(u)φₙ₋₁(v)] (unit variances, ρ = cos θ). Substituting the form above:

    Bₙ' = n²Bₙ₋₁,  Bₙ(1) = (2n−1)!!   (the diagonal value E[max(u,0)²ⁿ]·2)
    (1 − ρ²)Aₙ' − ρAₙ = n²(1 − ρ²)Aₙ₋₁ − Bₙ

solved exactly in rationals. Σ̇ = n²·(Σ₁₁Σ₂₂)^((n−1)/2)·Jₙ₋₁(θ)/(2π) (0 for
n = 0). Degree 1 is Relu and uses Relu's rule, so the two agree bit for bit. For degree 0 (the step function)
the finite forward takes φ(0) = 1/2, the value the kernel formula assigns to a
zero-variance input (θ = π/2 there).
"""

from __future__ import annotations

from fractions import Fraction
import jax.numpy as jnp

from ..registry import Param
from . import relu
from ._activation import cosine, register_activation, safe_sqrt
from .polynomial import _dfact, check_degree


_POLYS = [((), (Fraction(1),))]  # (A₀, B₀): J₀ = π − θ


def arccos_polys(n: int):
    """(Aₙ, Bₙ) as tuples of Fractions, lowest power first."""
    while len(_POLYS) <= n:
        _POLYS.append(_next_polys(*_POLYS[-1], len(_POLYS)))
    return _POLYS[n]


def _next_polys(a_prev, b_prev, n: int):
    # Bₙ = n²∫₁^ρ Bₙ₋₁ + (2n−1)!!
    integral = [Fraction(0)] + [b / (k + 1) for k, b in enumerate(b_prev)]
    b = [n * n * t for t in integral]
    b[0] += _dfact(2 * n - 1) - sum(b)  # so that Bₙ(1) = (2n−1)!!
    # R = n²(1 − ρ²)Aₙ₋₁ − Bₙ, degree ≤ n
    r = [Fraction(0)] * (n + 2)
    for k, a in enumerate(a_prev):
        r[k] += n * n * a
        r[k + 2] -= n * n * a
    for k, t in enumerate(b):
        r[k] -= t
    # coefficient of ρʲ in (1 − ρ²)A' − ρA is (j+1)a_{j+1} − j·a_{j−1}: solve top down
    a = [Fraction(0)] * (n + 2)
    for j in range(n, 0, -1):
        a[j - 1] = ((j + 1) * a[j + 1] - r[j]) / j
    if a[1] != r[0] or r[n + 1] != 0:
        raise AssertionError(f"arc-cosine recursion inconsistent at degree {n}")
    return tuple(a[:n]), tuple(b)


def _poly(coefs, x):
    """Σ coefs[k]·xᵏ over the nonzero coefficients (exact for 1 and x)."""
    total = None
    for k, a in enumerate(coefs):
        if a:
            term = float(a) * x**k
            total = term if total is None else total + term
    return 0.0 * x if total is None else total


def _j(n, cos, sin, rest):
    """Jₙ(θ) from cos θ, sin θ and π − θ."""
    a, b = arccos_polys(n)
    return _poly(a, cos) * sin + _poly(b, cos) * rest


def general_pair(c, v1, v2, n: int):
    cos, norm = cosine(c, v1, v2)
    rest = relu.arccos(-cos)  # π − θ, with full relative precision as θ → π (Relu's fast arccos)
    sin = safe_sqrt(jnp.maximum(1.0 - cos * cos, 0.0))
    sigma = norm**n / (2 * jnp.pi) * _j(n, cos, sin, rest)
    if n == 0:
        return sigma, 0.0 * c
    dot = n * n * (norm ** (n - 1) * _j(n - 1, cos, sin, rest)) / (2 * jnp.pi)
    return sigma, dot


def pair(c, v1, v2, args):
    if args["degree"] == 1:
        # The degree-1 kernel is Relu's; use its rule so the two agree bit for bit.
        return relu.pair(c, v1, v2, {})
    return general_pair(c, v1, v2, args["degree"])


def fn(x, args):
    n = args["degree"]
    if n == 0:
        return jnp.where(x > 0, 1.0, jnp.where(x < 0, 0.0, 0.5)).astype(x.dtype)
    return jnp.where(x > 0, x, 0.0) ** n


def symbolic(args):
    import sympy as sp
    c, v1, v2 = sp.symbols("Sigma_12 Sigma_11 Sigma_22", real=True)
    n = args["degree"]
    cos = c / sp.sqrt(v1 * v2)
    theta = sp.acos(cos)

    def j(m):
        a, b = arccos_polys(m)
        poly = lambda cs: sum((sp.Rational(q.numerator, q.denominator) * cos**k
                               for k, q in enumerate(cs)), sp.Integer(0))
        return poly(a) * sp.sqrt(1 - cos**2) + poly(b) * (sp.pi - theta)
    sigma = sp.sqrt(v1 * v2) ** n * j(n) / (2 * sp.pi)
    dot = sp.Integer(0) if n == 0 else n**2 * sp.sqrt(v1 * v2) ** (n - 1) * j(n - 1) / (2 * sp.pi)
    return (c, v1, v2), sigma, dot


register_activation(
    "RectifiedMonomial", (Param("degree", "int", low=0, doc="the power n ≥ 0"),), pair, fn,
    symbolic=symbolic, check=check_degree("degree of RectifiedMonomial"),
    doc="max(x,0)ⁿ: Σ' = (Σ₁₁Σ₂₂)^(n/2)·Jₙ(θ)/2π (arc-cosine kernel), Σ̇ = n²(Σ₁₁Σ₂₂)^((n−1)/2)Jₙ₋₁(θ)/2π")
