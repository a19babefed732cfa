"""True vs random labels on MNIST and CIFAR-10 (two classes each): the lecture
notes' "Convergence Rate" and "Projections" figures and the bound
√(2 yᵀH⁻¹y / n) against the measured test error, with a finite network from
the same .ntk file trained by gradient descent beside the kernel's curves.

    python examples/labels_mnist_cifar.py --data ../shared/data [--n-curve 500] [--width 2048]

Data (``--data``/images): the MNIST test set, digits 0 vs 1, and the CIFAR-10
records airplane vs automobile (the first two classes of each, as in Arora et
al. 2019). Images are average-pooled (MNIST 2×2 → 14×14, CIFAR 4×4 → 8×8×3),
flattened, centred on the training pool's mean and scaled to ‖x‖² = d, so that
Σ⁰(x, x) = 1. Kernel and network: examples/labels_fc.ntk (one hidden ReLU
layer, NTK parameterisation). y = +1 for the first class, −1 for the second;
random labels are permutations of the true ones.

* convergence: the training loss of gradient flow from u(0) = 0,
  ‖u(t) − y‖² = Σᵢ e^{−2ηλᵢt}⟨vᵢ, y⟩² (H = Θ on the n training images), and
  the finite network (width ``--width``, centred so that u(0) = 0, see
  ntkc.regularized.train) trained by full-batch GD with η = 1/λ_max(Θ);
* projections: Σ_{j≤i} ⟨v_j, y⟩² / n, eigenvectors in decreasing order of λ;
* generalisation: √(2 yᵀH⁻¹y / n) with H scaled to tr H = n (the notes'
  tr H = O(n)), and the test error of the t → ∞ predictor k(x, X)H⁻¹y, over
  several n (``--seeds`` training subsets each).

Writes docs/results_labels.json, docs/results_labels.png and the "labels"
section of docs/results.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import (DEFAULT_DATA, DOCS, ROOT, Clock, load_json, machine, save_json,  # noqa: E402
                     setup_jax, write_section)

NET = ROOT / "examples" / "labels_fc.ntk"


def pool(x, k):
    """Average-pool NHWC images by k×k and flatten."""
    n, h, w, c = x.shape
    return x.reshape(n, h // k, k, w // k, k, c).mean((2, 4)).reshape(n, -1)


def two_class(data, name, test_size=500, seed=0):
    """(x_train_pool, y_train_pool, x_test, y_test) for ``name`` in
    {"mnist", "cifar"}: the first two classes, pooled, centred, ‖x‖² = d."""
    from ntkc.data import load_cifar10, load_mnist
    images = Path(data) / "images"
    if name == "mnist":
        x, lab = load_mnist(images / "mnist")
        keep = np.isin(lab, (0, 1))
        x, y = pool(x[keep], 2), np.where(lab[keep] == 0, 1.0, -1.0)
        # one file (the MNIST test set): a fixed random split
        idx = np.random.default_rng(seed).permutation(len(x))
        tr, te = idx[test_size:], idx[:test_size]
        xtr, ytr, xte, yte = x[tr], y[tr], x[te], y[te]
    else:
        folder = images / "cifar10"
        xtr, ltr = load_cifar10(folder / "data_batch_1_first4000.bin", classes=(0, 1))
        xte, lte = load_cifar10(folder / "test_batch_first1000.bin", classes=(0, 1))
        xtr, xte = pool(xtr, 4), pool(xte, 4)
        ytr, yte = np.where(ltr == 0, 1.0, -1.0), np.where(lte == 0, 1.0, -1.0)
    mean = xtr.mean(0)
    d = xtr.shape[1]
    norm = lambda a: (a - mean) * np.sqrt(d) / np.linalg.norm(a - mean, axis=1, keepdims=True)
    return norm(xtr), ytr, norm(xte), yte


def grams(x_train, x_test):
    """Θ on the training pool and between test and training pool (float64)."""
    import ntkc
    kernel = ntkc.load(NET, constants={"dim": x_train.shape[1]})
    k = np.asarray(kernel(np.concatenate([x_train, x_test])), np.float64)
    n = len(x_train)
    return kernel, k[:n, :n], k[n:, :n]


def curves(name, kernel, x, H, y, rng, args, clock):
    """Loss curves (kernel, and the finite net) and projections at n = len(y)."""
    import jax
    import jax.numpy as jnp

    from ntkc.dynamics import GradientFlow, spectrum
    from ntkc.finite import finite_net
    from ntkc.regularized import train

    n = len(y)
    lam = np.linalg.eigvalsh(H)[::-1]
    lr = 1.0 / lam[0]
    steps = np.unique(np.geomspace(1, args.steps, 30).astype(int))
    record = [0, *steps.tolist()]
    t_grid = np.geomspace(0.1, 10 * args.steps, 120)   # in units of 1/λ_max
    out = {"lambda": lam.tolist(), "t": t_grid.tolist(), "steps": record, "lr": lr}
    labelings = {"true": y, **{f"random {s}": rng.permutation(y) for s in range(args.random)}}
    net = finite_net(kernel, width=args.width, out_width=1, dtype=jnp.float32)
    for label, lab in labelings.items():
        _, proj = spectrum(H, lab)
        flow = GradientFlow(H, lab, lr=lr)
        row = {"loss": (flow.loss(t_grid) / n).tolist(),
               "cumulative_projection": (np.cumsum(proj ** 2) / n).tolist(),
               "top10": float(np.sum(proj[:10] ** 2) / n),
               "kernel_loss_at_steps": (flow.loss(np.array(record, float)) / n).tolist()}
        if label in ("true", "random 0"):
            r = train(net.apply, net.init(jax.random.PRNGKey(1)), x, lab,
                      loss="plain", lr=lr, steps=args.steps, record=record)
            row["net_loss"] = (np.array(r["loss"]) / n).tolist()
            print(f"[{clock():5.0f}s] {name} {label}: net loss after {args.steps} steps "
                  f"{row['net_loss'][-1]:.4f}, kernel {row['kernel_loss_at_steps'][-1]:.4f}", flush=True)
        out[label] = row
    return out



def bound_vs_n(H_pool, K_pool, y_pool, y_test, sizes, seeds, rng):
    """√(2 yᵀH⁻¹y/n) (tr H = n, ntkc.dynamics.complexity) and the test error of
    k(x, X)H⁻¹y, per n (one Cholesky factor per subset for both labelings)."""
    import scipy.linalg

    from ntkc.dynamics import complexity
    from ntkc.errors import NtkError
    rows = []
    for n in sizes:
        for s in range(seeds):
            idx = rng.choice(len(y_pool), n, replace=False)
            H = H_pool[np.ix_(idx, idx)]
            scale = n / np.trace(H)
            H, K = H * scale, K_pool[:, idx] * scale
            try:
                factor = scipy.linalg.cho_factor(H, lower=True)
            except np.linalg.LinAlgError:
                raise NtkError(f"the NTK Gram of {n} training images is not positive definite: "
                               f"yᵀH⁻¹y is undefined (duplicated images?)") from None
            for label in ("true", "random"):
                y = y_pool[idx] if label == "true" else rng.permutation(y_pool[idx])
                yt = y_test if label == "true" else rng.permutation(y_test)
                alpha = scipy.linalg.cho_solve(factor, y)
                rows.append({"n": int(n), "seed": s, "labels": label,
                             "bound": complexity(H, y),
                             "test_error": float(np.mean(np.sign(K @ alpha) != yt))})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--n-curve", type=int, default=500, help="training images for curves and projections")
    ap.add_argument("--width", type=int, default=1024, help="hidden width of the finite network")
    ap.add_argument("--steps", type=int, default=1000, help="GD steps of the finite network (η = 1/λ_max)")
    ap.add_argument("--random", type=int, default=3, help="random labelings for the kernel curves")
    ap.add_argument("--seeds", type=int, default=3, help="training subsets per n for the bound")
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--from-json", action="store_true",
                    help=f"redraw the figure and section from docs/results_labels.json without recomputing")
    args = ap.parse_args(argv)
    if args.from_json:
        result = load_json(DOCS / "results_labels.json")
        plot(result)
        report(result)
        return result
    setup_jax()
    clock = Clock()
    result = {"args": {k: v for k, v in vars(args).items() if k != "data"}}
    for name in ("mnist", "cifar"):
        rng = np.random.default_rng(0)
        xtr, ytr, xte, yte = two_class(args.data, name)
        t0 = clock()
        kernel, H_pool, K_pool = grams(xtr, xte)
        t_gram = clock() - t0
        n = min(args.n_curve, len(ytr))
        idx = rng.choice(len(ytr), n, replace=False)
        c = curves(name, kernel, xtr[idx], H_pool[np.ix_(idx, idx)], ytr[idx], rng, args, clock)
        sizes = [m for m in (100, 200, 400, 800, 1600) if m < 0.9 * len(ytr)] + [len(ytr)]
        rows = bound_vs_n(H_pool, K_pool, ytr, yte, sizes, args.seeds, rng)
        result[name] = {"n_pool": len(ytr), "n_test": len(yte), "dim": xtr.shape[1], "n_curve": n,
                        "curves": c, "bound": rows, "seconds": clock(), "gram_seconds": t_gram}
        for m in sizes:
            for label in ("true", "random"):
                sel = [r for r in rows if r["n"] == m and r["labels"] == label]
                print(f"[{clock():5.0f}s] {name} n={m:5d} {label:6s} bound "
                      f"{np.mean([r['bound'] for r in sel]):.3f} test error "
                      f"{np.mean([r['test_error'] for r in sel]):.3f}", flush=True)
        print(f"[{clock():5.0f}s] {name} done (Gram of {len(ytr) + len(yte)} images: {t_gram:.1f} s)")
    result["seconds"] = clock()
    if args.no_docs:
        return result
    result["command"] = command(argv)
    save_json(DOCS / "results_labels.json", result)
    plot(result)
    report(result)
    return result


def summary(rows, n, label, key):
    return float(np.mean([r[key] for r in rows if r["n"] == n and r["labels"] == label]))


def plot(result):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(2, 3, figsize=(14, 7.5))
    for i, name in enumerate(("mnist", "cifar")):
        r = result[name]
        c = r["curves"]
        t = np.array(c["t"])
        steps = np.maximum(np.array(c["steps"]), 0.3)
        labels = [k for k in c if k == "true" or k.startswith("random")]
        for lab in labels:
            true = lab == "true"
            col = "C0" if true else "C3"
            kw = dict(color=col, lw=2 if true else 0.8, alpha=1 if true else 0.6)
            ax[i, 0].semilogx(t, c[lab]["loss"], label=f"{lab} (kernel flow)" if lab in ("true", "random 0") else None, **kw)
            ax[i, 1].plot(np.arange(1, len(c[lab]["cumulative_projection"]) + 1),
                          c[lab]["cumulative_projection"], label=lab if lab in ("true", "random 0") else None, **kw)
            if "net_loss" in c[lab]:
                ax[i, 0].semilogx(steps, c[lab]["net_loss"], "o", ms=3, color=col, mfc="none",
                                  label=f"{lab}: width-{result['args']['width']} net, GD")
        ax[i, 0].set(xlabel="t · λ_max  (GD steps at η = 1/λ_max)", ylabel="‖u(t) − y‖² / n",
                     title=f"{name.upper()}: convergence (n = {r['n_curve']})")
        ax[i, 1].set(xscale="log", xlabel="eigenvector index i (λ decreasing)", ylabel="Σ_{j≤i} ⟨v_j, y⟩² / n",
                     title=f"{name.upper()}: label projections")
        rows = r["bound"]
        ns = sorted({x["n"] for x in rows})
        for lab, col in (("true", "C0"), ("random", "C3")):
            ax[i, 2].plot(ns, [summary(rows, n, lab, "bound") for n in ns], "o-", color=col,
                          label=f"{lab}: √(2yᵀH⁻¹y/n)")
            ax[i, 2].plot(ns, [summary(rows, n, lab, "test_error") for n in ns], "s--", color=col,
                          label=f"{lab}: test error")
        ax[i, 2].set(xscale="log", yscale="log", xlabel="n (training images)",
                     title=f"{name.upper()}: bound vs test error")
        for a in ax[i]:
            a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(DOCS / "results_labels.png", dpi=100)


def command(argv) -> str:
    return ("python examples/labels_mnist_cifar.py " + " ".join(argv if argv is not None else sys.argv[1:])).strip()


def report(result):
    a = result["args"]
    tables, notes = [], []
    for name, title in (("mnist", "MNIST 0 vs 1"), ("cifar", "CIFAR-10 airplane vs automobile")):
        r = result[name]
        rows = r["bound"]
        ns = sorted({x["n"] for x in rows})
        lines = "\n".join(
            f"| {title} | {n} | {summary(rows, n, 'true', 'bound'):.3f} | "
            f"{100 * summary(rows, n, 'true', 'test_error'):.1f} | {summary(rows, n, 'random', 'bound'):.3f} | "
            f"{100 * summary(rows, n, 'random', 'test_error'):.1f} |" for n in ns)
        tables.append(lines)
        c = r["curves"]
        rand = [k for k in c if k.startswith("random")]
        last = lambda k, key: c[k][key][-1]
        notes.append(
            f"| {title} | {r['n_curve']} | {100 * c['true']['top10']:.1f} | "
            f"{100 * np.mean([c[k]['top10'] for k in rand]):.1f} | "
            f"{100 * last('true', 'kernel_loss_at_steps'):.2f} / {100 * last('true', 'net_loss'):.2f} | "
            f"{100 * last('random 0', 'kernel_loss_at_steps'):.1f} / {100 * last('random 0', 'net_loss'):.1f} |")
    m, cf = result["mnist"], result["cifar"]
    write_section("labels", f"""## True vs random labels on MNIST and CIFAR-10 (two classes, FC NTK)

