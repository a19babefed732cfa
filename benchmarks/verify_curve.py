"""Measure how the Monte Carlo error of ``ntkc.verify`` shrinks with width and
samples, the finite-width bias, and the cost per draw; writes the numbers
behind docs/verification.md.

    PYTHONPATH=. python benchmarks/verify_curve.py            # ~10 min on 2 cores
    PYTHONPATH=. python benchmarks/verify_curve.py --plot     # + docs/verification_curve.png

For each (net, width) one run draws R·S_max networks (seed 0); replicate r
uses draws r·S_max … r·S_max + S − 1, so every (width, S) cell has R
independent errors e = ‖K̄ − K‖_F/‖K‖_F. The table reports their root mean
square and the mean standard error, and the log-log slope of RMS error
against width·samples is fitted by least squares.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import ntkc  # noqa: E402
from ntkc.empirical import empirical_draws
from ntkc.finite import finite_net  # noqa: E402
from ntkc.verification import _ctx, _depths, random_inputs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NETS = {
    "mlp1": ROOT / "tests/golden/fc_relu_d1.ntk",   # one hidden layer: unbiased estimates
    "mlp4": ROOT / "examples/mlp.ntk",              # four hidden layers
}


def draws(kernel, x, width, n):
    fnet = finite_net(kernel.net, width)
    f, g = kernel._prepare(x, "x1")
    t = time.perf_counter()
    ((nn, nt),) = empirical_draws(fnet, jax.numpy.asarray(f, fnet.dtype), _ctx(g, fnet),
                                  samples=n, seed=0)
    return nn[..., 0], nt[..., 0], time.perf_counter() - t, fnet


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def curve(name, widths, samples, reps):
    kernel = ntkc.load(NETS[name])
    x = random_inputs(kernel, 6, 0)
    nngp, ntk = (np.asarray(k) for k in kernel(x, get=("nngp", "ntk")))
    rows = []
    smax = max(samples)
    for w in widths:
        nn, nt, secs, _ = draws(kernel, x, w, reps * smax)
        for s in samples:
            cell = {"net": name, "width": w, "samples": s, "seconds_per_draw": secs / (reps * smax)}
            for kind, d, ref in (("nngp", nn, nngp), ("ntk", nt, ntk)):
                errs, ses = [], []
                for r in range(reps):
                    block = d[r * smax: r * smax + s]
                    errs.append(rel(block.mean(0), ref))
                    ses.append(float(np.sqrt(block.var(0, ddof=1).sum() / s) / np.linalg.norm(ref)))
                cell[f"{kind}_rms"] = float(np.sqrt(np.mean(np.square(errs))))
                cell[f"{kind}_se"] = float(np.mean(ses))
            rows.append(cell)
            print(json.dumps(cell), flush=True)
    return rows


def bias(name, widths, n):
    """|E K̂ − K|/‖K‖ from n draws at small widths, with its standard error,
    and the constant c in bias = c·L/width (L hidden weight layers)."""
    kernel = ntkc.load(NETS[name])
    x = random_inputs(kernel, 6, 0)
    nngp, ntk = (np.asarray(k) for k in kernel(x, get=("nngp", "ntk")))
    rows = []
    for w in widths:
        nn, nt, secs, fnet = draws(kernel, x, w, n)
        depth = max(_depths(fnet)[fnet.layers[-1].path], 1)
        cell = {"net": name, "width": w, "draws": n, "depth": depth}
        for kind, d, ref in (("nngp", nn, nngp), ("ntk", nt, ntk)):
            e = rel(d.mean(0), ref)
            se = float(np.sqrt(d.var(0, ddof=1).sum() / n) / np.linalg.norm(ref))
            cell[kind] = e
            cell[f"{kind}_se"] = se
            cell[f"{kind}_c"] = e * w / depth
        rows.append(cell)
        print(json.dumps(cell), flush=True)
    return rows


def slope(rows, kind):
    x = np.log([r["width"] * r["samples"] for r in rows])
    y = np.log([r[f"{kind}_rms"] for r in rows])
    return float(np.polyfit(x, y, 1)[0])


def plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, kind in zip(axes, ("nngp", "ntk")):
        for name, rows in result["curve"].items():
            for s in sorted({r["samples"] for r in rows}):
                sel = [r for r in rows if r["samples"] == s]
                ax.loglog([r["width"] * s for r in sel], [r[f"{kind}_rms"] for r in sel], "o-",
                          label=f"{name}, {s} draws")
        xs = np.array([2e2, 1e5])
        ax.loglog(xs, 3.0 / np.sqrt(xs), "k--", label="∝ 1/√(width·samples)")
        ax.set_xlabel("width × samples")
        ax.set_ylabel(f"RMS relative {kind.upper()} error")
        ax.set_title(kind.upper())
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs/verification_curve.json"))
    p.add_argument("--plot", action="store_true", help="also write docs/verification_curve.png")
    p.add_argument("--reps", type=int, default=8)
    p.add_argument("--replot", action="store_true", help="only redraw the plot from --out")
    a = p.parse_args()
    if a.replot:
        plot(json.loads(Path(a.out).read_text()), ROOT / "docs/verification_curve.png")
        return
    result = {"curve": {}, "slopes": {}, "bias": []}
    for name in NETS:
        rows = curve(name, [64, 128, 256, 512, 1024], [4, 16, 64], a.reps)
        result["curve"][name] = rows
        result["slopes"][name] = {k: slope(rows, k) for k in ("nngp", "ntk")}
        print(name, result["slopes"][name], flush=True)
    for name in NETS:
        result["bias"] += bias(name, [8, 16, 32], 4096)
    Path(a.out).write_text(json.dumps(result, indent=1))
    if a.plot:
        plot(result, ROOT / "docs/verification_curve.png")


if __name__ == "__main__":
    main()
