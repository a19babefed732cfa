"""The empirical NTK of a finite network at its current parameters
(``ntkc.empirical_ntk``) and the parameter pytree it is taken in: against a
finite-difference Jacobian, batched against unbatched, trainable by a plain
JAX gradient step, the ordered/chaotic phases of one step's change, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import ntkc

MLP = """
input vector(dim=3)
net mlp {
    Dense(W_std=1.3, b_std=0.4)
    Erf
    Dense(W_std=1.1, b_std=0.2)
    Erf
    Dense(W_std=0.9, b_std=0.3)
}
"""

CNN = """
input image(height=4, width=4, channels=2)
net cnn {
    Conv(kernel=2, W_std=1.2, b_std=0.1)
    Erf
    Residual { Conv(kernel=(2, 2), W_std=0.8) Erf Conv(kernel=2) }
    GlobalAvgPool
    Dense(W_std=1.5, b_std=0.2)
}
"""


def fd_jacobian(fnet, params, x, eps=1e-6):
    """(N, C, P): central differences of every output in every parameter."""
    flat, unravel = ravel_pytree(params)
    steps = eps * np.eye(flat.size)
    f = jax.jit(jax.vmap(lambda v: fnet.apply(unravel(v), x)))
    hi, lo = np.asarray(f(flat + steps)), np.asarray(f(flat - steps))   # (P, N, C)
    return np.moveaxis((hi - lo) / (2 * eps), 0, -1)


@pytest.mark.parametrize("src,width,shape", [(MLP, 4, (5, 3)), (CNN, 3, (4, 4, 4, 2))])
def test_against_finite_difference_jacobian(src, width, shape):
    """Θ̂_cd(x, x') = Σ_p ∂f_c(x)/∂θ_p ∂f_d(x')/∂θ_p with the Jacobian from
    central differences (numpy, no autodiff), at trained-like parameters
    (init, then moved off the N(0, 1) draw) and in all three output modes."""
    fnet = ntkc.finite_net(ntkc.compile(src), width=width, out_width=2, dtype=jnp.float64)
    params = fnet.sample(3, 0)[0]  # init's pytree, drawn by numpy (no threefry compiles)
    params = jax.tree_util.tree_map(lambda a: a + 0.3 * jnp.sin(7 * a), params)
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal(shape)
    x2 = rng.standard_normal((3,) + shape[1:])
    j1, j2 = fd_jacobian(fnet, params, x1), fd_jacobian(fnet, params, x2)
    full = np.einsum("icp,jdp->ijcd", j1, j2)
    got = ntkc.empirical_ntk(fnet, params, x1, x2, outputs="full")
    np.testing.assert_allclose(got, full, rtol=1e-6, atol=1e-8)
    diag = np.einsum("ijcc->ijc", full)
    np.testing.assert_allclose(ntkc.empirical_ntk(fnet, params, x1, x2, outputs="diag"), diag,
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ntkc.empirical_ntk(fnet, params, x1, x2), diag.mean(-1),
                               rtol=1e-6, atol=1e-8)
    sym = np.einsum("icp,jdp->ijcd", j1, j1)
    np.testing.assert_allclose(ntkc.empirical_ntk(fnet, params, x1, outputs="full"), sym,
                               rtol=1e-6, atol=1e-8)


def test_batched_equals_unbatched():
    """Blocks of 3 (uneven: a padded last block) and of two examples (picked by
    the memory budget) give the one-block Gram, for Θ̂(X, X) (upper blocks
    mirrored) and Θ̂(X1, X2), in every output mode; Θ̂(X2, X1) is its transpose."""
    fnet = ntkc.finite_net(ntkc.compile(MLP), width=16, out_width=3, dtype=jnp.float64)
    params = fnet.sample(0, 0)[0]
    rng = np.random.default_rng(1)
    x1, x2 = rng.standard_normal((8, 3)), rng.standard_normal((5, 3))
    two = 3 * 3 * fnet.num_params() * 8 * 2  # two examples' Jacobians, as empirical_ntk counts
    for outputs in ("mean", "diag", "full"):
        ref_sym = ntkc.empirical_ntk(fnet, params, x1, outputs=outputs, batch=8)
        ref_cross = ntkc.empirical_ntk(fnet, params, x1, x2, outputs=outputs, batch=8)
        swap = (1, 0, 3, 2) if outputs == "full" else (1, 0) + tuple(range(2, ref_cross.ndim))
        np.testing.assert_allclose(
            ntkc.empirical_ntk(fnet, params, x2, x1, outputs=outputs).transpose(swap), ref_cross,
            rtol=1e-12)
        for kw in ({"batch": 3}, {"memory": two}):
            np.testing.assert_allclose(ntkc.empirical_ntk(fnet, params, x1, outputs=outputs, **kw),
                                       ref_sym, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(
                ntkc.empirical_ntk(fnet, params, x1, x2, outputs=outputs, **kw), ref_cross,
                rtol=1e-12, atol=1e-12)


def test_params_pytree_trains_with_a_plain_jax_step():
    """init's pytree is what jax.grad returns and what tree_map updates:
    plain gradient descent lowers the loss, and the empirical NTK of the moved
    parameters is that of the network at them (H = J Jᵀ, J by jax.jacrev)."""
    fnet = ntkc.finite_net(ntkc.compile(MLP), width=32, out_width=1, dtype=jnp.float64)
    params = fnet.init(jax.random.PRNGKey(1))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, 3))
    y = np.sin(x.sum(1, keepdims=True))

    @jax.jit
    def loss(p):
        return 0.5 * jnp.mean((fnet.apply(p, x) - y) ** 2)

    step = jax.jit(lambda p: jax.tree_util.tree_map(lambda a, g: a - 0.5 * g, p, jax.grad(loss)(p)))
    losses = [float(loss(params))]
    for _ in range(30):
        params = step(params)
        losses.append(float(loss(params)))
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(fnet.sample(0, 0)[0])
    assert losses[-1] < 0.5 * losses[0]
    assert all(b <= a + 1e-12 for a, b in zip(losses, losses[1:]))
    jac = jax.jacrev(lambda p: fnet.apply(p, x)[:, 0])(params)
    h = sum(j.reshape(12, -1) @ j.reshape(12, -1).T for j in jax.tree_util.tree_leaves(jac))
    np.testing.assert_allclose(ntkc.empirical_ntk(fnet, params, x), h, rtol=1e-10)


DEEP = """
input vector(dim=8)
let depth = 8
let w = sqrt(2)
net deep {
    repeat depth { Dense(W_std=w) Relu }
    Dense(W_std=w)
}
"""


def one_step_change(s2, seed, lr=0.1, width=32):
    """E[ΔΘ(x, x)] / E[Θ(x, x)] after one GD step on ½(f(x) − y)² at x,
    over 4 inputs on the sphere |x|² = d (the notes' Theorem 7)."""
    kernel = ntkc.compile(DEEP, constants={"w": float(np.sqrt(s2))})
    fnet = ntkc.finite_net(kernel, width=width, out_width=1, dtype=jnp.float64)
    params = fnet.sample(seed, 0)[0]
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((4, 8))
    xs *= np.sqrt(8) / np.linalg.norm(xs, axis=1, keepdims=True)
    before, change = [], []
    for x, y in zip(xs, (1.0, -1.0, 1.0, -1.0)):
        grad = jax.grad(lambda p: 0.5 * (fnet.apply(p, x[None])[0, 0] - y) ** 2)(params)
        moved = jax.tree_util.tree_map(lambda a, g: a - lr * g, params, grad)
        t0 = ntkc.empirical_ntk(fnet, params, x[None])[0, 0]
        change.append(ntkc.empirical_ntk(fnet, moved, x[None])[0, 0] - t0)
        before.append(t0)
    return abs(np.mean(change)) / np.mean(before)


def test_one_step_change_ordered_below_chaotic():
    """Theorem 7's direction on a depth-8 ReLU net: σ_w² = 1 (ordered) changes
    the NTK by one GD step relatively far less than σ_w² = 4 (chaotic). Over
    seeds 0-9 the ratio chaotic/ordered was 1e4 to 5e25 (ordered 0.005 to 0.5,
    σ_w² = 2 in between: 0.04 to 0.85); the pinned margin is 100."""
    for seed in (0, 1):
        ordered, chaotic = one_step_change(1.0, seed), one_step_change(4.0, seed)
        assert chaotic > 100 * ordered, (seed, ordered, chaotic)


def test_bad_shapes_raise_with_expected_and_given():
    fnet = ntkc.finite_net(ntkc.compile(MLP), width=4, out_width=2, dtype=jnp.float64)
    params = fnet.sample(0, 0)[0]
    x = np.zeros((5, 3))
    with pytest.raises(ntkc.NtkError, match=r"x1 has shape \(5, 4\).*expected \(N, 3\)"):
        ntkc.empirical_ntk(fnet, params, np.zeros((5, 4)))
    with pytest.raises(ntkc.NtkError, match=r"x2 has shape \(3,\).*expected \(N, 3\)"):
        ntkc.empirical_ntk(fnet, params, x, np.zeros(3))
    with pytest.raises(ntkc.NtkError, match=r"x has shape \(5, 3, 1\).*expected \(N, 3\)"):
        fnet.apply(params, np.zeros((5, 3, 1)))
    bad = list(params)
    bad[0] = dict(bad[0], W=bad[0]["W"][:2])
    with pytest.raises(ntkc.NtkError, match=r"params\[0\]\['W'\] has shape \(2, 4\), expected \(3, 4\)"):
        ntkc.empirical_ntk(fnet, bad, x)
    with pytest.raises(ntkc.NtkError, match="structure FiniteNet.init returns"):
        fnet.apply(params[:-1], x)
    with pytest.raises(ntkc.NtkError, match="outputs="):
        ntkc.empirical_ntk(fnet, params, x, outputs="trace")
    with pytest.raises(ntkc.NtkError, match="batch must be"):
        ntkc.empirical_ntk(fnet, params, x, batch=0)
    with pytest.raises(ntkc.NtkError, match="at least one example"):
        ntkc.empirical_ntk(fnet, params, np.zeros((0, 3)))
