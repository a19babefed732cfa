"""The two parameterizations of Dense and Conv, as neural-tangents' stax has
them (``parameterization="ntk"`` or ``"standard"``).

NTK: weights ω, β ~ N(0, 1) are the trained parameters and the layer computes
``W_std/√F · ω x + b_std · β`` (F the fan-in): Θ' = Σ' + W_std²·T(Θ).

Standard (Sohl-Dickstein et al. 2020, "On the infinite width limit of neural
networks with a standard parameterization"): the trained parameters are
W ~ N(0, W_std²/N) and b ~ N(0, b_std²), N the layer's fan-in as the net
declares it (``width=`` of the layers before, times the window for Conv).
The layer's Σ' is the NTK one, but each weight's gradient is no longer
scaled by W_std/√N, so its NTK term is the fan-in times the (window-averaged)
input covariance, and a bias adds 1 whatever b_std is (0 included):

    Θ' = N·T(Σ) + W_std²·T(Θ) + [bias],

T the layer's linear map on covariances (identity for Dense, the windowed
mean for Conv). This is stax's ``kernel_fn`` with ``s = (1, 1)``: the kernel
depends on the declared widths, so a standard layer needs its input's width
(:attr:`~ntkc.shapes.Shape.width`).

The finite network runs at any width c ≥ N (stax's width scaling s = c/N,
``apply`` divides by √s): it stores ω, β ~ N(0, 1) like every layer (the
Monte Carlo draws all parameters so) and forms W = (W_std/√N)·ω and
b = b_std·β as the trained parameters, whose gradients the empirical NTK
sums: ``trained(ω, W_std/√N)`` has the value of W and the derivative of W.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..registry import Param, ShapeError

PARAMETERIZATIONS = ("ntk", "standard")


def params():
    """The arguments Dense and Conv share besides their stds."""
    return (Param("width", "int", None, low=1, positional=False,
                  doc="finite output width (stax's out_dim / out_chan); read by a "
                      "standard-parameterized layer after it"),
            Param("parameterization", "str", "ntk", choices=PARAMETERIZATIONS,
                  positional=False, ignore_case=True),
            Param("bias", "bool", True, positional=False,
                  doc="has a bias (false is stax's b_std=None)"))


def standard(args) -> bool:
    return args["parameterization"] == "standard"


def check(s, args, layer):
    """The output shape's width; refuses what has no stax meaning."""
    if not args["bias"] and args["b_std"] != 0:
        raise ShapeError(f"{layer} has bias=false but b_std={args['b_std']:g}; a layer "
                         f"without a bias has no b_std")
    if standard(args) and s.width is None:
        raise ShapeError(f'{layer}(parameterization="standard") needs the width of its input '
                         f"(its NTK term is fan-in × Σ): give the weight layer before it "
                         f"width=… (stax's out_dim)")
    return args["width"]


def theta_at_zero(args):
    # At Θ = 0 the NTK layer's Θ' is Σ'; the standard one's is N·T(Σ) + bias.
    return None if standard(args) else "nngp"


def kernel(state, args, fan_in, linear):
    """(Σ', Θ') of a weight layer whose linear map on covariances is
    ``linear(array, which)`` (``which`` as for ``State.map``)
    and whose declared fan-in is ``fan_in`` (standard only)."""
    w2 = args["W_std"] ** 2
    b2 = args["b_std"] ** 2 if args["bias"] else 0.0
    new = state.map(lambda a, which: w2 * linear(a, which) + b2, ntk=False)
    if state.ntk is None:
        return new
    if not standard(args):
        return new.replace(ntk=w2 * linear(state.ntk, "cross") + new.nngp)
    extra = 1.0 if args["bias"] else 0.0
    return new.replace(ntk=fan_in * linear(state.nngp, "cross") + w2 * linear(state.ntk, "cross")
                       + extra)


def trained(leaf, scale):
    """``scale·leaf`` as a value, with derivative 1 in ``leaf``: the trained
    parameter of a standard layer, stored in units of its initial spread."""
    fixed = jax.lax.stop_gradient(leaf)
    return scale * fixed + (leaf - fixed)


def forward(params, args, c_fan_in, window, product):
    """The finite layer: ``product(W)`` is the unscaled W·x (a matmul or a
    convolution), ``c_fan_in`` the channels·window it sums over, ``window``
    the window size (1 for Dense)."""
    w_std, b_std = args["W_std"], args["b_std"]
    if standard(args):
        n = args["in_width"] * window
        y = jnp.sqrt(n / c_fan_in) * product(trained(params["W"], w_std / jnp.sqrt(n)))
        return y + trained(params["b"], b_std) if args["bias"] else y
    y = (w_std / jnp.sqrt(c_fan_in)) * product(params["W"])
    return y + b_std * params["b"] if args["bias"] else y
