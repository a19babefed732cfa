"""Erf(a, b, c): φ(x) = a·erf(b·x) + c (plain ``Erf`` is a=1, b=1, c=0).

Σ' = a²·(2/π)·arcsin(2b²Σ₁₂ / √((1+2b²Σ₁₁)(1+2b²Σ₂₂))) + c²,
Σ̇ = a²b²·(4/π) / √((1+2b²Σ₁₁)(1+2b²Σ₂₂) − 4b⁴Σ₁₂²).
"""

import jax.numpy as jnp
from jax.scipy.special import erf

from ..registry import Param
from ._activation import register_activation


def pair(c, v1, v2, args):
    a, b, shift = args["a"], args["b"], args["c"]
    b2 = b * b
    denom = (1 + 2 * b2 * v1) * (1 + 2 * b2 * v2)
    ratio = jnp.clip(2 * b2 * c / jnp.sqrt(denom), -1.0, 1.0)
    sigma = a * a * (2 / jnp.pi) * jnp.arcsin(ratio) + shift * shift
    # denom − 4b⁴c² ≥ 1 + 2b²(v1 + v2) − ... > 0 by Cauchy–Schwarz; guard rounding.
    gap = jnp.maximum(denom - 4 * b2 * b2 * c * c, jnp.finfo(c.dtype).eps)
    dot = a * a * b2 * (4 / jnp.pi) / jnp.sqrt(gap)
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
