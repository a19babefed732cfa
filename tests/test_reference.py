"""The compiled kernel against references written independently in plain
numpy: the Σ/Σ̇ recursion of the lecture notes for Dense/Relu/Erf chains, the
1-hidden-layer NTK closed form and the arc-cosine kernel."""

import numpy as np
import pytest

import ntkc


def np_relu(c, v1, v2):
    norm = np.sqrt(np.outer(v1, v2))
    cos = np.clip(c / norm, -1, 1)
    th = np.arccos(cos)
    return norm * (np.sin(th) + (np.pi - th) * cos) / (2 * np.pi), (np.pi - th) / (2 * np.pi), v1 / 2, v2 / 2


def np_erf(c, v1, v2):
    d = np.sqrt(np.outer(1 + 2 * v1, 1 + 2 * v2))
    s = 2 / np.pi * np.arcsin(2 * c / d)
    dot = 4 / np.pi / np.sqrt(np.outer(1 + 2 * v1, 1 + 2 * v2) - 4 * c**2)
    f = lambda v: 2 / np.pi * np.arcsin(2 * v / (1 + 2 * v))
    return s, dot, f(v1), f(v2)


def reference(x1, x2, layers):
    """layers: list of ("dense", w, b) | ("relu",) | ("erf",)."""
    d = x1.shape[1]
    c = x1 @ x2.T / d
    v1 = (x1 * x1).sum(1) / d
    v2 = (x2 * x2).sum(1) / d
    theta = np.zeros_like(c)
    for layer in layers:
        if layer[0] == "dense":
            _, w, b = layer
            c, v1, v2 = w * w * c + b * b, w * w * v1 + b * b, w * w * v2 + b * b
            theta = w * w * theta + c
        else:
            c, dot, v1, v2 = (np_relu if layer[0] == "relu" else np_erf)(c, v1, v2)
            theta = theta * dot
    return c, theta


def source(dim, layers):
    body = []
    for layer in layers:
        if layer[0] == "dense":
            body.append(f"Dense(W_std={layer[1]!r}, b_std={layer[2]!r})")
        else:
            body.append({"relu": "Relu", "erf": "Erf"}[layer[0]])
    return f"input vector(dim={dim})\nnet n {{\n  " + "\n  ".join(body) + "\n}\n"


@pytest.mark.parametrize("layers", [
    [("dense", 1.5, 0.1), ("relu",), ("dense", 1.5, 0.1)],
    [("dense", 1.2, 0.3), ("erf",), ("dense", 0.9, 0.0), ("relu",), ("dense", 2.0, 0.5), ("erf",),
     ("dense", 1.0, 0.2)],
    [("dense", 1.4, 0.0)] + [("relu",), ("dense", 1.4, 0.05)] * 6,
])
def test_chain_matches_numpy(layers):
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(6, 5)), rng.normal(size=(4, 5))
    kernel = ntkc.compile(source(5, layers))
    nngp, ntk = kernel(x1, x2, get=("nngp", "ntk"))
    ref_nngp, ref_ntk = reference(x1, x2, layers)
    np.testing.assert_allclose(nngp, ref_nngp, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ntk, ref_ntk, rtol=1e-9, atol=1e-12)


def test_one_hidden_layer_closed_form():
    """f(x) = (1/√m) Σ_i b_i relu(a_iᵀx/√D): the notes' NTK is
    (‖x‖‖x'‖/(2πD))·[sin φ + 2(π − φ) cos φ] (weights of both layers), the
    NNGP is the degree-1 arc-cosine kernel (‖x‖‖x'‖/(2πD))·[sin φ + (π − φ) cos φ]."""
    rng = np.random.default_rng(1)
    d = 7
    x1, x2 = rng.normal(size=(5, d)), rng.normal(size=(3, d))
    kernel = ntkc.compile(f"input vector(dim={d})\nnet n {{ Dense Relu Dense }}")
    nngp, ntk = kernel(x1, x2, get=("nngp", "ntk"))
    n1, n2 = np.linalg.norm(x1, axis=1), np.linalg.norm(x2, axis=1)
    cos = np.clip(x1 @ x2.T / np.outer(n1, n2), -1, 1)
    phi = np.arccos(cos)
    scale = np.outer(n1, n2) / (2 * np.pi * d)
    np.testing.assert_allclose(nngp, scale * (np.sin(phi) + (np.pi - phi) * cos), rtol=1e-10)
    np.testing.assert_allclose(ntk, scale * (np.sin(phi) + 2 * (np.pi - phi) * cos), rtol=1e-10)


def test_arccos_kernel_by_monte_carlo_of_the_activation():
    """The Relu pair rule is E[relu(u)relu(v)] for (u, v) ~ N(0, Λ): numpy sampling."""
    rng = np.random.default_rng(2)
    lam = np.array([[1.3, 0.7], [0.7, 0.9]])
    uv = rng.multivariate_normal([0, 0], lam, size=2_000_000)
    mc = np.mean(np.maximum(uv[:, 0], 0) * np.maximum(uv[:, 1], 0))
    mc_dot = np.mean((uv[:, 0] > 0) * (uv[:, 1] > 0))
    c, dot, _, _ = np_relu(np.array([[0.7]]), np.array([1.3]), np.array([0.9]))
    kernel = ntkc.compile("input vector(dim=2)\nnet n { Dense Relu }")
    # x with x·x/2 = 1.3, x'·x'/2 = 0.9, x·x'/2 = 0.7
    x = np.linalg.cholesky(2 * lam)
    nngp = kernel(x, get="nngp")
    assert abs(nngp[0, 1] - mc) < 4e-3
    assert abs(c[0, 0] - mc) < 4e-3 and abs(dot[0, 0] - mc_dot) < 2e-3
    np.testing.assert_allclose(nngp[0, 1], c[0, 0], rtol=1e-12)
