"""A sweep of stax's own test configurations through both front ends:
``ntkc.stax`` against the same network hand-written in ``.ntk``.

The grids are those of neural-tangents' ``tests/stax`` (``stax_test.py``'s
test_exact, test_layernorm and test_pool, the activations of
``elementwise_test.py``, the fan-in layers of ``branching_test.py``), written
anew: inputs (N, 8, 6, 2) or their (N, 96) flattening, W_std = √2,
b_std = √0.5, filters (2, 1) and (3, 2), strides (1, 2) and (2, 1), paddings
SAME/VALID/CIRCULAR, optional AvgPool((2, 3)) and residual branch, Flatten /
global pool / attention readouts. Channels-last only (ntkc.stax takes NHWC).
Configurations that use what ntkc lacks (CIRCULAR pooling, SumPool,
normalize_edges with SAME, LayerNorm over spatial axes, attention before
SelfAttention exists) must raise an NtkError naming it. A representative
subset runs by default, the whole grid under ``-m slow``.
"""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

import ntkc
from ntkc import stax
from ntkc.registry import lookup

W, B = 2.0**0.5, 0.5**0.5
WIDTH = 64
LETS = "let w = sqrt(2)\nlet b = sqrt(0.5)\n"
IMAGE = "input image(height=8, width=6, channels=2)\n"
VECTOR = "input vector(dim=96)\n"


def _tuple(t):
    return "(" + ", ".join(map(str, t)) + ")"


# -- stax_test.py: test_exact and test_layernorm -------------------------------------------
def _exact(model, padding, strides, filt, pooling, res, proj, layer_norm=None):
    """(stax net, .ntk text or None, expected error words or None)."""
    conv = model == "conv"
    if conv:
        def affine():
            return stax.Conv(WIDTH, filt, strides, padding, W_std=W, b_std=B)
        affine_text = (f'Conv(kernel={_tuple(filt)}, stride={_tuple(strides)}, '
                       f'padding="{padding.lower()}", W_std=w, b_std=b)')
    else:
        def affine():
            return stax.Dense(WIDTH, W_std=W, b_std=B, parameterization="ntk")
        affine_text = "Dense(W_std=w, b_std=b)"
    pool_padding = "SAME" if padding == "SAME" else "CIRCULAR"
    if pooling and pool_padding == "CIRCULAR":
        return (lambda: stax.AvgPool((2, 3), None, pool_padding)), None, "CIRCULAR"
    pool = stax.AvgPool((2, 3), None, pool_padding) if pooling else stax.Identity()
    pool_text = 'AvgPool(window=(2, 3), stride=(1, 1), padding="same")' if pooling else ""
    if layer_norm not in (None, "C"):
        axis = tuple("NHWC".index(c) for c in layer_norm)
        return (lambda: stax.serial(affine(), stax.LayerNorm(axis=axis))[2](np.ones((1, 8, 6, 2)))
                ), None, "LayerNorm"
    norm = stax.LayerNorm(axis=-1) if layer_norm else stax.Identity()
    unit = stax.serial(affine(), pool)
    if res:
        block = stax.serial(affine(), stax.FanOut(2), stax.parallel(stax.Identity(), unit),
                            stax.FanInSum(), norm, stax.Relu())
        block_text = f"{affine_text} Residual {{ {affine_text} {pool_text} }}"
    else:
        block = stax.serial(affine(), unit, norm, stax.Relu())
        block_text = f"{affine_text} {affine_text} {pool_text}"
    block_text += (" LayerNorm" if layer_norm else "") + " Relu"
    if proj == "ATTN":
        def attention():
            return stax.GlobalSelfAttention(WIDTH, WIDTH, 8, 8, W_key_std=W, W_value_std=W,
                                            W_query_std=W, W_out_std=1.0, b_std=B)
        if lookup("SelfAttention") is None:
            return attention, None, "SelfAttention"
        project = stax.serial(attention(), stax.Flatten())
        proj_text = ('SelfAttention(mechanism="softmax", W_query_std=w, W_key_std=w, '
                     'W_value_std=w, W_out_std=1.0, b_std=b) Flatten')
    elif proj == "FLAT":
        project, proj_text = stax.Flatten(), "Flatten"
    else:
        project, proj_text = stax.GlobalAvgPool(), "GlobalAvgPool"
    net = stax.serial(block, project, stax.Dense(1, W_std=W, b_std=B))
    text = (IMAGE if conv else VECTOR) + LETS + f"net n {{ {block_text} {proj_text} Dense(W_std=w, b_std=b) }}"
    return net, text, None


