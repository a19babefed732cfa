"""Residual { BODY }: output x + alpha·BODY(x).

BODY ends in a weight layer, so its output is uncorrelated with x at
infinite width and the kernels add: Σ' = Σ + alpha²·Σ_body, Θ' = Θ + alpha²·Θ_body.
"""

from ..registry import LayerRule, Param, ShapeError, register


def shape(s, args, body_shapes):
    (out,) = body_shapes
    if out != s:
        raise ShapeError(f"the body of Residual changes the shape from {s.describe()} to "
                         f"{out.describe()}; x + alpha·BODY(x) needs them equal")
    return s


def kernel(state, args, in_shape, bodies):
    (body,) = bodies
    branch = body(state)
    skip = state.to_diag() if branch.diag and not state.diag else state
    return skip.combine(branch, 1.0, args["alpha"] ** 2)


def apply(params, x, args, ctx, bodies):
    (body,) = bodies
    return x + args["alpha"] * body(x)


def symbolic(args, in_shape, bodies):
    """For ``explain``: Σ' = Σ + alpha²·Σ_body, Θ' = Θ + alpha²·Θ_body."""
    from ..symbolic import Combine, const
    return Combine(skip=1, weights=(const(args["alpha"]) ** 2,))


def demand(args, out_diag, body_in_diag=True):
    return out_diag and body_in_diag


register(LayerRule(
    name="Residual", params=(Param("alpha", "float", 1.0),),
    shape=shape, kernel=kernel, apply=apply, demand=demand, role="block", symbolic=symbolic,
    doc="x + alpha·BODY(x): Σ' = Σ + alpha²Σ_body, Θ' = Θ + alpha²Θ_body",
))
