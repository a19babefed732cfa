"""Golden kernels from neural-tangents 0.6.5 for SelfAttention (the
standard-parameterization goldens are benchmarks/make_standard_goldens.py's).
Run with the peer venv (see benchmarks/peer_env.py); the tests only read the
stored arrays:

    benchmarks/.peer-venv/bin/python benchmarks/make_attention_goldens.py

* ``tests/golden/attention/NAME.{ntk,npz}`` and ``cases.json``: each case is
  written once as a layer list, from which both the ``.ntk`` source and the
  ``stax.serial`` network are made (SelfAttention →
  ``stax.GlobalSelfAttention(n, n, n, 1, linear_scaling=True, ...)``).
Every npz holds float64 ``x1`` (5 examples), ``x2`` (4), ``nngp_11``,
``ntk_11`` (x2 = None) and ``nngp_12``, ``ntk_12`` (x1 against x2).
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
import jax.numpy as jnp  # noqa: E402

jax.config.update("jax_enable_x64", True)
stax = import_peer().stax

ROOT = Path(__file__).resolve().parent.parent
N = 8  # nominal stax channel count (the ntk-parameterized kernels do not depend on it)

# -- SelfAttention cases --------------------------------------------------------------------------
ATT_DEFAULTS = {"mechanism": "softmax", "W_query_std": 1.0, "W_key_std": 1.0,
                "W_value_std": 1.0, "W_out_std": 1.0, "b_std": 0.0}


def att(**kw):
    return ("SelfAttention", kw)


def dense(w=1.0, b=0.0):
    return ("Dense", {"W_std": w, "b_std": b})


def conv(k, w=1.0, b=0.0, **width):
    # width=N in the .ntk where a later layer's kernel reads the stream's
    # width (concat embeddings with n_chan_pos_emb); stax's Conv has N always
    return ("Conv", {"kernel": k, "W_std": w, "b_std": b, **width})


RELU, ERF, GAP, FLAT, LN = ("Relu", {}), ("Erf", {}), ("GlobalAvgPool", {}), ("Flatten", {}), \
    ("LayerNorm", {})


def residual(*body):
    return ("Residual", {"body": list(body)})


SEQ, IMG = ("sequence", (5, 3)), ("image", (3, 4, 2))
MECHS = ("softmax", "identity", "abs", "relu")

# (name, input, layers, what it covers, first): first=True where SelfAttention
# is the net's first weight layer (compile.py's Θ' = Σ' shortcut applies there).
ATTENTION_CASES = []
for m in MECHS:
    ATTENTION_CASES.append((
        f"seq_{m}_after_dense", SEQ,
        [dense(1.3, 0.1), att(mechanism=m, W_query_std=1.2, W_key_std=0.9, W_value_std=1.1,
                              W_out_std=0.8), GAP, dense(1.1)],
        f"{m}, alone after Dense, GlobalAvgPool", False))
    ATTENTION_CASES.append((
        f"img_{m}_stacked", IMG,
        [conv(2, 1.4, 0.1), RELU, att(mechanism=m, W_query_std=0.9, W_key_std=1.1, b_std=0.2),
         RELU, conv(2, 1.2), RELU, GAP, dense(1.2, 0.1)],
        f"{m}, on an image between Conv/Relu layers", False))
ATTENTION_CASES += [
    ("seq_two_attention", SEQ,
     [dense(1.2), att(W_query_std=1.5, W_value_std=1.2, b_std=0.1), RELU,
      att(mechanism="relu", W_key_std=1.3, W_out_std=1.1), ERF, FLAT, dense(1.3, 0.05)],
     "two attention layers, Erf, Flatten (only the diagonal demanded)", False),
    ("img_flatten_bias", IMG,
     [conv(3, 1.2, 0.2), att(mechanism="abs", W_query_std=1.1, W_key_std=0.7, W_value_std=1.3,
                             W_out_std=1.2, b_std=0.5), RELU, FLAT, dense(1.0, 0.1)],
     "b_std > 0, Flatten readout", False),
    ("seq_transformer_block", SEQ,
     [dense(1.1, 0.1), residual(att(W_query_std=1.3, b_std=0.1)), LN,
      residual(dense(1.2), RELU, dense(1.1, 0.1)), LN, GAP, dense(1.0)],
     "Residual { SelfAttention }, LayerNorm, Residual MLP", False),
    ("seq_softmax_first", SEQ,
     [att(W_query_std=1.4, W_value_std=1.2, b_std=0.1), RELU, dense(1.3), RELU, GAP, dense(1.1)],
     "SelfAttention as the first weight layer", True),
    ("img_identity_first", IMG,
     [att(mechanism="identity", W_key_std=0.8, b_std=0.3), ERF, FLAT, dense(1.2)],
     "identity mechanism as the first weight layer", True),
]

# Positional embeddings (appended: the cases above keep their seeded inputs).
ATTENTION_CASES += [
    ("seq_pos_sum", SEQ,
     [dense(1.3, 0.1), att(W_query_std=1.2, b_std=0.1, pos_emb_type="sum"), RELU, GAP,
      dense(1.1)],
     "pos_emb_type SUM, one-hot (no decay), keys/queries only", False),
    ("seq_pos_concat_decay_values", SEQ,
     [dense(1.2), att(mechanism="relu", W_out_std=1.1, pos_emb_type="concat",
                      pos_emb_decay=0.5, W_pos_emb_std=1.3, val_pos_emb=True),
      ERF, FLAT, dense(1.0, 0.1)],
     "CONCAT, exp(-0.5 d) decay, embeddings in the values too", False),
    ("img_pos_sum_decay_p1", IMG,
     [conv(2, 1.4, 0.1), RELU,
      att(W_key_std=1.1, b_std=0.2, pos_emb_type="sum", pos_emb_decay=0.3, pos_emb_p_norm=1.0,
          W_pos_emb_std=0.8, val_pos_emb=True), RELU, GAP, dense(1.2, 0.1)],
     "SUM on an image, L1 distance, decay, values", False),
    ("img_pos_concat_width", IMG,
     [conv(2, 1.2, width=N), att(mechanism="abs", pos_emb_type="concat", n_chan_pos_emb=4,
                                W_pos_emb_std=1.5), RELU, FLAT, dense(1.0)],
     "CONCAT with n_chan_pos_emb = 4 after Conv(width=8): shares 8/12 and 4/12", False),
    ("seq_pos_concat_first", SEQ,
     [att(mechanism="identity", W_query_std=0.9, pos_emb_type="concat", n_chan_pos_emb=6,
          pos_emb_decay=1.0, val_pos_emb=True, b_std=0.1), ERF, GAP, dense(1.1)],
     "CONCAT on the raw input (3 channels, 6 embedding), values, as the first weight layer",
     True),
    ("img_pos_sum_first", IMG,
     [att(W_value_std=1.2, pos_emb_type="sum", W_pos_emb_std=0.7), RELU, dense(1.3), RELU,
      GAP, dense(1.0)],
     "SUM as the first weight layer, keys/queries only", True),
]


def _lit(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


def _ntk_layer(name, args, indent):
    if name == "Residual":
        inner = "".join(_ntk_layer(n, a, indent + "    ") for n, a in args["body"])
        return f"{indent}Residual {{\n{inner}{indent}}}\n"
    if not args:
        return f"{indent}{name}\n"
    return f"{indent}{name}(" + ", ".join(f"{k}={_lit(v)}" for k, v in args.items()) + ")\n"


def ntk_source(name, inp, layers):
    kind, shape = inp
    if kind == "sequence":
        head = f"input sequence(length={shape[0]}, channels={shape[1]})"
    else:
        head = f"input image(height={shape[0]}, width={shape[1]}, channels={shape[2]})"
    body = "".join(_ntk_layer(n, a, "    ") for n, a in layers)
    return f"# golden: {name}\n{head}\nnet {name} {{\n{body}}}\n"


def pos_emb(a):
    """stax's positional-embedding arguments; pos_emb_decay=γ is exp(-γ·d)."""
    gamma = a.get("pos_emb_decay")
    return {"pos_emb_type": a.get("pos_emb_type", "none").upper(),
            "pos_emb_p_norm": a.get("pos_emb_p_norm", 2.0),
            "pos_emb_decay_fn": None if gamma is None else (lambda d: jnp.exp(-gamma * d)),
            "n_chan_pos_emb": a.get("n_chan_pos_emb"),
            "W_pos_emb_std": a.get("W_pos_emb_std", 1.0),
            "val_pos_emb": a.get("val_pos_emb", False)}


