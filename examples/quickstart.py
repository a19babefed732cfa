"""The main job on bundled data: compile a .ntk network, compute its NTK,
check it against Monte Carlo estimates from finite networks, use it to
classify, and print a short report.

    python examples/quickstart.py [--width 1024 --samples 32]
"""

import argparse
import time
from pathlib import Path

import numpy as np

import ntkc

HERE = Path(__file__).resolve().parent


def load_uci(folder: Path):
    """A data set in the Fernández-Delgado UCI layout: features, labels and
    the four official (train, test) splits."""
    name = folder.name
    rows = np.loadtxt(folder / f"{name}_R.dat", skiprows=1)
    x, y = rows[:, 1:-1], rows[:, -1].astype(int)
    lines = (folder / "conxuntos_kfold.dat").read_text().splitlines()
    splits = [(np.array(lines[2 * r].split(), int), np.array(lines[2 * r + 1].split(), int))
              for r in range(4)]
    return x, y, splits


def svm_accuracy(gram, y, splits, c=1.0):
    from sklearn.svm import SVC
    accs = []
    for train, test in splits:
        clf = SVC(kernel="precomputed", C=c).fit(gram[np.ix_(train, train)], y[train])
        accs.append(np.mean(clf.predict(gram[np.ix_(test, train)]) == y[test]))
    return float(np.mean(accs))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--samples", type=int, default=32)
    args = parser.parse_args()

    import jax
    jax.config.update("jax_enable_x64", True)
    from ntkc.cli import layer_table

    source = HERE / "wine_mlp.ntk"
    kernel = ntkc.load(source)
    print(layer_table(kernel.net), end="\n\n")

    x, y, splits = load_uci(HERE / "data" / "wine")
    t0 = time.perf_counter()
    gram = np.asarray(kernel(x))
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    gram = np.asarray(kernel(x))
    t_second = time.perf_counter() - t0
    print(f"NTK Gram {gram.shape} {gram.dtype}: {t_first:.2f} s with compilation, "
          f"{t_second * 1e3:.1f} ms compiled; min eigenvalue / trace "
          f"{np.linalg.eigvalsh(gram).min() / np.trace(gram):.2e}")

    t0 = time.perf_counter()
    report = ntkc.verify(kernel, x[:6], width=args.width, samples=args.samples, seed=0)
    print(f"\nMonte Carlo check against {args.samples} finite networks of width {args.width} "
          f"on 6 examples ({time.perf_counter() - t0:.1f} s):\n{report}")
    if not report.passed:
        raise SystemExit("the compiled kernel disagrees with Monte Carlo")

    grid = [0.1, 1.0, 10.0, 100.0]
    ntk_acc = max(svm_accuracy(gram, y, splits, c) for c in grid)
    from sklearn.metrics.pairwise import rbf_kernel
    rbf_acc = max(svm_accuracy(rbf_kernel(x, gamma=g), y, splits, c)
                  for g in (0.01, 0.1, 1.0) for c in grid)
    print(f"\nwine (178 examples, 3 classes), SVM on the 4 official splits, best over C in {grid}:")
    print(f"  NTK kernel  {100 * ntk_acc:.1f} %")
    print(f"  RBF kernel  {100 * rbf_acc:.1f} %")


if __name__ == "__main__":
    main()
