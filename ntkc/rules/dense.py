"""Dense: fully connected over the channel axis, at every position.

Σ' = W_std²·Σ + b_std²,  Θ' = Σ' + W_std²·Θ.
"""

import jax
import jax.numpy as jnp

from ..registry import LayerRule, Param, register


def shape(s, args):
    return s


def kernel(state, args, in_shape):
    w2, b2 = args["W_std"] ** 2, args["b_std"] ** 2
    new = state.map(lambda a, which: w2 * a + b2, ntk=False)
    if state.ntk is None:
        return new
    return new.replace(ntk=w2 * state.ntk + new.nngp)


def symbolic(args, in_shape):
    """For ``explain``: Σ' = W_std²·Σ + b_std², Θ' = Σ' + W_std²·Θ per position pair."""
    from ..symbolic import Affine, const
    return Affine(const(args["W_std"]) ** 2, const(args["b_std"]) ** 2, weight=True)


def init(key, c_in, c_out, args, nspatial):
    kw, kb = jax.random.split(key)
    return {"W": jax.random.normal(kw, (c_in, c_out)), "b": jax.random.normal(kb, (c_out,))}


def apply(params, x, args, ctx):
    c_in = x.shape[-1]
    return (args["W_std"] / jnp.sqrt(c_in)) * (x @ params["W"]) + args["b_std"] * params["b"]


register(LayerRule(
    name="Dense",
    params=(Param("W_std", "float", 1.0, low=0.0, doc="weight standard deviation",
                  positional=False),
            Param("b_std", "float", 0.0, low=0.0, doc="bias standard deviation",
                  positional=False)),
    shape=shape, kernel=kernel, init=init, apply=apply, symbolic=symbolic,
    theta_at_zero="nngp", fresh=True, gaussian_out="always", writes_width=True, positionwise=True,
    self_pairs="tied",
    doc="fully connected over channels: Σ' = W_std²Σ + b_std², Θ' = Σ' + W_std²Θ",
))
