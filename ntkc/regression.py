"""Compiled kernels as scikit-learn classifiers: Gram matrices for
``SVC(kernel="precomputed")`` / ``KernelRidge(kernel="precomputed")``, the
normalisations the GNTK evaluation uses, per-fold accuracy tables over C, and
model selection that is either the papers' (best mean test accuracy) or
honest (nested: chosen without looking at the test fold).
"""

from __future__ import annotations

import itertools

import numpy as np

from .errors import NtkError
from .graphs import as_graphs


# -- Gram matrices -------------------------------------------------------------------

def size_levels(sizes, levels: int) -> np.ndarray:
    """Pad sizes for graphs of the given node counts: at most ``levels``
    distinct values, chosen (by dynamic programming over the sorted distinct
    sizes) to minimise Σᵢ padded(i) — the total padded node-pair count of a
    Gram is (Σᵢ padded(i))². Returns each graph's padded size."""
    sizes = np.asarray(sizes)
    vals, counts = np.unique(sizes, return_counts=True)
    m, k = len(vals), max(1, min(levels, len(vals)))
    cum = np.concatenate([[0], np.cumsum(counts)])
    # cost[a][b]: vals[a..b-1] all padded to vals[b-1].
    best = np.full((k + 1, m + 1), np.inf)
    back = np.zeros((k + 1, m + 1), int)
    best[0, 0] = 0
    for lev in range(1, k + 1):
        for b in range(1, m + 1):
            a = np.arange(b)
            cost = best[lev - 1, a] + (cum[b] - cum[a]) * vals[b - 1]
            back[lev, b] = int(np.argmin(cost))
            best[lev, b] = cost[back[lev, b]]
    tops, b, lev = [], m, int(np.argmin(best[:, m]))
    while b > 0:
        tops.append(vals[b - 1])
        b, lev = back[lev, b], lev - 1
    tops = np.array(sorted(tops))
    return tops[np.searchsorted(tops, sizes)]


def auto_levels(sizes, entry_cost: float = 1e-7, compile_cost: float = 2.0,
                most: int = 8) -> int:
    """How many size classes to use: the k minimising a rough time model,
    (Σᵢ padded(i))² · ``entry_cost`` for the node pairs plus k(k+1)/2 level
    pairs · ``compile_cost`` (each compiles once). Seconds, CPU ballpark."""
    def cost(k):
        return float(size_levels(sizes, k).sum()) ** 2 * entry_cost + k * (k + 1) / 2 * compile_cost
    return min(range(1, most + 1), key=cost)


