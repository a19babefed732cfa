"""One measurement in its own process, so that peak RSS belongs to one run.

    python worker.py IMPL SPEC_JSON INPUTS.npz DTYPE OUT.json [--repeats 3]

IMPL is ``ntkc`` (run with the project's python), ``peer`` (run with
``benchmarks/.peer-venv``'s python: neural-tangents 0.6.5 ``stax``, jitted),
or ``floor`` (the FC lower bound: one N²×D matrix product plus ``depth``
elementwise passes over the N×N result). The Gram ``ntk(x, x)`` (x2 omitted)
is computed once to warm up (compile), then ``repeats`` more times, each timed
to completion. OUT.json gets the times, the warm-up time, this process's peak
RSS, and a strided sample of the Gram so the parent can check that ntkc and
the peer computed the same kernel.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import sys
import time
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402


def import_peer():
    """Import neural_tangents. 0.6.5 eagerly imports ``neural_tangents.experimental``
    (its TensorFlow interop), which needs tensorflow, tf2jax and jax2tf. stax
    never uses it, so without tensorflow an empty stand-in module takes its place."""
    if importlib.util.find_spec("tensorflow") is None:
        sys.modules.setdefault("neural_tangents.experimental",
                               types.ModuleType("neural_tangents.experimental"))
    import neural_tangents
    return neural_tangents


def _peer_fn(spec, data):
    import jax
    stax = import_peer().stax
    _, _, kernel_fn = workloads.stax_net(spec, stax)
    if spec["kind"] == "graph":
        p = workloads.stax_pattern(spec, data["adjacency"], data["mask"])
        fn = jax.jit(lambda x, p: kernel_fn(x, None, "ntk", pattern=(p, p)))
        x, p = jax.device_put(data["features"]), jax.device_put(p)
        return lambda: fn(x, p)
    fn = jax.jit(lambda x: kernel_fn(x, None, "ntk"))
    x = jax.device_put(data["x"])
    return lambda: fn(x)


def _ntkc_fn(spec, data, memory_limit=None, batch_size=None):
    import ntkc
    kernel = ntkc.compile(workloads.ntk_source(spec))
    kw = {"memory_limit": memory_limit, "batch_size": batch_size}
    if spec["kind"] == "graph":
        x = ntkc.GraphBatch(data["features"], data["adjacency"], data["mask"])
    else:
        x = data["x"]
    return lambda: kernel(x, **kw)


def _floor_fn(spec, data):
    """x·xᵀ/D, then ``depth`` separate elementwise passes over the N×N result.
    Each pass is the operand of a conditional so that XLA must write it to
    memory (XLA:CPU drops optimisation barriers before fusion, and would
    otherwise fuse the passes into one)."""
    import jax
    import jax.numpy as jnp
    depth = sum(1 for name, _ in spec["layers"] if name == "Relu")

    def written(k):
        return jax.lax.cond(k[0, 0] >= 0, lambda a: a, lambda a: a * 1, k)

    @jax.jit
    def fn(x):
        k = x @ x.T / x.shape[1]
        for _ in range(depth):
            k = written(jnp.maximum(1.5 * k + 0.1, 0.0))
        return k
    x = jax.device_put(data["x"])
    return lambda: fn(x)


def _check_slices(spec, data, k):
    """max relative difference between slices of the blocked Gram ``k`` and
    unblocked calls on those slices: the top-left 2000² block (x2 omitted) and
    the last 1000 rows against the first 1000 (x2 given)."""
    import ntkc
    kernel = ntkc.compile(workloads.ntk_source(spec))
    x = data["x"]
    m = min(2000, len(x))
    top = np.asarray(kernel(x[:m], batch_size=m))
    q = min(1000, len(x) // 2)
    cross = np.asarray(kernel(x[-q:], x[:q], batch_size=len(x)))
    rel = lambda a, b: float(np.abs(a - b).max() / np.abs(b).max())
    return {"gram_top_left": rel(k[:m, :m], top), "cross_block": rel(k[-q:, :q], cross)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("impl", choices=("ntkc", "peer", "floor"))
    ap.add_argument("spec")
    ap.add_argument("inputs")
    ap.add_argument("dtype", choices=("float32", "float64"))
    ap.add_argument("out")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-limit", default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--check-slices", action="store_true",
                    help="ntkc: compare two slices of the Gram with unblocked calls")
    a = ap.parse_args()

    if a.dtype == "float64":
        os.environ["JAX_ENABLE_X64"] = "1"
    import jax
    jax.config.update("jax_enable_x64", a.dtype == "float64")
    spec = json.loads(a.spec)
    data = dict(np.load(a.inputs))
    rss_ready = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if a.impl == "peer":
        run = _peer_fn(spec, data)
    elif a.impl == "floor":
        run = _floor_fn(spec, data)
    else:
        run = _ntkc_fn(spec, data, a.memory_limit, a.batch_size)

    t0 = time.perf_counter()
    k = jax.block_until_ready(run())
    warm = time.perf_counter() - t0
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        k = jax.block_until_ready(run())
        times.append(time.perf_counter() - t0)
    k = np.asarray(k)
    step = max(1, k.shape[0] // 48)
    slices = _check_slices(spec, data, k) if a.check_slices else None
    out = {"slices": slices, "warmup_only": not times,
           "times": times or [warm],
           "impl": a.impl, "warmup": warm, "shape": list(k.shape),
           "dtype": str(k.dtype), "finite": bool(np.isfinite(k).all()),
           "sample": k[::step, ::step].astype(float).tolist(),
           "rss_ready": rss_ready,
           "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
           "devices": [str(d) for d in jax.devices()], "jax": jax.__version__}
    with open(a.out, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
