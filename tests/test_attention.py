"""SelfAttention: the kernels equal neural-tangents' GlobalSelfAttention
(linear_scaling=True) goldens to 1e-6, shape and argument errors carry
positions, x2 omitted equals x2 = x1, the finite layer matches an
independent numpy forward, and Monte Carlo from the same file converges to
the kernel (and catches a broken rule)."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkc
from conftest import GOLDEN
from ntkc import registry
from ntkc.rules import attention
from ntkc.verification import random_inputs

HERE = GOLDEN / "attention"
CASES = json.loads((HERE / "cases.json").read_text())["cases"]
# The positional-embedding cases have their own tests (test_attention_pos.py).
LATER = [c["name"] for c in CASES if not c["attention_first"] and not c.get("pos_emb")]
FIRST = [c["name"] for c in CASES if c["attention_first"] and not c.get("pos_emb")]


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


def golden(name):
    return np.load(HERE / f"{name}.npz"), ntkc.load(HERE / f"{name}.ntk")


@pytest.mark.parametrize("name", LATER)
def test_golden(name):
    z, kernel = golden(name)
    nngp11, ntk11 = kernel(z["x1"], get=("nngp", "ntk"))
    nngp12, ntk12 = kernel(z["x1"], z["x2"], get=("nngp", "ntk"))
    assert nngp11.dtype == np.float64
    for ours, key in ((nngp11, "nngp_11"), (ntk11, "ntk_11"), (nngp12, "nngp_12"), (ntk12, "ntk_12")):
        assert rel(ours, z[key]) < 1e-6, key


@pytest.mark.parametrize("name", ["img_softmax_stacked", "seq_two_attention"])
def test_golden_blocked(name):
    """Blocks of 2 rows/columns change nothing: the rule reads only per-example covariances."""
    z, kernel = golden(name)
    assert rel(kernel(z["x1"], batch_size=2), z["ntk_11"]) < 1e-6
    assert rel(kernel(z["x1"], z["x2"], get="nngp", batch_size=2), z["nngp_12"]) < 1e-6


@pytest.mark.parametrize("name", FIRST)
def test_golden_first_layer_nngp(name):
    z, kernel = golden(name)
    assert rel(kernel(z["x1"], get="nngp"), z["nngp_11"]) < 1e-6
    assert rel(kernel(z["x1"], z["x2"], get="nngp"), z["nngp_12"]) < 1e-6


@pytest.mark.parametrize("name", FIRST)
def test_golden_first_layer_ntk(name):
    """Attention as the first layer with parameters: Θ' from Θ = 0 is
    2·(Σ' − b_std²) + b_std², so the rule must not state the Dense-like
    Θ' = Σ' shortcut (it does not: theta_at_zero is None)."""
    from ntkc.registry import all_layers
    assert all_layers()["SelfAttention"].theta_at_zero is None
    z, kernel = golden(name)
    assert rel(kernel(z["x1"], get="ntk"), z["ntk_11"]) < 1e-6
    assert rel(kernel(z["x1"], z["x2"], get="ntk"), z["ntk_12"]) < 1e-6


SEQ = "input sequence(length=5, channels=3)\n"
IMG = "input image(height=3, width=4, channels=2)\n"


def test_x2_omitted_equals_x2_given():
    """Both code paths (cov2 = cov1 shared, or computed) give the same Gram,
    symmetric and positive semi-definite. Two mechanisms, one compile."""
    kernel = ntkc.compile(IMG + 'net n { Conv(kernel=2, b_std=0.1) Relu '
                                'SelfAttention(mechanism="relu", W_query_std=1.3, b_std=0.2) Relu '
                                'SelfAttention(W_key_std=1.4) Relu GlobalAvgPool Dense }')
    x = np.random.default_rng(0).normal(size=(4, 3, 4, 2))
    nngp, ntk = kernel(x, get=("nngp", "ntk"))
    nngp2, ntk2 = kernel(x, x.copy(), get=("nngp", "ntk"))
    assert np.allclose(nngp, nngp2, rtol=1e-12, atol=1e-12)
    assert np.allclose(ntk, ntk2, rtol=1e-12, atol=1e-12)
    assert np.allclose(ntk, ntk.T, rtol=1e-12, atol=1e-12)
    assert np.linalg.eigvalsh(ntk).min() > -1e-10 * np.abs(ntk).max()


def test_float32_matches_float64():
    z, kernel = golden("seq_softmax_after_dense")
    k32 = kernel(z["x1"].astype(np.float32))
    assert k32.dtype == np.float32
    assert rel(k32, z["ntk_11"]) < 1e-5


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("source, line, col, message", [
    ("input vector(dim=4)\nnet n { Dense\n  SelfAttention Dense }", 3, 3,
     "SelfAttention needs a sequence or an image (it attends over positions), but its input "
     "is a vector"),
    ("input graph(features=3)\nnet n { Dense SelfAttention GlobalSumPool Dense }", 2, 15,
     "SelfAttention needs a sequence or an image (it attends over positions), but its input "
     "is a graph(nodes)"),
    (SEQ + "net n { Dense GlobalAvgPool SelfAttention Dense }", 2, 29,
     "but its input is a vector"),
    (SEQ + 'net n { Dense SelfAttention(mechanism="sigmoid") GlobalAvgPool Dense }', 2, 39,
     'must be one of "softmax", "identity", "abs", "relu", not "sigmoid"'),
    (SEQ + "net n { Dense SelfAttention(W_out_std=-1) GlobalAvgPool Dense }", 2, 39,
     "must be at least 0"),
    (SEQ + "net n { Dense SelfAttention(heads=4) GlobalAvgPool Dense }", 2, 29,
     "SelfAttention has no argument 'heads'"),
])
def test_errors_carry_positions(source, line, col, message):
    with pytest.raises(ntkc.NtkError) as e:
        ntkc.check_source(source, filename="a.ntk")
    assert f"a.ntk:{line}:{col}: error:" in str(e.value)
    assert message in str(e.value)


@pytest.mark.parametrize("name", ["seq_relu_after_dense", "img_abs_stacked", "img_identity_first",
                                  "seq_transformer_block"])
def test_explain_evaluates_to_the_golden(name):
    """explain's equations for attention (G = ρ(QK·Σ(x, x)), Σ' = OV²·G Σ G'ᵀ + b²,
    Θ' with 2·OV²·G Σ G'ᵀ), lambdified, give stax's kernels."""
    z, kernel = golden(name)
    expl = kernel.explain()
    assert "G⁽" in expl.text() and r"\mathcal{G}" in expl.latex()
    nngp, ntk = expl.evaluate(z["x1"][:3], z["x2"][:2])
    assert rel(nngp, z["nngp_12"][:3, :2]) < 1e-6
    assert rel(ntk, z["ntk_12"][:3, :2]) < 1e-6


