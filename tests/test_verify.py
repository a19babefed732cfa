"""ntkc.verify: the statistical test is calibrated, correct kernels agree with
finite networks, deliberately wrong rules are caught and the layer-by-layer
report names the broken layer, the error shrinks like 1/√(width·samples), and
``ntkc verify`` prints the table and exits 0 / 3 / 1."""

import dataclasses
import json

import jax.numpy as jnp
import numpy as np
import pytest

import ntkc
from conftest import EXAMPLES, GOLDEN
from ntkc import registry
from ntkc.cli import main
from ntkc.empirical import empirical_draws
from ntkc.finite import finite_net
from ntkc.rules import conv, dense, graph, relu
from ntkc.rules._activation import make_kernel
from ntkc.verification import compare, random_inputs, t_quantile, verify

# The budget of the default suite, chosen from docs/verification.md: about 5 %
# relative standard error on these nets, a few seconds each after compiling.
WIDTH, SAMPLES = 128, 32


def golden_inputs(name):
    z = np.load(GOLDEN / f"{name}.npz")
    if "x1" in z:
        return z["x1"], z["x2"]
    return tuple(ntkc.GraphBatch(z[f"{s}_features"], z[f"{s}_adjacency"], z[f"{s}_mask"])
                 for s in ("x1", "x2"))


def mutate(monkeypatch, name, **changes):
    """Replace fields of a registered layer for this test only."""
    monkeypatch.setitem(registry.LAYERS, name, dataclasses.replace(registry.LAYERS[name], **changes))


def line_of(source, text, nth=1):
    lines = [i + 1 for i, l in enumerate(source.splitlines()) if text in l]
    return lines[nth - 1]


# -- the statistics ----------------------------------------------------------------------
def test_t_quantiles_match_tables():
    assert t_quantile(0.975, 1) == pytest.approx(12.706, abs=2e-3)
    assert t_quantile(0.9995, 7) == pytest.approx(5.408, abs=2e-3)
    assert t_quantile(0.995, 30) == pytest.approx(2.750, abs=2e-3)
    assert t_quantile(0.975, 10_000) == pytest.approx(1.960, abs=2e-3)


@pytest.mark.parametrize("rank", [1, 50])
def test_false_alarm_rate_is_at_most_alpha(rank):
    """Draws K̂_s = K + noise: rank-1 noise (all entries move together, the
    worst case) makes error/SE exactly |t_{S-1}|, so the rate is α; noise
    spread over many directions fails less often."""
    rng = np.random.default_rng(1)
    alpha, s, trials = 0.05, 8, 4000
    z = t_quantile(1 - alpha / 2, s - 1)
    target = rng.standard_normal(50) + 3
    basis = np.linalg.qr(rng.standard_normal((50, rank)))[0]
    fails = 0
    for _ in range(trials):
        draws = target + 0.1 * rng.standard_normal((s, rank)) @ basis.T
        fails += not compare("k", draws, target, z, 0.0).passed
    rate = fails / trials
    if rank == 1:
        assert abs(rate - alpha) < 0.015
    else:
        assert rate < alpha


def np_check(draws, target, weight=1.0):
    """(error, SE) of ``compare``'s docstring, written out in numpy: the mean over
    the S draws, the unbiased (S − 1) variance of each entry, weights applied."""
    s = len(draws)
    mean = draws.sum(0) / s
    var = ((draws - mean) ** 2).sum(0) / (s - 1)
    norm = np.sqrt(((target * weight) ** 2).sum())
    return (np.sqrt((((mean - target) * weight) ** 2).sum()) / norm,
            np.sqrt((var * weight ** 2).sum() / s) / norm)


@pytest.mark.parametrize("s", [2, 4, 16])
def test_error_and_standard_error_match_numpy(s):
    """With S = 2 the unbiased variance is twice the biased one, so a
    standard error from the wrong variance is off by √2 (√(4/3) at S = 4)."""
    rng = np.random.default_rng(s)
    target = rng.standard_normal((3, 4)) + 2
    draws = target + 0.1 + 0.3 * rng.standard_normal((s, 3, 4))
    error, se = np_check(draws, target)
    check = compare("k", draws, target, 3.0, 0.01)
    assert check.error == pytest.approx(error, rel=1e-12)
    assert check.se == pytest.approx(se, rel=1e-12)
    assert check.tolerance == pytest.approx(3.0 * se + 0.01, rel=1e-12)
    # padded entries (weight 0) count neither in the norm nor in the spread
    weight = np.ones((3, 4))
    weight[:, 3] = 0
    wild = draws.copy()
    wild[:, :, 3] += 100 * rng.standard_normal((s, 3))
    error, se = np_check(wild, target, weight)
    check = compare("k", wild, target, 3.0, 0.0, weight)
    assert check.error == pytest.approx(error, rel=1e-12)
    assert check.se == pytest.approx(se, rel=1e-12)
    assert check.se == pytest.approx(compare("k", draws[:, :, :3], target[:, :3], 3.0, 0.0).se,
                                     rel=1e-12)
    # an all-zero kernel is compared absolutely
    zero = compare("k", draws - target, 0 * target, 3.0, 0.0)
    assert zero.se == pytest.approx(np_check(draws, target)[1] * np.sqrt((target ** 2).sum()),
                                    rel=1e-12)
    # a draw that is not finite fails the check outright
    bad = draws.copy()
    bad[0, 0, 0] = np.nan
    assert not compare("k", bad, target, 3.0, 0.01).passed


