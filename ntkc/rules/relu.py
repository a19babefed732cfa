"""Relu: the arc-cosine kernel of degree 1 (Cho & Saul).

With cos θ = Σ₁₂/√(Σ₁₁Σ₂₂):
Σ' = √(Σ₁₁Σ₂₂)/(2π) · (sin θ + (π − θ) cos θ),   Σ̇ = (π − θ)/(2π).
"""

import jax.numpy as jnp

from ._activation import cosine, register_activation


def pair(c, v1, v2, args):
    cos, norm = cosine(c, v1, v2)
    theta = jnp.arccos(cos)
    sin = jnp.sqrt(jnp.maximum(1.0 - cos * cos, 0.0))
    sigma = norm / (2 * jnp.pi) * (sin + (jnp.pi - theta) * cos)
    dot = (jnp.pi - theta) / (2 * jnp.pi)
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
