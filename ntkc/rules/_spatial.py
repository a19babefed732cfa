"""Window arithmetic shared by Conv and AvgPool (kernel and finite forms)."""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax

from ..registry import ShapeError
from ..state import materialise


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
    SAME/VALID; CIRCULAR pads like SAME but with the input's values repeated
    periodically (``jnp.pad(mode="wrap")``, as stax's CIRCULAR)."""
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
            # "circular" pads the same amounts with the input repeated
            # periodically (numpy's and stax's wrap): a pad of any size is one
            # more period, so a window wider than the input is not an error.
            total = max((o - 1) * s + k - n, 0)
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


def window_sum(a, axes, size: int, window: int, stride: int, pads, out: int, circular: bool):
    """Σ over offsets o < window of ``a`` at position stride·i + o − pads[0],
    i < out, on every axis in ``axes`` at once (the same offset on each: a Conv
    moves both positions of a pair together), zero outside [0, size) or
    wrapped around when ``circular``.

    One axis (group) at a time, a k×k window costs 2k shifted adds, not k².
    Zero padding is never materialised: each offset's in-range part is sliced
    and padded back with zeros, which XLA fuses into the sum."""
    lo, hi = pads
    if circular:
        a = pad_axes(a, axes, [pads] * len(axes), circular=True)
        lo, size = 0, size + lo + hi
    total = None
    for o in range(window):
        first = max(0, -((o - lo) // stride))                 # ⌈(lo − o)/stride⌉
        stop = min(out, (size - 1 - o + lo) // stride + 1)
        if stop <= first:
            continue
        start = stride * first + o - lo
        begin, limit, steps = [0] * a.ndim, list(a.shape), [1] * a.ndim
        widths = [(0, 0, 0)] * a.ndim
        for ax in axes:
            begin[ax], limit[ax], steps[ax] = start, start + (stop - first - 1) * stride + 1, stride
            widths[ax] = (first, out - stop, 0)
        piece = lax.pad(lax.slice(a, begin, limit, steps), jnp.zeros((), a.dtype), widths)
        total = piece if total is None else total + piece
    return total


def window_mean(a, groups, window, stride, pads, out, circular: bool):
    """Mean over a window per group of axes (``window_sum`` on each group in
    turn, the i-th group with the i-th window, stride, pads and output size),
    padding counted in the mean, as stax does."""
    size = 1
    for i, axes in enumerate(groups):
        if i:
            a = materialise(a)  # else each shift of this group recomputes the last sum
        a = window_sum(a, axes, a.shape[axes[0]], window[i], stride[i], pads[i], out[i],
                       circular)
        size *= window[i]
    return a / size
