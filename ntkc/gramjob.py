"""Computing a Gram into a store (``Kernel.gram``): what identifies the job,
creating or resuming its store, and computing its chunks here
(``ntkc.distributed`` computes them on Dask workers).

A store records what it was made for: the net (its name and a hash of the
checked network without source positions, comments or file name, so a
reformatted file is the same net), the inputs (a hash of their bytes after
the kernel's own input checks: shape, dtype and values), their dtype,
``get``, and the plan (block and chunk sizes). Resuming with any of these
different is an ``NtkError`` that says which. Without ``batch_size``,
``memory_limit`` or ``chunk`` the stored plan is used, so a job begun on one
machine can finish on another whose devices would plan other blocks.
"""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import blocking
from .errors import NtkError
from .store import FORMAT, GramStore, create

# A chunk is CHUNK_SIDE examples a side, in whole blocks (65k pairs: ~1 min of
# 16×16 CNN-GAP pairs on a CPU core), or more where pairs are cheap: at least
# CHUNK_WORK bytes of working set (16 CPU blocks), ~1 s of FC pairs, so that
# the chunk's file and fsyncs cost little next to it.
CHUNK_SIDE = 256
CHUNK_WORK = 2**29


def net_hash(net) -> str:
    """Hash of the network as checked, without positions, comments or file name."""
    return hashlib.sha256(repr((net.name, net.lowered())).encode()).hexdigest()


