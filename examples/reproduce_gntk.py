"""Reproduce the GNTK graph-classification results (Du et al. 2019, Table 1)
with the compiled kernels of examples/gntk_<NAME>.ntk.

    python examples/reproduce_gntk.py [--data ../shared/data] [--datasets MUTAG PTC ...]

Protocol (the authors' search.py): one Gram per configuration over the whole
data set; two copies, divided by its minimum and cosine-normalised;
SVC(kernel="precomputed") for each C in logspace(-2, 4, 120) on the 10 fixed
folds of 10fold_idx/. Reported twice:

* paper-style: the best mean test accuracy over C, normalisation and
  configuration (what the paper reports; optimistic, chosen on the test folds);
* nested: per outer fold, (configuration, normalisation, C) chosen by a
  stratified inner CV on that fold's training graphs only, scored once.

Numbers go to docs/results_gntk.json (one entry per data set and --tag, so
runs compose) and the "gntk" section of docs/results.md with its plot.
Swap in other nets (e.g. jumping knowledge once the language has it) with
--ntk 'examples/gntk_jk1_{name}.ntk' --tag jk1.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import DEFAULT_DATA, DOCS, ROOT, Clock, load_json, machine, save_json, setup_jax, write_section  # noqa: E402

PAPER = {"MUTAG": (90.0, 8.5), "PTC": (67.9, 6.9), "PROTEINS": (75.6, 4.2), "NCI1": (84.2, 1.5),
         "IMDBBINARY": (76.9, 3.6), "IMDBMULTI": (52.8, 4.6), "COLLAB": (83.6, 1.0)}

PAPER_GRID = [f"b{b}_m{m}_{s}" for b in (1, 3) for m in (1, 2, 3) for s in ("sum", "mean")]
# What the default run computes within ~20 minutes on a shared 2-core CPU
# (the Gram cost grows with (Σ nodes)² × depth). The .ntk files hold the full grids.
BUDGET = {
    "MUTAG": PAPER_GRID,
    "PTC": ["b1_m1_sum", "b1_m1_mean"],
    "IMDBBINARY": ["b1_m1_sum", "b1_m1_mean"],
    "IMDBMULTI": ["b1_m1_sum", "b1_m1_mean"],
    "PROTEINS": ["b1_m1_mean"],
    "NCI1": ["b1_m1_mean"],
    "COLLAB": ["b1_m1_mean"],
}
DEFAULT_SETS = ["MUTAG", "PTC", "IMDBBINARY", "IMDBMULTI", "PROTEINS"]


def net_names(path: Path) -> list:
    import ntkc
    from ntkc.ast import Net
    return [s.name for s in ntkc.parse(path.read_text(), str(path)).statements if isinstance(s, Net)]


def run_dataset(name, args, clock):
    import ntkc
    from ntkc.data import load_tu
    from ntkc.regression import by_min, cosine, graph_gram, nested_accuracy, svc_accuracy

    ds = load_tu(Path(args.data) / "graphs", name)
    folds = ds.folds[: args.folds]
    path = ROOT / args.ntk.format(name=name)
    names = net_names(path)
    wanted = args.nets or BUDGET.get(name, names)
    nets = [n for n in names if any(fnmatch.fnmatch(n, w) for w in wanted)]
    if not nets:
        raise SystemExit(f"{path}: no net matches {wanted}")
    large = len(ds.graphs) > 200
    cs = np.logspace(-2, 4, 120)[:: 4 if large and not args.full_cs else 1]
    print(f"[{clock():7.1f}s] {name}: {len(ds.graphs)} graphs, {len(nets)} nets, {len(cs)} C values",
          flush=True)
    grams, timing = {}, {}
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    for net in nets:
        file = cache / f"{name}_{args.tag}_{net}_{args.dtype}.npy"
        t0 = clock()
        if file.exists():
            K = np.load(file)
        else:
            kernel = ntkc.load(path, net=net)
            K = graph_gram(kernel, ds, dtype=np.dtype(args.dtype))
            np.save(file, K)
            timing[net] = round(clock() - t0, 1)
        if not large or args.min_norm:
            grams[f"{net}/min"] = by_min(K)
        grams[f"{net}/cos"] = cosine(K)
        print(f"[{clock():7.1f}s]   {net}: Gram in {clock() - t0:.1f}s", flush=True)
    tables = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for key, G in grams.items():
            acc = svc_accuracy(G, ds.labels, folds, cs)
            tables[key] = {"mean": acc.mean(1).tolist(), "std": acc.std(1).tolist()}
        print(f"[{clock():7.1f}s]   SVC tables done", flush=True)
        nested, chosen = nested_accuracy(grams, ds.labels, folds, np.logspace(-2, 4, args.nested_cs),
                                         inner=args.inner)
    unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    best_key = max(tables, key=lambda k: max(tables[k]["mean"]))
    c = int(np.argmax(tables[best_key]["mean"]))
    print(f"[{clock():7.1f}s]   nested done: {100 * nested.mean():.1f}", flush=True)
    return {
        "graphs": len(ds.graphs), "folds": len(folds), "dtype": args.dtype, "ntk": str(path.relative_to(ROOT)),
        "Cs": cs.tolist(), "tables": tables, "gram_seconds": timing,
        "best": {"config": best_key, "C": float(cs[c]), "mean": 100 * tables[best_key]["mean"][c],
                 "std": 100 * tables[best_key]["std"][c]},
        "nested": {"mean": 100 * float(nested.mean()), "std": 100 * float(nested.std()),
                   "per_fold": (100 * nested).tolist(), "chosen": [[k, float(v)] for k, v in chosen],
                   "inner_folds": args.inner, "Cs": args.nested_cs},
        "majority": 100 * float(np.bincount(ds.labels).max() / len(ds.labels)),
        "nodes": int(ds.sizes().sum()), "unconverged_fits": unconverged,
    }


def render(results: dict, command: str) -> str:
    rows = []
    for name in ["MUTAG", "PTC", "PROTEINS", "NCI1", "IMDBBINARY", "IMDBMULTI", "COLLAB"]:
        for tag, r in sorted(results.get(name, {}).items()):
            p, ps = PAPER[name]
            b, n = r["best"], r["nested"]
            nets = sorted({k.split("/")[0] for k in r["tables"]})
            rows.append(f"| {name} | {tag} | {r['graphs']} | {len(nets)} | {len(r['Cs'])} | "
                        f"{b['mean']:.1f} ± {b['std']:.1f} (`{b['config']}`, C={b['C']:.3g}) | "
                        f"{n['mean']:.1f} ± {n['std']:.1f} | {p} ± {ps} | {b['mean'] - p:+.1f} | "
                        f"{r['majority']:.1f} |")
    per_net = []
    for name, tags in results.items():
        for tag, r in sorted(tags.items()):
            cells = []
            for net in sorted({k.split("/")[0] for k in r["tables"]}):
                acc = " / ".join(f"{max(r['tables'][f'{net}/{s}']['mean']) * 100:.1f}"
                                 if f"{net}/{s}" in r["tables"] else "–" for s in ("min", "cos"))
                sec = r["gram_seconds"].get(net)
                cells.append(f"`{net}` {acc}" + (f" ({sec:.0f}s)" if sec else ""))
            per_net.append(f"- **{name}** ({tag}): " + "; ".join(cells))
    estimate = "no timing to extrapolate from."
    gaps = {n: tags["jk0"]["best"]["mean"] - PAPER[n][0] for n, tags in results.items() if "jk0" in tags}
    close = [n for n, g in gaps.items() if abs(g) <= 2]
    far = [f"{n} ({g:+.1f})" for n, g in gaps.items() if abs(g) > 2]
    verdict = (f"Within the 2-point goal: {', '.join(close) or 'none'}; outside it: "
               f"{', '.join(far) or 'none'} (paper-style numbers, jk=0).")
    ref = results.get("IMDBBINARY", {}).get("jk0", {})
    timed = ref.get("gram_seconds", {})
    sec = timed.get("b1_m1_sum") or timed.get("b1_m1_mean")
    if sec:
        rate = sec / ref["nodes"] ** 2  # Gram time scales with (Σ nodes)² for a fixed net
        nodes = {"NCI1": 122_766, "COLLAB": 372_450}  # Σ nodes, from the data README
        estimate = ("at IMDB-BINARY's measured rate for the cheapest net (one block, one "
                    "MLP layer) a single Gram would take about " + ", ".join(
                        f"{name} {rate * v ** 2 / 60:.0f} min" for name, v in nodes.items())
                    + " here, before any SVM fits.")
    return f"""## GNTK on the TU graph benchmarks (Du et al. 2019)

