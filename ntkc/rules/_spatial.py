"""Window arithmetic shared by Conv and AvgPool (kernel and finite forms)."""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax

from ..registry import ShapeError


def per_axis(value, n: int, what: str) -> tuple:
    """An int or a tuple with one entry per spatial axis → a tuple of n ints."""
    if isinstance(value, int):
        return (value,) * n
    if len(value) != n:
        raise ShapeError(f"{what} has {len(value)} entries but the input has "
                         f"{n} spatial {'axes' if n != 1 else 'axis'}")
    return tuple(value)


def window_plan(sizes, window, stride, padding: str, layer: str):
    """Output sizes and (low, high) pads per axis, as lax/stax do for
    SAME/VALID; CIRCULAR pads like SAME but with wrapped values."""
    out, pads = [], []
    for n, k, s in zip(sizes, window, stride):
        if padding == "valid":
            if k > n:
                raise ShapeError(f"{layer} window {k} is larger than the input size {n} "
                                 f'with padding="valid"')
            out.append((n - k) // s + 1)
            pads.append((0, 0))
        else:
            o = math.ceil(n / s)
            total = max((o - 1) * s + k - n, 0)
            if padding == "circular" and total > n:
                raise ShapeError(f"{layer} window {k} wraps around an input of size {n} "
                                 f'more than once with padding="circular"')
            out.append(o)
            pads.append((total // 2, total - total // 2))
    return tuple(out), tuple(pads)


def pad_axes(a, axes, pads, circular: bool):
    widths = [(0, 0)] * a.ndim
    for ax, p in zip(axes, pads):
        widths[ax] = p
    if all(w == (0, 0) for w in widths):
        return a
    return jnp.pad(a, widths, mode="wrap" if circular else "constant")


def window_slices(a, axes, offsets, out, stride):
    """``a`` restricted on ``axes`` to positions offset + stride·i, i < out."""
    start = [0] * a.ndim
    limit = list(a.shape)
    strides = [1] * a.ndim
    for ax, o, n, s in zip(axes, offsets, out, stride):
        start[ax] = o
        limit[ax] = o + (n - 1) * s + 1
        strides[ax] = s
    return lax.slice(a, start, limit, strides)
