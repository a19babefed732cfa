"""Empirical kernels of finite networks: the Monte Carlo half of verification.

For a batch of parameter draws of a :class:`~ntkc.finite.FiniteNet`, the
empirical NNGP and NTK at any layer's output (a :class:`Probe`), assembled
block by block within a memory budget. :mod:`ntkc.verification` holds these draws
against the compiled kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .finite import FiniteNet


@dataclass(frozen=True)
class Probe:
    """Where to measure the empirical kernels: the output of the layer at
    ``path`` (None: the network's output), every position pair or same-position
    pairs only (``diag``), and for the NTK only the flat positions ``ntk_at``."""
    path: tuple | None = None
    diag: bool = True
    ntk_at: tuple = (0,)


def empirical_draws(fnet: FiniteNet, x1, ctx1=None, x2=None, ctx2=None, samples: int = 8,
                    seed: int = 0, probes=(Probe(),), ntk_outputs: int = 1,
                    memory: float = 2**30):
    """Per-draw empirical kernels of ``samples`` networks drawn from ``seed``.

    For a draw θ and a probe reading h(x) of shape (*S, C), with S flattened:

    * NNGP  K̂(x, x')[p, q] = (1/C) Σ_c h_pc(x) h_qc(x'), every (p, q) pair
      (or p = q with ``diag``);
    * NTK   T̂(x, x')[p, q] = (1/k) Σ_r ⟨∂g_pr(x)/∂θ, ∂g_qr(x')/∂θ⟩ over all
      parameters, where g_pr = Σ_c a_cr h_pc and a_1..a_k (k = ``ntk_outputs``)
      are independent Rademacher directions ±1/√C drawn with θ. E[a aᵀ] = I/C,
      so T̂ is unbiased for the channel mean of the per-channel NTK, at the
      cost of k vector-Jacobian products per example instead of C: every
      channel's own term enters with weight exactly 1/C, only the cross terms
      (mean zero) are sampled. With k ≥ C the directions are the channels
      themselves and T̂ is that mean exactly; after a Dense readout g is
      distributed exactly as one output channel.

    Jacobians are formed per example with ``vmap(jacrev)`` and contracted
    leaf by leaf; when a draw's rows would exceed ``memory`` bytes the
    examples are split into chunks and the Gram is assembled block by block
    (never the full (N·k × P) Jacobian at once). Draws are vmapped in groups
    sized to the same budget. Returns a list (one per probe) of (nngp, ntk)
    float64 numpy arrays shaped (samples, N1, N2, *pairs).
    """
    same = x2 is None
    ctx1 = ctx1 or {}
    n1 = x1.shape[0]
    n2 = n1 if same else x2.shape[0]
    fns = _draw_fns(fnet, tuple(probes), ntk_outputs)
    # Jacobian bytes per example: each group's rows times the parameters they
    # reach, doubled for the backward pass's temporaries.
    per_example = 2 * fnet.dtype.itemsize * sum(
        sum(len(probes[n].ntk_at) * fns.counts[n] for n in members) * fnet.num_params(top + 1)
        for top, members in fns.groups.items())
    chunk = int(max(1, min(max(n1, n2), memory // (2 * per_example))))
    group = int(max(1, min(samples, memory // (2 * chunk * per_example))))

    pieces = []
    for start in range(0, samples, group):
        ids = [min(s, samples - 1) for s in range(start, start + group)]  # pad the last group
        draws = [fnet.sample(seed, s, fns.channels, fns.counts) for s in ids]
        params = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[d[0] for d in draws])
        dirs = [jnp.stack(d) for d in zip(*[d[1] for d in draws])]
        blocks = _assemble(fns, params, dirs, (x1, ctx1), None if same else (x2, ctx2 or {}),
                           n1, n2, chunk)
        take = min(group, samples - start)
        pieces.append([(nn[:take], nt[:take]) for nn, nt in blocks])
    return [(np.concatenate([p[i][0] for p in pieces]), np.concatenate([p[i][1] for p in pieces]))
            for i in range(len(probes))]


@dataclass(frozen=True)
class _DrawFns:
    cross: object     # jitted, vmapped over draws: (params, dirs, a, b) -> blocks
    sym: object       # the same with b = a
    channels: tuple   # C of each probe's output
    counts: tuple     # directions per probe, min(k, C)
    groups: dict      # top-level layer index -> the probes inside it


def _draw_fns(fnet, probes, k) -> _DrawFns:
    """The jitted per-block functions, cached on the FiniteNet per probe set."""
    cache = fnet.__dict__.setdefault("_draw_cache", {})
    if (probes, k) not in cache:
        cache[(probes, k)] = _make_draw_fns(fnet, probes, k)
    return cache[(probes, k)]


def _make_draw_fns(fnet, probes, k) -> _DrawFns:
    last = (len(fnet.layers) - 1,)

    def features(params, x, ctx):
        """Per probe (N, |S|, C) for a batch."""
        rec = fnet.intermediates(params, x, ctx)
        hs = [rec[last if p.path is None else p.path] for p in probes]
        return [h.reshape(h.shape[0], -1, h.shape[-1]) for h in hs]

    # Probes grouped by the top-level layer they sit in: a probe inside layer i
    # depends only on params[:i + 1], so its Jacobian is taken w.r.t. those
    # alone (later layers would add rows of zeros the size of their weights).
    groups = {}
    for n, p in enumerate(probes):
        groups.setdefault((last if p.path is None else p.path)[0], []).append(n)

    def jac(params, x, ctx, dirs, top, members):
        def rows(head, tail, x, ctx):
            """One example's NTK rows for the group: concat of h[ntk_at] @ a."""
            hs = features(list(head) + list(tail), x[None], {n: v[None] for n, v in ctx.items()})
            return jnp.concatenate([(hs[n][0][jnp.asarray(probes[n].ntk_at)] @ dirs[n]).ravel()
                                    for n in members])

        head, tail = params[:top + 1], params[top + 1:]
        if not jax.tree_util.tree_leaves(head):  # no parameters yet (e.g. a leading GraphAgg)
            return []
        j = jax.vmap(jax.jacrev(rows), in_axes=(None, None, 0, 0))(head, tail, x, ctx)
        return [a.reshape(a.shape[0], a.shape[1], -1) for a in jax.tree_util.tree_leaves(j)]

    def ntk_blocks(params, dirs, a, b):
        """Per probe (N1, N2, m[, m]) NTK, mean over its directions."""
        out = [None] * len(probes)
        for top, members in groups.items():
            ja = jac(params, a[0], a[1], dirs, top, members)
            jb = ja if b is None else jac(params, b[0], b[1], dirs, top, members)
            r0 = 0
            for n in members:
                m, kk = len(probes[n].ntk_at), counts[n]
                width = m * kk
                n1, n2 = a[0].shape[0], (a if b is None else b)[0].shape[0]
                t = sum((jnp.einsum("irp,jsp->ijrs", u[:, r0:r0 + width], v[:, r0:r0 + width])
                         for u, v in zip(ja, jb)), jnp.zeros((n1, n2, width, width), fnet.dtype))
                t = jnp.einsum("ijakbk->ijab", t.reshape(t.shape[:2] + (m, kk, m, kk))) / kk
                out[n] = jnp.einsum("ijaa->ija", t) if probes[n].diag else t
                r0 += width
        return out

    def block(params, dirs, a, b):
        ha = features(params, *a)
        hb = ha if b is None else features(params, *b)
        nngps = []
        for p, u, v in zip(probes, ha, hb):
            spec = "ipc,jpc->ijp" if p.diag else "ipc,jqc->ijpq"
            nngps.append(jnp.einsum(spec, u, v) / u.shape[-1])
        return list(zip(nngps, ntk_blocks(params, dirs, a, b)))

    params0 = jax.eval_shape(fnet.init, jax.random.PRNGKey(0))
    x0 = jax.ShapeDtypeStruct((1,) + _example_shape(fnet), fnet.dtype)
    hs0 = jax.eval_shape(lambda p, x: features(p, x, fnet._ctx_example), params0, x0)
    channels = tuple(int(h.shape[-1]) for h in hs0)
    counts = tuple(min(k, c) for c in channels)
    cross = jax.jit(jax.vmap(block, in_axes=(0, 0, None, None)))
    sym = jax.jit(jax.vmap(lambda params, dirs, a: block(params, dirs, a, None), in_axes=(0, 0, None)))
    return _DrawFns(cross, sym, channels, counts, groups)


def _example_shape(fnet):
    shape = fnet.net.input
    v = 3 if shape.kind == "graph" else None
    return tuple(v if s is None else s for s in shape.spatial) + (shape.channels,)


def _assemble(fns, params, dirs, a, b, n1, n2, chunk):
    """Run the block functions over example chunks and stitch the Gram together."""
    same = b is None
    b = a if same else b

    def cut(batch, start, n):
        x, ctx = batch
        stop = min(start + chunk, n)
        def one(arr):
            part = arr[start:stop]
            if chunk < n and stop - start < chunk:  # pad the last chunk so shapes repeat
                part = jnp.concatenate([part, jnp.zeros((chunk - (stop - start),) + part.shape[1:],
                                                        part.dtype)])
            return part
        return (one(x), {name: one(v) for name, v in ctx.items()}), stop - start

    out = None
    for i, s1 in enumerate(range(0, n1, chunk)):
        ca, h1 = cut(a, s1, n1)
        for j, s2 in enumerate(range(0, n2, chunk)):
            if same and j < i:
                continue
            if same and i == j:
                res = fns.sym(params, dirs, ca)
            else:
                res = fns.cross(params, dirs, ca, cut(b, s2, n2)[0])
            h2 = min(chunk, n2 - s2)
            res = [tuple(np.asarray(t, np.float64)[:, :h1, :h2] for t in r) for r in res]
            if out is None:
                out = [tuple(np.zeros(t.shape[:1] + (n1, n2) + t.shape[3:]) for t in r) for r in res]
            for (nn, nt), (bn, bt) in zip(out, res):
                nn[:, s1:s1 + h1, s2:s2 + h2] = bn
                nt[:, s1:s1 + h1, s2:s2 + h2] = bt
                if same and i != j:
                    nn[:, s2:s2 + h2, s1:s1 + h1] = _swap(bn)
                    nt[:, s2:s2 + h2, s1:s1 + h1] = _swap(bt)
    return out


def _swap(block):
    """K(x', x)[p, q] = K(x, x')[q, p]: swap examples and, for pairs, positions."""
    t = np.swapaxes(block, 1, 2)
    return np.swapaxes(t, 3, 4) if t.ndim == 5 else t
