"""Monte Carlo verification: does the compiled kernel match finite networks?

:func:`verify` draws ``samples`` finite-width networks of the same checked net
(:mod:`ntkc.finite`), estimates their NNGP and NTK on the given inputs, and
tests the compiled Σ and Θ against the estimates. When the test fails it
repeats the comparison after every layer (the covariance of the finite
layer outputs against the recursion's Σ and Θ at that layer) and names the
first layer, with its source line, where the two part.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from .fusion import input_state, layouts, run_steps, run_zero_ntk_prefix
from .errors import NtkError
from .empirical import Probe, empirical_draws
from .finite import FiniteNet, finite_net
from .graphs import Graphs
from .kernel import Kernel
from .state import PaddedGraphs

#: Bias allowance per hidden weight layer, in units of 1/width: the measured
#: finite-width bias |E K̂ − K|/‖K‖ was at most 0.36·L/width (4096 draws at
#: widths 8–32, docs/verification.md); 1.0 leaves a margin of about 3.
BIAS_PER_LAYER = 1.0

#: Defaults of :func:`verify` and ``ntkc verify``: noise falls like
#: 1/√(width·samples) while the cost grows like width²·samples, so a moderate
#: width with more draws buys the most precision per second (docs/verification.md).
DEFAULT_WIDTH = 256
DEFAULT_SAMPLES = 32


@dataclass(frozen=True)
class Check:
    """One kernel's comparison: ``error`` = ‖K̄ − K‖_F / ‖K‖_F, ``se`` its
    standard error from the spread over draws, ``tolerance`` = z·se + bias."""
    kernel: str
    error: float
    se: float
    bias: float
    z: float

    @property
    def tolerance(self) -> float:
        return self.z * self.se + self.bias

    @property
    def passed(self) -> bool:
        # a non-finite draw gives error = SE = inf, and inf <= inf must not pass
        return bool(math.isfinite(self.error) and self.error <= self.tolerance)


@dataclass(frozen=True)
class LayerCheck:
    """The comparison after one layer (``path`` as in :class:`ntkc.finite.Layer`)."""
    path: tuple
    layer: str
    line: int
    args: str
    nngp: Check
    ntk: Check

    @property
    def passed(self) -> bool:
        return self.nngp.passed and self.ntk.passed

    @property
    def name(self) -> str:
        return f"{self.layer}({self.args})" if self.args else self.layer


@dataclass(frozen=True)
class Report:
    """The outcome of :func:`verify`; ``str(report)`` is a readable table."""
    net: str
    filename: str
    width: int
    samples: int
    seed: int
    n1: int
    n2: int
    alpha: float
    nngp: Check
    ntk: Check
    seconds: dict
    layers: tuple = ()
    diagnosed: bool = False

    @property
    def passed(self) -> bool:
        return self.nngp.passed and self.ntk.passed

    @property
    def first_bad(self) -> LayerCheck | None:
        """The first layer (in execution order) whose kernels disagree."""
        return next((lc for lc in self.layers if not lc.passed), None)

    def __str__(self) -> str:
        head = (f"verify {self.filename} net {self.net}: {self.n1}x{self.n2} inputs, width "
                f"{self.width}, {self.samples} draws, seed {self.seed}")
        rows = [("kernel", "rel. error", "std. err.", "tolerance", "verdict")]
        for c in (self.nngp, self.ntk):
            rows.append((c.kernel, f"{c.error:.4f}", f"{c.se:.4f}", f"{c.tolerance:.4f}",
                         "agree" if c.passed else "DISAGREE"))
        lines = [head, _table(rows)]
        secs = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        lines.append(f"time: {secs}")
        lines.append(f"test: error <= z*SE + bias, z = {self.nngp.z:.2f} "
                     f"(false alarm <= {self.alpha:g} per verdict)")
        if self.diagnosed:
            lines.append("")
            lines.append("layer by layer (finite layer outputs vs the recursion's Σ and Θ):")
            rows = [("#", "layer", "line", "Σ error", "Σ tol.", "Θ error", "Θ tol.", "")]
            for lc in self.layers:
                mark = "" if lc.passed else "<-- disagrees"
                rows.append((_path(lc.path), lc.name, str(lc.line),
                             f"{lc.nngp.error:.4f}", f"{lc.nngp.tolerance:.4f}",
                             f"{lc.ntk.error:.4f}", f"{lc.ntk.tolerance:.4f}", mark))
            lines.append(_table(rows))
            bad = self.first_bad
            if bad is None:
                lines.append("no single layer disagrees; the output does (accumulated error "
                             "or a false alarm: rerun with another seed or more samples)")
            else:
                lines.append(f"first disagreement: {bad.name} at {self.filename}:{bad.line}")
        return "\n".join(lines)


def _path(path) -> str:
    """(3,) -> "4"; (3, 0, 1) -> "4[1].2": layer 2 of body 1 of layer 4."""
    text = str(path[0] + 1)
    for body, layer in zip(path[1::2], path[2::2]):
        text += f"[{body + 1}].{layer + 1}"
    return text


def _table(rows) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


# -- statistics -----------------------------------------------------------------------
def t_quantile(p: float, dof: int) -> float:
    """The p-quantile of Student's t with ``dof`` degrees of freedom (p > 1/2),
    by bisection on the CDF (Simpson's rule on the density)."""
    c = math.exp(math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2)) / math.sqrt(dof * math.pi)

    def cdf(t):
        n = 2000
        h = t / n
        s = 0.0
        for i in range(n + 1):
            w = 1 if i in (0, n) else (4 if i % 2 else 2)
            s += w * (1 + (i * h) ** 2 / dof) ** (-(dof + 1) / 2)
        return 0.5 + c * s * h / 3

    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        lo, hi = hi, 2 * hi
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def compare(name: str, draws, target, z: float, bias: float, weight=None) -> Check:
    """Test per-draw estimates ``draws (S, ...)`` against ``target (...)``.

    error = ‖K̄ − K‖/‖K‖ with K̄ the mean over draws; se = √(Σ var_s K̂ / S)/‖K‖,
    the root-mean-square error the draw-to-draw spread alone would give.
    ``weight`` (0/1, broadcastable) drops entries such as padded graph nodes.
    """
    draws = np.asarray(draws, np.float64)
    target = np.asarray(target, np.float64)
    w = 1.0 if weight is None else np.asarray(weight, np.float64)
    s = draws.shape[0]
    if not np.all(np.isfinite(draws)):
        return Check(name, math.inf, math.inf, bias, z)
    norm = float(np.linalg.norm((target * w).ravel()))
    diff = float(np.linalg.norm(((draws.mean(0) - target) * w).ravel()))
    spread = float(np.sqrt((draws.var(0, ddof=1) * w ** 2).sum() / s))
    if norm == 0.0:  # a kernel that is exactly zero: compare absolutely
        return Check(name, diff, spread, bias, z)
    return Check(name, diff / norm, spread / norm, bias, z)


