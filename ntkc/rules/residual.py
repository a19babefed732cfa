"""Residual { BODY }: output x + alpha·BODY(x).

BODY's output must be uncorrelated with x (it ends in a weight layer, or in a
block whose every term does — see ``ntkc.correlation``), so the kernels add:
Σ' = Σ + alpha²·Σ_body, Θ' = Θ + alpha²·Θ_body.
"""

from ..bodies import CHAIN
from ..correlation import fresh
from ..registry import BlockRule, Param, ShapeError, register, sum_width, weight_layers


def shape(s, args, body_shapes):
    (out,) = body_shapes
    if (out.kind, out.spatial) != (s.kind, s.spatial):
        raise ShapeError(f"the body of Residual changes the shape from {s.describe()} to "
                         f"{out.describe()}; x + alpha·BODY(x) needs them equal")
    return s.with_width(sum_width(s.width, out.width, "Residual"))


def kernel(state, args, in_shape, bodies):
    (body,) = bodies
    return state.combine(body(state), 1.0, args["alpha"] ** 2)


def apply(params, x, args, ctx, bodies):
    (body,) = bodies
    return x + args["alpha"] * body(x)


def symbolic(args, in_shape, bodies):
    """For ``explain``: Σ' = Σ + alpha²·Σ_body, Θ' = Θ + alpha²·Θ_body."""
    from ..symbolic import Combine, const
    return Combine(skip=1, weights=(const(args["alpha"]) ** 2,))


def validate(node):
    (body,) = node.bodies
    if fresh(body):
        return None
    last = body[-1]
    return (f"the body of Residual must end in a weight layer ({weight_layers()}) so that it is "
            f"uncorrelated with the skip connection, but it ends in {last.layer} (line {last.pos[0]})")


register(BlockRule(
    name="Residual", params=(Param("alpha", "float", 1.0),),
    shape=shape, kernel=kernel, apply=apply, symbolic=symbolic, body=CHAIN,
    terms=lambda node: [(), node.bodies[0]], validate=validate,
    doc="x + alpha·BODY(x): Σ' = Σ + alpha²Σ_body, Θ' = Θ + alpha²Θ_body",
    joint="same",
))
