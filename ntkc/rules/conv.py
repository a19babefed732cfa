"""Conv over the spatial axes of sequences and images (stax.Conv; NTK or
standard parameterization, see ``_parameterization``).

Σ'(p, q) = W_std² · mean_{k ∈ window} Σ(s·p + k, s·q + k) + b_std² — the same
offset k on both sides of a position pair, zero (or wrapped) padding counted
in the mean — and Θ'(p, q) = Σ'(p, q) + W_std² · mean_k Θ(s·p + k, s·q + k).
With only same-position pairs kept (after demand analysis) the rule is the
same windowed mean on the diagonal.
"""

import math

import jax
from jax import lax

from ..registry import LayerRule, Param, ShapeError, register
from ..state import materialise
from . import _parameterization as pz
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
    return s.with_spatial(out).with_width(pz.check(s, args, "Conv"))


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

    def conv(a, which):
        paired = not state.pairs_diag(which)
        return _window_mean(a, d, window, stride, out, pads, circular, paired)

    fan_in = None if in_shape.width is None else in_shape.width * math.prod(window)
    return pz.kernel(state, args, fan_in, conv)


def symbolic(args, in_shape):
    """For ``explain``: W_std² times the tied windowed mean, plus b_std²."""
    from ..symbolic import Affine, Window, const
    window, stride, out, pads = _plan(in_shape, args)
    linear = Window(window, stride, tuple(lo for lo, _ in pads), tuple(in_shape.spatial),
                    circular=args["padding"] == "circular", tied=True)
    b2 = const(args["b_std"]) ** 2 if args["bias"] else 0
    if pz.standard(args):
        return Affine(const(args["W_std"]) ** 2, b2, weight=True, linear=linear,
                      fan_in=in_shape.width * math.prod(window), trained_bias=args["bias"])
    return Affine(const(args["W_std"]) ** 2, b2, weight=True, linear=linear)


def init(key, c_in, c_out, args, nspatial):
    window = per_axis(args["kernel"], nspatial, "kernel")
    kw, kb = jax.random.split(key)
    params = {"W": jax.random.normal(kw, window + (c_in, c_out))}
    if args["bias"]:
        params["b"] = jax.random.normal(kb, (c_out,))
    return params


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
    return pz.forward(params, args, fan_in, math.prod(window),
                      lambda w: lax.conv_general_dilated(x, w, stride, padding,
                                                         dimension_numbers=dims))


register(LayerRule(
    name="Conv",
    params=(Param("kernel", "ints", low=1, doc="window size, an int or one per spatial axis",
                  positional=False),
            Param("stride", "ints", 1, low=1, positional=False),
            Param("padding", "str", "same", choices=("same", "valid", "circular"),
                  positional=False, ignore_case=True),
            Param("W_std", "float", 1.0, low=0.0, positional=False),
            Param("b_std", "float", 0.0, low=0.0, positional=False)) + pz.params(),
    shape=shape, kernel=kernel, init=init, apply=apply, symbolic=symbolic,
    theta_at_zero=pz.theta_at_zero, fresh=True, gaussian_out="always", writes_width=True,
    reads_width=True, self_pairs="tied",
    doc="convolution: Σ'(p,q) = W_std²·mean_k Σ(p+k, q+k) + b_std² (standard: "
        "Θ' = N·|k|·mean_k Σ + W_std²·mean_k Θ + 1)",
))