Command: `{result.get('command', 'python examples/labels_mnist_cifar.py')}` ({machine()}); {result['seconds'] / 60:.1f} min.

**Claim (notes, Arora et al. 2019):** gradient flow fits the components of y on the top
eigenvectors of H first, so true labels (concentrated there) are fitted fast and random
labels (spread evenly) slowly; and √(2 yᵀH⁻¹y / n) bounds the test error of the trained
net, small for true labels and large for random ones, on MNIST and CIFAR (two classes).

**Setting here:** MNIST digits 0 vs 1 (the 10,000-image MNIST test set is all the MNIST
there is here: {m['n_pool']} training / {m['n_test']} test images after a fixed split) and
CIFAR-10 airplane vs automobile ({cf['n_pool']} training images from `data_batch_1`'s first
4000, {cf['n_test']} test images from `test_batch`'s first 1000). n is bounded by the data,
not by the Gram: the FC Gram of all {m['n_pool'] + m['n_test']} MNIST images took
{m.get('gram_seconds', float('nan')):.1f} s here (the cost is quadratic in the images: a
10⁴-image Gram, 0.8 GB in float64, would take about {(1e4 / (m['n_pool'] + m['n_test'])) ** 2:.0f}× that). Images are average-pooled (MNIST 14×14,
CIFAR 8×8×3; the finite net's first layer costs n·d·width per step), centred and scaled to
Σ⁰(x, x) = 1. Kernel and net: `examples/labels_fc.ntk` (one hidden ReLU layer, NTK
parameterisation). Curves and projections at n = {a['n_curve']} (a random subset);
the finite net has width {a['width']}, float32, and is trained by full-batch GD on
½Σ(f − y)² with η = 1/λ_max(Θ) for {a['steps']} steps, centred (f − f₀, so that u(0) = 0
as in the notes' formula; `ntkc.regularized.train`). {a['random']} random labelings for the
kernel curves (one for the net), {a['seeds']} training subsets per n for the bound.

![labels](results_labels.png)

| data | n | ‖y‖² on the top 10 eigenvectors, true (%) | same, random (mean, %) | loss left after {a['steps']} steps, true: kernel / net (% of ‖y‖²) | same, random 0: kernel / net (%) |
|---|---|---|---|---|---|
{chr(10).join(notes)}

| data | n | √(2yᵀH⁻¹y/n), true | test error, true (%) | √(2yᵀH⁻¹y/n), random | test error, random (%) |
|---|---|---|---|---|---|
{chr(10).join(tables)}

**Here vs the notes:** {verdict(result)} Differences: the notes' figures come from Arora et
al.'s full-resolution images, a width-10⁴ net whose output layer is fixed, and their own
training set; here the images are pooled, both layers train, GD is full-batch, and n is at
most {m['n_pool']} (MNIST) and {cf['n_pool']} (CIFAR). With tr H = n the bound is loose (it
bounds the error, it does not predict it): for true labels it is
{summary(m['bound'], m['n_pool'], 'true', 'bound'):.2f} (MNIST) and
{summary(cf['bound'], cf['n_pool'], 'true', 'bound'):.2f} (CIFAR) at the largest n against
measured errors of {100 * summary(m['bound'], m['n_pool'], 'true', 'test_error'):.1f}% and
{100 * summary(cf['bound'], cf['n_pool'], 'true', 'test_error'):.1f}%; for random labels the
error is chance whatever the bound says. Time: MNIST {m['seconds']:.0f} s, CIFAR
{cf['seconds'] - m['seconds']:.0f} s (mostly the two GD runs per data set).
""")


def verdict(result) -> str:
    """The notes' three claims, checked on the numbers of this run."""
    out = []
    for name, title in (("mnist", "MNIST"), ("cifar", "CIFAR")):
        r = result[name]
        c, rows = r["curves"], r["bound"]
        ns = sorted({x["n"] for x in rows})
        bt = [summary(rows, n, "true", "bound") for n in ns]
        br = [summary(rows, n, "random", "bound") for n in ns]
        k_true, k_rand = c["true"]["kernel_loss_at_steps"][-1], c["random 0"]["kernel_loss_at_steps"][-1]
        n_true, n_rand = c["true"]["net_loss"][-1], c["random 0"]["net_loss"][-1]
        top_t = c["true"]["top10"]
        top_r = np.mean([c[k]["top10"] for k in c if k.startswith("random")])
        out.append(
            f"{title}: true labels put {100 * top_t:.0f}% of ‖y‖² on the top 10 eigenvectors, random "
            f"ones {100 * top_r:.1f}%; after {result['args']['steps']} steps the kernel flow leaves "
            f"{100 * k_true:.2g}% (true) vs {100 * k_rand:.2g}% (random) of the loss and the net "
            f"{100 * n_true:.2g}% vs {100 * n_rand:.2g}% "
            f"({'so the net too fits true labels faster' if n_true < n_rand else 'the net does NOT fit true labels faster'}; "
            f"the net's loss is {n_true / k_true:.2f}× (true) and {n_rand / k_rand:.2f}× (random) the kernel "
            f"flow's: at width {result['args']['width']} its empirical NTK is Θ only up to O(1/√width), see "
            f"the lazy-training section). The bound for true labels is "
            f"{'below' if all(a < b for a, b in zip(bt, br)) else 'NOT always below'} the random "
            f"labels' at every n: {bt[0]:.2f} → {bt[-1]:.2f} from n = {ns[0]} to {ns[-1]} "
            f"({'falling' if bt[-1] < bt[0] else 'rising: yᵀH⁻¹y grows faster than n, these labels are not smooth enough for this kernel at these n'}"
            f"{'' if bt[-1] < 1 else ', and vacuous (> 1)'}), against {br[0]:.2f} → {br[-1]:.2f} for random ones.")
    return " ".join(out)


if __name__ == "__main__":
    main()
