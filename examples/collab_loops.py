"""COLLAB's self loops: what the GNTK authors' convention changes in the Gram.

    python examples/collab_loops.py [--data ../shared/data] [--graphs 40]

COLLAB's file lists a self loop at 2,837 nodes (in 1,902 of its 5,000 graphs).
ntkc reads it as one entry of the adjacency A, so GraphAgg's Â = A + I has 2
on that diagonal entry; the authors' gram.py builds A = E + Eᵀ + I from the
networkx edges, which counts the loop twice and the identity once: 3. This
script computes the one-block GNTK (jk=1, one MLP layer, both scalings) of a
sample of COLLAB graphs — the ``--graphs`` smallest with a self loop and as
many without — with both conventions, by a plain numpy recursion over the
disjoint union of the graphs' nodes (the jk=1 net of examples/gntk_jk1_COLLAB.ntk:
Dense(√(2F)), then h0 + GraphAgg·Relu·Dense(√2), summed over nodes). The numpy
recursion is first checked against ntkc's own Gram for ntkc's convention.
Reports how much the cosine-normalised Gram entries move. Writes
docs/results_collab_loops.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import DEFAULT_DATA, DOCS, ROOT, setup_jax  # noqa: E402


def relu(sigma, theta):
    v = np.sqrt(np.diag(sigma))
    norm = np.outer(v, v)
    cos = np.clip(sigma / np.where(norm > 0, norm, 1), -1, 1)
    t = np.arccos(cos)
    return norm * (np.sin(t) + (np.pi - t) * cos) / (2 * np.pi), theta * (np.pi - t) / (2 * np.pi)


def gntk_b1_m1(graphs, norm, loop_weight):
    """Θ over graph pairs of the jk=1 one-block GNTK; a listed self loop
    counts ``loop_weight`` in A before GraphAgg adds I."""
    sizes = [len(f) for f, _ in graphs]
    total = sum(sizes)
    x = np.concatenate([f for f, _ in graphs])
    a_hat = np.zeros((total, total))
    member = np.zeros((len(graphs), total))
    s = 0
    for g, (f, a) in enumerate(graphs):
        n = len(f)
        a = a.astype(float)
        a = a + (loop_weight - 1) * np.diag(np.diag(a)) + np.eye(n)
        if norm == "mean":
            a = a / a.sum(1, keepdims=True)
        a_hat[s:s + n, s:s + n] = a
        member[g, s:s + n] = 1
        s += n
    width = x.shape[1]
    sigma = 2 * width * (x @ x.T / width)          # Dense(W_std=√(2F))
    theta = sigma.copy()
    s0, t0 = sigma, theta                          # the first tap
    sigma, theta = a_hat @ sigma @ a_hat.T, a_hat @ theta @ a_hat.T
    sigma, theta = relu(sigma, theta)
    sigma = 2 * sigma                              # Dense(W_std=√2)
    theta = 2 * theta + sigma
    theta = t0 + theta                             # JumpingKnowledge: taps uncorrelated
    return member @ theta @ member.T


def cosine(k):
    d = np.sqrt(np.diag(k))
    return k / np.outer(d, d)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--graphs", type=int, default=40)
    ap.add_argument("--out", default=str(DOCS / "results_collab_loops.json"))
    args = ap.parse_args(argv)
    setup_jax(cache=False)
    import ntkc
    from ntkc.data import GraphDataset, load_tu
    from ntkc.regression import graph_gram

    ds = load_tu(Path(args.data) / "graphs", "COLLAB")
    loops = np.array([np.diag(a).sum() > 0 for _, a in ds.graphs])
    sizes = ds.sizes()
    with_l = np.flatnonzero(loops)[np.argsort(sizes[loops], kind="stable")][: args.graphs]
    without = np.flatnonzero(~loops)[np.argsort(sizes[~loops], kind="stable")][: args.graphs]
    pick = np.concatenate([with_l, without])
    sample = [ds.graphs[i] for i in pick]
    out = {"graphs": len(pick), "with_loops": len(with_l), "nodes": int(sizes[pick].sum()),
           "loop_nodes": int(sum(np.diag(ds.graphs[i][1]).sum() for i in with_l)), "nets": {}}
    for norm in ("sum", "mean"):
        name = f"b1_m1_{norm}"
        ours = gntk_b1_m1(sample, norm, 1)
        kernel = ntkc.load(ROOT / "examples/gntk_jk1_COLLAB.ntk", net=name)
        compiled = graph_gram(kernel, GraphDataset("sample", sample, np.zeros(len(sample), int)))
        check = float(np.max(np.abs(compiled - ours)) / np.max(np.abs(ours)))
        if check > 1e-8:  # arccos near cos θ = 1 rounds at ~1e-9
            raise SystemExit(f"{name}: the numpy recursion differs from ntkc by {check:.1e}")
        authors = gntk_b1_m1(sample, norm, 2)
        ca, co = cosine(authors), cosine(ours)
        n = len(with_l)
        moved = np.abs(ca - co)
        out["nets"][name] = {
            "numpy_vs_ntkc": check,
            "relative_frobenius": float(np.linalg.norm(authors - ours) / np.linalg.norm(ours)),
            "cosine_max_change": float(moved.max()),
            "cosine_mean_change_loop_pairs": float(moved[:n, :n][~np.eye(n, dtype=bool)].mean()),
            "cosine_mean_change_mixed_pairs": float(moved[:n, n:].mean()),
            "cosine_max_change_loopless_pairs": float(moved[n:, n:].max()),
            "raw_diagonal_mean_ratio_loop_graphs": float(np.mean(np.diag(authors)[:n] / np.diag(ours)[:n])),
        }
        print(name, json.dumps(out["nets"][name]), flush=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
