"""Erf(a, b, c): φ(x) = a·erf(b·x) + c (plain ``Erf`` is a=1, b=1, c=0).

Σ' = a²·(2/π)·arcsin(2b²Σ₁₂ / √((1+2b²Σ₁₁)(1+2b²Σ₂₂))) + c²,
Σ̇ = a²b²·(4/π) / √((1+2b²Σ₁₁)(1+2b²Σ₂₂) − 4b⁴Σ₁₂²).
"""

import jax.numpy as jnp
from jax.scipy.special import erf

from ..registry import Param
from ._activation import register_activation
from .relu import arccos


def pair(c, v1, v2, args):
    a, b, shift = args["a"], args["b"], args["c"]
    b2 = b * b
    # √((1+2b²Σ₁₁)(1+2b²Σ₂₂)) from per-example roots: no square root per pair
    norm = jnp.sqrt(1 + 2 * b2 * v1) * jnp.sqrt(1 + 2 * b2 * v2)
    ratio = jnp.clip(2 * b2 * c / norm, -1.0, 1.0)
    # arcsin = π/2 − arccos with Relu's polynomial arccos (XLA's arcsin goes through atan2)
    sigma = a * a * (2 / jnp.pi) * (jnp.pi / 2 - arccos(ratio)) + shift * shift
    # The Σ̇ radicand is norm²·(1 − ratio²) ≥ 1 + 2b²(Σ₁₁ + Σ₂₂) by Cauchy–Schwarz
    # (equality at x = x'); clamp rounding to that bound.
    gap = jnp.maximum(1 - ratio * ratio, (1 + 2 * b2 * (v1 + v2)) / (norm * norm))
    dot = a * a * b2 * (4 / jnp.pi) / (norm * jnp.sqrt(gap))
    return sigma, dot


def fn(x, args):
    return args["a"] * erf(args["b"] * x) + args["c"]


def symbolic(args):
    import sympy as sp
    c, v1, v2 = sp.symbols("Sigma_12 Sigma_11 Sigma_22", real=True)
    a, b, shift = (sp.nsimplify(args[k]) for k in ("a", "b", "c"))
    denom = (1 + 2 * b**2 * v1) * (1 + 2 * b**2 * v2)
    sigma = a**2 * 2 / sp.pi * sp.asin(2 * b**2 * c / sp.sqrt(denom)) + shift**2
    dot = a**2 * b**2 * 4 / sp.pi / sp.sqrt(denom - 4 * b**4 * c**2)
    return (c, v1, v2), sigma, dot


register_activation(
    "Erf", (Param("a", "float", 1.0), Param("b", "float", 1.0), Param("c", "float", 0.0)),
    pair, fn, doc="a·erf(b·x) + c: Σ' = a²(2/π)arcsin(2b²Σ₁₂/√((1+2b²Σ₁₁)(1+2b²Σ₂₂))) + c²",
    symbolic=symbolic)
