"""The empirical NTK of one finite network at its current parameters.

For a :class:`~ntkc.finite.FiniteNet` f with parameters θ (any point of
training, not only a draw at initialization) and outputs f_c, c = 1..C:

    Θ̂_cd(x, x') = Σ_p ∂f_c(x)/∂θ_p · ∂f_d(x')/∂θ_p,

the sum over every scalar parameter p. Gradient flow on a loss ℓ(f(X)) moves
the outputs by df(x)/dt = −Σ_j Θ̂(x, x_j) ∂ℓ/∂f(x_j), so Θ̂ at the current θ is
the kernel the network trains with at that moment (the "data-dependent NTK"
of Fort et al. 2020). In the NTK parameterization Θ̂ at initialization tends
to the compiled Θ (times the identity on outputs) as the width grows.

How it is computed, and why: per example the Jacobian J(x) = ∂f(x)/∂θ, (C, P)
with P the parameter count, comes from reverse mode (``vmap(jacrev)``: C
backward passes per example), and Θ̂ = J(X₁) J(X₂)ᵀ is one matrix product per
parameter leaf. Examples go in blocks of ``batch`` rows, so at most two blocks'
Jacobians (2·batch·C·P numbers) are held at once and a few thousand examples
fit in any memory; the symmetric Θ̂(X, X) computes the blocks on and above the
diagonal only. benchmarks/empirical_ntk.py measured this against the implicit
form (Θ̂ v = J₁(J₂ᵀ v) by ``vjp`` then ``jvp``, no Jacobian stored) and chose it
(docs/finite.md has the numbers).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .errors import NtkError

_OUTPUTS = ("mean", "diag", "full")
_SPECS = {"mean": "icp,jcp->ij", "diag": "icp,jcp->ijc", "full": "icp,jdp->ijcd"}


def empirical_ntk(fnet, params, x1, x2=None, *, ctx1=None, ctx2=None, outputs: str = "mean",
                  batch: int | None = None, memory: float = 2**30):
    """Θ̂(x1, x2) of ``fnet`` at ``params`` (x2 omitted: Θ̂(x1, x1)).

    ``outputs`` says what is kept of the C×C output block Θ̂_cd(x, x'):

    * ``"mean"`` (default): (1/C) Σ_c Θ̂_cc, shaped (N1, N2) — stax's
      ``empirical_ntk_fn`` with ``trace_axes=(-1,)``, and what the compiled Θ
      describes (the infinite-width Θ̂ is Θ·I);
    * ``"diag"``: Θ̂_cc per output, (N1, N2, C);
    * ``"full"``: every Θ̂_cd, (N1, N2, C, C) (stax's ``trace_axes=()``).

    Examples are processed ``batch`` at a time (None: as many as keep one
    block's Jacobian, with the backward pass's temporaries, within ``memory``
    bytes); the result does not depend on ``batch``. For a graph net x1 and
    x2 are :class:`~ntkc.Graphs` (or GraphBatches, or lists of pairs: as in
    :meth:`FiniteNet.apply`); the old form, padded features with
    ``ctx1``/``ctx2`` holding ``adjacency`` (N, V, V) and ``mask`` (N, V),
    still works. Returns a float64 numpy array.
    """
    if outputs not in _OUTPUTS:
        raise NtkError(f"outputs={outputs!r}: give one of {', '.join(map(repr, _OUTPUTS))}")
    fnet.check_params(params)
    x1, ctx1 = fnet.graph_input(x1, ctx1, "x1")
    if x2 is not None:
        x2, ctx2 = fnet.graph_input(x2, ctx2, "x2")
    fnet.check_input(x1, "x1")
    if x2 is not None:
        fnet.check_input(x2, "x2")
    _check_ctx(ctx1, x1, "ctx1")
    _check_ctx(ctx2, x2, "ctx2")
    a = (jnp.asarray(x1, fnet.dtype), dict(ctx1 or {}))
    b = None if x2 is None else (jnp.asarray(x2, fnet.dtype), dict(ctx2 or {}))
    n1, n2 = len(a[0]), len(a[0] if b is None else b[0])
    if n1 == 0 or n2 == 0:
        raise NtkError(f"empirical_ntk needs at least one example (x1 has {n1}, x2 {n2})")
    c = fnet.out_channels
    if batch is None:
        # 3 copies of a block's Jacobian: the rows, the other block's rows and
        # the backward pass's temporaries.
        per_example = 3 * c * fnet.num_params() * fnet.dtype.itemsize
        batch = int(max(1, min(max(n1, n2), memory // per_example)))
    elif not (isinstance(batch, (int, np.integer)) and batch >= 1):
        raise NtkError(f"batch must be a whole number >= 1, not {batch!r}")
    ba, bb = int(min(batch, n1)), int(min(batch, n2))  # rows and columns per block
    jac, contract = _fns(fnet, outputs)
    out = np.zeros((n1, n2) + {"mean": (), "diag": (c,), "full": (c, c)}[outputs])
    same = b is None
    b = a if same else b
    # A row block's Jacobian is kept while its row of the Gram is filled.
    # Column blocks' Jacobians are all kept when they fit in half the budget
    # (each computed once; for Θ̂(X, X) they are the row blocks too), else
    # recomputed per row, never more than two held.
    keep = n2 * c * fnet.num_params() * fnet.dtype.itemsize <= memory / 2
    kept = {}

    def column(s2):
        if s2 in kept:
            return kept[s2]
        j = jac(params, *_block(b, s2, bb)[0])
        if keep:
            kept[s2] = j
        return j

    for s1 in range(0, n1, ba):
        h1 = min(ba, n1 - s1)
        ja = column(s1) if same else jac(params, *_block(a, s1, ba)[0])
        for s2 in range(s1 if same else 0, n2, bb):
            h2 = min(bb, n2 - s2)
            jb = ja if same and s2 == s1 else column(s2)
            t = np.asarray(contract(ja, jb), np.float64)[:h1, :h2]
            out[s1:s1 + h1, s2:s2 + h2] = t
            if same and s2 != s1:  # Θ̂_cd(x', x) = Θ̂_dc(x, x')
                out[s2:s2 + h2, s1:s1 + h1] = np.swapaxes(t, 0, 1) if t.ndim < 4 \
                    else np.transpose(t, (1, 0, 3, 2))
    return out


def _fns(fnet, outputs):
    """The jitted per-block Jacobian (one per network) and contraction (one
    per ``outputs``), cached on the network."""
    cache = fnet.__dict__.setdefault("_tangent_cache", {})
    if "jac" not in cache:
        def one(params, x, ctx):
            return fnet.apply(params, x[None], {k: v[None] for k, v in ctx.items()})[0]

        per_example = jax.vmap(jax.jacrev(one), in_axes=(None, 0, 0))

        def jac(params, x, ctx):
            j = per_example(params, x, ctx)
            return [leaf.reshape(leaf.shape[0], leaf.shape[1], -1)
                    for leaf in jax.tree_util.tree_leaves(j)]
        cache["jac"] = jax.jit(jac)
    if outputs not in cache:
        spec = _SPECS[outputs]

        def contract(ja, jb):
            t = sum(jnp.einsum(spec, u, v) for u, v in zip(ja, jb))
            return t / ja[0].shape[1] if outputs == "mean" else t
        cache[outputs] = jax.jit(contract)
    return cache["jac"], cache[outputs]


def _block(batch_ctx, start, size):
    """Rows start..start+size of (x, ctx), zero-padded to ``size`` so every
    block has one shape (one compilation); returns the block and its real rows."""
    x, ctx = batch_ctx
    stop = min(start + size, len(x))

    def cut(arr):
        part = arr[start:stop]
        if stop - start < size:
            part = jnp.concatenate([part, jnp.zeros((size - (stop - start),) + part.shape[1:],
                                                    part.dtype)])
        return part
    return (cut(x), {k: cut(jnp.asarray(v, x.dtype)) for k, v in ctx.items()}), stop - start


def _check_ctx(ctx, x, name):
    for key, v in (ctx or {}).items():
        if x is None or jnp.ndim(v) < 1 or jnp.shape(v)[0] != jnp.shape(x)[0]:
            n = None if x is None else jnp.shape(x)[0]
            raise NtkError(f"{name}[{key!r}] has shape {tuple(jnp.shape(v))}, expected "
                           f"{n} examples in its first axis")
