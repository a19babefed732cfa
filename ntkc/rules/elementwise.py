"""Elementwise(fn="NAME", deg=None): any listed elementwise function, its
kernel by numerical integration (stax.ElementwiseNumerical's role).

Σ' = E[φ(u)φ(v)] and Σ̇ = E[φ'(u)φ'(v)] over (u, v) ~ N(0, [[Σ₁₁, Σ₁₂],
[Σ₁₂, Σ₂₂]]), with φ' from JAX's derivative of φ, by the polar Gauss
quadrature of ``_quadrature.py``: ``deg`` nodes on each of the two angle
pieces and ``deg`` radial nodes, 4·deg² products per pair (2·deg² for odd or
even φ).

The default degree is per function: the smallest even degree whose Σ' and Σ̇
are both within 1e-5 of their Cauchy–Schwarz scale √(E φ(u)² E φ(v)²) for
every correlation and pre-activation variances from 0.1 to 10 (exp: to 3,
beyond which E[e^u e^v] itself is astronomically large), measured against an
independent numpy integration (tests/test_activations.py checks it, slow
mark). At the variances of a typical network (≈ 1–3) the error is far lower:
1e-9 on the stax tanh golden. Σ̇ of saturating functions (tanh, erf) sets
their degree: φ' is a bump of width ~1/√Σ₁₁ that the radial rule must resolve.
"""

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

from ..registry import Param, ShapeError
from ._activation import register_activation
from ._quadrature import pair_expectations

# name: (φ, parity (+1 even, −1 odd, 0 neither), default degree)
FUNCTIONS = {
    "tanh": (jnp.tanh, -1, 20),
    "sigmoid": (jax.nn.sigmoid, 0, 14),
    "softplus": (jax.nn.softplus, 0, 10),
    "silu": (jax.nn.silu, 0, 12),
    "elu": (jax.nn.elu, 0, 12),
    "selu": (jax.nn.selu, 0, 12),
    "gelu_tanh": (lambda x: jax.nn.gelu(x, approximate=True), 0, 16),
    "sin": (jnp.sin, -1, 18),
    "cos": (jnp.cos, 1, 18),
    "exp": (jnp.exp, 0, 18),
    "erf": (erf, -1, 22),
    "relu": (jax.nn.relu, 0, 8),
    "abs": (jnp.abs, 1, 8),
}


def degree(args) -> int:
    return FUNCTIONS[args["fn"]][2] if args["deg"] is None else args["deg"]


MAX_DEG = 200  # 4·200² products per pair; far beyond convergence for every listed φ


def check(args):
    if args["deg"] is not None and args["deg"] > MAX_DEG:
        raise ShapeError(f"deg of Elementwise must be at most {MAX_DEG}, not {args['deg']} "
                         f"(the default degree is already converged; see docs/activations.md)")


def pair(c, v1, v2, args):
    f, parity, _ = FUNCTIONS[args["fn"]]
    return pair_expectations(f, c, v1, v2, degree(args), parity)


def fn(x, args):
    return FUNCTIONS[args["fn"]][0](x)


RULE = register_activation(
    "Elementwise",
    (Param("fn", "str", choices=tuple(FUNCTIONS), doc="the function's name"),
     Param("deg", "int", None, low=1, doc="quadrature nodes per axis (default: per function)")),
    pair, fn, symbolic=None, check=check,
    # No closed form: ``explain`` shows Σ' as the Gaussian expectation of this φ.
    function=lambda args: args["fn"],
    doc="any listed φ: Σ' = E[φ(u)φ(v)], Σ̇ = E[φ'(u)φ'(v)] by polar Gauss quadrature")
