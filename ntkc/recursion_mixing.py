"""The recursion of layers that mix positions by the data itself: attention
(weights from the input's own covariance, :class:`~ntkc.symbolic.Attend`) and
recurrence (one cell run over every pair of time steps, round after round,
:class:`~ntkc.symbolic.Recurrence`). Called by :mod:`ntkc.recursion`'s
builder for those forms; the equations are evaluated like every other
(``ntkc.evaluate``), so explain = compiled holds for them too."""

from __future__ import annotations

import dataclasses

import sympy as sp

from .explain import _eq
from .symbolic import ATTEND, SIGMA, THETA, Attend, Recurrence, iverson, superscript


def _indices(base: str, d: int) -> tuple:
    return tuple(sp.Symbol(base if d == 1 else f"{base}_{i + 1}", integer=True) for i in range(d))


def _limits(idx, sizes) -> list:
    return [(s, 0, n - 1) for s, n in zip(idx, sizes)]


def _rho(mechanism: str, logit, idx, logit_at, sizes):
    """ρ of the logits; softmax normalises over every attended position."""
    if mechanism == "softmax":
        r = _indices("r", len(idx))
        return sp.exp(logit) / sp.Sum(sp.exp(logit_at(r)), *_limits(r, sizes))
    if mechanism == "identity":
        return logit
    if mechanism == "abs":
        return sp.Abs(logit)
    if mechanism == "relu":
        return sp.Max(logit, 0)
    raise ValueError(f"unknown attention mechanism {mechanism!r}")


def _positional(form: Attend, left, right):
    """R(p, s) of the positional embeddings, over every spatial axis."""
    if form.pos_decay is None:
        return sp.Mul(*(iverson(p, s) for p, s in zip(left, right)))
    dist = sp.Add(*(sp.Abs(p - s) ** form.pos_p_norm for p, s in zip(left, right)))
    return sp.exp(-form.pos_decay * dist)


def attend(b, node, form: Attend, cur: int, h: int, title: str):
    """G⁽ʰ⁾(x, x)[p, s] = ρ(logit·Σ(x, x)[p, s]); Σ⁽ʰ⁾ and Θ⁽ʰ⁾ mix Σ and Θ with G on both sides."""
    from .recursion import _positions
    shape = node.in_shape
    sizes = tuple(shape.spatial)
    d = len(sizes)
    P, Q = _positions(shape)
    S, T = _indices("s", d), _indices("t", d)

    embedded = form.pos_weight != 0

    def sigma_self(a, left, right):
        own = b.entry(SIGMA, cur, shape, a, a, left, right)
        if not embedded:
            return own
        return form.input_weight * own + form.pos_weight * _positional(form, left, right)

    def g(a, left, right):
        return b.entry(ATTEND, h, shape, a, a, left, right)

    logit = form.logit * sigma_self(b.a, P, S)
    rho = _rho(form.mechanism, logit, S, lambda r: form.logit * sigma_self(b.a, P, r), sizes)
    eqs = [_eq(g(b.a, P, S), rho)]

    def mixed(kind):
        mid = b.entry(kind, cur, shape, P=S, Q=T)
        if embedded and form.pos_values:
            mid = form.input_weight * mid + form.pos_weight * _positional(form, S, T)
        term = g(b.a, P, S) * mid * g(b.b, Q, T)
        return sp.Sum(term, *_limits(S, sizes), *_limits(T, sizes))

    sigma = b.entry(SIGMA, h, node.out_shape)
    eqs.append(_eq(sigma, form.scale * mixed(SIGMA) + form.bias))
    eqs.append(_eq(b.entry(THETA, h, node.out_shape),
                   form.scale * mixed(THETA) + form.grad * (sigma - form.bias) + form.bias))
    notes = [f"{'softmax over every position s' if form.mechanism == 'softmax' else form.mechanism}"
             f" of the logits; G(x', x') likewise for x'"]
    if embedded:
        r = ("[p = s] (one-hot)" if form.pos_decay is None else
             f"exp(−{form.pos_decay}·Σ|p − s|^{form.pos_p_norm})")
        notes.append(f"positional embeddings: Σ(x, x) in the logits is "
                     f"{form.input_weight}·Σ + {form.pos_weight}·R, R(p, s) = {r}"
                     + ("; the values read them too" if form.pos_values else ""))
    b._add(f"{h}. {title}", node, eqs, notes=notes)


def _on_sequence(nodes, seq):
    """The cell's layers, checked on one step's vector, re-shaped to act on
    every pair of time steps (they are positionwise)."""
    out = []
    for n in nodes:
        bodies = tuple(_on_sequence(body, seq) for body in n.bodies)
        out.append(dataclasses.replace(n, in_shape=seq, out_shape=seq, bodies=bodies))
    return tuple(out)


def recur(b, node, form: Recurrence, cur: int, title: str) -> int:
    """``form.rounds`` rounds of the drive and the cell over every (t, t'), then the readout."""
    seq = node.in_shape
    (cell,) = node.bodies
    cell = _on_sequence(cell, dataclasses.replace(seq, width=None))
    from .recursion import _positions
    P, Q = (p[0] for p in _positions(seq))
    prev = None
    for k in range(1, form.rounds + 1):
        b.h += 1
        g = b.h
        eqs = []
        for kind in (SIGMA, THETA):
            drive = form.drive * b.entry(kind, cur, seq)
            rhs = drive + (form.bias if kind == SIGMA else b.entry(SIGMA, g, seq))
            if prev is not None:  # h⁰ = 0; h at t − 1 < 0 is 0 (padding)
                rhs = rhs + form.state * b.entry(kind, prev, seq, P=(P - 1,), Q=(Q - 1,))
            eqs.append(_eq(b.entry(kind, g, seq), rhs))
        pad = {} if prev is None else {prev: ((1, 0),)}
        notes = ["p, q index the time steps of x and x'"] if k == 1 else []
        what = "h⁰ = 0" if prev is None else \
            f"h{superscript(prev)} at (p − 1, q − 1), 0 before the first step"
        b._add(f"{g}. {title} › step {k} of {form.rounds}: W·h + U·x + b, {what}",
               dataclasses.replace(node, out_shape=seq), eqs, notes=notes, pad=pad)
        # Steps after a step's own Σ/Θ: the cell on (Σ_g, Θ_g).
        prev = b._layers(cell, g, f"{title} › step {k} › ")
    b.h += 1
    vec = node.out_shape
    eqs = []
    n = form.rounds
    for kind in (SIGMA, THETA):
        if form.readout == "last":
            rhs = b.entry(kind, prev, seq, P=(n - 1,), Q=(n - 1,))
        else:
            rhs = sp.Sum(b.entry(kind, prev, seq) / n**2, (P, 0, n - 1), (Q, 0, n - 1))
        eqs.append(_eq(b.entry(kind, b.h, vec), rhs))
    b._add(f"{b.h}. {title} › readout {form.readout}", node, eqs)
    return b.h
