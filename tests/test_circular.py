"""Conv with padding="circular" against a numpy reference that indexes the
wrapped input explicitly (position (s·p + o − low) mod n), including pads
that wrap around more than once, as stax's CIRCULAR (jnp.pad mode="wrap")
does."""

import itertools

import numpy as np
import pytest

import ntkc


def _pads(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2


def np_circular_cnn(x, window, stride, w_conv, b_conv, w_out, b_out):
    """Σ and Θ of Conv(circular) Relu GlobalAvgPool Dense on all pairs of x (N, H, W, C)."""
    n, h, wd, c = x.shape
    (oh, lh), (ow, lw) = _pads(h, window[0], stride[0]), _pads(wd, window[1], stride[1])
    flat = x.reshape(n, h * wd, c)
    sigma0 = np.einsum("ipc,jqc->ijpq", flat, flat) / c           # (N, N, HW, HW)
    offsets = list(itertools.product(range(window[0]), range(window[1])))

    def source(a, b, o):  # input position read by output position (a, b) at offset o
        return ((stride[0] * a + o[0] - lh) % h) * wd + (stride[1] * b + o[1] - lw) % wd

    outs = list(itertools.product(range(oh), range(ow)))
    idx = np.array([[source(a, b, o) for o in offsets] for a, b in outs])   # (P, K)
    sigma = np.zeros((n, n, len(outs), len(outs)))
    for k in range(len(offsets)):
        sigma += sigma0[:, :, idx[:, k]][:, :, :, idx[:, k]]
    sigma = w_conv**2 * sigma / len(offsets) + b_conv**2
    theta = sigma.copy()                                        # Θ⁰ = 0
    var = np.einsum("iipp->ip", sigma)
    norm = np.sqrt(var[:, None, :, None] * var[None, :, None, :])
    cos = np.clip(sigma / norm, -1, 1)
    t = np.arccos(cos)
    relu = norm * (np.sin(t) + (np.pi - t) * cos) / (2 * np.pi)
    theta = theta * (np.pi - t) / (2 * np.pi)
    nngp = w_out**2 * relu.mean((2, 3)) + b_out**2
    return nngp, w_out**2 * theta.mean((2, 3)) + nngp


NET = ("input image(height={h}, width={w}, channels=2)\nnet n {{ Conv(kernel={k}, stride={s}, "
       'padding="circular", W_std=1.3, b_std=0.2) Relu GlobalAvgPool Dense(W_std=1.1, b_std=0.1) }}')


@pytest.mark.parametrize("h, w, window, stride", [
    (1, 4, (3, 3), (1, 1)),   # the height-1 image: one pad on each side is the row itself
    (4, 4, (9, 9), (1, 1)),   # pads of 4 on a size-4 axis: the input twice over
    (3, 5, (3, 2), (2, 1)),
    (2, 3, (5, 4), (2, 3)),
])
def test_circular_conv_matches_numpy(h, w, window, stride):
    x = np.random.default_rng(h * w).standard_normal((4, h, w, 2))
    kernel = ntkc.compile(NET.format(h=h, w=w, k=window, s=stride))
    nngp, ntk = kernel(x, get=("nngp", "ntk"))
    want_nngp, want_ntk = np_circular_cnn(x, window, stride, 1.3, 0.2, 1.1, 0.1)
    np.testing.assert_allclose(np.asarray(nngp), want_nngp, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(ntk), want_ntk, rtol=1e-12, atol=1e-14)


def test_height_one_wraps_to_the_row_itself():
    """On a height-1 image a circular (3, k) window reads the one row three
    times, so it is the (1, k) window exactly."""
    x = np.random.default_rng(0).standard_normal((5, 1, 4, 2))
    wide = ntkc.compile(NET.format(h=1, w=4, k=(3, 3), s=1))
    row = ntkc.compile(NET.format(h=1, w=4, k=(1, 3), s=1))
    for g in ("nngp", "ntk"):
        np.testing.assert_allclose(np.asarray(wide(x, get=g)), np.asarray(row(x, get=g)),
                                   rtol=1e-14, atol=1e-15)
