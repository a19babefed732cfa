"""The value every kernel rule maps: the (Σ, Θ) pair plus what activations need.

For a batch pair (x1, x2) with spatial axes S, a state holds

* ``nngp`` Σ(x1, x2) and ``ntk`` Θ(x1, x2), shaped ``(N1, N2, *P)``;
* ``cov1`` Σ(x1, x1) per example ``(N1, *P)`` and ``cov2`` likewise, whose
  same-position diagonals are the variances the next activation needs;

where the position-pair axes ``P`` are ``S + S`` (every pair of positions,
``diag=False``) or ``S`` (same-position pairs only, ``diag=True``). Which of the
two a layer sees is decided once by the compiler's demand analysis, never by
the rule itself. ``self_diag`` says that ``cov1`` and ``cov2`` hold only their
same-position pairs while the cross-covariances hold every pair (where no
later layer reads more of them than their variances; ``pairs_diag(which)``
gives any array's layout). With ``x2`` omitted, ``cov2`` is ``cov1`` and is not computed
twice.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class PaddedGraphs:
    """One side's graph structure inside the compiled function: the
    (adjacency, mask) of ``ntkc.Graphs.padded()``, as traced arrays."""
    adjacency: Any  # (N, V, V), non-negative weights, zero on padded rows/columns
    mask: Any       # (N, V), 1 for a real node, 0 for padding


@dataclass(frozen=True)
class State:
    nngp: Any
    ntk: Any | None
    cov1: Any
    cov2: Any
    diag: bool
    nspatial: int
    same: bool = False          # x2 is x1: cov2 is cov1, graphs2 is graphs1
    self_diag: bool = False     # cov1, cov2: same-position pairs only
    graphs1: PaddedGraphs | None = None
    graphs2: PaddedGraphs | None = None

    def rule_kernel(self, rule):
        """The function of ``rule`` that maps this kind of state (a layout
        with its own rules, ``ntkc.graphjoint.JointState``, picks another)."""
        return rule.kernel

    def replace(self, **changes) -> "State":
        return dataclasses.replace(self, **changes)

    def pairs_diag(self, which: str) -> bool:
        """Whether the array ``which`` ("cov1", "cov2", "cross") holds only
        same-position pairs."""
        return self.diag or (self.self_diag and which != "cross")

    def map(self, f: Callable[[Any, str], Any], ntk: bool = True) -> "State":
        """Apply ``f(array, which)`` to every covariance; ``which`` is ``"cov1"``,
        ``"cov2"`` or ``"cross"`` (for Σ and Θ). With ``ntk=False`` Θ is left
        untouched."""
        cov1 = f(self.cov1, "cov1")
        cov2 = cov1 if self.same else f(self.cov2, "cov2")
        nngp = f(self.nngp, "cross")
        theta = f(self.ntk, "cross") if (ntk and self.ntk is not None) else self.ntk
        return self.replace(cov1=cov1, cov2=cov2, nngp=nngp, ntk=theta)

    def combine(self, other: "State", a: float = 1.0, b: float = 1.0) -> "State":
        """``a·self + b·other``, field by field (states of uncorrelated paths);
        if one keeps only same-position pairs, so does the result."""
        if self.diag != other.diag:
            return self.to_diag().combine(other.to_diag(), a, b)
        if self.self_diag != other.self_diag:
            return self.self_to_diag().combine(other.self_to_diag(), a, b)

        def lin(u, v):
            return None if u is None or v is None else a * u + b * v
        cov1 = lin(self.cov1, other.cov1)
        cov2 = cov1 if self.same else lin(self.cov2, other.cov2)
        return self.replace(nngp=lin(self.nngp, other.nngp), ntk=lin(self.ntk, other.ntk),
                            cov1=cov1, cov2=cov2)

    def scale(self, a: float) -> "State":
        """``a·self`` (a branch weighted inside Concat)."""
        return self.map(lambda x, which: a * x)

    # -- views used by activations and readouts --------------------------------
    def variances(self, side: int):
        """Σ(x, x) at each position, ``(N, *S)``, for side 1 or 2."""
        cov = self.cov1 if side == 1 else self.cov2
        if self.diag or self.self_diag or self.nspatial == 0:
            return cov
        return _pair_diagonal(cov, self.nspatial)

    def pair_variances(self, which: str):
        """The variances (v1, v2) broadcastable against the array ``which``."""
        d = self.nspatial
        v1 = self.variances(1)
        v2 = v1 if self.same else self.variances(2)
        if which == "cov2":
            v1 = v2
        if which == "cross":
            v1 = v1[:, None]
            v2 = v2[None, :]
        elif which == "cov1":
            v2 = v1
        if self.pairs_diag(which) or d == 0:
            return v1, v2
        # full pairs (*S, *S): the first position indexes v1, the second v2
        ones = (1,) * d
        v1 = v1.reshape(v1.shape + ones)
        v2 = v2.reshape(v2.shape[: v2.ndim - d] + ones + v2.shape[v2.ndim - d:])
        return v1, v2

    def to_diag(self) -> "State":
        """Keep only same-position pairs."""
        if self.diag or self.nspatial == 0:
            return self.replace(diag=True)
        d = self.nspatial
        return self.map(lambda a, which: a if self.pairs_diag(which) else _pair_diagonal(a, d)
                        ).replace(diag=True, self_diag=False)

    def self_to_diag(self) -> "State":
        """Keep only the same-position pairs of the self-covariances."""
        if self.diag or self.self_diag or self.nspatial == 0:
            return self
        cov1 = _pair_diagonal(self.cov1, self.nspatial)
        cov2 = cov1 if self.same else _pair_diagonal(self.cov2, self.nspatial)
        return self.replace(cov1=cov1, cov2=cov2, self_diag=True)


STRIDED_DIAGONAL = 64   # positions from which the diagonal is a strided slice


def _pair_diagonal(a, d: int):
    """``a[..., p, q] -> a[..., p, p]`` for d spatial axes laid out as (*S, *S).

    The P same-position pairs are every (P + 1)-th element of the P² pairs, so
    a strided slice of the flattened pairs reads just them. (An einsum such as
    ``xabab->xab`` lowers on XLA:CPU to a masked select over all P² pairs and
    a reduction: on 32×32 images ~13× a full pass over the pair array, paid
    for every activation's variances.)"""
    lead = a.shape[: a.ndim - 2 * d]
    spatial = a.shape[a.ndim - d:]
    p = math.prod(spatial)
    if p < STRIDED_DIAGONAL:
        # few positions (graphs of tens of nodes): a masked sum fuses with the
        # producer; the slice did not (W4, 20 nodes: a 40×40 block 7.5 → 10.7 ms)
        eye = jnp.eye(p, dtype=a.dtype)
        return (a.reshape(lead + (p, p)) * eye).sum(-1).reshape(lead + spatial)
    flat = a.reshape(lead + (p * p,))
    return jax.lax.slice_in_dim(flat, 0, p * p, stride=p + 1, axis=-1).reshape(lead + spatial)


def materialise(x, fn=None):
    """``fn(x)`` (default: ``x``) with ``x`` computed into memory once, rather
    than fused into, and recomputed by, each read of it inside ``fn`` (a
    window's shifted slices, a broadcast over pairs). XLA:CPU expands
    ``lax.optimization_barrier`` before fusion, so a conditional, whose operand
    XLA must materialise, stands in for it. Both branches give ``fn(x)``
    (``x * 1`` equals ``x`` for every float, NaN and ±Inf included), so the
    predicate only has to be unknown at compile time."""
    fn = (lambda a: a) if fn is None else fn
    pred = x.reshape(-1)[0] >= 0
    return jax.lax.cond(pred, fn, lambda a: fn(a * 1), x)
