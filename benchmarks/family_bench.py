"""What one pass for a family of nets saves: a depth family of the paper's
GNTK grid computed as a ``ntkc.load_family`` against its members one by one
and against its deepest member alone, in the same run.

    python benchmarks/family_bench.py [--data ../shared/data] [--set PTC] [--graphs 80]

The nets are ``b9/b11/b13_m1_sum`` of examples/gntk_jk1_PTC.ntk (jk=1: the
shallower nets are the deeper one's first blocks), on the ``--graphs``
smallest graphs of the set (so that the run takes minutes on a shared CPU),
through ``ntkc.regression.graph_gram`` as examples/reproduce_gntk.py uses it.
Wall and process CPU seconds, compile included (each variant compiles its own
function; JAX's persistent cache is off so that none reuses another's
compile). The three are run in turn, ``--repeats`` times, and the fastest of
each is compared (on a shared machine the least disturbed run). Every family
Gram is checked against its member's own to 1e-10. Writes
benchmarks/results/family.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))


def timed(fn):
    w, c = time.time(), time.process_time()
    out = fn()
    return out, time.time() - w, time.process_time() - c


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str((ROOT / ".." / "shared" / "data").resolve()))
    ap.add_argument("--set", default="PTC")
    ap.add_argument("--graphs", type=int, default=80)
    ap.add_argument("--nets", nargs="+", default=["b9_m1_sum", "b11_m1_sum", "b13_m1_sum"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "family.json"))
    args = ap.parse_args(argv)

    import jax
    jax.config.update("jax_enable_x64", True)
    import ntkc
    from ntkc.data import GraphDataset, load_tu
    from ntkc.regression import graph_gram

    full = load_tu(Path(args.data) / "graphs", args.set)
    keep = np.argsort(full.sizes(), kind="stable")[: args.graphs]
    ds = GraphDataset(full.name, [full.graphs[i] for i in keep], full.labels[keep])
    path = ROOT / f"examples/gntk_jk1_{args.set}.ntk"

    def family():
        return graph_gram(ntkc.load_family(path, args.nets), ds)

    def separate():
        return {n: graph_gram(ntkc.load(path, net=n), ds) for n in args.nets}

    def deepest():
        return graph_gram(ntkc.load(path, net=args.nets[-1]), ds)

    runs = {"family": [], "separate": [], "deepest": []}
    worst = 0.0
    for _ in range(args.repeats):
        fam, w, c = timed(family)
        runs["family"].append({"wall": w, "cpu": c})
        sep, w, c = timed(separate)
        runs["separate"].append({"wall": w, "cpu": c})
        _, w, c = timed(deepest)
        runs["deepest"].append({"wall": w, "cpu": c})
        for n in args.nets:
            worst = max(worst, float(np.max(np.abs(fam[n] - sep[n])) / np.max(np.abs(sep[n]))))
        print({k: [round(r["wall"], 1) for r in v] for k, v in runs.items()}, flush=True)
    if worst > 1e-10:
        raise SystemExit(f"family Gram differs from its member's by {worst:.2e} (relative)")
    best = {k: min(v, key=lambda r: r["wall"]) for k, v in runs.items()}
    result = {
        "set": args.set, "graphs": len(ds.graphs), "nodes": int(ds.sizes().sum()), "nets": args.nets,
        "repeats": args.repeats, "runs": runs, "fastest": best,
        "separate_over_family": best["separate"]["wall"] / best["family"]["wall"],
        "family_over_deepest": best["family"]["wall"] / best["deepest"]["wall"],
        "cpu_separate_over_family": best["separate"]["cpu"] / best["family"]["cpu"],
        "cpu_family_over_deepest": best["family"]["cpu"] / best["deepest"]["cpu"],
        "max_relative_difference": worst,
        "machine": f"{platform.machine()}, shared CPU, jax {jax.__version__}",
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
