"""The vocabulary of ``ntkc explain``: sympy objects for the kernel recursion
and the declarative forms layer rules give for themselves.

A layer's registry entry says what it does to the kernel in one of two ways
(its ``symbolic`` field):

* activations: ``symbolic(args) -> ((Σ₁₂, Σ₁₁, Σ₂₂), Σ', Σ̇)``, sympy
  expressions in the symbols :data:`C`, :data:`V1`, :data:`V2` (see
  ``rules/relu.py``); Θ' = Σ̇·Θ follows. An activation without a closed form
  (``symbolic=None``) is shown as the Gaussian expectation it integrates;
* every other layer: ``symbolic(args, in_shape) ->`` a :class:`Pointwise`
  (a map of each position pair on its own, e.g. Dense) or an :class:`Affine`
  (Σ' = scale·L(Σ) + bias with L a linear map over position pairs, e.g.
  Conv's windowed mean, GraphAgg's Â Σ Â'ᵀ, pooling);
* blocks: ``symbolic(args, in_shape, bodies) ->`` a :class:`Combine` (a sum
  of the bodies' kernels and, for Residual, the input's).

``ntkc.explain`` turns these into per-layer equations in :class:`Entry`
objects (Σ⁽ʰ⁾, Σ̇⁽ʰ⁾, Θ⁽ʰ⁾ at a pair of inputs and positions) and matrix
symbols (graphs), prints them, and evaluates them with ``lambdify``.
sympy is imported by this module only; the compiler never needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
from sympy.utilities.lambdify import implemented_function
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

# The pair symbols of the activations' symbolic forms (same names and
# assumptions as in rules/relu.py, so sympy treats them as the same symbols).
C, V1, V2 = sp.symbols("Sigma_12 Sigma_11 Sigma_22", real=True)
T = sp.Symbol("Theta_12", real=True)   # Θ(x, x') of the layer's input
OUT = sp.Symbol("Sigma_out", real=True)  # the layer's own Σ'(x, x'), for Θ' rules

SIGMA, DOT, THETA, ANGLE, ATTEND = 0, 1, 2, 3, 4
_NAMES = {SIGMA: (r"\Sigma", "Σ"), DOT: (r"\dot{\Sigma}", "Σ̇"), THETA: (r"\Theta", "Θ"),
          ANGLE: (r"\theta", "θ"),   # ANGLE: an activation's angle, named for display
          ATTEND: (r"\mathcal{G}", "G")}  # ATTEND: an attention matrix G(x, x)[p, p']
_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


@lru_cache(maxsize=1024, typed=True)
def const(value) -> sp.Expr:
    """A file constant as an exact sympy number: a rational or simple surd when
    one equals the float exactly (1.5 → 3/2, sqrt(2) → √2), else the float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"not a number: {value!r}")
    if float(value).is_integer():
        return sp.Integer(int(value))
    guess = sp.nsimplify(value, [sp.pi], rational=False)
    if float(guess) == float(value) and sp.count_ops(guess) <= 6:
        return guess
    return sp.Float(value)


# -- the forms layer rules return ------------------------------------------------
@dataclass(frozen=True)
class Pointwise:
    """Each position pair maps on its own: Σ' = sigma(Σ₁₂, Σ₁₁, Σ₂₂) and
    Θ' = theta(Σ', Θ₁₂, ...), in the symbols C, V1, V2, OUT, T; ``dot`` is
    Σ̇ for activations (then theta is Σ̇·Θ)."""
    sigma: sp.Expr
    theta: sp.Expr
    dot: sp.Expr | None = None


@dataclass(frozen=True)
class Identity:
    """L(Σ) = Σ (a Dense layer acts on each position pair alone)."""


@dataclass(frozen=True)
class Window:
    """L(Σ)(p, q) = mean_k Σ(s·p + k, s·q + k) over a window of offsets
    k ∈ [−low, size − 1 − low] per axis; ``tied``: the same k on both sides
    (Conv), else independent offsets k, l on the two sides (AvgPool).
    Outside the input Σ is 0 (zero padding) or the index wraps (circular)."""
    size: tuple
    stride: tuple
    low: tuple
    in_sizes: tuple
    circular: bool
    tied: bool


@dataclass(frozen=True)
class Aggregate:
    """Graph aggregation L(Σ) = Â Σ Â'ᵀ with Â = D⁻¹(A + I) and friends."""
    self_loops: bool
    mean: bool


