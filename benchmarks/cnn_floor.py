"""How far the CNN path is from its arithmetic floor (issue 21).

    python benchmarks/cnn_floor.py --base 6472e50            # everything, one run
    python benchmarks/cnn_floor.py --base 6472e50 --quick    # fewer repeats

Measured in one run, each piece in its own process, so that ratios share the
machine's state (it is shared: the load average is recorded):

* **floor** — the bare passes one Conv + Relu layer needs over the position-pair
  arrays of one image pair: the separable 3×3 window sum (``_spatial.window_sum``
  on each axis pair, input and the intermediate in memory) of Σ and of Θ, and
  the arc-cosine pass (Relu's ``pair``: Σ, Θ → Σ', Σ̇·Θ), each repeated 20 times
  in a ``fori_loop`` so one call's overhead is spread; "in cache" on one image
  pair (32×32: 4 MiB per array in float32), "out of cache" on as many image
  pairs as make ~128 MiB per array. Floor per entry = 20 × (2 window sums +
  one arc-cosine pass).
* **ntkc** — the 21-layer CNN-GAP ``repeat 20 { Conv(kernel=3, W_std=sqrt(2))
  Relu } GlobalAvgPool Dense`` on 6 seeded 32×32×3 images (21 unique entries,
  x2 omitted, blocks as planned), and W2's 3-layer net on 8×8 (100 images) and
  16×16 (12 images), for the working tree and for ``--base``, ms per unique
  entry (wall and process CPU), the best of the timed calls after a warm-up.
* **arithmetic** — the same per-pixel-pair arithmetic with no pass through
  memory: each piece of a layer (one tied 3-tap shift-and-add along one axis
  pair, Relu's arc-cosine step with Σ̇·Θ, and a plain multiply for scale) as
  an XLA elementwise loop over a 32,768-element array that stays in L2,
  repeated in a ``fori_loop``; a layer = 4 shifts (2 axes × Σ, Θ) + one
  arc-cosine step. Also the whole layer as two fused passes over such an
  in-cache tile in the diagonal layout (pairs of constant p − q, where the
  tied window is a masked shift along p alone), and a count of the layer's
  floating-point operations at the measured rate of a chain of multiply-adds.
* **peer** — neural-tangents 0.6.5 (``--peer-python``, the peer venv) on 3 of
  the same images (6 entries, float32, jit), in the same run.
* **profile** — where the time goes in one planned block of the 21-layer net:
  the marginal cost of a layer (a 2- and a 6-layer net's block), the number of
  pair-sized arrays XLA writes per layer (fusions and conditionals of the
  compiled block), and the blocking plan for 32×32 images.

Writes benchmarks/results/cnn_floor.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEPTH = 20


def net_source(side: int, depth: int, channels: int, w_std: str = "sqrt(2)", b_std=None) -> str:
    bias = "" if b_std is None else f", b_std={b_std}"
    return (f"input image(height={side}, width={side}, channels={channels})\n"
            f"net cnn {{\n    repeat {depth} {{ Conv(kernel=3, W_std={w_std}{bias}) Relu }}\n"
            f"    GlobalAvgPool\n    Dense{'(W_std=1.5, b_std=0.1)' if b_std else ''}\n}}\n")


WORKLOADS = {
    # name: (side, depth, channels, images, W_std, b_std)
    "cnn21-32": (32, DEPTH, 3, 6, "sqrt(2)", None),
    "W2-8": (8, 3, 1, 100, "1.5", 0.1),
    "W2-16": (16, 3, 1, 12, "1.5", 0.1),
}


def _timed(fn, repeats):
    import jax
    jax.block_until_ready(fn())
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn())
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


# -- workers (one process each) ----------------------------------------------------
def worker_ntkc(name, dtype, repeats):
    import numpy as np
    import ntkc
    side, depth, channels, n, w, b = WORKLOADS[name]
    kernel = ntkc.compile(net_source(side, depth, channels, w, b))
    x = np.random.default_rng(0).standard_normal((n, side, side, channels)).astype(dtype)
    start = time.perf_counter()
    np.asarray(kernel(x))
    first = time.perf_counter() - start
    wall, cpu = _timed(lambda: np.asarray(kernel(x)), repeats)
    entries = n * (n + 1) // 2
    plan = kernel.plan(x)
    return {"ms_per_entry": 1e3 * wall / entries, "cpu_ms_per_entry": 1e3 * cpu / entries,
            "first_call_s": first, "entries": entries, "images": n,
            "plan": {"rows": plan.rows, "cols": plan.cols, "blocks": plan.count()}}


def worker_floor(side, dtype, repeats, pairs):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax
    from ntkc.rules._spatial import window_sum
    from ntkc.rules.relu import pair
    from ntkc.state import materialise

    rng = np.random.default_rng(0)
    shape = (pairs, side, side, side, side)
    c = jnp.asarray(rng.uniform(-0.5, 0.5, shape).astype(dtype))
    t = jnp.asarray(rng.uniform(0.5, 1.0, shape).astype(dtype))
    v = jnp.asarray(rng.uniform(1.0, 2.0, (side, side)).astype(dtype))
    v1, v2 = v[:, :, None, None], v[None, None]

    def window(a):  # separable 3×3, zero padding, the input and the intermediate in memory
        a = materialise(a, lambda a: window_sum(a, (1, 3), side, 3, 1, (1, 1), side, False))
        return materialise(a, lambda a: window_sum(a, (2, 4), side, 3, 1, (1, 1), side, False))

    def relu(c, t):
        s, dot = pair(c, v1, v2, {})
        return s, dot * t

    @jax.jit
    def windows(c):
        return lax.fori_loop(0, DEPTH, lambda i, a: window(a) * (1 / 9), c)

    @jax.jit
    def arccos_pass(c, t):
        return lax.fori_loop(0, DEPTH, lambda i, ct: relu(*ct), (c, t))

    ws_wall, ws_cpu = _timed(lambda: windows(c), repeats)
    ac_wall, ac_cpu = _timed(lambda: arccos_pass(c, t), repeats)
    per = 1e3 / (DEPTH * pairs)
    ws, ac = ws_wall * per, ac_wall * per
    return {"pairs": pairs, "bytes_per_array": int(np.prod(shape)) * np.dtype(dtype).itemsize,
            "window_sum_ms": ws, "arccos_pass_ms": ac,
            "window_sum_cpu_ms": ws_cpu * per, "arccos_pass_cpu_ms": ac_cpu * per,
            "layer_ms": 2 * ws + ac, "layer_cpu_ms": (2 * ws_cpu + ac_cpu) * per,
            "entry_ms": DEPTH * (2 * ws + ac), "entry_cpu_ms": DEPTH * (2 * ws_cpu + ac_cpu) * per,
            "ns_per_pixel_pair_layer": 1e6 * (2 * ws + ac) / side**4}


def worker_arithmetic(dtype, repeats):
    """ns per pixel pair for in-cache elementwise loops (see the docstring)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax
    from ntkc.rules.relu import pair
    from ntkc.state import materialise

    side, n, reps = 32, 32 * 1024, 2000
    rng = np.random.default_rng(0)
    c = jnp.asarray(rng.uniform(-0.5, 0.5, n).astype(dtype))
    t = jnp.asarray(rng.uniform(0.5, 1.0, n).astype(dtype))
    v1, v2 = (jnp.asarray(rng.uniform(1.0, 2.0, n).astype(dtype)) for _ in range(2))

    def shift(a, axis, lo=None, hi=None):  # a + a[p−1] + a[p+1], zero outside, masked
        k = a.shape[axis]
        down = jnp.pad(lax.slice_in_dim(a, 0, k - 1, axis=axis),
                       [(1, 0) if i == axis else (0, 0) for i in range(a.ndim)])
        up = jnp.pad(lax.slice_in_dim(a, 1, k, axis=axis),
                     [(0, 1) if i == axis else (0, 0) for i in range(a.ndim)])
        if lo is not None:
            down, up = down * lo, up * hi
        return down + a + up

    def ns(step, init, count=n, loops=reps):
        f = jax.jit(lambda s: lax.fori_loop(0, loops, lambda i, s: step(s), s))
        _, cpu = _timed(lambda: f(init), repeats)
        return 1e9 * cpu / (loops * count)

    cube = (side, side, side)
    out = {
        "multiply_add": ns(lambda a: a * 0.999 + 0.001, c),
        "ten_multiply_adds": ns(lambda a: _chain(a, 10), c),
        "tied_shift": ns(lambda a: shift(a.reshape(cube), 2).reshape(-1) * 0.3, c),
        # one output, so XLA keeps the step in one loop (its arithmetic)
        "arccos_step": ns(lambda ct: (lambda s, d: (0.5 * s + d * ct[1], ct[1]))(
            *pair(ct[0], v1, v2, {})), (c, t)),
        # Σ' and Σ̇·Θ as two outputs, as the rule has them: XLA splits the loop
        "arccos_step_two_outputs": ns(lambda ct: (lambda s, d: (0.5 * s, d * ct[1]))(
            *pair(ct[0], v1, v2, {})), (c, t)),
    }
    out["layer_sum_of_pieces"] = 4 * out["tied_shift"] + out["arccos_step"]
    # the diagonal layout: b[m, p] = Σ(p, (p − m) mod S) per axis; the tied
    # window is a shift along p, masked where p ± 1 or q ± 1 leaves [0, S)
    m, p = np.arange(side)[:, None], np.arange(side)[None, :]
    q = (p - m) % side
    lo = jnp.asarray(((p >= 1) & (q >= 1)).astype(dtype))
    hi = jnp.asarray(((p + 1 < side) & (q + 1 < side)).astype(dtype))
    tile = (2, 1, side, side, side)  # (Σ, Θ) × one mx × (my, px, py): 128 KiB per array
    st = jnp.asarray(rng.uniform(0.1, 0.5, tile).astype(dtype))
    w1 = v1.reshape(tile[1:])
    w2 = v2.reshape(tile[1:])

    def layer(st):
        a = materialise(st, lambda st: shift(st, 3, lo[:1, None, :, None], hi[:1, None, :, None]))

        def second(a):
            w = shift(a, 4, lo[None, :, None, :], hi[None, :, None, :]) * (2 / 9)
            sig, dot = pair(w[0], w1, w2, {})
            return jnp.stack([0.5 * sig, dot * (w[1] + w[0])])
        return materialise(a, second)
    out["layer_fused_in_cache"] = ns(layer, st, n, reps // 10)
    # operations per pixel pair and layer: 4 shifts × (2 adds + 2 mask
    # multiplies) + 2 scalings + Θ' = Σ' + ... (1) + Relu ≈ 25 (cosine 3, clip 2,
    # |x| and sign 2, 7 multiply-adds, 2 square roots counted as 2 each, 1 − a,
    # sin 3, Σ' 3, Σ̇ and Σ̇·Θ 2)
    out["ops_per_pixel_pair_layer"] = 4 * 4 + 2 + 1 + 25
    out["layer_at_multiply_add_rate"] = out["ops_per_pixel_pair_layer"] * out["ten_multiply_adds"] / 10
    per_entry = DEPTH * side**4 / 1e6
    for k in ("layer_sum_of_pieces", "layer_fused_in_cache", "layer_at_multiply_add_rate"):
        out[k.replace("layer", "entry") + "_cpu_ms"] = out[k] * per_entry
    return out


def _chain(a, k):
    for _ in range(k):
        a = a * 0.999 + 0.001
    return a


def worker_peer(images, repeats):
    """neural-tangents on ``images`` 32×32×3 images (float32, jit): ms per entry."""
    sys.path.insert(0, str(HERE))
    import jax
    import numpy as np
    from worker import import_peer
    stax = import_peer().stax
    layers = []
    for _ in range(DEPTH):
        layers += [stax.Conv(1, (3, 3), padding="SAME", W_std=2 ** 0.5, b_std=None), stax.Relu()]
    _, _, kernel_fn = stax.serial(*layers, stax.GlobalAvgPool(), stax.Dense(1, W_std=1.0,
                                                                             b_std=None))
    x = np.random.default_rng(0).standard_normal((6, 32, 32, 3)).astype("float32")[:images]
    fn = jax.jit(lambda x: kernel_fn(x, None, "ntk"))
    got = np.asarray(fn(x))
    wall, cpu = _timed(lambda: fn(x), repeats)
    entries = images * (images + 1) // 2
    return {"ms_per_entry": 1e3 * wall / entries, "cpu_ms_per_entry": 1e3 * cpu / entries,
            "entries": entries, "images": images, "ntk": got.tolist()}


def worker_profile(dtype, repeats):
    import numpy as np
    import ntkc
    out = {}
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype(dtype)
    for depth in (2, 6):
        kernel = ntkc.compile(net_source(32, depth, 3))
        fn = kernel._fn(("ntk",), False)
        a, b = x[:1], x[1:]
        wall, cpu = _timed(lambda: fn(a, b, None, None), repeats)
        hlo = fn.fn.lower(a, b, None, None).compile().as_text()
        out[depth] = {"block_ms": 1e3 * wall, "block_cpu_ms": 1e3 * cpu,
                      "pair_sized_writes": _pair_writes(hlo)}
    per_layer = {k: (out[6][k] - out[2][k]) / 4 for k in ("block_ms", "block_cpu_ms")}
    writes = (out[6]["pair_sized_writes"] - out[2]["pair_sized_writes"]) / 4
    kernel = ntkc.compile(net_source(32, DEPTH, 3))
    plans = {}
    for n in (6, 100, 1000):
        p = kernel.plan(np.zeros((n, 32, 32, 3), dtype))
        plans[n] = {"rows": p.rows, "cols": p.cols, "blocks": p.count()}
    return {"blocks": out, "per_layer_ms": per_layer["block_ms"],
            "per_layer_cpu_ms": per_layer["block_cpu_ms"], "pair_sized_writes_per_layer": writes,
            "plan_32x32": plans}


def _pair_writes(hlo: str) -> int:
    """Instructions of the compiled module outside fused computations (the
    entry and the conditionals' branches) that write a whole pair-sized
    array (32·32·32·32 elements): fusions, copies, slices and the like."""
    n, fused = 0, False
    for line in hlo.splitlines():
        if line.startswith("%") or line.startswith("ENTRY"):
            fused = line.startswith("%fused")
            continue
        m = re.match(r"\s*(?:ROOT )?%\S+ = f(?:32|64)\[([\d,]+)\]\S* ([\w-]+)\(", line)
        if fused or not m or m.group(2) in ("parameter", "bitcast", "tuple", "get-tuple-element",
                                            "conditional", "constant", "broadcast", "iota"):
            continue
        size = 1
        for s in m.group(1).split(","):
            size *= int(s)
        n += size == 32**4
    return n


def worker(args):
    if args.dtype == "float64":
        os.environ["JAX_ENABLE_X64"] = "1"
    kind = args.worker
    if kind == "ntkc":
        res = worker_ntkc(args.name, args.dtype, args.repeats)
    elif kind == "floor":
        res = worker_floor(args.side, args.dtype, args.repeats, args.pairs)
    elif kind == "arithmetic":
        res = worker_arithmetic(args.dtype, args.repeats)
    elif kind == "peer":
        res = worker_peer(args.images, args.repeats)
    else:
        res = worker_profile(args.dtype, args.repeats)
    res["loadavg"] = os.getloadavg()
    print(json.dumps(res))


# -- the parent ---------------------------------------------------------------------
def call(tree: Path, *argv, python=sys.executable) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([python, str(Path(__file__).resolve()), "--worker", *argv],
                         env=env, cwd=tree, capture_output=True, text=True)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def out_of_cache_pairs(side: int, itemsize: int) -> int:
    return max(1, (128 * 2**20) // (side**4 * itemsize))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=("ntkc", "floor", "profile", "arithmetic", "peer"))
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--peer-python", default=str(ROOT.parent / "main" / "benchmarks" / ".peer-venv"
                                                  / "bin" / "python"),
                    help="the peer venv's python (neural-tangents 0.6.5); '' skips the peer")
    ap.add_argument("--name")
    ap.add_argument("--side", type=int, default=32)
    ap.add_argument("--pairs", type=int, default=1)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--base", help="git revision measured as 'before'")
    ap.add_argument("--base-tree", help="an existing checkout of --base to use (else a "
                    "temporary git worktree is made)")
    ap.add_argument("--sides", nargs="*", type=int, default=[8, 16, 32])
    ap.add_argument("--dtypes", nargs="*", default=["float32", "float64"])
    ap.add_argument("--workloads", nargs="*", default=list(WORKLOADS))
    ap.add_argument("--out", default=str(HERE / "results" / "cnn_floor.json"))
    a = ap.parse_args()
    if a.worker:
        return worker(a)

    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=ROOT).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "ntkc"], capture_output=True,
                           text=True, cwd=ROOT).stdout.strip()
    res = {"head": rev + ("+dirty" if dirty else ""), "base": a.base, "cores": os.cpu_count(),
           "loadavg_at_start": os.getloadavg(), "floor": {}, "ntkc": {}, "profile": {},
           "arithmetic": {}, "peer": None}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(a.base_tree) if a.base_tree else Path(tmp) / "base"
        if a.base and not a.base_tree:
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), a.base],
                           check=True, cwd=ROOT)
        try:
            for dtype in a.dtypes:
                size = 4 if dtype == "float32" else 8
                for side in a.sides:
                    for where, pairs in (("in cache", 1),
                                         ("out of cache", out_of_cache_pairs(side, size))):
                        r = call(ROOT, "floor", "--side", str(side), "--pairs", str(pairs),
                                 "--dtype", dtype, "--repeats", str(a.repeats))
                        res["floor"][f"{side} {dtype} {where}"] = r
                        print("floor", side, dtype, where, r, flush=True)
                        save(a.out, res)
                r = call(ROOT, "arithmetic", "--dtype", dtype, "--repeats", str(a.repeats))
                res["arithmetic"][dtype] = r
                print("arithmetic", dtype, r, flush=True)
                for name in a.workloads:
                    trees = [("head", ROOT)] + ([("base", base)] if a.base else [])
                    for side_name, tree in trees:
                        r = call(tree, "ntkc", "--name", name, "--dtype", dtype,
                                 "--repeats", str(a.repeats))
                        res["ntkc"][f"{name} {dtype} {side_name}"] = r
                        print("ntkc", name, dtype, side_name, r, flush=True)
                        save(a.out, res)
                r = call(ROOT, "profile", "--dtype", dtype, "--repeats", str(a.repeats))
                res["profile"][dtype] = r
                print("profile", dtype, r, flush=True)
                save(a.out, res)
            if a.peer_python:
                env_tree = Path(tmp) / "peer"  # an empty tree: the peer must not import ntkc
                env_tree.mkdir()
                r = call(env_tree, "peer", "--images", str(a.images), "--repeats", "1",
                         python=a.peer_python)
                res["peer"] = r
                print("peer", {k: v for k, v in r.items() if k != "ntk"}, flush=True)
                save(a.out, res)
        finally:
            if a.base and not a.base_tree:
                subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT)
    res["loadavg_at_end"] = os.getloadavg()
    save(a.out, res)


def save(path, res):
    Path(path).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
