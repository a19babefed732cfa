"""Measure the finite-width bias |E K̂ − K|/‖K‖ of nets whose rules state an
``mc_bias`` other than Dense's (unnormalised SelfAttention, Recurrent), in
units of 1/width, next to the allowance ``verify`` gives them; writes
benchmarks/results/mc_bias.json.

    PYTHONPATH=. python benchmarks/mc_bias.py [--draws 1024]

The bias is read from many draws at small widths, where it is large next to
the standard error; c = bias·width should be about constant if it is O(1/width).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import ntkc  # noqa: E402
from ntkc.verification import _depths, random_inputs  # noqa: E402

sys_path = Path(__file__).resolve().parent
import sys  # noqa: E402

sys.path.insert(0, str(sys_path))
from verify_curve import draws, rel  # noqa: E402

SEQ = "input sequence(length=4, channels=3)\n"
NETS = {
    "attention_identity": SEQ + 'net n { Dense SelfAttention(mechanism="identity") Relu GlobalAvgPool Dense }',
    "attention_relu": SEQ + 'net n { Dense SelfAttention(mechanism="relu") Relu GlobalAvgPool Dense }',
    "attention_softmax": SEQ + 'net n { Dense SelfAttention Relu GlobalAvgPool Dense }',
    "recurrent_relu_T4": SEQ + 'net n { Recurrent(W_std=1.2, b_std=0.1) { Relu } Dense }',
    "recurrent_relu_T8": "input sequence(length=8, channels=3)\n"
                         'net n { Recurrent(W_std=1.2, b_std=0.1, readout="mean") { Relu } Dense }',
}


def measure(name, widths, n):
    kernel = ntkc.compile(NETS[name])
    x = random_inputs(kernel, 4, 0)
    nngp, ntk = (np.asarray(k) for k in kernel(x, get=("nngp", "ntk")))
    rows = []
    for w in widths:
        nn, nt, secs, fnet = draws(kernel, x, w, n)
        allowance = max(_depths(fnet)[fnet.layers[-1].path], 1)
        cell = {"net": name, "width": w, "draws": n, "allowance_units": allowance,
                "seconds": round(secs, 1)}
        for kind, d, ref in (("nngp", nn, nngp), ("ntk", nt, ntk)):
            e = rel(d.mean(0), ref)
            se = float(np.sqrt(d.var(0, ddof=1).sum() / n) / np.linalg.norm(ref))
            cell[kind] = round(e, 4)
            cell[f"{kind}_se"] = round(se, 4)
            cell[f"{kind}_bias_width"] = round(e * w, 2)   # c: the bias in units of 1/width
        rows.append(cell)
        print(json.dumps(cell), flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=1024)
    ap.add_argument("--widths", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--nets", nargs="+", default=list(NETS))
    a = ap.parse_args()
    rows = [r for name in a.nets for r in measure(name, a.widths, a.draws)]
    out = Path(__file__).resolve().parent / "results" / "mc_bias.json"
    out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
