"""Evaluating a kernel recursion on data: the equations of an
:class:`ntkc.explain.Explanation` lambdified layer by layer (numpy, float64),
with an independent Gauss–Legendre integration for activations without a
closed form. The tests hold the result against the compiled kernel."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .explain import QUADRATURE_POINTS, G, X, Explanation
from .symbolic import SIGMA, THETA, Entry, GaussianExpectation, Inner, matrix_key, text


def _clip(f):
    return lambda t: f(np.clip(t, -1.0, 1.0))


# Domain guards for rounding only: a cosine of 1 + 1e-16 or a variance of −1e-18.
_SAFE = {"acos": _clip(np.arccos), "arccos": _clip(np.arccos), "asin": _clip(np.arcsin),
         "arcsin": _clip(np.arcsin), "sqrt": lambda t: np.sqrt(np.maximum(t, 0.0))}


# Where an input has zero variance (a zero row through layers without bias) a
# cosine Σ(x, x')/√(Σ(x, x)Σ(x', x')) is 0/0. The compiled rules take cos = 0
# there (``rules/_activation.cosine``); evaluating the closed forms with such a
# variance raised to TINY gives the same limit (cos = 0, and every term that
# carries the variance ≈ 0) instead of NaN, for every activation continuous
# at 0. (A step, RectifiedMonomial(degree=0), differs on such an input's own
# diagonal: the compiled rule follows the finite net's H(0) = 1/2, giving 1/4,
# the equations the vanishing-variance limit 1/2.)
TINY = 1e-100


def _floor_variances(arr):
    """A copy of a pair array (count, *pos, count, *pos) or (nodes, nodes)
    whose diagonal entries below TINY are TINY."""
    half = arr.ndim // 2
    n = int(np.prod(arr.shape[:half]))
    out = np.array(arr, dtype=np.float64).reshape(n, n)
    d = np.einsum("ii->i", out)
    d[d < TINY] = TINY
    return out.reshape(arr.shape)


class Evaluator:
    """Runs the equations on data. Every pair of examples (x1 and x2 stacked)
    and every pair of positions is kept; a graph batch becomes one graph, the
    disjoint union of its graphs, so Â Σ Â'ᵀ is a plain matrix product."""

    def __init__(self, expl: Explanation, x1, x2):
        self.expl = expl
        net = expl.net
        self.graph = net.input.kind == "graph"
        if self.graph:
            self._graph_inputs(x1, x2)
        else:
            a = np.asarray(x1, dtype=np.float64)
            b = None if x2 is None else np.asarray(x2, dtype=np.float64)
            self.n1 = len(a)
            self.n2 = None if b is None else len(b)
            x = a if b is None else np.concatenate([a, b])
            d = x.ndim - 2
            pos = "abcd"[:d]
            qos = "efgh"[:d]
            self.gram = np.einsum(f"i{pos}z,j{qos}z->i{pos}j{qos}", x, x)
            self.count = len(x)
        self.values = {}

    def _graph_inputs(self, x1, x2):
        from .graphs import as_graphs
        c = self.expl.net.input.channels
        sides = [as_graphs(x, name, c) for x, name in ((x1, "x1"), (x2, "x2")) if x is not None]
        feats = [np.asarray(f, np.float64) for g in sides for f in g.features]
        blocks = [np.asarray(a, np.float64) for g in sides for a in g.adjacency]
        sizes = [len(f) for f in feats]
        self.n1 = len(sides[0])
        self.n2 = None if x2 is None else len(sides[1])
        total = sum(sizes)
        self.adjacency = np.zeros((total, total))
        self.member = np.zeros((len(sizes), total))
        start = 0
        for g, (n, blk) in enumerate(zip(sizes, blocks)):
            self.adjacency[start:start + n, start:start + n] = blk
            self.member[g, start:start + n] = 1
            start += n
        z = np.concatenate(feats)
        self.gram = z @ z.T
        self.nodes = total
        self.count = len(sizes)

    def run(self, get):
        for step in self.expl.steps[:-1]:
            for eq in step.equations:
                if step.kind == "matrix":
                    value = self._matrix(eq, step)
                else:
                    value = self._entries(eq, step)
                if value is not None:
                    self.values[_key(eq.lhs)] = value
        names = (get,) if isinstance(get, str) else tuple(get)
        out = []
        for g in names:
            k = self.values[(SIGMA if g == "nngp" else THETA, self.expl.output)]
            n1 = self.n1
            out.append(k[:n1, :n1] if self.n2 is None else k[:n1, n1:])
        return out[0] if isinstance(get, str) else tuple(out)

    # entries: lambdify over broadcast index grids
    def _grids(self, lhs: Entry, shape):
        P, Q = lhs.positions
        if self.graph and shape.kind == "graph":
            n = self.nodes
            return {P[0]: np.arange(n)[:, None], Q[0]: np.arange(n)[None, :]}, (n, n)
        sizes = tuple(shape.spatial)
        d = len(sizes)
        full = (self.count, *sizes, self.count, *sizes)
        axes = [sp.Symbol("i", integer=True), *P, sp.Symbol("j", integer=True), *Q]
        grids = {}
        for ax, sym in enumerate(axes):
            shp = [1] * len(full)
            shp[ax] = full[ax]
            grids[sym] = np.arange(full[ax]).reshape(shp)
        return grids, full

    def _entries(self, eq, step):
        lhs = eq.lhs
        if lhs.layer < 0:
            return None
        grids, full = self._grids(lhs, step.shape)
        i, j = sp.Symbol("i", integer=True), sp.Symbol("j", integer=True)
        arrays, swap = {}, {}
        node_level = self.graph and step.shape.kind == "graph"

        def side(s):
            return i if s in (X, G) else j

        for e in eq.rhs.atoms(Entry, Inner):
            if isinstance(e, Inner):
                base, arr, shift = "gram", _floor_variances(self.gram), 0
                a, b = e.args[:2]
                idx = e.args[2:]
            else:
                base = f"A{e.kind}_{e.layer}"
                arr = self.values[(e.kind, e.layer)]
                if e.kind == SIGMA:
                    arr = _floor_variances(arr)
                a, b = e.pair
                idx = e.args[4:]
            pads = step.pad.get(getattr(e, "layer", None)) if isinstance(e, Entry) else None
            half = len(idx) // 2
            P, Q = list(idx[:half]), list(idx[half:])
            if pads:
                arr = _zero_pad(arr, pads)
                P = [p + lo for p, (lo, _) in zip(P, pads)]
                Q = [q + lo for q, (lo, _) in zip(Q, pads)]
            if node_level:
                index = (P[0], Q[0])
            else:
                index = (side(a), *P, side(b), *Q)
            key = base + ("_pad" if pads else "")
            arrays[key] = arr
            swap[e] = sp.IndexedBase(key)[index]
        rhs = eq.rhs.xreplace(swap)
        rhs, quad = _quadrature_calls(rhs, self.expl.numeric)
        keys = sorted(arrays)
        syms = [sp.IndexedBase(k) for k in keys] + list(grids)
        f = sp.lambdify(syms, rhs, modules=[quad, _SAFE, "numpy"])
        value = f(*(arrays[k] for k in keys), *grids.values())
        value = np.broadcast_to(np.asarray(value, dtype=np.float64), full).copy()
        if not np.all(np.isfinite(value)):
            raise FloatingPointError(f"{text(lhs)} is not finite")
        return value

    # matrices: graphs as one disjoint union
    def _matrix(self, eq, step):
        lhs = eq.lhs
        if lhs.name == "Ahat":
            base = self.adjacency + (np.eye(self.nodes) if step.form.self_loops else 0)
            degree = base.sum(1)
            bind = {"A": self.adjacency, "I": np.eye(self.nodes),
                    "D": np.diag(np.where(degree > 0, degree, 1.0))}
        else:
            counts = self.member.sum(1, keepdims=True)
            bind = {"one": self.member.T, "one_p": self.member.T,
                    "onebar": (self.member / counts).T, "onebar_p": (self.member / counts).T,
                    # a pool with no GraphAgg before it reads no Â
                    "Ahat": self.values.get("Ahat"), "Ahat_p": self.values.get("Ahat")}
        mats = sorted(eq.rhs.atoms(sp.MatrixSymbol), key=lambda m: m.name)
        args = []
        for m in mats:
            key = matrix_key(m)
            args.append(self.values[key] if key is not None else bind[m.name])
        f = sp.lambdify(mats, eq.rhs, modules="numpy")
        value = np.asarray(f(*args), dtype=np.float64)
        if lhs.name != "Ahat" and not np.all(np.isfinite(value)):
            raise FloatingPointError(f"{text(lhs)} is not finite")
        return value


