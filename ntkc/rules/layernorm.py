"""LayerNorm: normalise each position's channels, as stax.LayerNorm() (axis
−1, eps = 1e-12): y = (x − mean_c x)/√(var_c x + eps).

At infinite width the channels of a Gaussian input (a weight layer's output,
possibly pooled, aggregated or summed) are i.i.d. with mean 0 and variance
Σ(x, x) at each position — the bias included, since each channel draws its
own — so the channel mean vanishes and the channel variance is Σ(x, x):

    Σ'(x, x') = Σ(x, x')/√((Σ(x, x) + eps)(Σ(x', x') + eps)),  Θ' likewise,

per position pair, with the variances of the pair's two positions. The output
is still Gaussian (a fixed rescaling), so an activation may follow. On a
non-Gaussian input (raw data, an activation's output) the channel mean does
not vanish and this rule would be wrong: the checker rejects that, as stax
does.
"""

import jax.numpy as jnp

from ..registry import LayerRule, Param, register

EPS = 1e-12


def _scale(state, which, eps):
    v1, v2 = state.pair_variances(which)
    return 1 / jnp.sqrt((v1 + eps) * (v2 + eps))


def kernel(state, args, in_shape):
    out = {}
    for which, a in (("cov1", state.cov1), ("cov2", state.cov2), ("cross", state.nngp)):
        if which == "cov2" and state.same:
            continue
        out[which] = a * _scale(state, which, args["eps"])
    cov1 = out["cov1"]
    cov2 = cov1 if state.same else out["cov2"]
    ntk = None if state.ntk is None else state.ntk * _scale(state, "cross", args["eps"])
    return state.replace(nngp=out["cross"], ntk=ntk, cov1=cov1, cov2=cov2)


def apply(params, x, args, ctx):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + args["eps"])


def symbolic(args, in_shape):
    import sympy as sp
    from ..symbolic import C, OUT, T, V1, V2, Pointwise
    eps = sp.Float(args["eps"])
    norm = sp.sqrt((V1 + eps) * (V2 + eps))
    return Pointwise(sigma=C / norm, theta=T / norm)


register(LayerRule(
    name="LayerNorm",
    params=(Param("eps", "float", EPS, low=0.0, doc="added to the channel variance, as stax's eps"),),
    shape=lambda s, args: s, kernel=kernel, apply=apply,
    symbolic=symbolic, theta_at_zero="zero", positionwise=True,
    # parameter-free and keeps a Gaussian input Gaussian, but only valid on one
    needs_gaussian=True,
    doc="channels normalised per position: Σ' = Σ₁₂/√((Σ₁₁+ε)(Σ₂₂+ε)), Θ' = Θ/√((Σ₁₁+ε)(Σ₂₂+ε))",
))