def _exact_grid():
    out = []
    for padding, strides, filt, pooling, proj in itertools.product(
            ("SAME", "VALID", "CIRCULAR"), ((1, 2), (2, 1)), ((2, 1), (3, 2)), (False, True),
            ("FLAT", "POOL", "ATTN")):
        out.append(("conv", padding, strides, filt, pooling, False, proj))
    # residual convolutions need a shape-keeping unit: stride 1, not VALID (stax skips the rest)
    for padding, filt, pooling, proj in itertools.product(
            ("SAME", "CIRCULAR"), ((2, 1), (3, 2)), (False, True), ("FLAT", "POOL")):
        out.append(("conv", padding, (1, 1), filt, pooling, True, proj))
    for res in (False, True):
        out.append(("fc", "SAME", (1, 1), (1, 1), False, res, "FLAT"))
    return out


EXACT = _exact_grid()
LAYERNORM = ([("fc", "C"), ("fc", "NC")]
             + [("conv", ln) for ln in ("C", "HC", "CHW", "NC", "NWC", "NCHW")])


# -- stax_test.py: test_pool ----------------------------------------------------------------
def _pool(pool_type, padding, filt, strides, normalize_edges):
    def make_pool():
        if pool_type == "SUM":
            return stax.SumPool(filt, strides, padding)
        return stax.AvgPool(filt, strides, padding, normalize_edges=normalize_edges)
    if pool_type == "SUM":
        return make_pool, None, "SumPool"
    if padding == "CIRCULAR":
        return make_pool, None, "CIRCULAR"
    if normalize_edges and padding == "SAME":
        return make_pool, None, "normalize_edges"

    def conv():
        return stax.Conv(WIDTH, filt, None, "SAME", W_std=W, b_std=B)
    net = stax.serial(conv(), stax.Relu(), make_pool(), conv(), stax.Relu(), stax.GlobalAvgPool(),
                      stax.Dense(1, W_std=W, b_std=B))
    conv_text = f'Conv(kernel={_tuple(filt)}, stride=1, padding="same", W_std=w, b_std=b)'
    pool_text = f'AvgPool(window={_tuple(filt)}, stride={_tuple(strides)}, padding="{padding.lower()}")'
    text = (IMAGE + LETS + f"net n {{ {conv_text} Relu {pool_text} {conv_text} Relu GlobalAvgPool "
            f"Dense(W_std=w, b_std=b) }}")
    return net, text, None


POOL = list(itertools.product(("AVG", "SUM"), ("SAME", "VALID", "CIRCULAR"), ((2, 1), (3, 2)),
                              ((1, 2), (2, 1)), (True, False)))

# -- elementwise_test.py: activations in an FC net ------------------------------------------
ACTIVATIONS = [
    (stax.Relu(), "Relu"), (stax.Abs(), "Abs"), (stax.Erf(), "Erf"),
    (stax.Erf(2.0, 0.5, 0.3), "Erf(a=2.0, b=0.5, c=0.3)"), (stax.Sigmoid_like(), "Sigmoid_like"),
    (stax.Gelu(), "Gelu"), (stax.Gelu(approximate=True), "Gelu(approximate=true)"),
    (stax.Sin(1.0, 0.5, 0.2), "Sin(a=1.0, b=0.5, c=0.2)"), (stax.Cos(), "Cos"),
    (stax.Rbf(0.5), "Rbf(gamma=0.5)"), (stax.Rbf(2.0), "Rbf(gamma=2.0)"),
    (stax.ABRelu(-0.5, 0.7), "ABRelu(a=-0.5, b=0.7)"), (stax.ABRelu(1.0, 1.0), "ABRelu(a=1, b=1)"),
    (stax.LeakyRelu(0.1), "LeakyRelu(alpha=0.1)"), (stax.LeakyRelu(-0.5), "LeakyRelu(alpha=-0.5)"),
    *[(stax.Monomial(d), f"Monomial(degree={d})") for d in range(4)],
    *[(stax.RectifiedMonomial(d), f"RectifiedMonomial(degree={d})") for d in range(4)],
    (stax.Polynomial([0.5]), "Polynomial(coef=(0.5,))"),
    (stax.Polynomial([1.0, -0.5, 0.3]), "Polynomial(coef=(1.0, -0.5, 0.3))"),
    (stax.ElementwiseNumerical(jnp.tanh, deg=25), 'Elementwise(fn="tanh")'),
    (stax.Elementwise(jnp.sin), 'Elementwise(fn="sin")'),
]


def _activation(i):
    layer, text = ACTIVATIONS[i]
    net = stax.serial(stax.Dense(WIDTH, W, B), layer, stax.Dense(WIDTH, W, B), layer,
                      stax.Dense(1, W))
    return net, (VECTOR + LETS + f"net n {{ Dense(W_std=w, b_std=b) {text} "
                 f"Dense(W_std=w, b_std=b) {text} Dense(W_std=w) }}"), None


