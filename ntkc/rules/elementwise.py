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


#: The kernel is accurate to this fraction of its Cauchy–Schwarz scale or refused.
TOLERANCE = 1e-4


def coarse(deg: int) -> int:
    """The degree of the rule the answer is compared with: three quarters."""
    return max(deg - -(-deg // 4), 1)


def estimate(c, v1, v2, args):
    """(Σ', Σ̇) at ``deg`` and, as their error estimates, their distances to
    the rule of degree ``coarse(deg)``. While the quadrature converges
    (geometrically in the degree) that distance is the coarse rule's error, an
    overestimate of the answer's; where it has not converged the two rules
    disagree by about their errors, which are large."""
    f, parity, _ = FUNCTIONS[args["fn"]]
    n = degree(args)
    sigma, dot = pair_expectations(f, c, v1, v2, n, parity)
    sigma_c, dot_c = pair_expectations(f, c, v1, v2, coarse(n), parity)
    return sigma, dot, jnp.abs(sigma - sigma_c), jnp.abs(dot - dot_c)


# Positively homogeneous φ (φ(a·x) = a·φ(x), a > 0): the rule is exact on its
# angle pieces at every variance, so only the estimate applies.
HOMOGENEOUS = {"relu", "abs"}


def trusted(deg: int) -> float:
    """The largest pre-activation variance at which the error estimate is
    trusted. The other φ have a feature at |u| ≲ 1 (a kink, a saturating
    step, the bump of φ'), which in the standardised variables is 1/√V wide
    around the axes; the rule's nodes come only ~1/deg close to those (its
    smallest radial node, its first Legendre node in each angle piece), so
    beyond V ≈ (deg/4)² both degrees can miss the feature alike and agree
    while both are wrong (tests/test_quadrature.py finds such pairs)."""
    return (deg / 4) ** 2


# The closed-form layer that computes the same kernel exactly, where there is one.
EXACT = {"sin": "Sin", "cos": "Cos", "erf": "Erf", "relu": "Relu", "abs": "Abs"}


def describe(error: float, variance: float, args) -> str | None:
    fn, n = args["fn"], degree(args)
    beyond = fn not in HOMOGENEOUS and variance > trusted(n)
    if error <= TOLERANCE and not beyond:
        return None
    if beyond:
        shown = f"not to be trusted beyond variance {trusted(n):g} at deg {n}"
    else:
        shown = "not finite" if error == float("inf") else f"{error:.1e} of its scale"
    advice = [f'the closed form {EXACT[fn]}' if fn in EXACT else None,
              f"a higher deg (now {n}, at most {MAX_DEG})" if n < MAX_DEG else None,
              "smaller weights before it"]
    return (f"is not accurate at the pre-activation variances it meets here (up to "
            f"{variance:.3g}): its quadrature's error estimate is {shown}, over the "
            f"tolerance {TOLERANCE:g}; use " + ", ".join(a for a in advice if a))


def fn(x, args):
    return FUNCTIONS[args["fn"]][0](x)


RULE = register_activation(
    "Elementwise",
    (Param("fn", "str", choices=tuple(FUNCTIONS), doc="the function's name"),
     Param("deg", "int", None, low=1, doc="quadrature nodes per axis (default: per function)")),
    pair, fn, symbolic=None, check=check, estimate=estimate, describe=describe,
    # No closed form: ``explain`` shows Σ' as the Gaussian expectation of this φ.
    function=lambda args: args["fn"],
    doc="any listed φ: Σ' = E[φ(u)φ(v)], Σ̇ = E[φ'(u)φ'(v)] by polar Gauss quadrature")