# -- the finite layer -----------------------------------------------------------------------
def numpy_attention(params, x, args):
    """One example at a time, one head at a time, in float64."""
    K, V, O, b = (np.asarray(params[k], np.float64) for k in "KVOb")
    heads, c, n_key = K.shape
    n_val = V.shape[-1]
    out = []
    for h in x.reshape(x.shape[0], -1, x.shape[-1]).astype(np.float64):
        mixed = []
        for i in range(heads):
            keys = h @ K[i]
            logits = args["W_query_std"] * args["W_key_std"] * (keys @ keys.T) / (c * n_key)
            if args["mechanism"] == "softmax":
                e = np.exp(logits - logits.max(1, keepdims=True))
                g = e / e.sum(1, keepdims=True)
            else:
                g = {"identity": logits, "abs": np.abs(logits),
                     "relu": np.maximum(logits, 0)}[args["mechanism"]]
            mixed.append(g @ (h @ V[i]))
        mixed = np.concatenate(mixed, axis=1)
        std = args["W_out_std"] * args["W_value_std"] / np.sqrt(c * heads * n_val)
        out.append(std * mixed @ O + args["b_std"] * b)
    return np.stack(out).reshape(x.shape[:-1] + (O.shape[1],))


@pytest.mark.parametrize("mechanism", attention.MECHANISMS)
def test_finite_forward_matches_numpy(mechanism):
    args = {"mechanism": mechanism, "W_query_std": 1.3, "W_key_std": 0.7, "W_value_std": 1.1,
            "W_out_std": 0.9, "b_std": 0.4}
    with jax.enable_x64(True):
        params = attention.init(jax.random.PRNGKey(1), 6, 40, args, 2)
        x = np.random.default_rng(2).normal(size=(3, 2, 3, 6))
        ours = attention.apply(params, jnp.asarray(x), args, {})
    assert params["K"].shape == (2, 6, 40) and params["V"].shape == (2, 6, 20)
    assert ours.shape == (3, 2, 3, 40)
    assert np.allclose(ours, numpy_attention(params, x, args), rtol=1e-10, atol=1e-12)


