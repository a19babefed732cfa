"""benchmarks/results/*.json → the tables and log-log plots of
docs/performance.md (the prose around them lives in ``NOTES`` below and in
the JSON's own numbers; nothing here is typed in by hand)."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DOC = ROOT / "docs" / "performance.md"
IMG = ROOT / "docs" / "img"

TARGETS = {"W1": 2.0, "W2": 5.0, "W3": 2.0, "W4": 2.0}
DESCRIBE = {
    "W1": "FC depth 10 Relu, W_std 1.5, b_std 0.1, 2000×100",
    "W2": "CNN 3×(Conv 3×3 same + Relu) + GlobalAvgPool + Dense, 100 × 8×8×1",
    "W3": "the same CNN + Flatten + Dense",
    "W4": "2×(GraphAgg + Dense + Relu) + GlobalSumPool, 200 graphs × 20 nodes × 8",
}


def load(name):
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def fmt(x, digits=3):
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def mib(x):
    return "—" if x is None else f"{x / 2**20:.0f}"


def main_table(main):
    lines = ["| workload | dtype | ntkc s (min / med) | peer s (min / med) | time ratio peer/ntkc "
             "min / med / max | target | peak RSS MiB ntkc / peer | RSS ratio peer/ntkc min / med / max | "
             "max rel. diff | ntkc commit |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in main["rows"]:
        n, p, t, m = r["ntkc"], r["peer"], r["time_ratio"], r["rss_ratio"]
        tr = "—" if t is None else f"{fmt(t['min'])} / **{fmt(t['median'])}** / {fmt(t['max'])}"
        mr = "—" if m is None else f"{fmt(m['min'])} / {fmt(m['median'])} / {fmt(m['max'])}"
        nt = "—" if n["time"] is None else f"{fmt(n['time']['min'])} / {fmt(n['time']['median'])}"
        pt = ("failed: " + ", ".join(p["status"])) if p["time"] is None else \
            f"{fmt(p['time']['min'])} / {fmt(p['time']['median'])}"
        ok = t is not None and t["median"] >= TARGETS[r["workload"]]
        target = f"≥{TARGETS[r['workload']]:g}× {'met' if ok else 'NOT met'}"
        rss = f"{mib(n['rss'] and n['rss']['median'])} / {mib(p['rss'] and p['rss']['median'])}"
        agree = "—" if r["agreement"] is None else f"{r['agreement']:.1e}"
        lines.append(f"| {r['workload']} | {r['dtype']} | {nt} | {pt} | {tr} | {target} | {rss} | "
                     f"{mr} | {agree} | {r.get('commit', '?')} |")
    return "\n".join(lines)


def floor_table(main):
    floor = main.get("floor") or {}
    lines = ["| dtype | floor s (med) | ntkc W1 s (med) | W1 / floor min / med / max |",
             "|---|---|---|---|"]
    for dtype, f in floor.items():
        r = f["ratio"]
        lines.append(f"| {dtype} | {fmt(f['floor']['time'] and f['floor']['time']['median'])} | "
                     f"{fmt(f['ntkc']['time'] and f['ntkc']['time']['median'])} | "
                     + ("—" if r is None else
                        f"{fmt(r['min'])} / **{fmt(r['median'])}** / {fmt(r['max'])}") + " |")
    return "\n".join(lines)


def scaling_table(scaling):
    lines = ["| curve | N | ntkc s | ntkc MiB | peer s | peer MiB | peer/ntkc time | max rel. diff |",
             "|---|---|---|---|---|---|---|---|"]
    for p in sorted(scaling["points"], key=_curve_order):
        n, q = p.get("ntkc", {}), p.get("peer", {})

        def cell(r, key):
            if r.get("status") != "ok":
                return r.get("status", "—") if key == "t" else "—"
            return fmt(sorted(r["times"])[len(r["times"]) // 2]) if key == "t" else mib(r["rss_peak"])
        ratio = "—"
        if n.get("status") == "ok" and q.get("status") == "ok":
            ratio = fmt(_med(q["times"]) / _med(n["times"]))
        agree = "—" if p.get("agreement") is None else f"{p['agreement']:.1e}"
        first = " (first call)" if p.get("timed_calls") == 0 else ""
        lines.append(f"| {p['label']} | {p['n']}{first} | {cell(n, 't')} | {cell(n, 'm')} | "
                     f"{cell(q, 't')} | {cell(q, 'm')} | {ratio} | {agree} |")
    return "\n".join(lines)


def _curve_order(p):
    """FC, CNN-GAP, graphs; then depth or image side; then N (the JSON keeps
    the order the points were last run in)."""
    family, *rest = p["curve"].split("-")
    size = int(rest[-1][1:] if rest[-1].startswith("d") else rest[-1]) if rest else 0
    return ({"fc": 0, "cnn": 1}.get(family, 2), size, p["n"])


def _med(v):
    v = sorted(v)
    return v[len(v) // 2]


def plots(scaling):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    IMG.mkdir(parents=True, exist_ok=True)
    families = [("fc", "FC, N×100 inputs, float32", "N examples"),
                ("cnn", "CNN-GAP, float32", "N images"),
                ("graphs", "graphs of 10–50 nodes, float32", "N graphs")]
    made = []
    for prefix, title, xlabel in families:
        pts = [p for p in scaling["points"] if p["curve"].startswith(prefix)]
        if not pts:
            continue
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        curves = sorted({p["curve"] for p in pts}, key=lambda c: [p["curve"] for p in pts].index(c))
        for i, curve in enumerate(curves):
            cp = [p for p in pts if p["curve"] == curve]
            label = cp[0]["label"]
            for impl, style in (("ntkc", "-o"), ("peer", "--s")):
                ok = [p for p in cp if p.get(impl, {}).get("status") == "ok"]
                bad = [p for p in cp if p.get(impl, {}).get("status", "ok") != "ok"
                       and not p[impl]["status"].startswith("skipped")]
                colour = f"C{i}"
                if ok:
                    xs = [p["n"] for p in ok]
                    axes[0].plot(xs, [_med(p[impl]["times"]) for p in ok], style, color=colour,
                                 label=f"{impl} {label}")
                    axes[1].plot(xs, [p[impl]["rss_peak"] / 2**20 for p in ok], style,
                                 color=colour, label=f"{impl} {label}")
                for p in bad:  # a failure: ✕ (peer) or + (ntkc) at the time limit
                    axes[0].plot([p["n"]], [p.get("point_timeout", _fail_height(scaling))],
                                 "x" if impl == "peer" else "+", color=colour, ms=10, mew=2)
        for ax, ylabel in zip(axes, ("seconds (after warm-up)", "peak RSS, MiB")):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.suptitle(f"{title}: ntkc (solid) vs neural-tangents 0.6.5 (dashed); "
                     f"✕ peer / + ntkc failed (drawn at the time limit)")
        fig.tight_layout()
        name = f"perf-{prefix}.png"
        fig.savefig(IMG / name, dpi=110)
        plt.close(fig)
        made.append((name, title))
    return made


def _fail_height(scaling):
    return scaling.get("point_timeout", 90)


def write():
    main, scaling, budget = load("main"), load("scaling"), load("budget")
    parts = [HEADER]
    m = (main or scaling or budget or {}).get("machine", {})
    if m:
        parts.append("## Machine and versions\n\n" + "\n".join(
            f"- **{k}**: {v}" for k, v in m.items()) + "\n")
    if main:
        parts.append(f"## W1–W4, side by side (run {main['date']})\n\n" + WORKLOADS + "\n\n"
                     + main_table(main) + "\n\n" + MAIN_NOTES)
        parts.append("### The FC floor\n\n" + FLOOR_NOTES + "\n\n" + floor_table(main) + "\n")
    if scaling:
        made = plots(scaling)
        limits = {}
        for p in scaling["points"]:
            limits.setdefault(p.get("point_timeout", scaling["point_timeout"]), []).append(
                p["curve"].split("-")[0])
        t = "; ".join(f"{v:.0f} s ({', '.join(sorted(set(c)))})" for v, c in sorted(limits.items()))
        parts.append(f"## Scaling curves (run {scaling['date']})\n\n" + SCALING_NOTES.format(
            t=t, cap=scaling["mem_cap"] / 2**30) + "\n\n"
            + "\n\n".join(f"![{t}](img/{n})" for n, t in made) + "\n\n" + scaling_table(scaling)
            + "\n")
    if budget:
        parts.append("## Memory budget\n\n" + budget_text(budget))
    cnn = load("budget_cnn")
    if cnn:
        parts.append(budget_cnn_text(cnn))
    parts.append(FAST_PATHS)
    parts.append(MULTI_DEVICE)
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text("\n".join(parts))
    print(f"wrote {DOC.relative_to(ROOT)}")


def budget_text(budget):
    r = budget["runs"][0]
    if r["status"] != "ok":
        return f"FC Gram {budget['n']}² with memory_limit=\"8GB\": {r['status']}.\n"
    s = r.get("slices") or {}
    return (f"`kernel(x, memory_limit=\"8GB\")` on an FC Gram of {budget['n']}×{budget['n']} "
            f"(W1's network, float32): {fmt(r['warmup'])} s including compilation, peak RSS "
            f"{r['rss_peak'] / 2**30:.2f} GiB (the result alone is "
            f"{budget['n'] ** 2 * 4 / 2**30:.2f} GiB). Against unblocked calls on slices: "
            f"top-left 2000² Gram max rel. diff {s.get('gram_top_left', float('nan')):.1e}, "
            f"a 1000×1000 cross block {s.get('cross_block', float('nan')):.1e}.\n\n"
            + BUDGET_NOTES)


def budget_cnn_text(r):
    what = "the full Gram" if r["full"] else (f"a strip of the first {r['shape'][0]} rows against "
                                               f"all {r['n']} images (the same blocks the full "
                                               "Gram is made of)")
    rest = ("" if r["full"] else
            f" At the strip's rate the full symmetric Gram takes about "
            f"{r['full_gram_seconds_estimate'] / 60:.0f} minutes on this CPU; it was not run to "
            "the end here (`--full` does).")
    return (f"CNN-GAP under a budget (`python benchmarks/budget_cnn.py`, W2's network on "
            f"{r['n']} seeded images of {r['side']}×{r['side']}, float32, memory_limit="
            f"\"{r['memory_limit']}\"): every image pair carries all ({r['side']}·{r['side']})² "
            f"pixel pairs through three layers, {r['bytes_per_pair'] / 2**20:.2f} MiB of working "
            f"set per pair, so the unblocked {r['n']}² state would be "
            f"~{r['bytes_per_pair'] * r['n'] ** 2 / 1e12:.0f} TB. The planner cuts it into blocks "
            f"of {r['blocks'][0]}×{r['blocks'][1]} pairs; {what} took {r['seconds']:.0f} s "
            f"including compilation at peak RSS **{r['rss_peak_gib']:.2f} GiB**, "
            f"{'every entry finite' if r['finite'] else 'NON-FINITE ENTRIES'}, its corner equal to an unblocked call to "
            f"{r['corner_vs_unblocked_max_rel']:.0e}. The peak does not grow with N beyond the "
            f"result matrix, so the full Gram fits this 24 GiB machine.{rest}\n")


MULTI_DEVICE = """## Multi-device and GPU

