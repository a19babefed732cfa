"""How an elementwise activation acts on a kernel state.

An activation φ is given by one function ``pair(c, v1, v2, args) -> (Σ', Σ̇)``
of the 2×2 covariance [[v1, c], [c, v2]] of a pre-activation pair (u, v):
Σ' = E[φ(u)φ(v)] and Σ̇ = E[φ'(u)φ'(v)]. The rule applies it to every
position pair of the state and sets Θ' = Σ̇ ⊙ Θ; the variances of the
self-covariances go through the same function, so the next activation sees
exactly the variances this one produced.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .. import accuracy
from ..registry import ActivationRule, register


def tiny(x):
    """The smallest variance treated as nonzero, in x's precision."""
    return jnp.finfo(x.dtype).tiny ** 0.5


@jax.custom_jvp
def safe_sqrt(x):
    """√x for x ≥ 0, whose derivative at x = 0 is taken as 0 instead of ∞.

    At cos θ = ±1 (every self-covariance, and the Gram's diagonal)
    sin θ = √(1 − cos²θ) and arccos have infinite derivatives in cos θ, but
    in each Σ' they enter as sin' + (π − θ)'·cos θ and the like, which cancel
    exactly (−cos/sin + cos/sin): Σ̇ = ∂Σ'/∂Σ₁₂ is finite. Taking both as 0
    there keeps that sum, and keeps 0·∞ = NaN out of ``jax.grad``."""
    return jnp.sqrt(x)


@safe_sqrt.defjvp
def _safe_sqrt_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    y = jnp.sqrt(x)
    pos = x > 0
    return y, jnp.where(pos, t / (2 * jnp.where(pos, y, 1.0)), 0.0)


def cosine(c, v1, v2):
    """c / √(v1·v2) clipped to [-1, 1], and the norm product √(v1·v2); both 0
    where a variance is below ``tiny``.

    The square roots are taken per side, on the small per-example arrays, so a
    pair-sized array sees a multiply and one division, not a square root. Where
    v1 = v2 the norm is v1 itself, as √(v·v) would give: an input paired with
    itself (the Gram's diagonal) keeps cos = 1 exactly, which √v1·√v2 (off by
    an ulp) would not, and arccos near 1 magnifies an ulp into √ulp."""
    def side(v):
        ok = v > tiny(c)
        return jnp.where(ok, jnp.sqrt(jnp.where(ok, v, 1.0)), 0.0)

    root1 = side(v1)
    root2 = root1 if v2 is v1 else side(v2)
    norm = _norm(v1, v2, root1, root2)
    ok = norm > 0
    return jnp.clip(jnp.where(ok, c / jnp.where(ok, norm, 1.0), 0.0), -1.0, 1.0), norm


@jax.custom_jvp
def _norm(v1, v2, root1, root2):
    return jnp.where(v1 == v2, jnp.where(root1 > 0, v1, 0.0), root1 * root2)


@_norm.defjvp
def _norm_jvp(primals, tangents):
    """The derivative of √(v1·v2), (v2·dv1 + v1·dv2)/(2√(v1·v2)), also where
    two distinct variances happen to be equal (inputs on one sphere), which
    the shortcut ``v1`` for the value alone would get wrong (dv1, not ½ each)."""
    v1, v2, root1, root2 = primals
    t1, t2 = tangents[:2]
    norm = _norm(v1, v2, root1, root2)
    ok = norm > 0
    return norm, jnp.where(ok, (v2 * t1 + v1 * t2) / (2 * jnp.where(ok, norm, 1.0)), 0.0)


def make_kernel(pair, describe=None):
    """The state rule of ``pair``. With ``describe``, ``pair`` is approximate
    and returns (Σ', Σ̇, error of Σ', error of Σ̇): each error is taken
    relative to its Cauchy–Schwarz scale √(E φ(u)²·E φ(v)²) (resp. with φ'),
    the worst over every pair becomes one run-time check (``ntkc.accuracy``),
    reported with the largest input variance, and ``describe`` turns those two
    numbers into the refusal's message, or None."""
    def kernel(state, args, in_shape):
        out = {}
        for which, a in (("cov1", state.cov1), ("cov2", state.cov2), ("cross", state.nngp)):
            if which == "cov2" and state.same:
                continue
            v1, v2 = state.pair_variances(which)
            out[which] = pair(a, v1, v2, args)
        cov1 = out["cov1"][0]
        cov2 = cov1 if state.same else out["cov2"][0]
        sigma, dot = out["cross"][:2]
        ntk = None if state.ntk is None else dot * state.ntk
        new = state.replace(nngp=sigma, ntk=ntk, cov1=cov1, cov2=cov2)
        if describe is not None:
            _report_error(state, new, out, args, describe)
        return new
    return kernel


def _report_error(state, new, out, args, describe):
    # E φ'(u)² per position: the Σ̇ of the self-covariances, laid out as a state
    dots = new.replace(cov1=out["cov1"][1], cov2=out["cov1" if state.same else "cov2"][1])
    worst = []
    for which, res in out.items():
        for k, scales in ((0, new), (1, dots)):
            s1, s2 = scales.pair_variances(which)
            scale = jnp.sqrt(jnp.abs(s1 * s2))
            err = res[2 + k] / (scale + jnp.finfo(scale.dtype).tiny)
            # an overflowed or NaN kernel is as wrong as it gets
            bad = ~(jnp.isfinite(res[k]) & jnp.isfinite(scale))
            worst.append(jnp.max(jnp.where(bad, jnp.inf, err)))
    variance = jnp.maximum(jnp.max(state.variances(1)), jnp.max(state.variances(2)))
    accuracy.report(jnp.stack([jnp.max(jnp.stack(worst)), variance]),
                    lambda v: describe(float(v[0]), float(v[1]), args))


def shape(s, args):
    return s


def register_activation(name, params, pair, fn, doc, symbolic=None, check=None, function=None,
                        estimate=None, describe=None):
    """Register an activation from its pair rule and its pointwise function.
    ``check(args)``, if given, may raise ShapeError to reject arguments that
    the schema alone cannot (the checker adds the layer's position);
    ``function(args)`` names φ for ``explain`` when there is no ``symbolic``.
    An approximate rule also gives ``estimate``, the pair rule with its error
    estimates, which the kernel then uses, and ``describe`` (see ``make_kernel``)."""
    def checked_shape(s, args):
        if check is not None:
            check(args)
        return s

    return register(ActivationRule(
        name=name, params=tuple(params), shape=checked_shape,
        kernel=make_kernel(estimate or pair, describe),
        apply=lambda p, x, args, ctx: fn(x, args), doc=doc,
        symbolic=symbolic, pair=pair, fn=fn, function=function,
    ))
