"""Gelu, exact form: φ(x) = x·Φ(x) = x·(1 + erf(x/√2))/2.

With P = (1 + Σ₁₁)(1 + Σ₂₂) and δ = √(P − Σ₁₂²) (δ² ≥ 1 + Σ₁₁ + Σ₂₂ by
Cauchy–Schwarz, so δ never vanishes):

    Σ' = Σ₁₂/4 + [Σ₁₂·atan(Σ₁₂/δ) + (Σ₁₂² + Σ₁₁Σ₂₂δ²)/(P·δ)] / (2π)
    Σ̇  = 1/4 + atan(Σ₁₂/δ)/(2π) + Σ₁₂/(2πδ)·(1 + 1/δ² + (1 − Σ₁₁Σ₂₂)/P)

Σ' is the closed form of arXiv:2002.08517 (as stax.Gelu); Σ̇ = ∂Σ'/∂Σ₁₂ by
Price's theorem.

``Gelu(approximate=true)`` is the tanh approximation x·(1 + tanh(√(2/π)(x +
0.044715x³)))/2 that stax's finite network applies. stax's kernel for it is
the exact form above, which is not the kernel of that network; here it is the
network's own kernel, by the quadrature of ``Elementwise(fn="gelu_tanh")``
with its accuracy check (accurate to 1e-4 of the kernel's scale, or refused).
"""

import math

import jax.numpy as jnp
from jax.scipy.special import erf

from ..registry import Param
from . import elementwise as quadrature
from ._activation import register_activation
from .relu import arccos

TANH = {"fn": "gelu_tanh", "deg": None}


def pair(c, v1, v2, args):
    if args["approximate"]:
        return quadrature.pair(c, v1, v2, TANH)
    return _exact(c, v1, v2)


def estimate(c, v1, v2, args):
    if args["approximate"]:
        return quadrature.estimate(c, v1, v2, TANH)
    sigma, dot = _exact(c, v1, v2)
    return sigma, dot, jnp.zeros_like(sigma), jnp.zeros_like(dot)


def describe(error, variance, args):
    if not args["approximate"] or quadrature.describe(error, variance, TANH) is None:
        return None
    return (f"is not accurate at the pre-activation variances it meets here (up to "
            f"{variance:.3g}): the quadrature of the tanh approximation's kernel is off by "
            f"about {error:.1e} of its scale (tolerance {quadrature.TOLERANCE:g}); use "
            f"Gelu(approximate=false) (a closed form), Elementwise(fn=\"gelu_tanh\") with a "
            f"higher deg, or smaller weights before it")


def _exact(c, v1, v2):
    # per-example factors first, so only the pair-dependent work is done per pair
    root1, root2 = jnp.sqrt(1 + v1), jnp.sqrt(1 + v2)
    p = (1 + v1) * (1 + v2)
    prod = v1 * v2
    # Clamp to the exact lower bound: rounding can push Σ₁₂² past Σ₁₁Σ₂₂.
    delta2 = jnp.maximum(p - c * c, 1 + v1 + v2)
    delta = jnp.sqrt(delta2)
    # atan(Σ₁₂/δ) = asin(Σ₁₂/√P) as δ² + Σ₁₂² = P; asin = π/2 − arccos, with
    # Relu's polynomial arccos (XLA's atan2 would cost more than the rest)
    angle = jnp.pi / 2 - arccos(jnp.clip(c / (root1 * root2), -1.0, 1.0))
    sigma = c / 4 + (c * angle + (c * c + prod * delta2) / (p * delta)) / (2 * jnp.pi)
    dot = 0.25 + angle / (2 * jnp.pi) + c / (2 * jnp.pi * delta) * (1 + 1 / delta2 + (1 - prod) / p)
    return sigma, dot


def fn(x, args):
    if args["approximate"]:
        return quadrature.fn(x, TANH)
    return x * (1 + erf(x * math.sqrt(0.5))) / 2


def symbolic(args):
    if args["approximate"]:
        return None  # no closed form: explain shows the Gaussian expectation
    import sympy as sp
    c, v1, v2 = sp.symbols("Sigma_12 Sigma_11 Sigma_22", real=True)
    p = (1 + v1) * (1 + v2)
    delta = sp.sqrt(p - c**2)
    angle = sp.atan(c / delta)
    sigma = c / 4 + (c * angle + (c**2 + v1 * v2 * delta**2) / (p * delta)) / (2 * sp.pi)
    dot = sp.Rational(1, 4) + angle / (2 * sp.pi) + c / (2 * sp.pi * delta) * (
        1 + 1 / delta**2 + (1 - v1 * v2) / p)
    return (c, v1, v2), sigma, dot


register_activation(
    "Gelu", (Param("approximate", "bool", False,
                   doc="the tanh approximation (its kernel by quadrature)"),),
    pair, fn, symbolic=symbolic, estimate=estimate, describe=describe,
    function=lambda args: "gelu_tanh" if args["approximate"] else "Gelu",
    doc="x·Φ(x): Σ' = Σ₁₂/4 + [Σ₁₂·atan(Σ₁₂/δ) + (Σ₁₂² + Σ₁₁Σ₂₂δ²)/(Pδ)]/2π, "
        "P = (1+Σ₁₁)(1+Σ₂₂), δ² = P − Σ₁₂²")
