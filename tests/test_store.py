"""The Gram store: equal to the in-memory Gram, resumable after SIGKILL at
random points, refusing a store made for another job, safe under concurrent
writers; on a 2-worker Dask cluster with a worker killed mid-run."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import ntkc
from ntkc import store as st
from conftest import ROOT

# the nets and graphs the blocked path is tested on, stored now
from test_blocking import CNN, GNN, graphs  # noqa: E402


def images(n, seed, side=4):
    return np.random.default_rng(seed).standard_normal((n, side, side, 2))


def done_files(path):
    """Done records on disk (not the temporary files of a write in flight)."""
    d = os.path.join(path, "done", "c")
    return sum(n.isdigit() for _, _, f in os.walk(d) for n in f)


@pytest.mark.parametrize("source,make,cross", [(CNN, images, False), (CNN, images, True),
                                               (GNN, graphs, False)])
def test_store_equals_the_in_memory_gram(tmp_path, source, make, cross):
    kernel = ntkc.compile(source)
    x = make(11, 1)
    y = make(7, 2) if cross else None
    want = kernel(x, y, get=("nngp", "ntk"), batch_size=2)
    gs = kernel.gram(x, y, store=tmp_path / "g.zarr", get=("nngp", "ntk"), batch_size=2, chunk=4)
    # every block of the in-memory plan is computed once, grouped into 4x4 chunks
    s = gs.status()
    assert s.complete and s.blocks == kernel.plan(x, y, batch_size=2).count()
    assert (gs.tr, gs.tc) == (4, 4) and s.chunks == 6
    for name, w in zip(("nngp", "ntk"), want):
        # the same blocks through the same compiled function: the same numbers
        np.testing.assert_array_equal(gs.array(name), np.asarray(w))
        np.testing.assert_array_equal(gs.rows(3, 9, name), np.asarray(w)[3:9])
    if not cross:
        # only chunks on and above the diagonal are on disk
        raw = gs.zarr("ntk")[...]
        assert np.isnan(raw[4:, :4]).all() and not np.isnan(raw[:4, :]).any()
    gs.save(tmp_path / "k.npy", get="ntk")
    np.testing.assert_array_equal(np.load(tmp_path / "k.npy", mmap_mode="r"), np.asarray(want[1]))
    reopened = st.open(tmp_path / "g.zarr")
    assert reopened.status() == s


def test_resume_recomputes_only_unfinished_chunks(tmp_path):
    kernel = ntkc.compile(CNN)
    x = images(13, 3)
    path = tmp_path / "g.zarr"
    want = np.asarray(kernel(x, batch_size=3))
    gs = kernel.gram(x, store=path, batch_size=3, chunk=6)
    assert gs.computed == len(gs.chunks()) == 6
    # chunk (0, 1) half-written: a garbage file where zarr renames chunks in,
    # no done record; chunk (2, 2) written but its done record lost; a
    # temporary file left by a write killed before its rename
    chunk01 = path / "ntk" / gs.zarr().metadata.encode_chunk_key((0, 1))
    chunk01.write_bytes(b"\0garbage")
    (chunk01.parent / "1.deadbeef.partial").write_bytes(b"\0")
    done = gs.array_of("done")
    done[0, 1] = 0
    done[2, 2] = 0
    with pytest.raises(ntkc.NtkError, match=r"not computed yet \(4 of 6 done\)"):
        gs.array()
    again = kernel.gram(x, store=path)      # the stored plan, recomputing two chunks
    assert again.computed == 2
    np.testing.assert_array_equal(again.array(), want)
    assert kernel.gram(x, store=path).computed == 0


def test_a_damaged_chunk_is_found_and_recomputed(tmp_path):
    kernel = ntkc.compile(CNN)
    x = images(9, 4)
    path = tmp_path / "g.zarr"
    gs = kernel.gram(x, store=path, batch_size=3, chunk=3)
    f = path / "ntk" / gs.zarr().metadata.encode_chunk_key((1, 2))
    data = bytearray(f.read_bytes())
    data[5] ^= 0x40                                   # one flipped bit after the fact
    f.write_bytes(bytes(data))
    with pytest.raises(ntkc.NtkError, match="damaged.*verify"):
        gs.array()
    assert gs.verify() == [(1, 2)]
    assert kernel.gram(x, store=path).computed == 1
    np.testing.assert_array_equal(st.open(path).array(), np.asarray(kernel(x, batch_size=3)))


def test_a_store_for_another_job_is_refused(tmp_path):
    kernel = ntkc.compile(CNN)
    x = images(8, 5)
    path = tmp_path / "g.zarr"
    kernel.gram(x, store=path, batch_size=2, chunk=4)
    other = ntkc.compile(CNN.replace("W_std=1.4", "W_std=1.5"))
    renamed = ntkc.compile(CNN.replace("net cnn", "net other"))
    cases = [
        (other, (x,), {}, "net 'cnn' .*same name, another network"),
        (renamed, (x,), {}, "made for net 'cnn' .* not net 'other'"),
        (kernel, (x[::-1],), {}, "other inputs"),
        (kernel, (x.astype(np.float32),), {}, "holds float64 kernels, but the inputs are float32"),
        (kernel, (x[:6],), {}, "8 examples in x1, x2 omitted, not 6 examples"),
        (kernel, (x, x[:3]), {}, "not 8 examples in x1 and 3 in x2"),
        (kernel, (x,), {"get": "nngp"}, r"holds get=\('ntk',\)"),
        (kernel, (x,), {"batch_size": 4}, "blocks of 2x2 .* now plan blocks of 4x4"),
        (kernel, (x,), {"batch_size": 2, "chunk": 2}, "chunks of 4x4, .* chunks of 2x2"),
    ]
    for k, args, kw, message in cases:
        with pytest.raises(ntkc.NtkError, match=message):
            k.gram(*args, store=path, **kw)
    # a formatting change or comment is the same network
    same = ntkc.compile("# reformatted\n" + CNN.replace(" Relu", "\n   Relu"))
    assert same.gram(x, store=path).computed == 0
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    with pytest.raises(ntkc.NtkError, match="not an ntkc Gram store"):
        st.open(tmp_path / "plain")


def test_chunks_are_whole_blocks_sized_for_the_cost_of_writing_them():
    from ntkc import blocking
    from ntkc.gramjob import CHUNK_SIDE, CHUNK_WORK, chunk_sizes
    # CNN-GAP 16x16 float32: 3 MiB a pair, blocks of 3 -> 258 a side (86 blocks)
    cnn = blocking.Plan(2000, 2000, 3, 3, True)
    assert chunk_sizes(cnn, 3 * 2**20) == (258, 258) and CHUNK_SIDE == 256
    # FC at 48 B a pair: 512 MiB of working set is 3344 a side -> 6 blocks of 667
    fc = blocking.Plan(20000, 20000, 667, 667, True)
    assert chunk_sizes(fc, 48) == (4002, 4002) and 3344 ** 2 * 48 <= CHUNK_WORK
    # never more than the Gram (in whole blocks); cross Grams per side; chunk= wins
    assert chunk_sizes(blocking.Plan(100, 100, 9, 9, True), 48) == (108, 108)
    assert chunk_sizes(blocking.Plan(600, 50, 7, 5, False), 2**20) == (259, 50)
    assert chunk_sizes(cnn, 3 * 2**20, chunk=10) == (12, 12)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ntkc.NtkError, match="chunk must be"):
            chunk_sizes(cnn, 48, chunk=bad)


CHILD = textwrap.dedent("""
    import sys, numpy as np, jax
    jax.config.update("jax_enable_x64", True)
    import ntkc
    src = '''input image(height=12, width=12, channels=1)
    net n { Conv(kernel=3, W_std=1.4, b_std=0.1) Relu Conv(kernel=3) Relu GlobalAvgPool Dense }'''
    x = np.random.default_rng(0).standard_normal((36, 12, 12, 1))
    gs = ntkc.compile(src).gram(x, store=sys.argv[1], batch_size=3, chunk=6, progress=False)
    print("computed", gs.computed, flush=True)
