"""One change at a time: graph Grams on the joint layout with and without it,
in one process (the machine is shared; process CPU seconds are the steadier
clock), each variant's Gram checked against the first's to 1e-8.

    python benchmarks/graph_changes.py --set PTC --net b13_m1_sum \\
        --variants dense,auto [--graphs 200]

A variant is a comma-free name, options joined by ``+``: ``dense`` (every
size group aggregates by dense bin products), ``sparse`` (its rows by
neighbour lists), ``auto`` (the cost model's choice per group, the default),
``features`` (one-hot features kept as features: Σ⁰ = x·x'/F by a GEMM),
``labels`` (held as labels: Σ⁰ by label equality, the default where every
row is one-hot), ``tops:16/32/136`` (these size groups' bin sizes),
``nodes:2048`` (node slots per tile side). Prints one JSON line per variant: CPU and wall
seconds of the first call (compile included) and of a second, compiled one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"dense": {"sparse": False}, "sparse": {"sparse": True}, "auto": {},
            "features": {"labels": False}, "labels": {"labels": True}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("NTKC_GRAPHS", "/work/shared/data/graphs"))
    p.add_argument("--set", required=True)
    p.add_argument("--net", required=True)
    p.add_argument("--variants", default="dense,auto")
    p.add_argument("--graphs", type=int, default=None, help="a random subset of this many")
    p.add_argument("--out", default=None, help="append the JSON lines to this file")
    args = p.parse_args(argv)
    import jax
    jax.config.update("jax_enable_x64", True)
    import ntkc
    from ntkc import graphjoint
    from ntkc.data import load_tu
    ds = load_tu(args.data, args.set)
    graphs = [(f.astype(np.float64), a.astype(np.float64)) for f, a in ds.graphs]
    if args.graphs:
        idx = np.sort(np.random.default_rng(0).choice(len(graphs), args.graphs, replace=False))
        graphs = [graphs[i] for i in idx]
    kernel = ntkc.load(str(ROOT / "examples" / f"gntk_jk1_{args.set}.ntk"), net=args.net)
    first = None
    for name in args.variants.split(","):
        kw = {}
        for part in name.split("+"):
            if part.startswith("tops:"):
                kw["tops"] = tuple(int(t) for t in part[5:].split("/"))
            elif part.startswith("nodes:"):
                kw["nodes"] = int(part[6:])
            else:
                kw.update(VARIANTS[part])
        cache = {}
        row = {"set": args.set, "net": args.net, "graphs": len(graphs), "variant": name,
               "load_average": os.getloadavg()}
        for call in ("first", "compiled"):
            c, t = time.process_time(), time.perf_counter()
            (gram,) = graphjoint.gram(kernel.net, graphs, None, ("ntk",), cache=cache, **kw)
            row[f"{call}_cpu_s"] = time.process_time() - c
            row[f"{call}_wall_s"] = time.perf_counter() - t
        row["tile_functions"] = len(cache)
        if first is None:
            first = gram
        else:
            row["max_rel_diff_to_first"] = float(np.max(np.abs(gram - first) / np.abs(first)))
            np.testing.assert_allclose(gram, first, rtol=1e-8)
        line = json.dumps(row)
        print(line, flush=True)
        if args.out:
            with open(args.out, "a") as fh:
                fh.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
