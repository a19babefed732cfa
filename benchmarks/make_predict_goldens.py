"""Write the golden cases for ``ntkc.predict`` with neural-tangents 0.6.5's own
``nt.predict`` (run with the peer venv that benchmarks/peer_env.py builds):

    benchmarks/.peer-venv/bin/python benchmarks/make_predict_goldens.py

Each case ``tests/golden/predict/NAME.npz`` holds a stax net's float64 Grams
on 8 training and 5 test inputs (``{nngp,ntk}_{dd,td,tt}``), the inputs
``x_train``, ``x_test``, targets ``y_train`` (8, 2), and stax's predictions:
``gp/<diag_reg>/<mode>/{mean,cov}`` from ``gp_inference`` (modes nngp, ntk,
ntkgp) and ``ens/<diag_reg>/<t>/<mode>/{mean,cov}`` from
``gradient_descent_mse_ensemble`` with learning_rate 0.5 at several t (``inf``
is t=None), plus ``ens_train/...`` for x_test=None with diag_reg 0 and
``gp_abs/...`` with ``diag_reg_absolute_scale=True``. ``NAME.ntk`` is the same
net in the .ntk language, for the Kernel + data path.
"""

import sys
import types
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "golden" / "predict"
sys.modules.setdefault("neural_tangents.experimental", types.ModuleType("neural_tangents.experimental"))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import neural_tangents as nt  # noqa: E402
from neural_tangents import stax  # noqa: E402

W, B = 1.5, 0.05


def mlp(act, act_ntk):
    layers = []
    for _ in range(2):
        layers += [stax.Dense(64, W_std=W, b_std=B), act()]
    net = stax.serial(*layers, stax.Dense(1, W_std=W, b_std=B))
    body = " ".join(f"Dense(W_std={W}, b_std={B}) {act_ntk}" for _ in range(2))
    src = f"input vector(dim=3)\nnet mlp {{ {body} Dense(W_std={W}, b_std={B}) }}\n"
    return (3,), net, src


def cnn():
    net = stax.serial(stax.Conv(16, (3, 3), padding="SAME", W_std=1.4, b_std=0.1), stax.Relu(),
                      stax.GlobalAvgPool(), stax.Dense(1, W_std=1.4))
    src = ("input image(height=4, width=4, channels=2)\n"
           "net cnn { Conv(kernel=3, W_std=1.4, b_std=0.1) Relu GlobalAvgPool Dense(W_std=1.4) }\n")
    return (4, 4, 2), net, src


CASES = {"mlp_relu": mlp(stax.Relu, "Relu"), "mlp_erf": mlp(stax.Erf, "Erf"), "cnn_gap": cnn()}
TIMES = (0.5, 5.0, 50.0, None)
REGS = (0.0, 0.01)


def key(*parts):
    return "/".join("inf" if p is None else str(p) for p in parts)


def main():
    rng = np.random.default_rng(11)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, (shape, (_, _, kernel_fn), src) in CASES.items():
        xd, xt = rng.normal(size=(8,) + shape), rng.normal(size=(5,) + shape)
        y = rng.normal(size=(8, 2))
        kdd = kernel_fn(xd, None, ("nngp", "ntk"))
        ktd = kernel_fn(xt, xd, ("nngp", "ntk"))
        ktt = kernel_fn(xt, None, ("nngp", "ntk"))
        z = {"x_train": xd, "x_test": xt, "y_train": y}
        for g in ("nngp", "ntk"):
            z[f"{g}_dd"], z[f"{g}_td"], z[f"{g}_tt"] = (getattr(k, g) for k in (kdd, ktd, ktt))
        for reg in REGS:
            fn = nt.predict.gp_inference(kdd, y, diag_reg=reg)
            for g in ("nngp", "ntk", "ntkgp"):
                mean, cov = fn(g, ktd, ktt)
                z[key("gp", reg, g, "mean")], z[key("gp", reg, g, "cov")] = mean, cov
            ens = nt.predict.gradient_descent_mse_ensemble(kernel_fn, xd, y, learning_rate=0.5,
                                                            diag_reg=reg)
            for t in TIMES:
                for g in ("nngp", "ntk"):
                    mean, cov = ens(t, xt, g, compute_cov=True)
                    z[key("ens", reg, t, g, "mean")], z[key("ens", reg, t, g, "cov")] = mean, cov
        ens = nt.predict.gradient_descent_mse_ensemble(kernel_fn, xd, y, learning_rate=0.5)
        for t in TIMES[:-1]:
            for g in ("nngp", "ntk"):
                mean, cov = ens(t, None, g, compute_cov=True)
                z[key("ens_train", t, g, "mean")], z[key("ens_train", t, g, "cov")] = mean, cov
        fn = nt.predict.gp_inference(kdd, y, diag_reg=0.05, diag_reg_absolute_scale=True)
        for g in ("nngp", "ntk"):
            mean, cov = fn(g, ktd, ktt)
            z[key("gp_abs", 0.05, g, "mean")], z[key("gp_abs", 0.05, g, "cov")] = mean, cov
        z = {k: np.asarray(v, dtype=np.float64) for k, v in z.items()}
        bad = [k for k, v in z.items() if not np.all(np.isfinite(v))]
        np.savez(OUT / f"{name}.npz", **z)
        (OUT / f"{name}.ntk").write_text(f"# golden case {name} for ntkc.predict (see "
                                         f"benchmarks/make_predict_goldens.py)\n{src}")
        print(name, len(z), "arrays", "non-finite: " + ", ".join(bad) if bad else "")


if __name__ == "__main__":
    main()