def inputs_hash(a, b) -> str:
    h = hashlib.sha256()
    for x in (a, b):
        if x is None:
            h.update(b"x2=x1")
            continue
        feats, graphs = x
        for arr in (feats,) + (graphs or ()):
            arr = np.ascontiguousarray(np.asarray(arr))
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def chunk_sizes(plan: blocking.Plan, per_pair: int, chunk=None) -> tuple:
    """Chunk sides in whole blocks, at most the Gram: ``chunk`` examples when
    given, else CHUNK_SIDE or, where pairs are cheap, enough for CHUNK_WORK
    bytes of working set (``per_pair`` bytes a pair), so that writing and
    syncing a chunk stays small against computing it."""
    if chunk is None:
        side = max(CHUNK_SIDE, math.isqrt(CHUNK_WORK // max(per_pair, 1)))
    elif isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise NtkError(f"chunk must be a whole number >= 1, not {chunk!r}")
    else:
        side = chunk

    def one(n, b):
        return min(max(1, math.ceil(side / b)) * b, math.ceil(n / b) * b)
    tr = one(plan.n1, plan.rows)
    return (tr, tr) if plan.sym else (tr, one(plan.n2, plan.cols))


def prepare(kernel, path, a, b, names, plan, per_pair, chunk, explicit) -> GramStore:
    """Open the store at ``path`` made for exactly this job, or create it."""
    path = Path(path)
    x1 = a[0]
    meta = {"ntkc_gram_store": FORMAT, "net": kernel.net.name, "net_hash": net_hash(kernel.net),
            "filename": kernel.filename, "inputs_hash": inputs_hash(a, b),
            "dtype": np.dtype(x1.dtype).name, "get": list(names), "n1": plan.n1, "n2": plan.n2,
            "sym": plan.sym, "block": [plan.rows, plan.cols],
            "chunk": list(chunk_sizes(plan, per_pair, chunk))}
    if not (path / "zarr.json").exists():
        create(path, meta, a, b, kernel.source)
    store = GramStore(path, mode="r+")
    _match(store, meta, explicit)
    return store


def _match(store, want, explicit):
    have, where = store.meta, str(store.path)
    hint = "; use another store path, or delete this one to start over"
    if (have["net"], have["net_hash"]) != (want["net"], want["net_hash"]):
        same = "" if have["net"] != want["net"] else " (same name, another network)"
        raise NtkError(f"this store was made for net {have['net']!r} from {have['filename']}, "
                       f"not net {want['net']!r} from {want['filename']}{same}{hint}", where)
    if (have["n1"], have["n2"], have["sym"]) != (want["n1"], want["n2"], want["sym"]):
        def shape(m):
            return f"{m['n1']} examples in x1" + (", x2 omitted" if m["sym"] else
                                                  f" and {m['n2']} in x2")
        raise NtkError(f"this store was made for {shape(have)}, not {shape(want)}{hint}", where)
    if have["dtype"] != want["dtype"]:
        raise NtkError(f"this store holds {have['dtype']} kernels, but the inputs are "
                       f"{want['dtype']}{hint}", where)
    if have["inputs_hash"] != want["inputs_hash"]:
        raise NtkError(f"this store was made for other inputs (same shapes, different values: "
                       f"their hash is {have['inputs_hash'][:12]}…, these "
                       f"{want['inputs_hash'][:12]}…){hint}", where)
    if have["get"] != want["get"]:
        raise NtkError(f"this store holds get={tuple(have['get'])}, not get="
                       f"{tuple(want['get'])}{hint}", where)
    if explicit and (have["block"], have["chunk"]) != (want["block"], want["chunk"]):
        raise NtkError(f"this store was planned in blocks of {have['block'][0]}x{have['block'][1]} "
                       f"and chunks of {have['chunk'][0]}x{have['chunk'][1]}, but batch_size/"
                       f"memory_limit/chunk now plan blocks of {want['block'][0]}x"
                       f"{want['block'][1]}, chunks of {want['chunk'][0]}x{want['chunk'][1]} "
                       f"(leave them out to resume with the stored plan){hint}", where)


# -- computing ---------------------------------------------------------------------------
def compute(kernel, store: GramStore, i, j, xa, xb, devices=None, bar=None):
    """The blocks of chunk (i, j) from its row inputs xa and column inputs xb,
    computed by the in-memory blocked path on the chunk's sub-plan."""
    from .kernel import _devices
    sub = store.subplan(i, j)
    fn = kernel._fn(store.names, False)
    return blocking.run(fn, xa, None if sub.sym else xb, sub, len(store.names),
                        _devices(devices), progress=False, bar=bar)


def _slice(x, start, stop):
    feats, graphs = x
    return (np.asarray(feats[start:stop]),
            None if graphs is None else tuple(np.asarray(g[start:stop]) for g in graphs))


def run_local(kernel, store: GramStore, a, b, devices=None, bar=None):
    """Compute the missing chunks here, writing each in a background thread
    while the next one is computed."""
    b = a if b is None else b
    todo = store.missing()
    with ThreadPoolExecutor(1, thread_name_prefix="ntkc-store") as pool:
        pending = None
        for i, j in todo:
            r0, r1, c0, c1 = store.bounds(i, j)
            blocks = compute(kernel, store, i, j, _slice(a, r0, r1), _slice(b, c0, c1),
                             devices, bar)
            if pending is not None:
                pending.result()
                store.computed += 1
            pending = pool.submit(store.write, i, j, blocks)
        if pending is not None:
            pending.result()
            store.computed += 1


def gram(kernel, x1, x2=None, *, store, get="ntk", memory_limit=None, batch_size=None,
         chunk=None, client=None, devices=None, progress=None) -> GramStore:
    """See ``Kernel.gram``."""
    from .kernel import _devices, _names
    names = _names(get)
    a = kernel._prepare(x1, "x1")
    b = None if x2 is None else kernel._prepare(x2, "x2", like=a)
    explicit = batch_size is not None or memory_limit is not None or chunk is not None
    from . import distributed
    client = distributed.client_for(client)
    try:
        exists = (Path(store) / "zarr.json").exists()
        if client is None:
            devs = _devices(devices)
            platform = devs[0].platform
        else:
            # planned for the workers' devices; a store that exists keeps its own plan
            devs = None
            platform = "cpu" if exists and not explicit else distributed.platform(client)
        # planned for one device, so that the same job can be resumed anywhere
        plan = kernel._plan_for(a, b, names, batch_size, memory_limit, 1, platform)
        per_pair = kernel._per_pair(a, names)
        gs = prepare(kernel, store, a, b, names, plan, per_pair, chunk, explicit)
        total = sum(gs.subplan(i, j).count() for i, j in gs.chunks())
        left = sum(gs.subplan(i, j).count() for i, j in gs.missing())
        with blocking.progress_bar(total, progress, initial=total - left) as bar:
            if client is None:
                run_local(kernel, gs, a, b, devs, bar)
            else:
                distributed.run(kernel, gs, client, bar)
    finally:
        if getattr(client, "_ntkc_owned", False):
            client.close()
    return gs
