"""ntkc.stax against the stax golden kernels: each golden case's network
written with ``ntkc.stax`` as it would be with neural-tangents' ``stax``
(the goldens were made by stax itself, see tests/golden/README.md), and
neural-tangents' README example run with only its import line changed."""

import json

import numpy as np
import pytest

import ntkc
from ntkc import stax

from conftest import GOLDEN

W2, B5 = 2**0.5, 0.5**0.5


def conv(c, k, w, b=None, padding="SAME", strides=None):
    return stax.Conv(c, k, strides, padding, W_std=w, b_std=b)


def _fc_block(w, b):
    return stax.serial(stax.Dense(64, W_std=w, b_std=b), stax.Relu())


def _res_block(w):
    body = stax.serial(stax.Relu(), stax.Dense(64, W_std=w, b_std=0.1), stax.Relu(),
                       stax.Dense(64, W_std=w, b_std=0.1))
    return stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(), body), stax.FanInSum())


# name: (tolerance, network), as tests/golden/*.ntk describe them
CASES = {
    "fc_relu_d1": stax.serial(stax.Dense(64, 1.5, 0.1), stax.Relu(), stax.Dense(1, 1.5, 0.1)),
    "fc_relu_d4": stax.serial(stax.repeat(_fc_block(1.4, 0.2), 4), stax.Dense(1, 1.4, 0.2)),
    "fc_erf_d3": stax.serial(*[stax.serial(stax.Dense(64, 1.2, 0.3), stax.Erf())] * 3,
                             stax.Dense(1, 1.2, 0.3)),
    "fc_nobias": stax.serial(stax.Dense(64, W2), stax.Relu(), stax.Dense(64, W2), stax.Relu(),
                             stax.Dense(1)),
    "cnn_same_flatten": stax.serial(conv(8, (3, 3), 1.3, 0.1), stax.Relu(),
                                    conv(8, (3, 3), 1.3, 0.1), stax.Relu(), stax.Flatten(),
                                    stax.Dense(1, 1.3, 0.1)),
    "cnn_valid_gap": stax.serial(conv(8, (3, 2), 1.5, 0.05, "VALID"), stax.Relu(),
                                 conv(8, (2, 2), 1.5, 0.05, "VALID"), stax.Relu(),
                                 stax.GlobalAvgPool(), stax.Dense(1, 1.5)),
    "cnn_circular_stride": stax.serial(conv(8, (3, 3), 1.4, 0.1, "CIRCULAR", (2, 2)), stax.Relu(),
                                       conv(8, (3, 3), 1.4, 0.1, "CIRCULAR"), stax.Relu(),
                                       stax.GlobalAvgPool(), stax.Dense(1, 1.4, 0.1)),
    "conv1d_sequence": stax.serial(conv(8, (3,), 1.5, 0.1), stax.Relu(),
                                   conv(8, (5,), 1.5, 0.1, strides=(2,)), stax.Relu(),
                                   stax.GlobalAvgPool(), stax.Dense(1, 1.5, 0.1)),
    "resnet_fc": stax.serial(stax.Dense(64, 1.5, 0.1), _res_block(1.5), _res_block(1.2),
                             stax.Relu(), stax.Dense(1, 1.5)),
    # Residual(alpha=0.5): alpha folded into the body's last layer
    "resnet_cnn_alpha": stax.serial(
        conv(8, (3, 3), 1.4, 0.1), stax.FanOut(2),
        stax.parallel(stax.Identity(), stax.serial(stax.Relu(), conv(8, (3, 3), 0.7, 0.05))),
        stax.FanInSum(), stax.Relu(), stax.GlobalAvgPool(), stax.Dense(1, 1.4)),
    "avgpool_cnn": stax.serial(conv(8, (3, 3), 1.4, 0.1), stax.Relu(),
                               stax.AvgPool((2, 2), (2, 2)),
                               conv(8, (3, 3), 1.4, 0.1), stax.Relu(), stax.GlobalAvgPool(),
                               stax.Dense(1, 1.4)),
    "graph_agg_plain": stax.serial(stax.Aggregate(), stax.Dense(64, 1.5, 0.1), stax.Relu(),
                                   stax.Aggregate(), stax.Dense(64, 1.5, 0.1),
                                   stax.GlobalSumPool()),
    "branching/fanin_sum": stax.serial(
        stax.Dense(64, W_std=1.3, b_std=0.2), stax.Relu(), stax.Dense(64, W_std=1.4),
        stax.FanOut(2), stax.parallel(stax.Dense(64, W_std=1.1, b_std=0.1),
                                      stax.serial(stax.Relu(), stax.Dense(64, W_std=1.2))),
        stax.FanInSum(), stax.Relu(), stax.Dense(1, W_std=1.5)),
    "branching/densenet_concat": stax.serial(
        conv(64, (3, 3), 1.4, 0.1),
        stax.FanOut(2), stax.parallel(stax.Identity(), stax.serial(stax.Relu(),
                                                                    conv(64, (3, 3), 1.3))),
        stax.FanInConcat(), stax.Flatten(), stax.Dense(1, W_std=1.2, b_std=0.1)),
    # branches of widths 64, 128, 64: stax weighs them by their channel counts
    "branching/inception_concat": stax.serial(
        conv(64, (3, 3), 1.4, 0.1), stax.Relu(), stax.FanOut(3),
        stax.parallel(conv(64, (1, 1), 1.3),
                      stax.serial(conv(64, (1, 1), 1.2), stax.Relu(), conv(128, (3, 3), 1.5, 0.1)),
                      stax.serial(stax.AvgPool((3, 3), (1, 1), "SAME"), conv(64, (1, 1), 1.1))),
        stax.FanInConcat(), conv(64, (1, 1), 1.3, 0.1), stax.Relu(), stax.GlobalAvgPool(),
        stax.Dense(1, W_std=1.4)),
    "activations/act_leaky_relu": stax.serial(
        *[stax.serial(stax.Dense(64, 1.4, 0.1), stax.LeakyRelu(0.1))] * 2, stax.Dense(1, 1.4, 0.1)),
    "activations/act_abrelu_abs": stax.serial(
        stax.Dense(64, 1.2, 0.2), stax.ABRelu(-0.3, 1.2), stax.Dense(64, 1.2, 0.2), stax.Abs(),
        stax.Dense(1, 1.2)),
    "activations/act_gelu": stax.serial(
        stax.repeat(stax.serial(stax.Dense(64, 1.5, 0.05), stax.Gelu()), 3), stax.Dense(1, 1.5)),
    "activations/act_sin_rbf": stax.serial(
        stax.Dense(64, 1.3, 0.2), stax.Sin(1.0, 1.5, 0.3), stax.Dense(64, 1.3, 0.2),
        stax.Rbf(0.5), stax.Dense(1, 1.3)),
    "activations/act_erf_scaled_sigmoid": stax.serial(
        stax.Dense(64, 1.1, 0.3), stax.Erf(2.0, 0.7, 0.1), stax.Dense(64, 1.1, 0.3),
        stax.Sigmoid_like(), stax.Dense(1, 1.1)),
    "activations/act_monomials": stax.serial(
        stax.Dense(64, 1.0, 0.1), stax.Monomial(2), stax.Dense(64, 1.0, 0.1), stax.Monomial(3),
        stax.Dense(1, 1.0)),
    "activations/act_numerical_tanh": stax.serial(
        *[stax.serial(stax.Dense(64, 1.5, 0.1), stax.ElementwiseNumerical(np.tanh, deg=25))] * 2,
        stax.Dense(1, 1.5)),
    "activations/layernorm_fc": stax.serial(
        stax.Dense(64, 1.5, 0.5), stax.LayerNorm(), stax.Relu(), stax.Dense(64, 1.5, 0.5),
        stax.LayerNorm(), stax.Dense(1, 1.5)),
}

