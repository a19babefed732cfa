"""examples/reproduce_gntk.py's banded Grams: a family's Grams one band of
rows at a time equal the family's whole Gram, every member's band is cached
as it finishes, and a rerun resumes from the cached bands without computing."""

import importlib.util
import sys

import jax
import numpy as np
import pytest

import ntkc
from ntkc.data import GraphDataset

from conftest import EXAMPLES

GNTK = """
input graph(features=3)

def block(mlp) {
    GraphAgg(self_loops=true, norm="sum")
    repeat mlp { Relu Dense(W_std=sqrt(2)) }
    Tap
}

def gntk(blocks, mlp) {
    Dense(W_std=sqrt(6))
    JumpingKnowledge { Tap repeat blocks { block(mlp) } }
    GlobalSumPool
}

net b1_m1_sum { gntk(1, 1) }
net b2_m1_sum { gntk(2, 1) }
"""


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("reproduce_gntk", EXAMPLES / "reproduce_gntk.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reproduce_gntk", mod)
    spec.loader.exec_module(mod)
    return mod


def toy(n, seed):
    rng = np.random.default_rng(seed)
    graphs = []
    for v in rng.integers(1, 9, size=n):
        a = np.triu(rng.random((v, v)) < 0.4, 1) * 1.0
        graphs.append((np.eye(3)[rng.integers(0, 3, v)], a + a.T))
    return GraphDataset("toy", graphs, np.zeros(n, int))


def test_banded_family_gram_resumes(script, tmp_path):
    jax.config.update("jax_enable_x64", True)
    ds = toy(11, 0)
    names = ["b1_m1_sum", "b2_m1_sum"]
    fam = ntkc.compile_family(GNTK, names)
    whole = fam(ds.graphs)
    stems = {n: tmp_path / f"toy_{n}" for n in names}
    K, sec, parts, cost = script.banded_gram(fam, ds, 4, stems, np.dtype("float64"), lambda: 0.0)
    assert sorted(K) == names and sec > 0
    assert cost["cpu_seconds"] > 0 and cost["peak_rss_gib"] > 0.05
    assert len(parts) == 3 * len(names) and all(p.exists() for p in parts)
    for n in names:
        want = np.asarray(whole[n])
        assert np.max(np.abs(K[n] - want)) <= 1e-12 * np.max(np.abs(want))
        assert np.array_equal(K[n], K[n].T)

    def refuse(*a, **k):
        raise AssertionError("a cached band was computed again")

    again, sec2, _, cost2 = script.banded_gram(refuse, ds, 4, stems, np.dtype("float64"),
                                               lambda: 0.0)
    for n in names:
        assert np.array_equal(again[n], K[n])
    assert sec2 == pytest.approx(sec)
    assert cost2 == pytest.approx(cost)   # read back from the band files

    # one member's band missing: that band is one family pass again
    parts[1].unlink()
    calls = []

    def counted(*a, **k):
        calls.append(len(a))
        return fam(*a, **k)

    third, _, _, _ = script.banded_gram(counted, ds, 4, stems, np.dtype("float64"), lambda: 0.0)
    assert len(calls) == 2   # the band's own square and its cross Gram
    for n in names:
        assert np.max(np.abs(third[n] - K[n])) <= 1e-12 * np.max(np.abs(K[n]))
