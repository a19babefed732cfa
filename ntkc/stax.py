"""neural-tangents' ``stax`` API on top of ntkc: ``from ntkc import stax``.

Every layer and combinator takes stax's arguments, in stax's order, and
returns a :class:`~ntkc.stax_net.Layer`, which unpacks to
``(init_fn, apply_fn, kernel_fn)``:

- ``kernel_fn(x1, x2=None, get=None)`` is the compiled ntkc kernel of the
  network (``get=None``: both, as ``Kernels(nngp, ntk)``; a name: that
  array; a tuple of names: a tuple). The network is written out as ``.ntk``
  source (``layer.to_ntk(input_shape)``) and compiled — the language is the
  one source of truth, there is no second kernel path. The input kind is read
  off x1's shape at the first call — (N, D) vector, (N, T, C) sequence,
  (N, H, W, C) image, or (N, V, F) graph node features when the net has
  ``Aggregate`` (with ``pattern=(adjacency1, adjacency2)``, or x1 an
  ``ntkc.GraphBatch``) — and the compiled kernel is cached per example shape.
  It composes with ``jax.jit``/``vmap``/``grad`` like any ``ntkc.Kernel``.
- ``init_fn(key, input_shape) -> (output_shape, params)`` and
  ``apply_fn(params, x)`` are the finite network of ``ntkc.finite`` built
  from the same source (a standard-parameterized layer's params hold its
  weights in units of their initial spread, see docs/migrating.md). ntkc's finite networks
  have one hidden width: every hidden weight layer gets the largest
  ``out_dim``/``out_chan`` given, and the last top-level weight layer its own
  (the infinite-width kernel does not depend on widths; ``FanInConcat``
  still weighs its branches by theirs, as stax does).

A stax layer or argument ntkc lacks is an :class:`~ntkc.NtkError` naming it
(``Dropout``, ``SumPool``, ``s`` other than (1, 1), ``CAUSAL``
padding, …). docs/migrating.md has the mapping table.
"""

from __future__ import annotations

import math

from . import stax_source as src
from .stax_source import error as _error
from .kernel import Kernels  # noqa: F401  (what kernel_fn(..., get=None) returns)
from .registry import lookup
from .stax_net import Layer, to_ntk  # noqa: F401
from .stax_source import ints, number, window_sizes


def _atom(label, text, shape=None, width=None):
    return Layer(src.Atom(label.split("(")[0], text, shape, width), label)


def _spec(layer, who):
    if not isinstance(layer, Layer):
        raise _error(f"stax.{who} takes layers from ntkc.stax, not {type(layer).__name__}; "
                     f"a layer written for neural-tangents has no .ntk form")
    return layer.spec


def _num(who, name, v) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _error(f"stax.{who}: {name} must be a finite number, not {v!r}")
    return number(float(v))


def _width(who, name, v, low=1, what=" (a finite width)") -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise _error(f"stax.{who}: {name} must be a whole number >= {low}{what}, not {v!r}")
    return v


def _int_tuple(who, name, v) -> tuple:
    t = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    if not t or any(isinstance(i, bool) or not isinstance(i, int) or i < 1 for i in t):
        raise _error(f"stax.{who}: {name} must be a tuple of whole numbers >= 1, not {v!r}")
    return t


def _stds(who, W_std, b_std) -> str:
    text = f"W_std={_num(who, 'W_std', W_std)}"
    return text if b_std is None else text + f", b_std={_num(who, 'b_std', b_std)}"


def _affine(who, width, W_std, b_std, parameterization, s) -> str:
    """The arguments Dense and Conv share: the width (stax tracks it, and a
    standard layer's kernel reads its input's), the stds, the parameterization."""
    p = parameterization.lower() if isinstance(parameterization, str) else parameterization
    if p not in ("ntk", "standard"):
        raise _error(f"stax.{who}(parameterization={parameterization!r}): ntkc has "
                     f"parameterization='ntk' and 'standard'")
    if p == "standard" and tuple(s) != (1, 1):
        raise _error(f"stax.{who}(s={tuple(s)!r}): ntkc's standard parameterization has "
                     f"s=(1, 1) only (widths are the layers' out_dim/out_chan)")
    text = f"width={width}, {_stds(who, W_std, b_std)}"
    if p == "standard":
        # stax's b_std=None is no bias, which the standard NTK tells from b_std=0
        text += (", bias=false" if b_std is None else "") + ', parameterization="standard"'
    return text


