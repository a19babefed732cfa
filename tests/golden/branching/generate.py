"""Regenerate the branching goldens with neural-tangents 0.6.5 (the peer venv
that benchmarks/peer_env.py builds); the tests only read the stored arrays.

    benchmarks/.peer-venv/bin/python tests/golden/branching/generate.py
"""

import sys
import types
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.modules.setdefault("neural_tangents.experimental", types.ModuleType("neural_tangents.experimental"))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
from neural_tangents import stax  # noqa: E402

C = 64  # nominal channel count; stax weighs FanInConcat branches by it


def conv(k, w, b=0.0, c=C):
    return stax.Conv(c, (k, k), padding="SAME", W_std=w, b_std=b)


CASES = {
    # Inception block: three branches of relative widths 1, 2, 1, concatenated.
    "inception_concat": ((6, 6, 2), stax.serial(
        conv(3, 1.4, 0.1), stax.Relu(),
        stax.FanOut(3),
        stax.parallel(conv(1, 1.3),
                      stax.serial(conv(1, 1.2), stax.Relu(), conv(3, 1.5, 0.1, c=2 * C)),
                      stax.serial(stax.AvgPool((3, 3), (1, 1), "SAME"), conv(1, 1.1))),
        stax.FanInConcat(),
        conv(1, 1.3, 0.1), stax.Relu(), stax.GlobalAvgPool(), stax.Dense(1, W_std=1.4))),
    # DenseNet step: the input kept beside a new Relu→Conv branch (equal widths).
    "densenet_concat": ((5, 5, 2), stax.serial(
        conv(3, 1.4, 0.1),
        stax.FanOut(2), stax.parallel(stax.Identity(), stax.serial(stax.Relu(), conv(3, 1.3))),
        stax.FanInConcat(), stax.Flatten(), stax.Dense(1, W_std=1.2, b_std=0.1))),
    # Two fresh branches added.
    "fanin_sum": ((4,), stax.serial(
        stax.Dense(C, W_std=1.3, b_std=0.2), stax.Relu(), stax.Dense(C, W_std=1.4),
        stax.FanOut(2), stax.parallel(stax.Dense(C, W_std=1.1, b_std=0.1),
                                      stax.serial(stax.Relu(), stax.Dense(C, W_std=1.2))),
        stax.FanInSum(), stax.Relu(), stax.Dense(1, W_std=1.5))),
}


def main():
    rng = np.random.default_rng(3)
    for name, (shape, (_, _, kernel_fn)) in CASES.items():
        x1, x2 = rng.normal(size=(5,) + shape), rng.normal(size=(4,) + shape)
        k11 = kernel_fn(x1, None, ("nngp", "ntk"))
        k12 = kernel_fn(x1, x2, ("nngp", "ntk"))
        np.savez(HERE / f"{name}.npz", x1=x1, x2=x2, nngp_11=k11.nngp, ntk_11=k11.ntk,
                 nngp_12=k12.nngp, ntk_12=k12.ntk)
        print(name, np.asarray(k11.ntk)[0, :3])


if __name__ == "__main__":
    main()
