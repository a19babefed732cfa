"""Make grid.npz: E[φ(u)φ(v)] and E[φ'(u)φ'(v)] by oracle.py on a grid of
covariances with variances 1e-4 … 1e4, for the Elementwise functions that
have no closed form (the others are tested against their formulas).

    .venv/bin/python tests/golden/quadrature/make.py      # ~2 minutes

The grid: variances 10^k, k = −4 … 4, for v1 and v2 at most a decade apart,
and correlations −1, −0.9, 0, 0.5, 0.99, 1.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from scipy.special import expit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from oracle import expectation  # noqa: E402

SELU_L, SELU_A = 1.0507009873554804934, 1.6732632423543772848
GELU_K = math.sqrt(2 / math.pi)


def _gelu_tanh(x):
    t = np.tanh(GELU_K * (x + 0.044715 * x**3))
    return 0.5 * x * (1 + t), 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_K * (1 + 3 * 0.044715 * x * x)


FUNCTIONS = {
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sigmoid": (expit, lambda x: expit(x) * (1 - expit(x))),
    "softplus": (lambda x: np.logaddexp(x, 0), expit),
    "silu": (lambda x: x * expit(x), lambda x: expit(x) * (1 + x * (1 - expit(x)))),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
            lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))),
    "selu": (lambda x: SELU_L * np.where(x > 0, x, SELU_A * np.expm1(np.minimum(x, 0))),
             lambda x: SELU_L * np.where(x > 0, 1.0, SELU_A * np.exp(np.minimum(x, 0)))),
    "gelu_tanh": (lambda x: _gelu_tanh(x)[0], lambda x: _gelu_tanh(x)[1]),
}


def grid():
    """(c, v1, v2) columns of the test grid."""
    rows = []
    for i in range(-4, 5):
        for j in range(i - 1, i + 2):
            if -4 <= j <= 4:
                v1, v2 = 10.0**i, 10.0**j
                for r in (-1.0, -0.9, 0.0, 0.5, 0.99, 1.0):
                    rows.append((r * math.sqrt(v1 * v2), v1, v2))
    return np.array(rows).T


def main():
    c, v1, v2 = grid()
    out = {"c": c, "v1": v1, "v2": v2}
    for name, (f, df) in FUNCTIONS.items():
        print(name, flush=True)
        out[f"{name}_sigma"] = expectation(f, f, c, v1, v2)
        out[f"{name}_dot"] = expectation(df, df, c, v1, v2)
        # the Cauchy–Schwarz scales √(E φ(u)²·E φ(v)²)
        for side, v in (("1", v1), ("2", v2)):
            out[f"{name}_sigma_self{side}"] = expectation(f, f, v, v, v)
            out[f"{name}_dot_self{side}"] = expectation(df, df, v, v, v)
    np.savez_compressed(HERE / "grid.npz", **out)


if __name__ == "__main__":
    main()
