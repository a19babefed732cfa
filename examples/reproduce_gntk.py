"""Reproduce the GNTK graph-classification results (Du et al. 2019, Table 1)
with the compiled kernels of examples/gntk_jk1_<NAME>.ntk (jumping knowledge, the
paper's setting) or, for comparison, examples/gntk_<NAME>.ntk (jk=0).

    python examples/reproduce_gntk.py [--data ../shared/data] [--datasets MUTAG PTC ...]
    python examples/reproduce_gntk.py --ntk 'examples/gntk_{name}.ntk'    # the jk=0 rows

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
The results key (--tag) defaults to jk1 or jk0 from the file name.
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
# What the default run computes in about an hour on an idle 2-core CPU (the Gram cost
# grows with (Σ nodes)² × depth): the paper's depths with one MLP layer per block, and
# the full grid on MUTAG. The .ntk files hold the full grids (--nets 'b*').
BUDGET = {
    "MUTAG": PAPER_GRID,
    "PTC": ["b1_m1_*", "b9_m1_*", "b11_m1_*", "b13_m1_*"],
    "IMDBBINARY": ["b1_m1_*", "b3_m1_*"],
    "IMDBMULTI": ["b1_m1_*", "b3_m1_*"],
    "PROTEINS": ["b1_m1_*", "b3_m1_*"],
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
    final = {n: tags.get("jk1") or tags.get("jk0") for n, tags in results.items()}
    gaps = {n: r["best"]["mean"] - PAPER[n][0] for n, r in final.items()}
    close = [n for n, g in gaps.items() if abs(g) <= 2]
    far = [f"{n} ({g:+.1f})" for n, g in gaps.items() if abs(g) > 2]
    verdict = (f"Within the 2-point goal (paper-style, jk=1 where run): {', '.join(close) or 'none'}; "
               f"outside it: {', '.join(far) or 'none'}.")
    nested_gaps = {n: r["best"]["mean"] - r["nested"]["mean"] for n, r in final.items()}
    nested_gap = (f"{min(nested_gaps.values()):.1f}–{max(nested_gaps.values()):.1f}"
                  if nested_gaps else "–")
    jk_effect = [f"{n} {tags['jk1']['best']['mean'] - tags['jk0']['best']['mean']:+.1f}"
                 for n, tags in results.items() if "jk0" in tags and "jk1" in tags]
    timed = {}
    for tag in ("jk0", "jk1"):
        ref = results.get("IMDBBINARY", {}).get(tag, {})
        times = ref.get("gram_seconds", {})
        sec = times.get("b1_m1_sum") or times.get("b1_m1_mean")
        if sec:
            timed = {"sec": sec, "nodes": ref["nodes"]}
    if timed:
        rate = timed["sec"] / timed["nodes"] ** 2  # Gram time scales with (Σ nodes)² for a fixed net
        nodes = {"NCI1": 122_766, "COLLAB": 372_450}  # Σ nodes, from the data README
        estimate = ("at IMDB-BINARY's measured rate for the cheapest net (one block, one "
                    "MLP layer) a single Gram would take about " + ", ".join(
                        f"{name} {rate * v ** 2 / 60:.0f} min" for name, v in nodes.items())
                    + " here, before any SVM fits; NCI1's grid needs 9–13 blocks, about 10× that per "
                    "configuration, and COLLAB's SVM fits on ~4,500 graphs per fold come on top.")
    return f"""## GNTK on the TU graph benchmarks (Du et al. 2019)

