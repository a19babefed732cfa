"""SelfAttention's positional embeddings, as stax.GlobalSelfAttention's
``pos_emb_type`` ("SUM" / "CONCAT"), ``pos_emb_p_norm``, ``pos_emb_decay_fn``,
``n_chan_pos_emb``, ``W_pos_emb_std`` and ``val_pos_emb``.

A finite layer draws one embedding e of C_e channels per position, shared by
every example, with covariance over positions R (R(p, q) = δ(p, q) when no
decay is given; ``pos_emb_decay=γ`` is stax's ``pos_emb_decay_fn=lambda d:
exp(-γ·d)`` of d(p, q) = Σ_axes |p_a − q_a|^p_norm), and scales it by
W_pos_emb_std. "sum" adds it to the layer's input h, "concat" appends it as
C_e more channels. The keys and queries always read the embedded input; the
values read it only with ``val_pos_emb=true``. At infinite width the
embedded input's covariance is the interpolation

    Σ_e = a·Σ + c·R,   a = 1, c = W_pos_emb_std²                (sum)
                       a = C/(C + C_e), c = W_pos_emb_std²·C_e/(C + C_e)   (concat)

with C the input's width and C_e = C unless ``n_chan_pos_emb`` is given
(then the kernel needs C: the declared width of the stream, as stax's
``k.shape1``). The embedding is a trained parameter, so where the values
read it the NTK's input is a·Θ + c·R as well (its gradient through the keys
vanishes with their width, like the key weights').
"""

from __future__ import annotations

import functools

import numpy as np

from ..registry import Param, ShapeError

TYPES = ("none", "sum", "concat")
DEFAULTS = {"pos_emb_p_norm": 2.0, "pos_emb_decay": None, "n_chan_pos_emb": None,
            "W_pos_emb_std": 1.0, "val_pos_emb": False}

PARAMS = (
    Param("pos_emb_type", "str", "none", choices=TYPES, ignore_case=True,
          doc="positional embeddings added to (\"sum\") or concatenated with (\"concat\") "
              "the input of the keys and queries (stax's pos_emb_type)"),
    Param("pos_emb_p_norm", "float", 2.0, above=0.0,
          doc="p of the distance d = Σ_axes |Δ|^p that pos_emb_decay decays"),
    Param("pos_emb_decay", "float", None, low=0.0,
          doc="γ: the embeddings' covariance over positions is exp(−γ·d) "
              "(stax's pos_emb_decay_fn = lambda d: exp(−γ·d)); none: δ(p, q)"),
    Param("n_chan_pos_emb", "int", None, low=1,
          doc="channels of the concatenated embeddings (none: the input's width)"),
    Param("W_pos_emb_std", "float", 1.0, low=0.0),
    Param("val_pos_emb", "bool", False, doc="the values read the embedded input too"),
)


def used(args) -> bool:
    return args.get("pos_emb_type", "none") != "none"


def few_channels(args) -> str | None:
    """Why the kernel is the limit of many input channels (the rule's
    ``wide_input``): the embedding has as many channels as the input (or a
    share of them), and the kernel takes its covariance R, not a draw's."""
    if not used(args):
        return None
    return ("its positional embeddings enter the kernel through their covariance, the limit of "
            "many embedding channels (stax's kernel), while a finite net draws as many as its "
            "input has: a net embedding a few channels averages to a different kernel "
            "(measured relative NNGP error 0.54 / 0.21 / 0.06 at 1 / 4 / 32 channels; "
            "`ntkc verify` checks the limit by widening the data)")


@functools.lru_cache(maxsize=32)
def covariance(spatial: tuple, p_norm: float, decay: float | None) -> np.ndarray:
    """R over the flattened positions (P, P), float64."""
    size = int(np.prod(spatial))
    if decay is None:
        r = np.eye(size)
    else:
        grids = np.meshgrid(*(np.arange(n) for n in spatial), indexing="ij")
        coords = np.stack([g.ravel() for g in grids], -1).astype(np.float64)   # (P, d)
        dist = np.sum(np.abs(coords[:, None] - coords[None]) ** p_norm, -1)
        r = np.exp(-decay * dist)
    r.setflags(write=False)
    return r


