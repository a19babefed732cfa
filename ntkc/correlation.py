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
