"""Branching: Identity, Branch, Sum, Concat, and JumpingKnowledge with Tap.

``Sum { b1 b2 ... }`` feeds its input to every branch (each item of its body is
one branch: a layer, or ``Branch { ... }`` for a chain) and adds the outputs
(stax ``FanOut`` + ``parallel`` + ``FanInSum``). Its kernel is the sum of the
branch kernels only when the outputs are uncorrelated, so at most one branch
may be non-fresh (``ntkc.correlation``); otherwise the program is rejected —
stax would silently return a wrong kernel.

``Concat { ... }`` joins the branch outputs along channels (``FanInConcat``):
the kernel is the channel-weighted mean Σ' = Σ_b w_b Σ_b / Σ_b w_b, with w_b
the ``width`` of ``Branch(width=w_b)`` (1 for a bare layer).

``JumpingKnowledge { s0 Tap s1 Tap ... sL Tap }`` runs the chain and outputs
the sum of its values at the Taps, h_0 + h_1 + … + h_L (a readout after it
then reads every depth at once, as the GNTK's jk=1). Every segment after the
first must be fresh, which makes the taps pairwise uncorrelated, so
Σ' = Σ_l Σ⁽ˡ⁾ and Θ' = Σ_l Θ⁽ˡ⁾.
"""

from ..bodies import BRANCHES, CHAIN, TAPS, branch_weight
from ..correlation import fresh
from ..registry import BlockRule, LayerRule, Param, ShapeError, register, sum_width, weight_layers


def _same_shapes(what, concat=False):
    def shape(s, args, body_shapes):
        if not body_shapes:
            return s
        first = body_shapes[0]
        for other in body_shapes[1:]:
            if other.spatial != first.spatial or other.kind != first.kind:
                raise ShapeError(f"the branches of {what} produce different shapes "
                                 f"({first.describe()} and {other.describe()})")
        if concat:  # stax's FanInConcat stacks the branches' channels
            widths = [b.width for b in body_shapes]
            return first.with_width(None if None in widths else sum(widths))
        width = first.width
        for other in body_shapes[1:]:
            width = sum_width(width, other.width, what)
        return first.with_width(width)
    return shape


def _identity_shape(s, args):
    return s


def _identity_symbolic(args, in_shape):
    """For ``explain``: Σ' = Σ, Θ' = Θ."""
    from ..symbolic import Affine
    return Affine(1, 0, weight=False)


def _sum_of_bodies(weights, chain=False):
    """For ``explain``: Σ' = Σ_b weights(bodies)[b]·Σ_b, Θ' alike."""
    def symbolic(args, in_shape, bodies):
        from ..symbolic import Combine
        return Combine(skip=0, weights=tuple(weights(bodies)), chain=chain)
    return symbolic


register(LayerRule(
    name="Identity", params=(), shape=_identity_shape,
    kernel=lambda state, args, in_shape: state, theta_at_zero="zero", positionwise=True,
    joint="same",
    apply=lambda p, x, args, ctx: x, symbolic=_identity_symbolic,
    doc="output = input (the skip branch of Sum/Concat)",
))

register(LayerRule(
    name="Tap", params=(), shape=_identity_shape,
    kernel=lambda state, args, in_shape: state, theta_at_zero="zero", joint="same",
    apply=lambda p, x, args, ctx: x, symbolic=_identity_symbolic,
    doc="marks a value JumpingKnowledge adds to its output (only directly inside it)",
    only_inside="JumpingKnowledge",
))


def _branch_kernel(state, args, in_shape, bodies):
    (body,) = bodies
    return body(state)


register(BlockRule(
    name="Branch", params=(Param("width", "float", 1.0, above=0.0,
                                 doc="relative channel width inside Concat"),),
    shape=lambda s, args, shapes: shapes[0], kernel=_branch_kernel,
    apply=lambda p, x, args, ctx, bodies: bodies[0](x), body=CHAIN,
    doc="a chain of layers used as one branch of Sum or Concat",
    terms=lambda node: [node.bodies[0]],
    symbolic=_sum_of_bodies(lambda bodies: (1,)),
    joint="same",
))