def _key(lhs):
    if isinstance(lhs, Entry):
        return lhs.kind, lhs.layer
    key = matrix_key(lhs)
    return key if key is not None else lhs.name


def _zero_pad(arr, pads):
    d = len(pads)
    widths = [(0, 0)] + list(pads) + [(0, 0)] + list(pads)
    assert arr.ndim == 2 + 2 * d
    return np.pad(arr, widths)


def _quadrature_calls(expr, numeric):
    """Replace each Gaussian expectation by a call to a numeric function of
    (Σ₁₂, Σ₁₁, Σ₂₂) that integrates it."""
    impls, swap = {}, {}
    for n, e in enumerate(expr.atoms(GaussianExpectation)):
        f, g, u, v, c, v1, v2 = e.args
        name = f"gauss_expectation_{n}"
        impls[name] = _gauss_expectation(numeric[f], numeric[g])
        swap[e] = sp.Function(name)(c, v1, v2)
    return expr.xreplace(swap), impls


def _legendre_pieces(a, b, nodes):
    """Gauss–Legendre nodes and weights on [a, b] (arrays of intervals)."""
    z, w = np.polynomial.legendre.leggauss(nodes)
    half = (b - a)[..., None] / 2
    return (a[..., None] + half * (z + 1)), half * w


def _gauss_expectation(f, g, nodes=QUADRATURE_POINTS, reach=12.0):
    """E[f(u)g(v)] for (u, v) ~ N(0, [[v1, c], [c, v2]]) with u = √v1·z₁ and
    v = √v2·(ρz₁ + √(1−ρ²)z₂), z standard normal: iterated Gauss–Legendre on
    [−12, 12] (the normal mass beyond is 1e-32), each axis split where the
    function's argument changes sign, so kinks and jumps at 0 (relu, abs,
    elu and their derivatives) fall on the ends of the pieces. Independent of
    the compiler's polar quadrature."""
    def pdf(z):
        return np.exp(-z * z / 2) / np.sqrt(2 * np.pi)

    ends = np.array([-reach, 0.0]), np.array([0.0, reach])
    z1, w1 = (a.ravel() for a in _legendre_pieces(*ends, nodes))
    w1 = w1 * pdf(z1)

    def expectation(c, v1, v2):
        c, v1, v2 = np.broadcast_arrays(*(np.asarray(t, np.float64) for t in (c, v1, v2)))
        shape = c.shape
        c, v1, v2 = c.ravel(), v1.ravel(), v2.ravel()
        s1, s2 = np.sqrt(np.maximum(v1, 0)), np.sqrt(np.maximum(v2, 0))
        ok = s1 * s2 > 0
        rho = np.clip(np.where(ok, c / np.where(ok, s1 * s2, 1), 0), -1, 1)[:, None]
        rest = np.sqrt(1 - rho * rho)
        out = np.empty(c.shape)
        step = max(1, 2_000_000 // (len(z1) * 2 * nodes))   # entries per chunk
        for s in range(0, len(c), step):
            r, q = rho[s:s + step], rest[s:s + step]
            # v = 0 at z₂ = −ρz₁/√(1−ρ²): the inner integral is split there
            cut = np.clip(np.where(q > 0, -r * z1 / np.where(q > 0, q, 1), 0), -reach, reach)
            inner = 0.0
            for a, b in ((np.full_like(cut, -reach), cut), (cut, np.full_like(cut, reach))):
                z2, w2 = _legendre_pieces(a, b, nodes)           # (chunk, outer, inner)
                v = s2[s:s + step, None, None] * (r[..., None] * z1[:, None] + q[..., None] * z2)
                inner = inner + np.sum(w2 * pdf(z2) * g(v), -1)
            out[s:s + step] = np.sum(w1 * f(s1[s:s + step, None] * z1) * inner, -1)
        return out.reshape(shape)
    return expectation
