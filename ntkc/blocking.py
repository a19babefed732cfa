"""Gram matrices in blocks: block sizes planned from a memory budget and a
per-device speed target, only the blocks on and above the diagonal computed
when x2 is omitted, blocks spread over the available JAX devices, and a
progress bar (tqdm) for long runs.

One block is one call of the compiled kernel on ``rows`` examples of x1 and
``cols`` of x2. Its working memory is about ``rows · cols · bytes_per_pair``
(the widest layer's position-pair arrays, see ``compile.bytes_per_pair``), so a
budget of B bytes allows blocks of ``√(B / bytes_per_pair)`` examples a side,
and the smaller of the budget and ``BLOCK_WORK`` sets the size.
Every block has the same shape (the last is padded with zero examples, which
the rules handle as all-zero inputs), so one compiled function serves all.
"""

from __future__ import annotations

import math
import re
import sys
from collections import deque
from dataclasses import dataclass

import jax
import numpy as np

from .errors import NtkError

DEFAULT_MEMORY = 2 * 2**30   # working memory for one block, bytes
# The working set one block should have for speed, whatever the memory budget.
# On a CPU a block's position-pair arrays are streamed through by every layer;
# measured on a 2-core EPYC (32 MiB L3), the cost per example pair doubles
# once a block's working set passes ~50 MiB (CNN-GAP 8×8 and 16×16, float32
# and float64), so blocks aim at 32 MiB. Accelerators want large kernels: big
# symmetric Grams are still cut, so only the blocks on and above the diagonal
# are computed.
BLOCK_WORK = {"cpu": 32 * 2**20}
ACCEL_BLOCK_WORK = 2**30
PROGRESS_AFTER = 2.0         # seconds before a progress bar appears


def parse_memory(limit) -> int:
    """``None`` (the default budget), a number of bytes, or a size such as
    ``"8GB"``, ``"512 MiB"``, ``"2g"`` (K/M/G/T are powers of 1024)."""
    if limit is None:
        return DEFAULT_MEMORY
    if isinstance(limit, (int, float)) and not isinstance(limit, bool):
        if not (math.isfinite(limit) and limit > 0):
            raise NtkError(f"memory_limit must be a positive size, not {limit!r}")
        return int(limit)
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?\s*", str(limit), re.I)
    if not m or float(m.group(1)) <= 0:
        raise NtkError(f"memory_limit {limit!r} is not a size such as '8GB' or '512MiB'")
    scale = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[m.group(2).upper()]
    return int(float(m.group(1)) * scale)


@dataclass(frozen=True)
class Plan:
    """``rows × cols`` blocks over an ``n1 × n2`` Gram; ``sym``: x2 is x1."""
    n1: int
    n2: int
    rows: int
    cols: int
    sym: bool

    @property
    def single(self) -> bool:
        return self.rows >= self.n1 and self.cols >= self.n2

    def blocks(self):
        """(row start, column start) of every block computed, row by row."""
        for r in range(0, self.n1, self.rows):
            for c in range(0, self.n2, self.cols):
                if not self.sym or c >= r:
                    yield r, c

    def count(self) -> int:
        return sum(1 for _ in self.blocks())


