"""``ntkc explain``: the printed recursion is the computed one.

The symbolic recursion, lambdified, is a third implementation of every kernel
beside the compiled JAX function and the numpy references; it must equal the
compiled kernel to 1e-8 (float64) on the golden inputs and on random inputs
for every example, reduce to the lecture notes' closed forms for the
one-hidden-layer ReLU net, and every activation's symbolic form must equal
its numeric pair rule (the "one source of truth" tie, see docs/explain.md).
"""

import dataclasses
import functools
import json
import re
import zlib

import numpy as np
import pytest
import sympy as sp

import ntkc
import ntkc.symbolic
from conftest import EXAMPLES, GOLDEN
from ntkc.check import net_names
from ntkc.cli import main
from ntkc.explain import explain
from ntkc.parse import parse
from ntkc.registry import all_layers
from ntkc.symbolic import DOT, SIGMA, THETA, Inner

TOL = 1e-8


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


def _golden_cases(kinds):
    out = []
    for folder in (GOLDEN, GOLDEN / "activations"):
        for case in json.loads((folder / "cases.json").read_text())["cases"]:
            if case["kind"] in kinds:
                out.append(pytest.param(folder / case["name"], id=case["name"]))
    return out


def _inputs(z):
    if "x1" in z:
        return z["x1"], z["x2"]
    return tuple(ntkc.GraphBatch(z[f"{s}_features"], z[f"{s}_adjacency"], z[f"{s}_mask"])
                 for s in ("x1", "x2"))


def _load(path, net=None):
    """The checked net; a file that does not check (a layer not registered, a
    broken example) fails the test that reads it."""
    return ntkc.check_source(path.read_text(), net, str(path))


def _converged(nodes):
    """The nodes with every quadrature layer at 64 nodes per axis instead of
    its default degree (chosen for 1e-6; 64 is converged to ~1e-13)."""
    out = []
    for n in nodes:
        args = tuple((k, 64 if k == "deg" and v is None else v) for k, v in n.args)
        out.append(dataclasses.replace(n, args=args, bodies=tuple(_converged(b) for b in n.bodies)))
    return tuple(out)


def _against_compiled(net, x1, x2):
    expl = explain(net)
    ours = expl.evaluate(x1, x2)
    # A quadrature layer's default degree is chosen for 1e-6 (test_golden holds
    # it to that); at 64 nodes it has converged, and the two must agree to 1e-8.
    compiled = ntkc.Kernel(dataclasses.replace(net, layers=_converged(net.layers)))
    for name, a, b in zip(("nngp", "ntk"), ours, compiled(x1, x2, get=("nngp", "ntk"))):
        assert a.dtype == np.float64
        assert rel(a, b) < TOL, f"{net.name} {name}: {rel(a, b):.2e}"
    return ours


@pytest.mark.parametrize("path", _golden_cases({"vector", "graph"}))
def test_recursion_equals_compiled_kernel_on_goldens(path):
    z = np.load(path.with_suffix(".npz"))
    x1, x2 = _inputs(z)
    nngp, ntk = _against_compiled(_load(path.with_suffix(".ntk")), x1, x2)
    # and, independently of the compiler, stax's kernels (to their 1e-6 / 1e-4)
    tol = 1e-4 if "numerical" in path.name else 1e-6
    assert rel(nngp, z["nngp_12"]) < tol and rel(ntk, z["ntk_12"]) < tol


@pytest.mark.parametrize("path", _golden_cases({"image", "sequence"}))
def test_recursion_equals_stax_on_spatial_goldens(path):
    """Conv (same/valid/circular, strides), AvgPool, Flatten, GlobalAvgPool and
    Residual on images: the full position-pair recursion equals stax."""
    z = np.load(path.with_suffix(".npz"))
    expl = explain(_load(path.with_suffix(".ntk")))
    nngp, ntk = expl.evaluate(z["x1"])
    assert rel(nngp, z["nngp_11"]) < 1e-6 and rel(ntk, z["ntk_11"]) < 1e-6
    nngp, ntk = expl.evaluate(z["x1"], z["x2"])
    assert rel(nngp, z["nngp_12"]) < 1e-6 and rel(ntk, z["ntk_12"]) < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("path", _golden_cases({"image", "sequence"}))
