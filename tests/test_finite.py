"""Finite-width networks: every weight layer's init draws iid N(0, 1) (what
``FiniteNet.sample`` relies on), forwards match independent numpy code, the
channel bookkeeping of blocks, and the empirical kernels against brute-force
Jacobians."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkc
from ntkc.empirical import Probe, empirical_draws
from ntkc.finite import FiniteNet, finite_net
from ntkc.registry import ShapeError, all_layers
from ntkc.shapes import Shape
from ntkc.verification import random_inputs


def weight_layer_args(rule):
    """Defaults, with required arguments filled (ints 3, floats 1.0)."""
    args = {}
    for p in rule.params:
        if p.required:
            args[p.name] = {"int": 3, "ints": 3, "float": 1.0, "floats": (1.0,)}.get(p.type)
        else:
            args[p.name] = p.default
    return args


@pytest.mark.parametrize("name", sorted(n for n, r in all_layers().items() if r.role == "weight"))
def test_every_weight_init_is_iid_standard_normal(name):
    """The Monte Carlo draws parameters with numpy as iid N(0, 1) in the shapes
    ``init`` gives; this holds only if every registered ``init`` draws exactly that."""
    rule = all_layers()[name]
    args = weight_layer_args(rule)
    # the first input the layer's shape rule accepts (a ShapeError is its
    # documented refusal; anything else, here or in init, fails the test)
    fits = []
    for shape in (Shape("vector", (), 40), Shape("sequence", (8,), 40), Shape("image", (8, 8), 40),
                  Shape("graph", (None,), 40)):
        try:
            rule.shape(shape, args)
        except ShapeError:
            continue
        fits.append(shape)
    assert fits, f"{name} accepts no input kind"
    params = rule.init(jax.random.PRNGKey(0), 40, 50, args, fits[0].nspatial)
    leaves = jax.tree_util.tree_leaves(params)
    assert leaves, f"{name}'s init returned no parameters"
    for leaf in jax.tree_util.tree_leaves(params):
        a = np.asarray(leaf, np.float64).ravel()
        n = a.size
        assert abs(a.mean()) < 5 / np.sqrt(n)
        assert abs(a.var() - 1) < 5 * np.sqrt(2 / n)
        assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 5 / np.sqrt(n)
        kurt = np.mean((a - a.mean()) ** 4) / a.var() ** 2
        assert abs(kurt - 3) < 5 * np.sqrt(24 / n)


def test_sample_has_init_structure_and_is_reproducible():
    kernel = ntkc.compile(
        "input image(height=4, width=4, channels=2)\n"
        "net n { Conv(kernel=3) Relu Residual { Conv(kernel=1) Relu Conv(kernel=1, b_std=0.1) } "
        "GlobalAvgPool Dense }")
    fnet = FiniteNet(kernel.net, width=8, out_width=3)
    ref = jax.eval_shape(fnet.init, jax.random.PRNGKey(0))
    p, _ = fnet.sample(0, 1)
    q, _ = fnet.sample(0, 1)
    r, _ = fnet.sample(0, 2)
    assert jax.tree_util.tree_structure(p) == jax.tree_util.tree_structure(ref)
    assert [a.shape for a in jax.tree_util.tree_leaves(p)] == \
           [a.shape for a in jax.tree_util.tree_leaves(ref)]
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(p),
                                                     jax.tree_util.tree_leaves(q)))
    assert not np.array_equal(jax.tree_util.tree_leaves(p)[0], jax.tree_util.tree_leaves(r)[0])


# -- forwards against numpy ----------------------------------------------------------------
def np_conv(x, w, stride, padding):
    """Direct NHWC convolution; 'same' pads total = max((out-1)s + k - n, 0),
    low half first; 'circular' wraps those pads."""
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    pads = []
    for size, k, s in ((h, kh, stride[0]), (wd, kw, stride[1])):
        if padding == "valid":
            pads.append((0, 0))
        else:
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
    mode = "wrap" if padding == "circular" else "constant"
    xp = np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), mode=mode)
    oh = (xp.shape[1] - kh) // stride[0] + 1
    ow = (xp.shape[2] - kw) // stride[1] + 1
    y = np.zeros((n, oh, ow, o))
    for i, j in itertools.product(range(oh), range(ow)):
        patch = xp[:, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw, :]
        y[:, i, j] = np.einsum("nabc,abco->no", patch, w)
    return y


def test_cnn_forward_matches_numpy():
    src = """input image(height=6, width=5, channels=2)
