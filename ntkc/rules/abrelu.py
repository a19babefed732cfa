"""Piecewise-linear activations: ABRelu(a, b), LeakyRelu(alpha), Abs.

φ(x) = a·min(x, 0) + b·max(x, 0). With cos θ = Σ₁₂/√(Σ₁₁Σ₂₂), θ ∈ [0, π]:

    Σ̇  = (a² + b²)/2 − (a − b)²·θ/(2π)        (the probability-weighted slopes)
    Σ' = (a − b)²/(2π)·√(Σ₁₁Σ₂₂ − Σ₁₂²) + Σ̇·Σ₁₂

(Relu is a=0, b=1; the (a − b)² term is the arc-cosine kernel of degree 1, the
rest the linear part a·b·Σ₁₂.) LeakyRelu(alpha) is ABRelu(alpha, 1), Abs is
ABRelu(−1, 1), as in stax.
"""

import jax.numpy as jnp

from ..registry import Param
from ._activation import cosine, register_activation, safe_sqrt
from .relu import arccos  # XLA's arccos costs several times Relu's whole rule


def _slopes(args):
    return args["a"], args["b"]


def make_pair(slopes):
    def pair(c, v1, v2, args):
        a, b = slopes(args)
        cos, norm = cosine(c, v1, v2)
        theta = arccos(cos)
        sin = safe_sqrt(jnp.maximum(1.0 - cos * cos, 0.0))
        dot = (a * a + b * b) / 2 - (a - b) ** 2 / (2 * jnp.pi) * theta
        sigma = (a - b) ** 2 / (2 * jnp.pi) * norm * sin + dot * c
        return sigma, dot
    return pair


def make_fn(slopes):
    def fn(x, args):
        a, b = slopes(args)
        return a * jnp.minimum(x, 0) + b * jnp.maximum(x, 0)
    return fn


def make_symbolic(slopes):
    def symbolic(args):
        import sympy as sp
        from ..symbolic import const
        c, v1, v2 = sp.symbols("Sigma_12 Sigma_11 Sigma_22", real=True)
        a, b = (const(s) for s in slopes(args))
        theta = sp.acos(c / sp.sqrt(v1 * v2))
        dot = (a**2 + b**2) / 2 - (a - b) ** 2 * theta / (2 * sp.pi)
        sigma = (a - b) ** 2 / (2 * sp.pi) * sp.sqrt(v1 * v2 - c**2) + dot * c
        return (c, v1, v2), sigma, dot
    return symbolic


def _register(name, params, slopes, doc):
    register_activation(name, params, make_pair(slopes), make_fn(slopes), doc=doc,
                        symbolic=make_symbolic(slopes))


_register("ABRelu", (Param("a", "float", doc="slope for x < 0"),
                     Param("b", "float", doc="slope for x > 0")), _slopes,
          "a·min(x,0) + b·max(x,0): Σ̇ = (a²+b²)/2 − (a−b)²θ/2π, "
          "Σ' = (a−b)²√(Σ₁₁Σ₂₂−Σ₁₂²)/2π + Σ̇Σ₁₂")
_register("LeakyRelu", (Param("alpha", "float", doc="slope for x < 0"),),
          lambda args: (args["alpha"], 1.0),
          "max(x,0) + alpha·min(x,0): ABRelu(alpha, 1)")
_register("Abs", (), lambda args: (-1.0, 1.0), "|x|: ABRelu(−1, 1), Σ̇ = 1 − 2θ/π")