def test_recursion_equals_compiled_kernel_on_spatial_goldens(path):
    z = np.load(path.with_suffix(".npz"))
    _against_compiled(_load(path.with_suffix(".ntk")), z["x1"], z["x2"])


@pytest.mark.parametrize("jk", [0, 1])
def test_recursion_equals_the_gntk_authors_code(jk):
    """Against the GNTK authors' own Grams (MUTAG), on the first 20 graphs.
    Molecules have nodes with identical neighbourhoods, whose cosine is 1 in
    exact arithmetic; the arc-cosine's infinite slope there turns a rounding
    difference of 1e-16 (BLAS order over the union graph) into ~1e-8 after
    six ReLUs, hence 5e-8 rather than 1e-8 here."""
    ref = GOLDEN / "gntk_reference"
    z = np.load(ref / "MUTAG_inputs.npz")
    n = 20
    graphs = ntkc.GraphBatch(z["features"][:n], z["adjacency"][:n], z["mask"][:n])
    ntk = explain(_load(ref / f"MUTAG_b3_m2_jk{jk}_degree.ntk")).evaluate(graphs, get="ntk")
    assert rel(ntk, np.load(ref / f"MUTAG_b3_m2_jk{jk}_degree.npy")[:n, :n]) < 5e-8


def test_branching_blocks_against_compiled():
    src = """input vector(dim=3)
net n {
    Dense(W_std=1.5, b_std=0.1)
    Sum { Identity Branch { Relu Dense(W_std=1.2) } }
    Concat { Branch(width=2) { Erf Dense } Dense(W_std=0.7) }
    Dense(W_std=1.3)
    Relu
    Dense
}"""
    rng = np.random.default_rng(3)
    expl = explain(ntkc.check_source(src))
    assert "Sum" in expl.text() and "Concat" in expl.text()
    _against_compiled(ntkc.check_source(src), rng.normal(size=(4, 3)), rng.normal(size=(3, 3)))


# -- examples: random inputs ------------------------------------------------------------------
def _random_inputs(shape, rng):
    if shape.kind == "vector":
        return rng.normal(size=(4, shape.channels)), rng.normal(size=(3, shape.channels))

    def graphs(n):
        out = []
        for _ in range(n):
            v = int(rng.integers(2, 6))
            a = np.triu((rng.random((v, v)) < 0.5).astype(float), 1)
            out.append((rng.normal(size=(v, shape.channels)), a + a.T))
        return ntkc.GraphBatch.from_graphs(out, nodes=6)
    return graphs(3), graphs(2)


@functools.lru_cache(maxsize=None)
def _example_nets(every):
    """(file, net) for the vector and graph examples: every net, or (for the
    default suite) the smallest net of each family of layers, so that the 126
    GNTK configurations cost one compile, not 126."""
    found, broken = [], []
    for path in sorted(EXAMPLES.glob("*.ntk")):
        try:
            names = net_names(parse(path.read_text(), str(path)))
        except ntkc.NtkError:
            broken.append((path, None))  # its test fails with the parse error
            continue
        for name in names:
            try:
                net = ntkc.check_source(path.read_text(), name, str(path))
            except ntkc.NtkError:
                broken.append((path, name))  # its test fails with the check error
                continue
            if net.input.kind in ("vector", "graph"):
                found.append((path, name, net))
    if not every:
        smallest = {}
        for path, name, net in found:
            family = (net.input.kind, frozenset(n.layer for n in net.walk()))
            size = len(list(net.walk()))
            if family not in smallest or size < smallest[family][0]:
                smallest[family] = (size, path, name, net)
        found = [entry[1:] for entry in smallest.values()]
    return [pytest.param(path, name, id=f"{path.stem}-{name}")
            for path, name in [(p, n) for p, n, _ in found] + broken]


@pytest.mark.parametrize("path,name", _example_nets(every=False))
def test_recursion_equals_compiled_kernel_on_examples(path, name):
    net = _load(path, name)
    x1, x2 = _random_inputs(net.input, np.random.default_rng(0))
    _against_compiled(net, x1, x2)


