"""The rule contract, driven by the registry: every registered layer runs
through the same checks, and a layer this file has no example for fails
(rather than skips) until one is added.

For each layer: its example net compiles and gives a symmetric PSD Gram whose
x2-given blocks equal the Gram's; ``explain``'s recursion evaluates to the
compiled kernel (or explain names the missing symbolic form); its finite
network's parameters are i.i.d. N(0, 1); and (slow) Monte Carlo from the same
file agrees with the kernel.
"""

import dataclasses

import numpy as np
import pytest

import ntkc
from ntkc.registry import SIGNATURES, ActivationRule, BlockRule, LayerRule, all_layers, register

def _net(header):
    return lambda body: f"input {header}\nnet n {{ {body} }}\n"


VEC = _net("vector(dim=3)")
SEQ = _net("sequence(length=4, channels=2)")
IMG = _net("image(height=4, width=4, channels=2)")
GRAPH = _net("graph(features=2)")


def ACT(act):
    return VEC(f"Dense(W_std=1.3, b_std=0.2) {act} Dense")
#: One small net per layer, using it where its rule matters.
EXAMPLES = {
    # each weight layer in both parameterizations (the standard one reads the widths)
    "Dense": VEC('Dense(W_std=1.4, b_std=0.1, width=16) Relu '
                 'Dense(W_std=1.2, width=8, parameterization="standard") Erf Dense'),
    "Conv": SEQ('Conv(kernel=3, W_std=1.2, b_std=0.1, width=6) Relu '
                'Conv(kernel=2, bias=false, parameterization="standard") Relu GlobalAvgPool Dense'),
    "Relu": ACT("Relu"),
    "Erf": ACT("Erf(a=1.2, b=0.8, c=0.1)"),
    "GraphAgg": GRAPH("Dense GraphAgg(norm=\"mean\") Relu GlobalSumPool Dense"),
    "GlobalAvgPool": SEQ("Conv(kernel=2) Relu GlobalAvgPool Dense"),
    "GlobalSumPool": IMG("Conv(kernel=2) Relu GlobalSumPool Dense"),
    "Flatten": IMG("Conv(kernel=3) Relu Flatten Dense"),
    "AvgPool": IMG("Conv(kernel=2) Relu AvgPool(window=2) Flatten Dense"),
    "Residual": VEC("Dense Residual(alpha=0.7) { Relu Dense(W_std=1.3) } Relu Dense"),
    "Identity": VEC("Dense Sum { Identity Branch { Relu Dense } } Relu Dense"),
    "Tap": VEC("JumpingKnowledge { Tap Dense Tap Relu Dense Tap } Dense"),
    "Branch": VEC("Dense Concat { Branch(width=2) { Relu Dense } Dense } Dense"),
    "Sum": VEC("Dense Sum { Dense Branch { Relu Dense } } Relu Dense"),
    "Concat": VEC("Dense Concat { Relu Branch { Relu Dense } } Dense"),
    "JumpingKnowledge": GRAPH("JumpingKnowledge { Tap Dense Tap GraphAgg Relu Dense Tap } "
                                     "GlobalSumPool Dense"),
    "ABRelu": ACT("ABRelu(a=-0.3, b=1.1)"),
    "LeakyRelu": ACT("LeakyRelu(alpha=0.1)"),
    "Abs": ACT("Abs"),
    "Gelu": ACT("Gelu"),
    "Sin": ACT("Sin(a=1.1, b=0.7, c=0.2)"),
    "Cos": ACT("Cos"),
    "Rbf": ACT("Rbf(gamma=0.4)"),
    "Sigmoid_like": ACT("Sigmoid_like"),
    "Polynomial": ACT("Polynomial(coef=(0.1, 1.0, 0.3))"),
    "Monomial": ACT("Monomial(degree=2)"),
    "RectifiedMonomial": ACT("RectifiedMonomial(degree=2)"),
    "Elementwise": ACT('Elementwise(fn="tanh")'),
    "LayerNorm": SEQ("Conv(kernel=2, b_std=0.3) LayerNorm Relu GlobalAvgPool Dense"),
    "Recurrent": SEQ('Recurrent(W_std=1.1, b_std=0.2, readout="mean") { Relu } Dense'),
    "SelfAttention": SEQ('Conv(kernel=2) SelfAttention(W_query_std=1.2, b_std=0.1) Relu '
                         'GlobalAvgPool Dense'),
}


def _inputs(kernel, n=4, seed=0):
    from ntkc.verification import random_inputs
    return random_inputs(kernel.net, n, seed)


def test_every_registered_layer_has_an_example():
    missing = sorted(set(all_layers()) - set(EXAMPLES))
    assert not missing, f"add an example net to EXAMPLES for {missing}"
    for name, text in EXAMPLES.items():
        # Markers such as Tap are consumed by their block: look for them in the text.
        layers = {n.layer for n in ntkc.compile(text).net.walk()}
        assert name in layers or f" {name} " in text, f"the example for {name} does not use it"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_kernel_is_symmetric_psd_and_blocks_agree(name):
    k = ntkc.compile(EXAMPLES[name])
    x = _inputs(k, 5)
    nngp, ntk = (np.asarray(a) for a in k(x, get=("nngp", "ntk")))
    for gram in (nngp, ntk):
        assert np.all(np.isfinite(gram))
        np.testing.assert_allclose(gram, gram.T, rtol=1e-12, atol=1e-12)
        assert np.linalg.eigvalsh(gram).min() > -1e-9 * np.abs(gram).max()
    part = k(_take(x, slice(0, 2)), _take(x, slice(2, 5)), get="ntk")
    np.testing.assert_allclose(part, ntk[:2, 2:], rtol=1e-10, atol=1e-12)