def _padding(who, padding, allowed) -> str:
    name = getattr(padding, "name", padding)  # stax.Padding.SAME or "SAME"
    p = name.lower() if isinstance(name, str) else None
    if p not in allowed:
        raise _error(f"stax.{who}(padding={name!r}): ntkc's {who} has padding "
                     + ", ".join(repr(a.upper()) for a in allowed))
    return p


def _axes(who, batch_axis, channel_axis):
    """A shape check: stax's axis arguments must say batch first, channels last."""
    def check(st):
        ndim = 2 + len(st.spatial)
        if batch_axis % ndim != 0 or channel_axis % ndim != ndim - 1:
            raise _error(f"stax.{who}(batch_axis={batch_axis}, channel_axis={channel_axis}): "
                         f"ntkc.stax takes inputs batch first and channels last "
                         f"(N, ..., C); transpose them instead")
    return check


def _keep(*checks):
    def shape(st):
        for c in checks:
            c(st)
        return st.channels, st.spatial
    return shape


# -- weight layers ---------------------------------------------------------------------
def Dense(out_dim, W_std=1.0, b_std=None, batch_axis=0, channel_axis=-1,
          parameterization="ntk", s=(1, 1)):
    """Fully connected over channels: ``.ntk`` ``Dense(width=out_dim, W_std,
    b_std[, parameterization])``; the standard parameterization with
    ``s=(1, 1)`` (its kernel reads the widths; ``b_std=None`` is
    ``bias=false``)."""
    out = _width("Dense", "out_dim", out_dim)
    text = _affine("Dense", out, W_std, b_std, parameterization, s)
    axes = _axes("Dense", batch_axis, channel_axis)

    def shape(st):
        axes(st)
        return out, st.spatial
    return _atom(f"Dense({out_dim})", f"Dense({text})", shape, out)


def Conv(out_chan, filter_shape, strides=None, padding="VALID", W_std=1.0, b_std=None,
         dimension_numbers=None, parameterization="ntk", s=(1, 1)):
    """Convolution: ``.ntk`` ``Conv(kernel, stride, padding, W_std, b_std)``,
    stax's default padding VALID and strides 1 written out."""
    out = _width("Conv", "out_chan", out_chan)
    affine = _affine("Conv", out, W_std, b_std, parameterization, s)
    window = _int_tuple("Conv", "filter_shape", filter_shape)
    strides = (1,) * len(window) if strides is None else _int_tuple("Conv", "strides", strides)
    if len(strides) != len(window):
        raise _error(f"stax.Conv: strides {strides} and filter_shape {window} differ in length")
    pad = _padding("Conv", padding, ("same", "valid", "circular"))
    _dimension_numbers(dimension_numbers, len(window))
    text = f'Conv(kernel={ints(window)}, stride={ints(strides)}, padding="{pad}", {affine})'
    return _atom(f"Conv({out_chan}, {window})", text,
                 lambda st: (out, window_sizes(st.spatial, window, strides, pad, "Conv")), out)


def _dimension_numbers(dn, nspatial):
    if dn is None:
        return
    ok = (isinstance(dn, (tuple, list)) and len(dn) == 3 and all(isinstance(d, str) for d in dn))
    if ok:
        lhs, rhs, out = dn
        ok = (lhs == out and len(lhs) == nspatial + 2 and lhs[0] == "N" and lhs[-1] == "C"
              and rhs[:-2] == lhs[1:-1] and rhs[-2:] == "IO")
    if not ok:
        raise _error(f"stax.Conv(dimension_numbers={dn!r}): ntkc.stax takes channels-last "
                     f"inputs only, e.g. ('NHWC', 'HWIO', 'NHWC'); transpose them instead")