@pytest.mark.slow
@pytest.mark.parametrize("path,name", _example_nets(every=True))
def test_recursion_equals_compiled_kernel_on_every_example_net(path, name):
    net = _load(path, name)
    x1, x2 = _random_inputs(net.input, np.random.default_rng(1))
    _against_compiled(net, x1, x2)


def test_examples_are_found():
    assert _example_nets(every=False), "no vector or graph example in examples/"


def _sources(every):
    """(file, net) for every .ntk in examples/ and tests/golden/: each file's
    default net, or every net."""
    out = []
    for path in sorted(EXAMPLES.glob("*.ntk")) + sorted(GOLDEN.glob("**/*.ntk")):
        try:
            names = net_names(parse(path.read_text(), str(path)))
        except ntkc.NtkError:
            names = [None]  # _explains fails on it with the parse error
        for name in (names if every else names[-1:]):
            out.append(pytest.param(path, name, id=f"{path.stem}-{name}"))
    return out


def _explains(path, name):
    expl = explain(_load(path, name))
    latex, text = expl.latex(), expl.text()
    assert latex.count("&=") == len(expl.equations) and "\\Sigma" in latex
    assert text.count(" = ") >= len(expl.equations)


@pytest.mark.parametrize("path,name", _sources(every=False))
def test_explain_works_on_every_source(path, name):
    _explains(path, name)


@pytest.mark.slow
@pytest.mark.parametrize("path,name", _sources(every=True))
def test_explain_works_on_every_net_of_every_source(path, name):
    _explains(path, name)


# -- one source of truth: symbolic forms against the numeric pair rules ----------------------
def _random_args(rule, rng):
    args = {}
    for p in rule.params:
        if p.choices is not None:
            value = p.choices[int(rng.integers(len(p.choices)))]
        elif p.type == "float":
            low = max(p.low if p.low is not None else -2.0, p.above if p.above is not None else -2.0)
            value = float(rng.uniform(max(low, 0.05) if low >= 0 else low, 2.0))
        elif p.type == "floats":
            value = tuple(float(v) for v in rng.normal(size=int(rng.integers(1, 4))))
        elif p.type == "int":
            low = int(p.low) if p.low is not None else 0
            value = int(rng.integers(low, low + 4))
        elif p.type == "bool":
            value = bool(rng.integers(2))
        else:
            value = p.default
        args[p.name] = p.convert(value)
    return args


def _activations():
    return sorted(name for name, r in all_layers().items()
                  if r.role == "activation" and r.symbolic is not None)


def test_every_activation_with_a_closed_form_is_covered():
    assert {"Relu", "Erf"} <= set(_activations())


@pytest.mark.parametrize("name", _activations())
def test_activation_symbolic_form_equals_pair_rule(name):
    """Σ' and Σ̇ of the sympy form, lambdified, equal the JAX pair rule to
    1e-10 at random covariances, for random arguments (and the defaults)."""
    import jax.numpy as jnp
    rule = all_layers()[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arg_sets = [_random_args(rule, rng) for _ in range(3)]
    if all(not p.required for p in rule.params):
        arg_sets.append({p.name: p.default for p in rule.params})
    for args in arg_sets:
        form = rule.symbolic(args)
        if form is None:  # these arguments have no closed form (Gelu(approximate=true))
            assert rule.function is not None, name
            continue
        (c, v1, v2), sigma, dot = form
        f = sp.lambdify((c, v1, v2), (sigma, dot), "numpy")
        var1, var2 = rng.uniform(0.05, 3.0, 200), rng.uniform(0.05, 3.0, 200)
        cov = rng.uniform(-0.999, 0.999, 200) * np.sqrt(var1 * var2)
        want = rule.pair(jnp.asarray(cov), jnp.asarray(var1), jnp.asarray(var2), args)
        got = f(cov, var1, var2)
        for g, w, what in zip(got, want, ("Σ'", "Σ̇")):
            g = np.broadcast_to(np.asarray(g, np.float64), np.shape(w))
            w = np.asarray(w)
            assert np.all(np.isfinite(w)), (name, args, what)
            assert np.allclose(g, w, rtol=1e-10, atol=1e-10 * max(1.0, np.max(np.abs(w)))), \
                (name, args, what, float(np.max(np.abs(g - w))))


@pytest.mark.parametrize("name", _activations())
def test_recursion_on_zero_variance_inputs_equals_compiled(name):
    """A zero input row through layers without bias makes every cosine 0/0;
    the equations must still give the compiled kernel (which takes cos = 0
    there), not NaN. The step function (RectifiedMonomial(degree=0)) is left
    out: at an exactly-zero pre-activation the compiled kernel follows the
    finite net's H(0) = 1/2, the equations the limit of vanishing variance."""
    rule = all_layers()[name]
    args = _random_args(rule, np.random.default_rng(zlib.crc32(name.encode())))
    if args.get("degree") == 0:
        args["degree"] = 2
    if rule.symbolic(args) is None:
        args = {p.name: p.default for p in rule.params}
    call = f"{name}({', '.join(f'{k}={_fmt(v)}' for k, v in args.items())})"
    net = ntkc.compile(f"input vector(dim=3)\nnet n {{ Dense(W_std=1.5) {call} Dense(W_std=0.8) "
                       f"{call} Dense(W_std=1.0) }}")
    x = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.3, -1.0, 2.0]])
    nngp, ntk = explain(net.net).evaluate(x)
    for got, get in ((nngp, "nngp"), (ntk, "ntk")):
        want = np.asarray(net(x, get=get), np.float64)
        assert np.all(np.isfinite(got)), (name, get)
        assert np.allclose(got, want, rtol=1e-9, atol=1e-12), (name, get, got - want)


