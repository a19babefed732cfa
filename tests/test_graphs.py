"""ntkc.Graphs, the one graph value: every accepted form of the same graphs
(a list of pairs, a Graphs, a GraphBatch, the old padded features + ctx) gives
the same kernels and the same finite-network outputs; the finite net and the
kernel read one Â; padded ↔ ragged round trips are exact; checks name the
graph."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkc
from ntkc.finite import FiniteNet
from ntkc.graphs import as_graphs

F = 3
NET = ('input graph(features=3)\nnet n { Dense(W_std=1.3, b_std=0.2) GraphAgg(norm="mean") Relu '
       'Dense(W_std=1.2, b_std=0.1) GraphAgg Relu Dense GlobalSumPool }')
_KERNELS = {}


def kernel_of(src=NET):
    if src not in _KERNELS:
        _KERNELS[src] = ntkc.compile(src)
    return _KERNELS[src]


def pairs(seed=0, sizes=(4, 2, 6, 3), weighted=True):
    rng = np.random.default_rng(seed)
    out = []
    for v in sizes:
        a = np.triu((rng.random((v, v)) < 0.5) * (rng.uniform(0.2, 2.5, (v, v)) if weighted else 1), 1)
        out.append((rng.standard_normal((v, F)), a + a.T))
    return out


def forms(graphs):
    """The same graphs in every accepted form, the padded ones last."""
    g = ntkc.Graphs(graphs)
    return {"pairs": graphs, "tuple": tuple(graphs), "Graphs": g,
            "from_graphs": ntkc.GraphBatch.from_graphs(graphs),
            "padded view": g.padded(),
            "padded to 9": ntkc.GraphBatch.from_graphs(graphs, nodes=9)}


# -- kernels -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["joint", "padded"])
def test_every_form_gives_the_same_kernel(path):
    kernel = kernel_of()
    x1, x2 = pairs(0), pairs(1, (5, 1, 3))
    kw = {"batch_size": 4} if path == "padded" else {}
    want = [np.asarray(k) for k in kernel(x1, x2, get=("nngp", "ntk"), **kw)]
    want_sym = np.asarray(kernel(x1, get="ntk", **kw))
    for (name, a), b in zip(forms(x1).items(), forms(x2).values()):
        got = [np.asarray(k) for k in kernel(a, b, get=("nngp", "ntk"), **kw)]
        sym = np.asarray(kernel(a, get="ntk", **kw))
        if path == "padded" and name == "padded to 9":
            # the padded path keeps a GraphBatch's padding: other shapes, same kernel
            for g, w in zip(got + [sym], want + [want_sym]):
                np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=name)
        else:
            for g, w in zip(got + [sym], want + [want_sym]):
                np.testing.assert_array_equal(g, w, err_msg=name)


def test_mixed_forms_and_subsets():
    kernel = kernel_of()
    x = pairs(2, (3, 5, 2, 4, 6))
    g = ntkc.Graphs(x)
    full = np.asarray(kernel(g))
    # other subsets pack other bins: equal to rounding
    got = np.asarray(kernel(g[[4, 0]], ntkc.Graphs(x[1:3]).padded()))
    np.testing.assert_allclose(got, full[[4, 0]][:, 1:3], rtol=1e-12, atol=1e-12)


# -- the finite network ----------------------------------------------------------------------
def test_every_form_gives_the_same_finite_outputs():
    kernel = kernel_of()
    fnet = FiniteNet(kernel.net, width=8, out_width=2, dtype=jnp.float64)
    params, _ = fnet.sample(0, 0)
    x = pairs(3)
    batch = ntkc.GraphBatch.from_graphs(x)
    old = fnet.apply(params, jnp.asarray(batch.features),
                     {"adjacency": jnp.asarray(batch.adjacency), "mask": jnp.asarray(batch.mask)})
    for name, form in forms(x).items():
        got = np.asarray(fnet.apply(params, form))
        if name == "padded to 9":
            np.testing.assert_allclose(got, old, rtol=1e-12, atol=1e-12)
        else:
            np.testing.assert_array_equal(got, old, err_msg=name)
    # a GraphBatch is a pytree: the padded view goes through jit as tracers
    jitted = jax.jit(fnet.apply)(params, ntkc.Graphs(x).padded(dtype=np.float64))
    np.testing.assert_allclose(jitted, old, rtol=1e-12, atol=1e-12)


def test_empirical_ntk_takes_graphs():
    kernel = kernel_of()
    fnet = FiniteNet(kernel.net, width=6, out_width=2, dtype=jnp.float64)
    params, _ = fnet.sample(1, 0)
    x1, x2 = pairs(4), pairs(5, (2, 7))
    b1, b2 = (ntkc.GraphBatch.from_graphs(x) for x in (x1, x2))
    old = ntkc.empirical_ntk(fnet, params, jnp.asarray(b1.features), jnp.asarray(b2.features),
                             ctx1={"adjacency": b1.adjacency, "mask": b1.mask},
                             ctx2={"adjacency": b2.adjacency, "mask": b2.mask})
    for a, b in [(x1, x2), (ntkc.Graphs(x1), b2), (b1, ntkc.Graphs(x2))]:
        np.testing.assert_array_equal(ntkc.empirical_ntk(fnet, params, a, b), old)


@pytest.mark.parametrize("agg", ['GraphAgg(norm="mean")', "GraphAgg(self_loops=false)", "GraphAgg"])
def test_finite_net_and_kernel_read_one_aggregation(agg):
    """No weights: the finite output is exactly f(G) = 1ᵀ Â X, and Σ(G, G') =
    1ᵀ Â (X X'ᵀ / F) Â'ᵀ 1 = f(G)·f(G')/F, so the two agree to rounding only
    if both read the same Â (weights, self loops, degree normalisation)."""
    kernel = ntkc.compile(f"input graph(features={F})\nnet n {{ {agg} {agg} GlobalSumPool }}")
    fnet = FiniteNet(kernel.net, width=4, dtype=jnp.float64)
    g = ntkc.Graphs(pairs(6, (4, 1, 5, 3)))
    f = np.asarray(fnet.apply(fnet.init(jax.random.PRNGKey(0)), g))
    np.testing.assert_allclose(np.asarray(kernel(g, get="nngp")), f @ f.T / F, rtol=1e-12)


# -- the type ----------------------------------------------------------------------------
def test_round_trips_are_exact():
    x = pairs(7, (3, 1, 5))
    g = ntkc.Graphs(x)
    for nodes in (None, 8):
        back = ntkc.Graphs.from_padded(g.padded(nodes, np.float64))
        for (f0, a0), (f1, a1) in zip(x, back):
            np.testing.assert_array_equal(f1, f0)
            np.testing.assert_array_equal(a1, a0)
    batch = ntkc.GraphBatch.from_graphs(x, nodes=6)
    again = ntkc.Graphs.from_padded(batch).padded(6, batch.features.dtype)
    for name in ("features", "adjacency", "mask"):
        np.testing.assert_array_equal(getattr(again, name), getattr(batch, name))


def test_graphs_is_a_checked_read_only_sequence():
    x = pairs(8, (2, 4, 3))
    adj = x[1][1]
    g = ntkc.Graphs(x)
    assert len(g) == 3 and g.channels == F and list(g.sizes) == [2, 4, 3]
    f, a = g[1]
    np.testing.assert_array_equal(a, adj)
    adj[0, 1] = adj[1, 0] = 7.0          # the caller's array, not the checked copy
    assert g[1][1][0, 1] != 7.0
    with pytest.raises(ValueError):
        g[1][1][0, 0] = 1.0
    assert [len(h) for h, _ in g[np.array([True, False, True])]] == [2, 3]
    assert g.padded() is g.padded()       # the view is kept
    with pytest.raises(ValueError):
        g.padded().features[0, 0, 0] = 1.0
    small = ntkc.Graphs([(np.eye(2, 3), np.array([[0, 1], [1, 0]], np.int8))])
    assert small[0][1].dtype == np.int8 and small.padded(dtype=np.float64).adjacency.dtype == np.float64


def test_data_set_graphs_are_graphs():
    from ntkc.data import GraphDataset
    ds = GraphDataset("toy", pairs(9), np.array([0, 1, 0, 1]))
    assert isinstance(ds.graphs, ntkc.Graphs)
    np.testing.assert_array_equal(ds.batch([2, 0]).features, ds.graphs[[2, 0]].padded().features)
    with pytest.raises(ntkc.NtkError, match=r"toy graph 1: adjacency is not symmetric"):
        GraphDataset("toy", [pairs(9)[0], (np.ones((2, F)), np.array([[0, 1], [0, 0]]))],
                     np.array([0, 1]))


def finite_apply(x):
    fnet = FiniteNet(kernel_of().net, width=4)
    return fnet.apply(fnet.init(jax.random.PRNGKey(0)), x)


@pytest.mark.parametrize("make, match", [
    (lambda x: ntkc.Graphs(x), r"error: graph 2: adjacency is not symmetric \(entry \(0, 1\)"),
    (lambda x: ntkc.Graphs(x, name="train"), r"error: train graph 2: adjacency is not symmetric"),
    (lambda x: kernel_of()(x), r"error: x1 graph 2: adjacency is not symmetric"),
    (lambda x: kernel_of()(pairs(0), x), r"error: x2 graph 2: adjacency is not symmetric"),
    (lambda x: finite_apply(x), r"error: x graph 2: adjacency is not symmetric"),
])
def test_checks_name_the_graph(make, match):
    x = pairs(10, (3, 3, 4))
    a = x[2][1].copy()
    a[0, 1] += 1.0
    x[2] = (x[2][0], a)
    with pytest.raises(ntkc.NtkError, match=match):
        make(x)


def test_wrong_features_and_forms_are_refused():
    g = ntkc.Graphs([(np.ones((2, 2)), np.zeros((2, 2)))])
    with pytest.raises(ntkc.NtkError, match=r"x1: the graphs have 2 features per node, expected 3"):
        kernel_of()(g)
    with pytest.raises(ntkc.NtkError, match=r"graph 1: features have shape \(2, 4\), expected \(V, 3\)"):
        ntkc.Graphs([(np.ones((2, 3)), np.zeros((2, 2))), (np.ones((2, 4)), np.zeros((2, 2)))])
    with pytest.raises(ntkc.NtkError, match="Graphs.from_padded takes a GraphBatch"):
        ntkc.Graphs(ntkc.GraphBatch.from_graphs(pairs(0)))
    fnet = FiniteNet(kernel_of().net, width=4)
    with pytest.raises(ntkc.NtkError, match="the net's input is a graph; pass an ntkc.Graphs"):
        fnet.apply(fnet.init(jax.random.PRNGKey(0)), np.ones((1, 3, F)))
    with pytest.raises(ntkc.NtkError, match="not a graph"):
        ntkc.compile("input vector(dim=3)\nnet n { Dense }")(ntkc.Graphs(pairs(0)))
    assert as_graphs(g) is g


def test_a_store_takes_any_form_and_resumes_from_another(tmp_path):
    pytest.importorskip("zarr")
    kernel = kernel_of()
    x = pairs(11, (3, 5, 2, 4))
    gs = kernel.gram(x, store=tmp_path / "g.zarr", batch_size=2, chunk=2)
    np.testing.assert_allclose(gs.array(), np.asarray(kernel(x, batch_size=2)), rtol=1e-12)
    # the same graphs as a Graphs or its padded view are the same job's inputs
    for form in (ntkc.Graphs(x), ntkc.GraphBatch.from_graphs(x)):
        np.testing.assert_array_equal(kernel.gram(form, store=tmp_path / "g.zarr").array(),
                                      gs.array())