def test_finite_network_converges_to_the_nngp():
    """Forward passes only (cheap): the output covariance of wide attention
    nets approaches Σ (an NNGP-only Monte Carlo, independent of verify)."""
    from ntkc.finite import FiniteNet
    kernel = ntkc.compile(SEQ + "net n { Dense(W_std=1.2, b_std=0.1) "
                                "SelfAttention(W_query_std=1.5, b_std=0.1) Relu GlobalAvgPool Dense }")
    x = random_inputs(kernel, 4, 0)
    want = np.asarray(kernel(x, get="nngp"))
    fnet = FiniteNet(kernel.net, width=512, dtype=jnp.float32)
    run = jax.jit(fnet.apply)
    est = []
    for s in range(16):
        y = np.asarray(run(fnet.sample(3, s)[0], jnp.asarray(x, jnp.float32)), np.float64)
        est.append(y @ y.T / y.shape[1])
    err = np.linalg.norm(np.mean(est, 0) - want) / np.linalg.norm(want)
    assert err < 0.06, err


# -- Monte Carlo -----------------------------------------------------------------------------
NET = SEQ + ("net n { Dense(W_std=1.3, b_std=0.1) SelfAttention(W_query_std=1.5, b_std=0.1) "
             "Relu GlobalAvgPool Dense }")


def _verify(source, width, samples, **kw):
    kernel = ntkc.compile(source)
    return ntkc.verify(kernel, random_inputs(kernel, 4, 0), width=width, samples=samples, **kw)


def _broken(monkeypatch):
    """Θ' missing the value weights' term G Σ G'ᵀ."""
    rule = registry.LAYERS["SelfAttention"]

    def wrong(state, args, shape):
        new = attention.kernel(state, args, shape)
        return new if state.ntk is None else new.replace(ntk=new.ntk - (new.nngp - args["b_std"] ** 2))
    monkeypatch.setitem(registry.LAYERS, "SelfAttention", dataclasses.replace(rule, kernel=wrong))


def test_monte_carlo_agrees():
    report = _verify(NET, 128, 32, diagnose=False)
    assert report.passed, str(report)


def test_monte_carlo_catches_a_dropped_ntk_term(monkeypatch):
    _broken(monkeypatch)
    report = _verify(NET, 128, 32, diagnose=False)
    assert not report.ntk.passed and report.nngp.passed, str(report)


@pytest.mark.slow
def test_monte_carlo_locates_the_broken_layer(monkeypatch):
    _broken(monkeypatch)
    report = _verify(NET, 128, 32)
    assert "first disagreement: SelfAttention(W_query_std=1.5, b_std=0.1) at <string>:2" in str(report)


@pytest.mark.slow
@pytest.mark.parametrize("source", [
    IMG + 'net n { Conv(kernel=2) Relu SelfAttention(mechanism="abs", W_key_std=0.8) Relu Flatten Dense }',
    IMG + 'net n { Conv(kernel=2, b_std=0.1) SelfAttention(mechanism="relu", b_std=0.2) Erf '
          'Conv(kernel=2) Relu GlobalAvgPool Dense }',
    SEQ + 'net n { Dense SelfAttention(mechanism="identity", W_out_std=0.8) Relu '
          'SelfAttention(W_query_std=2.0) Relu GlobalAvgPool Dense }',
    SEQ + 'net n { Dense(b_std=0.1) Residual { SelfAttention(b_std=0.1) } LayerNorm '
          'Residual { Dense Relu Dense } GlobalAvgPool Dense }',
])
def test_monte_carlo_agrees_on_bigger_nets(source):
    report = _verify(source, 256, 32)
    assert report.passed, str(report)


def test_stax_front_end_global_self_attention_equals_the_golden():
    """neural-tangents' GlobalSelfAttention through ``ntkc.stax`` gives the
    golden kernels the peer computed for the same net."""
    from ntkc import stax
    _, _, kernel_fn = stax.serial(
        stax.Conv(8, (2, 2), padding="SAME", W_std=1.4, b_std=0.1), stax.Relu(),
        stax.GlobalSelfAttention(8, 8, 8, 2, linear_scaling=True, W_query_std=0.9,
                                 W_key_std=1.1, b_std=0.2),
        stax.Relu(), stax.Conv(8, (2, 2), padding="SAME", W_std=1.2, b_std=0.0), stax.Relu(),
        stax.GlobalAvgPool(), stax.Dense(1, W_std=1.2, b_std=0.1))
    z = np.load(HERE / "img_softmax_stacked.npz")
    assert rel(kernel_fn(z["x1"], z["x2"], "ntk"), z["ntk_12"]) < 1e-6
    assert rel(kernel_fn(z["x1"], None, "nngp"), z["nngp_11"]) < 1e-6