def _fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, tuple):
        return "(" + ", ".join(map(_fmt, v)) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


# -- the lecture notes' closed forms ----------------------------------------------------------------
def test_one_hidden_layer_relu_is_the_arccos_kernel_and_its_ntk():
    """Dense(1) Relu Dense(1): Σ = k_arccos/D and Θ = k_NTK/D with
    k = (1/2π)‖x‖‖x'‖[sin φ + (π − φ) cos φ] and [sin φ + 2(π − φ) cos φ]."""
    d = 3
    src = f"input vector(dim={d})\nnet one {{ Dense(W_std=1) Relu Dense(W_std=1) }}"
    sigma, theta = (eq.rhs for eq in explain(ntkc.check_source(src)).expand().equations)
    x, xp = sp.symbols("x x'")
    a, b = sp.symbols("a b", positive=True)   # ‖x‖, ‖x'‖
    t = sp.Symbol("t", real=True)             # cos φ
    on_norms = {Inner(x, x): a**2, Inner(xp, xp): b**2, Inner(x, xp): a * b * t}
    phi = sp.acos(t)
    arccos = a * b / (2 * sp.pi) * (sp.sin(phi) + (sp.pi - phi) * sp.cos(phi))
    ntk = a * b / (2 * sp.pi) * (sp.sin(phi) + 2 * (sp.pi - phi) * sp.cos(phi))
    assert sp.simplify(sigma.xreplace(on_norms) - arccos / d) == 0
    assert sp.simplify(theta.xreplace(on_norms) - ntk / d) == 0
    # the same equations with another bias are not the closed form
    src_b = src.replace("Dense(W_std=1) Relu", "Dense(W_std=1, b_std=0.5) Relu")
    sigma_b = explain(ntkc.check_source(src_b)).expand().equations[0].rhs
    assert sp.simplify(sigma_b.xreplace(on_norms) - arccos / d) != 0


def test_expanded_form_equals_the_recursion():
    src = """input vector(dim=4)
net n { Dense(W_std=1.5, b_std=0.1) Erf Dense(W_std=1.2, b_std=0.2) Relu Dense }"""
    expl = explain(ntkc.check_source(src))
    rng = np.random.default_rng(2)
    x1, x2 = rng.normal(size=(5, 4)), rng.normal(size=(3, 4))
    x, xp = sp.symbols("x x'")
    grams = {Inner(x, xp): x1 @ x2.T, Inner(x, x): np.sum(x1 * x1, 1)[:, None],
             Inner(xp, xp): np.sum(x2 * x2, 1)[None, :]}
    for eq, want in zip(expl.expand().equations, expl.evaluate(x1, x2)):
        syms = sp.symbols("g0:3")
        f = sp.lambdify(syms, eq.rhs.xreplace(dict(zip(grams, syms))), "numpy")
        assert rel(f(*grams.values()), want) < 1e-12