SLOW = {"cnn_same_flatten", "cnn_circular_stride", "resnet_fc", "avgpool_cnn",
        "branching/densenet_concat", "activations/act_leaky_relu", "activations/act_gelu",
        "activations/act_monomials", "fc_erf_d3", "activations/layernorm_fc", "conv1d_sequence",
        "activations/act_sin_rbf"}


def _tolerance(name):
    folder = GOLDEN / (name.split("/")[0] if "/" in name else "")
    cases = folder / "cases.json"
    if cases.exists():
        for case in json.loads(cases.read_text())["cases"]:
            if case["name"] == name.split("/")[-1] and "tol" in case:
                return case["tol"]
    return 1e-6


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in CASES])
def test_stax_front_end_matches_stax_golden(name):
    data = np.load(GOLDEN / f"{name}.npz")
    kernel_fn = CASES[name][2]
    if "x1" in data:
        args = [(data["x1"], None), (data["x1"], data["x2"])]
        kw = [{}, {}]
    else:  # graphs: stax's pattern= keyword
        assert np.all(data["x1_mask"] == 1) and np.all(data["x2_mask"] == 1)
        args = [(data["x1_features"], None), (data["x1_features"], data["x2_features"])]
        kw = [{"pattern": (data["x1_adjacency"], None)},
              {"pattern": (data["x1_adjacency"], data["x2_adjacency"])}]
    tol = _tolerance(name)
    for (x1, x2), k, tag in zip(args, kw, ("11", "12")):
        got = kernel_fn(x1, x2, None, **k)
        for field in ("nngp", "ntk"):
            want = data[f"{field}_{tag}"]
            err = np.max(np.abs(np.asarray(getattr(got, field)) - want)) / np.max(np.abs(want))
            assert err <= tol, (name, field, tag, err)


