"""ntkc.testing: the strategies draw valid sources across the registry and
inputs of the declared kind, the assertion helper passes right kernels and
fails wrong ones with the layer report, and generated architectures agree
with Monte Carlo and, value for value, with explain's recursion."""

import contextlib
import dataclasses
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import ntkc
from conftest import GOLDEN
from ntkc import registry
from ntkc.registry import all_layers
from ntkc.rules import dense
from ntkc.explain import explain
from ntkc.testing import architectures, assert_kernel_matches_monte_carlo, inputs_for
from ntkc.verification import random_inputs

QUICK = settings(max_examples=1, deadline=None, derandomize=True,
                 suppress_health_check=list(HealthCheck))


def test_generated_sources_check_and_cover_the_registry():
    seen, kinds = set(), set()

    @settings(max_examples=100, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(architectures(max_depth=5))
    def collect(source):
        net = ntkc.check_source(source)  # raises if the strategy made an invalid program
        kinds.add(net.input.kind)
        seen.update(n.layer for n in net.walk())

    collect()

    # GraphAgg fits only graph inputs, about 1 draw in 30 there: ~3 expected in
    # the 100 mixed draws above, so a new registered layer that shifts the
    # derandomized draws could lose it. 20 graph-only draws make it certain.
    @settings(max_examples=20, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(architectures(input_kind="graph", max_depth=5))
    def collect_graphs(source):
        seen.update(n.layer for n in ntkc.check_source(source).walk())

    collect_graphs()
    roles = {all_layers()[n].role for n in seen}
    assert kinds == {"vector", "sequence", "image", "graph"}
    assert roles == {"weight", "activation", "linear", "block"}
    assert {"Dense", "Conv", "GraphAgg"} <= seen
    assert len(seen) >= 12, seen


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(architectures(input_kind="image", max_depth=3, include={"Conv", "Dense", "Relu", "Erf",
                                                               "GlobalAvgPool", "Flatten"}))
def test_include_and_depth_are_respected(source):
    net = ntkc.check_source(source)
    assert net.input.kind == "image"
    assert {n.layer for n in net.walk()} <= {"Conv", "Dense", "Relu", "Erf", "GlobalAvgPool",
                                             "Flatten"}
    assert len(net.layers) <= 3 + 2  # drawn layers, a readout, the final weight layer
    assert net.layers[-1].rule.role == "weight"


def test_unknown_input_kind_is_refused():
    @given(architectures(input_kind="audio"))
    def draw(source):
        pass
    with pytest.raises(ValueError, match="input_kind"):
        draw()


@QUICK
@given(st.data())
def test_inputs_for_match_the_declared_input(data):
    for src in ("input image(height=4, width=3, channels=2)\nnet n { Conv(kernel=2) Flatten Dense }",
                "input graph(features=3)\nnet n { GraphAgg Dense GlobalSumPool }"):
        kernel = ntkc.compile(src)
        x = data.draw(inputs_for(kernel, n=5))
        feats, graphs = kernel._prepare(x, "x1")  # the kernel's own input validation
        assert feats.shape[0] == 5
        if graphs is not None:
            counts = np.asarray(graphs[1]).sum(1)
            assert counts.min() >= 3 and counts.max() <= 8


def test_assertion_helper_passes_right_and_fails_wrong_kernels(monkeypatch):
    src = (GOLDEN / "fc_relu_d1.ntk").read_text()
    report = assert_kernel_matches_monte_carlo(ntkc.compile(src), width=64, samples=16)
    assert report.passed
    rule = registry.LAYERS["Dense"]
    wrong = lambda state, args, shape: dense.kernel(state, {**args, "b_std": 3 * args["b_std"] + 1},
                                                    shape)
    monkeypatch.setitem(registry.LAYERS, "Dense", dataclasses.replace(rule, kernel=wrong))
    with pytest.raises(AssertionError, match="first disagreement: Dense"):
        assert_kernel_matches_monte_carlo(ntkc.compile(src), width=64, samples=16)


def interesting(source):
    """At least three layers, one of them an activation (the simplest draws
    hypothesis starts from are Dense chains)."""
    net = ntkc.check_source(source)
    return len(list(net.walk())) >= 3 and any(n.rule.role == "activation" for n in net.walk())


@settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(architectures(max_depth=4).filter(interesting))
def test_generated_architectures_agree_with_monte_carlo(source):
    assert_kernel_matches_monte_carlo(ntkc.compile(source))


def connected_graphs(n, seed, features):
    """``n`` connected graphs of 3–7 nodes (a path plus random edges): explain's
    recursion cannot evaluate a node of zero variance, which an isolated node
    gets from GraphAgg(self_loops=false)."""
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(n):
        v = int(rng.integers(3, 8))
        a = np.triu((rng.random((v, v)) < 0.3).astype(float), 2) + np.eye(v, k=1)
        graphs.append((rng.standard_normal((v, features)), a + a.T))
    return ntkc.GraphBatch.from_graphs(graphs)


def _not_explainable():
    """Layers explain names as lacking a symbolic form (the contract test checks
    that it does): generated nets for the explain comparison leave them out."""
    return ("Tap",) + tuple(n for n, r in all_layers().items()
                            if r.kind != "activation" and r.symbolic is None)


EXPLAINABLE = (architectures(max_depth=5, exclude=_not_explainable()).filter(interesting),
               st.integers(0, 2**16))


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(*EXPLAINABLE)
def test_generated_architectures_equal_the_explained_recursion(source, seed):
    equals_the_explained_recursion(source, seed)


@pytest.mark.slow
@settings(max_examples=16, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(*EXPLAINABLE)
def test_more_generated_architectures_equal_the_explained_recursion(source, seed):
    equals_the_explained_recursion(source, seed)


def equals_the_explained_recursion(source, seed):
    """Values, not only agreement within Monte Carlo noise: the compiled Σ and
    Θ of generated architectures (every input kind, blocks included) against
    explain's lambdified recursion, to 1e-5 of the largest entry (a
    quadrature layer's default degree is chosen for 1e-6)."""
    with accurate_or_refused():
        compiled_equals_explained(source, seed)


def compiled_equals_explained(source, seed):
    kernel = ntkc.compile(source)
    if kernel.net.input.kind == "graph":
        x1, x2 = (connected_graphs(n, seed + n, kernel.net.input.channels) for n in (3, 2))
    else:
        x1, x2 = random_inputs(kernel, 3, seed), random_inputs(kernel, 2, seed + 1)
    for got, want in zip(kernel(x1, x2, get=("nngp", "ntk")), explain(kernel.net).evaluate(x1, x2)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-5 * np.abs(want).max())


@pytest.mark.slow
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(architectures(max_depth=5).filter(interesting))
def test_many_generated_architectures_agree_with_monte_carlo(source):
    with accurate_or_refused():
        assert_kernel_matches_monte_carlo(ntkc.compile(source), width=256, samples=32)


@contextlib.contextmanager
def accurate_or_refused():
    """A generated net may put a quadrature layer where its pre-activation
    variance is beyond what the default degree resolves (e.g. exp after an
    unbiased Dense on unit inputs). The kernel must then refuse, positioned
    and naming the layer — never return a value off by more than the
    tolerance; that refusal passes, any other error fails."""
    try:
        yield
    except ntkc.NtkError as e:
        assert re.search(r":\d+:\d+: error: Elementwise\(.*is not accurate at the pre-activation "
                         r"variances", str(e)), str(e)
