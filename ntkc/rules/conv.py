"""Conv over the spatial axes of sequences and images (stax.Conv, NTK
parameterization).

Σ'(p, q) = W_std² · mean_{k ∈ window} Σ(s·p + k, s·q + k) + b_std² — the same
offset k on both sides of a position pair, zero (or wrapped) padding counted
in the mean — and Θ'(p, q) = Σ'(p, q) + W_std² · mean_k Θ(s·p + k, s·q + k).
With only same-position pairs kept (after demand analysis) the rule is the
same windowed mean on the diagonal.
"""

import jax
import jax.numpy as jnp
from jax import lax

from ..registry import LayerRule, Param, ShapeError, register
from ..state import materialise
from ._spatial import pad_axes, per_axis, window_mean, window_plan


def _plan(s, args):
    d = s.nspatial
    window = per_axis(args["kernel"], d, "kernel")
    stride = per_axis(args["stride"], d, "stride")
    out, pads = window_plan(s.spatial, window, stride, args["padding"], "Conv")
    return window, stride, out, pads


def shape(s, args):
    if s.kind not in ("sequence", "image"):
        raise ShapeError(f"Conv needs a sequence or an image, but its input is {s.with_article()}")
    _, _, out, _ = _plan(s, args)
    return s.with_spatial(out)


def _window_mean(a, d, window, stride, out, pads, circular, paired):
    """Mean over the window of the last d (or, paired, 2d) axes, offsets tied
    between the two positions of a pair; one spatial axis at a time."""
    lead = a.ndim - (2 * d if paired else d)
    groups = [(lead + i, lead + d + i) if paired else (lead + i,) for i in range(d)]
    # The input is computed into memory once: otherwise XLA fuses its producer
    # (an activation, say) into every shifted slice and evaluates it once per
    # offset.
    return materialise(a, lambda a: window_mean(a, groups, window, stride, pads, out, circular))


def kernel(state, args, in_shape):
    window, stride, out, pads = _plan(in_shape, args)
    d = in_shape.nspatial
    circular = args["padding"] == "circular"
    w2, b2 = args["W_std"] ** 2, args["b_std"] ** 2

    def conv(a, which):
        paired = not state.pairs_diag(which)
        return _window_mean(a, d, window, stride, out, pads, circular, paired)

    new = state.map(lambda a, which: w2 * conv(a, which) + b2, ntk=False)
    if state.ntk is None:
        return new
    return new.replace(ntk=w2 * conv(state.ntk, "cross") + new.nngp)


def symbolic(args, in_shape):
    """For ``explain``: W_std² times the tied windowed mean, plus b_std²."""
    from ..symbolic import Affine, Window, const
    window, stride, out, pads = _plan(in_shape, args)
    linear = Window(window, stride, tuple(lo for lo, _ in pads), tuple(in_shape.spatial),
                    circular=args["padding"] == "circular", tied=True)
    return Affine(const(args["W_std"]) ** 2, const(args["b_std"]) ** 2, weight=True, linear=linear)


def init(key, c_in, c_out, args, nspatial):
    window = per_axis(args["kernel"], nspatial, "kernel")
    kw, kb = jax.random.split(key)
    return {"W": jax.random.normal(kw, window + (c_in, c_out)),
            "b": jax.random.normal(kb, (c_out,))}


def apply(params, x, args, ctx):
    d = x.ndim - 2
    window = params["W"].shape[:d]
    stride = per_axis(args["stride"], d, "stride")
    fan_in = x.shape[-1]
    for k in window:
        fan_in *= k
    spatial = "HWD"[:d]
    dims = ("N" + spatial + "C", spatial + "IO", "N" + spatial + "C")
    if args["padding"] == "circular":
        _, pads = window_plan(x.shape[1:-1], window, stride, "same", "Conv")
        x = pad_axes(x, range(1, d + 1), pads, circular=True)
        padding = "VALID"
    else:
        padding = args["padding"].upper()
    y = lax.conv_general_dilated(x, params["W"], stride, padding, dimension_numbers=dims)
    return (args["W_std"] / jnp.sqrt(fan_in)) * y + args["b_std"] * params["b"]


register(LayerRule(
    name="Conv",
    params=(Param("kernel", "ints", low=1, doc="window size, an int or one per spatial axis",
                  positional=False),
            Param("stride", "ints", 1, low=1, positional=False),
            Param("padding", "str", "same", choices=("same", "valid", "circular"),
                  positional=False, ignore_case=True),
            Param("W_std", "float", 1.0, low=0.0, positional=False),
            Param("b_std", "float", 0.0, low=0.0, positional=False)),
    shape=shape, kernel=kernel, init=init, apply=apply, symbolic=symbolic,
    theta_at_zero="nngp", fresh=True, gaussian_out="always", writes_width=True,
    self_pairs="tied",
    doc="convolution: Σ'(p,q) = W_std²·mean_k Σ(p+k, q+k) + b_std²",
))
