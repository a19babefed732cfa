"""A persistent, resumable Gram store on disk (zarr), filled in process or
by Dask workers (``ntkc.distributed``).

``kernel.gram(x1, x2=None, store="gram.zarr", …)`` plans the Gram's blocks
as ``kernel(x1, x2)`` would (``ntkc.blocking``), groups them into *chunks*
of k × k blocks, and writes each finished chunk to a zarr array whose chunks
are exactly these. A chunk is written in three steps:

1. zarr writes the chunk file (LocalStore writes a temporary file and renames
   it over the old one, so a reader sees the old chunk or the whole new one,
   never a mix; each chunk also carries a CRC32C checksum, checked on read);
2. the chunk file and its directory are fsync'ed (durable, not only visible);
3. only then the chunk's *done record* is written, the same way, to the
   ``done`` array (one uint8 per chunk, one file each).

Killing the process at any point loses at most the chunks in flight: a chunk
without its done record is recomputed, whatever its file holds. Two writers
of one chunk (a Dask task rerun while the first copy still runs, two clients
on one store) write the same values, each write whole.

Why chunks of several blocks: a block is sized for the cache (a few pairs
of 16×16 CNN-GAP images), and a file plus two fsyncs per few pairs would
cost more than the pairs. Chunks aim at CHUNK_SIDE examples a side, still
whole blocks, so every block is computed exactly as in memory.

The store records what it was made for: the net (name and a hash of the
checked network without source positions or comments), the inputs (a hash of
their bytes after the kernel's own input checks), their dtype, ``get``, and
the plan (block and chunk sizes). Resuming with any of these different is an
``NtkError`` that says which; without ``batch_size``/``memory_limit``/``chunk``
the stored plan is used, so a job begun on one machine can finish on another.
With x2 omitted only the chunks on and above the diagonal are computed and
stored; ``rows``/``array``/``save`` mirror the rest.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import blocking
from .errors import NtkError

FORMAT = 1
CHUNK_SIDE = 256          # examples a chunk aims at per side (whole blocks, at least one)
DURABLE = True            # fsync each chunk before its done record


def _zarr():
    try:
        import zarr
    except ImportError:
        raise NtkError("the Gram store needs zarr 3: pip install 'ntkc[store]'") from None
    if int(zarr.__version__.split(".")[0]) < 3:
        raise NtkError(f"the Gram store needs zarr >= 3, found {zarr.__version__}: "
                       f"pip install -U 'ntkc[store]'")
    return zarr


@dataclass(frozen=True)
class Status:
    """How much of a store is done: chunks and the blocks inside them."""
    path: str
    net: str
    get: tuple
    shape: tuple
    dtype: str
    sym: bool
    chunks_done: int
    chunks: int
    blocks_done: int
    blocks: int

    @property
    def complete(self) -> bool:
        return self.chunks_done == self.chunks

    def __str__(self):
        pct = 100 * self.blocks_done / max(self.blocks, 1)
        kind = "symmetric, chunks on and above the diagonal" if self.sym else "cross"
        return (f"{self.path}: net {self.net!r}, {'+'.join(self.get)} "
                f"{self.shape[0]}x{self.shape[1]} {self.dtype} ({kind})\n"
                f"{self.chunks_done} of {self.chunks} chunks done, {self.blocks_done} of "
                f"{self.blocks} blocks ({pct:.1f}%)" + ("" if self.complete else
                "; rerun the same call to resume"))


class GramStore:
    """A Gram on disk: ``status()``, ``rows(i, j)``, ``array()``,
    ``save(path)`` and, per kernel name, the raw ``zarr(get)`` array (for a
    symmetric Gram only its chunks on and above the diagonal are written)."""

    def __init__(self, path, mode="r"):
        zarr = _zarr()
        self.path = Path(path)
        try:
            self.group = zarr.open_group(str(self.path), mode=mode)
            meta = dict(self.group.attrs)
        except (FileNotFoundError, ValueError, KeyError) as e:
            raise NtkError(f"not an ntkc Gram store ({type(e).__name__}: {e})", str(path)) from None
        if meta.get("ntkc_gram_store") != FORMAT:
            raise NtkError("not an ntkc Gram store (no ntkc_gram_store attribute in its "
                           "zarr.json)", str(path))
        self.meta = meta
        self.names = tuple(meta["get"])
        self.n1, self.n2 = meta["n1"], meta["n2"]
        self.sym = meta["sym"]
        self.dtype = np.dtype(meta["dtype"])
        self.plan = blocking.Plan(self.n1, self.n2, *meta["block"], self.sym)
        self.tr, self.tc = meta["chunk"]
        self.grid = (math.ceil(self.n1 / self.tr), math.ceil(self.n2 / self.tc))
        self._arrays = {}
        self.computed = 0   # chunks the last gram() call computed

    def __repr__(self):
        return f"<ntkc.GramStore {self.path} {self.status().chunks_done}/{len(self.chunks())} chunks>"

    # -- layout ------------------------------------------------------------------
    def chunks(self) -> list:
        """(i, j) of every chunk computed, row by row (j >= i when symmetric)."""
        return [(i, j) for i in range(self.grid[0]) for j in range(self.grid[1])
                if not self.sym or j >= i]

    def bounds(self, i, j) -> tuple:
        r0, c0 = i * self.tr, j * self.tc
        return r0, min(r0 + self.tr, self.n1), c0, min(c0 + self.tc, self.n2)

    def subplan(self, i, j) -> blocking.Plan:
        """The blocks of chunk (i, j): a diagonal chunk of a symmetric Gram
        is itself symmetric (blocks on and above its diagonal)."""
        r0, r1, c0, c1 = self.bounds(i, j)
        return blocking.Plan(r1 - r0, c1 - c0, self.plan.rows, self.plan.cols,
                             self.sym and i == j)

    def array_of(self, name):
        if name not in self._arrays:
            self._arrays[name] = self.group[name]
        return self._arrays[name]

    def zarr(self, get=None):
        """The zarr array of one kernel (default: the first asked for)."""
        return self.array_of(self._name(get))

    def done(self) -> np.ndarray:
        """Boolean grid: chunk (i, j) has its done record."""
        return self.array_of("done")[...].astype(bool)

    def is_done(self, i, j) -> bool:
        return bool(self.array_of("done")[i, j])

    def missing(self) -> list:
        done = self.done()
        return [(i, j) for i, j in self.chunks() if not done[i, j]]

    def status(self) -> Status:
        done = self.done()
        chunks = self.chunks()
        blocks = [self.subplan(i, j).count() for i, j in chunks]
        return Status(str(self.path), self.meta["net"], self.names, (self.n1, self.n2),
                      self.dtype.name, self.sym, sum(int(done[c]) for c in chunks), len(chunks),
                      sum(b for b, c in zip(blocks, chunks) if done[c]), sum(blocks))

    # -- inputs (read by Dask workers) ----------------------------------------------
    def inputs(self, which, start, stop):
        """Examples start … stop of ``"x1"``/``"x2"`` as the kernel's prepared
        (features, graphs or None)."""
        g = self.group["inputs"][which]
        feats = g["features"][start:stop]
        graphs = None
        if "adjacency" in g:
            graphs = (g["adjacency"][start:stop], g["mask"][start:stop])
        return feats, graphs

    # -- writing -----------------------------------------------------------------------
    def write(self, i, j, blocks):
        """Write chunk (i, j) of each kernel, make it durable, then record it done."""
        r0, r1, c0, c1 = self.bounds(i, j)
        for name, block in zip(self.names, blocks):
            arr = self.array_of(name)
            arr[r0:r1, c0:c1] = np.asarray(block, self.dtype)
            self._sync(name, arr, (i, j))
        done = self.array_of("done")
        done[i, j] = 1
        self._sync("done", done, (i, j))

    def _sync(self, name, arr, key):
        if not DURABLE:
            return
        path = self.path / name / arr.metadata.encode_chunk_key(key)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        fd = os.open(path.parent, os.O_RDONLY)   # the rename that put it there
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def verify(self) -> list:
        """Read every done chunk; clear the done record of any whose checksum
        fails (damaged on disk after it was written), so a rerun recomputes
        it. Returns the (i, j) cleared."""
        bad = []
        done = self.done()
        for i, j in self.chunks():
            if not done[i, j]:
                continue
            r0, r1, c0, c1 = self.bounds(i, j)
            for name in self.names:
                try:
                    self.array_of(name)[r0:r1, c0:c1]
                except ValueError:
                    bad.append((i, j))
                    self.array_of("done")[i, j] = 0
                    break
        return bad

    # -- reading -----------------------------------------------------------------------
    def _name(self, get):
        name = self.names[0] if get is None else get
        if name not in self.names:
            raise NtkError(f"get={get!r}: this store holds {', '.join(self.names)}", str(self.path))
        return name

    def _need(self, chunks):
        done = self.done()
        lacking = [c for c in chunks if not done[c]]
        if lacking:
            s = self.status()
            raise NtkError(f"chunk(s) {', '.join(map(str, lacking[:4]))}"
                           f"{' …' if len(lacking) > 4 else ''} not computed yet "
                           f"({s.chunks_done} of {s.chunks} done): rerun the same gram() call "
                           f"or `ntkc kernel … --store {self.path}` to finish", str(self.path))

    def _read(self, arr, rows, cols):
        try:
            return arr[rows, cols]
        except ValueError as e:
            raise NtkError(f"a chunk in rows {rows.start}:{rows.stop}, columns "
                           f"{cols.start}:{cols.stop} is damaged ({e}); GramStore.verify() "
                           f"marks it for recomputation", str(self.path)) from None

    def rows(self, start=0, stop=None, get=None) -> np.ndarray:
        """Rows start … stop of the full (n1, n2) Gram; symmetric Grams are
        mirrored from the chunks above the diagonal."""
        stop = self.n1 if stop is None else min(stop, self.n1)
        arr = self.array_of(self._name(get))
        out = np.empty((max(stop - start, 0), self.n2), self.dtype)
        for i in range(start // self.tr, math.ceil(stop / self.tr)):
            a, b = max(start, i * self.tr), min(stop, (i + 1) * self.tr)
            if not self.sym:
                self._need([(i, j) for j in range(self.grid[1])])
                out[a - start:b - start] = self._read(arr, slice(a, b), slice(0, self.n2))
                continue
            self._need([(min(i, j), max(i, j)) for j in range(self.grid[1])])
            edge = i * self.tc
            out[a - start:b - start, edge:] = self._read(arr, slice(a, b), slice(edge, self.n2))
            if edge:
                out[a - start:b - start, :edge] = self._read(arr, slice(0, edge), slice(a, b)).T
        return out

    def array(self, get=None) -> np.ndarray:
        """The whole Gram in memory."""
        return self.rows(0, self.n1, get)

    def save(self, path, get=None, band=None):
        """Write the Gram to a ``.npy`` file a band of chunk rows at a time
        (a memory map: the Gram need not fit in memory); read it back with
        ``np.load(path, mmap_mode="r")``."""
        out = np.lib.format.open_memmap(str(path), mode="w+", dtype=self.dtype,
                                        shape=(self.n1, self.n2))
        band = band or self.tr
        for start in range(0, self.n1, band):
            out[start:start + band] = self.rows(start, start + band, get)
        out.flush()
        del out


# -- creating / opening for a computation -----------------------------------------------
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


def chunk_sizes(plan: blocking.Plan, chunk=None) -> tuple:
    """Chunk sides: whole blocks, aiming at ``chunk`` (default CHUNK_SIDE)
    examples, at most the Gram."""
    side = CHUNK_SIDE if chunk is None else chunk
    if isinstance(side, bool) or not isinstance(side, int) or side < 1:
        raise NtkError(f"chunk must be a whole number >= 1, not {chunk!r}")

    def one(n, b):
        return min(max(1, math.ceil(side / b)) * b, math.ceil(n / b) * b)
    tr = one(plan.n1, plan.rows)
    return (tr, tr) if plan.sym else (tr, one(plan.n2, plan.cols))


def prepare(kernel, path, a, b, names, plan, chunk, explicit) -> GramStore:
    """Open the store at ``path`` made for exactly this job, or create it."""
    path = Path(path)
    x1 = a[0]
    meta = {"ntkc_gram_store": FORMAT, "net": kernel.net.name, "net_hash": net_hash(kernel.net),
            "filename": kernel.filename, "inputs_hash": inputs_hash(a, b),
            "dtype": np.dtype(x1.dtype).name, "get": list(names), "n1": plan.n1, "n2": plan.n2,
            "sym": plan.sym, "block": [plan.rows, plan.cols], "chunk": list(chunk_sizes(plan, chunk))}
    if not (path / "zarr.json").exists():
        _create(path, meta, a, b, kernel)
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
                       f"their hash is {have['inputs_hash'][:12]}…, these {want['inputs_hash'][:12]}…)"
                       f"{hint}", where)
    if have["get"] != want["get"]:
        raise NtkError(f"this store holds get={tuple(have['get'])}, not get="
                       f"{tuple(want['get'])}{hint}", where)
    if explicit and (have["block"], have["chunk"]) != (want["block"], want["chunk"]):
        raise NtkError(f"this store was planned in blocks of {have['block'][0]}x{have['block'][1]} "
                       f"and chunks of {have['chunk'][0]}x{have['chunk'][1]}, but batch_size/"
                       f"memory_limit/chunk now plan blocks of {want['block'][0]}x"
                       f"{want['block'][1]}, chunks of {want['chunk'][0]}x{want['chunk'][1]} "
                       f"(leave them out to resume with the stored plan){hint}", where)


def _create(path, meta, a, b, kernel):
    """Build the empty store beside ``path`` and rename it into place, so a
    concurrent creator finds either nothing or a whole store."""
    zarr = _zarr()
    from zarr.codecs import Crc32cCodec
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    meta = dict(meta, created=time.strftime("%Y-%m-%d %H:%M:%S"), source=kernel.source)
    try:
        g = zarr.open_group(str(tmp), mode="w")
        tr, tc = meta["chunk"]
        for name in meta["get"]:
            g.create_array(name, shape=(meta["n1"], meta["n2"]), chunks=(tr, tc),
                           dtype=meta["dtype"], fill_value=np.nan, compressors=[Crc32cCodec()],
                           config={"write_empty_chunks": True})
        grid = (math.ceil(meta["n1"] / tr), math.ceil(meta["n2"] / tc))
        g.create_array("done", shape=grid, chunks=(1, 1), dtype="uint8", fill_value=0,
                       compressors=None, config={"write_empty_chunks": True})
        for which, x, rows in (("x1", a, tr), ("x2", b, tc)):
            if x is None:
                continue
            feats, graphs = x
            parts = {"features": feats}
            if graphs is not None:
                parts.update(adjacency=graphs[0], mask=graphs[1])
            for key, arr in parts.items():
                arr = np.asarray(arr)
                g.create_array(f"inputs/{which}/{key}", data=arr, chunks=(rows,) + arr.shape[1:],
                               compressors=None)
        g.attrs.update(meta)
        try:
            os.rename(tmp, path)
        except OSError:
            if not (path / "zarr.json").exists():
                raise NtkError(f"cannot create the store: {path} exists and is not an "
                               f"ntkc Gram store", str(path)) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
            pending = pool.submit(store.write, i, j, blocks)
            store.computed += 1
        if pending is not None:
            pending.result()


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
        gs = prepare(kernel, store, a, b, names, plan, chunk, explicit)
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


def open(path) -> GramStore:  # noqa: A001  (ntkc.store.open, like zarr.open)
    """Open an existing store to read it or ask its status (no net needed)."""
    if not (Path(path) / "zarr.json").exists():
        raise NtkError("no Gram store here (no zarr.json)", str(path))
    return GramStore(path, mode="r")
