"""neural-tangents' ``stax.Aggregate`` against ntkc on real graphs, in one run.

A GNTK net without jumping knowledge (input Dense(√(2F)), then per block
GraphAgg(self_loops, sum) and ``--mlp`` × (Relu, Dense(√2)), sum readout;
no biases, so padded nodes stay exactly zero in stax) on a seeded sample of
``--graphs`` graphs of a TU set, float64, x2 omitted:

* the peer (neural-tangents 0.6.5 in benchmarks/.peer-venv, via worker.py):
  every graph padded to the *set's* largest graph — one padded size is what
  a stax user gives ``kernel_fn`` for a whole-set Gram — with the pattern
  P = (A + I)ᵀ, jitted, warm-up excluded;
* ntkc: ``kernel(graphs)`` on the same graphs as a list (the joint node-pair
  layout, no padding), first call (compile) and warm call.

Both Grams are compared (relative to the largest entry), and each is
extrapolated to the whole set's N(N+1)/2 graph pairs: the peer by graph pairs
(its cost per pair is fixed by the padded size), ntkc by node pairs
(Σ_g V_g)² — a lower bound for the peer (no padding to a size class is
possible when one call sees every graph). The machine is shared: read the
ratio, measured in the same run.

    python benchmarks/graph_peer.py --set IMDBBINARY --graphs 60
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER = HERE / ".peer-venv" / "bin" / "python"


def spec_for(features: int, blocks: int, mlp: int) -> dict:
    """The workloads.py spec (shared with worker.py's stax builder)."""
    layers = [["Dense", {"W_std": math.sqrt(2 * features), "b_std": 0.0}]]
    for _ in range(blocks):
        layers.append(["GraphAgg", {"self_loops": True, "norm": "sum"}])
        for _ in range(mlp):
            layers += [["Relu", {}], ["Dense", {"W_std": math.sqrt(2), "b_std": 0.0}]]
    layers.append(["GlobalSumPool", {}])
    return {"name": "gntk_plain", "kind": "graph", "layers": layers, "features": features}


def padded(graphs, size: int) -> dict:
    n, f = len(graphs), graphs[0][0].shape[1]
    x = np.zeros((n, size, f))
    a = np.zeros((n, size, size))
    m = np.zeros((n, size))
    for i, (fi, ai) in enumerate(graphs):
        v = fi.shape[0]
        x[i, :v], a[i, :v, :v], m[i, :v] = fi, ai, 1
    return {"features": x, "adjacency": a, "mask": m}


def run_peer(spec: dict, data: dict, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        inputs, out = Path(tmp) / "in.npz", Path(tmp) / "out.json"
        np.savez(inputs, **data)
        subprocess.run([str(PEER), str(HERE / "worker.py"), "peer", json.dumps(spec), str(inputs),
                        "float64", str(out), "--repeats", str(repeats)], check=True, cwd=HERE)
        return json.loads(out.read_text())


def run_ntkc(spec: dict, graphs) -> tuple:
    import jax
    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(HERE))
    import ntkc
    import workloads
    kernel = ntkc.compile(workloads.ntk_source(spec))
    cpu0, t0 = time.process_time(), time.perf_counter()
    first = np.asarray(kernel(graphs))
    first_s, first_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    cpu0, t0 = time.process_time(), time.perf_counter()
    k = np.asarray(kernel(graphs))
    warm_s, warm_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert np.array_equal(first, k)
    return k, {"first_s": first_s, "first_cpu_s": first_cpu, "warm_s": warm_s,
               "warm_cpu_s": warm_cpu}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/shared/data/graphs")
    ap.add_argument("--set", default="IMDBBINARY")
    ap.add_argument("--graphs", type=int, default=60)
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--mlp", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(HERE / "results" / "graph_peer.json"))
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from ntkc.data import load_tu

    ds = load_tu(Path(args.data), args.set)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(ds.graphs), size=min(args.graphs, len(ds.graphs)), replace=False))
    graphs = [(ds.graphs[i][0].astype(np.float64), ds.graphs[i][1].astype(np.float64)) for i in pick]
    sizes = ds.sizes()
    vmax = int(sizes.max())
    spec = spec_for(graphs[0][0].shape[1], args.blocks, args.mlp)

    peer = run_peer(spec, padded(graphs, vmax), args.repeats)
    k, ours = run_ntkc(spec, graphs)
    step = max(1, len(graphs) // 48)
    theirs = np.asarray(peer["sample"])
    diff = float(np.abs(k[::step, ::step] - theirs).max() / np.abs(k).max())

    n, s = len(graphs), len(ds.graphs)
    pairs_sample, pairs_set = n * (n + 1) / 2, s * (s + 1) / 2
    nodes_sample, nodes_set = float(sizes[pick].sum()) ** 2, float(sizes.sum()) ** 2
    peer_s = float(np.median(peer["times"]))
    result = {
        "set": args.set, "graphs": n, "set_graphs": s, "padded_to": vmax,
        "net": spec["layers"], "peer_s": peer_s, "peer_times": peer["times"],
        "peer_warmup_s": peer["warmup"], "peer_rss_peak": peer["rss_peak"], **ours,
        "max_rel_diff": diff,
        "peer_ms_per_pair": 1e3 * peer_s / pairs_sample,
        "ntkc_ms_per_pair_warm": 1e3 * ours["warm_s"] / pairs_sample,
        "peer_whole_set_s": peer_s * pairs_set / pairs_sample,
        "ntkc_whole_set_s_warm": ours["warm_s"] * nodes_set / nodes_sample,
        "ratio_warm": peer_s / ours["warm_s"],
        "ratio_first": (peer_s + peer["warmup"]) / ours["first_s"],
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"load {os.getloadavg()[0]:.1f}",
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("net", "peer_times")}, indent=1))
    if diff > 1e-8:
        raise SystemExit(f"the two Grams differ by {diff:.2e} of the largest entry")


if __name__ == "__main__":
    main()
