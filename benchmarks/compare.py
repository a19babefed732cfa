"""ntkc against neural-tangents 0.6.5, side by side, in one run.

    python benchmarks/compare.py                  # everything, then the report
    python benchmarks/compare.py --only main      # W1–W4 table (and the FC floor)
    python benchmarks/compare.py --only scaling   # the scaling curves
    python benchmarks/compare.py --only budget    # memory_limit demonstration
    python benchmarks/compare.py --report         # redraw docs from saved JSON

The peer lives in ``benchmarks/.peer-venv`` (made by ``peer_env.py`` on first
use). Every measurement is its own process (``worker.py``): the same seeded
inputs (one ``.npz`` per workload and dtype, written here), the same dtype, a
warm-up call, then timed calls. ntkc and the peer alternate, and the order
flips every round. Peak RSS is the child's ``ru_maxrss`` from ``wait4``; a
watchdog kills a child past its time limit or the memory cap (the machine is
shared) and records that as the run's outcome. Results go to
``benchmarks/results/*.json``; ``report.py`` turns them into
``docs/performance.md`` and its plots.
"""

from __future__ import annotations

import argparse
import json
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
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))
import workloads  # noqa: E402

GiB = 2**30


# -- one measurement -----------------------------------------------------------
def measure(impl, spec, dtype, inputs, repeats=3, timeout=600.0, mem_cap=12 * GiB,
            extra=(), platform_name="cpu"):
    """Run worker.py once; returns its report plus ``status`` ("ok", "timeout",
    "memory cap", "killed (signal N)", "error") and ``rss_peak`` from wait4."""
    python = str(peer_python()) if impl == "peer" else sys.executable
    out = Path(tempfile.mkstemp(suffix=".json", dir=_tmp())[1])
    log = out.with_suffix(".log")
    cmd = [python, str(HERE / "worker.py"), impl, json.dumps(spec), str(inputs), dtype,
           str(out), "--repeats", str(repeats), *extra]
    env = dict(os.environ, JAX_PLATFORMS=platform_name, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = str(ROOT) if impl != "peer" else ""
    with open(log, "w") as logf:
        proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT)
    start, status, seen = time.monotonic(), None, 0
    while True:
        pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss = _rss(proc.pid)
        seen = max(seen, rss)
        if status is None and rss > mem_cap:
            status = f"memory cap ({mem_cap / GiB:.0f} GiB)"
            proc.kill()
        elif status is None and time.monotonic() - start > timeout:
            status = f"timeout ({timeout:.0f} s)"
            proc.kill()
        time.sleep(0.05)
    wall = time.monotonic() - start
    report = {}
    if out.stat().st_size:
        report = json.loads(out.read_text())
    if status is None:
        if os.WIFSIGNALED(code):
            status = f"killed (signal {os.WTERMSIG(code)})"
        elif os.WEXITSTATUS(code) != 0 or not report:
            tail = log.read_text()[-600:]
            status = "error: " + _last_error(tail)
        else:
            status = "ok"
    report.update(status=status, wall=wall, rss_peak=max(usage.ru_maxrss * 1024, seen),
                  impl=impl, dtype=dtype)
    report.pop("sample", None) if status != "ok" else None
    out.unlink(missing_ok=True)
    log.unlink(missing_ok=True)
    return report


def _rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _last_error(text):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "Error" in ln or "error" in ln:
            return ln.strip()[:300]
    return (lines[-1] if lines else "no output")[:300]


_TMP = None


def _tmp():
    global _TMP
    if _TMP is None:
        _TMP = tempfile.mkdtemp(prefix="ntkc-bench-")
    return _TMP


def inputs_file(spec, dtype, seed=0):
    import hashlib
    tag = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    path = Path(_tmp()) / f"{spec['name']}-{tag}-{dtype}-{seed}.npz"
    if not path.exists():
        np.savez(path, **workloads.make_inputs(spec, seed, dtype))
    return path


def peer_python():
    import peer_env
    return peer_env.ensure()


def agreement(a, b):
    """max |a − b| / max |b| over the strided samples both workers saved."""
    if a.get("status") != "ok" or b.get("status") != "ok":
        return None
    x, y = np.array(a["sample"]), np.array(b["sample"])
    return float(np.abs(x - y).max() / np.abs(y).max())


def median_time(r):
    return float(np.median(r["times"])) if r.get("status") == "ok" else None


def spread(values):
    v = [x for x in values if x is not None]
    if not v:
        return None
    return {"min": float(np.min(v)), "median": float(np.median(v)), "max": float(np.max(v))}


