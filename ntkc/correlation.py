"""Which outputs are provably uncorrelated at infinite width.

Kernels of a sum add only when the summed outputs are uncorrelated. A chain's
output is *fresh* — uncorrelated with the chain's input and with anything
computed before it — when it ends in a weight layer (its last weights are
zero-mean and used nowhere else), in a parameter-free linear layer applied to
something fresh, or in a block each of whose combined terms is fresh. Blocks
declare their terms with ``extra["terms"](node)``: the chains from the block's
input to each output it combines.
"""

from __future__ import annotations


def fresh(nodes) -> bool:
    """Whether the output of ``nodes`` (a chain) is uncorrelated with its input."""
    nodes = tuple(nodes)
    if not nodes:
        return False
    last, prefix = nodes[-1], nodes[:-1]
    role = last.rule.role
    if role == "weight":
        return True
    if role == "linear":
        return fresh(prefix)
    if role == "block":
        return all(fresh(prefix + tuple(term)) for term in last.rule.extra["terms"](last))
    return False


def non_gaussian_input(nodes, gaussian: bool = False):
    """The first activation whose input is not a Gaussian process, or None.

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
        role = rule.role
        if role == "weight":
            gaussian = True
        elif role == "block":
            outs = []
            for term in rule.extra["terms"](node):
                bad, out = non_gaussian_input(term, gaussian)
                if bad is not None:
                    return bad, False
                outs.append(out)
            gaussian = all(outs) and not rule.extra.get("mixes", False)
        elif rule.extra.get("gaussian") == "require" and not gaussian:
            return node, False  # e.g. LayerNorm: its rule assumes zero-mean Gaussian channels
        elif role == "linear" or rule.extra.get("gaussian") in ("preserve", "require"):
            gaussian = gaussian and not rule.extra.get("mixes", False)
        else:
            if not gaussian:
                return node, False
            gaussian = False
    return None, gaussian
