"""Building a network's kernel recursion as sympy equations, layer by layer,
from each layer's registry entry (its ``symbolic`` form, or for an activation
without one the Gaussian expectation of its φ). :func:`ntkc.explain.explain`
is the entry point; :class:`ntkc.explain.Explanation` holds the result."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .check import CheckedNet, Node
from .errors import NtkError
from .explain import G, GP, NODES, NODES_P, X, XP, Explanation, Step, _eq, _output
from .recursion_mixing import attend, recur
from .symbolic import (ANGLE, C, DOT, OUT, SIGMA, THETA, V1, V2, T, Affine, Aggregate, Attend,
                       Diagonal, Entry, GaussianExpectation, Identity, Inner, PoolAll, Pointwise,
                       Recurrence, Window, Combine, superscript, layer_matrix, matrix)


def build(net: CheckedNet) -> Explanation:
    """The symbolic kernel recursion of a checked network."""
    return _Builder(net).build()




def _positions(shape):
    """Index symbols (P, Q) of the two sides of a pair at this shape."""
    if shape.kind == "graph":
        return (sp.Symbol("u", integer=True),), (sp.Symbol("v", integer=True),)
    d = shape.nspatial
    if d == 1:
        return (sp.Symbol("p", integer=True),), (sp.Symbol("q", integer=True),)
    return (tuple(sp.Symbol(f"p_{i + 1}", integer=True) for i in range(d)),
            tuple(sp.Symbol(f"q_{i + 1}", integer=True) for i in range(d)))


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
        if rule.kind == "block":
            return self._block(node, cur, title)
        self.h += 1
        h = self.h
        if rule.kind == "activation":
            form = self._activation(node)
        else:
            form = self._form(node)
        if isinstance(form, Pointwise):
            self._pointwise(node, form, cur, h, title)
        elif isinstance(form, Affine):
            self._affine(node, form, cur, h, title)
        elif isinstance(form, Attend):
            attend(self, node, form, cur, h, title)
        else:
            raise self.err(node, f"explain: {node.layer}'s symbolic form {form!r} is not one "
                                 f"explain knows (Pointwise, Affine or Attend)")
        return h

    def _block(self, node: Node, cur: int, title: str) -> int:
        form = self._form(node)
        if isinstance(form, Recurrence) and len(node.bodies) == 1:
            return recur(self, node, form, cur, title)
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
        if node.rule.kind == "block":
            return node.rule.symbolic(node.kwargs, node.in_shape, node.bodies)
        return node.rule.symbolic(node.kwargs, node.in_shape)

    def _activation(self, node: Node) -> Pointwise:
        rule, args = node.rule, node.kwargs
        # symbolic(args) is None where these arguments have no closed form
        form = rule.symbolic(args) if rule.symbolic is not None else None
        if form is not None:
            (c, v1, v2), sigma, dot = form
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
        if form.fan_in is not None:   # standard parameterization: the weights' own gradients
            theta = scale * L(THETA) + form.fan_in * L(SIGMA) + (1 if form.trained_bias else 0)
        else:
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
    function of that name (``rule.function(args)``, e.g. "tanh", or
    the layer's name) when sympy has one, else an opaque function so named."""
    rule = node.rule
    name = rule.function(node.kwargs) if rule.function is not None else node.layer
    f = getattr(sp, name, None)
    if isinstance(f, type) and issubclass(f, sp.Function):
        return f(u)
    return sp.Function(r"\mathrm{%s}" % name.replace("_", r"\_"))(u)


def _jax_function(rule, args):
    """φ and φ' as float64 numpy functions, from the layer's own pointwise
    function (the one its finite network applies) and JAX's derivative of it."""
    import jax
    import jax.numpy as jnp
    fn = rule.fn
    grad = jax.vmap(jax.grad(lambda t: fn(t, args)))

    def f(x):
        with jax.enable_x64(True):
            return np.asarray(fn(jnp.asarray(x, jnp.float64), args), np.float64)

    def df(x):
        x = np.asarray(x, np.float64)
        with jax.enable_x64(True):
            return np.asarray(grad(jnp.asarray(x.ravel(), jnp.float64)), np.float64).reshape(x.shape)
    return f, df

