"""Which outputs are provably uncorrelated at infinite width.

Kernels of a sum add only when the summed outputs are uncorrelated. A chain's
output is *fresh* — uncorrelated with the chain's input and with anything
computed before it — when it ends in a weight layer (its last weights are
zero-mean and used nowhere else), in a parameter-free linear layer applied to
something fresh, or in a block each of whose combined terms is fresh. Blocks
declare their terms with ``BlockRule.terms(node)``: the chains from the block's
input to each output it combines.
"""

from __future__ import annotations


def fresh(nodes, start: bool = False) -> bool:
    """Whether the output of ``nodes`` (a chain) is uncorrelated with its input
    (``start``: whether the chain's input already is, e.g. a block's own
    weights come first)."""
    nodes = tuple(nodes)
    if not nodes:
        return start
    last, prefix = nodes[-1], nodes[:-1]
    rule = last.rule
    if rule.kind == "block":
        if rule.weights_first:
            return all(fresh(term, True) for term in rule.terms(last))
        return all(fresh(prefix + tuple(term), start) for term in rule.terms(last))
    if rule.fresh:
        return True
    if rule.kind == "layer" and not rule.has_params:
        # Parameter-free leaf layers (pools, aggregation, Flatten, LayerNorm) map
        # a zero-mean input to a zero-mean output of it alone; activations, whose
        # output has a mean, are another kind.
        return fresh(prefix, start)
    return False


def has_skip(node) -> bool:
    """Whether a block adds its input itself to its output (a term ``()``)."""
    return node.rule.kind == "block" and any(len(t) == 0 for t in node.rule.terms(node))


def non_gaussian_input(nodes, gaussian: bool = False):
    """The first layer that needs a Gaussian input and does not get one, or None.

    The closed forms (arc-cosine, arcsine, quadrature) are expectations over a
    Gaussian pair (u, v), which holds for what a weight layer outputs and for
    linear functions of it (pooling, aggregation, sums of independent
    Gaussians) — not for the network's raw input, for an activation's output,
    or for a *mixture* whose channels are not identically distributed
    (Concat's branches, Flatten's positions), whose kernel is only an average
    over channels. A weight layer mixes channels and makes the input of the
    next activation Gaussian again. Returns ``(node, gaussian_after)``."""
    for node in nodes:
        rule = node.rule
        if rule.kind == "block":
            outs = []
            for term in rule.terms(node):
                bad, out = non_gaussian_input(term, gaussian or rule.weights_first)
                if bad is not None:
                    return bad, False
                outs.append(out)
            gaussian = all(outs)
        elif rule.needs_gaussian and not gaussian:
            return node, False
        elif rule.gaussian_out == "always":
            gaussian = True
        elif rule.gaussian_out == "never":
            gaussian = False
        gaussian = gaussian and not rule.mixes
    return None, gaussian
