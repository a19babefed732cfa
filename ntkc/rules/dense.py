"""Dense: fully connected over the channel axis, at every position.

NTK parameterization: Σ' = W_std²·Σ + b_std², Θ' = Σ' + W_std²·Θ.
Standard (``parameterization="standard"``, see ``_parameterization``): the
same Σ', and Θ' = N·Σ + W_std²·Θ + 1 (N the input's width; + 1 with a bias).
"""

import jax

from ..registry import LayerRule, Param, register
from . import _parameterization as pz


def shape(s, args):
    return s.with_width(pz.check(s, args, "Dense"))


def kernel(state, args, in_shape):
    return pz.kernel(state, args, in_shape.width, lambda a, which: a)


def symbolic(args, in_shape):
    """For ``explain``: Σ' = W_std²·Σ + b_std², Θ' = Σ' + W_std²·Θ per position
    pair (standard: Θ' = N·Σ + W_std²·Θ + 1)."""
    from ..symbolic import Affine, const
    b2 = const(args["b_std"]) ** 2 if args["bias"] else 0
    if pz.standard(args):
        return Affine(const(args["W_std"]) ** 2, b2, weight=True,
                      fan_in=in_shape.width, trained_bias=args["bias"])
    return Affine(const(args["W_std"]) ** 2, b2, weight=True)


def init(key, c_in, c_out, args, nspatial):
    kw, kb = jax.random.split(key)
    params = {"W": jax.random.normal(kw, (c_in, c_out))}
    if args["bias"]:
        params["b"] = jax.random.normal(kb, (c_out,))
    return params


def apply(params, x, args, ctx):
    return pz.forward(params, args, x.shape[-1], 1, lambda w: x @ w)


register(LayerRule(
    name="Dense",
    params=(Param("W_std", "float", 1.0, low=0.0, doc="weight standard deviation",
                  positional=False),
            Param("b_std", "float", 0.0, low=0.0, doc="bias standard deviation",
                  positional=False)) + pz.params(),
    shape=shape, kernel=kernel, init=init, apply=apply, symbolic=symbolic,
    theta_at_zero=pz.theta_at_zero, fresh=True, gaussian_out="always", writes_width=True,
    positionwise=True, reads_width=True, joint="same", self_pairs="tied",
    doc="fully connected over channels: Σ' = W_std²Σ + b_std², Θ' = Σ' + W_std²Θ "
        "(standard: Θ' = N·Σ + W_std²Θ + 1)",
))
