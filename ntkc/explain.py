"""``ntkc explain``: a network's kernel recursion as mathematics (sympy).

For every layer h of a checked network this builds sympy equations for
Σ⁽ʰ⁾(x, x') (the NNGP covariance), Σ̇⁽ʰ⁾ (for activations) and Θ⁽ʰ⁾ (the NTK)
in terms of the previous layer's, with the file's constants, starting from
Σ⁽⁰⁾(x, x') = xᵀx'/D and Θ⁽⁰⁾ = 0:

* pointwise layers (Dense, activations) act on each pair of positions alone,
  an activation through its closed form, or, when it has none, the Gaussian
  expectation E[φ(u)φ(v)] that the compiler integrates by quadrature;
* Conv is W_std² times the mean over a window of offsets k of Σ at the shifted
  position pair (s·p + k, s·q + k), plus b_std²; AvgPool shifts each side by
  its own offset; Flatten and the global pools average or sum over position
  pairs; GraphAgg is the matrix product Â Σ Â'ᵀ; Residual adds the body's
  kernels to its input's.

The equations are what ``ntkc`` computes, not a description of it:
:meth:`Explanation.evaluate` turns them into numpy functions with
``sympy.lambdify`` and evaluates the recursion on data (graphs as one
disjoint union of their nodes, images as full position-pair tensors), which
the tests hold against the compiled kernel. The layer facts come from each
layer's registry entry (its ``symbolic`` field, see ``ntkc/symbolic.py``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .check import CheckedNet, Node
from .errors import NtkError
from .symbolic import (ANGLE, C, DOT, OUT, SIGMA, THETA, V1, V2, T, Affine, Aggregate, Diagonal, Entry,
                       GaussianExpectation, Identity, Inner, PoolAll, Pointwise, Window, Combine,
                       latex, superscript, layer_matrix, matrix, matrix_key, text)

EXPAND_LIMIT = 20_000     # nodes in an expanded expression tree worth printing
QUADRATURE_POINTS = 48    # Gauss–Legendre nodes per piece, for quadrature activations

X, XP = sp.symbols("x x'")
G, GP = sp.symbols("G G'")
NODES, NODES_P = sp.symbols("V V'", integer=True, positive=True)


@dataclass(frozen=True)
class Step:
    """One layer's equations. ``kind`` says how they are evaluated: "entry"
    (one equation per pair of inputs and positions, evaluated over index
    grids) or "matrix" (graph matrices); ``pad`` is the zero padding that a
    windowed layer's input needs, per spatial axis."""
    title: str
    line: int | None
    equations: tuple
    kind: str = "entry"
    notes: tuple = ()
    shape: object = None          # the output Shape
    pad: dict = field(default_factory=dict)   # {input layer: ((lo, hi), ...)}
    form: object = None
    via: tuple = ()               # lines of the def calls the layer came from

    @property
    def where(self) -> str:
        if self.line is None:
            return ""
        calls = "".join(f", from line {v}" for v in reversed(self.via))
        return f" (line {self.line}{calls})"