@dataclass(frozen=True)
class PoolAll:
    """Sum (or mean) over every pair of positions or nodes."""
    mean: bool


@dataclass(frozen=True)
class Diagonal:
    """Mean over same-position pairs (Flatten)."""


@dataclass(frozen=True)
class Affine:
    """Σ' = scale·L(Σ) + bias; Θ' = scale·L(Θ), plus Σ' for a weight layer
    (its weights and biases add their own gradient term). A weight layer in
    the standard parameterization gives its declared ``fan_in``: its
    gradient term is then fan_in·L(Σ), plus 1 with a ``trained_bias``."""
    scale: sp.Expr
    bias: sp.Expr
    weight: bool
    linear: object = Identity()
    fan_in: int | None = None
    trained_bias: bool = False


@dataclass(frozen=True)
class Attend:
    """Mixing positions with weights built from the input's own covariance:
    G_x(p, p') = ρ(logit·Σ(x, x)(p, p')), ρ the ``mechanism`` ("softmax" over
    every p', or "identity", "abs", "relu" elementwise), and

        Σ'(p, q) = scale·Σ_{p',q'} G_x(p, p') Σ(p', q') G_x'(q, q') + bias,
        Θ'(p, q) = scale·Σ_{p',q'} G_x(p, p') Θ(p', q') G_x'(q, q') + grad·(Σ' − bias) + bias,

    ``grad`` counting the weight matrices whose own gradients each add
    scale·G Σ G'ᵀ (SelfAttention's value and output weights: 2).

    Positional embeddings (``pos_weight`` c ≠ 0) replace Σ(x, x) in the logits
    by ``input_weight``·Σ(x, x) + c·R, R(p, s) = [p = s] (``pos_decay``
    None) or exp(−pos_decay·Σ_axes |p − s|^pos_p_norm); with ``pos_values``
    the Σ and Θ that G mixes become input_weight·Σ + c·R, input_weight·Θ + c·R."""
    logit: sp.Expr
    mechanism: str
    scale: sp.Expr
    bias: sp.Expr
    grad: int
    input_weight: sp.Expr = sp.Integer(1)
    pos_weight: sp.Expr = sp.Integer(0)
    pos_decay: sp.Expr | None = None
    pos_p_norm: sp.Expr = sp.Integer(2)
    pos_values: bool = False


@dataclass(frozen=True)
class Recurrence:
    """A block whose one body (the cell) runs at every time step with the same
    weights. Over every pair of time steps (t, t') of the input sequence, with
    h⁰ = 0, ``rounds`` rounds of

        Σ_g(t, t') = state·Σ_h(t−1, t'−1) + drive·Σ_x(t, t') + bias,
        Θ_g(t, t') = Σ_g(t, t') + state·Θ_h(t−1, t'−1) + drive·Θ_x(t, t'),
        (Σ_h, Θ_h) = the cell's rules on (Σ_g, Θ_g),

    (entries at t − 1 < 0 are 0) reach the recurrence's fixed point; the output
    is Σ_h, Θ_h at (T, T) (``readout="last"``) or their mean over all pairs
    (``"mean"``)."""
    state: sp.Expr
    drive: sp.Expr
    bias: sp.Expr
    rounds: int
    readout: str


@dataclass(frozen=True)
class Combine:
    """A block: Σ' = skip·Σ + Σ_b weights[b]·Σ_b over its bodies' outputs Σ_b,
    and Θ' alike (the terms are uncorrelated, so kernels add). Each body starts
    from the block's input, or with ``chain`` from the previous body's output
    (JumpingKnowledge). Residual is ``Combine(1, (alpha²,))``."""
    skip: sp.Expr = 0
    weights: tuple = ()
    chain: bool = False


