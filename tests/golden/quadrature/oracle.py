"""An independent numpy reference for E[f(u)·g(v)], (u, v) ~ N(0, [[v1, c], [c, v2]]).

Cartesian, not polar: u = a·z₁, v = b·z₁ + d·z₂ with z₁, z₂ independent
standard normals, and composite Gauss–Legendre in z₁ and z₂ on [−12, 12] with
panel edges at the kink (u = 0, resp. v = 0) and graded geometrically towards
it from 1e-7 to 12. A transition of width w in z (a saturating φ at variance V
has w ≈ 1/√V) then always has a few panels of its own size, so the same rule
resolves variances from 1e-4 to 1e4 without knowing them. Vectorised over a
batch of covariances; a panel is 16 points.

Used to make tests/golden/quadrature/*.npz (make.py) and by nothing in the
package; it shares no code with ntkc's polar quadrature.
"""

from __future__ import annotations

import numpy as np

SPAN = 12.0
_X, _W = np.polynomial.legendre.leggauss(16)
_STEPS = np.concatenate([[0.0], np.geomspace(1e-7, 2 * SPAN, 40)])


def _panels(kink):
    """Nodes (B, M) and weights (B, M) on [−SPAN, SPAN] graded towards ``kink`` (B,)."""
    kink = np.clip(kink, -SPAN, SPAN)[:, None]
    edges = np.concatenate([kink - _STEPS[::-1][None, :-1], kink + _STEPS[None, :]], axis=1)
    edges = np.clip(edges, -SPAN, SPAN)
    lo, hi = edges[:, :-1, None], edges[:, 1:, None]
    z = lo + (hi - lo) * (_X + 1) / 2
    w = (hi - lo) / 2 * _W * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)
    b = kink.shape[0]
    return z.reshape(b, -1), w.reshape(b, -1)


def expectation(f, g, c, v1, v2):
    """E[f(u)g(v)] for arrays c, v1, v2 of one shape (flattened in the loop)."""
    c, v1, v2 = (np.asarray(t, np.float64).ravel() for t in np.broadcast_arrays(c, v1, v2))
    a = np.sqrt(v1)
    b = np.where(a > 0, c / np.where(a > 0, a, 1.0), 0.0)
    d = np.sqrt(np.maximum(v2 - b * b, 0.0))
    out = np.empty(c.shape)
    z1, w1 = _panels(np.zeros(1))
    z1, w1 = z1[0], w1[0]
    for k in range(c.size):
        fu = f(a[k] * z1)                                  # (M,)
        if d[k] < 1e-300:
            inner = g(b[k] * z1)
        else:
            kink = -b[k] * z1 / d[k]                       # where v = 0, per z₁
            z2, w2 = _panels(kink)                          # (M, M')
            inner = (w2 * g(b[k] * z1[:, None] + d[k] * z2)).sum(1)
        out[k] = (w1 * fu * inner).sum()
    return out