class Explanation:
    """The kernel recursion of one network.

    ``equations`` is the flat list of ``sympy.Eq``; ``latex()``, ``text()`` and
    ``markdown()`` print it; ``expand()`` substitutes everything down to the
    input inner products (vector inputs only); ``evaluate(x1, x2)`` computes the
    kernels from the equations themselves.
    """

    def __init__(self, net: CheckedNet, steps, output: int, numeric=None):
        self.net = net
        self.steps = tuple(steps)
        self.output = output
        self.numeric = numeric or {}

    @property
    def equations(self) -> list:
        return [eq for s in self.steps for eq in s.equations]

    def __repr__(self):
        return f"<ntkc.Explanation net={self.net.name!r}: {len(self.equations)} equations>"

    def __str__(self):
        return self.text()

    def _repr_markdown_(self):
        return self.markdown()

    # -- printing --------------------------------------------------------------------
    def latex_equations(self) -> list:
        """One LaTeX string per equation, each renderable on its own."""
        return [f"{latex(eq.lhs)} = {latex(eq.rhs)}" for eq in self.equations]

    def latex(self) -> str:
        """An ``align*`` environment, one row per equation, layers as comments."""
        rows = [f"% {self._heading()}", r"\begin{align*}"]
        for s in self.steps:
            rows.append(f"% {s.title}{s.where}")
            for note in s.notes:
                rows.append(f"%   {note}")
            for eq in s.equations:
                rows.append(f"{latex(eq.lhs)} &= {latex(eq.rhs)} \\\\")
        rows[-1] = rows[-1].removesuffix(" \\\\")
        rows.append(r"\end{align*}")
        return "\n".join(rows)

    def text(self) -> str:
        rows = [self._heading()]
        for s in self.steps:
            rows.append("")
            rows.append(f"{s.title}{s.where}")
            for eq in s.equations:
                rows.append(f"  {text(eq.lhs)} = {text(eq.rhs)}")
            for note in s.notes:
                rows.append(f"  where {note}")
        return "\n".join(rows)

    def markdown(self) -> str:
        rows = [f"### {self._heading()}"]
        for s in self.steps:
            rows += ["", f"**{s.title}**{s.where}", ""]
            rows += [f"$$ {latex(eq.lhs)} = {latex(eq.rhs)} $$" for eq in s.equations]
            rows += [f"where {note}" for note in s.notes]
        return "\n".join(rows)

    def _heading(self) -> str:
        return f"net {self.net.name} ({self.net.filename}): kernel recursion"

    # -- expansion -------------------------------------------------------------------
    def expand(self) -> "Explanation":
        """The output Σ and Θ (and nothing else) written in the input inner
        products xᵀx', xᵀx and x'ᵀx' alone. Vector inputs only; the expressions
        grow with depth, so deep nets are refused."""
        if self.net.input.kind != "vector" or any(
                s.kind != "entry" or _has_positions(s) for s in self.steps):
            raise NtkError("--expand needs a net on vector inputs; the recursion of spatial "
                           "and graph inputs runs over position pairs", self.net.filename,
                           *self.net.pos, self.net.source)
        done: dict = {}
        for s in self.steps:
            for eq in s.equations:
                if eq.lhs.layer < 0:
                    continue
                rhs = _substitute(eq.rhs, done)
                size = _tree_size(rhs)
                if size > EXPAND_LIMIT:  # checked layer by layer: the growth is exponential
                    raise NtkError(f"the expanded kernel has more than {EXPAND_LIMIT} terms by "
                                   f"layer {eq.lhs.layer}, too many to print; drop --expand to "
                                   f"see the recursion", self.net.filename, *self.net.pos,
                                   self.net.source)
                done[(eq.lhs.kind, eq.lhs.layer)] = rhs
        eqs = []
        for kind in (SIGMA, THETA):
            rhs = done[(kind, self.output)]
            if _tree_size(rhs) < 200:  # small enough for simplify to be quick
                rhs = sp.simplify(rhs)
            eqs.append(_eq(_output(kind, X, XP), rhs))
        step = Step("the network's kernels in terms of the inputs", None, tuple(eqs))
        return Explanation(self.net, [step], self.output, self.numeric)

    # -- evaluation ------------------------------------------------------------------
    def evaluate(self, x1, x2=None, get=("nngp", "ntk")):
        """The kernels computed from the equations (numpy, float64): the
        recursion lambdified layer by layer. ``x1``/``x2`` as for a Kernel."""
        return _Evaluator(self, x1, x2).run(get)


def explain(net: CheckedNet) -> Explanation:
    """The symbolic kernel recursion of a checked network."""
    return _Builder(net).build()


def _eq(lhs, rhs):
    # unevaluated: deciding whether lhs == rhs costs sympy seconds per layer
    return sp.Eq(lhs, rhs, evaluate=False)


# -- building the equations ------------------------------------------------------------------
def _output(kind, a, b):
    return Entry(kind, -1, a, b)


def _positions(shape):
    """Index symbols (P, Q) of the two sides of a pair at this shape."""
    if shape.kind == "graph":
        return (sp.Symbol("u", integer=True),), (sp.Symbol("v", integer=True),)
    d = shape.nspatial
    if d == 1:
        return (sp.Symbol("p", integer=True),), (sp.Symbol("q", integer=True),)
    return (tuple(sp.Symbol(f"p_{i + 1}", integer=True) for i in range(d)),
            tuple(sp.Symbol(f"q_{i + 1}", integer=True) for i in range(d)))


def _has_positions(step) -> bool:
    return any(len(e.args) > 4 for eq in step.equations for e in eq.atoms(Entry))


