"""The Gram store against the in-memory blocked path, and over Dask workers.

    python benchmarks/store_bench.py [--repeats 5] [--quick]

For each workload the same symmetric Gram, in the same planned blocks and
the default chunks, is computed (after a warm-up call that compiles) by

* ``kernel(x)``: the in-memory blocked path (the baseline);
* ``kernel.gram(x, store=…)`` in process, into a fresh zarr store on disk
  (every chunk written, fsync'ed and recorded done), and once more with the
  fsyncs off (``ntkc.store.DURABLE = False``) to show what durability costs;

in turn, ``--repeats`` times each. On a shared machine wall times swing with
the load, so the overhead is given from the fastest run of each (the least
disturbed) and from the medians, next to the process CPU time (all threads).
Then the CNN's Gram in chunks of 4 blocks a side (15 chunks, so that two
workers can share them) is computed in process and on 1- and 2-worker
``LocalCluster``s (127.0.0.1, one thread per worker process), each after a
warm-up job so that every worker has compiled the net. Every store is
checked against the in-memory Gram. Cost per entry: seconds over the
n(n+1)/2 entries computed. Writes benchmarks/results/store.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import workloads  # noqa: E402


def timed(fn):
    """(wall seconds, process CPU seconds over all threads, result)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def summary(runs):
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    return {"wall": walls, "cpu": cpus, "wall_min": min(walls),
            "wall_median": statistics.median(walls), "cpu_median": statistics.median(cpus)}


def check(gs, want):
    err = float(np.abs(gs.array() - want).max() / np.abs(want).max())
    assert err < 1e-6, err


def measure(name, spec, repeats, tmp):
    import jax
    import ntkc
    from ntkc import store as st
    x = workloads.make_inputs(spec, 0, "float32")["x"]
    kernel = ntkc.compile(workloads.ntk_source(spec))
    plan = kernel.plan(x)
    n = len(x)
    want = np.asarray(kernel(x))                       # compiles the block function
    runs = {"memory": [], "store": [], "store_no_fsync": []}
    for r in range(repeats):
        w, c, _ = timed(lambda: np.asarray(jax.block_until_ready(kernel(x))))
        runs["memory"].append((w, c))
        for flag, key in ((True, "store"), (False, "store_no_fsync")):
            st.DURABLE = flag
            path = tmp / f"{name[:3]}-{r}-{flag}.zarr"
            w, c, gs = timed(lambda: kernel.gram(x, store=path, progress=False))
            runs[key].append((w, c))
            check(gs, want)
            chunks = (gs.tr, len(gs.chunks()))
            shutil.rmtree(path)
    st.DURABLE = True
    entries = n * (n + 1) // 2
    res = {k: summary(v) for k, v in runs.items()}
    m = res["memory"]

    def over(key, stat):
        return res[key][stat] / m[stat] - 1
    row = {"workload": name, "network": workloads.ntk_source(spec), "n": n, "dtype": "float32",
           "block": [plan.rows, plan.cols], "blocks": plan.count(), "chunk_side": chunks[0],
           "chunks": chunks[1], "repeats": repeats, "runs": res,
           "overhead": {k: {s: over(k, s) for s in ("wall_min", "wall_median", "cpu_median")}
                        for k in ("store", "store_no_fsync")},
           "seconds_per_entry": {k: v["wall_min"] / entries for k, v in res.items()}}
    o = row["overhead"]
    print(f"{name}: n={n}, blocks {plan.rows}x{plan.cols} ({plan.count()}), {chunks[1]} chunk(s) "
          f"of {chunks[0]}; fastest: memory {m['wall_min']:.2f} s, store "
          f"{res['store']['wall_min']:.2f} s ({100 * o['store']['wall_min']:+.1f}%), without "
          f"fsync {100 * o['store_no_fsync']['wall_min']:+.1f}%; medians "
          f"{100 * o['store']['wall_median']:+.1f}% wall, {100 * o['store']['cpu_median']:+.1f}% "
          f"CPU", flush=True)
    return row, kernel, x, want


def scaling(kernel, x, want, tmp, repeats, chunk):
    from dask.distributed import Client, LocalCluster
    n = len(x)
    entries = n * (n + 1) // 2
    runs = []
    for r in range(repeats):
        path = tmp / f"local-{r}.zarr"
        w, c, gs = timed(lambda: kernel.gram(x, store=path, chunk=chunk, progress=False))
        check(gs, want)
        chunks = len(gs.chunks())
        shutil.rmtree(path)
        runs.append((w, c))
    base = summary(runs)
    rows = [{"workers": 0, "what": "in process", **base,
             "seconds_per_entry": base["wall_min"] / entries}]
    print(f"  in process, {chunks} chunks of {chunk}: fastest {base['wall_min']:.2f} s", flush=True)
    for workers in (1, 2):
        env = {"JAX_PLATFORMS": "cpu", "PYTHONPATH": str(HERE.parent)}
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None, env=env) as c, \
                Client(c) as client:
            warm = tmp / f"warm-{workers}.zarr"
            t_warm, _, _ = timed(lambda: kernel.gram(x, store=warm, chunk=chunk, client=client,
                                                     progress=False))
            runs = []
            for r in range(repeats):
                path = tmp / f"dask-{workers}-{r}.zarr"
                w, c, gs = timed(lambda: kernel.gram(x, store=path, chunk=chunk, client=client,
                                                     progress=False))
                check(gs, want)
                runs.append((w, c))
                shutil.rmtree(path)
            shutil.rmtree(warm)
        res = summary(runs)
        rows.append({"workers": workers, **res, "first_job_seconds_with_compile": t_warm,
                     "seconds_per_entry": res["wall_min"] / entries,
                     "speedup_vs_in_process": base["wall_min"] / res["wall_min"]})
        print(f"  {workers} Dask worker(s): fastest {res['wall_min']:.2f} s "
              f"({base['wall_min'] / res['wall_min']:.2f}x in process; first job with compile "
              f"{t_warm:.1f} s)", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--out", default=str(HERE / "results" / "store.json"))
    a = ap.parse_args(argv)
    import jax
    import dask
    import zarr
    cases = {"CNN-GAP 8x8 (W2's net)": workloads.cnn("GlobalAvgPool", n=96 if a.quick else 512),
             "FC depth 10 (W1's net)": workloads.fc(10, n=1500 if a.quick else 8000)}
    tmp = Path(tempfile.mkdtemp(prefix="ntkc-store-bench-"))   # on disk, not tmpfs
    try:
        results = []
        for name, spec in cases.items():
            row, kernel, x, want = measure(name, spec, a.repeats, tmp)
            if name.startswith("CNN"):
                half = len(x) // 2                 # 15 chunks of 4 blocks a side
                row["dask"] = {"n": half, "chunk": 4 * row["block"][0],
                               "runs": scaling(kernel, x[:half], want[:half, :half], tmp,
                                               max(2, a.repeats // 2), 4 * row["block"][0])}
            results.append(row)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {"run": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.processor() or
           platform.machine(), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
           "jax": jax.__version__, "zarr": zarr.__version__, "dask": dask.__version__,
           "results": results}
    Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