Blocks are spread over `jax.local_devices()` (or the `devices=` given), each block's
inputs placed on its device and the results assembled on the host.
`tests/test_blocking.py` runs a CNN on two forced CPU devices
(`XLA_FLAGS=--xla_force_host_platform_device_count=2`) and checks the spread Gram,
symmetric and not, against one device to 1e-12, that both devices received blocks,
and that a one-block Gram runs on the device asked for. No GPU was lent to the
sessions that built this, so there are no GPU timings here yet: `python
benchmarks/compare.py` on a GPU machine records its devices in
`benchmarks/results/*.json` next to the numbers.
"""


HEADER = """# Performance

Made by `python benchmarks/compare.py` (numbers: `benchmarks/results/*.json`;
this page and its plots: `benchmarks/report.py`, rerun with `--report`). The
peer is neural-tangents 0.6.5 (`stax`, `kernel_fn` under `jax.jit`), installed
by `benchmarks/peer_env.py` into `benchmarks/.peer-venv` on the old JAX it
needs; the project itself never imports it.

**How it is measured.** Every run is its own process: same seeded inputs
(one `.npz` per workload and dtype), same dtype, one warm-up call (compiles),
then three timed calls; the run's time is their median, its memory the
process's peak RSS (`wait4`'s `ru_maxrss`, so JAX's own ~0.2–0.3 GiB is in
both columns). ntkc and the peer alternate and swap order every round; ratios
are peer/ntkc per round, reported as min / median / max over rounds. **The
machine is shared** with other jobs (its load average is recorded below):
absolute seconds are noisy and mostly too high, the ratios of alternating runs
much less so.
"""

WORKLOADS = "\n".join(f"- **{k}** — {v}" for k, v in DESCRIBE.items())

MAIN_NOTES = """"max rel. diff" is max |ntkc − peer| / max |peer| on a strided sample of the
Gram (both computed the same kernel; float32 differences are rounding in
deep arc-cosine recursions). ntkc's blocks: on a CPU each block's working set aims at
32 MiB (`blocking.BLOCK_WORK`), and with x2 omitted only the blocks on and
above the diagonal are computed (row blocks in float32 / float64 — W1: 3 of
667 / 4 of 500; W2: 8 of 13 / 12 of 9 images; W3: one call / 2 of 50; W4:
5 of 40 / 7 of 29 graphs; `kernel.plan(x)` shows them);
W2's small blocks keep its pixel-pair working set small, which is where its
memory ratio comes from. An RSS ratio below 1 means ntkc's
process peaked higher (see the note at the end). Rows name the ntkc commit
measured ("+dirty": with uncommitted edits under ntkc/).
"""

FLOOR_NOTES = """The floor is what any FC kernel must do: x·xᵀ/D for 2000×100 inputs (one
matrix product) plus 10 elementwise passes over the 2000² result (each
written to memory: a conditional takes it as operand, since XLA:CPU would
fuse the passes into one and drops optimisation barriers),
measured in its own process on the same machine and alternated with ntkc's
W1 run. The target is W1 within 4× of it."""

SCALING_NOTES = """float32, x2 omitted, one timed call after the warm-up per point; each point
has {t} for the whole process (import, the compiling warm-up call, the
timed call) and a memory cap of {cap:.0f} GiB (the machine is shared), so a
slow compile can time a point out. A failure along a curve (timeout, memory cap, out-of-memory kill,
error) is recorded as such, and the larger sizes of that curve are then
skipped for that implementation. The peer computes the whole Gram in one
call (it has `nt.batch` for blocking, which the benchmark does not use for it:
its default usage is what is compared). Points marked "first call" were
run with `--point-repeats 0`: their time is the first call's, compilation
included, because a second call would not fit the point's time limit. The
FC depth-50 differences (~5e-3) are float32's, on both sides: at N=500
ntkc's float32 Gram is 6.2e-3 and the peer's 7.2e-3 (max rel.) from ntkc's
float64 one. With depth the cosines approach 1, where arccos turns a rounding
error ε into √ε; deep nets want float64."""

BUDGET_NOTES = """Blocks are planned from the plan's widest position-pair layout
(`compile.bytes_per_pair`): a budget of B bytes gives blocks of √(B /
bytes_per_pair) examples a side; the result matrix itself is on top of the
budget. The blocked result equals unblocked calls to rounding (also tested in
`tests/test_blocking.py`).
"""

FAST_PATHS = """## What made it fast (before → after, measured on this machine)

