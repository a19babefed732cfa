"""Elementwise quadrature over pre-activation variances 1e-4 … 1e4: every
function is accurate to the stated tolerance or refused, never silently off.

Oracles: closed forms for sin, cos, exp, erf, relu, abs; for the others an
independent Cartesian integration graded towards the kinks
(tests/golden/quadrature/oracle.py, stored by make.py in grid.npz).
"""

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ntkc
from conftest import GOLDEN
from ntkc.rules import elementwise
from ntkc.rules.elementwise import FUNCTIONS, TOLERANCE

GRID = np.load(GOLDEN / "quadrature" / "grid.npz")
C, V1, V2 = GRID["c"], GRID["v1"], GRID["v2"]


def _relu_like(c, v1, v2, a, b):
    n = np.sqrt(v1 * v2)
    cos = np.clip(np.where(n > 0, c / np.where(n > 0, n, 1), 0), -1, 1)
    t = np.arccos(cos)
    dot = (a * a + b * b) / 2 - (a - b) ** 2 * t / (2 * np.pi)
    return (a - b) ** 2 / (2 * np.pi) * np.sqrt(np.maximum(v1 * v2 - c * c, 0)) + dot * c, dot


def closed(name, c, v1, v2):
    """(E φ(u)φ(v), E φ'(u)φ'(v)) in closed form."""
    if name in ("sin", "cos"):
        plus, minus = np.exp(-(v1 + v2 - 2 * c) / 2), np.exp(-(v1 + v2 + 2 * c) / 2)
        s = -1 if name == "sin" else 1
        return (plus + s * minus) / 2, (plus - s * minus) / 2
    if name == "exp":
        e = np.exp((v1 + v2 + 2 * c) / 2)
        return e, e
    if name == "erf":
        p = (1 + 2 * v1) * (1 + 2 * v2)
        return 2 / np.pi * np.arcsin(2 * c / np.sqrt(p)), 4 / np.pi / np.sqrt(p - 4 * c * c)
    return _relu_like(c, v1, v2, 0.0 if name == "relu" else -1.0, 1.0)


def truth(name):
    """(Σ', Σ̇, scale of Σ', scale of Σ̇) on the grid, scales √(E φ(u)² E φ(v)²)."""
    if f"{name}_sigma" in GRID:
        g = lambda k: GRID[f"{name}_{k}"]
        return (g("sigma"), g("dot"), np.sqrt(g("sigma_self1") * g("sigma_self2")),
                np.sqrt(g("dot_self1") * g("dot_self2")))
    with np.errstate(over="ignore", invalid="ignore"):
        s, d = closed(name, C, V1, V2)
        s1, d1 = closed(name, V1, V1, V1)
        s2, d2 = closed(name, V2, V2, V2)
        return s, d, np.sqrt(s1 * s2), np.sqrt(d1 * d2)


def rule(name, deg):
    """The kernel's own (Σ', Σ̇) and its relative error estimate per grid point,
    normalised as the compiled kernel does (by the rule's own self-covariances)."""
    args = {"fn": name, "deg": deg}
    run = jax.jit(lambda c, a, b: elementwise.estimate(c, a, b, args))
    s, d, es, ed = (np.asarray(t) for t in run(*(jnp.asarray(t) for t in (C, V1, V2))))
    self1 = [np.asarray(t) for t in run(*(jnp.asarray(V1),) * 3)[:2]]
    self2 = [np.asarray(t) for t in run(*(jnp.asarray(V2),) * 3)[:2]]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        scale_s, scale_d = np.sqrt(self1[0] * self2[0]), np.sqrt(self1[1] * self2[1])
        est = np.maximum(es / scale_s, ed / scale_d)
        finite = (np.isfinite(s) & np.isfinite(d) & np.isfinite(est) & np.isfinite(scale_s)
                  & np.isfinite(scale_d))
    n = elementwise.degree(args)
    beyond = (np.maximum(V1, V2) > elementwise.trusted(n)) & (name not in elementwise.HOMOGENEOUS)
    return s, d, np.where(finite & ~beyond, est, np.inf)


