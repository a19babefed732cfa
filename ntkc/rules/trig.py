"""Periodic activations: Sin(a, b, c) = a·sin(b·x + c), Cos(a, b, c) =
a·cos(b·x + c) = Sin(a, b, c + π/2), and Rbf(gamma).

With s± = exp(−b²·(Σ₁₁ + Σ₂₂ ∓ 2Σ₁₂)/2) (E[cos b(u ∓ v)] for Gaussian u, v):

    Σ' = a²/2·(s₊ − cos(2c)·s₋),   Σ̇ = a²b²/2·(s₊ + cos(2c)·s₋)

from sin α sin β = [cos(α − β) − cos(α + β)]/2. Rbf(gamma) is the activation
√2·sin(√(2γ)·x + π/4), whose NNGP map is the Gaussian kernel
Σ' = exp(−γ(Σ₁₁ + Σ₂₂ − 2Σ₁₂)), Σ̇ = 2γΣ'. Every exponent is ≤ 0, so nothing
overflows.
"""

import math

import jax.numpy as jnp

from ..registry import Param
from ._activation import register_activation


def _sin_pair(c, v1, v2, a, b, phase):
    half = (v1 + v2) / 2
    s_plus = jnp.exp(b * b * (c - half))
    s_minus = jnp.exp(-b * b * (c + half)) * math.cos(2 * phase)
    return a * a / 2 * (s_plus - s_minus), a * a * b * b / 2 * (s_plus + s_minus)


def _sin_symbolic(a, b, phase):
    import sympy as sp
    c, v1, v2 = sp.symbols("Sigma_12 Sigma_11 Sigma_22", real=True)
    s_plus = sp.exp(-b**2 * (v1 + v2 - 2 * c) / 2)
    s_minus = sp.exp(-b**2 * (v1 + v2 + 2 * c) / 2) * sp.cos(2 * phase)
    return (c, v1, v2), a**2 / 2 * (s_plus - s_minus), a**2 * b**2 / 2 * (s_plus + s_minus)


def _abc(args):
    from ..symbolic import const
    return const(args["a"]), const(args["b"]), const(args["c"])


_ABC = (Param("a", "float", 1.0, doc="output scale"), Param("b", "float", 1.0, doc="input scale"),
        Param("c", "float", 0.0, doc="phase"))

register_activation(
    "Sin", _ABC,
    lambda c, v1, v2, args: _sin_pair(c, v1, v2, args["a"], args["b"], args["c"]),
    lambda x, args: args["a"] * jnp.sin(args["b"] * x + args["c"]),
    doc="a·sin(b·x + c): Σ' = a²/2·(s₊ − cos 2c·s₋), s± = exp(−b²(Σ₁₁+Σ₂₂∓2Σ₁₂)/2)",
    symbolic=lambda args: _sin_symbolic(*_abc(args)))


def _cos_symbolic(args):
    import sympy as sp
    a, b, phase = _abc(args)
    return _sin_symbolic(a, b, phase + sp.pi / 2)


register_activation(
    "Cos", _ABC,
    lambda c, v1, v2, args: _sin_pair(c, v1, v2, args["a"], args["b"], args["c"] + math.pi / 2),
    lambda x, args: args["a"] * jnp.cos(args["b"] * x + args["c"]),
    doc="a·cos(b·x + c): Sin(a, b, c + π/2), Σ' = a²/2·(s₊ + cos 2c·s₋)",
    symbolic=_cos_symbolic)


def _rbf_pair(c, v1, v2, args):
    gamma = args["gamma"]
    sigma = jnp.exp(-gamma * (v1 + v2 - 2 * c))
    return sigma, 2 * gamma * sigma


def _rbf_symbolic(args):
    import sympy as sp
    from ..symbolic import const
    c, v1, v2 = sp.symbols("Sigma_12 Sigma_11 Sigma_22", real=True)
    gamma = const(args["gamma"])
    sigma = sp.exp(-gamma * (v1 + v2 - 2 * c))
    return (c, v1, v2), sigma, 2 * gamma * sigma


register_activation(
    "Rbf", (Param("gamma", "float", 1.0, low=0.0, doc="1/(2·length²)"),), _rbf_pair,
    lambda x, args: math.sqrt(2) * jnp.sin(math.sqrt(2 * args["gamma"]) * x + math.pi / 4),
    doc="√2·sin(√(2γ)x + π/4): Σ' = exp(−γ(Σ₁₁ + Σ₂₂ − 2Σ₁₂)), Σ̇ = 2γΣ'",
    symbolic=_rbf_symbolic)
