"""Properties every kernel has, on random architectures and inputs: symmetry,
positive semi-definiteness, (x1, x2) blocks equal blocks of the Gram of the
concatenation, blocked == unblocked, graph kernels invariant under node
permutations, float32 close to float64 and finite (zero inputs included) —
and, since a wrong rule can have all of these, the values themselves: vector
and image nets against ``explain``'s lambdified recursion (an implementation
of every layer apart from the compiled one, see docs/explain.md), graph nets
against the numpy recursion of test_graph_reference (explain's cannot
evaluate a node of zero variance, which an isolated node without self loop
has), both to 1e-8."""

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import ntkc
from ntkc.explain import explain
from test_graph_reference import reference, source as graph_source

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

w_std = st.sampled_from([0.8, 1.0, 1.5, 2.0])
b_std = st.sampled_from([0.0, 0.1, 0.5])
act = st.sampled_from(["Relu", "Erf"])


@st.composite
def dense_block(draw):
    return f"Dense(W_std={draw(w_std)}, b_std={draw(b_std)}) {draw(act)}"


@st.composite
def vector_net(draw):
    blocks = draw(st.lists(dense_block(), min_size=1, max_size=4))
    if draw(st.booleans()):
        # a residual block reads a Gaussian (a Dense output), as activations must
        blocks.append(f"Dense(W_std={draw(w_std)}) Residual(alpha={draw(st.sampled_from([0.5, 1.0]))}) "
                      f"{{ {draw(act)} Dense(W_std={draw(w_std)}, b_std={draw(b_std)}) }}")
    return "input vector(dim=3)\nnet n {\n" + "\n".join(blocks) + f"\nDense(W_std={draw(w_std)})\n}}"


@st.composite
def image_net(draw):
    layers = []
    for _ in range(draw(st.integers(1, 2))):
        k = draw(st.sampled_from([1, 2, 3, "(2, 1)"]))
        pad = draw(st.sampled_from(["same", "circular"]))
        layers.append(f'Conv(kernel={k}, padding="{pad}", W_std={draw(w_std)}, b_std={draw(b_std)}) {draw(act)}')
    if draw(st.booleans()):
        layers.append("AvgPool(window=2)")
    layers.append(draw(st.sampled_from(["GlobalAvgPool", "Flatten", "GlobalSumPool"])))
    layers.append(f"Dense(W_std={draw(w_std)}, b_std={draw(b_std)})")
    return "input image(height=4, width=4, channels=2)\nnet n {\n" + "\n".join(layers) + "\n}"


@st.composite
def graph_net(draw):
    """(source, the same layers as test_graph_reference's list)."""
    layers = []
    for _ in range(draw(st.integers(1, 2))):
        layers += [("agg", draw(st.booleans()), draw(st.sampled_from(["sum", "mean"]))),
                   ("dense", draw(w_std), draw(b_std)), (draw(act).lower(),)]
    layers.append(("pool", draw(st.booleans())))
    return graph_source(layers), layers


def check_values(kernel, x1, x2, got):
    """``got`` = (Σ, Θ) of (x1, x2) against explain's evaluation of the same net."""
    for g, want in zip(got, explain(kernel.net).evaluate(x1, x2)):
        np.testing.assert_allclose(np.asarray(g), want, rtol=1e-8, atol=1e-10 * np.abs(want).max())