Command: `python examples/reproduce_gntk.py` ({machine()}); it runs MUTAG, PTC,
IMDB-BINARY, IMDB-MULTI and PROTEINS with the budgeted nets and writes this section
(here it ran as `--datasets MUTAG`, then `--datasets PTC IMDBBINARY IMDBMULTI PROTEINS`,
about 27 + 33 minutes on a CPU whose load average stayed at 8–10 from other jobs;
`--datasets` with no names only re-renders from `docs/results_gntk.json`).

Protocol of the authors' `search.py`: one Gram per configuration over all graphs
(`examples/gntk_<NAME>.ntk`, net `b<blocks>_m<mlp layers>_<sum|mean>`), copies divided
by its minimum and cosine-normalised, `SVC(kernel="precomputed")` for each C in
`logspace(-2, 4, 120)` (every 4th value, 30 in all, for sets of more than 200 graphs:
the MUTAG table alone took 17 minutes). For those sets only the cosine-normalised Gram is
used: on the divided-by-min PTC Gram libsvm stopped at its 2,000,000-iteration cap for
every C ≥ 10 (8–22 s per fit, no converged solution), so that copy gives no usable
numbers here (`--min-norm` puts it back) on the 10 fixed folds of `10fold_idx/`. **Paper-style** is the best mean
test accuracy over C, normalisation and configuration — chosen on the test folds, as
the paper reports it (optimistic). **Nested** chooses (configuration, normalisation,
C ∈ logspace(−2, 4, 13)) per outer fold by stratified 3-fold CV on that fold's
training graphs only, then scores the fold once (honest).

