"""The time and memory of a large graph Gram on the joint layout, from a few
of its tiles: plans the layout exactly as ``kernel(graphs)`` would, times one
compiled tile pair per pair of size groups (process CPU seconds), and
extrapolates by the number of tile pairs of each kind, compiles counted once.

    python benchmarks/graph_estimate.py --set COLLAB --net b1_m1_sum \\
        [--memory 8GiB] [--graphs 5000]

Prints one JSON object: the plan (size groups, tiles, tile pairs), each group
pair's measured CPU s per tile pair and compile s, the extrapolated CPU
seconds, the bytes of the planned NumPy tiles, the Grams' bytes, and the
process's peak RSS while timing the tiles (the working memory of one tile
pair, its compile included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("NTKC_GRAPHS", "/work/shared/data/graphs"))
    p.add_argument("--set", required=True)
    p.add_argument("--net", required=True)
    p.add_argument("--memory", default=None, help="memory_limit as kernel() takes it")
    p.add_argument("--graphs", type=int, default=None, help="the first this many graphs")
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    import jax
    jax.config.update("jax_enable_x64", True)
    import ntkc
    from ntkc import graphjoint as gj
    from ntkc.data import load_tu
    ds = load_tu(args.data, args.set)
    graphs = [(f.astype(np.float64), a.astype(np.float64)) for f, a in ds.graphs[:args.graphs]]
    kernel = ntkc.load(str(ROOT / "examples" / f"gntk_jk1_{args.set}.ntk"), net=args.net)
    get = ("ntk",)
    acts, aggs = gj.layer_counts(kernel.net)
    nodes = gj.tile_nodes(8, True, args.memory)
    sizes = [f.shape[0] for f, _ in graphs]
    tops = gj.choose_tops(sizes, acts, aggs, True, [gj.degree(a) for _, a in graphs])
    labels = all(gj.one_hot(f) for f, _ in graphs)
    t = time.process_time()
    groups = gj.layout(graphs, tops, nodes, None, labels)
    layout_s = time.process_time() - t
    tile_bytes = sum(a.nbytes for g in groups for tile in g.tiles for a in tile)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows, total, kinds = [], 0.0, 0
    for a, ga in enumerate(groups):
        for b, gb in enumerate(groups):
            if b < a:
                continue
            for itself in (True, False) if a == b else (False,):
                if a == b:
                    n = len(ga.tiles) if itself else len(ga.tiles) * (len(ga.tiles) - 1) // 2
                else:
                    n = len(ga.tiles) * len(gb.tiles)
                if n == 0:
                    continue
                t1 = jax.device_put(ga.tiles[0])
                t2 = t1 if itself else jax.device_put(gb.tiles[-1])
                fn = gj.tile_function(kernel.net, get, ga.side, gb.side, itself)
                c = time.process_time()
                jax.block_until_ready(fn(t1, t2))
                first = time.process_time() - c
                runs = []
                for _ in range(args.repeats):
                    c = time.process_time()
                    jax.block_until_ready(fn(t1, t2))
                    runs.append(time.process_time() - c)
                per = min(runs)
                kinds += 1
                total += max(first - per, 0.0) + per * n
                rows.append({"groups": [ga.side.size, gb.side.size], "itself": itself,
                             "tile_pairs": n, "nodes": [ga.side.nodes, gb.side.nodes],
                             "cpu_s_per_tile_pair": per, "compile_cpu_s": max(first - per, 0.0),
                             "cpu_ns_per_node_pair": per / ga.side.nodes / gb.side.nodes * 1e9})
                print(json.dumps(rows[-1]), flush=True)
    n = len(graphs)
    out = {"set": args.set, "net": args.net, "graphs": n, "nodes": int(sum(sizes)),
           "memory_limit": args.memory, "tile_nodes": nodes, "labels": labels,
           "groups": [{"size": g.side.size, "bins": g.side.bins, "degree": g.side.degree,
                       "tiles": len(g.tiles)} for g in groups],
           "layout_cpu_s": layout_s, "tile_functions": kinds, "pairs": rows,
           "estimate_cpu_s": total + layout_s, "numpy_tiles_bytes": tile_bytes,
           "gram_bytes": n * n * 8 * len(get),
           "peak_rss_bytes_before_tiles": rss0 * 1024,
           "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           "load_average": os.getloadavg()}
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