def check_gram(kernel, x, n, zero=None):
    """Symmetry, PSD, concatenation blocks, blocking, float32 vs float64, and
    the cross block's values against explain (which cannot evaluate an
    all-zero input, example ``zero``: its angle is 0/0 there)."""
    first, rest = x[:n], x[n:]
    nngp12, ntk12 = map(np.asarray, kernel(first, rest, get=("nngp", "ntk")))
    rows = [i for i in range(n) if i != zero]
    cols = [i for i in range(n, len(x)) if i != zero]
    check_values(kernel, x[rows], x[cols], [k[rows][:, [i - n for i in cols]] for k in (nngp12, ntk12)])
    gram = np.asarray(kernel(x))
    assert np.all(np.isfinite(gram))
    np.testing.assert_allclose(gram, gram.T, rtol=1e-10, atol=1e-12)
    eig = np.linalg.eigvalsh(gram)
    assert eig.min() >= -1e-6 * np.trace(gram)
    np.testing.assert_allclose(ntk12, gram[:n, n:], rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(kernel(x, batch_size=2), gram, rtol=1e-7, atol=1e-10)
    gram32 = np.asarray(kernel(x.astype(np.float32)))
    assert gram32.dtype == np.float32 and np.all(np.isfinite(gram32))
    np.testing.assert_allclose(gram32, gram, rtol=2e-3, atol=2e-3 * np.abs(gram).max())


@SETTINGS
@given(vector_net(), st.integers(0, 2**31 - 1))
def test_vector_nets(src, seed):
    x = np.random.default_rng(seed).normal(size=(7, 3))
    x[2] = 0.0  # an all-zero input is legal
    check_gram(ntkc.compile(src), x, 3, zero=2)


@SETTINGS
@given(image_net(), st.integers(0, 2**31 - 1))
def test_image_nets(src, seed):
    x = np.random.default_rng(seed).normal(size=(5, 4, 4, 2))
    check_gram(ntkc.compile(src), x, 2)


def random_graphs(rng, n, v=6):
    feats, adj, mask = np.zeros((n, v, 3)), np.zeros((n, v, v)), np.zeros((n, v))
    for i in range(n):
        size = rng.integers(2, v + 1)
        a = np.triu((rng.random((size, size)) < 0.5).astype(float), 1)
        adj[i, :size, :size] = a + a.T
        feats[i, :size] = rng.normal(size=(size, 3))
        mask[i, :size] = 1
    return feats, adj, mask


@SETTINGS
@given(graph_net(), st.integers(0, 2**31 - 1))
def test_graph_nets(net, seed):
    src, layers = net
    rng = np.random.default_rng(seed)
    kernel = ntkc.compile(src)
    f, a, m = random_graphs(rng, 5)
    g = ntkc.GraphBatch(f, a, m)
    gram = np.asarray(kernel(g))
    sub = ntkc.GraphBatch(f[:2], a[:2], m[:2])
    rest = ntkc.GraphBatch(f[2:], a[2:], m[2:])
    nngp12, ntk12 = map(np.asarray, kernel(sub, rest, get=("nngp", "ntk")))
    real = [(f[i][m[i] > 0], a[i][m[i] > 0][:, m[i] > 0]) for i in range(len(f))]
    for got, want in zip((nngp12, ntk12), reference(real, layers)):
        np.testing.assert_allclose(got, want[:2, 2:], rtol=1e-8, atol=1e-10 * np.abs(want).max())
    np.testing.assert_allclose(gram, gram.T, rtol=1e-10, atol=1e-12)
    assert np.linalg.eigvalsh(gram).min() >= -1e-6 * np.trace(gram)
    # permuting the nodes of every graph (padding included) changes nothing
    perm = rng.permutation(f.shape[1])
    g2 = ntkc.GraphBatch(f[:, perm], a[:, perm][:, :, perm], m[:, perm])
    np.testing.assert_allclose(kernel(g2), gram, rtol=1e-7, atol=1e-12)
    # padding every graph with more empty nodes changes nothing
    pad = lambda arr, axes: np.pad(arr, [(0, 3) if i in axes else (0, 0) for i in range(arr.ndim)])
    g3 = ntkc.GraphBatch(pad(f, (1,)), pad(a, (1, 2)), pad(m, (1,)))
    np.testing.assert_allclose(kernel(g3), gram, rtol=1e-7, atol=1e-12)
    # blocks of the Gram
    np.testing.assert_allclose(ntk12, gram[:2, 2:], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(kernel(g, batch_size=2), gram, rtol=1e-7, atol=1e-12)