@functools.lru_cache(maxsize=32)
def square_root(spatial: tuple, p_norm: float, decay: float | None) -> np.ndarray:
    """A symmetric L with L Lᵀ = R (eigenvalues rounded below 0 taken as 0;
    the shape check refuses an R that is not a covariance)."""
    r = covariance(spatial, p_norm, decay)
    if decay is None:
        return r
    lam, u = np.linalg.eigh(r)
    out = (u * np.sqrt(np.maximum(lam, 0.0))) @ u.T
    out.setflags(write=False)
    return out


def check(s, args):
    """Refuse what stax would ignore or fail on, at the layer's position."""
    kind = args["pos_emb_type"]
    if kind == "none":
        given = [n for n, d in DEFAULTS.items() if args[n] != d]
        if given:
            raise ShapeError(f"SelfAttention's {given[0]} has no effect without positional "
                             f'embeddings: give pos_emb_type="sum" or "concat"')
        return
    if args["pos_emb_decay"] is None and args["pos_emb_p_norm"] != DEFAULTS["pos_emb_p_norm"]:
        raise ShapeError("SelfAttention's pos_emb_p_norm has no effect without pos_emb_decay "
                         "(without it the embeddings are independent per position)")
    n_emb = args["n_chan_pos_emb"]
    if n_emb is not None:
        if kind == "sum" and n_emb != s.width:
            raise ShapeError(f'SelfAttention(pos_emb_type="sum") adds the embeddings to its input, '
                             f"so n_chan_pos_emb must be the input's width "
                             f"({'unknown' if s.width is None else s.width}), not {n_emb}; "
                             f'leave it out, or use pos_emb_type="concat"')
        if kind == "concat" and s.width is None:
            raise ShapeError('SelfAttention(pos_emb_type="concat", n_chan_pos_emb=…) needs the '
                             "width of its input (the embeddings' share of the channels): give "
                             "the weight layer before it width=… (stax's n_chan_out / out_dim)")
    decay = args["pos_emb_decay"]
    if decay is not None:
        r = covariance(tuple(s.spatial), args["pos_emb_p_norm"], decay)
        least = float(np.linalg.eigvalsh(r)[0])
        if least < -1e-9:
            raise ShapeError(f"SelfAttention's positional covariance exp(−{decay:g}·d), d = "
                             f"Σ|Δ|^{args['pos_emb_p_norm']:g}, is not positive semi-definite on "
                             f"{s.with_article()} (least eigenvalue {least:.3g}), so no "
                             f"embedding has it; use pos_emb_p_norm ≤ 2")


def weights(args, in_shape) -> tuple[float, float]:
    """(a, c) of Σ_e = a·Σ + c·R."""
    w2 = args["W_pos_emb_std"] ** 2
    if args["pos_emb_type"] == "sum":
        return 1.0, w2
    n_emb = args["n_chan_pos_emb"]
    if n_emb is None:
        return 0.5, 0.5 * w2
    c = in_shape.width
    return c / (c + n_emb), w2 * n_emb / (c + n_emb)


def embedding_width(args, c_in: int) -> int:
    """C_e of the finite layer: stax's where the declared widths are the
    finite ones, else the declared share of c_in channels (so the share, and
    the kernel, stay those declared at every finite width)."""
    n_emb = args["n_chan_pos_emb"]
    if args["pos_emb_type"] == "sum" or n_emb is None:
        return c_in
    width = args["in_shape"].width
    return n_emb if width == c_in else max(1, round(c_in * n_emb / width))


def finite_scales(args, c_in: int, c_emb: int) -> tuple[float, float]:
    """Factors on the input and on the embedding channels of the finite
    concatenation, so its covariance /(c_in + c_emb) is exactly a·Σ + c·R:
    both 1 (stax's network) where c_emb/c_in is the declared share."""
    if args["pos_emb_type"] == "sum":
        return 1.0, 1.0
    a, _ = weights(args, args["in_shape"])   # the embeddings' share of channels is 1 − a
    total = c_in + c_emb
    return float(np.sqrt(a * total / c_in)), float(np.sqrt((1.0 - a) * total / c_emb))