def _take(x, rows):
    if isinstance(x, ntkc.GraphBatch):
        return ntkc.GraphBatch(x.features[rows], x.adjacency[rows], x.mask[rows])
    return x[rows]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_explain_equals_compiled_or_names_what_is_missing(name):
    k = ntkc.compile(EXAMPLES[name])
    x = _inputs(k, 3)
    rules = {n.layer: n.rule for n in k.net.walk()}
    if any(r.symbolic is None and r.kind != "activation" for r in rules.values()):
        bad = next(n for n, r in rules.items() if r.symbolic is None and r.kind != "activation")
        with pytest.raises(ntkc.NtkError, match=f"{bad} has no symbolic form"):
            k.explain()
        return
    nngp, ntk = k.explain().evaluate(x, get=("nngp", "ntk"))
    want = k(x, get=("nngp", "ntk"))
    np.testing.assert_allclose(nngp, want[0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ntk, want[1], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(n for n, r in all_layers().items() if r.has_params))
def test_parameters_are_iid_standard_normal(name):
    """The NTK parameterization draws every weight N(0, 1); the scale lives in
    the forward. A layer's init that scales or correlates its draws would make
    Monte Carlo converge to another kernel."""
    import jax
    rule = all_layers()[name]
    args = next(n.kwargs for n in ntkc.compile(EXAMPLES[name]).net.walk() if n.layer == name)
    leaves = jax.tree_util.tree_leaves(rule.init(jax.random.PRNGKey(0), 64, 96, args, 1))
    draws = np.concatenate([np.asarray(a).ravel() for a in leaves])
    assert draws.size >= 64 * 96
    assert abs(draws.mean()) < 5 / np.sqrt(draws.size)
    assert abs(draws.var() - 1) < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_monte_carlo_agrees(name):
    k = ntkc.compile(EXAMPLES[name])
    report = ntkc.verify(k, _inputs(k, 4, seed=1), width=512, samples=24, seed=0, diagnose=False)
    assert report.passed, str(report)


# -- registration refuses incomplete rules ------------------------------------------------
def _dense():
    return all_layers()["Dense"]


@pytest.mark.parametrize("change, message", [
    ({"kernel": lambda state, args: state}, "kernel must take \\(state, args, in_shape\\)"),
    ({"init": lambda key, c_in: None}, "init must take"),
    ({"theta_at_zero": "sigma"}, "theta_at_zero must be one of"),
    ({"apply": None}, "has no finite-width forward"),
    ({"init": None}, 'theta_at_zero="nngp" .* needs parameters'),
])
def test_registration_checks_the_contract(change, message):
    bad = dataclasses.replace(_dense(), name="BadDense", **change)
    with pytest.raises(RuntimeError, match=f"layer BadDense: {message}"):
        register(bad)
    assert "BadDense" not in all_layers()


def test_registration_needs_each_kinds_own_rules():
    relu = all_layers()["Relu"]
    with pytest.raises(RuntimeError, match="layer BadRelu: has no pair"):
        register(dataclasses.replace(relu, name="BadRelu", pair=None))
    with pytest.raises(RuntimeError, match="layer BadRelu: an activation has no parameters"):
        register(dataclasses.replace(relu, name="BadRelu", init=_dense().init))
    res = all_layers()["Residual"]
    with pytest.raises(RuntimeError, match="layer BadRes: has no terms"):
        register(dataclasses.replace(res, name="BadRes", terms=None))
    with pytest.raises(RuntimeError, match="layer Dense: registered twice"):
        register(_dense())


def test_signatures_cover_every_callable_field():
    """Every callable a kind carries has its signature written once."""
    for cls, kind in ((LayerRule, "layer"), (ActivationRule, "activation"), (BlockRule, "block")):
        callables = {f.name for f in dataclasses.fields(cls)
                     if "Callable" in str(f.type)}
        if kind == "activation":
            callables.discard("init")  # refused at registration: φ has no parameters
        assert callables <= set(SIGNATURES[kind]), (kind, callables - set(SIGNATURES[kind]))


def test_the_zero_ntk_shortcut_is_opt_in():
    """Only rules that state Θ' = Σ' at Θ = 0 get it: a weight layer that
    does not say so runs with Θ = 0 and must give the same kernel."""
    text = VEC("Dense(W_std=1.4, b_std=0.1) Relu Dense")
    k = ntkc.compile(text)
    x = _inputs(k, 4)
    want = k(x, get="ntk")
    import ntkc.registry as registry
    plain = dataclasses.replace(_dense(), theta_at_zero=None)
    saved = registry.LAYERS["Dense"]
    registry.LAYERS["Dense"] = plain
    try:
        got = ntkc.compile(text)(x, get="ntk")
    finally:
        registry.LAYERS["Dense"] = saved
    np.testing.assert_allclose(got, want, rtol=1e-12)