""")


def child_gram():
    """The child's Gram in memory, in the same blocks."""
    kernel = ntkc.compile(CHILD.split("'''")[1])
    return np.asarray(kernel(np.random.default_rng(0).standard_normal((36, 12, 12, 1)),
                             batch_size=3))


def _child(path):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", CHILD, str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_sigkill_of_the_client_at_random_points_still_finishes_the_same_gram(tmp_path):
    path = tmp_path / "g.zarr"
    total = 21                          # 36 examples in chunks of 6: 6·7/2 chunks
    rng = np.random.default_rng(18)
    killed_at = []
    for _ in range(2):
        done = done_files(path)
        if done + 2 >= total - 2:
            break
        target = int(rng.integers(done + 1, min(done + 9, total - 2)))
        pause = float(rng.uniform(0, 0.02))
        p = _child(path)
        while done_files(path) < target and p.poll() is None:
            time.sleep(0.001)
        time.sleep(pause)               # anywhere in the next chunk: computing, writing, syncing
        p.send_signal(signal.SIGKILL)
        p.communicate()
        assert p.returncode == -signal.SIGKILL, "the run ended before it could be killed"
        killed_at.append(done_files(path))
    assert killed_at[-1] < total
    p = _child(path)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    assert f"computed {total - killed_at[-1]}" in out
    np.testing.assert_allclose(st.open(path).array(), child_gram(), rtol=1e-13, atol=0)