# -- inputs -----------------------------------------------------------------------------
def random_inputs(net, n: int = 6, seed: int = 0):
    """``n`` random inputs of the kind ``net`` (a CheckedNet or Kernel) declares:
    standard normal arrays, or random graphs of 3–8 nodes (edge probability
    0.4, normal node features) as an :class:`~ntkc.Graphs`."""
    net = getattr(net, "net", net)
    shape = net.input
    rng = np.random.default_rng(seed)
    if shape.kind != "graph":
        return rng.standard_normal((n,) + tuple(shape.spatial) + (shape.channels,))
    graphs = []
    for _ in range(n):
        v = int(rng.integers(3, 9))
        upper = np.triu(rng.random((v, v)) < 0.4, 1)
        graphs.append((rng.standard_normal((v, shape.channels)), (upper | upper.T).astype(float)))
    return Graphs(graphs)


# -- the verdict ----------------------------------------------------------------------
def verify(kernel: Kernel, x1, x2=None, width: int = DEFAULT_WIDTH,
           samples: int = DEFAULT_SAMPLES, seed: int = 0,
           alpha: float = 1e-3, out_width: int | None = None, ntk_outputs: int = 1,
           diagnose: bool = True, dtype=jnp.float32, memory: float = 2**30) -> Report:
    """Compare ``kernel``'s NNGP Σ and NTK Θ on (x1, x2) with Monte Carlo.

    ``samples`` finite networks of ``width`` channels per hidden weight layer
    (``out_width`` output channels, default ``width``) are drawn from ``seed``
    (the same seed gives the same report). Each draw s gives K̂_s: the NNGP
    estimate averages f(x)f(x')ᵀ over output channels, the NTK estimate is
    ⟨∂f/∂θ(x), ∂f/∂θ(x')⟩ summed over all parameters (:mod:`ntkc.finite`).

    **The test.** With K̄ the mean of the K̂_s, error = ‖K̄ − K‖_F/‖K‖_F and
    SE = √(Σ_entries var_s(K̂_s)/S)/‖K‖_F, the error the draw-to-draw spread
    alone would produce. A kernel passes if error ≤ z·SE + b with

    * z = the (1 − α/4) quantile of Student's t with S − 1 degrees of freedom.
      If the fluctuation of K̄ is Gaussian and lies along one direction,
      error/SE is exactly |t_{S−1}|-distributed; fluctuations spread over
      more directions make ‖K̄ − K‖² a weighted sum of χ² terms, whose tail
      beyond z² ≥ 1.54 is never heavier than one term's (Székely & Bakirov
      2003). So each of the two tests (Σ and Θ) falsely fails with
      probability ≤ α/2, and the verdict with probability ≤ α (default 1e-3).
    * b = ``BIAS_PER_LAYER`` · L / width, an allowance for the finite-width
      bias E K̂ − K = O(1/width), which does not average away over draws
      (L = weight layers that read a width-channel input, at least 1, each
      weighted by its rule's ``mc_bias``; a recurrent cell once per step). The
      constant is measured on the golden architectures
      (docs/verification.md); it is small next to z·SE at the widths used,
      so real errors of a few percent still fail.

    Returns a :class:`Report`; when it fails and ``diagnose`` is set, the
    report also holds the layer-by-layer comparison (:func:`diagnose_layers`).
    """
    if not isinstance(kernel, Kernel):
        raise NtkError(f"verify needs an ntkc.Kernel, not {type(kernel).__name__}")
    for name, v, low in (("width", width, 1), ("samples", samples, 2)):
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise NtkError(f"{name} must be a whole number >= {low}, not {v!r}")
    if not 0 < alpha < 1:
        raise NtkError(f"alpha must be between 0 and 1, not {alpha!r}")
    t0 = time.perf_counter()
    (f1, g1), (f2, g2), x1, x2 = _inputs(kernel, x1, x2)
    nngp, ntk = kernel(x1, x2, get=("nngp", "ntk"))
    t1 = time.perf_counter()

    fnet = finite_net(kernel.net, width, out_width, dtype)
    same = x2 is None
    ctx1 = _ctx(g1, fnet)
    ctx2 = None if same else _ctx(g2, fnet)
    a1 = jnp.asarray(f1, fnet.dtype)
    a2 = None if same else jnp.asarray(f2, fnet.dtype)
    ((nn, nt),) = empirical_draws(fnet, a1, ctx1, a2, ctx2, samples, seed, (Probe(),),
                                  ntk_outputs, memory)
    z = t_quantile(1 - alpha / 4, samples - 1)
    bias = BIAS_PER_LAYER * max(_depths(fnet)[fnet.layers[-1].path], 1) / width
    c_nngp = compare("nngp", nn[..., 0], nngp, z, bias)
    c_ntk = compare("ntk", nt[..., 0], ntk, z, bias)
    t2 = time.perf_counter()
    seconds = {"kernel": t1 - t0, "monte carlo": t2 - t1}
    layers, diagnosed = (), False
    if diagnose and not (c_nngp.passed and c_ntk.passed):
        layers = diagnose_layers(kernel, fnet, (f1, g1), None if same else (f2, g2), samples,
                                 seed, z, ntk_outputs, memory)
        diagnosed = True
        seconds["diagnosis"] = time.perf_counter() - t2
    n1 = int(f1.shape[0])
    return Report(kernel.net.name, kernel.filename, width, samples, seed, n1,
                  n1 if same else int(f2.shape[0]), alpha, c_nngp, c_ntk, seconds, layers,
                  diagnosed)


