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

from dataclasses import dataclass, field

import sympy as sp

from .check import CheckedNet
from .errors import NtkError
from .symbolic import SIGMA, THETA, Entry, latex, text

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
        from .evaluate import Evaluator
        return Evaluator(self, x1, x2).run(get)


def explain(net: CheckedNet) -> Explanation:
    """The symbolic kernel recursion of a checked network."""
    from .recursion import build
    return build(net)


def _eq(lhs, rhs):
    # unevaluated: deciding whether lhs == rhs costs sympy seconds per layer
    return sp.Eq(lhs, rhs, evaluate=False)



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


def _output(kind, a, b):
    return Entry(kind, -1, a, b)


def _has_positions(step) -> bool:
    return any(len(e.args) > 4 for eq in step.equations for e in eq.atoms(Entry))