def stax_layer(name, args, nspatial):
    if name == "Dense":
        return stax.Dense(N, W_std=args["W_std"], b_std=args["b_std"])
    if name == "Conv":
        return stax.Conv(N, (args["kernel"],) * nspatial, padding="SAME", W_std=args["W_std"],
                         b_std=args["b_std"])
    if name == "SelfAttention":
        a = {**ATT_DEFAULTS, **args}
        return stax.GlobalSelfAttention(
            N, N, N, 1, linear_scaling=True, W_key_std=a["W_key_std"],
            W_value_std=a["W_value_std"], W_query_std=a["W_query_std"],
            W_out_std=a["W_out_std"], b_std=a["b_std"],
            attention_mechanism=a["mechanism"].upper(), **pos_emb(a))
    if name == "Residual":
        body = stax.serial(*[stax_layer(n, a, nspatial) for n, a in args["body"]])
        return stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), body), stax.FanInSum())
    return {"Relu": stax.Relu, "Erf": stax.Erf, "GlobalAvgPool": stax.GlobalAvgPool,
            "Flatten": stax.Flatten, "LayerNorm": stax.LayerNorm}[name]()


def attention_goldens(rng):
    out = ROOT / "tests/golden/attention"
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, inp, layers, covers, first in ATTENTION_CASES:
        kind, shape = inp
        nspatial = len(shape) - 1
        _, _, kernel_fn = stax.serial(*[stax_layer(n, a, nspatial) for n, a in layers])
        write_case(out, name, kernel_fn, shape, rng, ntk_source(name, inp, layers))
        pos = any(a.get("pos_emb_type", "none") != "none" for n, a in layers if n == "SelfAttention")
        cases.append({"name": name, "kind": kind, "shape": list(shape), "covers": covers,
                      "attention_first": first, "pos_emb": pos, "tol": 1e-6})
    write_meta(out, "benchmarks/make_attention_goldens.py", cases)


def main():
    import warnings
    warnings.filterwarnings("ignore", message="Linear scaling attention")
    attention_goldens(np.random.default_rng(16))


if __name__ == "__main__":
    main()
