"""The data-dependent NTK: how the empirical NTK of a real network moves in training.

    python examples/ntk_evolution.py [--data ../shared/data] [--pair 3 5] [--n 256]
        [--width 64] [--wide 256] [--depth 3] [--steps 1024] [--lr 1.0]

The net is examples/ntk_evolution.ntk (deep ReLU MLP, NTK parameterisation, no
biases), built by ``ntkc.finite_net`` and trained by full-batch gradient
descent; every kernel is ``ntkc.empirical_ntk`` of the current parameters.
Data: two MNIST digits (default 3 vs 5, y = ±1) from the official test file,
images flattened and scaled to |x|² = 784 (the sphere of the theory), ``--n``
training images and 1,000 test images.

(a) Fort et al. 2020: the NTK moves fast early (a transient), then at a
    roughly constant velocity. Measured on a probe set (128 training + 128 test
    images): ‖K(t) − K(0)‖_F/‖K(0)‖_F and the velocity between checkpoints,
    ‖K(t_{k+1}) − K(t_k)‖_F/‖K(t_k)‖_F per step, for true and for random labels.
(b) The notes' Theorem 7 (Seleznova & Kutyniok 2022): after one GD step on one
    example, E[ΔΘ(x, x)]/E[Θ(x, x)] → 0 for σ_w² < 2 (ordered) and → ∞ for
    σ_w² > 2 (chaotic) as depth L and width M grow with L/M fixed. Measured for
    σ_w² ∈ {1, 1.5, 2, 2.5} at (L, M) = (2, 32), (4, 64), (8, 128), (16, 256),
    fixed step η, expectations over seeds × examples.
(c) The class structure of the kernel on 128 test images: mean diagonal Θ̄_d,
    mean same-class off-diagonal Θ̄_c and different-class Θ̄_n, over training,
    beside the test accuracy; for true labels and for random labels.

(a) and (c) run at ``--width`` (64) and again at ``--wide`` (256), where the
kernel moves less. The default run took 5.6 min on the shared 2-core machine
(load 10-20: other jobs and a test run beside it); docs/results.md records each run's time.

Writes docs/results_ntk_evolution.json, docs/results_ntk_evolution.png and the
"ntk_evolution" section of docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import DEFAULT_DATA, DOCS, ROOT, Clock, machine, save_json, setup_jax, write_section  # noqa: E402

NTK_FILE = ROOT / "examples" / "ntk_evolution.ntk"
SIGMAS = (1.0, 1.5, 2.0, 2.5)
SHAPES = ((2, 32), (4, 64), (8, 128), (16, 256))  # (L, M), L/M = 1/16


def task(data, pair, n, n_test=1000, seed=0):
    """Two MNIST digits, flattened, on the sphere |x|² = 784; y = ±1."""
    from ntkc.data import load_mnist
    x, digit = load_mnist(Path(data) / "images" / "mnist")
    keep = np.isin(digit, pair)
    x, digit = x[keep].reshape(int(keep.sum()), -1), digit[keep]
    x *= np.sqrt(x.shape[1]) / np.linalg.norm(x, axis=1, keepdims=True)
    y = np.where(digit == pair[0], 1.0, -1.0)
    idx = np.random.default_rng(seed).permutation(len(x))
    tr, te = idx[:n], idx[n:n + n_test]
    return x[tr], y[tr], x[te], y[te]


def checkpoints(steps):
    """Doubling steps early (the transient), then eight even ones to ``steps``."""
    early = [0] + [2 ** k for k in range(int(np.log2(max(steps // 8, 1))) + 1)]
    late = np.linspace(0, steps, 9).astype(int)[1:].tolist()
    return sorted(set(early + late))


def class_means(k, y):
    """Θ̄_d (diagonal), Θ̄_c (same class, off-diagonal), Θ̄_n (different class)."""
    same = y[:, None] == y[None, :]
    off = ~np.eye(len(y), dtype=bool)
    return float(np.mean(np.diag(k))), float(k[same & off].mean()), float(k[~same].mean())


def train_run(fnet, data, labels, lr_scale, steps, seed, probe):
    """GD on ½·mean(f − y)²; the probe Gram, losses and test accuracy at checkpoints."""
    import jax
    import jax.numpy as jnp
    import ntkc

    xtr, ytr, xte, yte = data
    params = fnet.sample(seed, 0)[0]
    xtr_j, xte_j, y_j = jnp.asarray(xtr, fnet.dtype), jnp.asarray(xte, fnet.dtype), jnp.asarray(labels)
    loss = lambda p: 0.5 * jnp.mean((fnet.apply(p, xtr_j)[:, 0] - y_j) ** 2)  # noqa: E731
    h = ntkc.empirical_ntk(fnet, params, xtr)
    lam = float(np.linalg.eigvalsh(h)[-1])
    lr = lr_scale * len(xtr) / lam  # GD on the mean loss moves u by −(η/n)·H(u − y)

    @jax.jit
    def step(p):
        return jax.tree_util.tree_map(lambda a, g: a - lr * g, p, jax.grad(loss)(p))

    predict = jax.jit(lambda p: fnet.apply(p, xte_j)[:, 0])
    xp = np.concatenate([xtr[probe[0]], xte[probe[1]]])
    record = []
    marks = checkpoints(steps)
    for t in range(steps + 1):
        if t in marks:
            k = ntkc.empirical_ntk(fnet, params, xp)
            acc = float(np.mean(np.sign(np.asarray(predict(params))) == yte))
            record.append({"step": t, "loss": float(loss(params)), "test_acc": acc, "kernel": k})
        if t < steps:
            params = step(params)
    return lr, lam, record


def evolution(records, n_probe_train, ytr_probe, yte_probe):
    """Per checkpoint: distance from K(0), velocity to the next checkpoint,
    Fort et al.'s kernel distance 1 − ⟨K(0), K(t)⟩/(‖K(0)‖‖K(t)‖), class means."""
    k0 = records[0]["kernel"]
    rows = []
    for i, r in enumerate(records):
        k = r["kernel"]
        row = {key: r[key] for key in ("step", "loss", "test_acc")}
        row["rel_change"] = float(np.linalg.norm(k - k0) / np.linalg.norm(k0))
        row["kernel_distance"] = float(1 - np.sum(k * k0) / (np.linalg.norm(k) * np.linalg.norm(k0)))
        if i + 1 < len(records):
            nxt = records[i + 1]
            row["velocity"] = float(np.linalg.norm(nxt["kernel"] - k) / np.linalg.norm(k)
                                    / (nxt["step"] - r["step"]))
        ktr = k[:n_probe_train, :n_probe_train]
        kte = k[n_probe_train:, n_probe_train:]
        row["train_d"], row["train_c"], row["train_n"] = class_means(ktr, ytr_probe)
        row["test_d"], row["test_c"], row["test_n"] = class_means(kte, yte_probe)
        rows.append(row)
    return rows