# -- branching_test.py: fan-in layers ------------------------------------------------------------
def _branching(case):
    d = stax.Dense(WIDTH, W, B)
    if case == "sum3":
        net = stax.serial(d, stax.FanOut(3),
                          stax.parallel(stax.Dense(WIDTH, 1.1), stax.Identity(),
                                        stax.serial(stax.Relu(), stax.Dense(WIDTH, 1.2, 0.1))),
                          stax.FanInSum(), stax.Relu(), stax.Dense(1))
        body = ("Dense(W_std=w, b_std=b) Sum { Dense(W_std=1.1) Identity "
                "Branch { Relu Dense(W_std=1.2, b_std=0.1) } } Relu Dense")
    elif case == "concat_widths":
        net = stax.serial(d, stax.FanOut(2),
                          stax.parallel(stax.serial(stax.Relu(), stax.Dense(3 * WIDTH, 1.3)),
                                        stax.Dense(WIDTH, 0.9, 0.2)),
                          stax.FanInConcat(), stax.Dense(1))
        body = ("Dense(W_std=w, b_std=b) Concat { Branch(width=3) { Relu Dense(W_std=1.3) } "
                "Dense(W_std=0.9, b_std=0.2) } Dense")
    elif case == "nested":
        inner = stax.serial(stax.FanOut(2), stax.parallel(stax.Identity(),
                                                          stax.serial(stax.Relu(), d)),
                            stax.FanInSum())
        net = stax.serial(d, stax.FanOut(2), stax.parallel(inner, stax.Dense(WIDTH, 1.1)),
                          stax.FanInConcat(), stax.Dense(1))
        body = ("Dense(W_std=w, b_std=b) Concat { Branch { Residual { Relu "
                "Dense(W_std=w, b_std=b) } } Dense(W_std=1.1) } Dense")
    elif case == "concat_spatial_axis":
        net = stax.serial(stax.Conv(WIDTH, (2, 2)), stax.FanOut(2),
                          stax.parallel(stax.Identity(), stax.Conv(WIDTH, (1, 1))),
                          stax.FanInConcat(axis=1), stax.Flatten(), stax.Dense(1))
        return (lambda: net[2](np.ones((1, 8, 6, 2)))), None, "axis=1"
    return net, VECTOR + LETS + f"net n {{ {body} }}", None


BRANCHING = ["sum3", "concat_widths", "nested", "concat_spatial_axis"]

CONFIGS = ([("exact", c) for c in EXACT] + [("layernorm", c) for c in LAYERNORM]
           + [("pool", c) for c in POOL] + [("activation", i) for i in range(len(ACTIVATIONS))]
           + [("branching", c) for c in BRANCHING])
BUILD = {"exact": lambda c: _exact(*c),
         "layernorm": lambda c: _exact(c[0], "SAME", (1, 2), (2, 1), False, False, "FLAT", c[1]),
         "pool": lambda c: _pool(*c), "activation": _activation, "branching": _branching}

# the default suite: every grid's errors (cheap) and one in every few of the rest
DEFAULT = {0, 9, 21, 40, 52, 74, 82, 85, 86, 87}


def _params():
    out = []
    for i, (grid, c) in enumerate(CONFIGS):
        cheap = BUILD[grid](c)[1] is None
        slow = not (cheap or i in DEFAULT or grid == "branching"
                    or (grid == "activation" and c % 5 == 0))
        out.append(pytest.param(grid, c, id=f"{grid}-{c}",
                                marks=[pytest.mark.slow] if slow else []))
    return out


@pytest.mark.parametrize("grid, config", _params())
def test_stax_config_through_both_front_ends(grid, config):
    net, text, error = BUILD[grid](config)
    if error is not None:
        with pytest.raises(ntkc.NtkError, match=error):
            net()
        return
    rng = np.random.default_rng(0)
    shape = (8, 6, 2) if text.startswith("input image") else (96,)
    x1 = np.cos(rng.normal(size=(2,) + shape))
    x2 = 2 * np.cos(rng.normal(size=(3,) + shape))
    ours = net[2](x1, x2, None)
    hand = ntkc.compile(text)(x1, x2, get=None)
    for field in ("nngp", "ntk"):
        a, b = np.asarray(getattr(ours, field)), np.asarray(getattr(hand, field))
        assert np.max(np.abs(a - b)) <= 1e-10 * np.max(np.abs(b)), (field, net.to_ntk((2,) + shape))
