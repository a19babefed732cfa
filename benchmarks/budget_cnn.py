"""CNN-GAP under a memory budget: W2's network on 2000 images of 16×16.

    python benchmarks/budget_cnn.py [--rows 100] [--full] [--memory-limit 8GB]

Every pair of images needs all (16·16)² pixel pairs through three Conv/ReLU
layers before the average pool, so one pair's working set is ~3 MiB (float32,
``ntkc.fusion.bytes_per_pair``) and the 2000² Gram's unblocked state ~13 TB. With ``memory_limit`` the
planner cuts the Gram into blocks that fit. By default this computes a strip of
``--rows`` rows against all 2000 images (the same blocks the full Gram is made
of, so the same peak memory) and extrapolates the full Gram's time from it;
``--full`` computes the whole symmetric Gram (about half an hour on a 2-core CPU).
A corner of the result is compared with an unblocked call. Writes
benchmarks/results/budget_cnn.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import workloads  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--side", type=int, default=16)
    ap.add_argument("--rows", type=int, default=100, help="strip height (ignored with --full)")
    ap.add_argument("--full", action="store_true", help="the whole Gram")
    ap.add_argument("--memory-limit", default="8GB")
    ap.add_argument("--out", default=str(HERE / "results" / "budget_cnn.json"))
    a = ap.parse_args(argv)

    import jax
    import ntkc
    from ntkc.fusion import bytes_per_pair

    spec = workloads.cnn("GlobalAvgPool", n=a.n, side=a.side)
    x = workloads.make_inputs(spec, 0, "float32")["x"]
    kernel = ntkc.compile(workloads.ntk_source(spec))
    per_pair = bytes_per_pair(kernel.net, 4, 1, True)
    rows = a.n if a.full else a.rows
    plan = kernel.plan(x, memory_limit=a.memory_limit) if a.full else \
        kernel.plan(x[:rows], x, memory_limit=a.memory_limit)
    print(f"{a.n} images {a.side}×{a.side}: {per_pair / 2**20:.2f} MiB per pair; "
          f"{'full Gram' if a.full else f'strip {rows}×{a.n}'} in blocks of {plan.rows}×{plan.cols} "
          f"pairs under {a.memory_limit}", flush=True)

    t0 = time.perf_counter()
    if a.full:
        k = kernel(x, memory_limit=a.memory_limit)
    else:
        k = kernel(x[:rows], x, memory_limit=a.memory_limit)
    k = np.asarray(jax.block_until_ready(k))
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    m = min(32, rows)
    corner = np.asarray(kernel(x[:m], x[:m]))
    rel = float(np.abs(k[:m, :m] - corner).max() / np.abs(corner).max())
    full_pairs = a.n * (a.n + 1) // 2
    pairs = full_pairs if a.full else rows * a.n
    result = {
        "n": a.n, "side": a.side, "network": workloads.ntk_source(spec), "dtype": "float32",
        "memory_limit": a.memory_limit, "bytes_per_pair": per_pair,
        "blocks": [plan.rows, plan.cols], "shape": list(k.shape), "full": a.full,
        "seconds": round(seconds, 1), "seconds_per_pair": seconds / pairs,
        "full_gram_seconds_estimate": round(seconds / pairs * full_pairs),
        "rss_peak_gib": round(peak / 2**30, 2), "finite": bool(np.isfinite(k).all()),
        "corner_vs_unblocked_max_rel": rel,
        "machine": {"platform": platform.platform(), "cores": os.cpu_count(),
                    "devices": [str(d) for d in jax.devices()], "jax": jax.__version__,
                    "loadavg": os.getloadavg()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    Path(a.out).parent.mkdir(exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(f"{seconds:.1f} s including compilation, peak RSS {result['rss_peak_gib']} GiB, "
          f"finite {result['finite']}, corner vs unblocked {rel:.1e}; full Gram "
          f"≈ {result['full_gram_seconds_estimate'] / 60:.0f} min at this rate")


if __name__ == "__main__":
    main()