def test_to_ntk_compiles_to_the_same_kernel():
    net = CASES["branching/inception_concat"]
    data = np.load(GOLDEN / "branching/inception_concat.npz")
    text = net.to_ntk(data["x1"].shape)
    assert "Branch(width=128)" in text and 'AvgPool(window=(3, 3), stride=(1, 1)' in text
    from_text = ntkc.compile(text)(data["x1"], data["x2"], get=None)
    direct = net[2](data["x1"], data["x2"])
    np.testing.assert_array_equal(from_text.nngp, direct.nngp)
    np.testing.assert_array_equal(from_text.ntk, direct.ntk)
    # after a call, to_ntk() defaults to the shape it was called with
    assert net.to_ntk() == text


README_EXAMPLE = '''
from jax import random
from ntkc import stax

init_fn, apply_fn, kernel_fn = stax.serial(
    stax.Dense(512), stax.Relu(),
    stax.Dense(512), stax.Relu(),
    stax.Dense(1)
)

key1, key2 = random.split(random.PRNGKey(1))
x1 = random.normal(key1, (10, 100))
x2 = random.normal(key2, (20, 100))

kernel = kernel_fn(x1, x2, 'ntk')
'''


def test_neural_tangents_readme_example():
    """neural-tangents' README example (its stax part), only the import changed."""
    scope = {}
    exec(compile(README_EXAMPLE, "README", "exec"), scope)
    kernel = np.asarray(scope["kernel"])
    assert kernel.shape == (10, 20)
    # independent numpy recursion of the same net (stax's Dense: b_std=None, no bias)
    x1, x2 = (np.asarray(scope[k], np.float64) for k in ("x1", "x2"))

    def relu(c, v1, v2):
        norm = np.sqrt(np.outer(v1, v2))
        cos = np.clip(c / norm, -1, 1)
        t = np.arccos(cos)
        return norm * (np.sin(t) + (np.pi - t) * cos) / (2 * np.pi), (np.pi - t) / (2 * np.pi)

    s = x1 @ x2.T / 100
    v1, v2 = (x1**2).sum(1) / 100, (x2**2).sum(1) / 100
    theta = s
    for _ in range(2):
        s, dot = relu(s, v1, v2)
        v1, v2 = v1 / 2, v2 / 2
        theta = s + theta * dot
    assert np.max(np.abs(kernel - theta)) <= 1e-5 * np.max(np.abs(theta))
    # and the finite network
    out_shape, params = scope["init_fn"](scope["key1"], (-1, 100))
    assert out_shape == (-1, 1)
    assert scope["apply_fn"](params, scope["x1"]).shape == (10, 1)