class _Builder:
    def __init__(self, net: CheckedNet):
        self.net = net
        self.graph = net.input.kind == "graph"
        self.a, self.b = (G, GP) if self.graph else (X, XP)
        self.steps = []
        self.h = 0
        self.numeric = {}   # φ and φ' of quadrature activations → numpy callables

    def err(self, node: Node, message):
        return NtkError(message, self.net.filename, *node.pos, self.net.source)

    def entry(self, kind, h, shape, a=None, b=None, P=None, Q=None):
        a = self.a if a is None else a
        b = self.b if b is None else b
        if P is None:
            P, Q = _positions(shape)
        return Entry(kind, h, a, b, *P, *Q)

    def build(self) -> Explanation:
        self._input()
        out = self._layers(self.net.layers, 0, "")
        shape = self.net.output
        eqs = (_eq(_output(SIGMA, self.a, self.b), self.entry(SIGMA, out, shape)),
               _eq(_output(THETA, self.a, self.b), self.entry(THETA, out, shape)))
        self.steps.append(Step("output: the NNGP Σ and the NTK Θ", None, eqs, shape=shape))
        return Explanation(self.net, self.steps, out, self.numeric)

    def _input(self):
        shape = self.net.input
        P, Q = _positions(shape) if shape.nspatial else ((), ())
        c = shape.channels
        eqs = (_eq(self.entry(SIGMA, 0, shape), Inner(X, XP, *P, *Q) / c),
               _eq(self.entry(THETA, 0, shape), sp.Integer(0)))
        what = {"vector": f"x, x' are two inputs of dimension {c}",
                "graph": f"x_u is the {c} features of node u of G (x'_v of node v of G')",
                "sequence": f"x_p is the input's {c} channels at position p",
                "image": f"x_p is the input's {c} channels at pixel p = (p_1, p_2)"}
        notes = (what[shape.kind],)
        self.steps.append(Step("input", None, eqs, notes=notes, shape=shape))

    def _layers(self, nodes, cur: int, prefix: str) -> int:
        for node in nodes:
            cur = self._layer(node, cur, prefix)
        return cur

    def _layer(self, node: Node, cur: int, prefix: str) -> int:
        rule = node.rule
        args = node.kwargs
        shown = node.describe_args()
        title = f"{prefix}{node.layer}" + (f"({shown})" if shown else "")
        if rule.role == "block":
            return self._block(node, cur, title)
        self.h += 1
        h = self.h
        if rule.role == "activation":
            form = self._activation(node)
        else:
            form = self._form(node)
        if isinstance(form, Pointwise):
            self._pointwise(node, form, cur, h, title)
        elif isinstance(form, Affine):
            self._affine(node, form, cur, h, title)
        else:
            raise self.err(node, f"explain: {node.layer}'s symbolic form {form!r} is not one "
                                 f"explain knows (Pointwise or Affine)")
        return h

    def _block(self, node: Node, cur: int, title: str) -> int:
        form = self._form(node)
        if not isinstance(form, Combine) or len(form.weights) != len(node.bodies):
            raise self.err(node, f"explain: {node.layer}'s symbolic form {form!r} is not a "
                                 f"Combine with one weight per body")
        outs, start = [], cur
        for body in node.bodies:
            outs.append(self._layers(body, start, f"{title} › "))
            start = outs[-1] if form.chain else cur
        self.h += 1
        eqs = []
        for kind in (SIGMA, THETA):
            rhs = sp.sympify(form.skip) * self.entry(kind, cur, node.in_shape)
            for w, out in zip(form.weights, outs):
                rhs = rhs + sp.sympify(w) * self.entry(kind, out, node.out_shape)
            eqs.append(_eq(self.entry(kind, self.h, node.out_shape), rhs))
        self._add(f"{self.h}. {title}", node, eqs, form=form)
        return self.h

    def _add(self, title, node, eqs, kind="entry", notes=(), pad=None, form=None):
        self.steps.append(Step(title, node.pos[0], tuple(eqs), kind, tuple(notes),
                               node.out_shape, pad or {}, form, tuple(v[0] for v in node.via)))

    def _form(self, node: Node):
        if node.rule.symbolic is None:
            raise self.err(node, f"explain: {node.layer} has no symbolic form (its registry "
                                 f"entry sets no `symbolic`)")
        if node.rule.role == "block":
            return node.rule.symbolic(node.kwargs, node.in_shape, node.bodies)
        return node.rule.symbolic(node.kwargs, node.in_shape)

    def _activation(self, node: Node) -> Pointwise:
        rule, args = node.rule, node.kwargs
        if rule.symbolic is not None:
            (c, v1, v2), sigma, dot = rule.symbolic(args)
            swap = {c: C, v1: V1, v2: V2}
            return Pointwise(sigma.xreplace(swap), dot.xreplace(swap) * T, dot.xreplace(swap))
        u, v = sp.symbols("u v", real=True)
        phi = _pointwise_function(node, u)
        dphi = phi.diff(u)
        f, df = _jax_function(rule, args)
        self.numeric[phi] = self.numeric[phi.xreplace({u: v})] = f
        self.numeric[dphi] = self.numeric[dphi.xreplace({u: v})] = df
        sigma = GaussianExpectation(phi, phi.xreplace({u: v}), u, v, C, V1, V2)
        dot = GaussianExpectation(dphi, dphi.xreplace({u: v}), u, v, C, V1, V2)
        return Pointwise(sigma, dot * T, dot)

    def _pointwise(self, node, form: Pointwise, cur, h, title):
        shape = node.in_shape
        P, Q = _positions(shape)
        swap = {C: self.entry(SIGMA, cur, shape, P=P, Q=Q),
                V1: self.entry(SIGMA, cur, shape, self.a, self.a, P, P),
                V2: self.entry(SIGMA, cur, shape, self.b, self.b, Q, Q),
                T: self.entry(THETA, cur, shape, P=P, Q=Q),
                OUT: self.entry(SIGMA, h, shape, P=P, Q=Q)}
        sigma = form.sigma.xreplace(swap)
        dot_rhs = None if form.dot is None else form.dot.xreplace(swap)
        eqs = []
        if dot_rhs is not None:
            angle = self.entry(ANGLE, h, shape, P=P, Q=Q)
            sigma, dot_rhs, defined = _name_angle(sigma, dot_rhs, angle)
            if defined is not None:
                eqs.append(_eq(angle, defined))
        eqs.append(_eq(self.entry(SIGMA, h, shape, P=P, Q=Q), sigma))
        if form.dot is not None:
            dot = self.entry(DOT, h, shape, P=P, Q=Q)
            eqs.append(_eq(dot, dot_rhs))
            eqs.append(_eq(self.entry(THETA, h, shape, P=P, Q=Q),
                             dot * self.entry(THETA, cur, shape, P=P, Q=Q)))
        else:
            eqs.append(_eq(self.entry(THETA, h, shape, P=P, Q=Q), form.theta.xreplace(swap)))
        notes = ()
        if any(isinstance(e, GaussianExpectation) for eq in eqs for e in eq.atoms(GaussianExpectation)):
            notes = ("the expectations have no closed form; ntkc integrates them numerically",)
        self._add(f"{h}. {title}", node, eqs, notes=notes)

    def _affine(self, node, form: Affine, cur, h, title):
        lin = form.linear
        shape_in, shape_out = node.in_shape, node.out_shape
        scale, bias = sp.sympify(form.scale), sp.sympify(form.bias)
        if isinstance(lin, Aggregate):
            return self._aggregate(node, lin, cur, h, title)
        if isinstance(lin, PoolAll) and self.graph:
            return self._graph_pool(node, lin, cur, h, title)
        notes, pad = [], {}
        if isinstance(lin, Identity):
            def L(kind):
                return self.entry(kind, cur, shape_in)
        elif isinstance(lin, Window):
            L, pad, notes = self._window(lin, cur, shape_in, shape_out)
        elif isinstance(lin, (PoolAll, Diagonal)):
            P, Q = _positions(shape_in)
            limits = [(s, 0, n - 1) for s, n in zip(P + Q, shape_in.spatial * 2)]
            count = int(np.prod(shape_in.spatial))
            if isinstance(lin, Diagonal):
                Q, limits, count = P, limits[:len(P)], 1 / sp.Integer(count)
            else:
                count = 1 / sp.Integer(count) ** 2 if lin.mean else 1

            def L(kind):
                return sp.Sum(count * self.entry(kind, cur, shape_in, P=P, Q=Q), *limits)
        else:
            raise self.err(node, f"explain: unknown linear map {lin!r} in {node.layer}'s form")
        sigma = self.entry(SIGMA, h, shape_out)
        eqs = [_eq(sigma, scale * L(SIGMA) + bias)]
        theta = scale * L(THETA) + (sigma if form.weight else 0)
        eqs.append(_eq(self.entry(THETA, h, shape_out), theta))
        self._add(f"{h}. {title}", node, eqs, notes=notes, pad=pad)

    def _window(self, w: Window, cur, shape_in, shape_out):
        P, Q = _positions(shape_out)
        d = len(w.size)
        k = tuple(sp.Symbol(f"k_{i + 1}" if d > 1 else "k", integer=True) for i in range(d))
        l = tuple(sp.Symbol(f"l_{i + 1}" if d > 1 else "l", integer=True) for i in range(d))
        second = k if w.tied else l
        limits = [(o, -lo, n - 1 - lo) for o, lo, n in zip(k, w.low, w.size)]
        if not w.tied:
            limits += [(o, -lo, n - 1 - lo) for o, lo, n in zip(l, w.low, w.size)]
        count = int(np.prod(w.size)) ** (1 if w.tied else 2)

        def at(idx, off):
            out = []
            for i, o, s, n in zip(idx, off, w.stride, w.in_sizes):
                e = s * i + o
                out.append(sp.Mod(e, n) if w.circular else e)
            return tuple(out)

        def L(kind):
            term = self.entry(kind, cur, shape_in, P=at(P, k), Q=at(Q, second)) / count
            return sp.Sum(term, *limits)

        pad, notes = {}, []
        if not w.circular:
            highs = tuple(max(0, s * (o - 1) + n - 1 - lo - (size - 1))
                          for s, o, n, lo, size in zip(w.stride, shape_out.spatial, w.size, w.low,
                                                        w.in_sizes))
            if any(w.low) or any(highs):
                pad = {cur: tuple(zip(w.low, highs))}
                notes.append(f"Σ{superscript(cur)} and Θ{superscript(cur)} are 0 at positions outside the "
                             f"{'×'.join(map(str, w.in_sizes))} input (zero padding)")
        return L, pad, notes

    def _aggregate(self, node, agg: Aggregate, cur, h, title):
        A = matrix("A", NODES, NODES, "A", "A")
        I = matrix("I", NODES, NODES, "I", "I")
        D = matrix("D", NODES, NODES, "D", "D")
        Ahat = matrix("Ahat", NODES, NODES, r"\hat{A}", "Â")
        Ahat_p = matrix("Ahat_p", NODES_P, NODES_P, r"\hat{A}'", "Â'")
        base = A + I if agg.self_loops else A
        rhs = sp.Inverse(D) * base if agg.mean else base
        eqs = [_eq(Ahat, rhs)]
        notes = ["A is G's adjacency matrix (Â' is the same for G')"]
        if agg.mean:
            notes.append(f"D = diag({'(A + I)' if agg.self_loops else 'A'}𝟙), the node degrees"
                         + (" counting the self loop" if agg.self_loops else
                            " (1 for an isolated node)"))
        for kind in (SIGMA, THETA):
            prev = layer_matrix(kind, cur, NODES, NODES_P)
            eqs.append(_eq(layer_matrix(kind, h, NODES, NODES_P), Ahat * prev * Ahat_p.T))
        self._add(f"{h}. {title}", node, eqs, kind="matrix", notes=notes, form=agg)

    def _graph_pool(self, node, pool: PoolAll, cur, h, title):
        if pool.mean:
            one = matrix("onebar", NODES, 1, r"\bar{\mathbf{1}}", "1̄")
            one_p = matrix("onebar_p", NODES_P, 1, r"\bar{\mathbf{1}}'", "1̄'")
            notes = ["1̄ = 𝟙/V is the mean over G's V nodes"]
        else:
            one = matrix("one", NODES, 1, r"\mathbf{1}", "𝟙")
            one_p = matrix("one_p", NODES_P, 1, r"\mathbf{1}'", "𝟙'")
            notes = ["𝟙 is the vector of ones over G's V nodes"]
        eqs = [_eq(layer_matrix(kind, h, 1, 1), one.T * layer_matrix(kind, cur, NODES, NODES_P) * one_p)
               for kind in (SIGMA, THETA)]
        self._add(f"{h}. {title}", node, eqs, kind="matrix", notes=notes, form=pool)