def GlobalSelfAttention(n_chan_out, n_chan_key, n_chan_val, n_heads, linear_scaling=True,
                        W_key_std=1.0, W_value_std=1.0, W_query_std=1.0, W_out_std=1.0,
                        b_std=None, attention_mechanism="SOFTMAX", pos_emb_type="NONE",
                        pos_emb_p_norm=2, pos_emb_decay_fn=None, n_chan_pos_emb=None,
                        W_pos_emb_std=1.0, val_pos_emb=False, batch_axis=0, channel_axis=-1):
    """Global self-attention: ``.ntk`` ``SelfAttention(mechanism, W_*_std, b_std)``
    (channel counts and heads are finite-net settings)."""
    rule = lookup("SelfAttention")
    if rule is None:
        raise _error("stax.GlobalSelfAttention maps to ntkc's SelfAttention layer, which this "
                     "version of ntkc does not have yet")
    if not linear_scaling:
        raise _error("stax.GlobalSelfAttention(linear_scaling=False): ntkc's SelfAttention "
                     "scales logits by 1/n (linear_scaling=True) only")
    pos = str(getattr(pos_emb_type, "name", pos_emb_type)).lower()
    pos_text = ""
    if pos != "none":
        pos_text = _pos_emb(pos, pos_emb_p_norm, pos_emb_decay_fn, n_chan_pos_emb,
                            W_pos_emb_std, val_pos_emb)
    mech = str(getattr(attention_mechanism, "name", attention_mechanism)).lower()
    param = rule.param("mechanism")
    if param is not None and param.choices and mech not in param.choices:
        raise _error(f"stax.GlobalSelfAttention(attention_mechanism={attention_mechanism!r}): "
                     f"ntkc has " + ", ".join(repr(c.upper()) for c in param.choices))
    out = _width("GlobalSelfAttention", "n_chan_out", n_chan_out)
    stds = ", ".join(f"{n}={_num('GlobalSelfAttention', n, v)}" for n, v in (
        ("W_query_std", W_query_std), ("W_key_std", W_key_std),
        ("W_value_std", W_value_std), ("W_out_std", W_out_std)))
    if b_std is not None:
        stds += f", b_std={_num('GlobalSelfAttention', 'b_std', b_std)}"
    axes = _axes("GlobalSelfAttention", batch_axis, channel_axis)

    def shape(st):
        axes(st)
        return out, st.spatial
    return _atom(f"GlobalSelfAttention({n_chan_out})",
                 f'SelfAttention(mechanism="{mech}", {stds}{pos_text})', shape, out)


def _pos_emb(kind, p_norm, decay_fn, n_chan, w_std, values) -> str:
    """The positional-embedding arguments of ``.ntk`` SelfAttention. ntkc's
    decays are exp(−γ·d): a ``pos_emb_decay_fn`` must be one (checked at
    several distances), and γ = −log f(1)."""
    who = "GlobalSelfAttention"
    if kind not in ("sum", "concat"):
        raise _error(f"stax.{who}(pos_emb_type={kind.upper()!r}): ntkc has 'NONE', 'SUM', 'CONCAT'")
    text = f', pos_emb_type="{kind}", W_pos_emb_std={_num(who, "W_pos_emb_std", w_std)}'
    if not isinstance(values, bool):
        raise _error(f"stax.{who}: val_pos_emb must be True or False, not {values!r}")
    text += ", val_pos_emb=true" if values else ""
    if n_chan is not None:
        text += f", n_chan_pos_emb={_width(who, 'n_chan_pos_emb', n_chan)}"
    if decay_fn is not None:
        gamma = _exp_decay_rate(decay_fn)
        text += f", pos_emb_decay={number(gamma)}, pos_emb_p_norm={_num(who, 'pos_emb_p_norm', p_norm)}"
    return text


def _exp_decay_rate(fn) -> float:
    import numpy as np
    d = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 7.5])
    try:
        f = np.asarray(fn(d), dtype=np.float64).reshape(d.shape)
    except Exception as e:  # noqa: BLE001 - any failure means it is not one we can read
        raise _error(f"stax.GlobalSelfAttention: pos_emb_decay_fn could not be evaluated on "
                     f"distances ({e})") from None
    gamma = float(f"{-np.log(f[2]):.15g}") if f[2] > 0 else float("nan")
    if not (np.isfinite(gamma) and gamma >= 0
            and np.allclose(f, np.exp(-gamma * d), rtol=1e-12, atol=0)):
        raise _error("stax.GlobalSelfAttention: ntkc's SelfAttention takes decays "
                     "pos_emb_decay_fn = lambda d: exp(-γ·d) only (pos_emb_decay=γ); this "
                     f"one gives {np.round(f, 6).tolist()} at d = {d.tolist()}")
    return gamma


