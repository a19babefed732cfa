"""Block plans with x2 given are balanced: for every (n1, n2, budget) the
blocks fit the budget, use as few blocks per axis as square-ish blocks of that
budget need, and leave less than one example of padding per block on each
axis (the last block is not mostly padding) — the existing cases in
test_blocking happen to be balanced already, so these pick sizes that are not."""

import math

import pytest

from ntkc import blocking


@pytest.mark.parametrize("n1, n2, pairs", [(10, 30, 81), (19, 19, 100), (50, 7, 36), (1000, 1001, 961)])
def test_unsymmetric_blocks_are_balanced(n1, n2, pairs):
    per_pair = 1000
    p = blocking.plan(n1, n2, False, per_pair, memory_limit=pairs * per_pair)
    assert not p.single and p.rows * p.cols <= pairs
    side = math.isqrt(pairs)
    for n, size, most in ((n1, p.rows, min(n1, side)), (n2, p.cols, None)):
        blocks = math.ceil(n / size)
        if most is not None:
            assert blocks == math.ceil(n / most)  # no more row blocks than a full side needs
        assert blocks * size - n < blocks, (n, size)  # padding below one example per block
    # every block is computed once, and together they cover the Gram
    seen = {(r + i, c + j) for r, c in p.blocks() for i in range(p.rows) for j in range(p.cols)
            if r + i < n1 and c + j < n2}
    assert len(seen) == n1 * n2 and p.count() == math.ceil(n1 / p.rows) * math.ceil(n2 / p.cols)


@pytest.mark.parametrize("text, value", [("3K", 3 * 1024), ("1.5KiB", 1536), ("2 kb", 2048),
                                         ("1T", 1024**4), ("7", 7), ("0.5M", 2**19)])
def test_every_memory_unit_is_a_power_of_1024(text, value):
    assert blocking.parse_memory(text) == value