Measured during development with the workloads above, in-process, float32;
"CPU" is process CPU time (steadier than wall time on the shared machine).

| change | where | before → after |
|---|---|---|
| arccos without atan2. XLA's `arccos` costs ~90 ns/element here. float32: arccos(a) = √(1−a)·P(a), P a degree-7 Chebyshev fit made at import (≤ 3 ulp); float64: π/2 − asin(a) for a ≤ ½, 2·asin√((1−a)/2) above (cancellation-free), asin by its Taylor series (≤ 2 ulp) | `rules/relu.py` | arccos 90 → 0.8 (f32) / 9 (f64) ns/element; W1 wall 1.5 s → 0.42 s |
| float64 asin by a degree-13 polynomial: the Taylor series (24 terms) economised in Chebyshev form, in exact rational arithmetic at import (as accurate: ≤ 2 ulp) | `rules/relu.py` | W1 float64 0.16 → 0.125 s; W2 float64 0.52 → 0.435 s |
| per-example covariances materialised after each layer: XLA fused their producers into the N1×N2 pair loops and recomputed them per pair | `compile.py`, `state.materialise` | W3 wall 0.8 s → 0.27 s |
| Conv's window sum reads a materialised input: XLA fused the producer (the previous Relu) into each of the 9 shifted slices | `rules/conv.py` | W3 CPU 0.084 s → 0.022 s; W2 (N=50) CPU ~2.5 s → 0.86 s |
| GraphAgg as one three-operand einsum: one transpose of the N1×N2×V×V array fewer | `rules/graph.py` | W4 CPU 1.09 s → 0.86 s |
| x2 omitted: the Gram in row blocks, only blocks on and above the diagonal computed (≥ 4 row blocks when the working set is large, more while blocks stay big) | `blocking.py` | W4 CPU 0.86 s → 0.34 s; W1 CPU 0.165 s → 0.124 s; W2 peak RSS 4.4 GiB → 0.35 GiB |
| float32 arccos in one branch (above) | `rules/relu.py` | W1 CPU 0.127 s → 0.119 s |
| blocks sized for the cache as well as the budget: a CPU block's working set aims at 32 MiB (the per-pair cost doubled past ~50 MiB: CNN-GAP 8×8 float64 114 µs/pair at 8-image blocks, 227 at 17) | `blocking.py` | W2 float64 1.41 s → 0.75 s; W3 float64 26 → 13 ms; W4 float32 136 → 112 ms (idle machine, wall) |
| Conv and AvgPool window sums one spatial axis at a time (2k shifted adds for a k×k window, not k²), each offset's in-range slice zero-extended by a `lax.pad` that XLA fuses into the sum, so the padded array is never written | `rules/_spatial.window_sum` | one 3×3 Conv on a 17²×8⁴ float64 pair array 4.6 → 2.3 ms; W2 float64 block 114 → 100 µs/pair |
| activations take √Σ₁₁ and √Σ₂₂ on the per-example arrays: the pair array sees a multiply and a division, no square root (equal variances use v itself, so cos(x, x) = 1 exactly); Relu's float64 arccos computed once into memory for Σ' and Σ̇ | `rules/_activation.cosine`, `rules/relu.py` | Relu on a 12²×8⁴ float32 pair array 0.98 → 0.53 ms, 9²×8⁴ float64 1.96 → 1.24 ms; W2 float64 ≈ 0.63 → 0.51 s |
| Θ⁰ = 0 until the first weight layer, where Θ' = Σ': no window sums or aggregations of zeros | `compile.run_zero_ntk_prefix` | W4 block of 29 graphs, CPU median 12.6 → 10.7 ms |
| global pools and Flatten reduce a materialised pair array: fused with the last Relu, XLA:CPU's reduction fusion wrote each of the Relu's broadcast constants out as a full pair-sized array | `rules/pooling.py` | W4 block 10.7 → 9.4 ms; W3 CPU 24 → 17 ms |

