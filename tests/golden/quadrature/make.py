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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from oracle import expectation  # noqa: E402

# φ and φ' in numpy, the same table tests/test_activations.py checks the rules with
sys.path.insert(0, str(HERE.parent.parent))
from test_activations import ELEMENTWISE  # noqa: E402

#: The Elementwise functions with no closed form to test against.
FUNCTIONS = {name: ELEMENTWISE[name]
             for name in ("tanh", "sigmoid", "softplus", "silu", "elu", "selu", "gelu_tanh")}


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
