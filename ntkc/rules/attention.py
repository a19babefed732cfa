"""SelfAttention over all positions of a sequence or an image, as
``stax.GlobalSelfAttention(..., linear_scaling=True)`` (Hron et al. 2020,
"Infinite attention: NNGP and NTK for deep attention networks").

The finite layer (NTK parameterization, input h of C channels at positions
p, flattened over the spatial axes; per head one matrix W_K gives both the
keys W_key_std·h W_K/√C and the queries W_query_std·h W_K/√C: keys and
queries are tied; the logits are scaled by 1/n_K, not 1/√n_K)

    G_h(p, p') = ρ( W_query_std·W_key_std/(C·n_K) · Σ_k (h W_K,h)_pk (h W_K,h)_p'k )
    f(p)       = W_out_std·W_value_std/√(C·H·n_V) · Σ_{h,v,p'} G_h(p, p') (h W_V,h)_p'v W_O,(hv) + b_std·b

with ρ the *mechanism*: softmax over p' ("softmax"), the identity, |·| or
max(·, 0), applied to the logits. As C, n_K → ∞ the logits converge to the
deterministic QK·Σ(x, x)(p, p'), QK = W_query_std·W_key_std (tying keys and
queries is what keeps them from vanishing), so every head has the same
attention matrix

    G_x(p, p') = ρ(QK · Σ(x, x)(p, p'))      (softmax normalised over p'),

built from the input's own covariance, and with OV = W_out_std·W_value_std

    Σ'(x, x')(p, q) = OV² · Σ_{p', q'} G_x(p, p') Σ(x, x')(p', q') G_x'(q, q') + b_std²,
    Θ'(x, x')(p, q) = OV² · Σ_{p', q'} G_x(p, p') Θ(x, x')(p', q') G_x'(q, q')
                      + 2·(Σ'(x, x')(p, q) − b_std²) + b_std².

In Θ' the value and output weights each contribute OV²·G Σ Gᵀ, the bias
b_std², and the earlier layers their Θ carried through the same attention
matrices; the key weights (and the dependence of G on earlier parameters
through Σ(x, x)) contribute nothing in the limit: G depends on them only
through averages over C·n_K terms. Only the products QK and OV matter, as in
stax. The output is Gaussian again (a weight layer), so an activation may
follow. It needs Σ at every pair of positions of each input (its demand is
full pairs), and writes every pair.

Positional embeddings (stax's ``pos_emb_type`` and its companions,
``ntkc/rules/_pos_emb.py``) replace Σ(x, x) in G by the embedded input's
a·Σ(x, x) + c·R, with R the embeddings' fixed covariance over positions;
with ``val_pos_emb`` the values read the embedded input too, and Σ, Θ in
Σ', Θ' become a·Σ + c·R, a·Θ + c·R (the embeddings are trained parameters).

Not supported (yet): masks for variable-length sequences, graph inputs, and
``linear_scaling=False`` (1/√n_K logits, for which no closed form exists
beyond the identity).

The finite network (``init``/``apply``, for ``ntkc verify``) uses, with w =
max(c_in, c_out) the hidden width, H = min(4, max(1, w // 16)) heads, key
width n_K = w per head (the kernel's finite-width bias falls like 1/n_K) and
value width n_V = max(1, w // H) per head. The kernel does not depend on H.
With positional embeddings it draws E ~ N(0, 1) of shape (P, C_e) and
embeds W_pos_emb_std·R^{1/2} E (``_pos_emb.embedding_width`` gives C_e).
"""

import math

import jax
import jax.numpy as jnp

from ..registry import LayerRule, Param, ShapeError, register
from . import _pos_emb

MECHANISMS = ("softmax", "identity", "abs", "relu")


def shape(s, args):
    if s.kind not in ("sequence", "image"):
        raise ShapeError("SelfAttention needs a sequence or an image (it attends over positions), "
                         f"but its input is {s.with_article()}")
    _pos_emb.check(s, args)
    return s.with_width(None)  # stax's n_chan_out, a finite-net setting here


def _full(args, out_diag):
    return False  # G is built from Σ(x, x) at every position pair


def _mechanism(logits, name):
    """ρ of the logits; softmax over the last axis (the attended position)."""
    if name == "softmax":
        return jax.nn.softmax(logits, axis=-1)
    if name == "identity":
        return logits
    if name == "abs":
        return jnp.abs(logits)
    return jnp.maximum(logits, 0)