def test_report_standard_error_is_that_of_the_draws():
    """verify's reported error and SE are those of the finite networks' draws
    (the same draws, taken here with ntkc.finite), against the numpy formulas."""
    kernel = ntkc.load(GOLDEN / "fc_relu_d4.ntk")
    x1, _ = golden_inputs("fc_relu_d4")
    width, samples = 32, 4
    report = verify(kernel, x1, width=width, samples=samples, seed=5, diagnose=False)
    fnet = finite_net(kernel.net, width)
    ((nn, nt),) = empirical_draws(fnet, jnp.asarray(x1, fnet.dtype), samples=samples, seed=5)
    for check, draws, target in ((report.nngp, nn, kernel.nngp(x1)), (report.ntk, nt, kernel.ntk(x1))):
        error, se = np_check(np.asarray(draws[..., 0], np.float64), np.asarray(target, np.float64))
        assert check.error == pytest.approx(error, rel=1e-6)
        assert check.se == pytest.approx(se, rel=1e-6)
        assert check.bias == pytest.approx(1.0 * 4 / width)  # BIAS_PER_LAYER · 4 hidden layers / width
        assert check.z == pytest.approx(t_quantile(1 - 1e-3 / 4, samples - 1))


def test_a_shift_of_several_standard_errors_fails():
    rng = np.random.default_rng(2)
    target = np.ones((4, 4))
    draws = target + 0.05 * rng.standard_normal((16, 4, 4))
    z = t_quantile(1 - 1e-3 / 4, 15)
    assert compare("k", draws, target, z, 0.0).passed
    assert compare("k", draws + 0.04, target, z, 0.0).passed  # 3 SE: within z·SE
    shifted = compare("k", draws + 0.1, target, z, 0.0)  # ‖shift‖/‖K‖ = 10 %, SE ≈ 1.2 %
    assert not shifted.passed and shifted.error > 0.08


# -- correct kernels agree -------------------------------------------------------------
@pytest.mark.parametrize("name", ["fc_relu_d4", "cnn_valid_gap", "cnn_same_flatten",
                                  "resnet_fc", "gntk_mean"])
def test_golden_architectures_agree(name):
    kernel = ntkc.load(GOLDEN / f"{name}.ntk")
    x1, x2 = golden_inputs(name)
    report = verify(kernel, x1, x2 if name == "resnet_fc" else None, width=WIDTH, samples=SAMPLES)
    assert report.passed, str(report)
    assert report.layers == ()  # diagnosis runs only on failure
    assert 0 < report.nngp.se < 0.2 and 0 < report.ntk.se < 0.2


def test_same_seed_same_report_other_seed_other_draws():
    kernel = ntkc.load(GOLDEN / "fc_relu_d4.ntk")
    x1, _ = golden_inputs("fc_relu_d4")
    a = verify(kernel, x1, width=WIDTH, samples=SAMPLES, seed=0)
    b = verify(kernel, x1, width=WIDTH, samples=SAMPLES, seed=0)
    c = verify(kernel, x1, width=WIDTH, samples=SAMPLES, seed=1)
    assert (a.nngp.error, a.ntk.error) == (b.nngp.error, b.ntk.error)
    assert a.ntk.error != c.ntk.error


# -- wrong rules are caught, and located -------------------------------------------------
MLP = """input vector(dim=4)
net mlp {
    Dense(W_std=1.5, b_std=0.5)
    Relu
    Dense(W_std=1.5, b_std=0.5)
    Relu
    Dense(W_std=1.5, b_std=0.5)
    Relu
    Dense(W_std=1.5)
}
"""
MLP_BUDGET = dict(width=256, samples=64)  # Σ̇ × 1.1 moves this NTK by ~10 %


def check_caught(source, monkeypatch, layer, line, budget, inputs=None, **mutation):
    kernel = ntkc.compile(source, filename="mutant.ntk")
    x = random_inputs(kernel, 5, 0) if inputs is None else inputs
    assert verify(kernel, x, **budget).passed  # the correct rule agrees at this budget
    mutate(monkeypatch, layer, **mutation)
    report = verify(ntkc.compile(source, filename="mutant.ntk"), x, **budget)
    assert not report.passed, str(report)
    bad = report.first_bad
    assert bad is not None, str(report)
    assert (bad.layer, bad.line) == (layer, line), str(report)
    assert f"first disagreement: {bad.name} at mutant.ntk:{line}" in str(report)
    return report


