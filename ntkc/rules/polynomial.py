"""Polynomial activations: Polynomial(coef) = Σₙ coef[n]·xⁿ and Monomial(degree) = x^degree.

Exact Gaussian moments (Isserlis/Wick): for (u, v) ~ N(0, [[Σ₁₁, Σ₁₂], [Σ₁₂, Σ₂₂]]),

    E[uⁿ vᵐ] = Σₖ C(n,k)·C(m,k)·k!·(n−k−1)!!·(m−k−1)!!·Σ₁₂ᵏ·Σ₁₁^((n−k)/2)·Σ₂₂^((m−k)/2)

over k ≤ min(n, m) with n − k and m − k even (k cross pairs, the rest paired
within each side). Then Σ' = Σₙₘ pₙpₘ E[uⁿvᵐ] and Σ̇ the same for p'. Only
whole powers of Σ₁₂, Σ₁₁, Σ₂₂ appear, so the rule is finite everywhere (zero
inputs included) and needs no normalised cosine, unlike stax's Hermite form.
E.g. Monomial(2): Σ' = Σ₁₁Σ₂₂ + 2Σ₁₂², Σ̇ = 4Σ₁₂.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache

from ..registry import Param, ShapeError
from ._activation import register_activation


def _dfact(n: int) -> int:
    """(n)!! with (−1)!! = 1."""
    return math.prod(range(n, 0, -2)) if n > 0 else 1


def moment_terms(n: int, m: int):
    """E[uⁿvᵐ] as [(coefficient, k, i, j)] meaning coefficient·Σ₁₂ᵏΣ₁₁ⁱΣ₂₂ʲ."""
    terms = []
    for k in range(min(n, m) + 1):
        if (n - k) % 2 or (m - k) % 2:
            continue
        coef = math.comb(n, k) * math.comb(m, k) * math.factorial(k) * _dfact(n - k - 1) * _dfact(m - k - 1)
        terms.append((coef, k, (n - k) // 2, (m - k) // 2))
    return terms


@lru_cache(maxsize=None)
def kernel_terms(coef: tuple):
    """E[p(u)p(v)] for p = Σ coef[n]xⁿ, as a tuple of (coefficient, k, i, j)."""
    acc = defaultdict(float)
    for n, pn in enumerate(coef):
        for m, pm in enumerate(coef):
            if pn and pm:
                for a, k, i, j in moment_terms(n, m):
                    acc[k, i, j] += pn * pm * a
    return tuple((a, k, i, j) for (k, i, j), a in sorted(acc.items()) if a)


def derivative(coef: tuple) -> tuple:
    return tuple(n * coef[n] for n in range(1, len(coef)))


def evaluate(terms, c, v1, v2):
    total = 0.0 * c
    for a, k, i, j in terms:
        total = total + a * c**k * v1**i * v2**j
    return total


def pair_for(coef):
    terms, dterms = kernel_terms(coef), kernel_terms(derivative(coef))
    return lambda c, v1, v2: (evaluate(terms, c, v1, v2), evaluate(dterms, c, v1, v2))


def symbolic_for(coef):
    import sympy as sp
    from ..symbolic import const
    c, v1, v2 = sp.symbols("Sigma_12 Sigma_11 Sigma_22", real=True)

    def expr(coef):
        p = [const(a) for a in coef]
        total = sp.Integer(0)
        for n, m in ((n, m) for n in range(len(p)) for m in range(len(p)) if coef[n] and coef[m]):
            total += p[n] * p[m] * sum(a * c**k * v1**i * v2**j for a, k, i, j in moment_terms(n, m))
        return sp.expand(total)
    return (c, v1, v2), expr(coef), expr(derivative(coef))


def horner(coef, x):
    y = 0.0 * x
    for a in reversed(coef):
        y = y * x + a
    return y


MAX_DEGREE = 100  # beyond, E[u²ⁿ] ≥ (2n−1)!! overflows float64 for unit variances


def check_degree(what):
    def check(args):
        degree = args["degree"] if "degree" in args else len(args["coef"]) - 1
        if degree > MAX_DEGREE:
            raise ShapeError(f"{what} must be at most {MAX_DEGREE}, not {degree}: the kernel "
                             f"grows like (2n−1)!! and overflows floating point")
    return check


def _monomial(args) -> tuple:
    return (0.0,) * args["degree"] + (1.0,)


register_activation(
    "Polynomial", (Param("coef", "floats", doc="coefficients of 1, x, x², …"),),
    lambda c, v1, v2, args: pair_for(args["coef"])(c, v1, v2),
    lambda x, args: horner(args["coef"], x),
    symbolic=lambda args: symbolic_for(args["coef"]), check=check_degree("the degree of Polynomial"),
    doc="Σₙ coef[n]·xⁿ: Σ' = Σₙₘ coef[n]coef[m]·E[uⁿvᵐ] by Isserlis' theorem")

register_activation(
    "Monomial", (Param("degree", "int", low=0, doc="the power n ≥ 0"),),
    lambda c, v1, v2, args: pair_for(_monomial(args))(c, v1, v2),
    lambda x, args: x ** args["degree"],
    symbolic=lambda args: symbolic_for(_monomial(args)), check=check_degree("degree of Monomial"),
    doc="xⁿ: Σ' = E[uⁿvⁿ] = Σₖ C(n,k)²k!((n−k−1)!!)²Σ₁₂ᵏ(Σ₁₁Σ₂₂)^((n−k)/2), Σ̇ = n²·E[uⁿ⁻¹vⁿ⁻¹]")