def _name_angle(sigma, dot, angle):
    """Name the arc-cosine (arc-sine) shared by Σ' and Σ̇ θ, as the arc-cosine
    kernels are written: sympy has turned sin(arccos t) into √(1 − t²) and
    cos(arccos t) into t, which are put back as sin θ and cos θ. Exact
    identities on arccos's range; returns (Σ', Σ̇, θ's definition or None)."""
    shared = [a for a in sigma.atoms(sp.acos, sp.asin) if dot.has(a) and a.has(Entry)]
    if len(shared) != 1:
        return sigma, dot, None
    (a,) = shared
    t = a.args[0]
    first, second = (sp.sin, sp.cos) if isinstance(a, sp.acos) else (sp.cos, sp.sin)
    back = {sp.sqrt(1 - t**2): first(angle), t: second(angle)}
    named = []
    for e in (sigma, dot):
        e = e.xreplace({a: angle})
        for old, new in back.items():
            e = e.subs(old, new)
        named.append(e)
    if any(e.has(a.func) for e in named):
        return sigma, dot, None
    return named[0], named[1], a


def _pointwise_function(node: Node, u):
    """φ(u), for display, of an activation without a closed form: sympy's
    function of that name (``rule.extra["function"](args)``, e.g. "tanh", or
    the layer's name) when sympy has one, else an opaque function so named."""
    rule = node.rule
    name = rule.extra["function"](node.kwargs) if "function" in rule.extra else node.layer
    f = getattr(sp, name, None)
    if isinstance(f, type) and issubclass(f, sp.Function):
        return f(u)
    return sp.Function(r"\mathrm{%s}" % name.replace("_", r"\_"))(u)


