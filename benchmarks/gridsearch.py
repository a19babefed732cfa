"""What ntkc.sklearn's kernel cache saves in a grid search.

GridSearchCV over W_std (the default net's ``let W_std``) of a
StandardScaler → NTKClassifier pipeline on UCI wine (examples/data/wine,
178 examples, 13 features, 3 classes), 5 W_std values × 5 folds + the
refit, run twice in one process:

* ``cached``: as shipped — compiled kernels shared by every clone through
  ``ntkc.sklearn.cache`` (keyed by source, net, constants);
* ``uncached``: the cache switched off (``maxsize=0``), so every fit of every
  fold compiles its net afresh, as it would if each estimator compiled its own;
* ``cached_unpadded``: the cache on but rows not padded to bucket sizes, so
  folds of 142 and 143 rows are different shapes to XLA.

Each run counts XLA compilations and their seconds (jax.monitoring), the
ntkc compiles (cache misses) and the wall time, and checks both runs choose
the same W_std with the same scores. The uncached run goes second so that
it gains from any warm-up.

    python benchmarks/gridsearch.py   # writes benchmarks/results/gridsearch.json
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import ntkc
from ntkc.data import load_uci
import ntkc.sklearn
from ntkc.sklearn import NTKClassifier, cache

ROOT = Path(__file__).resolve().parent.parent
GRID = [0.8, 1.2, 1.5, 2.0, 3.0]
FOLDS = 5

_events = {"compiles": 0, "compile_s": 0.0}


def _listen(name, secs, **_):
    if name == "/jax/core/compile/backend_compile_duration":
        _events["compiles"] += 1
        _events["compile_s"] += secs


def run(x, y, maxsize, pad=True):
    bucket = ntkc.sklearn._bucket
    if not pad:
        ntkc.sklearn._bucket = lambda n: n
    cache.clear()
    cache.maxsize = maxsize
    _events.update(compiles=0, compile_s=0.0)
    grid = GridSearchCV(make_pipeline(StandardScaler(), NTKClassifier()),
                        {"ntkclassifier__constants__W_std": GRID},
                        cv=StratifiedKFold(FOLDS, shuffle=True, random_state=0))
    start = time.perf_counter()
    grid.fit(x, y)
    wall = time.perf_counter() - start
    ntkc.sklearn._bucket = bucket
    return {"wall_s": round(wall, 2), "xla_compiles": _events["compiles"],
            "xla_compile_s": round(_events["compile_s"], 2), "ntkc_compiles": cache.misses,
            "cache_hits": cache.hits, "best_W_std": grid.best_params_["ntkclassifier__constants__W_std"],
            "mean_test_accuracy": [round(float(s), 4) for s in grid.cv_results_["mean_test_score"]]}


def main():
    jax.monitoring.register_event_duration_secs_listener(_listen)
    data = load_uci(ROOT / "examples" / "data", "wine")
    results = {"cached": run(data.x, data.y, 32), "uncached": run(data.x, data.y, 0),
               "cached_unpadded": run(data.x, data.y, 32, pad=False)}
    cache.maxsize = 32
    c, u = results["cached"], results["uncached"]
    for r in results.values():
        assert r["mean_test_accuracy"] == c["mean_test_accuracy"], "the cache changed the scores"
    out = {
        "what": "GridSearchCV(StandardScaler → NTKClassifier, W_std ∈ GRID, 5-fold) on UCI wine",
        "grid": GRID, "folds": FOLDS, "fits": len(GRID) * FOLDS + 1,
        "n": int(len(data.y)), "features": int(data.x.shape[1]),
        **results,
        "saving": {"wall_s": round(u["wall_s"] - c["wall_s"], 2),
                   "speedup": round(u["wall_s"] / c["wall_s"], 2),
                   "xla_compiles_avoided": u["xla_compiles"] - c["xla_compiles"]},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "jax": jax.__version__, "ntkc": ntkc.__version__,
                    "device": str(jax.devices()[0])},
    }
    path = ROOT / "benchmarks" / "results" / "gridsearch.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