def plan(n1: int, n2: int, sym: bool, per_pair: int, memory_limit=None,
         batch_size: int | None = None, devices: int = 1, platform: str = "cpu") -> Plan:
    """Block sizes: ``batch_size`` when given, otherwise the largest square
    blocks whose working set fits both the memory budget and the speed target
    for ``platform`` (``BLOCK_WORK``), balanced so the last block is not mostly
    padding. A symmetric Gram in several blocks computes only those on and
    above the diagonal; with several devices there are enough blocks to give
    each one work."""
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise NtkError(f"batch_size must be a whole number >= 1, not {batch_size!r}")
        return Plan(n1, n2, batch_size, batch_size, sym)
    budget = parse_memory(memory_limit)
    if budget < per_pair and memory_limit is not None:
        raise NtkError(f"memory_limit={memory_limit!r} is below the {per_pair} bytes that "
                       f"one example pair needs at this network's widest layer")
    target = min(budget, BLOCK_WORK.get(platform, ACCEL_BLOCK_WORK))
    pairs = max(1, target // max(per_pair, 1))
    if sym:
        blocks = math.ceil(n1 / max(1, math.isqrt(pairs)))
        if devices > 1:
            blocks = max(blocks, min(2, n1))
        size = math.ceil(n1 / blocks)
        return Plan(n1, n2, size, size, sym)
    if n1 * n2 <= pairs and devices == 1:
        return Plan(n1, n2, n1, n2, sym)
    side = max(1, math.isqrt(pairs))
    rows = min(n1, side)
    cols = min(n2, max(1, pairs // rows))
    if devices > 1 and rows >= n1 and cols >= n2:
        rows = math.ceil(n1 / 2) if n1 > 1 else rows
    rows = math.ceil(n1 / math.ceil(n1 / rows))
    cols = math.ceil(n2 / math.ceil(n2 / cols))
    return Plan(n1, n2, rows, cols, sym)


def run(fn, a, b, plan: Plan, count: int, devices, progress=None, bar=None):
    """Evaluate ``fn(x1, x2, g1, g2) -> tuple of (rows, cols) blocks`` on every
    block of ``plan`` and assemble the ``count`` full matrices (NumPy).

    Blocks go to ``devices`` in turn with at most one in flight per device, so
    the devices work concurrently while memory holds one block's working set
    per device. With ``plan.sym`` (b is a), a block above the diagonal is also
    written, transposed, below it, and diagonal blocks are symmetrised.
    ``bar``: a tqdm bar to advance per block instead of a new one (a Gram
    store computing this plan as one chunk of a larger Gram)."""
    b = a if plan.sym else b
    rows_in, cols_in = _host(a), _host(b)
    dtype = rows_in[0].dtype
    out = [np.empty((plan.n1, plan.n2), dtype) for _ in range(count)]
    own = bar is None
    if own:
        bar = progress_bar(plan.count(), progress)
    pending = deque()

    def collect():
        r, c, res = pending.popleft()
        h, w = min(plan.rows, plan.n1 - r), min(plan.cols, plan.n2 - c)
        for k, block in enumerate(res):
            block = np.asarray(block)[:h, :w]
            if plan.sym and r == c:
                block = (block + block.T) / 2
            out[k][r:r + h, c:c + w] = block
            if plan.sym and r != c:
                out[k][c:c + w, r:r + h] = block.T
        bar.update(1)

    for t, (r, c) in enumerate(plan.blocks()):
        if len(pending) >= len(devices):
            collect()
        dev = devices[t % len(devices)]
        xa = _put(_cut(rows_in, r, plan.rows), dev)
        xb = _put(_cut(cols_in, c, plan.cols), dev)
        pending.append((r, c, fn(xa[0], xb[0], xa[1], xb[1])))
    while pending:
        collect()
    if own:
        bar.close()
    return out


def _host(x):
    feats, graphs = x
    return (np.asarray(feats), None if graphs is None else tuple(np.asarray(g) for g in graphs))


def _cut(x, start, size):
    """Examples start … start+size of x, zero-padded to exactly ``size``."""
    def cut(arr):
        part = arr[start:start + size]
        pad = size - part.shape[0]
        if pad:
            part = np.concatenate([part, np.zeros((pad,) + part.shape[1:], part.dtype)])
        return part
    feats, graphs = x
    return cut(feats), None if graphs is None else tuple(cut(g) for g in graphs)


def _put(x, device):
    return jax.device_put(x, device)


def progress_bar(total: int, enabled=None, unit: str = "block", initial: int = 0):
    """A ``tqdm.auto`` bar of ``total`` blocks on stderr (a widget in a
    Jupyter notebook) that appears once a run has taken PROGRESS_AFTER
    seconds. By default it is shown when stdout and stderr are both terminals
    or in a notebook, and the work has several blocks; ``enabled=True`` or
    ``False`` overrides that. ``initial``: blocks already done (a resumed
    Gram store), not counted in the rate."""
    from tqdm.auto import tqdm
    if enabled is None:
        notebook = any(c.__name__ == "tqdm_notebook" for c in tqdm.__mro__)
        enabled = total - initial > 1 and (notebook or (_tty(sys.stdout) and _tty(sys.stderr)))
    return tqdm(total=total, initial=initial, desc="ntkc kernel", unit=unit, disable=not enabled,
                delay=PROGRESS_AFTER, file=sys.stderr, dynamic_ncols=True)


def _tty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