# -- the W1–W4 table --------------------------------------------------------------
def run_main(args):
    rows = []
    for key, spec in workloads.MAIN.items():
        if args.workloads and key not in args.workloads:
            continue
        for dtype in args.dtypes:
            inputs = inputs_file(spec, dtype)
            runs = {"ntkc": [], "peer": []}
            for rnd in range(args.rounds):
                order = ("ntkc", "peer") if rnd % 2 == 0 else ("peer", "ntkc")
                for impl in order:
                    r = measure(impl, spec, dtype, inputs, args.repeats, args.timeout)
                    runs[impl].append(r)
                    _say(f"{key} {dtype} {impl:5s} round {rnd}: {r['status']} "
                         f"median {median_time(r)} s, peak {r['rss_peak'] / 2**20:.0f} MiB")
            pairs = list(zip(runs["ntkc"], runs["peer"]))
            row = {
                "workload": key, "spec": spec, "dtype": dtype, "commit": commit(),
                "date": time.strftime("%Y-%m-%d %H:%M"),
                "ntkc": _summary(runs["ntkc"]), "peer": _summary(runs["peer"]),
                "time_ratio": spread([_div(median_time(p), median_time(n)) for n, p in pairs]),
                "rss_ratio": spread([_div(p["rss_peak"], n["rss_peak"]) for n, p in pairs
                                     if n["status"] == "ok" and p["status"] == "ok"]),
                "agreement": max((a for a in (agreement(n, p) for n, p in pairs) if a is not None),
                                 default=None),
                "runs": {k: [_strip(r) for r in v] for k, v in runs.items()},
            }
            rows.append(row)
    old = load("main") if args.workloads else None
    if old:  # a subset was rerun: keep the other rows (each row names its commit)
        redone = {(r["workload"], r["dtype"]) for r in rows}
        rows = [r for r in old["rows"] if (r["workload"], r["dtype"]) not in redone] + rows
        rows.sort(key=lambda r: (r["workload"], r["dtype"]))
    floor = dict((old or {}).get("floor", {}), **run_floor(args))
    save("main", {"rows": rows, "floor": floor})


def load(name):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def run_floor(args):
    """W1 against the floor: one 2000²×100 product plus 10 elementwise passes."""
    spec = workloads.MAIN["W1"]
    out = {}
    for dtype in args.dtypes:
        inputs = inputs_file(spec, dtype)
        floors, ours = [], []
        for _ in range(args.rounds):
            floors.append(measure("floor", spec, dtype, inputs, args.repeats, args.timeout))
            ours.append(measure("ntkc", spec, dtype, inputs, args.repeats, args.timeout))
        ratio = spread([_div(median_time(n), median_time(f)) for f, n in zip(floors, ours)])
        out[dtype] = {"floor": _summary(floors), "ntkc": _summary(ours), "ratio": ratio}
        _say(f"floor {dtype}: W1/floor = {ratio}")
    return out


def _summary(runs):
    ok = [r for r in runs if r["status"] == "ok"]
    return {"time": spread([median_time(r) for r in ok]),
            "rss": spread([r["rss_peak"] for r in ok]),
            "warmup": spread([r["warmup"] for r in ok]),
            "status": sorted({r["status"] for r in runs})}


def _strip(r):
    return {k: v for k, v in r.items() if k != "sample"}


def _div(a, b):
    return None if a is None or b is None or b == 0 else a / b


# -- scaling curves ----------------------------------------------------------------
def scaling_points(quick=False):
    """(curve, label, x, spec) in increasing cost along each curve."""
    pts = []
    for depth in (1, 10, 50):
        for n in (500, 1000, 2000, 4000, 8000):
            pts.append((f"fc-d{depth}", f"FC depth {depth}", n, workloads.fc(depth, n=n)))
    for side in (8, 16, 32):
        for n in (50, 100, 200):
            pts.append((f"cnn-gap-{side}", f"CNN-GAP {side}×{side}", n,
                        workloads.cnn("GlobalAvgPool", n=n, side=side)))
    for n in (100, 500, 2000):
        pts.append(("graphs", "graphs of 10–50 nodes", n, workloads.gnn(n=n, nodes=(10, 50))))
    if quick:
        pts = [p for p in pts if p[2] <= (1000 if p[0].startswith("fc") else 100)
               and not p[0].endswith("-32")]
    return pts


def run_scaling(args):
    points = []
    failed = {}  # (impl, curve) -> status of the first failure along the curve
    dtype = "float32"
    old = load("scaling") if args.curves else None
    for curve, label, x, spec in scaling_points(args.quick):
        if args.curves and not any(curve.startswith(c) for c in args.curves):
            continue
        inputs = inputs_file(spec, dtype)
        entry = {"curve": curve, "label": label, "n": x, "spec": spec, "dtype": dtype}
        for impl in ("ntkc", "peer"):
            if (impl, curve) in failed:
                entry[impl] = {"status": f"skipped: {failed[impl, curve]} at a smaller size"}
                continue
            r = measure(impl, spec, dtype, inputs, args.point_repeats, args.point_timeout,
                        args.mem_cap)
            entry[impl] = _strip(r)
            entry.setdefault("_samples", []).append(r)
            if r["status"] != "ok":
                failed[impl, curve] = r["status"]
            _say(f"{label} N={x} {impl:5s}: {r['status']} {median_time(r)} s "
                 f"{r['rss_peak'] / 2**20:.0f} MiB")
        samples = entry.pop("_samples", [])
        if len(samples) == 2:
            entry["agreement"] = agreement(samples[0], samples[1])
        entry["point_timeout"] = args.point_timeout
        entry["timed_calls"] = args.point_repeats  # 0: the time is the first call's, compile included
        points.append(entry)
        kept = [p for p in (old or {}).get("points", [])
                if not any(p["curve"].startswith(c) for c in args.curves or ())]
        save("scaling", {"points": kept + points, "point_timeout": args.point_timeout,
                         "mem_cap": args.mem_cap})


