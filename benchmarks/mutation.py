"""Mutation testing over the kernel rules, the kernel's input checks, blocking,
verification and the finite networks: does the test suite notice a plausible
one-line bug?

Each mutant below is one reviewed, plausible slip (a wrong constant, a missing
term, a check that no longer runs), written as an exact text replacement that
must match exactly once, so a mutant that no longer applies after a refactor
is reported as ``stale`` instead of silently skipped. Every mutant is applied
alone to a temporary copy of the working tree (never to the tree itself), and
the tests that can see it (``SELECTIONS``; ``--full``: the whole default
suite) run against the copy; a failing, erroring or timed-out run kills the
mutant. Before the mutants, every selection used is run once on the unmutated
copy and must pass, so that a kill means the mutant, not a broken test.

Equivalent mutants, which no test can kill because the kernel's values do not
change, are listed separately with the reason, and are left out of the score
(``--equivalent`` runs them, to confirm that they survive).

    python benchmarks/mutation.py                 # all mutants, mapped tests
    python benchmarks/mutation.py --only pool-graph-mean-self-n relu-dot
    python benchmarks/mutation.py --full          # the default suite per mutant
    python benchmarks/mutation.py --list

Writes benchmarks/results/mutation.json (``--out``) and prints a table.
Why a fixed list rather than mutmut or cosmic-ray: docs/testing.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# -- which tests can see which mutant ----------------------------------------------------
SELECTIONS = {
    "reference": ["tests/test_reference.py"],
    "activations-pair": ["tests/test_activations.py", "-k", "pair_rule_vs_quadrature"],
    "activations-f32": ["tests/test_activations.py", "-k",
                        "rectified or float32_finite_psd_and_close_to_float64 and (closed or poly)"],
    "layernorm": ["tests/test_activations.py", "-k", "layernorm"],
    "golden-cnn": ["tests/test_golden.py", "-k",
                   "cnn or conv1d or avgpool or resnet_cnn"],
    "golden-resnet": ["tests/test_golden.py", "-k", "resnet"],
    "golden-graph": ["tests/test_golden.py", "-k", "graph or gntk"],
    "graph": ["tests/test_graph_reference.py"],
    "inputs": ["tests/test_kernel_inputs.py"],
    "branching": ["tests/test_branching.py", "-k", "not monte_carlo"],
    "blocking": ["tests/test_blocking.py", "tests/test_blocking_plan.py", "tests/test_golden.py", "-k",
                 "test_blocking or blocked and (fc_relu_d4 or cnn_valid_gap or gntk_sum)"],
    "verify-stats": ["tests/test_verify.py", "-k",
                     "quantile or numpy or draws or false_alarm or shift"],
    "verify-diagnosis": ["tests/test_verify.py", "-k",
                         "wrong_finite_forward or dense_without_bias"],
    "finite": ["tests/test_finite.py", "tests/test_finite_forward.py"],
    "finite-forward": ["tests/test_finite.py", "tests/test_finite_forward.py", "-k",
                       "forward or tiles or streams or width"],
    "recurrent": ["tests/test_recurrent.py"],
    "attention": ["tests/test_attention.py", "-k", "golden"],
    "contract": ["tests/test_layer_contract.py", "tests/test_attention.py", "-k",
                 "golden_first or zero_ntk or blocks_agree"],
    "graph-joint": ["tests/test_graph_joint.py", "-k",
                    "list_input or weighted or permuting or edgeless or joint_equals or sparse_and_dense "
                    "or one_hot"],
    "store": ["tests/test_store.py", "-k", "damaged or another_job or equals_the_in_memory"],
    "standard": ["tests/test_standard.py", "-k", "golden or widths or gradients"],
    "self-layouts": ["tests/test_self_layouts.py"],
    "pair-diagonal": ["tests/test_self_layouts.py", "-k", "pair_diagonal"],
    "empirical": ["tests/test_empirical_ntk.py", "-k", "finite_difference or batched"],
    "quadrature-check": ["tests/test_quadrature.py", "-k", "issue or documented or refusal_inside"],
    "graph-inputs": ["tests/test_graph_joint.py", "-k", "bad_graph_inputs"],
    "pos-emb-data": ["tests/test_attention_pos.py", "-k", "data"],
}

# -- the mutants: (id, file, exact old text, new text, tests, the bug it stands for) --------
MUTANTS = [
    # activations
    ("relu-sigma-cos", "ntkc/rules/relu.py",
     "sigma = norm / (2 * jnp.pi) * (sin + rest * cos)", "sigma = norm / (2 * jnp.pi) * (sin + rest)",
     "reference", "Relu Σ' loses the cos θ factor"),
    ("relu-dot", "ntkc/rules/relu.py",
     "dot = rest / (2 * jnp.pi)", "dot = rest / jnp.pi", "reference", "Relu Σ̇ off by 2"),
    ("relu-f32-arccos", "ntkc/rules/relu.py",
     "r = safe_sqrt(1 - a) * poly", "r = (1 - a) * poly", "activations-f32",
     "float32 arccos without its square root"),
    ("relu-f64-arccos", "ntkc/rules/relu.py",
     "r = jnp.where(big, 2 * asin, jnp.pi / 2 - asin)", "r = jnp.where(big, asin, jnp.pi / 2 - asin)",
     "reference", "float64 arccos's half-angle branch not doubled"),
    ("activation-ntk", "ntkc/rules/_activation.py",
     "ntk = None if state.ntk is None else dot * state.ntk",
     "ntk = None if state.ntk is None else state.ntk", "reference", "Θ' = Θ, Σ̇ forgotten"),
    ("cosine-clip", "ntkc/rules/_activation.py",
     "return jnp.clip(jnp.where(ok, c / jnp.where(ok, norm, 1.0), 0.0), -1.0, 1.0), norm",
     "return jnp.where(ok, c / jnp.where(ok, norm, 1.0), 0.0), norm", "activations-f32",
     "cos θ not clipped to [-1, 1] (NaN from rounding at x = x')"),
    ("erf-shift", "ntkc/rules/erf.py",
     "(jnp.pi / 2 - arccos(ratio)) + shift * shift", "(jnp.pi / 2 - arccos(ratio))",
     "activations-pair", "Erf(c) without the c² term"),
    ("erf-ratio", "ntkc/rules/erf.py",
     "ratio = jnp.clip(2 * b2 * c / norm, -1.0, 1.0)", "ratio = jnp.clip(b2 * c / norm, -1.0, 1.0)",
     "reference", "Erf arcsin argument missing its factor 2"),
    ("abrelu-dot", "ntkc/rules/abrelu.py",
     "dot = (a * a + b * b) / 2 - (a - b) ** 2 / (2 * jnp.pi) * theta",
     "dot = (a * a + b * b) / 2 - (a - b) ** 2 / jnp.pi * theta", "activations-pair",
     "ABRelu Σ̇ angle term off by 2"),
    ("gelu-linear", "ntkc/rules/gelu.py",
     "sigma = c / 4 + (c * angle + (c * c + prod", "sigma = c / 2 + (c * angle + (c * c + prod",
     "activations-pair",
     "Gelu Σ' linear term Σ₁₂/2 instead of /4"),
    ("trig-phase", "ntkc/rules/trig.py",
     "s_minus = jnp.exp(-b * b * (c + half)) * math.cos(2 * phase)",
     "s_minus = jnp.exp(-b * b * (c + half)) * math.sin(2 * phase)", "activations-pair",
     "Sin/Cos phase term with sin instead of cos"),
    ("rbf-dot", "ntkc/rules/trig.py",
     "return sigma, 2 * gamma * sigma", "return sigma, gamma * sigma", "activations-pair",
     "Rbf Σ̇ off by 2"),
    ("rectified-dot", "ntkc/rules/rectified.py",
     "dot = n * n * (norm ** (n - 1)", "dot = n * (norm ** (n - 1)", "activations-pair",
     "RectifiedMonomial Σ̇ with n instead of n²"),
    ("polynomial-derivative", "ntkc/rules/polynomial.py",
     "return tuple(n * coef[n] for n in range(1, len(coef)))",
     "return tuple(coef[n] for n in range(1, len(coef)))", "activations-pair",
     "polynomial derivative without the power"),
    ("quadrature-parity", "ntkc/rules/_quadrature.py",
     "scale = (2.0 if parity else 1.0) / (2 * np.pi)", "scale = 1.0 / (2 * np.pi)",
     "activations-pair", "Elementwise quadrature halves the angle range without doubling"),
    ("elementwise-parity", "ntkc/rules/elementwise.py",
     '"sigmoid": (jax.nn.sigmoid, 0, 14)', '"sigmoid": (jax.nn.sigmoid, 1, 14)', "activations-pair",
     "sigmoid declared even"),
    ("layernorm-sqrt", "ntkc/rules/layernorm.py",
     "return 1 / jnp.sqrt((v1 + eps) * (v2 + eps))", "return 1 / ((v1 + eps) * (v2 + eps))",
     "layernorm", "LayerNorm divides by the variance, not the standard deviation"),
    ("layernorm-ntk", "ntkc/rules/layernorm.py",
     'ntk = None if state.ntk is None else state.ntk * _scale(state, "cross", args["eps"])',
     "ntk = None if state.ntk is None else state.ntk", "layernorm", "LayerNorm leaves Θ unscaled"),
    # weight layers
    # Dense and Conv share their (Σ, Θ) step (rules/_parameterization.py), each
    # with its own linear map on covariances
    ("dense-bias", "ntkc/rules/_parameterization.py",
     "new = state.map(lambda a, which: w2 * linear(a, which) + b2, ntk=False)",
     "new = state.map(lambda a, which: w2 * linear(a, which), ntk=False)", "reference",
     "a weight layer without b_std²"),
    ("dense-ntk", "ntkc/rules/_parameterization.py",
     'return new.replace(ntk=w2 * linear(state.ntk, "cross") + new.nngp)',
     'return new.replace(ntk=w2 * linear(state.ntk, "cross") + state.nngp)', "reference",
     "a weight layer's Θ' adds the input Σ instead of the output Σ'"),
    ("conv-ntk", "ntkc/rules/_parameterization.py",
     'return new.replace(ntk=w2 * linear(state.ntk, "cross") + new.nngp)',
     'return new.replace(ntk=w2 * linear(state.ntk, "cross"))', "golden-cnn",
     "a weight layer's Θ' without Σ' (seen through Conv's goldens)"),
    ("conv-standard-fan-in", "ntkc/rules/conv.py",
     "fan_in = None if in_shape.width is None else in_shape.width * math.prod(window)",
     "fan_in = None if in_shape.width is None else in_shape.width", "standard",
     "a standard Conv's fan-in without its window"),
    ("conv-circular", "ntkc/rules/conv.py",
     'circular = args["padding"] == "circular"', "circular = False", "golden-cnn",
     "circular padding treated as zero padding"),
    ("conv-fan-in", "ntkc/rules/conv.py",
     "        fan_in *= k\n", "        pass\n", "finite-forward",
     "finite Conv normalised by channels only, not window × channels"),
    ("window-pads", "ntkc/rules/_spatial.py",
     "pads.append((total // 2, total - total // 2))", "pads.append((total - total // 2, total // 2))",
     "golden-cnn", "SAME padding puts the odd pad first"),
    ("window-size", "ntkc/rules/_spatial.py",
     "size *= window[i]", "size = window[i]", "golden-cnn", "window mean divides by the last axis only"),
    ("window-valid-out", "ntkc/rules/_spatial.py",
     "out.append((n - k) // s + 1)", "out.append((n - k) // s)", "golden-cnn",
     "VALID output one position short"),
    # readouts, pooling, graphs
    ("flatten-sum", "ntkc/rules/pooling.py",
     "mean = lambda a: a.mean(tuple(range(a.ndim - d, a.ndim)))",
     "mean = lambda a: a.sum(tuple(range(a.ndim - d, a.ndim)))", "golden-cnn",
     "Flatten sums instead of averaging"),
    ("avgpool-stride", "ntkc/rules/pooling.py",
     'stride = window if args["stride"] is None else per_axis(args["stride"], d, "stride")',
     'stride = (1,) * d if args["stride"] is None else per_axis(args["stride"], d, "stride")',
     "golden-cnn", "AvgPool default stride 1 instead of the window"),
    ("pool-graph-mean-self-n", "ntkc/rules/pooling.py",
     "return m[:, :, None] * m[:, None, :], m.sum(-1) ** 2",
     "return m[:, :, None] * m[:, None, :], m.sum(-1)", "graph",
     "graph GlobalAvgPool self-covariance divided by N, not N²"),
    ("pool-graph-mask", "ntkc/rules/pooling.py",
     "total = (a * weights).sum(axes_of(a))", "total = a.sum(axes_of(a))", "graph",
     "graph pools count padded nodes"),
    ("pool-graph-apply-mask", "ntkc/rules/pooling.py",
     "total = (x * m).sum(1)", "total = x.sum(1)", "finite-forward",
     "finite graph pool counts padded nodes"),
    ("graph-agg-mean-axis", "ntkc/rules/graph.py",
     "count = a.sum(-1, keepdims=True)", "count = a.sum(-2, keepdims=True)", "graph",
     "mean aggregation divides by column sums"),
    ("graph-agg-self-loops", "ntkc/rules/graph.py",
     'if args["self_loops"]:', 'if not args["self_loops"]:', "graph", "self_loops inverted"),
    ("graph-agg-cross", "ntkc/rules/graph.py",
     '"iuv,ijvw,jxw->ijux"', '"iuv,ijvw,jwx->ijux"', "graph", "Â' not transposed in the cross term"),
    ("graph-agg-mean-self-loop", "ntkc/rules/graph.py",
     'if args["norm"] == "mean":', 'if args["norm"] == "mean" and args["self_loops"]:', "graph",
     "mean normalisation skipped without self loops"),
    # blocks
    ("residual-alpha", "ntkc/rules/residual.py",
     'return state.combine(body(state), 1.0, args["alpha"] ** 2)',
     'return state.combine(body(state), 1.0, args["alpha"])', "golden-resnet",
     "Residual adds α Σ_body, not α²"),
    ("residual-apply", "ntkc/rules/residual.py",
     'return x + args["alpha"] * body(x)', "return x + body(x)", "finite-forward",
     "finite Residual ignores alpha"),
    ("sum-last-branch", "ntkc/rules/branch.py",
     "out = b if out is None else out.combine(b)", "out = b", "branching",
     "Sum keeps only its last branch"),
    ("concat-weights", "ntkc/rules/branch.py",
     "out = b.scale(w / total) if out is None else out.combine(b, 1.0, w / total)",
     "out = b.scale(w / total) if out is None else out.combine(b, 1.0, 1 / len(bodies))",
     "branching", "Concat weights later branches equally"),
    # the kernel's input checks
    ("check-finite", "ntkc/kernel.py",
     "    bad = ~np.isfinite(np.asarray(arr))\n", "    return\n    bad = ~np.isfinite(np.asarray(arr))\n",
     "inputs", "_check_finite no longer checks"),
    # the graph checks live in ntkc/graphs.py (one checked graph type); a 0/1
    # adjacency is no longer required (weighted graphs), its mutant retired
    ("check-finite-graph", "ntkc/graphs.py",
     'for arr, what in ((f, "features"), (a, "adjacency")):', 'for arr, what in ((a, "adjacency"),):',
     "graph-inputs", "graph features not checked for NaN"),
    ("check-adjacency-symmetric", "ntkc/graphs.py",
     "if not np.array_equal(a, a.T):", "if False:", "inputs",
     "adjacency symmetry check disabled"),
    ("check-mask-01", "ntkc/graphs.py",
     "if not np.all((m == 0) | (m == 1)):", "if False:", "inputs", "mask 0/1 check disabled"),
    ("check-padded-edges", "ntkc/graphs.py",
     "if np.any(a[i][~keep]) or np.any(a[i][:, ~keep]):", "if False:", "inputs",
     "edges at padded nodes accepted"),
    ("check-empty", "ntkc/kernel.py",
     "if arr.shape[0] == 0:", "if False:", "inputs", "empty batch accepted"),
    # blocking
    ("blocks-diagonal", "ntkc/blocking.py",
     "if not self.sym or c >= r:", "if not self.sym or c > r:", "blocking",
     "symmetric Grams skip their diagonal blocks"),
    ("blocks-mirror", "ntkc/blocking.py",
     "out[k][c:c + w, r:r + h] = block.T", "out[k][c:c + w, r:r + h] = block[:w, :h]", "blocking",
     "the lower triangle is not the transpose"),
    ("blocks-balance", "ntkc/blocking.py",
     "rows = math.ceil(n1 / math.ceil(n1 / rows))", "rows = rows", "blocking",
     "blocks not balanced (last block mostly padding)"),
    ("blocks-work-target", "ntkc/blocking.py",
     "target = min(budget, BLOCK_WORK.get(platform, ACCEL_BLOCK_WORK))", "target = budget",
     "blocking", "the per-platform working-set target ignored"),
    ("memory-kib", "ntkc/blocking.py",
     '"K": 2**10,', '"K": 10**3,', "blocking", "K parsed as 1000"),
    ("blocks-cut-rows", "ntkc/blocking.py",
     "h, w = min(plan.rows, plan.n1 - r), min(plan.cols, plan.n2 - c)",
     "h, w = min(plan.rows, plan.n1 - r), min(plan.rows, plan.n2 - c)", "blocking",
     "block width taken from rows"),
    # verification statistics
    ("verify-ddof", "ntkc/verification.py",
     "draws.var(0, ddof=1)", "draws.var(0, ddof=0)", "verify-stats",
     "standard error from the biased variance"),
    ("verify-z", "ntkc/verification.py",
     "z = t_quantile(1 - alpha / 4, samples - 1)", "z = t_quantile(1 - alpha / 2, samples - 1)",
     "verify-stats", "the t quantile for one test, not two"),
    ("verify-bias", "ntkc/verification.py",
     "bias = BIAS_PER_LAYER * max(_depths(fnet)[fnet.layers[-1].path], 1) / width",
     "bias = BIAS_PER_LAYER * max(_depths(fnet)[fnet.layers[-1].path], 1) / width ** 0.5",
     "verify-stats", "bias allowance 1/√width"),
    ("verify-depth", "ntkc/verification.py",
     "count += rule.mc_bias_for(args) * int(wide)", "count += rule.mc_bias_for(args)",
     "verify-stats",
     "the first weight layer (reading the data) counted as hidden"),
    ("verify-weight", "ntkc/verification.py",
     "diff = float(np.linalg.norm(((draws.mean(0) - target) * w).ravel()))",
     "diff = float(np.linalg.norm((draws.mean(0) - target).ravel()))", "verify-stats",
     "padded entries counted in the error"),
    ("verify-finite", "ntkc/verification.py",
     "return bool(math.isfinite(self.error) and self.error <= self.tolerance)",
     "return bool(self.error <= self.tolerance)", "verify-stats",
     "a NaN draw passes (inf <= inf)"),
    ("t-quantile-bisect", "ntkc/verification.py",
     "lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)",
     "lo, hi = (mid, hi) if cdf(mid) > p else (lo, mid)", "verify-stats", "bisection inverted"),
    ("verify-first-bad", "ntkc/verification.py",
     "return next((lc for lc in self.layers if not lc.passed), None)",
     "return next((lc for lc in self.layers if lc.passed), None)", "verify-diagnosis",
     "the first agreeing layer reported as the culprit"),
    # finite networks
    ("finite-rademacher", "ntkc/finite.py",
     "d = rng.choice([-1.0, 1.0], size=(c, k)) / np.sqrt(c)",
     "d = rng.choice([-1.0, 1.0], size=(c, k)) / c", "finite", "NTK directions scaled 1/C, not 1/√C"),
    ("finite-ntk-mean", "ntkc/empirical.py",
     '.reshape(t.shape[:2] + (m, kk, m, kk))) / kk', '.reshape(t.shape[:2] + (m, kk, m, kk)))',
     "finite", "NTK summed over directions, not averaged"),
    ("finite-nngp-mean", "ntkc/empirical.py",
     "nngps.append(jnp.einsum(spec, u, v) / u.shape[-1])",
     "nngps.append(jnp.einsum(spec, u, v) / (u.shape[-1] - 1))", "finite",
     "empirical NNGP divided by C − 1"),
    ("finite-tile", "ntkc/finite.py",
     "self.tile = -(-width // shape.channels)", "self.tile = width // shape.channels",
     "finite-forward", "the narrow input tiled to fewer than width channels"),
    ("finite-swap", "ntkc/empirical.py",
     "return np.swapaxes(t, 3, 4) if t.ndim == 5 else t", "return t", "finite",
     "mirrored chunks keep their position pairs unswapped"),
    # recurrent nets, attention, and the rule contract's zero-Θ shortcut
    ("recurrent-theta-history", "ntkc/rules/recurrent.py",
     "g = g.replace(ntk=g.nngp + w2 * _shift(h.ntk) + theta_in)",
     "g = g.replace(ntk=g.nngp + theta_in)", "recurrent",
     "the NTK forgets the shared weights' earlier steps (Θ^h of t−1 dropped)"),
    ("recurrent-input-theta", "ntkc/rules/recurrent.py",
     "theta_in = None if state.ntk is None else u2 * state.ntk",
     "theta_in = None if state.ntk is None else state.ntk", "recurrent",
     "the input's Θ enters without U_std²"),
    ("recurrent-mean", "ntkc/rules/recurrent.py",
     "out = h.map(lambda a, which: a.mean((-2, -1)))",
     "out = h.map(lambda a, which: jnp.diagonal(a, 0, -2, -1).mean(-1))", "recurrent",
     "the mean readout keeps only equal-time pairs (the untied net's cross terms)"),
    ("attention-value-term", "ntkc/rules/attention.py",
     "ntk = None if theta is None else unflat(ov2 * cross(theta) + 2 * weighted + b2)",
     "ntk = None if theta is None else unflat(ov2 * cross(theta) + weighted + b2)", "attention",
     "only one of the value and output weights adds its gradient term"),
    ("pos-emb-data-not-widened", "ntkc/finite.py",
     "hidden or rule.wide_input_for(node.kwargs) is not None)", "hidden)", "pos-emb-data",
     "the finite net draws positional embeddings of the data's few channels (the kernel is "
     "their many-channel limit: 0.54 relative error at one channel)"),
    ("pos-emb-hidden-flag", "ntkc/check.py",
     "out = replace(out, hidden=shape.hidden or rule.writes_width",
     "out = replace(out, hidden=shape.hidden", "pos-emb-data",
     "no stream counts as a weight layer's: every positional embedding is warned about"),
    ("contract-shortcut-for-all", "ntkc/fusion.py",
     'if how not in ("zero", "nngp"):', 'if how not in ("zero", "nngp", None):', "contract",
     "a rule that states nothing gets the Θ' = Σ' shortcut (wrong for attention)"),
    # the joint node-pair layout of graph Grams (ntkc/graphjoint.py)
    ("joint-input-scale", "ntkc/graphjoint.py",
     "nngp = f1 @ f2.T / c", "nngp = f1 @ f2.T", "graph-joint",
     "the cross input covariance not divided by the feature count (its self part is)"),
    ("joint-self-cov", "ntkc/graphjoint.py",
     'return jnp.einsum("mpf,mqf->mpq", b, b) / c', 'return jnp.einsum("mpf,mqf->mpq", b, b)',
     "graph-joint", "the within-bin input covariances not divided by the feature count"),
    ("joint-agg-column-side", "ntkc/graphjoint.py",
     "z = jnp.matmul(jnp.swapaxes(y, 0, 1), jnp.swapaxes(a, 1, 2))",
     "z = jnp.matmul(jnp.swapaxes(y, 0, 1), a)", "graph-joint",
     "the column side aggregated with Â instead of Âᵀ (the same only for a symmetric Â)"),
    ("joint-agg-within", "ntkc/graphjoint.py",
     'return jnp.einsum("muv,mvw,mxw->mux", a, c, a, optimize="optimal")',
     'return jnp.einsum("muv,mvw,mwx->mux", a, c, a, optimize="optimal")', "graph-joint",
     "a graph's own covariance aggregated as Â Σ Â instead of Â Σ Âᵀ"),
    ("joint-agg-ntk-alias", "ntkc/graphjoint.py",
     "ntk = state.ntk if state.ntk is None else (nngp if state.ntk is state.nngp else "
     "cross(state.ntk))",
     "ntk = state.ntk if state.ntk is None else nngp", "graph-joint",
     "Θ' = Â Σ Âᵀ after aggregation, as if Θ were still Σ"),
    ("joint-pool-mean", "ntkc/graphjoint.py",
     "return m / jnp.maximum(m.sum(2, keepdims=True), 1) if mean else m",
     "return m / jnp.maximum(m.sum(2, keepdims=True) ** 2, 1) if mean else m", "graph-joint",
     "the joint mean readout divided by |g|² per side"),
    ("joint-mirror", "ntkc/graphjoint.py",
     "out[k][np.ix_(ib, ia)] = block.T", "out[k][np.ix_(ia, ib)] = block", "graph-joint",
     "an off-diagonal tile of a symmetric Gram not mirrored below the diagonal"),
    ("joint-sparse-valid", "ntkc/graphjoint.py",
     "w = jnp.take_along_axis(a.reshape(m * p, p), local, axis=1) * tile.valid",
     "w = jnp.take_along_axis(a.reshape(m * p, p), local, axis=1)", "graph-joint",
     "sparse row aggregation reads the padding slots of the neighbour lists"),
    ("joint-label-scale", "ntkc/graphjoint.py",
     "return jnp.where((a == b) & (a >= 0), 1.0 / c, 0.0).astype(t1.adjacency.dtype)",
     "return jnp.where((a == b) & (a >= 0), 1.0, 0.0).astype(t1.adjacency.dtype)", "graph-joint",
     "one-hot features held as labels: Σ⁰ without its 1/F"),
    # the graph input checks (ntkc/graphs.py)
    ("graphs-negative-weight", "ntkc/graphs.py",
     "if (a < 0).any():", "if (a < -1).any():", "graph-inputs",
     "a negative edge weight above -1 accepted"),
    # the Gram store (ntkc/store.py, ntkc/gramjob.py)
    ("store-verify-clears", "ntkc/store.py",
     'self.array_of("done")[i, j] = 0', "pass", "store",
     "a damaged chunk found but its done record kept, so a rerun never recomputes it"),
    ("store-inputs-hash", "ntkc/gramjob.py",
     'if have["inputs_hash"] != want["inputs_hash"]:', 'if have["inputs_hash"] is None:',
     "store", "a store resumed with other inputs of the same shape"),
    # standard parameterization (ntkc/rules/_parameterization.py)
    ("standard-bias", "ntkc/rules/_parameterization.py",
     'extra = 1.0 if args["bias"] else 0.0', 'extra = b2', "standard",
     "a standard layer's bias gradient scaled by b_std² as under the NTK parameterization"),
    ("standard-fan-in", "ntkc/rules/_parameterization.py",
     'return new.replace(ntk=fan_in * linear(state.nngp, "cross")',
     'return new.replace(ntk=linear(state.nngp, "cross")', "standard",
     "a standard layer's weight-gradient term without its fan-in N"),
    # same-position pairs by a strided slice (ntkc/state.py)
    ("pair-diagonal-stride", "ntkc/state.py",
     "return jax.lax.slice_in_dim(flat, 0, p * p, stride=p + 1, axis=-1).reshape(lead + spatial)",
     "return jax.lax.slice_in_dim(flat, 0, p * p, stride=p, axis=-1)[..., :p].reshape("
     "lead + spatial)",
     "pair-diagonal", "the variances read as the first row of pairs, not the diagonal"),
    ("pair-diagonal-masked", "ntkc/state.py",
     "return (a.reshape(lead + (p, p)) * eye).sum(-1).reshape(lead + spatial)",
     "return a.reshape(lead + (p, p)).sum(-1).reshape(lead + spatial)",
     "pair-diagonal", "few positions' variances summed over a row instead of read off the diagonal"),
    # the empirical NTK (ntkc/tangent.py)
    ("empirical-mean-trace", "ntkc/tangent.py",
     'return t / ja[0].shape[1] if outputs == "mean" else t', "return t", "empirical",
     "the output-averaged empirical NTK summed over outputs instead"),
    ("empirical-mirror", "ntkc/tangent.py",
     "out[s2:s2 + h2, s1:s1 + h1] = np.swapaxes(t, 0, 1) if t.ndim < 4 \\",
     "out[s2:s2 + h2, s1:s1 + h1] = t if t.ndim < 4 \\", "empirical",
     "a block below the diagonal of a symmetric empirical NTK written untransposed"),
    # the quadrature's run-time accuracy check (ntkc/rules/elementwise.py)
    ("quadrature-check-tolerance", "ntkc/rules/elementwise.py",
     "if error <= TOLERANCE and not beyond:", "if error <= 1e3 * TOLERANCE and not beyond:",
     "quadrature-check", "the quadrature's error estimate held to a tolerance 1000× too loose"),
]

# Mutants that change no value any test could read. Run with --equivalent.
EQUIVALENT = [
    ("elementwise-parity-sign", "ntkc/rules/elementwise.py",
     '"tanh": (jnp.tanh, -1, 20)', '"tanh": (jnp.tanh, 1, 20)', "activations-pair",
     "the quadrature reads only whether φ has a parity, not its sign: φ(−u)φ(−v) = φ(u)φ(v) "
     "for odd and even φ alike (and φ' likewise), so odd declared even halves the same range"),
    ("graph-agg-padded-self-loop", "ntkc/rules/graph.py",
     "a = a + mask[:, :, None] * jnp.eye(a.shape[-1], dtype=a.dtype)",
     "a = a + jnp.eye(a.shape[-1], dtype=a.dtype)", "graph",
     "a padded node with a self loop only ever aggregates itself: it has no edges, so no real "
     "node reads it, and the pools weight it 0"),
    ("kernel-padded-features", "ntkc/graphs.py",
     "return jnp.asarray(f, dtype) * m[:, :, None], jnp.asarray(a, dtype), m",
     "return jnp.asarray(f, dtype), jnp.asarray(a, dtype), m",
     "graph",
     "features at a padded node reach only that node (no edges, no self loop, weight 0 in the "
     "pools), so leaving them unzeroed changes no real entry"),
    ("blocks-cut-ones", "ntkc/blocking.py",
     "part = np.concatenate([part, np.zeros((pad,) + part.shape[1:], part.dtype)])",
     "part = np.concatenate([part, np.ones((pad,) + part.shape[1:], part.dtype)])", "blocking",
     "the padding examples of the last block are cut away before assembly; their values "
     "never reach the Gram"),
]


# -- running ----------------------------------------------------------------------------------
def tracked_files(root: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root, check=True,
                         capture_output=True, text=True).stdout.split("\n")
    return [f for f in out if f and (root / f).is_file()]


def make_copy(root: Path) -> Path:
    dest = Path(tempfile.mkdtemp(prefix="ntkc-mutation-"))
    for f in tracked_files(root):
        target = dest / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f, target)
    return dest


def pytest_cmd(copy: Path, selection: list[str] | None, python: str) -> list[str]:
    args = selection if selection is not None else []
    return [python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args]


def run_tests(copy: Path, selection, python, timeout):
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    start = time.perf_counter()
    try:
        proc = subprocess.run(pytest_cmd(copy, selection, python), cwd=copy, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start, ""
    out = proc.stdout + proc.stderr
    lines = out.strip().splitlines()
    failed = next((line for line in lines if line.startswith(("FAILED", "ERROR"))), "")
    status = {0: "passed", 5: "no tests"}.get(proc.returncode, "failed")
    return status, time.perf_counter() - start, failed or (lines[-1] if lines else "")


def apply(copy: Path, path: str, old: str, new: str) -> str | None:
    """Write the mutant into the copy; returns the original text, or None if stale."""
    file = copy / path
    text = file.read_text()
    if text.count(old) != 1:
        return None
    file.write_text(text.replace(old, new, 1))
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="mutant ids to run")
    ap.add_argument("--full", action="store_true", help="run the whole default suite per mutant")
    ap.add_argument("--equivalent", action="store_true", help="run the equivalent mutants instead")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per test run")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mutation.json"))
    args = ap.parse_args(argv)

    pool = EQUIVALENT if args.equivalent else MUTANTS
    if args.list:
        for m in MUTANTS:
            print(f"{m[0]:28s} {m[1]:28s} {m[4]:18s} {m[5]}")
        for m in EQUIVALENT:
            print(f"{m[0]:28s} {m[1]:28s} equivalent: {m[5]}")
        return 0
    chosen = [m for m in pool if not args.only or m[0] in args.only]
    unknown = set(args.only or ()) - {m[0] for m in pool}
    if unknown:
        ap.error(f"unknown mutant ids: {', '.join(sorted(unknown))}")

    copy = make_copy(ROOT)
    print(f"copy of the working tree: {copy}", flush=True)
    try:
        probe = subprocess.run([args.python, "-c", "import ntkc; print(ntkc.__file__)"], cwd=copy,
                               env=dict(os.environ, PYTHONPATH=str(copy)), capture_output=True,
                               text=True, check=True).stdout.strip()
        if not probe.startswith(str(copy)):
            raise SystemExit(f"the copy does not import its own ntkc ({probe}); refusing to run")
        # every selection must pass on the unmutated copy, or a kill means nothing
        baseline = {}
        for key in sorted({None if args.full else m[4] for m in chosen}, key=str):
            status, secs, detail = run_tests(copy, None if key is None else SELECTIONS[key],
                                             args.python, args.timeout)
            baseline[key or "full"] = {"status": status, "seconds": round(secs, 1)}
            print(f"baseline {key or 'full':18s} {status:8s} {secs:6.1f} s", flush=True)
            if status != "passed":
                raise SystemExit(f"baseline {key or 'full'} does not pass: {detail}")
        results = []
        for mid, path, old, new, key, what in chosen:
            original = apply(copy, path, old, new)
            if original is None:
                results.append({"id": mid, "file": path, "tests": key, "status": "stale",
                                "what": what, "seconds": 0.0, "detail": "the old text no longer "
                                "occurs exactly once"})
                print(f"{mid:28s} STALE", flush=True)
                continue
            try:
                status, secs, detail = run_tests(copy, None if args.full else SELECTIONS[key],
                                                 args.python, args.timeout)
            finally:
                (copy / path).write_text(original)
            verdict = "survived" if status == "passed" else "killed"
            results.append({"id": mid, "file": path, "tests": "full" if args.full else key,
                            "status": verdict, "run": status, "what": what,
                            "seconds": round(secs, 1), "detail": detail})
            print(f"{mid:28s} {verdict:9s} {secs:6.1f} s  {detail[:90]}", flush=True)
    finally:
        shutil.rmtree(copy, ignore_errors=True)

    scored = [r for r in results if r["status"] in ("killed", "survived")]
    killed = sum(r["status"] == "killed" for r in scored)
    summary = {
        "command": "python benchmarks/mutation.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "equivalent_run": args.equivalent,
        "mutants": len(results), "killed": killed,
        "survived": [r["id"] for r in scored if r["status"] == "survived"],
        "stale": [r["id"] for r in results if r["status"] == "stale"],
        "score": round(killed / len(scored), 4) if scored else None,
        "equivalent_excluded": [m[0] for m in EQUIVALENT],
        "seconds": round(sum(r["seconds"] for r in results) + sum(b["seconds"] for b in baseline.values()), 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "baseline": baseline, "results": results,
    }
    print()
    print("| mutant | file | tests | verdict | s |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['id']} | {r['file']} | {r['tests']} | {r['status']} | {r['seconds']} |")
    if scored:
        print(f"\nscore: {killed}/{len(scored)} killed ({100 * killed / len(scored):.1f} %), "
              f"survivors: {', '.join(summary['survived']) or 'none'}")
    if args.out and not args.only:
        out = Path(args.out)
        if args.equivalent:
            out = out.with_name(out.stem + "_equivalent.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {out}")
    return 0 if not summary["survived"] or args.equivalent else 1


if __name__ == "__main__":
    sys.exit(main())