def _jax_function(rule, args):
    """φ and φ' as float64 numpy functions, from the layer's own pointwise
    function (the one its finite network applies) and JAX's derivative of it."""
    import jax
    import jax.numpy as jnp
    fn = rule.extra["fn"]
    grad = jax.vmap(jax.grad(lambda t: fn(t, args)))

    def f(x):
        with jax.enable_x64(True):
            return np.asarray(fn(jnp.asarray(x, jnp.float64), args), np.float64)

    def df(x):
        x = np.asarray(x, np.float64)
        with jax.enable_x64(True):
            return np.asarray(grad(jnp.asarray(x.ravel(), jnp.float64)), np.float64).reshape(x.shape)
    return f, df


# -- expansion helpers ---------------------------------------------------------------------------
def _substitute(expr, done: dict):
    swap = {}
    for e in expr.atoms(Entry):
        if e.layer < 0:
            continue
        a, b = e.pair
        swap[e] = done[(e.kind, e.layer)].xreplace({X: a, XP: b})
    return expr.xreplace(swap)


def _tree_size(expr) -> int:
    memo = {}

    def size(e):
        if e not in memo:
            memo[e] = 1 + sum(size(a) for a in e.args)
        return memo[e]
    return size(expr)


# -- evaluation ------------------------------------------------------------------------------------
def _clip(f):
    return lambda t: f(np.clip(t, -1.0, 1.0))


# Domain guards for rounding only: a cosine of 1 + 1e-16 or a variance of −1e-18.
_SAFE = {"acos": _clip(np.arccos), "arccos": _clip(np.arccos), "asin": _clip(np.arcsin),
         "arcsin": _clip(np.arcsin), "sqrt": lambda t: np.sqrt(np.maximum(t, 0.0))}


class _Evaluator:
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
        graphs = [x1] if x2 is None else [x1, x2]
        feats, blocks, member = [], [], []
        sizes = []
        for batch in graphs:
            f, a = np.asarray(batch.features, np.float64), np.asarray(batch.adjacency, np.float64)
            m = np.ones(f.shape[:2]) if batch.mask is None else np.asarray(batch.mask)
            for gi in range(len(f)):
                keep = m[gi] > 0
                feats.append(f[gi][keep])
                blocks.append(a[gi][np.ix_(keep, keep)])
                sizes.append(int(keep.sum()))
        self.n1 = len(x1.features)
        self.n2 = None if x2 is None else len(x2.features)
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
                base, arr, shift = "gram", self.gram, 0
                a, b = e.args[:2]
                idx = e.args[2:]
            else:
                base = f"A{e.kind}_{e.layer}"
                arr = self.values[(e.kind, e.layer)]
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
