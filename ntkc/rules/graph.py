"""GraphAgg: neighbourhood aggregation h'_u = c_u · Σ_{v ∈ N(u) (∪ {u})} h_v.

With Â = c ⊙ (A (+ I)) per graph (c_u = 1 for "sum", 1/|N(u) (∪ {u})| for
"mean"; padded nodes have no edges and no self loop), the kernel is
Σ'(G, G') = Â Σ Â'ᵀ and Θ'(G, G') = Â Θ Â'ᵀ over node pairs.
``GraphAgg(self_loops=false)`` is ``stax.Aggregate()``.
"""

import jax.numpy as jnp

from ..registry import LayerRule, Param, ShapeError, register


def shape(s, args):
    if s.kind != "graph":
        raise ShapeError(f"GraphAgg needs a graph, but its input is {s.with_article()}")
    return s


def operator(adjacency, mask, args):
    """The per-graph aggregation matrix Â (N, V, V)."""
    a = adjacency
    if args["self_loops"]:
        a = a + mask[:, :, None] * jnp.eye(a.shape[-1], dtype=a.dtype)
    if args["norm"] == "mean":
        count = a.sum(-1, keepdims=True)
        a = a / jnp.where(count > 0, count, 1)
    return a


def demand(args, out_diag):
    return False  # every node pair feeds every other


def kernel(state, args, in_shape):
    a1 = operator(state.graphs1.adjacency, state.graphs1.mask, args)
    a2 = a1 if state.same else operator(state.graphs2.adjacency, state.graphs2.mask, args)

    # One three-operand einsum each: its contraction order keeps the
    # intermediate as (i, j, w, u), which saves XLA a transpose of the N1×N2×V×V
    # array over two nested two-operand einsums (~1.5× faster on CPU).
    def agg(x, which):
        if which == "cross":
            return jnp.einsum("iuv,ijvw,jxw->ijux", a1, x, a2, optimize="optimal")
        a = a1 if which == "cov1" else a2
        return jnp.einsum("iuv,ivw,ixw->iux", a, x, a, optimize="optimal")

    out = state.map(agg)
    if state.same:
        # a graph paired with itself: its self-covariance is read off the
        # aggregated Σ's own diagonal blocks, not aggregated apart (the two
        # einsums round differently), so a node paired with itself keeps
        # cos θ = 1 exactly, which arccos would turn into √ulp per layer
        cov = jnp.moveaxis(jnp.diagonal(out.nngp, axis1=0, axis2=1), -1, 0)
        out = out.replace(cov1=cov, cov2=cov)
    return out


def joint(state, args, in_shape):
    """On the joint node-pair layout (``ntkc.graphjoint``): the same Â per bin."""
    from ..graphjoint import aggregate
    return aggregate(state, lambda adjacency, mask: operator(adjacency, mask, args))


def symbolic(args, in_shape):
    """For ``explain``: Σ' = Â Σ Â'ᵀ, Θ' = Â Θ Â'ᵀ."""
    from ..symbolic import Affine, Aggregate
    return Affine(1, 0, weight=False, linear=Aggregate(args["self_loops"], args["norm"] == "mean"))


def apply(params, x, args, ctx):
    return jnp.einsum("nuv,nvc->nuc", operator(ctx["adjacency"], ctx["mask"], args), x)


register(LayerRule(
    name="GraphAgg",
    params=(Param("self_loops", "bool", True), Param("norm", "str", "sum", choices=("sum", "mean"))),
    shape=shape, kernel=kernel, apply=apply, demand=demand, symbolic=symbolic,
    theta_at_zero="zero", joint=joint,
    doc="Σ'(G,G') = Â Σ Â'ᵀ with Â = c·(A (+I)), c = 1 (sum) or 1/degree (mean)",
))
