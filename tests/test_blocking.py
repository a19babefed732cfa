"""Blocked Grams equal unblocked ones; block sizes follow the memory budget;
blocks spread over several devices give the single-device result."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ntkc
from ntkc import blocking
from ntkc.fusion import bytes_per_pair
from conftest import ROOT

FC = """
input vector(dim=3)
net fc { Dense(W_std=1.5, b_std=0.1) Relu Dense(W_std=1.5, b_std=0.1) Relu Dense }
"""
CNN = """
input image(height=4, width=4, channels=2)
net cnn { Conv(kernel=3, W_std=1.4, b_std=0.1) Relu Conv(kernel=2, padding="valid") Relu
          GlobalAvgPool Dense }
"""
GNN = """
input graph(features=2)
net gnn { GraphAgg Dense(W_std=1.4) Relu GraphAgg(norm="mean") Dense Relu GlobalSumPool }
"""


def rng():
    return np.random.default_rng(7)


def graphs(n, seed):
    r = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        v = int(r.integers(2, 6))
        a = np.triu((r.random((v, v)) < 0.5).astype(float), 1)
        out.append((r.standard_normal((v, 2)), a + a.T))
    return ntkc.GraphBatch.from_graphs(out, nodes=6)


def rows(g, idx):
    m = None if g.mask is None else np.asarray(g.mask)[idx]
    return ntkc.GraphBatch(np.asarray(g.features)[idx], np.asarray(g.adjacency)[idx], m)


@pytest.mark.parametrize("source,make,n1,n2,bs", [
    (FC, lambda n, s: np.random.default_rng(s).standard_normal((n, 3)), 11, 7, 4),
    (CNN, lambda n, s: np.random.default_rng(s).standard_normal((n, 4, 4, 2)), 5, 3, 2),
    (GNN, graphs, 5, 4, 2),
])
def test_blocked_equals_unblocked(source, make, n1, n2, bs):
    kernel = ntkc.compile(source)
    x1, x2 = make(n1, 1), make(n2, 2)
    whole = np.asarray(kernel(x1, get=("nngp", "ntk"), batch_size=n1)[1])
    cross = np.asarray(kernel(x1, x2, batch_size=max(n1, n2)))
    # blocks of bs (last one padded), x2 omitted: only blocks on/above the diagonal
    blocked = np.asarray(kernel(x1, get=("nngp", "ntk"), batch_size=bs)[1])
    np.testing.assert_allclose(blocked, whole, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(blocked, blocked.T)  # mirrored and symmetrised exactly
    np.testing.assert_allclose(np.asarray(kernel(x1, x2, batch_size=bs)), cross,
                               rtol=1e-12, atol=1e-14)
    # each block of the Gram is the cross kernel of its rows and columns
    i, j = np.arange(0, 2), np.arange(2, n1)
    part = rows(x1, i) if isinstance(x1, ntkc.GraphBatch) else x1[i]
    rest = rows(x1, j) if isinstance(x1, ntkc.GraphBatch) else x1[j]
    np.testing.assert_allclose(whole[np.ix_(i, j)], np.asarray(kernel(part, rest)),
                               rtol=1e-10, atol=1e-14)


def test_memory_limit_plans_blocks_from_the_widest_layer():
    kernel = ntkc.compile(CNN)
    # GlobalAvgPool needs all pixel pairs: the widest layer holds 16² of them;
    # Flatten would need only the 16 same-position pairs.
    per_pair = bytes_per_pair(kernel.net, 8, ntk=True)
    assert per_pair == 12 * 16 * 16 * 8
    flat = ntkc.compile(CNN.replace("GlobalAvgPool", "Flatten"))
    assert bytes_per_pair(flat.net, 8, ntk=True) == 12 * 16 * 8
    assert bytes_per_pair(kernel.net, 8, ntk=False) == 6 * 16 * 16 * 8
    # a budget of 9 pairs → 3 examples a side, 10 examples → 4 blocks of 3 (last padded)
    p = blocking.plan(10, 10, True, per_pair, memory_limit=9 * per_pair)
    assert (p.rows, p.cols, p.count()) == (3, 3, 10)
    x = rng().standard_normal((10, 4, 4, 2))
    assert kernel.plan(x, memory_limit=9 * per_pair) == p
    assert kernel.plan(x, x[:4], get="nngp", memory_limit=9 * per_pair).rows == 4
    np.testing.assert_allclose(np.asarray(kernel(x, memory_limit=9 * per_pair)),
                               np.asarray(kernel(x, batch_size=10)), rtol=1e-12, atol=1e-14)
    # x2 given: blocks balanced so the last one is not mostly padding
    p = blocking.plan(10, 7, False, per_pair, memory_limit=f"{16 * per_pair}B")
    assert (p.rows, p.cols) == (4, 4) and not p.single
    assert blocking.plan(10, 7, False, per_pair, memory_limit="1GB").single


def test_blocks_aim_at_the_platform_working_set():
    cpu = blocking.BLOCK_WORK["cpu"]
    # W1: 2000² pairs × 48 B; √(32 MiB / 48 B) = 836 a side → 3 row blocks of 667,
    # and only the 6 on and above the diagonal are computed
    big = blocking.plan(2000, 2000, True, 48)
    assert (big.rows, big.count()) == (667, 6) and big.rows ** 2 * 48 <= cpu
    # W2 in float64: 393 KiB a pair → 9 a side, 12 row blocks (the last padded)
    w2 = blocking.plan(100, 100, True, 12 * 4096 * 8)
    assert (w2.rows, w2.count()) == (9, 78)
    # an accelerator gets large blocks, still cut so symmetry saves work
    gpu = blocking.plan(100, 100, True, 12 * 4096 * 8, platform="gpu")
    assert gpu.rows == 50 and gpu.count() == 3
    assert blocking.plan(100, 100, True, 24).single
    # x2 given: one call while it fits the target, else near-square blocks
    assert blocking.plan(100, 300, False, 1000).single
    cut = blocking.plan(100, 300, False, 12 * 4096 * 8)
    assert (cut.rows, cut.cols) == (9, 9) and not cut.single
    # a memory budget below the target still bounds the blocks
    assert blocking.plan(2000, 2000, True, 48, memory_limit="1MB").rows == 143


@pytest.mark.parametrize("text,value", [
    ("8GB", 8 * 2**30), ("8 GiB", 8 * 2**30), ("512MiB", 512 * 2**20), ("1.5g", 3 * 2**29),
    ("4096", 4096), (10**9, 10**9), (None, blocking.DEFAULT_MEMORY)])
def test_memory_sizes(text, value):
    assert blocking.parse_memory(text) == value


@pytest.mark.parametrize("bad", ["lots", "8 XB", "-1GB", "0", 0, -5, float("nan")])
def test_bad_memory_limit_is_an_ntk_error(bad):
    kernel = ntkc.compile(FC)
    with pytest.raises(ntkc.NtkError, match="memory_limit"):
        kernel(np.ones((3, 3)), memory_limit=bad)


def test_budget_below_one_pair_is_an_ntk_error():
    kernel = ntkc.compile(CNN)
    with pytest.raises(ntkc.NtkError, match="one example pair"):
        kernel(np.ones((3, 4, 4, 2)), memory_limit="1KB")


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_batch_size(bad):
    with pytest.raises(ntkc.NtkError, match="batch_size"):
        ntkc.compile(FC)(np.ones((3, 3)), batch_size=bad)


def test_progress_bar_only_when_asked_or_on_a_terminal(capsys, monkeypatch):
    monkeypatch.setattr(blocking, "PROGRESS_AFTER", 0.0)
    kernel = ntkc.compile(FC)
    x = rng().standard_normal((6, 3))
    kernel(x, batch_size=2)  # pytest's captured streams are not terminals: no bar
    assert capsys.readouterr().err == ""
    kernel(x, batch_size=2, progress=True)
    err = capsys.readouterr().err
    # tqdm's line: "ntkc kernel: 100%|██████████| 6/6 [00:00<00:00, 91.3block/s]"
    assert "ntkc kernel" in err and "6/6 [" in err and "block/s" in err and err.endswith("\n")


MULTI = textwrap.dedent("""
    import jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    import ntkc
    from ntkc import blocking
    assert len(jax.devices()) == 2, jax.devices()
    used = []
    put = blocking._put
    blocking._put = lambda x, d: (used.append(d.id), put(x, d))[1]
    src = '''input image(height=4, width=4, channels=1)
    net n { Conv(kernel=3, W_std=1.3, b_std=0.2) Relu GlobalAvgPool Dense }'''
    k = ntkc.compile(src)
    x = np.random.default_rng(0).standard_normal((7, 4, 4, 1))
    y = np.random.default_rng(1).standard_normal((5, 4, 4, 1))
    one = [jax.devices()[0]]
    for args in ((x,), (x, y)):
        single = np.asarray(k(*args, devices=one, batch_size=7))
        spread = np.asarray(k(*args))
        spread_blocks = np.asarray(k(*args, batch_size=3))
        for got in (spread, spread_blocks):
            err = np.abs(got - single).max() / np.abs(single).max()
            assert err < 1e-12, err
    assert set(used) == {0, 1}, used
    # one block on a device that is not the default one runs there
    second = jax.devices()[1]
    out = k(x, devices=[second])
    assert out.devices() == {second}, out.devices()
    print("ok", sorted(set(used)))
