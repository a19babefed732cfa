"""Recurrent(W_std, U_std, b_std, readout) { CELL }: an Elman-type recurrent
net over a sequence, with the same weights at every time step.

With h₀ = 0 and, for t = 1 … T (n the hidden width, C the input's channels),

    g_t = W_std/√n · W h_{t−1} + U_std/√C · U x_t + b_std · b,   h_t = CELL(g_t),

the output is h_T (``readout="last"``) or (1/T) Σ_t h_t (``"mean"``). W, U, b
and CELL's own weights are drawn once and shared by every step. At infinite
width the pre-activations of all steps are jointly Gaussian, with covariance
over every pair of time steps (t, t′) of the two inputs:

    Σ^g_{t,t′} = W_std²·Σ^h_{t−1,t′−1} + U_std²·Σ^x_{t,t′} + b_std²,
    Θ^g_{t,t′} = Σ^g_{t,t′} + W_std²·Θ^h_{t−1,t′−1} + U_std²·Θ^x_{t,t′},

(Σ^h, Θ^h from CELL's own rules, 0 before the first step). Because the
weights are shared, W and U meet every earlier pair (t−k, t′−k) through
Θ^h: the NTK sums the gradient's contributions across time (the recurrent
NTK of Alemohammad et al. 2021; Yang 2020, Tensor Programs II). Only pairs
with equal lags survive at infinite width, so each Σ_{t,t′} needs (t−1, t′−1)
alone and T rounds over the whole (t, t′) grid reach the fixed point.

What coincides with an untied net (fresh W, U, b, CELL at every step): the
same-step NNGP Σ_{t,t} and so ``readout="last"``'s NNGP, which only ever reads
equal-time pairs. What does not: the NTK (shared weights add the cross-time
terms above) and ``readout="mean"``'s NNGP, which reads Σ_{t,t′} for t ≠ t′
(0 in the untied net, whose steps use independent weights).
"""

import jax
import jax.numpy as jnp

from ..bodies import CELL
from ..registry import BlockRule, Param, ShapeError, register

READOUTS = ("last", "mean")


def shape(s, args, body_shapes):
    if s.kind != "sequence":
        raise ShapeError(f"Recurrent reads a sequence, not {s.with_article()}")
    (out,) = body_shapes
    if out.kind != "vector":
        raise ShapeError(f"the cell of Recurrent must map a vector to a vector, "
                         f"not to {out.with_article()}")
    return out


def _shift(a):
    """a[..., t, t'] -> a[..., t−1, t'−1], 0 where t = 0 or t' = 0 (h₀ = 0)."""
    pad = [(0, 0)] * (a.ndim - 2) + [(1, 0), (1, 0)]
    return jnp.pad(a[..., :-1, :-1], pad)


def kernel(state, args, in_shape, bodies):
    (cell,) = bodies
    w2, u2, b2 = args["W_std"] ** 2, args["U_std"] ** 2, args["b_std"] ** 2
    drive = state.map(lambda a, which: u2 * a + b2, ntk=False)
    theta_in = None if state.ntk is None else u2 * state.ntk
    h = state.map(lambda a, which: jnp.zeros_like(a))
    for _ in range(in_shape.spatial[0]):
        g = drive.combine(h.map(lambda a, which: _shift(a), ntk=False), 1.0, w2)
        if state.ntk is not None:
            g = g.replace(ntk=g.nngp + w2 * _shift(h.ntk) + theta_in)
        h = cell(g)
    if args["readout"] == "last":
        out = h.map(lambda a, which: a[..., -1, -1])
    else:
        out = h.map(lambda a, which: a.mean((-2, -1)))
    return out.replace(nspatial=0, diag=True)


def symbolic(args, in_shape, bodies):
    """For ``explain``: T rounds of Σ_g = W_std²·Σ_h(t−1, t'−1) + U_std²·Σ_x + b_std²
    (Θ_g likewise) through the cell, then the readout."""
    from ..symbolic import Recurrence, const
    return Recurrence(const(args["W_std"]) ** 2, const(args["U_std"]) ** 2,
                      const(args["b_std"]) ** 2, in_shape.spatial[0], args["readout"])


def init(key, c_in, c_out, args, nspatial):
    kw, ku, kb = jax.random.split(key, 3)
    return {"W": jax.random.normal(kw, (c_out, c_out)), "U": jax.random.normal(ku, (c_in, c_out)),
            "b": jax.random.normal(kb, (c_out,))}


def apply(params, x, args, ctx, bodies):
    (cell,) = bodies
    n, c = params["W"].shape[0], x.shape[-1]
    drive = (args["U_std"] / jnp.sqrt(c)) * (x @ params["U"]) + args["b_std"] * params["b"]
    h = jnp.zeros(x.shape[:1] + (n,), x.dtype)
    total = jnp.zeros_like(h)
    for t in range(x.shape[1]):
        h = cell((args["W_std"] / jnp.sqrt(n)) * (h @ params["W"]) + drive[:, t])
        total = total + h
    return h if args["readout"] == "last" else total / x.shape[1]


register(BlockRule(
    name="Recurrent",
    params=(Param("W_std", "float", 1.0, low=0.0, doc="recurrent weight standard deviation"),
            Param("U_std", "float", 1.0, low=0.0, doc="input weight standard deviation"),
            Param("b_std", "float", 0.0, low=0.0, doc="bias standard deviation"),
            Param("readout", "str", "last", choices=READOUTS,
                  doc="h_T (last) or the mean of h_1..h_T (mean)")),
    shape=shape, kernel=kernel, apply=apply, init=init, body=CELL, symbolic=symbolic,
    # Every pair of time steps is read, whatever the output needs.
    demand=lambda args, out_diag, body_in_diag: False,
    # The cell reads W h + U x + b: fresh and Gaussian whatever the input.
    terms=lambda node: [node.bodies[0]], weights_first=True, writes_width=True,
    # verify's allowance per time step for W h + U x (the cell's layers add
    # theirs each step): measured 2.5/width over 4 steps and 11–16/width over 8
    # (benchmarks/mc_bias.py), the NTK's bias growing with the time pairs it sums.
    mc_bias=2.0,
    doc="h_t = CELL(W h_{t−1} + U x_t + b), weights shared over time; output h_T or mean_t h_t",
))
