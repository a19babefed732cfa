"""A persistent, resumable Gram on disk: a zarr group whose arrays are cut
into chunks of whole blocks of the Gram's block plan (``ntkc.blocking``).
``Kernel.gram`` (``ntkc.gramjob``) fills it, here or on Dask workers
(``ntkc.distributed``); ``ntkc.store.open(path)`` reads it without the net.

Layout of ``gram.zarr/``: one (n1, n2) array per kernel asked for (``ntk``,
``nngp``) in chunks of ``chunk`` rows × columns, each chunk with a CRC32C
checksum checked on read; ``done``, one uint8 per chunk; ``inputs/x1``
(and ``x2``), the prepared inputs, which workers read their rows from; the
job's identity in the group's attributes. A chunk is written in three steps:

1. zarr writes the chunk file (its LocalStore writes a temporary file and
   renames it over the old one, so a reader sees the old chunk or the whole
   new one, never a mix);
2. the chunk file and its directory are fsync'ed (durable, not only visible);
3. only then is the chunk's done record written, the same way, and synced.

Killing the process at any point loses at most the chunks in flight: a chunk
without its done record is recomputed, whatever its file holds. Two writers
of one chunk (a Dask task rerun while the first copy still runs, two clients
on one store) write the same values, each write whole.

Why chunks of several blocks: a block is sized for the cache (3 × 3 pairs of
16×16 CNN-GAP images), and a file and four fsyncs per 9 pairs would cost
more than the pairs. Chunks are whole blocks (``ntkc.gramjob.chunk_sizes``),
so every block is computed exactly as in memory. With x2 omitted only the
chunks on and above the diagonal are stored; ``rows``/``array``/``save``
mirror the rest.
"""

from __future__ import annotations

import math
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import blocking
from .errors import NtkError

FORMAT = 1
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
        self.computed = 0   # chunks the Kernel.gram call that returned this computed

    def __repr__(self):
        s = self.status()
        return f"<ntkc.GramStore {self.path} {s.chunks_done}/{s.chunks} chunks done>"

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


def create(path, meta, a, b, source=""):
    """Build the empty store beside ``path`` and rename it into place, so a
    concurrent creator finds either nothing or a whole store."""
    zarr = _zarr()
    from zarr.codecs import Crc32cCodec
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    meta = dict(meta, created=time.strftime("%Y-%m-%d %H:%M:%S"), source=source,
                id=uuid.uuid4().hex)   # this store, not another made later at the same path
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


def open(path) -> GramStore:  # noqa: A001  (ntkc.store.open, like zarr.open)
    """Open an existing store to read it or ask its status (no net needed)."""
    if not (Path(path) / "zarr.json").exists():
        raise NtkError("no Gram store here (no zarr.json)", str(path))
    return GramStore(path, mode="r")