# -- parameter-free layers ---------------------------------------------------------------
def Identity():
    return _atom("Identity()", None)


def AvgPool(window_shape, strides=None, padding="VALID", normalize_edges=False,
            batch_axis=0, channel_axis=-1):
    """Average pooling: ``.ntk`` ``AvgPool(window, stride, padding)``; stax's
    default stride is 1 (not the window), written out."""
    window = _int_tuple("AvgPool", "window_shape", window_shape)
    strides = (1,) * len(window) if strides is None else _int_tuple("AvgPool", "strides", strides)
    pad = _padding("AvgPool", padding, ("same", "valid"))
    if normalize_edges and pad == "same":
        raise _error("stax.AvgPool(normalize_edges=True) with SAME padding: ntkc's AvgPool "
                     "counts the zero padding in the mean (normalize_edges=False)")
    text = f'AvgPool(window={ints(window)}, stride={ints(strides)}, padding="{pad}")'
    axes = _axes("AvgPool", batch_axis, channel_axis)

    def shape(st):
        axes(st)
        return st.channels, window_sizes(st.spatial, window, strides, pad, "AvgPool")
    return _atom(f"AvgPool({window})", text, shape)


def _global(name):
    def layer(batch_axis=0, channel_axis=-1):
        axes = _axes(name, batch_axis, channel_axis)

        def shape(st):
            axes(st)
            return st.channels, ()
        return _atom(f"{name}()", name, shape)
    layer.__name__ = name
    layer.__doc__ = f"``.ntk`` ``{name}``."
    return layer


GlobalAvgPool = _global("GlobalAvgPool")
GlobalSumPool = _global("GlobalSumPool")


def Flatten(batch_axis=0, batch_axis_out=0):
    """``.ntk`` ``Flatten``: positions folded into channels."""
    if batch_axis != 0 or batch_axis_out != 0:
        raise _error(f"stax.Flatten(batch_axis={batch_axis}, batch_axis_out={batch_axis_out}): "
                     f"ntkc.stax keeps the batch axis first")

    def shape(st):
        c = st.channels
        for n in st.spatial:
            c = None if c is None or n is None else c * n
        return c, ()
    return _atom("Flatten()", "Flatten", shape)


def LayerNorm(axis=-1, eps=1e-12, batch_axis=0, channel_axis=-1):
    """``.ntk`` ``LayerNorm``: normalise over the channel axis."""
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    text = "LayerNorm"
    if eps != 1e-12:
        if lookup("LayerNorm").param("eps") is None:
            raise _error(f"stax.LayerNorm(eps={eps!r}): ntkc's LayerNorm has eps=1e-12 only")
        text = f"LayerNorm(eps={_num('LayerNorm', 'eps', eps)})"
    check = _axes("LayerNorm", batch_axis, channel_axis)

    def shape(st):
        check(st)
        ndim = 2 + len(st.spatial)
        if [a % ndim for a in axes] != [ndim - 1]:
            raise _error(f"stax.LayerNorm(axis={axis!r}): ntkc normalises over the channel "
                         f"axis only (axis=-1)")
        return st.channels, st.spatial
    return _atom("LayerNorm()", text, shape)


def Aggregate(aggregate_axis=None, batch_axis=0, channel_axis=-1, to_dense=None,
              implementation="DENSE"):
    """Graph aggregation h'_u = Σ_v pattern[u, v]·h_v: ``.ntk``
    ``GraphAgg(self_loops=false)``; inputs (N, V, F) with
    ``pattern=(adjacency1, adjacency2)`` (0/1, symmetric)."""
    if aggregate_axis not in (None, 1, (1,), [1]):
        raise _error(f"stax.Aggregate(aggregate_axis={aggregate_axis!r}): ntkc aggregates "
                     f"over the node axis of (N, V, F) graphs only")
    if to_dense is not None:
        raise _error("stax.Aggregate(to_dense=...): ntkc takes dense (N, V, V) patterns only")
    if str(getattr(implementation, "value", implementation)).upper() != "DENSE":
        raise _error(f"stax.Aggregate(implementation={implementation!r}): ntkc takes dense "
                     f"(N, V, V) patterns only (implementation='DENSE')")
    return _atom("Aggregate()", "GraphAgg(self_loops=false)",
                 _keep(_axes("Aggregate", batch_axis, channel_axis)))