net n {
    Conv(kernel=3, W_std=1.3, b_std=0.2)
    Relu
    Conv(kernel=(2, 3), stride=2, padding="circular", W_std=1.1, b_std=0.3)
    Erf
    Conv(kernel=2, padding="valid", W_std=0.9)
    AvgPool(window=2, padding="same")
    Flatten
    Dense(W_std=1.2, b_std=0.5)
}"""
    kernel = ntkc.compile(src)
    fnet = FiniteNet(kernel.net, width=5, out_width=3, dtype=jnp.float64)
    params, _ = fnet.sample(0, 0)
    x = np.random.default_rng(0).standard_normal((3, 6, 5, 2))
    got = np.asarray(fnet.apply(params, x))
    p = [jax.tree_util.tree_map(np.asarray, q) for q in params]

    def conv(h, q, k, s, pad, w_std, b_std):
        return w_std / np.sqrt(np.prod(k) * h.shape[-1]) * np_conv(h, q["W"], s, pad) + b_std * q["b"]

    erf = np.vectorize(math.erf)
    h = np.maximum(conv(x, p[0], (3, 3), (1, 1), "same", 1.3, 0.2), 0)
    h = erf(conv(h, p[2], (2, 3), (2, 2), "circular", 1.1, 0.3))
    h = conv(h, p[4], (2, 2), (1, 1), "valid", 0.9, 0.0)
    # AvgPool 2x2, stride 2, "same": zero padding counted in the mean
    hp = np.pad(h, ((0, 0), (0, h.shape[1] % 2), (0, h.shape[2] % 2), (0, 0)))
    h = hp.reshape(3, hp.shape[1] // 2, 2, hp.shape[2] // 2, 2, -1).mean((2, 4))
    h = h.reshape(3, -1)
    want = 1.2 / np.sqrt(h.shape[1]) * h @ p[7]["W"] + 0.5 * p[7]["b"]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_graph_forward_matches_numpy():
    src = """input graph(features=3)
net g {
    Dense(W_std=1.5, b_std=0.2)
    GraphAgg(norm="mean")
    Relu
    GraphAgg(self_loops=false)
    Dense(W_std=1.1)
    GlobalAvgPool
}"""
    kernel = ntkc.compile(src)
    fnet = FiniteNet(kernel.net, width=4, dtype=jnp.float64)
    params, _ = fnet.sample(1, 0)
    batch = random_inputs(kernel, 3, 5)
    f, (adj, mask) = kernel._prepare(batch, "x1")
    got = np.asarray(fnet.apply(params, f, {"adjacency": adj, "mask": mask}))
    p = [jax.tree_util.tree_map(np.asarray, q) for q in params]
    for g in range(3):
        m = np.asarray(mask[g]).astype(bool)
        x, a = np.asarray(f[g])[m], np.asarray(adj[g])[m][:, m]
        h = 1.5 / np.sqrt(3) * x @ p[0]["W"] + 0.2 * p[0]["b"]
        a_hat = a + np.eye(len(a))
        h = np.maximum(a_hat @ h / a_hat.sum(1, keepdims=True), 0)
        h = a @ h
        h = 1.1 / np.sqrt(4) * h @ p[4]["W"]
        np.testing.assert_allclose(got[g], h.mean(0), rtol=1e-10, atol=1e-12)


# -- channel bookkeeping ---------------------------------------------------------------------
def channels(src, width=16, out_width=None):
    fnet = FiniteNet(ntkc.compile(src).net, width=width, out_width=out_width)
    return fnet, {(lay.node.layer, lay.path): (lay.c_in, lay.c_out) for lay in fnet.walk()}


def test_hidden_layers_have_width_and_the_readout_out_width():
    fnet, ch = channels("input vector(dim=3)\nnet n { Dense Relu Dense Relu Dense }", 16, 2)
    assert ch[("Dense", (0,))] == (3, 16) and ch[("Dense", (2,))] == (16, 16)
    assert ch[("Dense", (4,))] == (16, 2) and fnet.out_channels == 2 and fnet.tile == 1


def test_blocks_keep_streams_consistent():
    _, ch = channels("input vector(dim=3)\nnet n { Dense Relu "
                     "Concat { Identity Branch(width=3) { Dense } } Dense Relu Dense }")
    assert ch[("Concat", (2,))] == (16, 16 + 48)  # branches 1 : 3 as the kernel weighs them
    _, ch = channels("input vector(dim=3)\nnet n { Dense Residual { Relu Dense } Relu Dense }")
    assert ch[("Dense", (1, 0, 1))] == (16, 16)


def test_a_skip_on_the_raw_input_tiles_it_wide():
    """x + Dense(x) on a 3-channel input would keep the stream 3 wide; tiling
    the input to 6 copies (18 channels) keeps every weight layer's fan-in wide
    and the input kernel x·x'/3 unchanged."""
    fnet, ch = channels("input vector(dim=3)\nnet n { Residual { Dense } Dense Relu Dense }")
    assert fnet.tile == 6 and ch[("Dense", (0, 0, 0))] == (18, 18)
    x = np.random.default_rng(0).standard_normal((2, 3))
    rec = fnet.intermediates(fnet.sample(0, 0)[0], x)
    assert rec[(0, 0, 0)].shape == (2, 18)


