"""Finite forwards that Monte Carlo verification reads but only slow budgets
would catch: a Residual's alpha and a graph readout over padded nodes that
carry a bias (a pool that counted them would shift every output), each
against a forward written in numpy from the drawn parameters; and the NTK
probe directions, which the other finite tests (k ≥ C) never draw."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkc
from ntkc.finite import FiniteNet


def draw(src, width=5, out_width=3):
    kernel = ntkc.compile(src)
    fnet = FiniteNet(kernel.net, width=width, out_width=out_width, dtype=jnp.float64)
    params, _ = fnet.sample(2, 0)
    return kernel, fnet, jax.tree_util.tree_map(np.asarray, params)


def dense(h, p, w_std, b_std):
    return w_std / np.sqrt(h.shape[-1]) * h @ p["W"] + b_std * p["b"]


def test_residual_forward_scales_its_body_by_alpha():
    _, fnet, p = draw("input vector(dim=4)\nnet n { Dense(W_std=1.3, b_std=0.1) "
                      "Residual(alpha=0.6) { Relu Dense(W_std=1.2, b_std=0.3) } Dense(W_std=0.9) }")
    x = np.random.default_rng(0).standard_normal((3, 4))
    h = dense(x, p[0], 1.3, 0.1)
    h = h + 0.6 * dense(np.maximum(h, 0), p[1]["bodies"][0][1], 1.2, 0.3)
    np.testing.assert_allclose(np.asarray(fnet.apply(p, x)), dense(h, p[2], 0.9, 0.0),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("pool", ["GlobalAvgPool", "GlobalSumPool"])
def test_graph_pool_forward_skips_padded_nodes(pool):
    """The last Dense gives padded nodes its bias; only real nodes may be pooled."""
    kernel, fnet, p = draw("input graph(features=2)\nnet n { Dense(W_std=1.4, b_std=0.2) "
                           f'GraphAgg(norm="mean") Relu Dense(W_std=1.1, b_std=0.5) {pool} }}')
    rng = np.random.default_rng(3)
    graphs = []
    for v in (3, 5, 2):
        a = np.triu((rng.random((v, v)) < 0.6).astype(float), 1)
        graphs.append((rng.standard_normal((v, 2)), a + a.T))
    batch = ntkc.GraphBatch.from_graphs(graphs, nodes=7)
    ctx = {"adjacency": jnp.asarray(batch.adjacency), "mask": jnp.asarray(batch.mask)}
    got = np.asarray(fnet.apply(p, jnp.asarray(batch.features), ctx))
    for g, (x, a) in enumerate(graphs):
        h = dense(x, p[0], 1.4, 0.2)
        a_hat = a + np.eye(len(a))
        h = np.maximum(a_hat @ h / a_hat.sum(1, keepdims=True), 0)
        h = dense(h, p[3], 1.1, 0.5)
        want = h.mean(0) if pool == "GlobalAvgPool" else h.sum(0)
        np.testing.assert_allclose(got[g], want, rtol=1e-10, atol=1e-12)


def test_ntk_directions_are_rademacher_over_root_c():
    """The NTK probe directions (FiniteNet.sample's docstring): k < C gives
    independent ±1/√C entries, so each channel's own term enters the estimate
    with weight exactly 1/C; k ≥ C gives the channels themselves."""
    _, fnet, _ = draw("input vector(dim=4)\nnet n { Dense Relu Dense }")
    _, (few, every) = fnet.sample(0, 0, channels=(16, 5), counts=(3, 5))
    few, every = np.asarray(few), np.asarray(every)
    assert few.shape == (16, 3)
    np.testing.assert_allclose(np.abs(few), 0.25, rtol=1e-12)
    assert 0 < (few > 0).mean() < 1
    np.testing.assert_array_equal(every, np.eye(5))


def test_chunked_draws_equal_one_chunk_for_position_pairs():
    """A tight ``memory`` cuts the examples into chunks and mirrors the blocks
    below the diagonal; for a probe over every position pair the mirror must
    swap the positions too (K(x', x)[p, q] = K(x, x')[q, p])."""
    from ntkc.empirical import Probe, empirical_draws
    _, fnet, _ = draw("input sequence(length=4, channels=2)\n"
                      "net n { Conv(kernel=2, b_std=0.1) Relu Conv(kernel=2) GlobalAvgPool Dense }")
    x = jnp.asarray(np.random.default_rng(4).standard_normal((5, 4, 2)))
    probes = (Probe((1,), diag=False, ntk_at=(0, 3)), Probe())
    whole = empirical_draws(fnet, x, samples=2, seed=1, probes=probes)
    chunked = empirical_draws(fnet, x, samples=2, seed=1, probes=probes, memory=1.0)
    for (nn, nt), (cn, ct) in zip(whole, chunked):
        assert nn.shape == cn.shape
        np.testing.assert_allclose(cn, nn, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(ct, nt, rtol=1e-9, atol=1e-12)
