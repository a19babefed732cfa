"""Loaders for the data sets the reproductions use, each in its original format.

- TU graph benchmarks in the GIN/DGCNN text format with their fixed
  ``10fold_idx`` splits (the files the GNTK paper used), with the node
  features the GNTK code builds: one-hot node tags (bio/chem sets) or one-hot
  node degrees (social sets).
- The UCI collection as preprocessed by Fernández-Delgado et al. (2014):
  ``<name>.txt`` metadata, ``<name>_R.dat`` data, ``conxuntos.dat`` (tuning
  split) and ``conxuntos_kfold.dat`` (the four evaluation splits).
- MNIST IDX files (gzipped or not), CIFAR-10's binary record files and
  scikit-learn's 8×8 digits as images.

Every loader raises :class:`~ntkc.errors.NtkError` naming the file and what is
wrong with it, never a bare Python exception.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import NtkError
from .graphs import GraphBatch, Graphs, as_graphs

# The GNTK code (gram.py) uses node degrees as tags for these data sets.
SOCIAL = ("IMDBBINARY", "IMDBMULTI", "COLLAB")


def _open_text(path: Path):
    """Open ``path`` or, if it is missing, ``path.gz`` as text."""
    if path.exists():
        return open(path, "rt")
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return gzip.open(gz, "rt")
    raise NtkError(f"{path}: no such file (nor {gz.name})")


# -- TU graphs ---------------------------------------------------------------------

@dataclass
class GraphDataset:
    """Graphs with labels 0..C-1 and the fixed train/test folds.

    ``graphs``: an :class:`~ntkc.Graphs` (a list of pairs given here is
    converted and checked), ``graphs[i] = (features (V_i, F), adjacency
    (V_i, V_i))``: one-hot node features, 0/1 symmetric adjacency without
    the self loop GraphAgg adds (a self loop listed in the file stays as a 1
    on the diagonal). ``folds[k] = (train_idx, test_idx)`` (0-based), empty
    if the folder has no ``10fold_idx``.
    """
    name: str
    graphs: Graphs
    labels: np.ndarray
    folds: list = field(default_factory=list)

    def __post_init__(self):
        self.graphs = as_graphs(self.graphs, self.name)

    @property
    def features(self) -> int:
        return self.graphs[0][0].shape[1]

    @property
    def classes(self) -> int:
        return int(self.labels.max()) + 1

    def sizes(self) -> np.ndarray:
        return as_graphs(self.graphs, self.name).sizes

    def batch(self, index=None, dtype=np.float64) -> GraphBatch:
        """The graphs ``index`` (all by default) padded to one GraphBatch
        (their padded view)."""
        g = as_graphs(self.graphs, self.name)
        # a subset, so that the view is not kept alive by the data set's graphs
        return g[slice(None) if index is None else np.asarray(index)].padded(dtype=dtype)


def _ints(line: str, path, lineno: int) -> list:
    try:
        return [int(t) for t in line.split()]
    except ValueError:
        raise NtkError(f"{path}:{lineno}: expected integers, got {line.strip()[:60]!r}") from None


def load_tu(root, name: str, degree_as_tag: bool | None = None) -> GraphDataset:
    """Load ``root/<name>/<name>.txt`` (or ``.txt.gz``) and its 10 folds.

    Format: line 1 the number of graphs; per graph a line ``n label`` and n
    lines ``tag m v_1 … v_m`` (0-based neighbours). As the GNTK code does,
    tags (or, with ``degree_as_tag``, node degrees counting a self loop twice)
    become one-hot features over the set of values seen in the whole file, and
    labels are renumbered 0..C-1 in order of first appearance.
    ``degree_as_tag=None`` picks degrees for IMDBBINARY, IMDBMULTI, COLLAB.
    """
    folder = Path(root) / name
    path = folder / f"{name}.txt"
    if degree_as_tag is None:
        degree_as_tag = name in SOCIAL
    with _open_text(path) as fh:
        lines = fh.read().splitlines()
    if not lines:
        raise NtkError(f"{path}: empty file")
    count = _ints(lines[0], path, 1)
    if len(count) != 1:
        raise NtkError(f"{path}:1: expected the number of graphs")
    pos, raw = 1, []
    for g in range(count[0]):
        if pos >= len(lines):
            raise NtkError(f"{path}: ends after {g} of {count[0]} graphs")
        head = _ints(lines[pos], path, pos + 1)
        if len(head) != 2:
            raise NtkError(f"{path}:{pos + 1}: expected 'nodes label' for graph {g}")
        n, label = head
        tags, adj = [], np.zeros((n, n), np.int8)
        for u in range(n):
            row = _ints(lines[pos + 1 + u], path, pos + 2 + u) if pos + 1 + u < len(lines) else []
            if len(row) < 2 or len(row) < 2 + row[1]:
                raise NtkError(f"{path}:{pos + 2 + u}: node {u} of graph {g} needs "
                               f"'tag m v_1 … v_m'")
            nbrs = row[2:2 + row[1]]
            if any(v < 0 or v >= n for v in nbrs):
                raise NtkError(f"{path}:{pos + 2 + u}: neighbour index outside 0..{n - 1}")
            tags.append(row[0])
            adj[u, nbrs] = 1
        # Edges are listed at both ends; symmetrise so a one-sided entry is kept
        # as networkx (which the GNTK code uses) would keep it.
        adj = np.maximum(adj, adj.T)
        raw.append((tags, adj, label))
        pos += n + 1
    if degree_as_tag:
        # networkx degree: neighbours plus 2 for a self loop.
        tags_of = [adj.sum(1) + np.diag(adj) for _, adj, _ in raw]
    else:
        tags_of = [np.asarray(t) for t, _, _ in raw]
    values = {}
    for t in tags_of:
        for v in t.tolist():
            values.setdefault(v, len(values))
    graphs = []
    for t, (_, adj, _) in zip(tags_of, raw):
        x = np.zeros((len(t), len(values)))
        x[np.arange(len(t)), [values[v] for v in t.tolist()]] = 1
        graphs.append((x, adj))
    label_ids = {}
    labels = np.array([label_ids.setdefault(lab, len(label_ids)) for _, _, lab in raw])
    return GraphDataset(name, Graphs(graphs, str(path)), labels, _tu_folds(folder, len(graphs)))


def _tu_folds(folder: Path, n: int) -> list:
    fold_dir = folder / "10fold_idx"
    if not fold_dir.is_dir():
        return []
    folds = []
    for k in range(1, 11):
        pair = []
        for kind in ("train", "test"):
            p = fold_dir / f"{kind}_idx-{k}.txt"
            if not p.exists():
                raise NtkError(f"{p}: missing fold file")
            idx = np.array(_ints(p.read_text(), p, 1), dtype=int)
            if idx.size and (idx.min() < 0 or idx.max() >= n):
                raise NtkError(f"{p}: index outside 0..{n - 1}")
            pair.append(idx)
        folds.append(tuple(pair))
    return folds


# -- UCI (Fernández-Delgado et al.) ---------------------------------------------------

@dataclass
class UCIDataset:
    """One UCI set: features ``x (n, d)`` (already z-scored by the source),
    labels ``y`` in 0..c-1, the tuning split ``tune = (train, validation)`` from
    ``conxuntos.dat`` and the four evaluation pairs ``folds`` from
    ``conxuntos_kfold.dat`` (all 0-based rows of the first data file)."""
    name: str
    x: np.ndarray
    y: np.ndarray
    classes: int
    tune: tuple
    folds: list
    meta: dict


def uci_names(root, listing: str = "datasets_90.txt") -> list:
    """The data-set names listed one per line in ``root/listing``."""
    path = Path(root) / listing
    if not path.exists():
        raise NtkError(f"{path}: no such file")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _read_meta(path: Path) -> dict:
    if not path.exists():
        raise NtkError(f"{path}: no such file")
    meta = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[0].endswith("="):
            raise NtkError(f"{path}:{lineno}: expected 'key= value'")
        key, value = parts[0][:-1], parts[1]
        meta[key] = int(value) if value.lstrip("-").isdigit() else value
    for key in ("n_entradas", "n_clases", "fich1", "n_patrons1"):
        if key not in meta:
            raise NtkError(f"{path}: missing '{key}='")
    return meta


def _read_dat(path: Path, d: int, rows: int, classes: int):
    if not path.exists():
        raise NtkError(f"{path}: no such file")
    try:
        table = np.loadtxt(path, skiprows=1, delimiter="\t", ndmin=2)
    except ValueError as e:
        raise NtkError(f"{path}: not a tab-separated numeric table ({e})") from None
    if table.shape != (rows, d + 2):
        raise NtkError(f"{path}: expected {rows} rows of index, {d} features and a label, "
                       f"got a table of shape {table.shape}")
    y = table[:, -1]
    if np.any(y != np.round(y)) or y.min() < 0 or y.max() >= classes:
        raise NtkError(f"{path}: labels must be whole numbers in 0..{classes - 1}")
    x = table[:, 1:-1]
    if not np.all(np.isfinite(x)):
        raise NtkError(f"{path}: features contain NaN or Inf")
    return x, y.astype(int)


def _read_splits(path: Path, lines: int, n: int) -> list:
    if not path.exists():
        raise NtkError(f"{path}: no such file")
    rows = [r for r in path.read_text().splitlines() if r.strip()]
    if len(rows) != lines:
        raise NtkError(f"{path}: expected {lines} lines of indices, found {len(rows)}")
    out = [np.array(_ints(r, path, i + 1), dtype=int) for i, r in enumerate(rows)]
    for i, idx in enumerate(out):
        if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
            raise NtkError(f"{path}:{i + 1}: indices must lie in 0..{n - 1}")
    return out


def load_uci(root, name: str) -> UCIDataset:
    """Load ``root/<name>`` in the Fernández-Delgado format (first data file;
    both split files index it)."""
    folder = Path(root) / name
    meta = _read_meta(folder / f"{name}.txt")
    d, c, n = meta["n_entradas"], meta["n_clases"], meta["n_patrons1"]
    x, y = _read_dat(folder / meta["fich1"], d, n, c)
    tr, va = _read_splits(folder / "conxuntos.dat", 2, n)
    k = _read_splits(folder / "conxuntos_kfold.dat", 8, n)
    folds = [(k[2 * r], k[2 * r + 1]) for r in range(4)]
    return UCIDataset(name, x, y, c, (tr, va), folds, meta)


# -- images -----------------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def load_idx(path) -> np.ndarray:
    """Read an IDX file (MNIST's format), gzipped if the name ends in .gz:
    magic 0x0000TTDD (T the element type, D the number of dimensions), D
    big-endian uint32 sizes, then the data row-major."""
    path = Path(path)
    if not path.exists():
        raise NtkError(f"{path}: no such file")
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise NtkError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise NtkError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    size = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != size:
        raise NtkError(f"{path}: header says {shape} ({size} bytes of data), "
                       f"file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


def load_mnist(root, images="t10k-images-idx3-ubyte.gz", labels="t10k-labels-idx1-ubyte.gz"):
    """MNIST images as ``(N, 28, 28, 1)`` floats in [0, 1] and integer labels."""
    root = Path(root)
    x = load_idx(root / images)
    y = load_idx(root / labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise NtkError(f"{root}: images {x.shape} and labels {y.shape} do not match")
    return x[..., None].astype(np.float64) / 255.0, y.astype(int)


#: CIFAR-10's class names, label 0..9 (the official ``batches.meta``).
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
_CIFAR_RECORD = 1 + 3 * 32 * 32


def load_cifar10(paths, classes=None):
    """CIFAR-10 in the official *binary version*: files of 3073-byte records,
    a label byte (0..9) then 1024 red, 1024 green and 1024 blue bytes, each
    channel 32×32 row-major. ``paths`` is one file or a list (concatenated in
    order); ``classes`` keeps only those labels (in file order).

    Returns images ``(N, 32, 32, 3)`` (NHWC) as floats in [0, 1] and integer labels."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    xs, ys = [], []
    for path in map(Path, paths):
        if not path.exists():
            raise NtkError(f"{path}: no such file")
        raw = np.fromfile(path, np.uint8)
        if raw.size == 0 or raw.size % _CIFAR_RECORD:
            raise NtkError(f"{path}: {raw.size} bytes is not a whole number of CIFAR-10 "
                           f"records ({_CIFAR_RECORD} bytes: 1 label + 3×32×32 pixels)")
        rec = raw.reshape(-1, _CIFAR_RECORD)
        if rec[:, 0].max() > 9:
            bad = int(np.argmax(rec[:, 0] > 9))
            raise NtkError(f"{path}: record {bad} has label {rec[bad, 0]}, not 0..9 "
                           f"(not the binary version? the CIFAR-100 layout has two label bytes)")
        ys.append(rec[:, 0].astype(int))
        xs.append(rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    x, y = np.concatenate(xs), np.concatenate(ys)
    if classes is not None:
        keep = np.isin(y, classes)
        x, y = x[keep], y[keep]
    return x.astype(np.float64) / 255.0, y


def load_digits_images(classes=None):
    """scikit-learn's 8×8 digits as ``(N, 8, 8, 1)`` floats in [0, 1] and labels;
    ``classes`` keeps only those digits (in data order)."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x, y = d.images / 16.0, d.target
    if classes is not None:
        keep = np.isin(y, classes)
        x, y = x[keep], y[keep]
    return x[..., None], y