def _flat(a, d):
    """(..., *S, *S) → (..., P, P)."""
    lead = a.shape[:a.ndim - 2 * d]
    p = 1
    for s in a.shape[a.ndim - d:]:
        p *= s
    return a.reshape(lead + (p, p))


def kernel(state, args, in_shape):
    if state.diag:  # demand analysis always hands this rule every position pair
        raise AssertionError("SelfAttention needs every position pair")
    d = in_shape.nspatial
    spatial = tuple(in_shape.spatial)
    qk = args["W_query_std"] * args["W_key_std"]
    ov2 = (args["W_out_std"] * args["W_value_std"]) ** 2
    b2 = args["b_std"] ** 2
    mech = args["mechanism"]

    cov1, cov2 = _flat(state.cov1, d), _flat(state.cov2, d)
    nngp, theta = _flat(state.nngp, d), None if state.ntk is None else _flat(state.ntk, d)
    keys1, keys2 = cov1, cov2
    if _pos_emb.used(args):
        a, c = _pos_emb.weights(args, in_shape)
        r = c * jnp.asarray(_pos_emb.covariance(spatial, args["pos_emb_p_norm"],
                                                args["pos_emb_decay"]), cov1.dtype)
        keys1, keys2 = a * cov1 + r, a * cov2 + r
        if args["val_pos_emb"]:
            cov1, cov2, nngp = keys1, keys2, a * nngp + r
            theta = None if theta is None else a * theta + r
    g1 = _mechanism(qk * keys1, mech)                         # (N1, P, P)
    g2 = g1 if state.same else _mechanism(qk * keys2, mech)   # (N2, P, P)

    def unflat(a):
        return a.reshape(a.shape[:-2] + spatial + spatial)

    def own(g, cov):
        """G Σ(x, x) Gᵀ per example."""
        return g @ cov @ jnp.swapaxes(g, -1, -2)

    def cross(a):
        """G_x A(x, x') G_x'ᵀ for every example pair: (N1, N2, P, P)."""
        return (g1[:, None] @ a) @ jnp.swapaxes(g2, -1, -2)[None]

    new_cov1 = unflat(ov2 * own(g1, cov1) + b2)
    new_cov2 = new_cov1 if state.same else unflat(ov2 * own(g2, cov2) + b2)
    weighted = ov2 * cross(nngp)
    ntk = None if theta is None else unflat(ov2 * cross(theta) + 2 * weighted + b2)
    nngp = unflat(weighted + b2)
    return state.replace(nngp=nngp, ntk=ntk, cov1=new_cov1, cov2=new_cov2)


def symbolic(args, in_shape):
    """For ``explain``: G_x = ρ(QK·Σ(x, x)), Σ' = OV²·G Σ G'ᵀ + b_std²,
    Θ' = OV²·G Θ G'ᵀ + 2·OV²·G Σ G'ᵀ + b_std² (value and output weights);
    positional embeddings as the ``Attend`` form's fields."""
    from ..symbolic import Attend, const
    qk = const(args["W_query_std"]) * const(args["W_key_std"])
    ov2 = (const(args["W_out_std"]) * const(args["W_value_std"])) ** 2
    if not _pos_emb.used(args):
        return Attend(qk, args["mechanism"], ov2, const(args["b_std"]) ** 2, grad=2)
    a, c = _pos_emb.weights(args, in_shape)
    decay = args["pos_emb_decay"]
    return Attend(qk, args["mechanism"], ov2, const(args["b_std"]) ** 2, grad=2,
                  input_weight=const(a), pos_weight=const(c),
                  pos_decay=None if decay is None else const(decay),
                  pos_p_norm=const(args["pos_emb_p_norm"]), pos_values=args["val_pos_emb"])


def _mc_bias(args):
    # Σ̂(x, x)'s fluctuations enter G and the output multiplicatively: measured
    # (benchmarks/mc_bias.py, 1024 draws at widths 16 and 32) the bias is about
    # 3/width with softmax and 20/width unnormalised; these leave a margin of 1.5.
    return 5.0 if args["mechanism"] == "softmax" else 30.0