@pytest.mark.parametrize("deg", [None, 64])
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_accurate_or_refused(name, deg):
    """At every grid point the estimate refuses (> TOLERANCE) or the kernel is
    within TOLERANCE of its scale; and where variances are at most 1 nothing is
    refused, so the check is not vacuous."""
    s, d, est = rule(name, deg)
    want_s, want_d, scale_s, scale_d = truth(name)
    accepted = est <= TOLERANCE
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.maximum(np.abs(s - want_s) / scale_s, np.abs(d - want_d) / scale_d)
    bad = accepted & ~(err <= TOLERANCE)
    assert not bad.any(), list(zip(C[bad], V1[bad], V2[bad], err[bad], est[bad]))[:5]
    small = np.maximum(V1, V2) <= 1
    assert accepted[small].all(), list(zip(C[small & ~accepted], V1[small & ~accepted]))[:5]
    # the estimate is an overestimate, not a coin flip: accepted errors sit well inside it
    assert np.all(err[accepted] <= np.maximum(est[accepted], 1e-7))


def test_default_degrees_accept_the_documented_range():
    """The variances each function's default degree accepts at every correlation
    (docs/activations.md's table): printed by ``-s``, and at least up to the
    table's lower bound for each."""
    # the first refused grid variance, as docs/activations.md states it
    floor = {"tanh": 100, "sigmoid": 100, "gelu_tanh": 100, "relu": np.inf, "abs": np.inf}
    for name in FUNCTIONS:
        _, _, est = rule(name, None)
        vmax = np.maximum(V1, V2)
        refused = vmax[est > TOLERANCE]
        top = refused.min() if refused.size else np.inf
        print(f"{name}: accepted every pair with variances below {top:g}")
        assert top >= floor.get(name, 10)


def _issue(src, x, want=None, get="nngp"):
    """Compile and run: the kernel within 1e-4 of ``want``, or a positioned refusal."""
    kernel = ntkc.compile(src)
    try:
        got = np.asarray(kernel(x, get=get))
    except ntkc.NtkError as e:
        assert e.line == 2 and "Elementwise" in e.message and "not accurate" in e.message
        assert "^" in str(e)
        return e
    if want is not None:
        assert np.max(np.abs(got - want) / np.abs(want)) < 1e-4
    return got


@pytest.mark.parametrize("w", [1.0, 1.5])
@pytest.mark.parametrize("deg", ["", ", deg=200"])
def test_issue_exp(w, deg):
    """exp after Dense on x = [[1], [2], [3], [-2]]: exact exp((Σ₁₁+Σ₂₂+2Σ₁₂)/2) or refused;
    at deg=200 (its radial weights now accurate far out) it is exact."""
    x = np.array([[1.0], [2.0], [3.0], [-2.0]])
    s = w * w * x @ x.T
    want = np.exp((np.diag(s)[:, None] + np.diag(s)[None, :] + 2 * s) / 2)
    out = _issue(f'input vector(dim=1)\nnet n {{ Dense(W_std={w}) Elementwise(fn="exp"{deg}) Dense }}',
                 x, want)
    if deg:
        assert not isinstance(out, ntkc.NtkError)
    else:
        assert isinstance(out, ntkc.NtkError) and "(up to " in out.message


def test_issue_large_variances_are_refused():
    """sin/cos after Dense(W_std=10), erf at variance 400, cos after three sum
    GraphAggs: each was silently off (7%, 1e-2, 31%); now refused at its layer."""
    x = np.random.default_rng(0).standard_normal((4, 3))
    for fn in ("sin", "cos"):
        e = _issue(f'input vector(dim=3)\nnet n {{ Dense(W_std=10) Elementwise(fn="{fn}") Dense }}', x)
        assert isinstance(e, ntkc.NtkError) and (e.line, e.column) == (2, 25) and fn.title() in e.message
    e = _issue('input vector(dim=1)\nnet n { Dense(W_std=20) Elementwise(fn="erf") Dense }',
               np.array([[1.0], [0.5], [-1.0]]), get="ntk")
    assert isinstance(e, ntkc.NtkError) and "up to 400" in e.message
    graph = ntkc.GraphBatch(np.random.default_rng(1).standard_normal((1, 5, 2)),
                            (np.ones((5, 5)) - np.eye(5))[None])
    src = ('input graph(features=2)\nnet n { Dense GraphAgg Dense GraphAgg Dense GraphAgg Dense '
           'Elementwise(fn="cos") GlobalSumPool Dense }')
    e = _issue(src, graph)
    assert isinstance(e, ntkc.NtkError) and "the closed form Cos" in e.message


def test_refusal_inside_a_def_names_the_use():
    src = ('input vector(dim=1)\ndef act() { Elementwise(fn="exp") }\n'
           'net n { Dense(W_std=3) act Dense }')
    with pytest.raises(ntkc.NtkError) as e:
        ntkc.compile(src)(np.array([[1.0], [2.0]]))
    assert (e.value.line, e.value.column) == (2, 13) and "line 3" in e.value.message
