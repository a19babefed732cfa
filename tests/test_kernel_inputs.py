"""A kernel call checks its inputs: every check in ``Kernel.__call__``'s input
validation turns a bad array or graph batch into an ``NtkError`` that says
what is wrong (and where), while the valid batch next to it is accepted. A
check that stopped running would let NaN, a directed graph or an edge at a
padded node produce a kernel (a wrong one, or NaN) without a word."""

import numpy as np
import pytest

import ntkc

VECTOR = ntkc.compile("input vector(dim=3)\nnet n { Dense(W_std=1.5, b_std=0.1) Relu Dense }")
IMAGE = ntkc.compile("input image(height=3, width=3, channels=2)\n"
                     "net n { Conv(kernel=2) Relu Flatten Dense }")
GRAPH = ntkc.compile('input graph(features=2)\nnet n { Dense GraphAgg(norm="mean") Relu Dense '
                     "GlobalSumPool }")


def raises(kernel, *args, match):
    with pytest.raises(ntkc.NtkError, match=match):
        kernel(*args)


# -- arrays ------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_x1_or_x2_is_refused_with_its_index(bad):
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.asarray(VECTOR(x))  # the clean batch is fine
    y = x.copy()
    y[2, 1] = bad
    raises(VECTOR, y, match=r"x1 contains NaN or Inf \(first at index \(2, 1\)\)")
    raises(VECTOR, x, y, match=r"x2 contains NaN or Inf \(first at index \(2, 1\)\)")
    y32 = y.astype(np.float32)
    raises(VECTOR, y32, match=r"x1 contains NaN or Inf")
    img = np.ones((2, 3, 3, 2))
    img[1, 0, 2, 1] = bad
    raises(IMAGE, img, match=r"x1 contains NaN or Inf \(first at index \(1, 0, 2, 1\)\)")


def test_shapes_types_and_empty_batches_are_refused():
    raises(VECTOR, np.ones((4, 2)), match=r"x1 has shape \(4, 2\).*expected \(N, 3\)")
    raises(VECTOR, np.ones((4, 3)), np.ones((2, 3, 1)), match=r"x2 has shape \(2, 3, 1\)")
    raises(VECTOR, np.ones((0, 3)), match="x1 has no examples")
    raises(VECTOR, np.array([["a", "b", "c"]]), match="dtype")
    raises(IMAGE, np.ones((2, 3, 2, 2)), match=r"expected \(N, 3, 3, 2\)")
    g = ntkc.GraphBatch(np.ones((1, 2, 3)), np.zeros((1, 2, 2)))
    raises(VECTOR, g, match="not a graph")
    raises(GRAPH, np.ones((1, 2, 2)), match="the net's input is a graph")


# -- graph batches -----------------------------------------------------------------------
def good_batch():
    """Two graphs: a path on 3 nodes and an edge on 2 nodes padded to 3."""
    f = np.random.default_rng(1).standard_normal((2, 3, 2))
    f[1, 2] = 0
    a = np.zeros((2, 3, 3))
    a[0, 0, 1] = a[0, 1, 0] = a[0, 1, 2] = a[0, 2, 1] = 1
    a[1, 0, 1] = a[1, 1, 0] = 1
    m = np.array([[1, 1, 1], [1, 1, 0]], float)
    return f, a, m


def test_a_valid_graph_batch_and_boolean_masks_are_accepted():
    f, a, m = good_batch()
    want = np.asarray(GRAPH(ntkc.GraphBatch(f, a, m)))
    assert np.all(np.isfinite(want))
    np.testing.assert_array_equal(np.asarray(GRAPH(ntkc.GraphBatch(f, a.astype(bool), m > 0))), want)


def test_adjacency_may_be_weighted_but_not_negative():
    f, a, m = good_batch()
    a[0, 0, 2] = a[0, 2, 0] = 0.5   # a weighted edge (docs/language.md)
    assert np.all(np.isfinite(np.asarray(GRAPH(ntkc.GraphBatch(f, a, m)))))
    a[0, 0, 2] = a[0, 2, 0] = -1.0  # symmetric, so only the sign check can object
    raises(GRAPH, ntkc.GraphBatch(f, a, m), match=r"x1 graph 0: adjacency has a negative weight")
    raises(GRAPH, ntkc.GraphBatch(*good_batch()), ntkc.GraphBatch(f, a, m),
           match=r"x2 graph 0: adjacency has a negative weight")


def test_adjacency_must_be_symmetric():
    f, a, m = good_batch()
    a[0, 0, 2] = 1  # 0 -> 2 without 2 -> 0
    raises(GRAPH, ntkc.GraphBatch(f, a, m), match=r"x1 graph 0: adjacency is not symmetric")
    raises(GRAPH, ntkc.GraphBatch(*good_batch()), ntkc.GraphBatch(f, a, m),
           match=r"x2 graph 0: adjacency is not symmetric")


@pytest.mark.parametrize("value", [0.5, 2.0, -1.0, np.nan])
def test_mask_entries_must_be_0_or_1(value):
    f, a, m = good_batch()
    m[0, 1] = value
    raises(GRAPH, ntkc.GraphBatch(f, a, m), match=r"x1.mask must hold only 0/1 or booleans")


def test_edges_at_padded_nodes_are_refused():
    f, a, m = good_batch()
    a[1, 1, 2] = a[1, 2, 1] = 1  # node 2 of graph 1 is padding
    raises(GRAPH, ntkc.GraphBatch(f, a, m), match=r"x1.adjacency has edges at padded")
    raises(GRAPH, ntkc.GraphBatch(*good_batch()), ntkc.GraphBatch(f, a, m),
           match=r"x2.adjacency has edges at padded")


def test_nan_features_are_refused_even_at_padded_nodes():
    """Masked features are zeroed before use, but NaN there still means bad data."""
    for node in (0, 2):
        f, a, m = good_batch()
        f[1, node, 1] = np.nan
        raises(GRAPH, ntkc.GraphBatch(f, a, m),
               match=rf"x1.features contains NaN or Inf \(first at index \(1, {node}, 1\)\)")


def test_graph_shapes_are_refused():
    f, a, m = good_batch()
    raises(GRAPH, ntkc.GraphBatch(f[..., :1], a, m), match=r"x1.features has shape \(2, 3, 1\)")
    raises(GRAPH, ntkc.GraphBatch(f, a[:, :2, :2], m), match=r"x1.adjacency has shape \(2, 2, 2\)")
    raises(GRAPH, ntkc.GraphBatch(f, a, m[:, :2]), match=r"x1.mask has shape \(2, 2\)")
    raises(GRAPH, ntkc.GraphBatch(f[:0], a[:0], m[:0]), match="x1 has no graphs")


def test_float64_inputs_without_x64_warn_and_give_float32():
    """JAX's convention (float64 needs x64), but not silently: the kernel says
    it computed in float32, for arrays and for graphs."""
    import jax
    vec = ntkc.compile("input vector(dim=3)\nnet n { Dense Relu Dense }")
    gnn = ntkc.compile("input graph(features=2)\nnet n { GraphAgg Dense Relu GlobalSumPool }")
    x = np.random.default_rng(0).standard_normal((4, 3))
    graphs = [(np.ones((3, 2)), np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0.0]]))]
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.warns(UserWarning, match="x1 is float64 but JAX's x64 is off"):
            assert np.asarray(vec(x)).dtype == np.float32
        with pytest.warns(UserWarning, match="float64 but JAX's x64 is off"):
            assert np.asarray(gnn(graphs)).dtype == np.float32
    finally:
        jax.config.update("jax_enable_x64", True)
    assert np.asarray(vec(x)).dtype == np.float64
