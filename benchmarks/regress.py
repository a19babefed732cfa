"""Does a change slow ntkc down? W1–W4 timed for two revisions of ntkc, side by
side in one run, alternating, each in its own process (benchmarks/worker.py).

    python benchmarks/regress.py --base 7b8905c            # base vs the working tree
    python benchmarks/regress.py --base 7b8905c --rounds 3 --dtypes float32 float64

The base revision is checked out into a temporary git worktree; each run
imports ntkc from one tree (PYTHONPATH), so both sides share the inputs, the
interpreter and the machine's state. Writes benchmarks/results/regress.json:
per workload and dtype the median of the per-round medians for each side and
their ratio (head / base; above 1 is slower). Needs an idle machine to mean
anything: the medians of alternating rounds absorb drift, not contention.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import workloads  # noqa: E402


def run(tree: Path, spec: dict, inputs: Path, dtype: str, repeats: int) -> list:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    env = dict(os.environ, PYTHONPATH=str(tree))
    subprocess.run([sys.executable, str(HERE / "worker.py"), "ntkc", json.dumps(spec),
                    str(inputs), dtype, str(out), "--repeats", str(repeats)],
                   check=True, env=env, cwd=tree)
    times = json.loads(out.read_text())["times"]
    out.unlink()
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="git revision to compare against")
    ap.add_argument("--workloads", nargs="*", default=list(workloads.MAIN))
    ap.add_argument("--dtypes", nargs="*", default=["float32", "float64"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(HERE / "results" / "regress.json"))
    a = ap.parse_args()

    import numpy as np
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), a.base],
                       check=True, cwd=ROOT)
        try:
            results = {}
            for name in a.workloads:
                spec = workloads.MAIN[name]
                for dtype in a.dtypes:
                    inputs = Path(tmp) / f"{name}-{dtype}.npz"
                    np.savez(inputs, **workloads.make_inputs(spec, 0, dtype))
                    sides = {"base": [], "head": []}
                    for _ in range(a.rounds):
                        for side, tree in (("base", base), ("head", ROOT)):
                            sides[side].append(statistics.median(run(tree, spec, inputs, dtype,
                                                                     a.repeats)))
                    b, h = statistics.median(sides["base"]), statistics.median(sides["head"])
                    results[f"{name} {dtype}"] = {"base_s": b, "head_s": h, "ratio": h / b,
                                                  "rounds": sides}
                    print(f"{name} {dtype}: base {b:.4f} s, head {h:.4f} s, head/base {h / b:.3f}",
                          flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                         cwd=ROOT).stdout.strip()
    Path(a.out).write_text(json.dumps({"base": a.base, "head": rev, "results": results}, indent=1))


if __name__ == "__main__":
    main()
