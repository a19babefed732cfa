"""Which way to compute the empirical NTK of a finite net: Jacobian contraction
(what ``ntkc.empirical_ntk`` does) against the implicit form, measured in one run.

    python benchmarks/empirical_ntk.py [--n 256] [--width 256] [--big 2000]

Both on the MNIST-shaped MLP 784 → width → width → 1 (ReLU, float32), Θ̂(X, X)
for n random inputs:

* jacobian: ``ntkc.empirical_ntk`` — per-example Jacobians (vmap of jacrev) in
  blocks, Θ̂ = J Jᵀ by matrix products;
* implicit: no Jacobian kept: for each column example j, the cotangent e_j
  pulled back by ``vjp`` (a parameter-sized vector J(x_j)ᵀ) is pushed forward
  through all n examples by ``jvp``, giving column j = J(X) J(x_j)ᵀ; vmapped
  over columns in blocks of the same size.

Each is timed after a warm-up call (compilation excluded), best of ``--repeat``
turns taken in rotation, with blocks of ``--block`` examples and, for
``empirical_ntk``, the block its memory budget picks (1 GiB: all n at once).
The two must agree (max relative difference printed). Then ``--big`` examples
through ``empirical_ntk`` with a 256 MiB block budget: peak resident memory and
time, to show a few thousand examples fit. Writes benchmarks/results/empirical_ntk.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ntkc  # noqa: E402

SRC = """
input vector(dim=784)
net mlp {
    Dense(W_std=sqrt(2))
    Relu
    Dense(W_std=sqrt(2))
    Relu
    Dense(W_std=sqrt(2))
}
"""


def implicit_ntk(fnet, params, x, block):
    """Θ̂(X, X) column block by column block: vjp at x_j, then jvp over X."""
    f1 = lambda p, xi: fnet.apply(p, xi[None])[0, 0]  # noqa: E731

    @jax.jit
    def columns(params, xb):
        pulled = jax.vmap(lambda xi: jax.grad(f1)(params, xi))(xb)      # (b, params)
        push = lambda t: jax.jvp(lambda p: fnet.apply(p, x)[:, 0], (params,), (t,))[1]  # noqa: E731
        return jax.vmap(push)(pulled)                                     # (b, n)

    n = len(x)
    out = np.zeros((n, n))
    for s in range(0, n, block):
        xb = x[s:s + block]
        if len(xb) < block:
            xb = jnp.concatenate([xb, jnp.zeros((block - len(xb),) + xb.shape[1:], xb.dtype)])
        out[:, s:s + block] = np.asarray(columns(params, xb)).T[:, :min(block, n - s)]
    return out


def interleaved(fns, repeat):
    """Best wall time of each function, called in turn ``repeat`` times after a
    warm-up call each (compilation excluded; turns share the machine's load)."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: min(v) for k, v in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--big", type=int, default=2000)
    args = ap.parse_args(argv)
    fnet = ntkc.finite_net(ntkc.compile(SRC), width=args.width, out_width=1)
    params = fnet.sample(0, 0)[0]
    x = jnp.asarray(np.random.default_rng(0).random((args.n, 784)), jnp.float32)
    a = ntkc.empirical_ntk(fnet, params, x)
    b = implicit_ntk(fnet, params, x, args.block)
    gap = float(np.max(np.abs(a - b)) / np.max(np.abs(a)))
    times = interleaved({
        "jacobian_auto": lambda: ntkc.empirical_ntk(fnet, params, x),
        f"jacobian_b{args.block}": lambda: ntkc.empirical_ntk(fnet, params, x, batch=args.block),
        f"implicit_b{args.block}": lambda: implicit_ntk(fnet, params, x, args.block),
        f"implicit_b{args.n}": lambda: implicit_ntk(fnet, params, x, args.n)}, args.repeat)
    print(f"n={args.n} width={args.width} P={fnet.num_params()}: "
          + ", ".join(f"{k} {v:.2f}s" for k, v in times.items())
          + f"; max rel. difference {gap:.1e}", flush=True)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    xb = jnp.asarray(np.random.default_rng(1).random((args.big, 784)), jnp.float32)
    t = time.perf_counter()
    big = ntkc.empirical_ntk(fnet, params, xb, memory=2**28)
    t_big = time.perf_counter() - t
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"n={args.big}: {t_big:.0f}s, peak RSS {rss0:.0f} → {rss1:.0f} MiB, "
          f"Gram {big.nbytes / 2**20:.0f} MiB", flush=True)
    out = ROOT / "benchmarks" / "results" / "empirical_ntk.json"
    out.write_text(json.dumps({
        "n": args.n, "width": args.width, "params": fnet.num_params(), "block": args.block,
        "seconds": times,
        "max_rel_difference": gap, "big_n": args.big, "big_s": t_big,
        "peak_rss_mib_before": rss0, "peak_rss_mib_after": rss1,
        "machine": f"{jax.default_backend()}, jax {jax.__version__}, load {open('/proc/loadavg').read().split()[0]}",
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