@pytest.mark.slow
def test_relu_with_sigma_dot_scaled_is_caught(monkeypatch):
    def pair(c, v1, v2, args):
        sigma, dot = relu.pair(c, v1, v2, args)
        return sigma, 1.1 * dot
    report = check_caught(MLP, monkeypatch, "Relu", line_of(MLP, "Relu"), MLP_BUDGET,
                          kernel=make_kernel(pair))
    assert report.first_bad.nngp.passed  # Σ is right; only Θ is wrong


def test_dense_without_bias_is_caught(monkeypatch):
    def kernel(state, args, in_shape):  # forgets + b_std²
        w2 = args["W_std"] ** 2
        new = state.map(lambda a, which: w2 * a, ntk=False)
        return new if state.ntk is None else new.replace(ntk=w2 * state.ntk + new.nngp)
    check_caught(MLP, monkeypatch, "Dense", line_of(MLP, "Dense"), MLP_BUDGET, kernel=kernel)


CNN = """input image(height=4, width=4, channels=2)
net cnn {
    Conv(kernel=3, W_std=1.4, b_std=0.1)
    Relu
    Flatten
    Dense(W_std=1.4)
}
"""


@pytest.mark.slow
def test_conv_normalised_by_taps_inside_the_image_is_caught(monkeypatch):
    """A plausible bug: averaging each window over the taps that fall inside
    the image (zero padding left out of the mean) instead of all k² taps."""
    def kernel(state, args, in_shape):
        window, stride, out, pads = conv._plan(in_shape, args)
        def mean(a):
            return conv._window_mean(a, in_shape.nspatial, window, stride, out, pads,
                                     args["padding"] == "circular", not state.diag)
        w2, b2 = args["W_std"] ** 2, args["b_std"] ** 2
        new = state.map(lambda a, which: w2 * mean(a) / mean(jnp.ones_like(a)) + b2, ntk=False)
        if state.ntk is None:
            return new
        return new.replace(ntk=w2 * mean(state.ntk) / mean(jnp.ones_like(state.ntk)) + new.nngp)
    check_caught(CNN, monkeypatch, "Conv", line_of(CNN, "Conv"), dict(width=WIDTH, samples=SAMPLES),
                 kernel=kernel)


GNN = """input graph(features=3)
net gnn {
    Dense(W_std=1.5, b_std=0.2)
    GraphAgg(norm="mean")
    Relu
    Dense(W_std=1.5)
    GlobalSumPool
}
"""


@pytest.mark.slow
def test_graph_agg_without_self_loops_in_the_kernel_is_caught(monkeypatch):
    """The finite net aggregates with self loops (as the source says), the
    mutated kernel rule without them; graphs of 3–8 nodes, padded."""
    def kernel(state, args, in_shape):
        return graph.kernel(state, {**args, "self_loops": False}, in_shape)

    # The rule on graphs' joint node-pair layout (what kernel(x) runs) too.
    def joint(state, args, in_shape):
        return graph.joint(state, {**args, "self_loops": False}, in_shape)
    check_caught(GNN, monkeypatch, "GraphAgg", line_of(GNN, "GraphAgg"),
                 dict(width=WIDTH, samples=SAMPLES), kernel=kernel, joint=joint)


def test_a_wrong_finite_forward_is_caught_too(monkeypatch):
    """The check is symmetric: a Dense whose finite forward drops its bias
    disagrees with the (right) kernel at that Dense."""
    mutate(monkeypatch, "Dense", apply=lambda p, x, args, ctx: dense.apply(
        {"W": p["W"], "b": 0 * p["b"]}, x, args, ctx))
    kernel = ntkc.compile(MLP, filename="mutant.ntk")
    report = verify(kernel, random_inputs(kernel, 5, 0), width=WIDTH, samples=SAMPLES)
    assert not report.passed
    assert (report.first_bad.layer, report.first_bad.line) == ("Dense", line_of(MLP, "Dense"))


