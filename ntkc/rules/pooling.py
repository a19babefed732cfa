"""Readouts and pooling: GlobalAvgPool, GlobalSumPool, Flatten, AvgPool.

Global pools need every position pair (Σ' = mean or sum over all (p, q));
Flatten needs only same-position pairs (Σ' = mean_p Σ(p, p)), which is what
makes ``Conv … Flatten`` cheap; AvgPool averages each side of a pair over its
window independently, as ``stax.AvgPool`` (zero padding counted).
"""

import jax.numpy as jnp
from jax import lax

from ..registry import LayerRule, Param, ShapeError, register
from ..shapes import VECTOR
from ..state import materialise
from ._spatial import per_axis, window_mean, window_plan


def _needs_spatial(name):
    def shape(s, args):
        if s.kind == "vector":
            raise ShapeError(f"{name} needs spatial positions or nodes, but its input is a vector")
        return VECTOR.with_width(s.width)
    return shape


def _full(args, out_diag):
    return False


def _node_weights(state, which):
    """Per-pair mask weights (m1 ⊗ m2) for graph states, None for images."""
    if state.graphs1 is None:
        return None
    m1 = state.graphs1.mask
    m2 = m1 if state.same else state.graphs2.mask
    if which == "cross":
        return m1[:, None, :, None] * m2[None, :, None, :], m1.sum(-1)[:, None] * m2.sum(-1)[None, :]
    m = m1 if which == "cov1" else m2
    return m[:, :, None] * m[:, None, :], m.sum(-1) ** 2


def _global_pool(mean: bool):
    def kernel(state, args, in_shape):
        d = state.nspatial
        axes_of = lambda a: tuple(range(a.ndim - 2 * d, a.ndim))

        def pool(a, which):
            def reduce(a):
                w = _node_weights(state, which)
                if w is None:
                    return a.mean(axes_of(a)) if mean else a.sum(axes_of(a))
                weights, count = w
                total = (a * weights).sum(axes_of(a))
                return total / jnp.where(count > 0, count, 1) if mean else total
            # The pair array is reduced from memory: fused with its producer, XLA:CPU's
            # reduction fusion materialises every broadcast constant of that producer
            # (an activation's) as a full pair-sized array instead.
            return materialise(a, reduce) if which == "cross" else reduce(a)

        return state.map(pool).replace(nspatial=0, diag=True)
    return kernel


def _global_joint(mean: bool):
    def joint(state, args, in_shape):
        """On the joint node-pair layout: a segment sum over each graph's nodes."""
        from ..graphjoint import pool
        return pool(state, mean)
    return joint


def _global_symbolic(mean: bool):
    def symbolic(args, in_shape):
        """For ``explain``: the sum (mean) over every position or node pair."""
        from ..symbolic import Affine, PoolAll
        return Affine(1, 0, weight=False, linear=PoolAll(mean))
    return symbolic


def _global_apply(mean: bool):
    def apply(params, x, args, ctx):
        axes = tuple(range(1, x.ndim - 1))
        if ctx.get("mask") is None:
            return x.mean(axes) if mean else x.sum(axes)
        m = ctx["mask"][..., None]
        total = (x * m).sum(1)
        return total / jnp.maximum(m.sum(1), 1) if mean else total
    return apply


register(LayerRule(
    name="GlobalAvgPool", params=(), shape=_needs_spatial("GlobalAvgPool"),
    kernel=_global_pool(mean=True), apply=_global_apply(mean=True), demand=_full,
    symbolic=_global_symbolic(mean=True), joint=_global_joint(mean=True),
    theta_at_zero="zero", doc="Σ' = mean over all position (node) pairs of Σ", self_pairs="pool",
))
register(LayerRule(
    name="GlobalSumPool", params=(), shape=_needs_spatial("GlobalSumPool"),
    kernel=_global_pool(mean=False), apply=_global_apply(mean=False), demand=_full,
    symbolic=_global_symbolic(mean=False), joint=_global_joint(mean=False),
    theta_at_zero="zero", doc="Σ' = sum over all position (node) pairs of Σ, padded nodes excluded",
    self_pairs="pool",
))


