"""Loaders on the small bundled copies of the real files (tests/data)."""

import gzip
import struct

import numpy as np
import pytest

import ntkc
from ntkc.data import load_cifar10, load_digits_images, load_idx, load_mnist, load_tu, load_uci, uci_names

from conftest import ROOT

DATA = ROOT / "tests" / "data"


def test_mutag_matches_reference_inputs():
    """The GNTK authors' loader output for MUTAG (tests/golden/gntk_reference)."""
    ds = load_tu(DATA / "graphs", "MUTAG")
    ref = np.load(ROOT / "tests" / "golden" / "gntk_reference" / "MUTAG_inputs.npz")
    assert len(ds.graphs) == 188 and ds.features == 7 and ds.classes == 2
    np.testing.assert_array_equal(ds.labels, ref["labels"])
    np.testing.assert_array_equal(ds.sizes(), ref["n_nodes"])
    batch = ds.batch()
    np.testing.assert_array_equal(np.asarray(batch.adjacency), ref["adjacency"])
    np.testing.assert_array_equal(np.asarray(batch.mask), ref["mask"])
    # one-hot columns may come in another order: compare the column sets
    ours = {tuple(c) for c in np.asarray(batch.features).reshape(-1, 7).T}
    theirs = {tuple(c) for c in ref["features"].reshape(-1, 7).T}
    assert ours == theirs


def test_mutag_folds():
    ds = load_tu(DATA / "graphs", "MUTAG")
    assert len(ds.folds) == 10
    tested = np.concatenate([te for _, te in ds.folds])
    assert len(tested) == len(set(tested)) == 180  # 18 per fold, pairwise disjoint
    for tr, te in ds.folds:
        assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 188
    # the README's never-tested graphs
    assert sorted(set(range(188)) - set(tested)) == [0, 13, 37, 114, 161, 163, 169, 187]


def test_degree_tags(tmp_path):
    """Degrees as tags (social sets): a self loop counts twice, as in networkx."""
    folder = tmp_path / "TOY"
    folder.mkdir()
    # graph 0: path 0-1-2; graph 1: a self loop on node 0 plus edge 0-1
    (folder / "TOY.txt").write_text("2\n3 5\n0 1 1\n0 2 0 2\n0 1 1\n2 7\n0 2 0 1\n0 1 0\n")
    ds = load_tu(tmp_path, "TOY", degree_as_tag=True)
    assert ds.folds == [] and list(ds.labels) == [0, 1]
    # degree values seen: 1, 2, 3 (node 0 of graph 1: loop 2 + edge 1)
    assert ds.features == 3
    deg = [f.argmax(1) for f, _ in ds.graphs]
    assert deg[0][0] == deg[0][2] != deg[0][1]
    assert deg[1][0] not in (deg[0][0], deg[0][1])
    assert ds.graphs[1][1][0, 0] == 1  # the listed self loop stays in the adjacency


def test_tu_errors(tmp_path):
    folder = tmp_path / "BAD"
    folder.mkdir()
    (folder / "BAD.txt").write_text("1\n2 0\n0 1 5\n0 0\n")
    with pytest.raises(ntkc.NtkError, match="BAD.txt:3: neighbour index"):
        load_tu(tmp_path, "BAD")
    (folder / "BAD.txt").write_text("2\n1 0\n0 0\n")
    with pytest.raises(ntkc.NtkError, match="ends after 1 of 2"):
        load_tu(tmp_path, "BAD")
    with pytest.raises(ntkc.NtkError, match="no such file"):
        load_tu(tmp_path, "MISSING")


def test_uci_iris():
    ds = load_uci(DATA / "uci", "iris")
    assert ds.x.shape == (150, 4) and ds.classes == 3
    np.testing.assert_array_equal(np.bincount(ds.y), [50, 50, 50])
    np.testing.assert_allclose(ds.x[0], [-0.897674, 1.02861, -1.33679, -1.30859])
    np.testing.assert_allclose(ds.x.mean(0), 0, atol=1e-3)  # z-scored by the source
    tr, va = ds.tune
    assert len(tr) == 75 and len(va) == 75 and len(np.union1d(tr, va)) == 150
    assert len(ds.folds) == 4
    for tr, te in ds.folds:
        assert len(te) == 37 and len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 150
    assert uci_names(DATA / "uci", "datasets.txt") == ["iris"]


