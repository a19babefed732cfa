"""The Gram store against the in-memory blocked path, and over Dask workers.

    python benchmarks/store_bench.py [--repeats 3] [--quick]

For each workload the same symmetric Gram, in the same planned blocks, is
computed (after a warm-up call that compiles) by

* ``kernel(x)``: the in-memory blocked path (the baseline);
* ``kernel.gram(x, store=…)`` in process, into a fresh zarr store on disk
  (every chunk written, fsync'ed and recorded done), and once more with the
  fsyncs off (``ntkc.store.DURABLE = False``) to show what durability costs;

alternately, ``--repeats`` times each; the overhead is the ratio of the
medians. Then, for the CNN, a 2-worker and a 1-worker ``LocalCluster``
(127.0.0.1, one thread per worker process) compute the same store, after a
warm-up job so that each worker has compiled the net. Every store is checked
against the in-memory Gram. Cost per entry: seconds over the n(n+1)/2
entries computed. Writes benchmarks/results/store.json.
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
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def measure(name, spec, repeats, tmp):
    import jax
    import ntkc
    from ntkc import store as st
    x = workloads.make_inputs(spec, 0, "float32")["x"]
    kernel = ntkc.compile(workloads.ntk_source(spec))
    plan = kernel.plan(x)
    n = len(x)
    want = np.asarray(kernel(x))                       # compiles the block function
    mem, durable, loose = [], [], []
    chunks = None
    for r in range(repeats):
        t, _ = timed(lambda: np.asarray(jax.block_until_ready(kernel(x))))
        mem.append(t)
        for flag, out in ((True, durable), (False, loose)):
            st.DURABLE = flag
            path = tmp / f"{name}-{r}-{flag}.zarr"
            t, gs = timed(lambda: kernel.gram(x, store=path, progress=False))
            out.append(t)
            err = float(np.abs(gs.array() - want).max() / np.abs(want).max())
            assert err < 1e-6, err
            chunks = (gs.tr, len(gs.chunks()))
            shutil.rmtree(path)
    st.DURABLE = True
    entries = n * (n + 1) // 2
    med = {k: statistics.median(v) for k, v in (("memory", mem), ("store", durable),
                                                ("store_no_fsync", loose))}
    row = {"workload": name, "network": workloads.ntk_source(spec), "n": n, "dtype": "float32",
           "block": [plan.rows, plan.cols], "blocks": plan.count(),
           "chunk_side": chunks[0], "chunks": chunks[1], "repeats": repeats,
           "seconds": {"memory": mem, "store": durable, "store_no_fsync": loose},
           "median_seconds": med,
           "overhead": med["store"] / med["memory"] - 1,
           "overhead_no_fsync": med["store_no_fsync"] / med["memory"] - 1,
           "seconds_per_entry": {k: v / entries for k, v in med.items()}}
    print(f"{name}: n={n}, blocks {plan.rows}x{plan.cols} ({plan.count()}), chunks of "
          f"{chunks[0]} ({chunks[1]}); median memory {med['memory']:.2f} s, store "
          f"{med['store']:.2f} s ({100 * row['overhead']:+.1f}%), without fsync "
          f"{med['store_no_fsync']:.2f} s ({100 * row['overhead_no_fsync']:+.1f}%)", flush=True)
    return row, kernel, x, want


def scaling(kernel, x, want, tmp, in_process, repeats):
    from dask.distributed import Client, LocalCluster
    n = len(x)
    rows = []
    for workers in (2, 1):
        env = {"JAX_PLATFORMS": "cpu", "PYTHONPATH": str(HERE.parent)}
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          host="127.0.0.1", dashboard_address=None, env=env) as c, \
                Client(c) as client:
            warm = tmp / f"warm-{workers}.zarr"
            t_warm, _ = timed(lambda: kernel.gram(x, store=warm, client=client, progress=False))
            times = []
            for r in range(repeats):
                path = tmp / f"dask-{workers}-{r}.zarr"
                t, gs = timed(lambda: kernel.gram(x, store=path, client=client, progress=False))
                err = float(np.abs(gs.array() - want).max() / np.abs(want).max())
                assert err < 1e-6, err
                times.append(t)
                shutil.rmtree(path)
            shutil.rmtree(warm)
        med = statistics.median(times)
        rows.append({"workers": workers, "seconds": times, "median_seconds": med,
                     "first_job_seconds_with_compile": t_warm,
                     "seconds_per_entry": med / (n * (n + 1) // 2),
                     "speedup_vs_in_process_store": in_process / med})
        print(f"  {workers} Dask worker(s): median {med:.2f} s "
              f"({in_process / med:.2f}x the in-process store; first job with compile "
              f"{t_warm:.1f} s)", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--out", default=str(HERE / "results" / "store.json"))
    a = ap.parse_args(argv)
    import jax
    import dask
    import zarr
    cases = {"CNN-GAP 8x8 (W2's net)": workloads.cnn("GlobalAvgPool", n=96 if a.quick else 256),
             "FC depth 10 (W1's net)": workloads.fc(10, n=1500 if a.quick else 6000)}
    tmp = Path(tempfile.mkdtemp(prefix="ntkc-store-bench-"))   # on disk, not tmpfs
    try:
        results = []
        for name, spec in cases.items():
            row, kernel, x, want = measure(name, spec, a.repeats, tmp)
            if name.startswith("CNN"):
                row["dask"] = scaling(kernel, x, want, tmp, row["median_seconds"]["store"],
                                      a.repeats)
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
