"""Body modes: how a block's source body becomes bodies, and how each stage
treats them.

A block rule names one mode (``BlockRule.body``); the checker, the compiler's
demand analysis, the finite network and the architecture generator ask the
mode, so none of them special-cases a block:

* :data:`CHAIN` — one body, a chain of layers (Residual, Branch);
* :data:`BRANCHES` — each item of the body is a body of its own, all reading
  the block's input (Sum, Concat);
* :data:`TAPS` — one chain cut at its ``Tap`` markers into segments that run
  one after the other (JumpingKnowledge);
* :data:`CELL` — one chain applied at every time step of a sequence with the
  same parameters (Recurrent): checked as a map of one step's vector, run by
  the kernel on every pair of time steps at once.
"""

from __future__ import annotations

import dataclasses


class BodyMode:
    """The default: one chain."""
    name = "chain"
    #: Whether body j reads body j−1's output (else every body reads the input).
    sequential = False
    #: Whether the layers inside have states and finite outputs of their own
    #: that layer-by-layer verification can hold against each other.
    observed = True

    def body_input(self, x, width):
        """The abstract input the finite network's bodies read, given the block's."""
        return x

    def passes(self, node) -> int:
        """How many times the body runs in sequence (for verify's bias allowance)."""
        return 1

    def lower(self, checker, rule, call, env, shape, stack, via):
        """``(bodies, out_shapes)`` from the call's source body."""
        body, out = checker.lower(call.body, env, shape, stack, via, call.pos)
        if not body:
            raise checker.err(call.pos, f"the body of {rule.name} is empty")
        return (tuple(body),), [out]

    def layouts(self, bodies, out_diag, plan_chain):
        """Plan each body for a block whose output needs ``out_diag``; returns
        the planned bodies and whether every body reads same-position pairs only."""
        planned = tuple(plan_chain(body, out_diag) for body in bodies)
        body_in = all(p[0].in_diag if p else out_diag for p in planned)
        return planned, body_in

    def widths(self, fnet, node, x, target, hidden, free_channels):
        """The channels each body's output gets in the finite network: a body
        of a block with a skip term returns its input's, else ``target``."""
        from .correlation import has_skip
        return [int(x.shape[-1]) if has_skip(node) else target]

    def sample(self, draw, chain, booleans):
        """Source items of a small body for generated architectures; ``chain()``
        draws a short shape-preserving chain of layer calls."""
        return chain()


class _Branches(BodyMode):
    name = "branches"

    def lower(self, checker, rule, call, env, shape, stack, via):
        if not call.body:
            raise checker.err(call.pos, f"the body of {rule.name} is empty; give it branches")
        bodies, outs = [], []
        for item in call.body:
            body, out = checker.lower((item,), env, shape, stack, via, call.pos)
            bodies.append(tuple(body))
            outs.append(out)
        return tuple(bodies), outs

    def widths(self, fnet, node, x, target, hidden, free_channels):
        # A branch that fixes its own channel count (a parameter-free branch)
        # sets the unit; Concat's branches are sized by their relative widths.
        rule = node.rule
        fixed = [free_channels(b, x, hidden) for b in node.bodies]
        weights = [branch_weight(b) if rule.mixes else 1.0 for b in node.bodies]
        known = [c / w for c, w in zip(fixed, weights) if c is not None]
        unit = known[0] if known else (fnet.width if rule.mixes else target)
        return [max(1, round(w * unit)) for w in weights]

    def sample(self, draw, chain, booleans):
        first = "Identity" if draw(booleans()) else "Branch { " + " ".join(chain()) + " }"
        return [first, "Branch { " + " ".join(chain()) + " }"]


class _Taps(BodyMode):
    name = "taps"
    sequential = True
    marker = "Tap"

    def lower(self, checker, rule, call, env, shape, stack, via):
        body, _ = checker.lower(call.body, env, shape, stack, via, call.pos)
        if not body:
            raise checker.err(call.pos, f"the body of {rule.name} is empty")
        segments, current, outs = [], [], []
        for node in body:
            if node.layer == self.marker:
                segments.append(tuple(current))
                outs.append(node.out_shape)
                current = []
            else:
                current.append(node)
        if not segments:
            raise checker.err(call.pos, f"{rule.name} needs at least one {self.marker} in its body")
        if current:
            raise checker.err(current[0].pos, f"layers after the last {self.marker} of "
                                              f"{rule.name} would not reach its output")
        return tuple(segments), outs

    def layouts(self, bodies, out_diag, plan_chain):
        # Segments run in sequence; each one's output is also a term of the sum,
        # so a segment needs what its output's readers and the next segment need.
        planned, need = [], out_diag
        for body in reversed(bodies):
            p = plan_chain(body, need)
            planned.append(p)
            need = need and (p[0].in_diag if p else need)
        return tuple(reversed(planned)), need

    def widths(self, fnet, node, x, target, hidden, free_channels):
        first = free_channels(node.bodies[0], x, hidden)
        return [fnet.width if first is None else first] * len(node.bodies)

    def sample(self, draw, chain, booleans):
        return [self.marker] + chain() + [self.marker]


class _Cell(BodyMode):
    name = "cell"
    # Inside, the kernel holds every pair of time steps while the finite
    # network holds one step: their layers are compared at the block's output.
    observed = False

    def lower(self, checker, rule, call, env, shape, stack, via):
        from .shapes import Shape
        step = Shape("vector", (), shape.channels)
        body, out = checker.lower(call.body, env, step, stack, via, call.pos)
        if not body:
            raise checker.err(call.pos, f"the body (cell) of {rule.name} is empty")
        bad = _not_positionwise(body)
        if bad is not None:
            raise checker.err(bad.pos, f"{bad.layer} cannot run inside the cell of {rule.name}: "
                                       f"the cell maps one time step's vector to the next state")
        return (tuple(body),), [out]

    def layouts(self, bodies, out_diag, plan_chain):
        # The cell runs on the states of all pairs of time steps (t, t'): every
        # layer inside reads and writes full pairs.
        return tuple(_all_pairs(plan_chain(body, False)) for body in bodies), False

    def body_input(self, x, width):
        import jax
        return jax.ShapeDtypeStruct((x.shape[0], width), x.dtype)

    def passes(self, node) -> int:
        return node.in_shape.spatial[0]  # one per time step, with the same weights

    def widths(self, fnet, node, x, target, hidden, free_channels):
        return [target]  # h_t feeds back into the next step: the cell keeps the width


def _all_pairs(steps):
    return tuple(dataclasses.replace(s, in_diag=False, out_diag=False,
                                     bodies=tuple(_all_pairs(b) for b in s.bodies))
                 for s in steps)


def _not_positionwise(nodes):
    for node in nodes:
        if not node.rule.positionwise:
            return node
        for body in node.bodies:
            bad = _not_positionwise(body)
            if bad is not None:
                return bad
    return None


CHAIN = BodyMode()
CELL = _Cell()
BRANCHES = _Branches()
TAPS = _Taps()


def branch_weight(body) -> float:
    """A Concat branch's relative width: ``Branch(width=w)`` or 1."""
    if len(body) == 1 and body[0].layer == "Branch":
        return body[0].kwargs["width"]
    return 1.0
