"""Reproduce the GNTK graph-classification results (Du et al. 2019, Table 1) on
all seven TU sets over the paper's whole grid, with the compiled kernels of
examples/gntk_jk1_<NAME>.ntk (jumping knowledge, jk=1, the paper's setting).

    python examples/reproduce_gntk.py                       # all seven sets, the paper's grid
    python examples/reproduce_gntk.py --sets MUTAG PTC      # some sets
    python examples/reproduce_gntk.py --budget 60           # start no Gram after 60 min
    python examples/reproduce_gntk.py --quick               # one small config per set, a smoke run
    python examples/reproduce_gntk.py --sets                # only re-render docs from the JSON

Grid (the paper's): num_layers ∈ {2, 4} (1 or 3 blocks after the input layer)
for MUTAG, PROTEINS, IMDB-B/M, COLLAB and {10, 12, 14} (9, 11, 13 blocks) for
NCI1 and PTC; 1–3 MLP layers per block; sum or mean neighbourhood scaling
("uniform"/"degree"); jk=1. The nets that differ only in depth form one
family (``ntkc.load_family``) computed in one pass: the deeper net's first
blocks are the shallower one's, so a family costs its deepest member.

Protocol (the authors' search.py): per configuration one Gram over all graphs;
copies divided by its minimum and cosine-normalised; SVC(kernel="precomputed")
for each C in logspace(-2, 4, 120) on the 10 fixed folds of 10fold_idx/.
Reported twice: *paper-style*, the best mean test accuracy over C,
normalisation and configuration (chosen on the test folds, as the paper
does), and *nested*, where each outer fold's (configuration, normalisation, C)
is chosen by stratified inner CV on its training graphs only (honest).

Resumable: every finished Gram is written atomically to the cache folder as
``<set>_<net>_<dtype>_<key>.npz``, the key hashing the net's meaning (its
checked layers, not its text), the loaded graphs and the options; a rerun
loads what is done and computes only the rest. A set whose grid is not
complete (``--budget`` ran out) is evaluated on the Grams it has and marked
partial. Numbers go to docs/results_gntk_grid.json and docs/results.md.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import DEFAULT_DATA, DOCS, ROOT, Clock, load_json, machine, save_json, setup_jax, write_section  # noqa: E402

PAPER = {"MUTAG": (90.0, 8.5), "PTC": (67.9, 6.9), "PROTEINS": (75.6, 4.2), "NCI1": (84.2, 1.5),
         "IMDBBINARY": (76.9, 3.6), "IMDBMULTI": (52.8, 4.6), "COLLAB": (83.6, 1.0)}
ORDER = ["MUTAG", "PTC", "IMDBBINARY", "IMDBMULTI", "PROTEINS", "NCI1", "COLLAB"]
DEEP = ("NCI1", "PTC")


def paper_grid(name: str) -> list:
    """The paper's configurations as net names b<blocks>_m<mlp>_<sum|mean>."""
    blocks = (9, 11, 13) if name in DEEP else (1, 3)
    return [f"b{b}_m{m}_{s}" for b in blocks for m in (1, 2, 3) for s in ("sum", "mean")]


def quick_grid(name: str) -> list:
    return [f"b{9 if name in DEEP else 1}_m1_sum"]


def families(nets: list) -> list:
    """Nets that differ only in depth, grouped (shallowest first)."""
    groups = {}
    for net in nets:
        depth, rest = net.split("_", 1)
        groups.setdefault(rest, []).append((int(depth[1:]), net))
    return [[n for _, n in sorted(g)] for g in groups.values()]


# -- the Gram cache ---------------------------------------------------------------------

def data_key(ds, loops: str) -> str:
    h = hashlib.sha256(f"{ds.name}|{loops}".encode())
    for f, a in ds.graphs:
        h.update(np.ascontiguousarray(f, np.float64).tobytes())
        h.update(np.ascontiguousarray(a, np.float64).tobytes())
    return h.hexdigest()


def gram_file(cache: Path, name: str, net, dkey: str, dtype: str) -> Path:
    key = hashlib.sha256(f"{net.lowered()!r}|{dkey}|{dtype}|ntk".encode()).hexdigest()[:16]
    return cache / f"{name}_{net.name}_{dtype}_{key}.npz"