def _inputs(kernel, x1, x2):
    """Validated (features, graphs) for both sides, and the inputs to give the
    kernel: graph inputs become :class:`~ntkc.Graphs`, whose padded views
    (to one node count, as the finite net's diagonal probes need) the finite
    net and the layer-by-layer recursion read."""
    if kernel.net.input.kind == "graph":
        from .kernel import _padded_arrays
        g1, g2 = kernel._graph_pair(x1, x2)
        v = int(max(g.sizes.max() for g in (g1, g2) if g is not None))
        a = _padded_arrays(g1, v)
        return a, a if g2 is None else _padded_arrays(g2, v), g1, g2
    a = kernel._prepare(x1, "x1")
    b = a if x2 is None else kernel._prepare(x2, "x2", like=a)
    return a, b, x1, x2


def _ctx(graphs, fnet):
    if graphs is None:
        return {}
    adjacency, mask = graphs
    return {"adjacency": jnp.asarray(adjacency, fnet.dtype), "mask": jnp.asarray(mask, fnet.dtype)}


# -- layer by layer -------------------------------------------------------------------
def layer_states(net, a, b) -> dict:
    """The recursion's state after every layer, ``{path: State}``: the
    compiler's own layouts and steps (:mod:`ntkc.fusion`), run eagerly with an
    observer that records every layer's state, bodies included."""
    (x1, g1), (x2, g2) = a, (None, None) if b is None else b
    g1 = None if g1 is None else PaddedGraphs(*g1)
    g2 = None if g2 is None else PaddedGraphs(*g2)
    steps = layouts(net.layers)
    out = {}

    def record(path, step, state):
        out[path] = state

    state = input_state(x1, x2, g1, g2, net.input.nspatial, steps[0].in_diag, False)
    # As fuse does: the layers before Θ becomes nonzero run without it.
    state, start = run_zero_ntk_prefix(steps, state, record)
    run_steps(steps[start:], state, record, start=start)
    return out