def one_step(s2, depth, width, x, y, lr, seeds):
    """E[ΔΘ(x, x)] and E[Θ(x, x)] over seeds × examples, one GD step on ½(f(x) − y)²
    at each example from the same initial parameters."""
    import jax
    import jax.numpy as jnp
    import ntkc

    fnet = ntkc.finite_net(ntkc.load(NTK_FILE, constants={"depth": depth, "w": float(np.sqrt(s2))}),
                           width=width, out_width=1)
    grad = jax.jit(jax.grad(lambda p, xi, yi: 0.5 * (fnet.apply(p, xi[None])[0, 0] - yi) ** 2))
    move = jax.jit(lambda p, g: jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g))
    before, change = [], []
    for seed in range(seeds):
        params = fnet.sample(1000 + seed, 0)[0]
        t0 = np.diag(ntkc.empirical_ntk(fnet, params, x))
        for i in range(len(x)):
            moved = move(params, grad(params, jnp.asarray(x[i], fnet.dtype), y[i]))
            # the whole (small) Gram: one block shape, one compilation per net
            t1 = ntkc.empirical_ntk(fnet, moved, x)[i, i]
            before.append(t0[i])
            change.append(t1 - t0[i])
    before, change = np.array(before), np.array(change)
    finite = np.isfinite(change)
    return {"sigma_w2": s2, "depth": depth, "width": width,
            "mean_theta": float(np.mean(before)),
            "ratio": float(np.mean(change[finite]) / np.mean(before[finite])),
            "abs_ratio": float(np.mean(np.abs(change[finite])) / np.mean(before[finite])),
            "diverged": int((~finite).sum()), "samples": len(change)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder holding images/mnist")
    ap.add_argument("--pair", nargs=2, type=int, default=[3, 5])
    ap.add_argument("--n", type=int, default=256, help="training images")
    ap.add_argument("--probe", type=int, default=128, help="training and test images in the probe Gram")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--wide", type=int, default=256,
                    help="a second, wider net for (a) and (c) (0: none)")
    ap.add_argument("--depth", type=int, default=3, help="hidden ReLU layers")
    ap.add_argument("--steps", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=1.0, help="GD step in units of n/λ_max(H(0))")
    ap.add_argument("--phase-lr", type=float, default=0.05, help="the fixed step η of part (b)")
    ap.add_argument("--phase-seeds", type=int, default=4)
    ap.add_argument("--phase-examples", type=int, default=8)
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--render", action="store_true",
                    help="only redraw the figure and docs section from the saved JSON")
    args = ap.parse_args(argv)
    if args.render:
        saved = json.loads((DOCS / "results_ntk_evolution.json").read_text())
        args = argparse.Namespace(**{k: v for k, v in saved["setting"].items() if k != "machine"})
        plot(saved["runs"], saved["phase"], args)
        write_docs(saved["runs"], saved["phase"], args, saved["seconds"]["a_c"], saved["seconds"]["b"],
                   saved["command"], saved["setting"]["machine"])
        return
    setup_jax()
    import jax.numpy as jnp
    import ntkc

    clock = Clock()
    data = task(args.data, tuple(args.pair), args.n)
    xtr, ytr, xte, yte = data
    probe = (np.arange(args.probe), np.arange(args.probe))
    kernel = ntkc.load(NTK_FILE, constants={"depth": args.depth, "w": float(np.sqrt(2.0))})
    runs = {}
    random_y = np.random.default_rng(1).permutation(ytr)  # same class balance, labels scrambled
    widths = [(args.width, "")] + ([(args.wide, f"_w{args.wide}")] if args.wide else [])
    for width, suffix in widths:
        fnet = ntkc.finite_net(kernel, width=width, out_width=1, dtype=jnp.float32)
        for name, labels in (("true", ytr), ("random", random_y)):
            lr, lam, records = train_run(fnet, data, labels, args.lr, args.steps, 0, probe)
            rows = evolution(records, args.probe, ytr[probe[0]], yte[probe[1]])
            runs[name + suffix] = {"width": width, "lr": lr, "lambda_max": lam, "rows": rows}
            last = rows[-1]
            print(f"[{clock():6.0f}s] width {width}, {name} labels: η = {lr:.3g}, loss {rows[0]['loss']:.3f} → "
                  f"{last['loss']:.4f}, test acc {rows[0]['test_acc']:.3f} → {last['test_acc']:.3f}, "
                  f"‖K(T) − K(0)‖/‖K(0)‖ = {last['rel_change']:.3f}", flush=True)
    t_a = clock()

    # (b): the examples of one step are the first training images, labels ±1
    phase = []
    x_b, y_b = xtr[:args.phase_examples], ytr[:args.phase_examples]
    for s2 in SIGMAS:
        for depth, width in SHAPES:
            r = one_step(s2, depth, width, x_b, y_b, args.phase_lr, args.phase_seeds)
            phase.append(r)
            print(f"[{clock():6.0f}s] σ_w² {s2} L {depth:2d} M {width:3d}: E[Θ] {r['mean_theta']:.3g} "
                  f"E[ΔΘ]/E[Θ] {r['ratio']:+.3g}  E|ΔΘ|/E[Θ] {r['abs_ratio']:.3g}"
                  f"{'  (' + str(r['diverged']) + ' diverged)' if r['diverged'] else ''}", flush=True)
    t_b = clock() - t_a
    if args.no_docs:
        return
    command = "python examples/ntk_evolution.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out = {"setting": vars(args) | {"machine": machine()}, "seconds": {"a_c": t_a, "b": t_b},
           "command": command.strip(), "runs": runs, "phase": phase}
    save_json(DOCS / "results_ntk_evolution.json", out)
    plot(runs, phase, args)
    write_docs(runs, phase, args, t_a, t_b, command.strip(), machine())


