"""A compiled kernel inside jax.jit, jax.vmap and jax.grad (issue 19, item 3),
``get=None``, and the argument errors of a call.

Gradients are checked against central finite differences of the eager kernel
in float64, on nets with smooth activations and on Relu-family nets at inputs
away from their kinks (no two inputs parallel)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkc
from ntkc.kernel import Kernels


def _mlp(act, dim=3):
    return ntkc.compile(f"""input vector(dim={dim})
net n {{ Dense(W_std=1.5, b_std=0.1) {act} Dense(W_std=1.4, b_std=0.2) {act} Dense(W_std=1.3) }}""")


CNN = ntkc.compile("""input image(height=3, width=3, channels=2)
net c { Conv(kernel=2, W_std=1.4, b_std=0.1) Relu Conv(kernel=2, padding="valid", W_std=1.3)
        GlobalAvgPool }""")

GRAPH = ntkc.compile("""input graph(features=3)
net g { GraphAgg Dense(W_std=1.5, b_std=0.1) Gelu GraphAgg(norm="mean") Dense(W_std=1.4)
        GlobalSumPool }""")


def _rng(seed):
    return np.random.default_rng(seed)


def _fd_grad(f, x, h=1e-6):
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        out[i] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def _close(a, b, tol):
    a, b = np.asarray(a), np.asarray(b)
    return np.max(np.abs(a - b)) <= tol * np.max(np.abs(b))


def test_jit_equals_eager_vector_image_graph():
    x = _rng(0).normal(size=(5, 3))
    k = _mlp("Relu")
    for get in ("ntk", "nngp", ("nngp", "ntk"), None):
        eager = k(x, get=get)
        jitted = jax.jit(lambda x: k(x, get=get))(x)
        np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-12, atol=0)
    x2 = _rng(1).normal(size=(2, 3))
    np.testing.assert_allclose(jax.jit(k)(x, x2), k(x, x2), rtol=1e-12)

    img = _rng(2).normal(size=(3, 3, 3, 2))
    np.testing.assert_allclose(jax.jit(lambda x: CNN(x))(img), CNN(img), rtol=1e-12)

    feats = _rng(3).normal(size=(2, 4, 3))
    adj = np.array([[0, 1, 1, 0], [1, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]], float)
    adj = np.stack([adj, np.ones((4, 4)) - np.eye(4)])
    batch = ntkc.GraphBatch(feats, adj)
    jitted = jax.jit(lambda f, a: GRAPH(ntkc.GraphBatch(f, a), get="nngp"))(feats, adj)
    np.testing.assert_allclose(jitted, GRAPH(batch, get="nngp"), rtol=1e-12)


@pytest.mark.parametrize("act", ["Erf", "Gelu", "Relu",
                                 pytest.param("Sin(b=0.8, c=0.2)", marks=pytest.mark.slow),
                                 pytest.param("ABRelu(a=-0.3, b=1.2)", marks=pytest.mark.slow),
                                 pytest.param("RectifiedMonomial(degree=2)", marks=pytest.mark.slow)])
def test_grad_matches_finite_differences(act):
    k = _mlp(act)
    x = _rng(4).normal(size=(4, 3))
    x2 = _rng(5).normal(size=(3, 3))

    # one scalar mixing a Gram entry, a Gram diagonal entry (cos θ = 1 there),
    # a cross entry and the named-tuple result, so one gradient covers them all
    def f(x):
        both = k(x, x2, get=None)
        return (k(x)[0, 2] + 0.7 * k(x, get="nngp")[1, 1] + 0.3 * k(x, x2)[3, 1]
                + 0.1 * jnp.sum(both.nngp) + 0.05 * jnp.sum(both.ntk))

    g = jax.jit(jax.grad(f))(x)  # jitted: un-jitted grad dispatches op by op (slow)
    assert np.all(np.isfinite(g))
    assert _close(g, _fd_grad(lambda y: float(f(y)), x), 1e-6)


def test_grad_with_equal_variances():
    # rows that differ only in signs have bit-for-bit equal variances at every
    # layer, where the kernel takes the shortcut √(v1·v2) = v1; its derivative
    # must still be ½ in each (a plain derivative of the shortcut is 71% off here)
    v = np.array([0.3, -1.1, 0.7])
    x = v * np.array([[1, 1, 1], [1, -1, 1], [1, 1, -1.0]])
    x2 = v * np.array([[-1, 1, 1], [1, -1, -1.0]])  # none parallel to a row of x
    k = _mlp("Relu")
    f = lambda x: k(x, x2)[0, 1]
    assert _close(jax.jit(jax.grad(f))(x), _fd_grad(lambda y: float(f(y)), x), 1e-6)


def test_grad_through_conv_and_pool():
    img = _rng(8).normal(size=(2, 3, 3, 2))
    other = _rng(9).normal(size=(1, 3, 3, 2))
    f = lambda x: CNN(x, other)[1, 0]
    assert _close(jax.jit(jax.grad(f))(img), _fd_grad(lambda y: float(f(y)), img), 1e-6)


def test_vmap_over_sets_of_x2():
    k = _mlp("Gelu")
    x1 = _rng(10).normal(size=(4, 3))
    sets = _rng(11).normal(size=(5, 2, 3))
    out = jax.vmap(lambda x2: k(x1, x2))(sets)
    assert out.shape == (5, 4, 2)
    for i in range(5):
        np.testing.assert_allclose(out[i], k(x1, sets[i]), rtol=1e-12)
    both = jax.vmap(lambda x2: k(x1, x2, get=None))(sets)
    assert isinstance(both, Kernels) and both.nngp.shape == (5, 4, 2)
    np.testing.assert_allclose(both.nngp[3], k(x1, sets[3], get="nngp"), rtol=1e-12)


def test_get_none_gives_both_by_name():
    k = _mlp("Relu")
    x = _rng(12).normal(size=(3, 3))
    both = k(x, get=None)
    assert isinstance(both, Kernels) and both._fields == ("nngp", "ntk")
    # one fused function for both may round differently from one for each
    np.testing.assert_allclose(both.nngp, k(x, get="nngp"), rtol=1e-14)
    np.testing.assert_allclose(both.ntk, k(x), rtol=1e-14)
    nngp, ntk = both
    np.testing.assert_array_equal(ntk, both.ntk)


@pytest.mark.parametrize("get, words", [(5, "get=5"), ("cov1", "get='cov1'"),
                                        (("ntk", 3), "get=3"), ((), "get=()")])
def test_bad_get_is_ntk_error(get, words):
    k = _mlp("Relu")
    with pytest.raises(ntkc.NtkError, match=words):
        k(np.ones((2, 3)), get=get)


def test_shape_errors_under_jit_name_expected_and_given():
    k = _mlp("Relu")
    with pytest.raises(ntkc.NtkError, match=r"x1 has shape \(2, 4\).*expected \(N, 3\)"):
        jax.jit(lambda x: k(x))(jnp.ones((2, 4)))
    with pytest.raises(ntkc.NtkError, match=r"x2 has shape \(2,\)"):
        jax.jit(lambda x: k(jnp.ones((2, 3)), x))(jnp.ones(2))
    with pytest.raises(ntkc.NtkError, match="memory_limit= needs concrete arrays"):
        jax.jit(lambda x: k(x, memory_limit="1GB"))(jnp.ones((2, 3)))
    with pytest.raises(ntkc.NtkError, match=r"x1.adjacency has shape \(2, 3, 3\), expected \(2, 4, 4\)"):
        jax.jit(lambda f, a: GRAPH(ntkc.GraphBatch(f, a)))(jnp.ones((2, 4, 3)), jnp.ones((2, 3, 3)))


@pytest.mark.parametrize("kw, words", [({"devices": "cpu"}, "devices='cpu'"),
                                       ({"devices": ["cpu"]}, "'cpu' is not a JAX device"),
                                       ({"progress": "yes"}, "progress='yes'"),
                                       ({"batch_size": 0}, "batch_size must be")])
def test_bad_options_are_ntk_errors(kw, words):
    with pytest.raises(ntkc.NtkError, match=words):
        _mlp("Relu")(np.ones((2, 3)), **kw)