def save_gram(path: Path, K, seconds: float, family: list, cost: dict | None = None):
    """Write to a temporary file in the same folder, then rename: a run killed
    mid-write leaves no file that a rerun would take for a finished Gram.
    ``cost``: the pass's ``cpu_seconds`` and ``peak_rss_gib`` (:func:`costs`),
    kept with the Gram so that a rerun reports them."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, K=K, seconds=seconds, family=np.array(family), when=time.time(),
                 **{k: v for k, v in (cost or {}).items()})
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def banded_gram(kernel, ds, band: int, stems: dict, dtype, clock) -> tuple:
    """The Grams of ``kernel`` (one net's, or a family's from one pass), one
    band of ``band`` graphs at a time: rows [s, e) against the graphs [s, N),
    the upper triangle's share (the band's own square as a symmetric Gram,
    the rest as a cross Gram). Each net's band is saved as
    ``<stem>.rows<s>-<e>.npz`` as it finishes (``stems``: net name -> stem),
    so a run killed inside a Gram of hours resumes at the band it was in; the
    band files are removed once the whole Gram is saved. Returns ({net: K},
    seconds, band files, cost); the seconds are the bands' own, summed over
    runs (compile included in each), and ``cost`` their CPU seconds (summed,
    when every band recorded them) and peak memory (the largest)."""
    graphs = [(f.astype(dtype), a.astype(dtype)) for f, a in ds.graphs]
    names = list(stems)
    n = len(graphs)
    K = {name: np.full((n, n), np.nan) for name in names}
    total, parts, spent, known = 0.0, [], {}, True

    def by_net(got):
        return got if isinstance(got, dict) else {names[0]: got}

    for s in range(0, n, band):
        e = min(s + band, n)
        files = {name: stem.with_name(f"{stem.name}.rows{s}-{e}.npz") for name, stem in stems.items()}
        parts += files.values()
        if all(f.exists() for f in files.values()):
            loaded = {name: load_gram(f) for name, f in files.items()}
            blks = {name: got[0] for name, got in loaded.items()}
            sec = loaded[names[0]][1]
            cost = gram_cost(files[names[0]])
        else:
            t0, c0 = time.time(), time.process_time()
            # the band's own square with x2 omitted: a graph paired with itself
            # then has cos θ = 1 exactly (as a cross call would not, to √ulp)
            own = by_net(kernel(graphs[s:e], get="ntk"))
            rest = by_net(kernel(graphs[s:e], graphs[e:], get="ntk")) if e < n else None
            blks = {name: np.concatenate([np.asarray(own[name]),
                                          np.asarray(rest[name]) if rest else np.zeros((e - s, 0))],
                                         axis=1) for name in names}
            sec, cost = time.time() - t0, costs(c0)
            for name, blk in blks.items():
                if not np.all(np.isfinite(blk)):
                    raise SystemExit(f"{name}: rows {s}-{e} of the Gram are not finite")
                save_gram(files[name], blk, sec, names, cost)
            print(f"[{clock():7.1f}s]     {' + '.join(names)} rows {s}-{e} of {n}: {sec:.1f}s",
                  flush=True)
        total += sec
        for k, v in cost.items():   # CPU seconds add up over bands, the peak is the largest
            spent[k] = (spent.get(k, 0.0) + v) if k == "cpu_seconds" else max(spent.get(k, 0.0), v)
        known &= "cpu_seconds" in cost
        for name, blk in blks.items():
            K[name][s:e, s:] = blk
            K[name][s:, s:e] = blk.T
    if not known:   # a band cached before costs were recorded: the sum would be short
        spent.pop("cpu_seconds", None)
    return K, total, parts, spent


def adopt_older(path: Path, kernel, ds, dtype) -> bool:
    """Adopt a Gram cached under an older key of the same set, net and dtype:
    the key hashes the net's checked form, which changes when the language
    grows an argument with a default, though the kernel does not. Adopted
    (renamed to ``path``) only if a spot check agrees: the kernel computed now
    on 24 graphs spread over the set equals the cached entries to 1e-8 of the
    largest (the joint and padded paths' documented agreement in float64; a
    Gram of the padded path of an earlier session was 5e-10 from today's).
    A changed net, data set or convention fails the check, and the Gram is
    recomputed."""
    n = len(ds.graphs)
    prefix = path.name.rsplit("_", 1)[0] + "_"
    for old in sorted(path.parent.glob(prefix + "*.npz")):
        if old == path or old.name[len(prefix):].count("_") or ".rows" in old.name:
            continue
        K, _, _ = load_gram(old)
        if K.shape != (n, n):
            continue
        idx = np.unique(np.linspace(0, n - 1, 24).astype(int))
        sample = [(ds.graphs[i][0].astype(dtype), ds.graphs[i][1].astype(dtype)) for i in idx]
        now = np.asarray(kernel(sample, get="ntk"))
        if np.abs(now - K[np.ix_(idx, idx)]).max() <= 1e-8 * np.abs(K).max():
            os.replace(old, path)
            print(f"  {old.name}: cached under an older key, spot check agrees -> {path.name}",
                  flush=True)
            return True
    return False


def load_gram(path: Path):
    with np.load(path) as z:
        return z["K"], float(z["seconds"]), [str(s) for s in z["family"]]


def gram_cost(path: Path) -> dict:
    """The CPU seconds and peak memory recorded with a cached Gram (none for
    Grams cached before they were recorded)."""
    with np.load(path) as z:
        return {k: float(z[k]) for k in ("cpu_seconds", "peak_rss_gib") if k in z.files}


def costs(cpu0: float) -> dict:
    """Process CPU seconds (all threads) since ``cpu0`` and the process's peak
    resident memory so far, GiB."""
    import resource
    return {"cpu_seconds": round(time.process_time() - cpu0, 1),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


# -- one data set ------------------------------------------------------------------------

def with_loops(ds, loops: str):
    """``loops="authors"``: a listed self loop becomes 2 on the input diagonal,
    so GraphAgg's Â = A + I has 3 there, as the authors' E + Eᵀ + I (needs a
    kernel that takes weighted adjacency)."""
    if loops == "file":
        return ds
    from ntkc.data import GraphDataset
    graphs = [(f, a + np.diag(np.diag(a))) for f, a in ds.graphs]
    return GraphDataset(ds.name, graphs, ds.labels, ds.folds)


def compute_grams(name, ds, path, nets, args, clock, deadline):
    """Load or compute each net's Gram; returns ({net: K}, {net: info})."""
    import ntkc
    from ntkc.regression import graph_gram

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    loops = args.collab_loops if name == "COLLAB" else "file"
    dkey = data_key(ds, loops)
    kernels = {n: ntkc.load(path, net=n) for n in nets}
    checked = {n: k.net for n, k in kernels.items()}
    files = {n: gram_file(cache, name, checked[n], dkey, args.dtype) for n in nets}
    grams, info = {}, {}
    groups = families(nets) if args.family else [[n] for n in nets]
    for group in groups:
        todo = [n for n in group if not files[n].exists()
                and not adopt_older(files[n], kernels[n], ds, np.dtype(args.dtype))]
        for n in group:
            if n not in todo:
                K, sec, fam = load_gram(files[n])
                grams[n] = K
                info[n] = {"seconds": round(sec, 1), "family": fam, "cached": True,
                           **gram_cost(files[n])}
        if not todo:
            continue
        if deadline is not None and clock() > deadline:
            print(f"[{clock():7.1f}s]   budget spent: {', '.join(todo)} not computed", flush=True)
            for n in todo:
                info[n] = {"cut": True}
            continue
        t0, c0 = time.time(), time.process_time()
        kernel = ntkc.load_family(path, todo) if len(todo) > 1 else kernels[todo[0]]
        if len(ds.graphs) > args.band:
            # a band of rows at a time, each band one pass of the family
            Ks, sec, parts, cost = banded_gram(kernel, ds, args.band,
                                               {n: files[n].with_suffix("") for n in todo},
                                               np.dtype(args.dtype), clock)
            for n in todo:
                save_gram(files[n], Ks[n], sec, todo, cost)
                grams[n] = Ks[n]
                info[n] = {"seconds": round(sec, 1), "family": todo, "cached": False,
                           "bands": len(parts) // len(todo), **cost}
            for f in parts:
                f.unlink()
            print(f"[{clock():7.1f}s]   {' + '.join(todo)}: {len(parts) // len(todo)} bands, "
                  f"{sec:.1f}s", flush=True)
            continue
        out = graph_gram(kernel, ds, dtype=np.dtype(args.dtype))
        out = out if isinstance(out, dict) else {todo[0]: out}
        sec, cost = time.time() - t0, costs(c0)
        for n in todo:
            save_gram(files[n], out[n], sec, todo, cost)
            grams[n] = out[n]
            info[n] = {"seconds": round(sec, 1), "family": todo, "cached": False, **cost}
        print(f"[{clock():7.1f}s]   {' + '.join(todo)}: one pass, {sec:.1f}s", flush=True)
    return grams, info


def evaluate(grams, ds, args, clock):
    from ntkc.regression import by_min, cosine, nested_accuracy, svc_accuracy

    folds = ds.folds[: args.folds]
    large = len(ds.graphs) > 200
    cs = np.logspace(-2, 4, 120)[:: 4 if large and not args.full_cs else 1]
    if args.quick:
        cs = np.logspace(-2, 4, 13)
    normed = {}
    for net, K in grams.items():
        if not large or args.min_norm:
            normed[f"{net}/min"] = by_min(K)
        normed[f"{net}/cos"] = cosine(K)
    tables = {}
    t0 = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for key, G in normed.items():
            acc = svc_accuracy(G, ds.labels, folds, cs)
            tables[key] = {"mean": acc.mean(1).tolist(), "std": acc.std(1).tolist()}
        t1 = time.time()
        print(f"[{clock():7.1f}s]   SVC tables done ({t1 - t0:.0f}s)", flush=True)
        nested, chosen = nested_accuracy(normed, ds.labels, folds, np.logspace(-2, 4, args.nested_cs),
                                         inner=args.inner)
    unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    best_key = max(tables, key=lambda k: max(tables[k]["mean"]))
    c = int(np.argmax(tables[best_key]["mean"]))
    print(f"[{clock():7.1f}s]   nested done ({time.time() - t1:.0f}s): {100 * nested.mean():.1f}",
          flush=True)
    return {
        "folds": len(folds), "Cs": cs.tolist(), "tables": tables,
        "best": {"config": best_key, "C": float(cs[c]), "mean": 100 * tables[best_key]["mean"][c],
                 "std": 100 * tables[best_key]["std"][c]},
        "nested": {"mean": 100 * float(nested.mean()), "std": 100 * float(nested.std()),
                   "per_fold": (100 * nested).tolist(), "chosen": [[k, float(v)] for k, v in chosen],
                   "inner_folds": args.inner, "Cs": args.nested_cs},
        "svc_seconds": round(t1 - t0, 1), "nested_seconds": round(time.time() - t1, 1),
        "unconverged_fits": unconverged,
    }


def run_dataset(name, args, clock, deadline):
    from ntkc.data import load_tu

    ds = load_tu(Path(args.data) / "graphs", name)
    if name == "COLLAB":
        ds = with_loops(ds, args.collab_loops)
    path = ROOT / args.ntk.format(name=name)
    grid = quick_grid(name) if args.quick else paper_grid(name)
    if args.nets:
        grid = [n for n in grid if any(fnmatch.fnmatch(n, w) for w in args.nets)]
    print(f"[{clock():7.1f}s] {name}: {len(ds.graphs)} graphs, {int(ds.sizes().sum())} nodes, "
          f"{len(grid)} configurations", flush=True)
    grams, info = compute_grams(name, ds, path, grid, args, clock, deadline)
    r = {"graphs": len(ds.graphs), "nodes": int(ds.sizes().sum()), "dtype": args.dtype,
         "ntk": str(path.relative_to(ROOT)), "grid": quick_grid(name) if args.quick else paper_grid(name),
         "asked": grid, "grams": info,
         "ran": [n for n in grid if n in grams], "family_pass": args.family,
         "majority": 100 * float(np.bincount(ds.labels).max() / len(ds.labels))}
    if name == "COLLAB":
        r["collab_loops"] = args.collab_loops
    if grams:
        r.update(evaluate(grams, ds, args, clock))
    return r


# -- the docs section ---------------------------------------------------------------------

def _grid_text(r) -> str:
    done, grid = len(r["ran"]), len(r["grid"])  # r["grid"]: the paper's, r["asked"]: this run's
    return "full" if done == grid else f"{done} of {grid}"


def render(results: dict, command: str) -> str:
    rows, times, status = [], [], []
    for name in ORDER:
        p, ps = PAPER[name]
        r = results.get(name)
        if r:
            r = dict(r, grid=paper_grid(name))
        if not r or not r.get("ran"):
            rows.append(f"| {name} | not run | – | – | – | {p} ± {ps} | – | – |")
            status.append(f"**{name}**: not run.")
            continue
        b, n = r["best"], r["nested"]
        rows.append(f"| {name} | {_grid_text(r)} | {r['graphs']} | {b['mean']:.1f} ± {b['std']:.1f} "
                    f"(`{b['config']}`, C={b['C']:.3g}) | {n['mean']:.1f} ± {n['std']:.1f} | "
                    f"{p} ± {ps} | {b['mean'] - p:+.1f} | {r['majority']:.1f} |")
        passes, seen = [], set()
        for net in r["grid"]:
            g = r["grams"].get(net, {})
            if "family" not in g or net in seen:
                continue
            seen.update(g["family"])
            accs = ", ".join(f"`{m}` {max(r['tables'][f'{m}/cos']['mean']) * 100:.1f}"
                             for m in g["family"])
            spent = "".join([f", {g['cpu_seconds']:.0f} CPU s" if "cpu_seconds" in g else "",
                             f", peak {g['peak_rss_gib']:.1f} GiB" if "peak_rss_gib" in g else ""])
            passes.append(f"{' + '.join(g['family'])}: {g['seconds']:.0f} s{spent} ({accs})")
        times.append(f"- **{name}** ({r['graphs']} graphs, {r['nodes']} nodes; best cosine accuracy "
                     "per net): " + "; ".join(passes) + f". SVC tables {r['svc_seconds']:.0f} s, "
                     f"nested {r['nested_seconds']:.0f} s; {r['unconverged_fits']} fits stopped at "
                     "libsvm's iteration cap.")
        cut = [net for net in r["grid"] if net not in r["ran"]]
        status.append(f"**{name}**: " + (f"the paper's {len(r['grid'])} configurations ran."
                                         if not cut else
                                         f"{len(r['ran'])} of {len(r['grid'])} configurations ran; "
                                         f"cut: {', '.join(f'`{c}`' for c in cut)}.")
                      + _search_text(r))
    final = {n: r for n, r in results.items() if r.get("ran")}
    gaps = {n: r["best"]["mean"] - PAPER[n][0] for n, r in final.items()}
    close = [n for n, g in gaps.items() if abs(g) <= 2]
    far = [f"{n} ({g:+.1f})" for n, g in gaps.items() if abs(g) > 2]
    nested_gaps = ", ".join(f"{n} {r['best']['mean'] - r['nested']['mean']:.1f}" for n, r in final.items())
    return f"""## GNTK on the TU graph benchmarks (Du et al. 2019)

Command: `python examples/reproduce_gntk.py` (resumable; here it ran as {command};
{machine()}), with the nets of `examples/gntk_jk1_<NAME>.ntk`
(jumping knowledge, jk=1, as the paper; net `b<blocks>_m<mlp layers>_<sum|mean>`,
blocks = the paper's num_layers − 1, sum/mean = its uniform/degree scaling).
The paper's grid is num_layers ∈ {{2, 4}} (MUTAG, PROTEINS, IMDB-B/M, COLLAB) or
{{10, 12, 14}} (NCI1, PTC), 1–3 MLP layers, both scalings: 12 or 18 configurations.
Nets differing only in depth are one family (`ntkc.load_family`), computed in one
pass. Grams are float64 and cached on disk one by one (the run is resumable).

Protocol of the authors' `search.py`: copies of each Gram divided by its minimum and
cosine-normalised, `SVC(kernel="precomputed")` for each C in `logspace(-2, 4, 120)`
(every 4th value, 30 in all, for sets of more than 200 graphs, where only the cosine
copy is used, to keep the SVC fits inside the hour: on MUTAG alone the 24 × 120 × 10
fits took {_svc_minutes(results)}; `--full-cs --min-norm` restore the authors' search) on
the 10 fixed folds of `10fold_idx/`. **Paper-style** is the best mean test
accuracy over C, normalisation and configuration — chosen on the test folds, as the
paper reports it (optimistic). **Nested** chooses (configuration, normalisation,
C ∈ logspace(−2, 4, 13)) per outer fold by stratified 3-fold CV on that fold's
training graphs only, then scores the fold once (honest).

| data set | grid run | graphs | paper-style (best config) | nested | paper | gap | majority class |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Within 2 points of the paper (paper-style): {', '.join(close) or 'none'}; outside:
{', '.join(far) or 'none'}{_lower_bound(results)}. Nested CV is below paper-style by {nested_gaps or '–'} points.

**Which part of the grid ran.** {' '.join(status)}

**Gram time per pass** (wall clock, compile included, on the 2-core machine shared with
other jobs); a family's nets come out of one pass, so its time is that of the pass, not
per net:

{chr(10).join(times)}

**Why the rest was cut.** {_cut_reason(results)}

**One pass per family.** {_family_text()}

**Resumable cache.** Each finished Gram is one `.npz` in `--cache` (default
`~/.cache/ntkc/gntk_grams`), written to a temporary file, fsync'ed and renamed, named
by a hash of the net's meaning (`CheckedNet.lowered()`: editing a comment or a net's
name elsewhere in the file does not invalidate it), the loaded graphs and the
dtype; it also records the pass's time and its family, so a rerun reports the time
of the run that made it. A killed run loses at most the pass in flight; a rerun
skips every finished Gram and, if a family was cut, computes only its missing nets
(as a smaller family). Why not the project's zarr Gram store (`kernel.gram`): it
resumes *inside* one Gram, chunk by chunk, for Grams too long for one sitting, but
it takes one kernel and one input array, while a graph Gram here is assembled from
size-class blocks (`regression.graph_gram`) and comes out of a family pass as
several Grams at once; every Gram of this grid takes minutes, so a whole-Gram file
is the right unit, and it needs no optional dependency.

**COLLAB's self loops.** {_loops_text()}
"""


def _search_text(r) -> str:
    """The SVC search a set ran, where it is not the default for its size."""
    norms = sorted({k.rsplit("/", 1)[1] for k in r["tables"]})
    large = r["graphs"] > 200
    if len(r["Cs"]) == 120 and large or "min" in norms and large:
        return (f" (searched: {len(r['Cs'])} values of C, "
                f"{' and '.join({'cos': 'cosine', 'min': 'divided by its minimum'}[n] for n in norms)})")
    return ""


def _lower_bound(results: dict) -> str:
    cut = any(len(r.get("ran", [])) < len(paper_grid(n)) for n, r in results.items())
    return (" — on a cut grid: a smaller grid selected on the test folds can only land at or "
            "below the full grid's best, so those paper-style numbers are lower bounds on what "
            "the paper's protocol would give here") if cut else ""


def _svc_minutes(results: dict) -> str:
    r = results.get("MUTAG", {})
    return f"{r['svc_seconds'] / 60:.0f} minutes here" if "svc_seconds" in r else "minutes"


def _cut_reason(results: dict) -> str:
    """Measured rate of the family passes → rough hours for what did not run."""
    rates, own = [], {}
    for name, r in results.items():
        for g in r.get("grams", {}).values():
            if "family" in g and g["family"][-1].split("_")[1] == "m1":
                blocks = int(g["family"][-1].split("_")[0][1:])
                rates.append((r["nodes"], g["seconds"] / (r["nodes"] ** 2 * blocks)))
                own[name] = max(own.get(name, 0), rates[-1][1])
    if not rates:
        return "nothing measured yet."
    nodes, rate = max(rates)   # the largest set's rate: padding overheads are most like the rest
    mlp = 1 + 1.75 + 2.2       # m1 + m2 + m3 passes, relative to m1 (MUTAG's measured times)
    left = []
    for name in ORDER:
        r = results.get(name, {})
        n = r.get("nodes") or NODES[name]
        blocks = 13 if name in DEEP else 3
        total = 2 * mlp * own.get(name, rate) * n ** 2 * blocks / 3600
        done = len(r.get("ran", [])) / len(paper_grid(name))
        if done < 1:
            left.append(f"{name} ≈ {total * (1 - done):.1f} h")
    return ("The machine has 2 CPU cores, shared during these runs with other jobs (helpers, "
            "test runs), so the wall times above are loaded. Grams run on the joint node-pair "
            "layout (a Gram cached by an earlier session on the padded path is adopted after a "
            "24-graph spot check agrees to 1e-8); sets run in the order asked, families of one "
            "MLP depth together, and `--budget` stops starting Grams, which leaves the rest "
            "listed above as cut. At the rate each set's one-MLP-layer passes measured (for "
            f"sets not run, the largest set's: {rate * 1e9:.0f} s per 10⁹ node pairs × blocks, "
            f"on {nodes} nodes; the 2- and 3-MLP-layer passes taken as 1.75× and 2.2× as long, "
            f"as on MUTAG; the load makes it rough) the rest of the grid would take here: "
            f"{', '.join(left) or 'nothing'}. The passes' CPU seconds and peak resident memory "
            "are listed above where the run that made them recorded them (the first Grams of "
            "NCI1's deepest net and COLLAB's one-block net were measured whole-run by "
            "`/usr/bin/time -v` instead: docs/performance.md). "
            "Sets of more than `--band` graphs are computed in bands of rows cached as they "
            "finish, so a Gram of hours resumes where it stopped: rerunning the command "
            "resumes from the cache.")


NODES = {"MUTAG": 3371, "PTC": 8792, "PROTEINS": 43471, "NCI1": 122747, "IMDBBINARY": 19773,
         "IMDBMULTI": 19502, "COLLAB": 372474}


def _family_text() -> str:
    import json
    path = ROOT / "benchmarks" / "results" / "family.json"
    if not path.exists():
        return "(benchmarks/family_bench.py not run)"
    b = json.loads(path.read_text())
    diff = b["max_relative_difference"]
    same = "bit for bit" if diff == 0 else f"to {diff:.0e} (relative)"
    return (f"`benchmarks/family_bench.py` computed {' + '.join(b['nets'])} on the "
            f"{b['graphs']} smallest {b['set']} graphs ({b['nodes']} nodes) as one family, one "
            f"net at a time, and the deepest alone, in the same run: the family took "
            f"{1 / b['cpu_separate_over_family']:.2f}× the CPU time of the three separately and "
            f"{b['cpu_family_over_deepest']:.2f}× that of its deepest member, with Grams equal to "
            f"the members' own {same}. (CPU time: the machine was shared with other jobs, so "
            f"its wall times — fastest {b['fastest']['family']['wall']:.0f} s, "
            f"{b['fastest']['separate']['wall']:.0f} s, {b['fastest']['deepest']['wall']:.0f} s — "
            f"partly measure waiting.)")


def _loops_text() -> str:
    import json
    path = DOCS / "results_collab_loops.json"
    if not path.exists():
        return "(examples/collab_loops.py not run)"
    c = json.loads(path.read_text())
    s, m = c["nets"]["b1_m1_sum"], c["nets"]["b1_m1_mean"]
    return ("The file lists 2,837 self loops; ntkc keeps each as one entry of A, so "
            "GraphAgg's Â = A + I has 2 there, while the authors' `gram.py` builds "
            "A = E + Eᵀ + I and has 3. `--collab-loops authors` passes the loops as 2 on the "
            "input diagonal, which reproduces the authors' Â (weighted adjacency, which "
            "`kernel()` accepts). `examples/collab_loops.py` measured what the convention changes on "
            f"{c['graphs']} COLLAB graphs ({c['with_loops']} smallest with a loop, as many "
            f"without; {c['loop_nodes']} loop nodes), by a numpy recursion that matches ntkc's "
            f"Gram to {max(s['numpy_vs_ntkc'], m['numpy_vs_ntkc']):.0e}: for the one-block, "
            f"one-MLP-layer net the Gram moves by {100 * s['relative_frobenius']:.2f}% (sum "
            f"scaling) and {100 * m['relative_frobenius']:.2f}% (mean) in Frobenius norm; the "
            f"cosine-normalised entries between two graphs with loops move by "
            f"{s['cosine_mean_change_loop_pairs']:.4f} / {m['cosine_mean_change_loop_pairs']:.4f} "
            f"on average (at most {s['cosine_max_change']:.3f} / {m['cosine_max_change']:.3f}), "
            "and not at all between loopless graphs. Whether that moves COLLAB's accuracy "
            "was not measured: the full Gram (about an hour) ran with the file's convention "
            "only.")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="folder holding graphs/")
    ap.add_argument("--sets", "--datasets", dest="sets", nargs="*", default=ORDER,
                    help="data sets in run order (none: only re-render docs from the JSON)")
    ap.add_argument("--nets", nargs="+", help="only the grid's nets matching these patterns")
    ap.add_argument("--quick", action="store_true",
                    help="one small configuration per set and 13 C values: a smoke run "
                         "(results go to the JSON under 'quick', docs untouched)")
    ap.add_argument("--budget", type=float, help="minutes after which no new Gram is started")
    ap.add_argument("--no-family", dest="family", action="store_false",
                    help="compute each net alone (to measure what the family pass saves)")
    ap.add_argument("--collab-loops", choices=("file", "authors"), default="file",
                    help="COLLAB's listed self loops: 'file' keeps each as one entry of A "
                         "(Â = A + I has 2 there); 'authors' gives Â 3 there as the GNTK code's "
                         "E + Eᵀ + I (needs weighted adjacency in kernel())")
    ap.add_argument("--band", type=int, default=1200,
                    help="sets with more graphs are computed and cached a band of this many "
                         "rows at a time (resumable inside a Gram)")
    ap.add_argument("--ntk", default="examples/gntk_jk1_{name}.ntk", help="file per data set")
    ap.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    ap.add_argument("--folds", type=int, default=10, help="use the first K folds")
    ap.add_argument("--full-cs", action="store_true", help="all 120 C values for large sets too")
    ap.add_argument("--min-norm", action="store_true",
                    help="also the divided-by-min Gram for sets of more than 200 graphs")
    ap.add_argument("--nested-cs", type=int, default=13)
    ap.add_argument("--inner", type=int, default=3)
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "ntkc" / "gntk_grams"),
                    help="Gram cache folder (one atomic .npz per finished Gram)")
    ap.add_argument("--json", default=str(DOCS / "results_gntk_grid.json"),
                    help="results file (written after each data set)")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/results.md")
    args = ap.parse_args(argv)
    setup_jax()
    clock = Clock()
    deadline = None if args.budget is None else 60 * args.budget
    results = load_json(Path(args.json))
    key = "quick" if args.quick else "grid"
    for name in args.sets:
        if name not in PAPER:
            raise SystemExit(f"unknown data set {name!r}; choose from {', '.join(ORDER)}")
        r = run_dataset(name, args, clock, deadline)
        r["seconds"] = round(clock(), 1)
        if "best" in r:
            print(f"  {name}: paper-style {r['best']['mean']:.1f} ± {r['best']['std']:.1f} "
                  f"({r['best']['config']}), nested {r['nested']['mean']:.1f}, paper {PAPER[name][0]}"
                  f" [{_grid_text(r)} grid]", flush=True)
        # read again before writing: another run (a set computed beside this
        # one, hours long) may have saved its own set meanwhile
        results = load_json(Path(args.json))
        results.setdefault(key, {})[name] = r
        save_json(Path(args.json), results)
    if not args.no_docs and not args.quick:
        command = "python examples/reproduce_gntk.py " + " ".join(argv if argv is not None else sys.argv[1:])
        if not args.sets:   # a re-render: the runs were the sets' own commands
            command = "one command per set or group of sets, over several sessions, each resuming from the cache"
        else:
            command = f"`{command.strip()}`"
        write_section("gntk", render(results.get("grid", {}), command))
    print(f"total {clock():.0f}s")


if __name__ == "__main__":
    main()