def _sum_kernel(state, args, in_shape, bodies):
    out = None
    for body in bodies:
        b = body(state)
        out = b if out is None else out.combine(b)
    return out


def _sum_validate(node):
    stale = [b for b in node.bodies if not fresh(b)]
    if len(stale) <= 1:
        return None
    where = " and ".join(f"{b[0].layer if len(b) == 1 else 'branch'} (line {b[0].pos[0]})"
                         for b in stale[:2])
    return (f"the branches {where} of Sum are correlated: neither ends in a weight layer "
            f"({weight_layers()}), so the kernel of their sum is not the sum of their kernels; "
            f"end all but one branch in a weight layer")


register(BlockRule(
    name="Sum", params=(), shape=_same_shapes("Sum"), kernel=_sum_kernel,
    apply=lambda p, x, args, ctx, bodies: sum(b(x) for b in bodies), body=BRANCHES,
    doc="x ↦ Σ_b branch_b(x): Σ' = Σ_b Σ_b, Θ' = Σ_b Θ_b (at most one non-fresh branch)",
    terms=lambda node: list(node.bodies), validate=_sum_validate,
    symbolic=_sum_of_bodies(lambda bodies: (1,) * len(bodies)),
    joint="same",
))


def _concat_kernel(state, args, in_shape, bodies):
    weights = [branch_weight(b.nodes) for b in bodies]
    total = sum(weights)
    out = None
    for w, body in zip(weights, bodies):
        b = body(state)
        out = b.scale(w / total) if out is None else out.combine(b, 1.0, w / total)
    return out


def _concat_weights(bodies):
    from ..symbolic import const
    weights = [const(branch_weight(b)) for b in bodies]
    return [w / sum(weights) for w in weights]


def _concat_apply(params, x, args, ctx, bodies):
    import jax.numpy as jnp
    return jnp.concatenate([b(x) for b in bodies], axis=-1)


register(BlockRule(
    name="Concat", params=(), shape=_same_shapes("Concat", concat=True), kernel=_concat_kernel,
    apply=_concat_apply, body=BRANCHES,
    doc="channel concatenation: Σ' = Σ_b w_b Σ_b / Σ_b w_b",
    terms=lambda node: list(node.bodies), mixes=True,
    symbolic=_sum_of_bodies(_concat_weights),
    joint="same",
))


def _jk_terms(node):
    terms, chain = [], ()
    for seg in node.bodies:
        chain = chain + tuple(seg)
        terms.append(chain)
    return terms


def _jk_validate(node):
    for i, seg in enumerate(node.bodies[1:], 1):
        if not fresh(seg):
            what = f"ends in {seg[-1].layer} (line {seg[-1].pos[0]})" if seg else "is empty"
            return (f"JumpingKnowledge: the layers between Tap {i} and Tap {i + 1} must end in a "
                    f"weight layer ({weight_layers()}) so the tapped values are uncorrelated, but "
                    f"the segment {what}")
    return None


def _jk_kernel(state, args, in_shape, bodies):
    out = None
    for body in bodies:
        state = body(state)
        out = state if out is None else out.combine(state)
    return out


def _jk_apply(params, x, args, ctx, bodies):
    out = None
    for body in bodies:
        x = body(x)
        out = x if out is None else out + x
    return out


register(BlockRule(
    name="JumpingKnowledge", params=(), shape=_same_shapes("JumpingKnowledge"),
    kernel=_jk_kernel, apply=_jk_apply, body=TAPS,
    doc="sum of the values at its Taps: Σ' = Σ_l Σ⁽ˡ⁾, Θ' = Σ_l Θ⁽ˡ⁾",
    terms=_jk_terms, validate=_jk_validate,
    symbolic=_sum_of_bodies(lambda bodies: (1,) * len(bodies), chain=True),
    joint="same",
))