# -- the error shrinks like 1/√(width·samples) --------------------------------------------
def error_slope(widths, samples, reps):
    """Fitted log-log slope of the RMS error (over ``reps`` replicates) against
    width·samples, on a one-hidden-layer MLP, whose estimates are unbiased at
    every width (the first layer's pre-activations are exactly Gaussian)."""
    kernel = ntkc.load(GOLDEN / "fc_relu_d1.ntk")
    x = random_inputs(kernel, 6, 0)
    ref = [np.asarray(k) for k in kernel(x, get=("nngp", "ntk"))]
    xs, ys = [], {0: [], 1: []}
    smax = max(samples)
    for w in widths:
        fnet = finite_net(kernel.net, w)
        ((nn, nt),) = empirical_draws(fnet, jnp.asarray(x, fnet.dtype), samples=reps * smax, seed=3)
        for s in samples:
            xs.append(np.log(w * s))
            for i, d in enumerate((nn[..., 0], nt[..., 0])):
                errs = [np.linalg.norm(d[r * smax:r * smax + s].mean(0) - ref[i]) / np.linalg.norm(ref[i])
                        for r in range(reps)]
                ys[i].append(0.5 * np.log(np.mean(np.square(errs))))
    return [float(np.polyfit(xs, ys[i], 1)[0]) for i in (0, 1)]


@pytest.mark.slow
def test_error_shrinks_like_one_over_root_width_times_samples():
    nngp, ntk = error_slope([32, 128, 512], [4, 16], reps=8)
    assert abs(nngp + 0.5) < 0.15 and abs(ntk + 0.5) < 0.15, (nngp, ntk)


@pytest.mark.slow
def test_error_slope_wide_range():
    nngp, ntk = error_slope([16, 64, 256, 512], [2, 8, 32], reps=16)
    assert abs(nngp + 0.5) < 0.1 and abs(ntk + 0.5) < 0.1, (nngp, ntk)


# -- the command line -------------------------------------------------------------------------
def test_cli_verify_agrees_and_prints_the_table(capsys):
    code = main(["verify", str(GOLDEN / "fc_relu_d1.ntk"), "--width", "64", "--samples", "16",
                 "--n", "4"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "nngp" in out and "ntk" in out and "agree" in out and "tolerance" in out


def test_cli_verify_exits_3_on_disagreement(capsys, monkeypatch):
    def kernel(state, args, in_shape):
        return dense.kernel(state, {**args, "W_std": 1.3 * args["W_std"]}, in_shape)
    mutate(monkeypatch, "Dense", kernel=kernel)
    code = main(["verify", str(GOLDEN / "fc_relu_d1.ntk"), "--width", "64", "--samples", "16",
                 "--n", "4"])
    out = capsys.readouterr().out
    assert code == 3, out
    assert "DISAGREE" in out and "first disagreement: Dense" in out


def test_cli_verify_errors(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "missing.ntk")]) == 1
    bad = tmp_path / "bad.ntk"
    bad.write_text("input vector(dim=3)\nnet n { Dense Relu Dense(W_std=) }\n")
    assert main(["verify", str(bad)]) == 1
    assert "bad.ntk:2:" in capsys.readouterr().err
    good = tmp_path / "good.ntk"
    good.write_text("input vector(dim=3)\nnet n { Dense }\n")
    assert main(["verify", str(good), "--samples", "1"]) == 1
    np.save(tmp_path / "x.npy", np.ones((3, 5)))
    assert main(["verify", str(good), "--x1", str(tmp_path / "x.npy")]) == 1
    assert "expected (N, 3)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["verify", str(good), "--width", "0"])
    assert e.value.code == 2


# -- everything, at a larger budget -----------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", [c["name"] for c in
                                  json.loads((GOLDEN / "cases.json").read_text())["cases"]])
def test_every_golden_architecture_agrees(name):
    kernel = ntkc.load(GOLDEN / f"{name}.ntk")
    x1, x2 = golden_inputs(name)
    report = verify(kernel, x1, x2, width=256, samples=32)
    assert report.passed, str(report)


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(p.name for p in EXAMPLES.glob("*.ntk")))
def test_cli_verify_every_example(path, capsys):
    code = main(["verify", str(EXAMPLES / path), "--width", "128", "--samples", "32", "--n", "4"])
    assert code == 0, capsys.readouterr().out


def test_bias_allowance_is_each_rules_mc_bias():
    """verify's bias allowance adds each hidden-reading weight layer's
    ``mc_bias`` (Dense 1, unnormalised attention 30) and counts a recurrent
    cell, with the block's own weights, once per time step."""
    from ntkc.finite import finite_net
    from ntkc.verification import _depths

    def units(src):
        fnet = finite_net(ntkc.compile(src).net, width=8)
        return _depths(fnet)[fnet.layers[-1].path]
    seq = "input sequence(length=4, channels=2)\n"
    assert units(seq + "net n { Dense Relu Dense Relu GlobalAvgPool Dense }") == 2
    assert units(seq + 'net n { Dense SelfAttention(mechanism="identity") Relu GlobalAvgPool '
                       'Dense }') == 31
    assert units(seq + "net n { Dense SelfAttention Relu GlobalAvgPool Dense }") == 6
    # 4 steps × (W h + U x: 2, the cell's Dense: 1), then the readout Dense
    assert units(seq + "net n { Recurrent { Relu Dense Relu } Dense }") == 4 * 3 + 1
