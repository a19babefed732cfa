"""What the stax golden generators (make_attention_goldens.py,
make_standard_goldens.py) share: one case's kernels from a stax ``kernel_fn``
on seeded inputs, written as ``<name>.npz`` beside its ``.ntk`` source, and
the ``cases.json`` that the tests read. Runs under the peer's venv
(benchmarks/peer_env.py), never inside the package."""

from __future__ import annotations

import json

import numpy as np


def kernels(kernel_fn, x1, x2, **kw) -> dict:
    """Σ and Θ on (x1, x1) — x2 omitted, as a Gram — and on (x1, x2)."""
    k11 = kernel_fn(x1, None, ("nngp", "ntk"), **kw)
    k12 = kernel_fn(x1, x2, ("nngp", "ntk"), **kw)
    return {"nngp_11": np.asarray(k11.nngp), "ntk_11": np.asarray(k11.ntk),
            "nngp_12": np.asarray(k12.nngp), "ntk_12": np.asarray(k12.ntk)}


def write_case(out, name: str, kernel_fn, shape: tuple, rng, source: str) -> dict:
    """5 and 4 standard-normal inputs of ``shape``, their kernels (finite, or
    the generator stops), saved with the equivalent ``.ntk`` ``source``."""
    x1, x2 = rng.normal(size=(5,) + tuple(shape)), rng.normal(size=(4,) + tuple(shape))
    ks = kernels(kernel_fn, x1, x2)
    assert all(np.all(np.isfinite(v)) for v in ks.values()), name
    np.savez(out / f"{name}.npz", x1=x1, x2=x2, **ks)
    (out / f"{name}.ntk").write_text(source)
    print(name, ks["ntk_11"][0, :3])
    return ks


def write_meta(out, script: str, cases: list):
    meta = {"generator": f"neural-tangents 0.6.5 stax kernel_fn, jax 0.4.30, x64; {script}",
            "cases": cases}
    (out / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")