def test_uci_errors(tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    (folder / "toy.txt").write_text("n_entradas= 1\nn_clases= 2\nfich1= toy_R.dat\nn_patrons1= 2\n")
    (folder / "toy_R.dat").write_text("\tf1\tclase\n1\t0.5\t0\n2\t0.1\t3\n")
    (folder / "conxuntos.dat").write_text("0\n1\n")
    (folder / "conxuntos_kfold.dat").write_text("0\n1\n" * 4)
    with pytest.raises(ntkc.NtkError, match="labels must be whole numbers in 0..1"):
        load_uci(tmp_path, "toy")
    (folder / "toy_R.dat").write_text("\tf1\tclase\n1\t0.5\t0\n2\t0.1\t1\n")
    assert list(load_uci(tmp_path, "toy").y) == [0, 1]
    (folder / "conxuntos.dat").write_text("0\n2\n")
    with pytest.raises(ntkc.NtkError, match="conxuntos.dat:2: indices must lie in 0..1"):
        load_uci(tmp_path, "toy")


def test_mnist_idx():
    x, y = load_mnist(DATA / "mnist")
    assert x.shape == (20, 28, 28, 1) and 0 <= x.min() and x.max() == 1.0
    np.testing.assert_array_equal(y[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])  # MNIST's published start
    # the first test digit (a 7) has its ink in the middle rows
    assert x[0, :5].sum() == 0 and x[0, 10:20].sum() > 10


def test_cifar10_records(tmp_path):
    """A synthetic file whose pixel values encode (record, channel, row, column)."""
    n = 3
    rec = np.zeros((n, 3073), np.uint8)
    rec[:, 0] = [4, 0, 9]
    r, c = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    for i in range(n):
        for ch in range(3):
            rec[i, 1 + 1024 * ch:1 + 1024 * (ch + 1)] = ((7 * i + 50 * ch + r + 3 * c) % 256).ravel()
    p = tmp_path / "batch.bin"
    rec.tofile(p)
    x, y = load_cifar10(p)
    assert x.shape == (3, 32, 32, 3) and list(y) == [4, 0, 9]
    i, ch, row, col = 2, 1, 5, 17
    assert x[i, row, col, ch] * 255 == (7 * i + 50 * ch + row + 3 * col) % 256
    x2, y2 = load_cifar10([p, p], classes=[0, 9])
    assert list(y2) == [0, 9, 0, 9]
    np.testing.assert_array_equal(x2[1], x[2])
    p.write_bytes(rec.tobytes()[:-1])
    with pytest.raises(ntkc.NtkError, match="whole number of CIFAR-10 records"):
        load_cifar10(p)
    rec[1, 0] = 10
    rec.tofile(p)
    with pytest.raises(ntkc.NtkError, match="record 1 has label 10"):
        load_cifar10(p)


def test_cifar10_real_records():
    """Training images 0 and 1 as the data README prints them (Keras x_train[0], [1])."""
    x, y = load_cifar10(DATA / "cifar10" / "data_batch_1_first2.bin")
    assert list(y) == [6, 9]
    u8 = np.round(x * 255).astype(int)
    np.testing.assert_array_equal(u8[0, 0, :3], [[59, 62, 63], [43, 46, 45], [50, 48, 43]])
    np.testing.assert_array_equal(u8[0, 0, -3:], [[158, 132, 108], [152, 125, 102], [148, 124, 103]])
    np.testing.assert_array_equal(u8[1, 0, :3], [[154, 177, 187], [126, 137, 136], [105, 104, 95]])


def test_idx_format(tmp_path):
    p = tmp_path / "a.idx"
    data = np.arange(6, dtype=">i2").reshape(2, 3)
    p.write_bytes(struct.pack(">BBBBII", 0, 0, 0x0B, 2, 2, 3) + data.tobytes())
    np.testing.assert_array_equal(load_idx(p), data)
    with gzip.open(tmp_path / "a.idx.gz", "wb") as f:
        f.write(p.read_bytes())
    np.testing.assert_array_equal(load_idx(tmp_path / "a.idx.gz"), data)
    p.write_bytes(p.read_bytes()[:-2])
    with pytest.raises(ntkc.NtkError, match="header says"):
        load_idx(p)
    p.write_bytes(b"\x01\x02\x03")
    with pytest.raises(ntkc.NtkError, match="magic"):
        load_idx(p)


def test_digits():
    x, y = load_digits_images(classes=[0, 1])
    assert x.shape == (360, 8, 8, 1) and set(y) == {0, 1}
    assert x.min() == 0 and x.max() == 1
