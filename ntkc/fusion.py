"""Checked network → one jit-compiled kernel function.

Two passes over the checked layers. *Demand analysis* runs backwards from the
readout and decides, for every layer, whether it must see every pair of
positions or only same-position pairs (a global pool needs all pairs, Flatten
only the diagonal, a Conv passes on what it is asked for); a second backward
pass (:func:`self_layouts`) decides the same for the per-example
self-covariances, which most layers read only at same-position pairs. *Fusion* runs
forwards and folds the registry rules into one Python function of the inputs,
which is jitted once per (what is asked, x2 given or not); JAX caches the
compiled code per input shape and dtype.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from . import accuracy
from .check import CheckedNet, Node
from .state import PaddedGraphs, State, _pair_diagonal, materialise


@dataclass(frozen=True)
class Step:
    """A layer with the pair layout it reads (``in_diag``) and writes."""
    node: Node
    in_diag: bool
    out_diag: bool
    bodies: tuple = ()  # a tuple of Steps per body
    # the self-covariances' pairs the layer reads: "full", "diag", "none" (dead),
    # or None (as the state holds them: inside bodies, and outside ``fuse``)
    self_in: str | None = None


def layouts(nodes, out_diag: bool = True) -> tuple:
    """Demand analysis: the layout each layer needs, from the readout back.
    A block's body mode plans its bodies; the rule's ``demand`` then says what
    the block needs given what it must write and what its bodies read."""
    steps = []
    for node in reversed(nodes):
        rule = node.rule
        if rule.kind == "block":
            bodies, body_in = rule.body.layouts(node.bodies, out_diag, layouts)
            in_diag = rule.demand(node.kwargs, out_diag, body_in)
        else:
            bodies = ()
            in_diag = rule.demand(node.kwargs, out_diag)
        if node.in_shape.nspatial == 0:
            in_diag = True
        steps.append(Step(node, in_diag, out_diag or node.out_shape.nspatial == 0, bodies))
        out_diag = in_diag
    return tuple(reversed(steps))


_NEED = ("none", "diag", "full")


def self_layouts(steps) -> tuple:
    """The self-covariances' demand, from the readout back (top-level steps;
    each rule's ``self_pairs`` says what it reads): ``"full"`` (every pair of
    the cross layout), ``"diag"`` (same-position pairs: an activation's
    variances) or ``"none"`` (read by no later layer nor by any output). The
    kernels asked for are cross-covariances, so the readout needs none. A
    rule that does not say (``"cross"``, every block) gets the cross layout,
    as without this pass."""
    need, out = "none", []
    for st in reversed(steps):
        cross = "diag" if st.in_diag or st.node.in_shape.nspatial == 0 else "full"
        how = st.node.rule.self_pairs
        if how == "tied":
            need_in = need
        elif how == "variances":
            need_in = max(need, "diag", key=_NEED.index)
        elif how == "pool":
            need_in = "none" if need == "none" else cross
        else:
            need_in = cross
        if cross == "diag" and need_in == "full":
            need_in = "diag"
        out.append(dataclasses.replace(st, self_in=need_in))
        need = need_in
    return tuple(reversed(out))


def run_steps(steps, state: State, observe=None, prefix: tuple = (), start: int = 0,
              shared=None) -> State:
    """Run planned steps. ``observe(path, step, state)``, if given, sees the
    state after every layer, bodies included (``path`` as :class:`Body` and
    ``ntkc.finite`` number layers: ``(i,)`` at top level, ``(i, body, j)`` inside).
    ``shared`` (a ``ntkc.family.Shared``) hands back the output of a step
    already traced on the same input state (several nets in one function)."""
    for i, step in enumerate(steps, start):
        state = run_step(step, state, observe, prefix + (i,), shared)
    return state


class Body:
    """A block's body as its rule sees it: call it on a state; ``.nodes`` are
    its checked layers."""

    def __init__(self, steps, observe=None, prefix: tuple = (), shared=None):
        self.steps = steps
        self.nodes = tuple(s.node for s in steps)
        self.observe = observe
        self.prefix = prefix
        self.shared = shared

    def __call__(self, state: State) -> State:
        return run_steps(self.steps, state, self.observe, self.prefix, shared=self.shared)


def run_step(step: Step, state: State, observe=None, path: tuple = (), shared=None) -> State:
    if shared is not None:
        done = shared.get(step, state)
        if done is not None:
            return done
        given = state
    if step.in_diag and not state.diag:
        state = state.to_diag()
    if step.self_in is not None:
        state = _self_layout(state, step.self_in)
    rule, args = step.node.rule, step.node.kwargs
    with accuracy.at_layer(step.node):
        if rule.kind == "block":
            seen = observe if rule.body.observed else None
            bodies = [Body(b, seen, path + (j,), shared) for j, b in enumerate(step.bodies)]
            state = state.rule_kernel(rule)(state, args, step.node.in_shape, bodies)
        else:
            state = state.rule_kernel(rule)(state, args, step.node.in_shape)
    if step.out_diag and not state.diag:
        state = state.to_diag()
    state = _materialise_self(state)
    if observe is not None:
        observe(path, step, state)
    if shared is not None:
        shared.put(step, given, state)
    return state


def _self_layout(state: State, need: str) -> State:
    if state.diag or state.nspatial == 0 or need == "full" and not state.self_diag:
        return state
    if need == "diag":
        return state.self_to_diag()
    if need == "full":  # a planning error, never an input's: self_layouts rules it out
        raise AssertionError("the self-covariances were cut to their diagonal too early")
    # Read by nothing: zeros in the cross layout stand in, so that the layer's
    # rule runs as usual, and XLA drops the dead computation.
    # x1's and x2's positions differ where graphs of two batches are padded to
    # different node counts.
    n1, n2, d = state.cov1.shape[0], state.cov2.shape[0], state.nspatial
    p1, p2 = state.nngp.shape[2:2 + d], state.nngp.shape[2 + d:]
    cov1 = jnp.zeros((n1,) + p1 + p1, state.nngp.dtype)
    cov2 = cov1 if state.same else jnp.zeros((n2,) + p2 + p2, state.nngp.dtype)
    return state.replace(cov1=cov1, cov2=cov2, self_diag=False)


def _materialise_self(state: State) -> State:
    """Per-example covariances are small (N·P) but are broadcast into every
    N1×N2 pair by the next activation. Left to itself XLA fuses their producers
    into those pair loops and recomputes them N2 (or N1) times over; making them
    values that must exist in memory has XLA compute them once."""
    if state.cov1 is None:
        return state
    cov1 = materialise(state.cov1)
    cov2 = cov1 if state.same else materialise(state.cov2)
    return state.replace(cov1=cov1, cov2=cov2)


def run_zero_ntk_prefix(steps, state: State, observe=None, shared=None):
    """Θ⁰ = 0, and it stays 0 through the rules that declare
    ``theta_at_zero="zero"`` (linear maps, activations: Θ' = Σ̇ ⊙ Θ), up to the
    first rule that declares ``"nngp"`` (Θ' = Σ' + W_std²·T(Θ) is then just Σ').
    So run that prefix without Θ (no Conv window sums or graph aggregations of
    zeros) and set Θ' = Σ' there. A rule that declares neither ends the prefix
    and runs with Θ = 0 as it is. Returns the state with Θ and the index of the
    first step still to run."""
    def derive(tag, s, make):
        return make(s) if shared is None else shared.derive(tag, s, make)

    for i, step in enumerate(steps):
        how = step.node.rule.theta_at_zero_for(step.node.kwargs)
        if how not in ("zero", "nngp"):
            break
        state = run_step(step, state, shared=shared)
        if how == "nngp":
            state = derive("ntk=nngp", state, lambda s: s.replace(ntk=s.nngp))
            if observe is not None:
                observe((i,), step, state)
            return state, i + 1
        if observe is not None:
            observe((i,), step, state.replace(ntk=jnp.zeros_like(state.nngp)))
    else:
        i = len(steps)
    return derive("ntk=0", state, lambda s: s.replace(ntk=jnp.zeros_like(s.nngp))), i


def input_state(x1, x2, g1, g2, nspatial: int, diag: bool, want_ntk: bool,
                self_diag: bool = False) -> State:
    """Σ⁰(x, x') = x·x'/C per position pair, Θ⁰ = 0; with ``self_diag`` the
    self-covariances at same-position pairs only."""
    channels = x1.shape[-1]
    d = nspatial
    pos1 = "abcd"[:d]
    pos2 = pos1 if diag else "efgh"[:d]
    pair = pos1 + ("" if diag else pos2)
    same = x2 is None
    self_diag = self_diag and not diag and d > 0

    def cov(x):
        full = jnp.einsum(f"n{pos1}z,n{pos2}z->n{pair}", x, x) / channels
        # The variances are taken from the same product as Σ(x, x') rather
        # than summed on their own: an example paired with itself must see
        # cos = 1 exactly, and a sum in another order (a GEMM's fused
        # multiply-adds against a reduction) is an ulp off, which arccos
        # near 1 turns into √ulp.
        return _pair_diagonal(full, d) if self_diag else full

    cov1 = cov(x1)
    cov2 = cov1 if same else cov(x2)
    nngp = jnp.einsum(f"i{pos1}z,j{pos2}z->ij{pair}", x1, x1 if same else x2) / channels
    ntk = jnp.zeros_like(nngp) if want_ntk else None
    return State(nngp=nngp, ntk=ntk, cov1=cov1, cov2=cov2, diag=diag or d == 0,
                 nspatial=d, same=same, graphs1=g1, graphs2=g1 if same else g2,
                 self_diag=self_diag)


def fuse(net: CheckedNet, get: tuple, same: bool):
    """One function (x1, x2, graphs1, graphs2) -> tuple of kernels, jitted."""
    steps = self_layouts(layouts(net.layers))
    d = net.input.nspatial
    checks = []   # the accuracy reports of the last trace, in output order

    def kernel_fn(x1, x2, g1, g2):
        g1 = None if g1 is None else PaddedGraphs(*g1)
        g2 = None if g2 is None else PaddedGraphs(*g2)
        state = input_state(x1, None if same else x2, g1, g2, d, steps[0].in_diag, False,
                            self_diag=steps[0].self_in != "full")
        return run_net(steps, state, get, checks)

    return Checked(jax.jit(kernel_fn), checks, net)


def run_net(steps, state: State, get: tuple, checks: list):
    """The kernels ``get`` of planned steps run on an input state, under the
    accuracy recorder: ``checks`` receives this trace's reports, and the
    estimates ride along with the kernels for :class:`Checked` to test."""
    return run_nets([steps], lambda diag: state, get, checks)


def run_nets(plans, make_input, get: tuple, checks: list, shared=None):
    """:func:`run_net` for several nets' planned steps, net after net, on the
    input state ``make_input(diag)`` (made once per input layout): the kernels
    ``get`` of every net (``len(plans) * len(get)`` arrays). ``shared`` (a
    ``ntkc.family.Shared``) runs a step once when an earlier net ran the same
    step on the same state."""
    inputs, out = {}, []
    with accuracy.recording() as (reports, values):
        for steps in plans:
            diag = steps[0].in_diag
            if diag not in inputs:
                inputs[diag] = make_input(diag)
            state, start = inputs[diag], 0
            if "ntk" in get:
                state, start = run_zero_ntk_prefix(steps, state, shared=shared)
            state = run_steps(steps[start:], state, start=start, shared=shared)
            out += [state.nngp if g == "nngp" else state.ntk for g in get]
    checks[:] = reports
    out = tuple(out)
    return (out, tuple(values)) if values else out


class Checked:
    """A fused kernel that checks the accuracy estimates its approximate layers
    output (``ntkc.accuracy``) before handing back the kernels: a net without
    such layers returns straight from the jitted function, with no extra
    output and no wait for the device."""

    def __init__(self, fn, checks, net):
        self.fn, self.checks, self.net = fn, checks, net

    def cache_size(self) -> int:
        """How many input shapes the jitted function has been compiled for."""
        return self.fn._cache_size()

    def __call__(self, *args):
        out = self.fn(*args)
        if not self.checks:
            return out
        out, values = out
        if any(isinstance(v, jax.core.Tracer) for v in values):
            # called inside the caller's own jit: check when the values exist
            jax.debug.callback(lambda *v: accuracy.check(self.checks, v, self.net), *values)
        else:
            accuracy.check(self.checks, values, self.net)
        return out


def bytes_per_pair(net: CheckedNet, itemsize: int, nodes: int = 32, ntk: bool = True) -> int:
    """The working memory one (x1, x2) example pair needs, in bytes, read off
    the layouts: the widest position-pair layout any layer reads or writes (S²
    pairs where all pairs are demanded, S where only same-position pairs are;
    a graph counts ``nodes`` nodes) times the arrays alive around a rule. That
    count, 6 per kernel asked for (Σ; Θ also needs Σ), is measured: a CNN-GAP
    block's peak RSS grows by ~12 pair-sized arrays with Θ (in and out, the
    materialised and padded window input, Σ̇ and the activation's temporaries).
    Block sizes are planned from it."""
    widest = 1

    def size(shape, diag):
        n = 1
        for s in shape.spatial:
            n *= nodes if s is None else s
        return n if diag else n * n

    def go(steps):
        nonlocal widest
        for st in steps:
            widest = max(widest, size(st.node.in_shape, st.in_diag),
                         size(st.node.out_shape, st.out_diag))
            for b in st.bodies:
                go(b)

    go(layouts(net.layers))
    live = 6 * (2 if ntk else 1)
    return live * widest * itemsize
