"""Golden kernels from neural-tangents 0.6.5 for ``parameterization='standard'``
Dense and Conv, alone and mixed with NTK-parameterized layers. Run with the
peer venv (see benchmarks/peer_env.py); the tests only read the stored files:

    benchmarks/.peer-venv/bin/python benchmarks/make_standard_goldens.py

Each case is written once as a layer list, from which both the ``.ntk``
source (tests/golden/standard/NAME.ntk) and the ``stax.serial`` network are
made. In this parameterization the kernel depends on the widths, so every
Dense/Conv states its ``width`` (stax's out_dim / out_chan); ``b_std=None``
(stax: no bias) is ``.ntk``'s ``bias=false``. Every npz holds float64 ``x1``
(5 examples), ``x2`` (4), ``nngp_11``, ``ntk_11`` (x2 = None) and ``nngp_12``,
``ntk_12`` (x1 against x2).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_cases import write_case, write_meta  # noqa: E402
from worker import import_peer  # noqa: E402

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
stax = import_peer().stax

ROOT = Path(__file__).resolve().parent.parent


def dense(width, w=1.0, b=0.0, p="standard"):
    return ("Dense", {"width": width, "W_std": w, "b_std": b, "parameterization": p})


def conv(width, k, w=1.0, b=0.0, p="standard", padding="same"):
    return ("Conv", {"width": width, "kernel": k, "W_std": w, "b_std": b,
                     "parameterization": p, "padding": padding})


RELU, ERF, GAP, FLAT = ("Relu", {}), ("Erf", {}), ("GlobalAvgPool", {}), ("Flatten", {})


def residual(*body):
    return ("Residual", {"body": list(body)})


# (name, input kind, example shape, layers, what it covers); b=None is no bias.
CASES = [
    ("fc_relu_std", "vector", (6,),
     [dense(64, 1.5, 0.1), RELU, dense(32, 1.2, 0.2), RELU, dense(1, 1.1, 0.0)],
     "Dense standard, b_std=0 is a bias (Θ gets + 1)"),
    ("fc_erf_narrow_std", "vector", (4,),
     [dense(3, 1.3, 0.3), ERF, dense(200, 0.9, 0.1), ERF, dense(5, 1.0, 0.5)],
     "a narrow (3) and a wide (200) layer"),
    ("fc_nobias_std", "vector", (5,),
     [dense(16, 1.4, None), RELU, dense(8, 1.1, None), RELU, dense(1, 1.2, None)],
     "no bias anywhere (stax b_std=None, bias=false)"),
    ("fc_mixed", "vector", (6,),
     [dense(40, 1.3, 0.1, "ntk"), RELU, dense(24, 1.2, None), ERF, dense(12, 1.1, 0.2, "ntk"),
      RELU, dense(1, 0.9, 0.1)],
     "NTK layers with widths feeding standard ones, and the reverse"),
    ("fc_residual_std", "vector", (5,),
     [dense(16, 1.2, 0.1), residual(RELU, dense(16, 1.1, 0.0)), RELU, dense(1, 1.0, 0.2)],
     "a standard Dense inside Residual (widths agree through the sum)"),
    ("cnn_gap_std", "image", (5, 5, 2),
     [conv(16, 3, 1.4, 0.1), RELU, conv(8, 2, 1.2, 0.0), RELU, GAP, dense(1, 1.3, 0.2)],
     "Conv standard (fan-in = channels × window), GlobalAvgPool"),
    ("cnn_flatten_std", "image", (4, 4, 3),
     [conv(32, 3, 1.3, 0.2), RELU, FLAT, dense(10, 1.1, 0.1)],
     "Flatten multiplies the width by the positions"),
    ("cnn_mixed_nobias", "image", (5, 4, 2),
     [conv(6, 3, 1.2, 0.1, "ntk"), RELU, conv(10, 2, 1.3, None, padding="valid"), RELU,
      conv(7, 2, 1.1, 0.2, "ntk", padding="circular"), ERF, FLAT, dense(1, 1.0, None)],
     "NTK and standard Conv, valid and circular padding, no bias, Flatten"),
    ("seq_conv_std", "sequence", (7, 2),
     [conv(12, 3, 1.2, 0.1), ERF, conv(24, 2, 1.5, 0.0), RELU, GAP, dense(1, 1.0, 0.1)],
     "1-D Conv standard"),
]


def _lit(v):
    return f'"{v}"' if isinstance(v, str) else repr(v)


def _ntk_args(name, a):
    out = {}
    if name in ("Dense", "Conv"):
        if name == "Conv":
            out["kernel"] = a["kernel"]
            if a["padding"] != "same":
                out["padding"] = a["padding"]
        out["width"] = a["width"]
        out["W_std"] = a["W_std"]
        if a["b_std"] is None:
            out["bias"] = False
        else:
            out["b_std"] = a["b_std"]
        if a["parameterization"] != "ntk":
            out["parameterization"] = a["parameterization"]
    return out


def _ntk_layer(name, a, indent):
    if name == "Residual":
        inner = "".join(_ntk_layer(n, b, indent + "    ") for n, b in a["body"])
        return f"{indent}Residual {{\n{inner}{indent}}}\n"
    args = _ntk_args(name, a)
    if not args:
        return f"{indent}{name}\n"
    text = ", ".join(f"{k}={'false' if v is False else _lit(v)}" for k, v in args.items())
    return f"{indent}{name}({text})\n"


def ntk_source(name, kind, shape, layers, covers):
    head = {"vector": lambda s: f"vector(dim={s[0]})",
            "sequence": lambda s: f"sequence(length={s[0]}, channels={s[1]})",
            "image": lambda s: f"image(height={s[0]}, width={s[1]}, channels={s[2]})"}[kind](shape)
    body = "".join(_ntk_layer(n, a, "    ") for n, a in layers)
    return f"# golden: {name} — {covers}\ninput {head}\nnet {name} {{\n{body}}}\n"


def stax_layer(name, a, nspatial):
    if name == "Dense":
        return stax.Dense(a["width"], W_std=a["W_std"], b_std=a["b_std"],
                          parameterization=a["parameterization"])
    if name == "Conv":
        return stax.Conv(a["width"], (a["kernel"],) * nspatial, padding=a["padding"].upper(),
                         W_std=a["W_std"], b_std=a["b_std"],
                         parameterization=a["parameterization"])
    if name == "Residual":
        body = stax.serial(*[stax_layer(n, b, nspatial) for n, b in a["body"]])
        return stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), body), stax.FanInSum())
    return {"Relu": stax.Relu, "Erf": stax.Erf, "GlobalAvgPool": stax.GlobalAvgPool,
            "Flatten": stax.Flatten}[name]()


def main():
    rng = np.random.default_rng(17)
    out = ROOT / "tests/golden/standard"
    out.mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("*.npz")) + list(out.glob("*.ntk")):
        old.unlink()
    cases = []
    for name, kind, shape, layers, covers in CASES:
        nspatial = len(shape) - 1
        _, _, kernel_fn = stax.serial(*[stax_layer(n, a, nspatial) for n, a in layers])
        write_case(out, name, kernel_fn, shape, rng, ntk_source(name, kind, shape, layers, covers))
        cases.append({"name": name, "kind": kind, "shape": list(shape), "covers": covers,
                      "tol": 1e-6})
    write_meta(out, "benchmarks/make_standard_goldens.py", cases)


if __name__ == "__main__":
    main()