# -- memory budget ------------------------------------------------------------------
def run_budget(args):
    """An FC Gram of 20000×20000 (W1's net) under memory_limit="8GB", checked
    against unblocked Grams of two slices."""
    spec = workloads.fc(10, n=args.budget_n)
    inputs = inputs_file(spec, "float32")
    extra = ("--memory-limit", "8GB", "--check-slices")
    r = measure("ntkc", spec, "float32", inputs, 0, args.budget_timeout, 20 * GiB, extra)
    _say(f"budget FC {args.budget_n}²: {r['status']} warm-up {r.get('warmup')} s, "
         f"peak {r['rss_peak'] / 2**30:.2f} GiB, slices {r.get('slices')}")
    save("budget", {"runs": [_strip(r)], "memory_limit": "8GB", "n": args.budget_n})


# -- bookkeeping ----------------------------------------------------------------------
def machine():
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cores": os.cpu_count(), "loadavg_at_start": os.getloadavg()}
    try:
        cpu = [ln for ln in open("/proc/cpuinfo") if ln.startswith("model name")]
        info["cpu"] = cpu[0].split(":", 1)[1].strip() if cpu else "?"
        mem = [ln for ln in open("/proc/meminfo") if ln.startswith("MemTotal")]
        info["memory_gib"] = round(int(mem[0].split()[1]) / 2**20, 1)
    except OSError:
        pass
    import jax
    info["ntkc_jax"] = jax.__version__
    info["ntkc_numpy"] = np.__version__
    info["ntkc_devices"] = [str(d) for d in jax.devices()]
    try:
        info["ntkc_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                             capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    try:
        code = ("import sys; sys.path.insert(0, %r); import worker, jax, numpy; "
                "print(worker.import_peer().__version__, jax.__version__, numpy.__version__)"
                % str(HERE))
        env = dict(os.environ, JAX_PLATFORMS="cpu")
        v = subprocess.run([str(peer_python()), "-c", code], capture_output=True, text=True,
                           env=env).stdout.split()
        info.update(peer="neural-tangents " + v[0], peer_jax=v[1], peer_numpy=v[2])
    except Exception as e:  # the report still says what ran
        info["peer"] = f"unavailable: {e}"
    return info


def commit():
    """The ntkc commit measured, with "+dirty" when ntkc/ had uncommitted edits."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "ntkc"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except OSError:
        return "?"


def save(name, payload):
    RESULTS.mkdir(exist_ok=True)
    payload = dict(payload, machine=MACHINE, date=time.strftime("%Y-%m-%d %H:%M:%S"),
                   loadavg_at_save=os.getloadavg())
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=1))


def _say(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


MACHINE = {}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="main,scaling,budget",
                    help="comma-separated parts: main, scaling, budget")
    ap.add_argument("--report", action="store_true", help="only redraw the report from JSON")
    ap.add_argument("--workloads", nargs="*", help="subset of W1 W2 W3 W4")
    ap.add_argument("--dtypes", nargs="*", default=["float32", "float64"])
    ap.add_argument("--rounds", type=int, default=3, help="alternating runs per workload")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per run (median)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per main-table run")
    ap.add_argument("--point-timeout", type=float, default=90, help="seconds per scaling point")
    ap.add_argument("--point-repeats", type=int, default=1,
                    help="timed calls per scaling point after the warm-up; 0 times the "
                         "warm-up call itself (compilation included), for points whose "
                         "Gram takes minutes")
    ap.add_argument("--mem-cap", type=float, default=12 * GiB, help="bytes per scaling run")
    ap.add_argument("--budget-n", type=int, default=20000)
    ap.add_argument("--budget-timeout", type=float, default=900)
    ap.add_argument("--quick", action="store_true", help="small scaling points only")
    ap.add_argument("--curves", nargs="*", help="rerun only these scaling curves (prefixes: "
                    "fc, cnn, graphs), keeping the others' saved points")
    args = ap.parse_args(argv)
    if not args.report:
        MACHINE.update(machine())
        parts = args.only.split(",")
        if "main" in parts:
            run_main(args)
        if "scaling" in parts:
            run_scaling(args)
        if "budget" in parts:
            run_budget(args)
    import report
    report.write()


if __name__ == "__main__":
    main()
