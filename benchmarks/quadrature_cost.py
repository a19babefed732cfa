"""What the Elementwise accuracy check costs: the pair rule alone
(``elementwise.pair``, the answer at ``deg``) against the rule the kernel runs
(``elementwise.estimate``: the answer plus the rule of 3/4 the degree), jitted,
on 10⁵ covariance pairs, float64, median of 5 calls after a warm-up.

    .venv/bin/python benchmarks/quadrature_cost.py   # writes results/quadrature_cost.json
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from ntkc.rules import elementwise  # noqa: E402


def timed(fn, *args):
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(5):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    rng = np.random.default_rng(0)
    v1, v2 = rng.uniform(0.5, 3, (2, 10**5))
    c = rng.uniform(-1, 1, 10**5) * np.sqrt(v1 * v2)
    args_in = tuple(jnp.asarray(a) for a in (c, v1, v2))
    rows = {}
    for name in ("tanh", "softplus", "erf"):
        args = {"fn": name, "deg": None}
        plain = timed(jax.jit(lambda *p: elementwise.pair(*p, args)), *args_in)
        checked = timed(jax.jit(lambda *p: elementwise.estimate(*p, args)), *args_in)
        rows[name] = {"deg": elementwise.degree(args), "pair_s": plain, "with_estimate_s": checked,
                      "ratio": checked / plain}
        print(name, rows[name], flush=True)
    out = Path(__file__).parent / "results" / "quadrature_cost.json"
    out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