# -- the symbols of a recursion ------------------------------------------------------
class Entry(sp.Function):
    """Σ⁽ʰ⁾, Σ̇⁽ʰ⁾ or Θ⁽ʰ⁾ at one pair of inputs (a, b), and for spatial or graph
    inputs at one pair of positions: ``Entry(kind, h, a, b, *P, *Q)`` with P
    indexing a's positions and Q b's (equal length)."""

    @property
    def kind(self) -> int:
        return int(self.args[0])

    @property
    def layer(self) -> int:
        return int(self.args[1])

    @property
    def pair(self) -> tuple:
        return self.args[2], self.args[3]

    @property
    def positions(self) -> tuple:
        idx = self.args[4:]
        half = len(idx) // 2
        return tuple(idx[:half]), tuple(idx[half:])

    def _latex(self, printer, exp=None):
        name = _NAMES[self.kind][0] + ("^{(%d)}" % self.layer if self.layer >= 0 else "")
        p, q = self.positions
        if p:
            name += "_{%s,\\,%s}" % (_latex_index(printer, p), _latex_index(printer, q))
        a, b = (printer._print(s) for s in self.pair)
        out = "%s(%s, %s)" % (name, a, b)
        return out if exp is None else r"\left(%s\right)^{%s}" % (out, exp)

    def _sympystr(self, printer):
        name = _NAMES[self.kind][1] + (superscript(self.layer) if self.layer >= 0 else "")
        p, q = self.positions
        if p:
            name += "[%s; %s]" % (", ".join(printer._print(i) for i in p),
                                  ", ".join(printer._print(i) for i in q))
        return "%s(%s, %s)" % (name, *(printer._print(s) for s in self.pair))


def superscript(h: int) -> str:
    return "⁽" + str(h).translate(_SUP) + "⁾"


def _latex_index(printer, idx) -> str:
    parts = [printer._print(i) for i in idx]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"


class Inner(sp.Function):
    """The input inner product ⟨x, x'⟩ = xᵀx' over channels (at positions
    p, q: ⟨x_p, x'_q⟩)."""

    def _latex(self, printer, exp=None):
        a, b = (printer._print(s) for s in self.args[:2])
        idx = self.args[2:]
        if idx:
            half = len(idx) // 2
            a += "_{%s}" % _latex_index(printer, idx[:half])
            b += "_{%s}" % _latex_index(printer, idx[half:])
        out = r"\langle %s, %s \rangle" % (a, b)
        return out if exp is None else r"\left(%s\right)^{%s}" % (out, exp)

    def _sympystr(self, printer):
        a, b = (printer._print(s) for s in self.args[:2])
        idx = self.args[2:]
        if idx:
            half = len(idx) // 2
            a += "[%s]" % ", ".join(printer._print(i) for i in idx[:half])
            b += "[%s]" % ", ".join(printer._print(i) for i in idx[half:])
        return f"⟨{a}, {b}⟩"


class GaussianExpectation(sp.Function):
    """E[f(u) g(v)] over (u, v) ~ N(0, [[Σ₁₁, Σ₁₂], [Σ₁₂, Σ₂₂]]), for an
    activation integrated numerically: args (f(u), g(v), u, v, Σ₁₂, Σ₁₁, Σ₂₂)."""

    def _latex(self, printer, exp=None):
        f, g, u, v, c, v1, v2 = (printer._print(a) for a in self.args)
        cov = r"\left(\genfrac{}{}{0}{}{%s}{%s}\ \genfrac{}{}{0}{}{%s}{%s}\right)" % (v1, c, c, v2)
        out = r"\mathbb{E}_{(%s, %s) \sim \mathcal{N}\left(0,\ %s\right)}\left[%s\, %s\right]" % (
            u, v, cov, f, g)
        return out if exp is None else r"\left(%s\right)^{%s}" % (out, exp)

    def _sympystr(self, printer):
        f, g = (printer.parenthesize(a, 50) for a in self.args[:2])
        u, v, c, v1, v2 = (printer._print(a) for a in self.args[2:])
        return f"E[{f}·{g}; ({u}, {v}) ~ N(0, [[{v1}, {c}], [{c}, {v2}]])]"


# Matrix symbols (graphs) carry their display names here, keyed by sympy name.
_MATRIX_NAMES: dict = {}


def matrix(name: str, rows, cols, latex: str, text: str) -> sp.MatrixSymbol:
    _MATRIX_NAMES[name] = (latex, text)
    return sp.MatrixSymbol(name, rows, cols)


def layer_matrix(kind: int, h: int, rows, cols, a="G", b="G'") -> sp.MatrixSymbol:
    """Σ⁽ʰ⁾(G, G') etc. as a (V × V') matrix."""
    latex, text = _NAMES[kind]
    return matrix(f"{['Sigma', 'SigmaDot', 'Theta'][kind]}_{h}", rows, cols,
                  "%s^{(%d)}(%s, %s)" % (latex, h, a, b), f"{text}{superscript(h)}({a}, {b})")


def matrix_key(m: sp.MatrixSymbol):
    """(kind, h) of a layer matrix, or None for other matrix symbols."""
    head, _, tail = m.name.partition("_")
    kinds = {"Sigma": SIGMA, "SigmaDot": DOT, "Theta": THETA}
    if head in kinds and tail.isdigit():
        return kinds[head], int(tail)
    return None