def graph_gram(kernel, dataset, levels="auto", block: int = 2**23, get="ntk",
               dtype=np.float64, progress=None, padded: bool = False) -> np.ndarray:
    """The (N, N) Gram of a :class:`~ntkc.data.GraphDataset`.

    By default on the joint node-pair layout (``ntkc.graphjoint``; ``levels``
    and ``block`` unused) when the net allows it; ``padded=True``, or a net
    with a layer that has no joint rule, takes the padded path below.

    Padding every graph to the largest one costs V_max² per pair; instead the
    graphs are sorted into ``levels`` size classes (:func:`size_levels`), each
    cut into chunks holding about √block / V node slots, so that one kernel call
    sees at most ~``block`` node pairs. A chunk's last batch is filled up with
    repeats of its first graph, so every call of a level pair has the same
    shapes and compiles once. Rows come back in data-set order.

    ``kernel`` may be a :class:`~ntkc.Family`: its Grams come back as
    ``{net name: Gram}``, from one shared pass (a layer the nets share runs
    once) on either path."""
    graphs = as_graphs(dataset.graphs, "dataset").astype(dtype)
    if not padded and kernel.joint_blocker() is None:
        got = kernel(graphs, get=get, progress=bool(progress) or None)
        if progress:
            progress(1, 1)
        outs = {n: np.asarray(k) for n, k in (got.items() if isinstance(got, dict)
                                               else [(None, got)])}
        for name, out in outs.items():
            _check_finite(out, name)
        return outs[None] if list(outs) == [None] else outs
    sizes = graphs.sizes
    padded = size_levels(sizes, auto_levels(sizes) if levels == "auto" else levels)
    chunks = []  # (indices, the chunk's padded view)
    for v in np.unique(padded):
        idx = np.flatnonzero(padded == v)
        per = max(1, int(np.sqrt(block) // v))
        per = min(per, len(idx))
        for s in range(0, len(idx), per):
            part = idx[s:s + per]
            fill = np.concatenate([part, np.full(per - len(part), part[0])])
            chunks.append((part, graphs[fill].padded(nodes=int(v))))
    outs = {}
    pairs = list(itertools.combinations_with_replacement(range(len(chunks)), 2))
    for step, (i, j) in enumerate(pairs):
        (pi, bi), (pj, bj) = chunks[i], chunks[j]
        bs = max(len(bi), len(bj))
        got = kernel(bi, None if i == j else bj, get=get, batch_size=bs)
        for name, k in (got.items() if isinstance(got, dict) else [(None, got)]):
            out = outs.setdefault(name, np.full((len(sizes),) * 2, np.nan))
            k = np.asarray(k)[:len(pi), :len(pj)]
            out[np.ix_(pi, pj)] = k
            out[np.ix_(pj, pi)] = k.T
        if progress:
            progress(step + 1, len(pairs))
    for name, out in outs.items():
        _check_finite(out, name)
    return outs[None] if list(outs) == [None] else outs


def _check_finite(K, name):
    if not np.all(np.isfinite(np.asarray(K))):
        raise NtkError("the Gram matrix contains NaN or Inf"
                       + ("" if name is None else f" (net {name})"))


def cosine(K) -> np.ndarray:
    """K_ij / √(K_ii K_jj): the Gram of the unit-normalised feature maps."""
    K = np.asarray(K, dtype=np.float64)
    d = np.sqrt(np.diag(K))
    if np.any(d <= 0):
        raise NtkError("cosine normalisation needs a positive diagonal")
    return K / np.outer(d, d)


def by_min(K) -> np.ndarray:
    """K / min(K), the GNTK code's other normalisation (a uniform scale, so a
    shift of the useful range of C)."""
    K = np.asarray(K, dtype=np.float64)
    m = K.min()
    if m <= 0:
        raise NtkError("dividing by the minimum needs a Gram with positive entries")
    return K / m


# -- SVM accuracy tables ---------------------------------------------------------------

# libsvm can iterate without end on a Gram that rounding left slightly
# indefinite; past this many iterations sklearn stops it with a ConvergenceWarning.
MAX_ITER = 2_000_000


def svc_accuracy(K, y, folds, Cs) -> np.ndarray:
    """Test accuracy of ``SVC(kernel="precomputed", C=C)`` trained on each
    fold's train rows of the full Gram ``K``: an array (len(Cs), len(folds))."""
    from sklearn.svm import SVC
    K = np.asarray(K, dtype=np.float64)
    y = np.asarray(y)
    acc = np.zeros((len(Cs), len(folds)))
    for f, (tr, te) in enumerate(folds):
        ktr, kte = K[np.ix_(tr, tr)], K[np.ix_(te, tr)]
        for c, C in enumerate(Cs):
            model = SVC(kernel="precomputed", C=C, max_iter=MAX_ITER).fit(ktr, y[tr])
            acc[c, f] = np.mean(model.predict(kte) == y[te])
    return acc


def kfold(y, k: int = 5, seed: int = 0) -> list:
    """Stratified k-fold splits ``[(train_idx, test_idx), ...]`` of 0..len(y)-1."""
    from sklearn.model_selection import StratifiedKFold
    y = np.asarray(y)
    # No more folds than the rarest class has members (but at least two).
    k = max(2, min(k, int(np.unique(y, return_counts=True)[1].min())))
    split = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(split.split(np.zeros(len(y)), y))


def cv_C(K, y, Cs, k: int = 5, seed: int = 0):
    """k-fold CV over C on a Gram matrix: returns (best C, mean accuracy per C).
    Ties go to the smallest C (the simplest model)."""
    acc = svc_accuracy(K, y, kfold(y, k, seed), Cs).mean(1)
    return Cs[int(np.argmax(acc))], acc


def best_over_grid(tables: dict):
    """The papers' selection: the (configuration, C) with the best mean test
    accuracy over the folds. ``tables[name] = (len(Cs), folds)`` accuracies.
    Returns (name, C index, mean, std over folds). Optimistic: C and the
    configuration are chosen on the very folds it reports."""
    best = max(((np.mean(t, 1).max(), name, int(np.argmax(np.mean(t, 1))))
                for name, t in tables.items()), key=lambda r: r[0])
    t = tables[best[1]][best[2]]
    return best[1], best[2], float(t.mean()), float(t.std())


def nested_accuracy(grams: dict, y, folds, Cs, inner: int = 3, seed: int = 0):
    """Honest selection: for each outer fold, the (Gram, C) is chosen by
    ``inner``-fold stratified CV on that fold's training rows only, then
    scored once on its test rows. ``grams[name]`` are full (N, N) Grams.
    Returns (accuracy per outer fold, the chosen (name, C) per fold)."""
    from sklearn.svm import SVC
    y = np.asarray(y)
    accs, chosen = [], []
    for tr, te in folds:
        splits = kfold(y[tr], inner, seed)
        best = (-1.0, None, None)
        for name, K in grams.items():
            sub = K[np.ix_(tr, tr)]
            score = svc_accuracy(sub, y[tr], splits, Cs).mean(1)
            c = int(np.argmax(score))
            if score[c] > best[0]:
                best = (score[c], name, Cs[c])
        K = grams[best[1]]
        model = SVC(kernel="precomputed", C=best[2], max_iter=MAX_ITER).fit(K[np.ix_(tr, tr)], y[tr])
        accs.append(np.mean(model.predict(K[np.ix_(te, tr)]) == y[te]))
        chosen.append((best[1], best[2]))
    return np.array(accs), chosen


def kernel_ridge_accuracy(K, y, train, test, ridge: float = 0.0) -> float:
    """Classification by kernel regression on one-hot targets (t → ∞ gradient
    flow, or ridge): predict the arg-max of k(x, X)(H + λI)⁻¹ Y."""
    from .dynamics import kernel_regression
    y = np.asarray(y)
    classes = np.unique(y[train])
    onehot = (y[train][:, None] == classes[None, :]).astype(float)
    K = np.asarray(K, dtype=np.float64)
    pred = kernel_regression(K[np.ix_(train, train)], K[np.ix_(test, train)], onehot, ridge)
    return float(np.mean(classes[np.argmax(pred, 1)] == y[test]))