# -- what the equations say ------------------------------------------------------------------------
def test_equations_carry_the_files_constants():
    src = """input vector(dim=4)
net n { Dense(W_std=1.5, b_std=0.1) Erf Dense(W_std=sqrt(2)) }"""
    expl = ntkc.compile(src).explain()
    assert all(isinstance(eq, sp.Eq) for eq in expl.equations)
    eqs = {str(eq.lhs): eq.rhs for eq in expl.equations}
    s0, s1, t0 = (next(eq.lhs for eq in expl.equations if str(eq.lhs).startswith(p))
                  for p in ("Σ⁽⁰⁾", "Σ⁽¹⁾", "Θ⁽⁰⁾"))
    assert sp.simplify(eqs[str(s1)] - (sp.Rational(9, 4) * s0 + sp.Rational(1, 100))) == 0
    assert sp.simplify(eqs["Θ⁽¹⁾(x, x')"] - (s1 + sp.Rational(9, 4) * t0)) == 0
    s3 = eqs["Σ⁽³⁾(x, x')"]
    assert sp.Integer(2) in s3.args  # W_std = sqrt(2) squared exactly
    assert "asin" in str(eqs["Σ⁽²⁾(x, x')"])


def test_conv_is_a_windowed_mean_and_graphagg_a_matrix_product():
    conv = explain(_load(GOLDEN / "conv1d_sequence.ntk"))
    sums = [e for eq in conv.equations for e in eq.rhs.atoms(sp.Sum)]
    limits = {lim[1:] for s in sums for lim in s.limits}
    # kernel 3, and kernel 5 with stride 2 (same padding puts 1 before, 3 after)
    assert (-1, 1) in limits and (-1, 3) in limits
    assert any("2*q" in str(s) for s in sums)         # stride 2
    gnn = explain(_load(GOLDEN / "gntk_mean.ntk"))
    text = gnn.text()
    assert "Â = D⁻¹·(A + I)" in text
    sup = "[⁰¹²³⁴⁵⁶⁷⁸⁹]+"
    assert re.search(rf"Σ⁽{sup}⁾\(G, G'\) = Â·Σ⁽{sup}⁾\(G, G'\)·Â'ᵀ", text)


# -- printing --------------------------------------------------------------------------------------
# Small nets that between them use every construct explain prints.
RENDERED = {
    "vector": "input vector(dim=3)\nnet n { Dense(W_std=1.5, b_std=0.1) Erf Dense "
              "Residual(alpha=0.5) { Relu Dense(W_std=sqrt(2)) } Flatten Dense }",
    "sequence": "input sequence(length=6, channels=2)\nnet n { Conv(kernel=3, stride=2, "
                "padding=\"circular\") Relu AvgPool(window=2, padding=\"same\") "
                "Conv(kernel=2, padding=\"valid\") Flatten Dense }",
    "image": "input image(height=4, width=4, channels=1)\nnet n { Conv(kernel=(3, 2)) "
             "GlobalAvgPool Dense }",
    "graph": "input graph(features=2)\nnet n { GraphAgg(norm=\"mean\") Dense Relu "
             "GraphAgg(self_loops=false) GlobalAvgPool Dense }",
    "graph_sum": "input graph(features=2)\nnet n { GraphAgg GlobalSumPool }",
}


@pytest.fixture(scope="module")
def mathtext():
    mathtext = pytest.importorskip("matplotlib.mathtext")
    parser = mathtext.MathTextParser("path")
    with pytest.raises(ValueError):
        parser.parse(r"$\Sigma^{(1)}_{p}^{2}(x$")   # the check can fail
    return lambda line: parser.parse(f"${line}$")


@pytest.mark.parametrize("kind", sorted(RENDERED))
def test_latex_renders_in_mathtext(kind, mathtext):
    expl = explain(ntkc.check_source(RENDERED[kind]))
    lines = expl.latex_equations()
    assert len(lines) == len(expl.equations)
    for line in lines:
        mathtext(line)
    assert expl.latex().count("&=") == len(lines)


def _all_activations():
    return sorted(n for n, r in all_layers().items() if r.role == "activation")