| data set | family | graphs | configs | C values | paper-style (best config) | nested | paper | gap | majority class |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Best mean accuracy per configuration (divided-by-min / cosine), with Gram time:

{chr(10).join(per_net)}

![GNTK accuracy vs C](results_gntk.png)

**Gap to the paper, stated plainly.** {verdict} Why: (1) all runs here use jumping
knowledge off (jk=0: the readout pools only the last block); every number in the
paper's Table 1 used jk=1, which needs the language's branching extension (issue 11).
The script takes `--ntk 'examples/gntk_jk1_{{name}}.ntk' --tag jk1` to add those rows
without other changes. (2) The configuration grid is cut to fit a shared 2-core CPU (a
GNTK Gram costs (Σ nodes)² node pairs per layer, and even the cut grid took about an
hour): MUTAG runs the paper's full grid (num_layers ∈ {{2, 4}} = 1 or 3 blocks, 1–3 MLP
layers, both scalings), PTC runs two one-block nets instead of the paper's 9–13 blocks,
the larger sets one or two one-block nets, with 30 C values and the cosine Gram only.
NCI1 and COLLAB were not run: {estimate} (3) Like the paper's, the paper-style number
selects on the test folds; the nested column is the honest estimate. A consistency
check: `tests/golden/gntk_reference/README.md` records that the GNTK authors' own code
reaches 85.0 % on MUTAG with num_layers 2–4 under this protocol — the number reproduced
here — and that the paper's 90.0 is the best over its whole grid.
"""


def plot(results: dict, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sets = [n for n in PAPER if n in results]
    if not sets:
        return
    fig, axes = plt.subplots(1, len(sets), figsize=(3.6 * len(sets), 3.2), squeeze=False)
    for ax, name in zip(axes[0], sets):
        tag = "jk0" if "jk0" in results[name] else sorted(results[name])[0]
        r = results[name][tag]
        cs = np.array(r["Cs"])
        ranked = sorted(r["tables"], key=lambda k: -max(r["tables"][k]["mean"]))[:4]
        for key in ranked:
            ax.semilogx(cs, 100 * np.array(r["tables"][key]["mean"]), label=key, lw=1.2)
        ax.axhline(PAPER[name][0], color="k", ls="--", lw=1, label="paper (jk=1)")
        ax.axhline(r["nested"]["mean"], color="r", ls=":", lw=1, label="nested (ours)")
        ax.set_title(f"{name} ({tag})")
        ax.set_xlabel("C")
        ax.set_ylabel("mean test accuracy (%)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder holding graphs/")
    ap.add_argument("--datasets", nargs="*", default=DEFAULT_SETS,
                    help="none: only re-render docs from the JSON")
    ap.add_argument("--nets", nargs="+", help="net-name patterns (default: the time-budgeted list)")
    ap.add_argument("--ntk", default="examples/gntk_{name}.ntk", help="file per data set")
    ap.add_argument("--tag", default="jk0", help="results key for this family of nets")
    ap.add_argument("--dtype", default="float64", choices=("float32", "float64"),
                    help="Gram precision; float32 halves the time but its rounding leaves the "
                         "Gram slightly indefinite and libsvm then stalls at large C")
    ap.add_argument("--folds", type=int, default=10, help="use the first K folds")
    ap.add_argument("--full-cs", action="store_true", help="all 120 C values for large sets too")
    ap.add_argument("--min-norm", action="store_true",
                    help="also the divided-by-min Gram for sets of more than 200 graphs")
    ap.add_argument("--nested-cs", type=int, default=13)
    ap.add_argument("--inner", type=int, default=3)
    ap.add_argument("--cache", default="/tmp/ntkc_gntk_grams", help="Gram cache folder")
    ap.add_argument("--json", default=str(DOCS / "results_gntk.json"))
    ap.add_argument("--no-docs", action="store_true", help="do not touch docs/")
    args = ap.parse_args(argv)
    setup_jax()
    clock = Clock()
    results = load_json(Path(args.json))
    for name in args.datasets:
        r = run_dataset(name, args, clock)
        r["seconds"] = round(clock(), 1)
        print(f"  {name}: paper-style {r['best']['mean']:.1f} ± {r['best']['std']:.1f} "
              f"({r['best']['config']}), nested {r['nested']['mean']:.1f}, paper {PAPER[name][0]}",
              flush=True)
        if not args.no_docs:
            results.setdefault(name, {})[args.tag] = r
            save_json(Path(args.json), results)
    if not args.no_docs:
        command = "python examples/reproduce_gntk.py " + " ".join(argv if argv is not None else sys.argv[1:])
        plot(results, DOCS / "results_gntk.png")
        write_section("gntk", render(results, command.strip()))
    print(f"total {clock():.0f}s")


if __name__ == "__main__":
    main()