""")


def test_blocks_spread_over_two_devices_match_one_device():
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT),
               XLA_FLAGS="--xla_force_host_platform_device_count=2")
    r = subprocess.run([sys.executable, "-c", MULTI], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "ok [0, 1]"


def test_cli_kernel_with_a_memory_limit_matches_the_api(tmp_path, capsys):
    from ntkc.cli import main
    src = tmp_path / "n.ntk"
    src.write_text("input vector(dim=3)\nnet n { Dense(W_std=1.4, b_std=0.1) Relu Dense }\n")
    x = np.random.default_rng(3).standard_normal((40, 3))
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "k.npz"
    # 4 KiB holds a few pairs: the Gram is computed in many blocks
    code = main(["kernel", str(src), "--x1", str(tmp_path / "x.npy"), "--get", "nngp,ntk",
                 "--out", str(out), "--memory-limit", "4KiB", "--no-progress"])
    assert code == 0, capsys.readouterr()
    got = np.load(out)
    want = ntkc.compile(src.read_text())(x, get=("nngp", "ntk"))
    for name, w in zip(("nngp", "ntk"), want):
        np.testing.assert_allclose(got[name], np.asarray(w), rtol=1e-12)
    code = main(["kernel", str(src), "--x1", str(tmp_path / "x.npy"), "--out", str(out),
                 "--memory-limit", "lots"])
    assert code != 0 and "memory_limit 'lots'" in capsys.readouterr().err