@pytest.mark.parametrize("name", _all_activations())
def test_every_activation_renders(name, mathtext):
    """Every activation (every choice of its named function, for quadrature
    layers shown as the Gaussian expectation) prints LaTeX mathtext reads."""
    rule = all_layers()[name]
    args = _random_args(rule, np.random.default_rng(0))
    variants = [args]
    for p in rule.params:
        if p.type == "str" and p.choices:
            variants = [{**args, p.name: choice} for choice in p.choices]
    for args in variants:
        shown = ", ".join(f"{k}={_literal(v)}" for k, v in args.items() if v is not None)
        expl = explain(ntkc.check_source(f"input vector(dim=2)\nnet n {{ Dense {name}({shown}) }}"))
        (step,) = [s for s in expl.steps if s.title.startswith(f"2. {name}")]
        kinds = [eq.lhs.kind for eq in step.equations]
        assert kinds[-3:] == [SIGMA, DOT, THETA] and len(kinds) <= 4  # (θ,) Σ, Σ̇, Θ
        for eq in step.equations:
            mathtext(f"{ntkc.symbolic.latex(eq.lhs)} = {ntkc.symbolic.latex(eq.rhs)}")
        if rule.symbolic is None:
            assert r"\mathbb{E}_{(u, v) \sim \mathcal{N}" in ntkc.symbolic.latex(step.equations[-3].rhs)


def _literal(v):
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "(" + ", ".join(map(_literal, v)) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def test_outputs_name_every_layer():
    expl = explain(_load(GOLDEN / "resnet_fc.ntk"))
    md = expl.markdown()
    assert md.count("$$") == 2 * len(expl.equations)
    for title in ("Residual", "Relu", "Dense(W_std=1.2, b_std=0.1)", "line 15",
                  "(line 8, from line 14)"):
        assert title in md and title in expl.text()
    assert "\\begin{align*}" in expl.latex() and "% " in expl.latex()


# -- the command line ------------------------------------------------------------------------------
def test_cli_formats(capsys):
    path = str(GOLDEN / "fc_relu_d1.ntk")
    assert main(["explain", path]) == 0
    out = capsys.readouterr().out
    assert r"\Sigma^{(1)}(x, x') &= \frac{9}{4} \Sigma^{(0)}(x, x') + \frac{1}{100}" in out
    assert main(["explain", path, "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert "θ⁽²⁾(x, x') = acos(Σ⁽¹⁾(x, x')/sqrt(Σ⁽¹⁾(x, x)*Σ⁽¹⁾(x', x')))" in out
    assert "Σ̇⁽²⁾(x, x') = (π - θ⁽²⁾(x, x'))/(2*π)" in out
    assert main(["explain", path, "--format", "markdown"]) == 0
    assert "$$" in capsys.readouterr().out
    assert main(["explain", path, "--expand", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert "⟨x, x'⟩" in out and "Σ⁽" not in out


def test_cli_errors_are_positioned(tmp_path, capsys):
    path = GOLDEN / "fc_relu_d1.ntk"
    assert main(["explain", str(path), "--net", "nope"]) == 1
    err = capsys.readouterr().err
    assert re.match(rf"{re.escape(str(path))}(:\d+:\d+)?: error: no net named 'nope'", err)
    bad = tmp_path / "bad.ntk"
    bad.write_text("input vector(dim=3)\nnet n {\n    Dense(W_std=)\n}\n")
    assert main(["explain", str(bad)]) == 1
    assert capsys.readouterr().err.startswith(f"{bad}:3:")
    assert main(["explain", str(tmp_path / "missing.ntk")]) == 1
    assert "error" in capsys.readouterr().err
    cnn = GOLDEN / "cnn_valid_gap.ntk"
    assert main(["explain", str(cnn), "--expand"]) == 1
    err = capsys.readouterr().err
    assert re.match(rf"{re.escape(str(cnn))}:\d+:\d+: error: --expand needs a net on vector", err)
    with pytest.raises(SystemExit) as e:
        main(["explain", str(path), "--format", "pdf"])
    assert e.value.code == 2


def test_expand_refuses_deep_nets():
    src = "input vector(dim=3)\nnet deep { repeat 6 { Dense(W_std=1.5, b_std=0.1) Relu } Dense }"
    with pytest.raises(ntkc.NtkError, match="too many to print"):
        explain(ntkc.check_source(src)).expand()