def _sizes(c_in, c_out):
    """(heads, key width, value width) of the finite layer."""
    w = max(c_in, c_out)
    heads = min(4, max(1, w // 16))
    return heads, w, max(1, w // heads)


def _in_widths(args, c_in):
    """(embedding channels, channels the keys read, channels the values read)."""
    if not _pos_emb.used(args):
        return 0, c_in, c_in
    c_emb = _pos_emb.embedding_width(args, c_in)
    c_keys = c_in + c_emb if args["pos_emb_type"] == "concat" else c_in
    return c_emb, c_keys, c_keys if args["val_pos_emb"] else c_in


def init(key, c_in, c_out, args, nspatial):
    heads, n_key, n_val = _sizes(c_in, c_out)
    c_emb, c_keys, c_vals = _in_widths(args, c_in)
    kk, kv, ko, kb = jax.random.split(key, 4)
    # The query weights are the key weights (tied), as stax's linear scaling.
    params = {"K": jax.random.normal(kk, (heads, c_keys, n_key)),
              "V": jax.random.normal(kv, (heads, c_vals, n_val)),
              "O": jax.random.normal(ko, (heads * n_val, c_out)),
              "b": jax.random.normal(kb, (c_out,))}
    if c_emb:
        positions = math.prod(args["in_shape"].spatial)
        params["E"] = jax.random.normal(jax.random.fold_in(key, 4), (positions, c_emb))
    return params


def _embedded(params, h, args):
    """The inputs of the keys and of the values, (N, P, ·): h with the
    positional embeddings W_pos_emb_std·L e (L Lᵀ = R) added or appended."""
    if "E" not in params:
        return h, h
    spatial = tuple(args["in_shape"].spatial)
    root = _pos_emb.square_root(spatial, args["pos_emb_p_norm"], args["pos_emb_decay"])
    emb = args["W_pos_emb_std"] * (jnp.asarray(root, h.dtype) @ params["E"])      # (P, C_e)
    if args["pos_emb_type"] == "sum":
        keys_in = h + emb
    else:
        a, c = _pos_emb.finite_scales(args, h.shape[-1], emb.shape[-1])
        keys_in = jnp.concatenate([a * h, jnp.broadcast_to(c * emb, h.shape[:2] + emb.shape[1:])], -1)
    return keys_in, keys_in if args["val_pos_emb"] else h


def apply(params, x, args, ctx):
    n, spatial = x.shape[0], x.shape[1:-1]
    heads, _, n_key = params["K"].shape
    n_val = params["V"].shape[-1]
    h = x.reshape(n, -1, x.shape[-1])                              # (N, P, C)
    h, h_val = _embedded(params, h, args)
    keys = jnp.einsum("npc,hck->hnpk", h, params["K"])
    logits = (args["W_query_std"] * args["W_key_std"] / (h.shape[-1] * n_key)) * \
        jnp.einsum("hnpk,hnqk->hnpq", keys, keys)
    g = _mechanism(logits, args["mechanism"])
    values = jnp.einsum("npc,hcv->hnpv", h_val, params["V"])
    mixed = jnp.einsum("hnpq,hnqv->nphv", g, values).reshape(n, h.shape[1], heads * n_val)
    scale = args["W_out_std"] * args["W_value_std"] / jnp.sqrt(h_val.shape[-1] * heads * n_val)
    out = scale * (mixed @ params["O"]) + args["b_std"] * params["b"]
    return out.reshape((n,) + spatial + (out.shape[-1],))


register(LayerRule(
    name="SelfAttention",
    params=(Param("mechanism", "str", "softmax", choices=MECHANISMS,
                  doc="ρ applied to the logits: softmax over the attended position, or elementwise"),
            Param("W_query_std", "float", 1.0, low=0.0),
            Param("W_key_std", "float", 1.0, low=0.0),
            Param("W_value_std", "float", 1.0, low=0.0),
            Param("W_out_std", "float", 1.0, low=0.0),
            Param("b_std", "float", 0.0, low=0.0)) + _pos_emb.PARAMS,
    shape=shape, kernel=kernel, init=init, apply=apply, demand=_full, symbolic=symbolic,
    # A weight layer for correlation, Gaussianity and channel counts, but Θ' at
    # Θ = 0 is 2·(Σ' − b_std²) + b_std², not Σ': no zero-Θ shortcut is stated.
    fresh=True, gaussian_out="always", writes_width=True, mc_bias=_mc_bias, reads_shape=True,
    wide_input=_pos_emb.few_channels,
    doc="global self-attention, keys = queries, logits/n (stax linear_scaling): "
        "Σ' = OV²·G Σ G'ᵀ + b_std², G = ρ(QK·Σ(x,x)), Θ' = OV²·G Θ G'ᵀ + 2OV²·G Σ G'ᵀ + b_std²",
))