def _flatten_shape(s, args):
    if s.kind == "graph":
        raise ShapeError("Flatten needs a fixed number of positions; a graph's node count "
                         "varies, so read it out with GlobalSumPool or GlobalAvgPool")
    if s.kind == "vector":
        return s
    size = s.width
    for n in s.spatial:
        size = None if size is None else size * n
    return VECTOR.with_width(size)  # stax folds positions into channels: width × positions


def _flatten_kernel(state, args, in_shape):
    d = state.nspatial
    if d == 0:
        return state
    def flatten(a, which):
        mean = lambda a: a.mean(tuple(range(a.ndim - d, a.ndim)))
        return materialise(a, mean) if which == "cross" else mean(a)  # as for the global pools

    return state.map(flatten).replace(nspatial=0)


def _flatten_symbolic(args, in_shape):
    """For ``explain``: the mean over same-position pairs (nothing on a vector)."""
    from ..symbolic import Affine, Diagonal, Identity
    return Affine(1, 0, weight=False, linear=Diagonal() if in_shape.nspatial else Identity())


register(LayerRule(
    name="Flatten", params=(), shape=_flatten_shape, kernel=_flatten_kernel,
    apply=lambda p, x, args, ctx: x.reshape(x.shape[0], -1),
    demand=lambda args, out_diag: True, symbolic=_flatten_symbolic, theta_at_zero="zero",
    mixes=True,  # positions become channels with different variances
    doc="Σ' = mean_p Σ(p, p): only same-position pairs are needed",
))


def _avg_plan(s, args):
    d = s.nspatial
    window = per_axis(args["window"], d, "window")
    stride = window if args["stride"] is None else per_axis(args["stride"], d, "stride")
    out, pads = window_plan(s.spatial, window, stride, args["padding"], "AvgPool")
    return window, stride, out, pads


def _avg_shape(s, args):
    if s.kind not in ("sequence", "image"):
        raise ShapeError(f"AvgPool needs a sequence or an image, but its input is {s.with_article()}")
    return s.with_spatial(_avg_plan(s, args)[2])


def _pool_axes(a, axes, window, stride, out, pads):
    """Mean over each axis's own window (count_include_pad, as stax)."""
    return window_mean(a, [(ax,) for ax in axes], window, stride, pads, out, False)


def _avg_kernel(state, args, in_shape):
    window, stride, out, pads = _avg_plan(in_shape, args)
    d = state.nspatial

    def pool(a, which):
        lead = a.ndim - 2 * d
        # both positions of a pair, each over its own window; the input is
        # computed once, not once per shifted read
        return materialise(a, lambda a: _pool_axes(a, range(lead, lead + 2 * d), window * 2,
                                                   stride * 2, out * 2, pads * 2))

    return state.map(pool)


def _avg_symbolic(args, in_shape):
    """For ``explain``: each side of a pair averaged over its own window."""
    from ..symbolic import Affine, Window
    window, stride, out, pads = _avg_plan(in_shape, args)
    linear = Window(window, stride, tuple(lo for lo, _ in pads), tuple(in_shape.spatial),
                    circular=False, tied=False)
    return Affine(1, 0, weight=False, linear=linear)


def _avg_apply(params, x, args, ctx):
    d = x.ndim - 2
    window, stride, out, pads = _avg_plan_arrays(x, args, d)
    return _pool_axes(x, list(range(1, d + 1)), window, stride, out, pads)


def _avg_plan_arrays(x, args, d):
    from ..shapes import Shape
    return _avg_plan(Shape("image" if d == 2 else "sequence", tuple(x.shape[1:-1])), args)


register(LayerRule(
    name="AvgPool",
    params=(Param("window", "ints", low=1), Param("stride", "ints", None, low=1),
            Param("padding", "str", "valid", choices=("valid", "same"), ignore_case=True)),
    shape=_avg_shape, kernel=_avg_kernel, apply=_avg_apply, demand=_full, theta_at_zero="zero",
    symbolic=_avg_symbolic,
    doc="Σ'(p,q) = mean over the windows of p and of q of Σ, as stax.AvgPool",
))