Tried and dropped: Conv windows as `reduce_window` on same-position pairs;
the producer writing the padded Conv input directly (2× slower: XLA then
copies it into the conditional); the first layer's Σ⁰ as C broadcast products
instead of an einsum (no change); raising glibc's mmap threshold
(`MALLOC_MMAP_THRESHOLD_`), which removes the page faults of XLA's per-call
temporary buffer but made cache-sized blocks slower. Two earlier attempts
(per-example 1/√Σ₁₁; Conv without a padded copy) had shown no gain on a
loaded machine; remeasured idle, in the forms above, they are in.

`lax.optimization_barrier` would be the natural tool for the two
materialisations, but XLA:CPU expands it before fusion; `state.materialise`
uses a conditional instead (its operand must exist in memory), both branches
returning the same value.

**Where it stands.** Every time target is met in both dtypes, the float64
ones included since this round of changes (W2 float64 was 3.5×, W3 float64
1.8× on the same idle machine before them): the profile of a W2 float64
block showed the time in memory passes (a padded copy and 9 shifted reads per
Conv, a per-pair square root and division and the arccos computed twice per
Relu) and in blocks too large for the cache, and the rows above dated this
session remove those. Peak RSS on the small workloads (W1, W3) is set by the
process, not the kernel: JAX 0.10's runtime is ~35 MiB larger than the peer's
JAX 0.4.30, and compiling the fused kernel costs ~80–140 MiB of RSS, against
W3's 2.5 MiB working set. The FC floor ratio is set by arithmetic: the
floor's passes do 3 operations per element, W1's layers about 45 (the
arc-cosine formula for Σ and Σ̇, Θ's update, Dense), and the fused loop is
compute-bound; computing only blocks on and above the diagonal is what the
floor, which computes all of it, does not get.
"""


if __name__ == "__main__":
    write()