# -- activations --------------------------------------------------------------------------
def _act(label, text):
    return _atom(label, text, _keep())


def Relu(do_stabilize=False):
    return _act("Relu()", "Relu")


def ABRelu(a, b, do_stabilize=False):
    return _act("ABRelu()", f"ABRelu(a={_num('ABRelu', 'a', a)}, b={_num('ABRelu', 'b', b)})")


def LeakyRelu(alpha, do_stabilize=False):
    return _act("LeakyRelu()", f"LeakyRelu(alpha={_num('LeakyRelu', 'alpha', alpha)})")


def Abs(do_stabilize=False):
    return _act("Abs()", "Abs")


def _abc(name):
    def layer(a=1.0, b=1.0, c=0.0):
        args = ", ".join(f"{k}={_num(name, k, v)}" for k, v in (("a", a), ("b", b), ("c", c)))
        return _act(f"{name}()", f"{name}({args})")
    layer.__name__ = name
    layer.__doc__ = f"``.ntk`` ``{name}(a, b, c)``."
    return layer


Erf = _abc("Erf")
Sin = _abc("Sin")
Cos = _abc("Cos")


def Sigmoid_like():
    return _act("Sigmoid_like()", "Sigmoid_like")


def Gelu(approximate=False):
    """Gelu. With ``approximate=True`` stax's kernel is still the exact Gelu's,
    which is not the kernel of its tanh-approximated network; ntkc's
    ``Gelu(approximate=true)`` is that network's own kernel (by quadrature),
    about 1e-4 relative from stax's."""
    if approximate:
        return _act("Gelu()", "Gelu(approximate=true)")
    return _act("Gelu()", "Gelu")


def Rbf(gamma=1.0):
    return _act("Rbf()", f"Rbf(gamma={_num('Rbf', 'gamma', gamma)})")


def Monomial(degree):
    return _act("Monomial()", f"Monomial(degree={_width('Monomial', 'degree', degree, 0, '')})")


def RectifiedMonomial(degree):
    d = _width("RectifiedMonomial", "degree", degree, 0, "")
    return _act("RectifiedMonomial()", f"RectifiedMonomial(degree={d})")


def Polynomial(coef):
    coef = tuple(coef)
    if not coef:
        raise _error("stax.Polynomial: coef must hold at least one coefficient")
    text = ("(" + ", ".join(_num("Polynomial", "coef", c) for c in coef)
            + ("," if len(coef) == 1 else "") + ")")
    return _act("Polynomial()", f"Polynomial(coef={text})")


def Exp(a=1.0, b=1.0):
    if a != 1 or b != 1:
        raise _error(f"stax.Exp(a={a!r}, b={b!r}): ntkc has exp(x) only, as "
                     f"Elementwise(fn='exp') (a=1, b=1)")
    return _act("Exp()", 'Elementwise(fn="exp")')


def Elementwise(fn=None, nngp_fn=None, d_nngp_fn=None):
    """A named function, integrated numerically (``.ntk`` ``Elementwise(fn=…)``).
    A Python ``nngp_fn`` has no ``.ntk`` form and is refused."""
    if nngp_fn is not None or d_nngp_fn is not None:
        raise _error("stax.Elementwise(nngp_fn=...): a .ntk file cannot hold a Python kernel "
                     "function; drop nngp_fn and ntkc integrates fn numerically ("
                     + _function_list() + ")")
    return _act("Elementwise()", f'Elementwise(fn="{_function_name(fn, "Elementwise")}")')


def ElementwiseNumerical(fn, deg=None, df=None):
    """``.ntk`` ``Elementwise(fn=…)``: ntkc picks its own quadrature degree
    (``deg`` is stax's Gauss–Hermite degree, a different rule; ``df`` comes
    from JAX's derivative)."""
    return _act("ElementwiseNumerical()",
                f'Elementwise(fn="{_function_name(fn, "ElementwiseNumerical")}")')