def summarize(rows):
    """Early vs late velocity and the late velocities' spread (constant velocity?)."""
    v = [(r["step"], r["velocity"]) for r in rows if "velocity" in r]
    early = v[0][1]
    late = np.array([x for s, x in v if s >= rows[-1]["step"] // 2])
    return early, float(late.mean()), float(late.std() / late.mean())


def write_docs(runs, phase, args, t_a, t_b, command, where):
    tr, rn = runs["true"]["rows"], runs["random"]["rows"]
    e_t, l_t, cv_t = summarize(tr)
    e_r, l_r, cv_r = summarize(rn)
    half = next(r for r in tr if r["step"] >= args.steps // 2)
    table_a = "\n".join(
        f"| {r['step']} | {r['loss']:.4f} | {r['rel_change']:.4f} | {r.get('velocity', float('nan')):.2e} | "
        f"{100 * r['test_acc']:.1f} | {r['test_c'] / r['test_d']:.3f} | {r['test_n'] / r['test_d']:.3f} | "
        f"{q['rel_change']:.4f} | {100 * q['test_acc']:.1f} | {q['test_c'] / q['test_d']:.3f} | "
        f"{q['test_n'] / q['test_d']:.3f} |"
        for r, q in zip(tr, rn))
    cells = {(r["sigma_w2"], r["depth"]): r for r in phase}
    table_b = "\n".join(
        f"| {s2} | " + " | ".join(
            f"{cells[(s2, d)]['ratio']:+.3g} ({cells[(s2, d)]['abs_ratio']:.3g})"
            + (f" [{cells[(s2, d)]['diverged']} inf]" if cells[(s2, d)]["diverged"] else "")
            for d, _ in SHAPES) + " |" for s2 in SIGMAS)
    head_b = " | ".join(f"L={d}, M={m}" for d, m in SHAPES)
    write_section("ntk_evolution", f"""## The data-dependent NTK: how the empirical NTK moves in training

Command: `{command}` ({where}); (a) and (c) took {t_a:.0f} s, (b) {t_b:.0f} s.

Setting: `examples/ntk_evolution.ntk` (ReLU MLP, NTK parameterisation, no biases) built by
`ntkc.finite_net`; every kernel is `ntkc.empirical_ntk` of the current parameters (one output,
float32). MNIST digits {args.pair[0]} (y = +1) vs {args.pair[1]} (y = −1) from the official test
file, images scaled to |x|² = 784; {args.n} training images, 1,000 test images. (a) and (c):
depth {args.depth} (hidden layers), width {args.width} (and {args.wide} for the last sentence of (c)), σ_w² = 2, full-batch GD on ½·mean(f − y)²
with η = {args.lr}·n/λ_max(H(0)) ({args.steps} steps, η = {runs['true']['lr']:.3g} for true labels),
kernels on a probe of {args.probe} training + {args.probe} test images; random labels are the
training labels permuted. (b): one GD step with η = {args.phase_lr} on ½(f(x) − y)² at one
training image x, {args.phase_seeds} initialisations × {args.phase_examples} images per cell.

**(a) The notes (Fort et al. 2020): a rapid, chaotic early transient, then the NTK moves at
constant velocity.** Here (true labels) the velocity ‖K(t_(k+1)) − K(t_k)‖/‖K(t_k)‖ per step
is {e_t:.2e} over the first step and {l_t:.2e} on average over the second half of training,
where it varies by {100 * cv_t:.0f} % (coefficient of variation) between checkpoints; the kernel
has moved {half['rel_change']:.3f} (relative) by step {half['step']} and {tr[-1]['rel_change']:.3f}
by step {tr[-1]['step']}. Random labels: {e_r:.2e} → {l_r:.2e} ({100 * cv_r:.0f} %), total
{rn[-1]['rel_change']:.3f}.

**(c) The notes: the class structure of the data-dependent NTK (a larger gap between
Θ̄_c/Θ̄_d and Θ̄_n/Θ̄_d) may track generalization.** On the {args.probe} test images, (Θ̄_c − Θ̄_n)/Θ̄_d goes
from {gap(tr[0]):.3f} to {gap(tr[-1]):.3f} with true labels (test accuracy
{100 * tr[0]['test_acc']:.1f} → {100 * tr[-1]['test_acc']:.1f} %) and from {gap(rn[0]):.3f} to
{gap(rn[-1]):.3f} with random labels (test accuracy {100 * rn[-1]['test_acc']:.1f} % at the end).

| step | loss (true) | ‖K(t) − K(0)‖/‖K(0)‖ | velocity / step | test acc. % | Θ̄_c/Θ̄_d | Θ̄_n/Θ̄_d | ‖K(t) − K(0)‖/‖K(0)‖ (random) | test acc. % | Θ̄_c/Θ̄_d | Θ̄_n/Θ̄_d |
|---|---|---|---|---|---|---|---|---|---|---|
{table_a}

**(b) The notes' Theorem 7: as L, M → ∞ with L/M fixed, one GD step changes Θ(x, x) relatively
by → 0 for σ_w² < 2 (ordered) and → ∞ for σ_w² > 2 (chaotic).** E[ΔΘ(x, x)]/E[Θ(x, x)]
here (E|ΔΘ|/E[Θ] in brackets), L/M = 1/16:

| σ_w² | {head_b} |
|---|{'---|' * len(SHAPES)}
{table_b}

{discussion(runs, phase)}

![NTK evolution](results_ntk_evolution.png)
""")


def gap(r):
    """(Θ̄_c − Θ̄_n)/Θ̄_d on the test probe."""
    return (r["test_c"] - r["test_n"]) / r["test_d"]


def discussion(runs, phase):
    """Where the numbers here and the notes' claims meet and part, from the data."""
    tr = runs["true"]["rows"]
    early, late, _ = summarize(tr)
    settle = next(r["step"] for r in tr if r.get("velocity", np.inf) <= 2 * late)
    far = max(tr, key=lambda r: r["rel_change"])
    acc = np.array([r["test_acc"] for r in tr])
    corr = float(np.corrcoef([gap(r) for r in tr], acc)[0, 1])
    cells = {(r["sigma_w2"], r["depth"]): r for r in phase}
    depths = [d for d, _ in SHAPES]
    crit = {d: cells[(2.0, d)]["mean_theta"] for d in depths}
    scale = max(abs(cells[(s2, d)]["mean_theta"] / crit[d] / (s2 / 2) ** (d + 1) - 1)
                for s2 in SIGMAS for d in depths)
    order_breaks = [f"L = {d}" for d in depths
                    if any(cells[(a, d)]["abs_ratio"] >= cells[(b, d)]["abs_ratio"]
                           for a, b in zip(SIGMAS, SIGMAS[1:]))]
    trend = "; ".join(
        f"σ_w² = {s2}: " + " → ".join(f"{cells[(s2, d)]['abs_ratio']:.3g}" for d in depths)
        for s2 in SIGMAS)
    last_d = depths[-1]
    ordered = [s2 for s2 in SIGMAS if s2 < 2]
    turned = [s2 for s2 in ordered
              if cells[(s2, last_d)]["abs_ratio"] < max(cells[(s2, d)]["abs_ratio"] for d in depths)]
    rising = [s2 for s2 in ordered if s2 not in turned]
    dips = sum(b["rel_change"] < a["rel_change"] for a, b in zip(tr, tr[1:]))
    rn = runs["random"]["rows"]
    text = f"""**Where they meet and where they part.**

(a) The velocity falls {early / late:.0f}-fold from the first step to the second half of
training and is within 2× of its late value from step {settle} on. Fort et al. measured deep
image networks trained by SGD, the transient lasting 2–3 epochs; here it is full-batch GD on a
small MLP, and the transient is the first ~{settle} steps. Velocity is motion, not distance:
‖K(t) − K(0)‖ fell between {dips} of the {len(tr) - 1} pairs of consecutive checkpoints (its
largest value, {far['rel_change']:.3f}, at step {far['step']}); the kernel keeps moving at a
steady rate without moving steadily away from where it started.

(b) E|ΔΘ|/E[Θ] from the smallest to the largest net (L = {depths[0]} → {last_d}): {trend}.
The chaotic side grows fastest (σ_w² = {SIGMAS[-1]}: {cells[(SIGMAS[-1], last_d)]['abs_ratio']:.3g}
at L = {last_d}). On the ordered side {', '.join(f'σ_w² = {x}' for x in turned) or 'no σ_w²'}
{'has' if len(turned) == 1 else 'have'} turned down by L = {last_d}
{'and ' + ', '.join(f'σ_w² = {x}' for x in rising) + ' still grow' + ('s' if len(rising) == 1 else '') + ' at these sizes ' if rising else ''}(the
theorem is a limit). The ordering by σ_w² holds at
{'every depth' if not order_breaks else 'every depth except ' + ', '.join(order_breaks)}.
Why, in this net: ReLU without biases
is positively homogeneous, so the network at σ_w² is the network at σ_w² = 2 with the same N(0, 1)
weights times s = (σ_w²/2)^((L+1)/2), its gradient times s and Θ times s² — E[Θ] here matches
s² × E[Θ at σ_w² = 2] to {scale:.0e} relative (same draws in every column). One step with a fixed η
then gives ΔΘ/Θ = −η(s·f̃ − y)·s·⟨∇Θ̃, ∇f̃⟩/Θ̃ (tilde: the σ_w² = 2 net, to first order in η):
s → 0 exponentially in L in the ordered phase, ∞ in the chaotic one, against a factor from the
critical net that grows with L at fixed L/M. So the phases of one step at fixed η are, for this
architecture, the critical net's change rescaled by powers of s, and the ordered limit shows
only once s's decay beats that growth. The notes draw W ~ N(0, σ_w²/n) (standard
parameterisation); here it is NTK's, the same forward pass with each layer's term in Θ weighted
differently, so the numbers differ while the scaling argument is the same.

(c) Over the checkpoints of the true-label run the gap (Θ̄_c − Θ̄_n)/Θ̄_d and the test accuracy
correlate at {corr:.2f}; with random labels the gap ends at {gap(rn[-1]):.4f} (from
{gap(rn[0]):.4f}) and the test accuracy at {100 * rn[-1]['test_acc']:.1f} %."""
    wk = next((k for k in runs if k.startswith("true_w")), None)
    if wk:
        wide = runs[wk]["rows"]
        rnd = runs["random" + wk[4:]]["rows"]
        text += f""" The wider net (width {runs[wk]['width']}) shows
where the claim needs the kernel to move: its kernel moves {wide[-1]['rel_change']:.3f} (relative)
with true labels, its gap goes only from {gap(wide[0]):.4f} to {gap(wide[-1]):.4f} (random labels:
{gap(rnd[-1]):.4f}) while its test accuracy rises from {100 * wide[0]['test_acc']:.1f} to
{100 * wide[-1]['test_acc']:.1f} %: closer to the lazy regime it fits with the kernel it started
with, and the class structure of that kernel says nothing about how well training went."""
    return text


def plot(runs, phase, args):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 4, figsize=(17, 3.8))
    for name, style in (("true", "-"), ("random", "--")):
        rows = runs[name]["rows"]
        steps = np.array([max(r["step"], 0.5) for r in rows])
        ax[0].plot(steps, [r["rel_change"] for r in rows], "o" + style, ms=3, label=f"{name} labels")
        v = [(max(r["step"], 0.5), r["velocity"]) for r in rows if "velocity" in r]
        ax[1].loglog(*zip(*v), "o" + style, ms=3, label=f"{name} labels")
    ax[0].set(xscale="symlog", xlabel="GD step", ylabel="‖K(t) − K(0)‖/‖K(0)‖",
              title="(a) distance travelled by the NTK")
    ax[1].set(xlabel="GD step", ylabel="relative change per step", title="(a) NTK velocity")
    for a in ax[:2]:
        a.legend(fontsize=7)
    for i, s2 in enumerate(SIGMAS):
        rows = [r for r in phase if r["sigma_w2"] == s2]
        ax[2].semilogy([r["depth"] for r in rows], [r["abs_ratio"] for r in rows], "o-",
                       color=f"C{i}", label=f"σ_w² = {s2}")
    ax[2].set(xscale="log", xlabel="depth L (width M = 16 L)", ylabel="E|ΔΘ(x,x)| / E[Θ(x,x)]",
              title="(b) one GD step, L/M fixed")
    ax[2].set_xticks([d for d, _ in SHAPES], [str(d) for d, _ in SHAPES])
    ax[2].minorticks_off()
    ax[2].legend(fontsize=7)
    for name, style in (("true", "-"), ("random", "--")):
        rows = runs[name]["rows"]
        steps = np.array([max(r["step"], 0.5) for r in rows])
        ax[3].plot(steps, [gap(r) for r in rows], "o" + style,
                   color="C0", ms=3, label=f"(Θ̄_c − Θ̄_n)/Θ̄_d, {name}")
    for k in (k for k in runs if k.startswith("true_w")):
        rows = runs[k]["rows"]
        ax[3].plot([max(r["step"], 0.5) for r in rows], [gap(r) for r in rows], ":", color="C0",
                   label=f"gap, true, width {runs[k]['width']}")
    tw = ax[3].twinx()
    for name, style in (("true", "-"), ("random", "--")):
        rows = runs[name]["rows"]
        tw.plot([max(r["step"], 0.5) for r in rows], [r["test_acc"] for r in rows], style,
                color="C3", label=f"test acc., {name}")
    ax[3].set(xscale="symlog", xlabel="GD step", title="(c) class structure (test probe)")
    tw.set_ylabel("test accuracy", color="C3")
    ax[3].legend(fontsize=7, loc="center left")
    tw.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(DOCS / "results_ntk_evolution.png", dpi=110)


if __name__ == "__main__":
    main()