Command: `python examples/reproduce_gntk.py` ({machine()}); it runs MUTAG, PTC,
IMDB-BINARY, IMDB-MULTI and PROTEINS with the jumping-knowledge nets of
`examples/gntk_jk1_<NAME>.ntk` (jk=1, the paper's setting) and the budgeted grid, and
writes this section (here it ran as `{command}` after per-set runs; `--datasets` with no
names only re-renders from `docs/results_gntk.json`). The jk0 rows are the same blocks
without jumping knowledge (`--ntk 'examples/gntk_{{name}}.ntk'`), kept for comparison.

Protocol of the authors' `search.py`: one Gram per configuration over all graphs
(net `b<blocks>_m<mlp layers>_<sum|mean>`; blocks = the paper's num_layers − 1),
copies divided by its minimum and cosine-normalised, `SVC(kernel="precomputed")` for
each C in `logspace(-2, 4, 120)` (every 4th value, 30 in all, for sets of more than 200
graphs), on the 10 fixed folds of `10fold_idx/`. For those larger sets only the
cosine-normalised Gram is used: on the divided-by-min PTC Gram libsvm stopped at its
2,000,000-iteration cap for every C ≥ 10 (8–22 s per fit, no converged solution), so
that copy gives no usable numbers here (`--min-norm` puts it back). **Paper-style** is
the best mean test accuracy over C, normalisation and configuration — chosen on the
test folds, as the paper reports it (optimistic). **Nested** chooses (configuration,
normalisation, C ∈ logspace(−2, 4, 13)) per outer fold by stratified 3-fold CV on that
fold's training graphs only, then scores the fold once (honest).

| data set | family | graphs | configs | C values | paper-style (best config) | nested | paper | gap | majority class |
|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Best mean accuracy per configuration (divided-by-min / cosine), with Gram time:

{chr(10).join(per_net)}

![GNTK accuracy vs C](results_gntk.png)

**Gap to the paper, stated plainly.** {verdict} Nested CV, the honest estimate, is
{nested_gap} points below the paper-style number ({", ".join(f"{n} {g:.1f}" for n, g in nested_gaps.items())}).
Read with care: (1) The grid is cut to fit a 2-core CPU (a GNTK Gram costs
(Σ nodes)² node pairs per layer): MUTAG runs the paper's full grid (num_layers ∈ {{2, 4}}
= 1 or 3 blocks, 1–3 MLP layers, both scalings); PTC its three depths (9, 11, 13 blocks)
with one MLP layer, plus one block; IMDB-B/M and PROTEINS their two depths with one MLP
layer — 8 or 4 of the paper's 12–18 configurations, 30 C values, the cosine Gram only.
A smaller grid selected on the test folds can only land at or below the full grid's
best, so these are lower bounds on what the paper's protocol would give here.
(2) Jumping knowledge moves the paper-style numbers by {", ".join(jk_effect) or "–"}
points (jk1 − jk0). On MUTAG both ran the same 12 configurations, so its difference
is jumping knowledge alone; the jk0 runs of the other sets had one or two one-block
nets, so part of theirs is depth. (3) The kernels are exact: on MUTAG the jk=1 and
jk=0 nets equal the GNTK authors' own Grams to 3e-10 (`tests/test_branching.py`,
`tests/test_regression.py`, `tests/golden/gntk_reference/`). (4) Every paper-style
number selects on the test folds and differs from the next configuration's by less
than the fold-to-fold spread (± 3–9 points), so agreement to a point is partly luck
in both directions. NCI1 and COLLAB were not run: {estimate}
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
        tag = "jk1" if "jk1" in results[name] else sorted(results[name])[0]
        r = results[name][tag]
        cs = np.array(r["Cs"])
        ranked = sorted(r["tables"], key=lambda k: -max(r["tables"][k]["mean"]))[:4]
        for key in ranked:
            ax.semilogx(cs, 100 * np.array(r["tables"][key]["mean"]), label=key, lw=1.2)
        ax.axhline(PAPER[name][0], color="k", ls="--", lw=1, label="paper")
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
    ap.add_argument("--ntk", default="examples/gntk_jk1_{name}.ntk", help="file per data set")
    ap.add_argument("--tag", help="results key for this family of nets (default: jk1 or jk0 "
                                  "from the file name)")
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
    ap.add_argument("--json", default=str(DOCS / "results_gntk.json"),
                    help="results file (written after each data set)")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/results.md")
    args = ap.parse_args(argv)
    if args.tag is None:
        args.tag = "jk1" if "jk1" in Path(args.ntk).name else "jk0"
    setup_jax()
    clock = Clock()
    results = load_json(Path(args.json))
    for name in args.datasets:
        r = run_dataset(name, args, clock)
        r["seconds"] = round(clock(), 1)
        print(f"  {name}: paper-style {r['best']['mean']:.1f} ± {r['best']['std']:.1f} "
              f"({r['best']['config']}), nested {r['nested']['mean']:.1f}, paper {PAPER[name][0]}",
              flush=True)
        results.setdefault(name, {})[args.tag] = r
        save_json(Path(args.json), results)
    if not args.no_docs:
        command = "python examples/reproduce_gntk.py " + " ".join(argv if argv is not None else sys.argv[1:])
        plot(results, DOCS / "results_gntk.png")
        write_section("gntk", render(results, command.strip()))
    print(f"total {clock():.0f}s")


if __name__ == "__main__":
    main()