@pytest.mark.slow
def test_concurrent_writers_never_corrupt_a_chunk(tmp_path):
    # two clients on one new store at once: both finish, the Gram is right
    path = tmp_path / "g.zarr"
    procs = [_child(path) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    np.testing.assert_allclose(st.open(path).array(), child_gram(), rtol=1e-13, atol=0)
    # writers racing on one chunk: a reader only ever sees one writer's whole chunk
    gs = st.GramStore(path, mode="r+")
    r0, r1, c0, c1 = gs.bounds(1, 2)
    # every version of the chunk is constant, the one there before the writers too
    # (else a reader that starts first sees the Gram's own values, which is right)
    gs.write(1, 2, (np.full((r1 - r0, c1 - c0), 999.0),))
    seen, stop = [], threading.Event()

    def writer(base):
        for v in range(40):
            gs.write(1, 2, (np.full((r1 - r0, c1 - c0), base + v, float),))

    def reader():
        mine = st.GramStore(path)
        while not stop.is_set():
            seen.append(np.unique(mine.zarr()[r0:r1, c0:c1]))
    threads = [threading.Thread(target=writer, args=(b,)) for b in (1000, 2000)]
    watch = threading.Thread(target=reader)
    watch.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watch.join()
    assert len(seen) > 5 and all(len(u) == 1 for u in seen), [u for u in seen if len(u) > 1][:3]
    assert np.unique(gs.zarr()[r0:r1, c0:c1])[0] in (1039, 2039)


def test_cli_store_run_status_and_out(tmp_path, capsys):
    from ntkc.cli import main
    src = tmp_path / "n.ntk"
    src.write_text("input vector(dim=3)\nnet n { Dense(W_std=1.4, b_std=0.1) Relu Dense }\n")
    x = np.random.default_rng(3).standard_normal((40, 3))
    np.save(tmp_path / "x.npy", x)
    store, out = str(tmp_path / "g.zarr"), str(tmp_path / "k.npy")
    args = ["kernel", str(src), "--x1", str(tmp_path / "x.npy"), "--store", store,
            "--batch-size", "4", "--chunk", "8", "--get", "nngp,ntk"]
    assert main(args) == 0
    assert "15 chunk(s) computed now" in capsys.readouterr().out
    assert main(["kernel", "--store", store, "--status"]) == 0
    assert "15 of 15 chunks done, 55 of 55 blocks (100.0%)" in capsys.readouterr().out
    assert main(["kernel", "--store", store, "--out", str(tmp_path / "k.npz")]) == 0
    got = np.load(tmp_path / "k.npz")
    want = ntkc.compile(src.read_text())(x, get=("nngp", "ntk"), batch_size=4)
    for name, w in zip(("nngp", "ntk"), want):
        np.testing.assert_array_equal(got[name], np.asarray(w))
    assert main(args) == 0 and "0 chunk(s) computed now" in capsys.readouterr().out
    assert main(["kernel", str(src), "--x1", str(tmp_path / "x.npy"), "--store", store]) == 1
    assert "holds get=('nngp', 'ntk')" in capsys.readouterr().err
    for bad, message in ((["kernel", "--store", store], "without a net"),
                         (["kernel", "--status"], "--status needs --store"),
                         (["kernel", str(src), "--x1", "x.npy", "--workers", "2"],
                          "--workers needs --store")):
        assert main(bad) == 2 and message in capsys.readouterr().err
    assert main(["kernel", "--store", str(tmp_path / "none.zarr"), "--status"]) == 1
    assert "no Gram store here" in capsys.readouterr().err
    one = ["kernel", str(src), "--x1", str(tmp_path / "x.npy"), "--store",
           str(tmp_path / "one.zarr"), "--chunk", "16", "--out", out]
    assert main(one) == 0
    np.testing.assert_allclose(np.load(out), np.asarray(want[1]), rtol=1e-12)


# -- Dask ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import Client, LocalCluster
    env = {"JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, env=env) as c, Client(c) as client:
        yield client


@pytest.mark.slow
def test_two_dask_workers_give_the_in_process_gram_with_a_worker_killed(tmp_path, cluster,
                                                                       capfd):
    kernel = ntkc.compile(CHILD.split("'''")[1])
    x = np.random.default_rng(0).standard_normal((36, 12, 12, 1))
    path = tmp_path / "g.zarr"
    pids = cluster.run(os.getpid)
    killed = {}

    def kill_one():
        while done_files(path) < 3:
            time.sleep(0.002)
        killed["done"] = done_files(path)
        os.kill(pids[sorted(pids)[0]], signal.SIGKILL)
    t = threading.Thread(target=kill_one, daemon=True)
    t.start()
    gs = kernel.gram(x, store=path, batch_size=3, chunk=6, client=cluster, progress=True)
    t.join(timeout=5)
    assert killed["done"] < 21, "the run ended before a worker could be killed"
    err = capfd.readouterr().err
    assert "left the cluster" in err, err
    assert "78/78" in err, err           # the bar counts blocks over all workers
    np.testing.assert_allclose(gs.array(), child_gram(), rtol=1e-13, atol=0)
    assert gs.status().complete
    # each worker compiled the net once (one compiled shape) and kept it
    sizes = cluster.run(lambda: [f.cache_size() for k in ntkc.distributed._KERNELS.values()
                                 for f in k._fns.values()])
    assert all(s in ([], [1]) for s in sizes.values()) and [1] in sizes.values(), sizes


@pytest.mark.slow
def test_a_failed_chunk_is_retried_with_a_line_and_the_cli_reaches_a_scheduler(
        tmp_path, cluster, capfd):
    def flaky_once():
        import ntkc.gramjob as s
        real = s.compute

        def fail(*a, **k):
            s.compute = real
            raise RuntimeError("injected failure")
        s.compute = fail
    cluster.run(flaky_once)
    from ntkc.cli import main
    src = tmp_path / "n.ntk"
    src.write_text(CNN)
    x, y = images(10, 6), images(5, 7)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    store = str(tmp_path / "g.zarr")
    address = cluster.scheduler.address
    assert main(["kernel", str(src), "--x1", str(tmp_path / "x.npy"), "--x2",
                 str(tmp_path / "y.npy"), "--store", store, "--batch-size", "2", "--chunk", "4",
                 "--scheduler", address, "--out", str(tmp_path / "k.npy")]) == 0
    err = capfd.readouterr().err
    # each worker fails its first chunk once (a worker given no chunk fails none)
    assert 1 <= err.count("RuntimeError: injected failure; retry 1 of 3") <= 2, err
    want = np.asarray(ntkc.compile(CNN)(x, y, batch_size=2))
    np.testing.assert_allclose(np.load(tmp_path / "k.npy"), want, rtol=1e-13, atol=0)