# -- empirical kernels ----------------------------------------------------------------------
def brute_force(fnet, params, x1, x2):
    """NNGP f fᵀ/C and NTK (1/C)Σ_c J_c J_cᵀ from the full Jacobian."""
    f = jax.jit(fnet.apply)
    jac = jax.jit(jax.jacrev(fnet.apply))
    flat = lambda j: np.concatenate([np.asarray(a).reshape(a.shape[0], a.shape[1], -1)
                                     for a in jax.tree_util.tree_leaves(j)], -1)
    j1, j2 = flat(jac(params, x1)), flat(jac(params, x2))
    f1, f2 = np.asarray(f(params, x1)), np.asarray(f(params, x2))
    c = f1.shape[1]
    return f1 @ f2.T / c, np.einsum("icp,jcp->ij", j1, j2) / c


@pytest.mark.parametrize("src", [
    "input vector(dim=3)\nnet n { Dense(b_std=0.3) Erf Dense(W_std=1.2, b_std=0.1) }",
    "input sequence(length=5, channels=2)\nnet n { Conv(kernel=2, b_std=0.2) Relu "
    "Residual { Conv(kernel=3) Relu Conv(kernel=1) } GlobalAvgPool Dense }",
])
def test_empirical_kernels_equal_full_jacobian_gram(src):
    """With as many NTK directions as outputs the estimator is the exact channel
    mean, both for x1 against itself assembled from one-example chunks (a
    tiny memory budget) and for x1 against x2."""
    kernel = ntkc.compile(src)
    fnet = finite_net(kernel, width=6, out_width=3, dtype=jnp.float64)
    rng = np.random.default_rng(0)
    shape = (fnet.net.input.spatial or ()) + (fnet.net.input.channels,)
    x1 = rng.standard_normal((4,) + tuple(shape))
    x2 = rng.standard_normal((3,) + tuple(shape))
    if fnet.net.input.kind == "vector":  # x2 omitted, examples in chunks of one
        x2 = x1
        ((nn, nt),) = empirical_draws(fnet, x1, samples=2, seed=7, ntk_outputs=3, memory=1)
    else:                                # x1 against x2, in one block
        ((nn, nt),) = empirical_draws(fnet, x1, None, x2, None, samples=2, seed=7, ntk_outputs=3)
    for s in range(2):
        params, _ = fnet.sample(7, s)
        k12, t12 = brute_force(fnet, params, x1, x2)
        np.testing.assert_allclose(nn[s, ..., 0], k12, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(nt[s, ..., 0], t12, rtol=1e-9, atol=1e-12)


def test_layer_probes_read_the_intermediate_outputs():
    """A probe's NNGP is the channel mean of h_p h'_q; the diagonal layout is
    the diagonal of the full one; its NTK at chosen positions is the brute-force
    Jacobian Gram of that layer's channels (all channels as directions)."""
    kernel = ntkc.compile("input image(height=3, width=3, channels=2)\n"
                          "net n { Conv(kernel=2, b_std=0.2) Relu Conv(kernel=3) GlobalAvgPool Dense }")
    fnet = finite_net(kernel, width=4, dtype=jnp.float64)
    x = np.random.default_rng(1).standard_normal((3, 3, 3, 2))
    probes = (Probe((1,), diag=False, ntk_at=(0, 4, 8)), Probe((1,), diag=True, ntk_at=(0, 4, 8)))
    (full, diag) = empirical_draws(fnet, x, samples=1, seed=2, probes=probes, ntk_outputs=4)
    params, _ = fnet.sample(2, 0)
    h = np.asarray(fnet.intermediates(params, x)[(1,)]).reshape(3, 9, 4)
    np.testing.assert_allclose(full[0][0], np.einsum("ipc,jqc->ijpq", h, h) / 4, rtol=1e-10)
    np.testing.assert_allclose(diag[0][0], np.einsum("ijpp->ijp", full[0][0]), rtol=1e-10)

    def g(p):
        return fnet.intermediates(p, x)[(1,)].reshape(3, 9, 4)[:, jnp.array([0, 4, 8])]
    j = np.concatenate([np.asarray(a).reshape(3, 3, 4, -1)
                        for a in jax.tree_util.tree_leaves(jax.jit(jax.jacrev(g))(params))], -1)
    want = np.einsum("iacp,jbcp->ijab", j, j) / 4
    np.testing.assert_allclose(full[1][0], want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(diag[1][0], np.einsum("ijaa->ija", want), rtol=1e-9, atol=1e-12)