def _functions():
    import jax
    import jax.numpy as jnp
    import jax.scipy.special as jss
    import numpy as np
    return [(jnp.tanh, "tanh"), (np.tanh, "tanh"), (jax.nn.sigmoid, "sigmoid"),
            (jax.nn.softplus, "softplus"), (jax.nn.silu, "silu"), (jax.nn.swish, "silu"),
            (jax.nn.elu, "elu"), (jax.nn.selu, "selu"), (jnp.sin, "sin"), (np.sin, "sin"),
            (jnp.cos, "cos"), (np.cos, "cos"), (jnp.exp, "exp"), (np.exp, "exp"),
            (jss.erf, "erf"), (jax.nn.relu, "relu"), (jnp.abs, "abs"), (np.abs, "abs")]


def _function_list() -> str:
    return "fn is one of " + ", ".join(lookup("Elementwise").param("fn").choices)


def _function_name(fn, who) -> str:
    names = lookup("Elementwise").param("fn").choices
    if isinstance(fn, str) and fn in names:
        return fn
    for f, name in _functions():
        if fn is f and name in names:
            return name
    raise _error(f"stax.{who}(fn={getattr(fn, '__name__', fn)!r}): ntkc integrates named "
                 f"functions only; {_function_list()}, or jnp.tanh, jax.nn.sigmoid, ... itself")


# -- combinators -----------------------------------------------------------------------------
def serial(*layers):
    """Layers one after another."""
    specs = tuple(_spec(layer, "serial") for layer in layers)
    return Layer(src.Serial(specs), "serial(" + ", ".join(l.label for l in layers) + ")")


def parallel(*layers):
    """One layer per input (after ``FanOut``)."""
    specs = tuple(_spec(layer, "parallel") for layer in layers)
    return Layer(src.Parallel(specs), "parallel(" + ", ".join(l.label for l in layers) + ")")


def repeat(layer, n):
    """``layer`` n times (``.ntk`` ``repeat n { … }``)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise _error(f"stax.repeat: n must be a whole number >= 1, not {n!r}")
    return Layer(src.Repeat(_spec(layer, "repeat"), n), f"repeat({layer.label}, {n})")


def FanOut(num):
    """``num`` copies of the input, for ``parallel``."""
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise _error(f"stax.FanOut: num must be a whole number >= 1, not {num!r}")
    return Layer(src.FanOut(num), f"FanOut({num})")


def FanInSum():
    """The sum of the inputs: ``.ntk`` ``Sum { branch … }``."""
    return Layer(src.FanIn("FanInSum"), "FanInSum()")


def FanInConcat(axis=-1):
    """Channel concatenation: ``.ntk`` ``Concat { Branch(width=…) { … } … }``
    with the branches' channel counts as weights, as stax."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise _error(f"stax.FanInConcat: axis must be an int, not {axis!r}")
    return Layer(src.FanIn("FanInConcat", axis), "FanInConcat()")


# -- stax layers ntkc lacks ------------------------------------------------------------------
def _missing(name, why):
    def layer(*args, **kwargs):
        raise _error(f"stax.{name} has no ntkc equivalent: {why}")
    layer.__name__ = name
    layer.__doc__ = f"Not in ntkc (an NtkError when called): {why}."
    return layer


Dropout = _missing("Dropout", "ntkc's kernels are those of deterministic networks")
SumPool = _missing("SumPool", "ntkc has AvgPool (a window's mean) and no layer to rescale it "
                              "to a sum")
ConvTranspose = _missing("ConvTranspose", "ntkc has Conv only")
ConvLocal = _missing("ConvLocal", "ntkc has Conv (shared weights) only")
DotGeneral = _missing("DotGeneral", "ntkc has no fixed-tensor products")
ImageResize = _missing("ImageResize", "ntkc has no resizing layer")
Index = _missing("Index", "ntkc has no slicing layer")
Slice = _missing("Slice", "ntkc has no slicing layer")
FanInProd = _missing("FanInProd", "ntkc joins branches by Sum and Concat only")
Gabor = _missing("Gabor", "no such activation in ntkc")
Sign = _missing("Sign", "no such activation in ntkc")
Gaussian = _missing("Gaussian", "no such activation in ntkc")
ExpNormalized = _missing("ExpNormalized", "no such activation in ntkc")
Hermite = _missing("Hermite", "no such activation in ntkc (Polynomial takes its coefficients)")
