"""A Gram store's chunks computed by Dask workers (``dask.distributed``).

The client submits one task per missing chunk. A task runs on a worker:
it takes the compiled kernel from that worker process's cache (keyed by the
net's hash, so each worker compiles the net once and keeps it across tasks
and jobs), reads the chunk's inputs from the store, computes the chunk's
blocks on the worker's devices (all those it sees: give each worker its own
GPU) and writes the chunk to the store, which every worker must see (a
shared file system). The client only counts: a tqdm bar of blocks done over
all workers, and a line on stderr per failure, retry, and worker lost or
joined.

A worker that dies takes its running task with it; Dask's scheduler gives
the task to another worker (and, after ``distributed.scheduler.allowed-failures``
deaths, fails it with ``KilledWorker``). A task that fails is resubmitted up
to RETRIES times with a line saying so; an ``NtkError`` (a fault of the job,
not of the machine) stops the run at once. Either way the chunks already
written stay done, so rerunning the call resumes.
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass

from .errors import NtkError

RETRIES = 3
POLL = 1.0                 # seconds between looks at the cluster's workers

# Per worker process: net hash -> Kernel (its compiled function), store id -> store.
_KERNELS: dict = {}
_STORES: dict = {}


def client_for(client):
    """None (compute here), a ``dask.distributed.Client``, or a scheduler
    address, for which a client is opened (``owned``: close it after)."""
    if client is None:
        return None
    try:
        from dask.distributed import Client
    except ImportError:
        raise NtkError("running on a Dask cluster needs dask.distributed: "
                       "pip install 'ntkc[distributed]'") from None
    if isinstance(client, Client):
        return client
    if isinstance(client, str):
        try:
            c = Client(client, timeout="30s")
        except OSError as e:
            raise NtkError(f"cannot reach the Dask scheduler at {client!r}: {e}") from None
        c._ntkc_owned = True
        return c
    raise NtkError(f"client must be a dask.distributed.Client or a scheduler address such as "
                   f"'tcp://10.0.0.1:8786', not {type(client).__name__}")


def platform(client) -> str:
    """The platform of a worker's first JAX device (waits for a worker)."""
    return client.submit(_platform, pure=False).result()


def _platform():
    import jax
    return jax.devices()[0].platform


@dataclass(frozen=True)
class Job:
    """What a task needs besides its chunk: the store, the checked net and its hash."""
    path: str
    store_id: str
    net: object
    net_hash: str
    x64: bool


def task(job: Job, i: int, j: int) -> dict:
    """Compute chunk (i, j) on this worker and write it to the store."""
    import jax
    from . import gramjob
    from .kernel import Kernel
    from .store import GramStore
    if job.x64:
        jax.config.update("jax_enable_x64", True)
    kernel = _KERNELS.get(job.net_hash)
    if kernel is None:
        kernel = _KERNELS[job.net_hash] = Kernel(job.net)
    store = _STORES.get(job.store_id)
    if store is None:
        store = GramStore(job.path, mode="r+")
        if store.meta.get("id") != job.store_id:
            raise NtkError("the store was replaced by another while its job ran", job.path)
        _STORES[job.store_id] = store
    if store.is_done(i, j):   # written by an earlier copy of this task
        return {"chunk": (i, j), "computed": False}
    t0 = time.perf_counter()
    r0, r1, c0, c1 = store.bounds(i, j)
    xa = store.inputs("x1", r0, r1)
    xb = None if store.sym and i == j else store.inputs("x1" if store.sym else "x2", c0, c1)
    store.write(i, j, gramjob.compute(kernel, store, i, j, xa, xb))
    return {"chunk": (i, j), "computed": True, "seconds": time.perf_counter() - t0}


def _say(line):
    from tqdm.auto import tqdm
    tqdm.write(f"ntkc: {line}", file=sys.stderr)


def run(kernel, store, client, bar):
    """Compute the store's missing chunks on ``client``'s workers."""
    from dask.distributed import as_completed
    from .gramjob import net_hash
    job = Job(str(store.path.resolve()), store.meta["id"], kernel.net, net_hash(kernel.net),
              store.dtype.itemsize == 8)
    tag = uuid.uuid4().hex[:6]
    meta = {}

    def submit(chunk, attempt):
        key = f"ntkc-chunk-{chunk[0]}-{chunk[1]}-{tag}-{attempt}"
        f = client.submit(task, job, *chunk, key=key, pure=False, retries=0)
        meta[f.key] = (chunk, attempt)
        return f

    def where(chunk):
        r0, r1, c0, c1 = store.bounds(*chunk)
        return f"chunk {chunk} (rows {r0}:{r1}, columns {c0}:{c1})"

    futures = [submit(c, 0) for c in store.missing()]
    live = set(futures)
    ac = as_completed(futures, raise_errors=False)
    workers = set(client.scheduler_info(n_workers=-1)["workers"])
    polled = time.monotonic()
    try:
        while not ac.is_empty():
            batch = ac.next_batch(block=False) if ac.has_ready() else ()
            if not batch:
                time.sleep(0.05)
            for f in batch:
                live.discard(f)
                chunk, attempt = meta.pop(f.key)
                if f.status == "finished":
                    store.computed += f.result()["computed"]
                    bar.update(store.subplan(*chunk).count())
                    continue
                try:
                    exc = f.exception()
                except Exception as e:   # cancelled: the scheduler lost it
                    exc = e
                if isinstance(exc, NtkError):
                    raise exc
                if attempt >= RETRIES:
                    raise NtkError(f"{where(chunk)} failed {attempt + 1} times, last with "
                                   f"{type(exc).__name__}: {exc}; the chunks done so far are "
                                   f"kept, rerun to resume", str(store.path))
                _say(f"{where(chunk)} failed: {type(exc).__name__}: {exc}; "
                     f"retry {attempt + 1} of {RETRIES}")
                g = submit(chunk, attempt + 1)
                live.add(g)
                ac.add(g)
            if time.monotonic() - polled > POLL or ac.is_empty():
                polled = time.monotonic()
                workers = _changes(client, workers)
    finally:
        if live:
            client.cancel(list(live))


def _changes(client, before):
    """Say which workers left or joined since ``before``; return the workers now."""
    now = set(client.scheduler_info(n_workers=-1)["workers"])
    for w in sorted(before - now):
        _say(f"worker {w} left the cluster; the scheduler reruns its chunks on the other workers")
    for w in sorted(now - before):
        _say(f"worker {w} joined")
    return now