class _Latex(LatexPrinter):
    def _print_MatrixSymbol(self, expr):
        return _MATRIX_NAMES.get(expr.name, (expr.name, None))[0]

    def _print_Transpose(self, expr):
        return r"{%s}^{\top}" % self._print(expr.arg)

    def _print_MatMul(self, expr):
        # sympy's own asks whether the product could be negated, at great cost
        return " ".join(self.parenthesize(a, 49) for a in expr.args)

    def _print_Mul(self, expr):
        # A rational coefficient in front of a term without a denominator
        # (9/4·Σ, 49/25·∑ …) reads better than one fraction over everything.
        coeff, rest = expr.as_coeff_Mul()
        if (isinstance(coeff, sp.Rational) and not coeff.is_Integer and coeff > 0
                and rest.as_numer_denom()[1] == 1):
            return r"\frac{%d}{%d} %s" % (coeff.p, coeff.q, self.parenthesize(rest, 49))
        return super()._print_Mul(expr)

    def _print_Sum(self, expr):
        # one \sum per index (mathtext has no \substack)
        heads = r"\,".join(r"\sum_{%s=%s}^{%s} " % tuple(self._print(t) for t in lim)
                            for lim in expr.limits)
        return heads + self.parenthesize(expr.function, 49)

    def _needs_add_brackets(self, expr):
        # sympy brackets every term holding a Mod; ours prints its own brackets
        return expr.is_Relational or expr.is_Add

    def _print_Function(self, expr, exp=None):
        if expr.func is _IVERSON:
            return r"\left[%s = %s\right]" % tuple(self._print(a) for a in expr.args)
        return super()._print_Function(expr, exp)

    def _print_Mod(self, expr, exp=None):
        a, n = expr.args
        out = r"\left(%s\right)\,\mathrm{mod}\,%s" % (self._print(a), self._print(n))
        return out if exp is None else r"\left(%s\right)^{%s}" % (out, exp)


class _Text(StrPrinter):
    def _print_MatrixSymbol(self, expr):
        return _MATRIX_NAMES.get(expr.name, (None, expr.name))[1]

    def _print_Transpose(self, expr):
        if isinstance(expr.arg, sp.MatrixSymbol):
            return self._print(expr.arg) + "ᵀ"
        return "(%s)ᵀ" % self._print(expr.arg)

    def _print_Inverse(self, expr):
        return self._print(expr.arg) + "⁻¹"

    def _print_MatMul(self, expr):
        atoms = (sp.MatrixSymbol, sp.Inverse, sp.Transpose)
        return "·".join(self._print(a) if isinstance(a, atoms) else "(%s)" % self._print(a)
                        for a in expr.args)

    def _print_Pi(self, expr):
        return "π"

    def _print_Function(self, expr):
        if expr.func is _IVERSON:
            return "[%s = %s]" % tuple(self._print(a) for a in expr.args)
        return super()._print_Function(expr)

    def _print_Mod(self, expr):
        return "(%s mod %s)" % tuple(self._print(a) for a in expr.args)

    def _print_Sum(self, expr):
        heads = ", ".join("%s=%s…%s" % tuple(self._print(t) for t in lim) for lim in expr.limits)
        return "∑_{%s} %s" % (heads, self.parenthesize(expr.function, 49))

    def _print_Mul(self, expr):
        coeff, rest = expr.as_coeff_Mul()
        if (isinstance(coeff, sp.Rational) and not coeff.is_Integer and coeff > 0
                and rest.as_numer_denom()[1] == 1):
            return "%s·%s" % (coeff, self.parenthesize(rest, 49))
        return super()._print_Mul(expr)


# [a = b] over index grids. A Piecewise would do for lambdify, but sympy folds
# exp(c·Piecewise) into a Piecewise of exponentials (a softmax's sum), which
# reads worse; an opaque function stays as written, and carries its numpy
# implementation for lambdify with it.
_IVERSON = implemented_function("Iverson", lambda a, b: np.equal(a, b).astype(np.float64))


def iverson(a, b) -> sp.Expr:
    """[a = b]: 1 where the indices are equal, else 0."""
    return _IVERSON(a, b)


def latex(expr) -> str:
    """LaTeX that both TeX and matplotlib's mathtext render (no environments)."""
    return _Latex({"inv_trig_style": "full"}).doprint(expr)


def text(expr) -> str:
    return _Text().doprint(expr)