def diagnose_layers(kernel, fnet: FiniteNet, a, b, samples: int, seed: int, z: float,
                    ntk_outputs: int = 1,
                    memory: float = 2**30, positions: int = 4) -> tuple:
    """Compare every layer's finite outputs with the recursion's state there.

    For a layer output h (N, *S, C) the NNGP estimate is (1/C)Σ_c h_p h'_q over
    every position pair the state keeps (all pairs, or same positions when the
    compiler's demand analysis kept only those); the NTK estimate is taken at
    up to ``positions`` spread-out positions (graph nodes: the first ones).
    Padded graph nodes are left out of both. The same test as :func:`verify`,
    with the bias allowance counting the hidden weight layers up to that layer.
    Returns a tuple of :class:`LayerCheck` in execution order.
    """
    states = layer_states(kernel.net, a, b)
    same = b is None
    layers = list(fnet.walk())
    probes = []
    for lay in layers:
        st = states[lay.path]
        size = int(np.prod(_spatial(st)))
        at = tuple(int(i) for i in np.unique(np.linspace(0, size - 1, min(positions, size)).round()))
        if kernel.net.input.kind == "graph" and st.nspatial:
            at = tuple(range(min(positions, size)))
        probes.append(Probe(lay.path, bool(st.diag or st.nspatial == 0), at))
    (x1, g1) = a
    ctx1 = _ctx(g1, fnet)
    a2 = None if same else jnp.asarray(b[0], fnet.dtype)
    ctx2 = None if same else _ctx(b[1], fnet)
    draws = empirical_draws(fnet, jnp.asarray(x1, fnet.dtype), ctx1, a2, ctx2, samples, seed,
                            tuple(probes), ntk_outputs, memory)
    m1 = None if g1 is None else np.asarray(g1[1])
    m2 = None if g1 is None else (m1 if same else np.asarray(b[1][1]))
    depth = _depths(fnet)
    width = fnet.width
    checks = []
    for lay, probe, (nn, nt) in zip(layers, probes, draws):
        st = states[lay.path]
        n1, n2 = st.nngp.shape[:2]
        size = int(np.prod(_spatial(st)))
        tn = np.asarray(st.nngp).reshape((n1, n2) + ((size,) if probe.diag else (size, size)))
        tt = np.asarray(st.ntk).reshape(tn.shape)
        idx = np.asarray(probe.ntk_at)
        tt = tt[:, :, idx] if probe.diag else tt[:, :, idx][:, :, :, idx]
        wn = wt = None
        if m1 is not None and st.nspatial:
            wn = m1[:, None, :, None] * m2[None, :, None, :]
            wt = wn[:, :, idx][:, :, :, idx]
        bias = BIAS_PER_LAYER * max(depth[lay.path], 1) / width
        checks.append(LayerCheck(lay.path, lay.node.layer, lay.line, lay.node.describe_args(),
                                 compare("nngp", nn.reshape((samples,) + tn.shape), tn, z, bias, wn),
                                 compare("ntk", nt.reshape((samples,) + tt.shape), tt, z, bias, wt)))
    return tuple(checks)


def _spatial(state):
    """The spatial sizes of a state's positions (its last nspatial axes)."""
    d = state.nspatial
    return state.nngp.shape[state.nngp.ndim - d:] if d else ()


def _depths(fnet: FiniteNet) -> dict:
    """The bias allowance, in units of 1/width, up to and including each layer
    on the longest path: each weight layer that reads a hidden stream adds its
    rule's ``mc_bias`` (1 for Dense and Conv), a block's own weights add theirs,
    and a block whose body runs several times in sequence (a recurrent cell's
    T steps) counts the body and its own weights once per pass."""
    out = {}

    def go(layers, count, wide):
        for lay in layers:
            rule, args = lay.node.rule, lay.node.kwargs
            if lay.bodies:
                passes = rule.body.passes(lay.node)
                own = rule.mc_bias_for(args) if rule.has_params else 0.0
                start = count
                ends = [go(body, count + own * int(wide or passes > 1), wide or rule.has_params)
                        for body in lay.bodies]
                count = start + passes * (max(c for c, _ in ends) - start)
                wide = wide or rule.has_params or any(w for _, w in ends)
            elif rule.writes_width:
                count += rule.mc_bias_for(args) * int(wide)
                wide = True
            out[lay.path] = count
        return count, wide

    go(fnet.layers, 0, False)
    return out
