"""One test per syntax construct of the .ntk language, each asserting the
lowered form (layers, their evaluated arguments with defaults filled in, the
shapes they produce) or the syntax tree it parses to."""

import math

import pytest

import ntkc
from ntkc import ast
from ntkc.check import CheckedNet
from ntkc.format import format_module
from ntkc.parse import decode, parse
from ntkc.shapes import Shape


def lowered(src, net=None, readout=True):
    """[(layer, {args}, output shape)] with a 4th entry, the lowered bodies, for block layers."""
    checked = ntkc.check_source(src, net, "t.ntk", readout=readout)

    def simple(nodes):
        out = []
        for n in nodes:
            row = (n.layer, n.kwargs, n.out_shape.describe())
            out.append(row + (tuple(simple(b) for b in n.bodies),) if n.bodies else row)
        return out
    return simple(checked.layers)


# width/parameterization/bias: the standard-parameterization arguments, at their defaults
PZ = {"width": None, "parameterization": "ntk", "bias": True}
DENSE = {"W_std": 1.0, "b_std": 0.0, **PZ}


def dense(w=1.0, b=0.0, shape="vector"):
    return ("Dense", {"W_std": w, "b_std": b, **PZ}, shape)


RELU = ("Relu", {}, "vector")


# -- comments and layout ---------------------------------------------------------
def test_comments_anywhere_change_nothing():
    src = ("# a file comment\n"
           "input vector(dim=3)   # trailing, with { braces } and \"quotes\"\n"
           "# net fake { Conv }\n"
           "net n {  # after a brace\n"
           "    Dense(W_std=2.0, # inside arguments\n"
           "          b_std=0.5)\n"
           "    # Relu\n"
           "}\n"
           "# the end, with no newline after it")
    assert lowered(src) == [dense(2.0, 0.5)]
    # Positions still count the comment lines.
    assert ntkc.check_source(src).layers[0].pos == (5, 5)


def test_whitespace_and_newlines_are_free():
    one_line = "input vector(dim=3) net n { Dense Relu Dense(W_std = 2) }"
    spread = "input\nvector\n(\ndim\n=\n3\n)\nnet\nn\n{\nDense\n\tRelu\r\nDense(W_std=2)}"
    assert lowered(one_line) == lowered(spread) == [dense(), RELU, dense(2.0)]


def test_crlf_line_endings_keep_positions():
    src = "input vector(dim=3)\r\nnet n {\r\n    Dense\r\n}\r\n"
    assert ntkc.check_source(src).layers[0].pos == (3, 5)


def test_byte_order_mark_is_dropped():
    text = decode(b"\xef\xbb\xbfinput vector(dim=3)\nnet n { Dense }")
    assert text.startswith("input")
    assert lowered(text) == [dense()]


# -- input kinds -------------------------------------------------------------------
@pytest.mark.parametrize("line, shape", [
    ("vector(dim=8)", Shape("vector", (), 8)),
    ("vector(8)", Shape("vector", (), 8)),
    ("sequence(length=10, channels=3)", Shape("sequence", (10,), 3)),
    ("image(height=6, width=5, channels=2)", Shape("image", (6, 5), 2)),
    ("image(channels=2, width=5, height=6)", Shape("image", (6, 5), 2)),
    ("graph(features=4)", Shape("graph", (None,), 4)),
])
def test_input_kinds(line, shape):
    readout = "" if shape.kind == "vector" else "GlobalSumPool"
    checked = ntkc.check_source(f"input {line}\nnet n {{ Dense {readout} }}")
    shape = shape.with_width(shape.channels)  # the input's width is its channel count
    assert checked.input == shape
    # Dense without width= leaves the width unknown (only a standard layer needs it)
    assert checked.layers[0].in_shape == shape
    assert checked.layers[0].out_shape == shape.with_width(None)
    assert checked.output.kind == "vector" and checked.output.spatial == ()


def test_input_may_come_after_the_net():
    assert lowered("net n { Dense }\ninput vector(dim=2)") == [dense()]


# -- let: numbers, arithmetic, tuples, strings, booleans, sqrt ---------------------
@pytest.mark.parametrize("expr, value", [
    ("1.5", 1.5), ("2", 2.0), (".5", 0.5), ("2.", 2.0), ("1e-3", 1e-3), ("1E2", 100.0),
    ("1 + 2 * 3", 7.0), ("(1 + 2) * 3", 9.0), ("2 - 3 - 4 + 10", 5.0), ("8 / 4 / 2", 1.0),
    ("7 / 2", 3.5), ("-3 + 5", 2.0), ("- -2", 2.0), ("+2", 2.0), ("-(1 - 3)", 2.0),
    ("sqrt(2)", math.sqrt(2)), ("sqrt(2 * 8)", 4.0), ("sqrt(2) * sqrt(2)", math.sqrt(2) ** 2),
    ("((((3))))", 3.0), ("1.5e2 / 100", 1.5),
])
def test_let_arithmetic(expr, value):
    src = f"input vector(dim=2)\nlet w = {expr}\nnet n {{ Dense(W_std=w) }}"
    assert lowered(src) == [dense(value)]
    assert isinstance(lowered(src)[0][1]["W_std"], float)


def test_let_sees_earlier_lets():
    src = ("input vector(dim=2)\nlet a = 2\nlet b = a * 3\nlet c = sqrt(b + a * 5)\n"
           "net n { Dense(W_std=c, b_std=b / 12) }")
    assert lowered(src) == [dense(4.0, 0.5)]


def test_ints_stay_ints_and_division_gives_floats():
    # 4 / 2 is the float 2.0; a whole float is accepted where a whole number is needed.
    src = ("input sequence(length=9, channels=1)\nlet k = 1 + 2\nlet s = 4 / 2\n"
           "net n { Conv(kernel=k, stride=s, padding=\"valid\") GlobalAvgPool }")
    (conv, pool) = ntkc.check_source(src).layers
    assert conv.kwargs["kernel"] == 3 and type(conv.kwargs["kernel"]) is int
    assert conv.kwargs["stride"] == 2 and type(conv.kwargs["stride"]) is int
    assert conv.out_shape == Shape("sequence", (4,), 1)  # (9 - 3) // 2 + 1


def test_tuples():
    src = ("input image(height=7, width=6, channels=1)\nlet k = (3, 2)\n"
           "net n { Conv(kernel=k, stride=(2, 1,), padding=\"valid\") Conv(kernel=(1, 1)) Flatten }")
    assert lowered(src) == [
        ("Conv", {"kernel": (3, 2), "stride": (2, 1), "padding": "valid", **DENSE}, "image(3x5)"),
        ("Conv", {"kernel": (1, 1), "stride": 1, "padding": "same", **DENSE}, "image(3x5)"),
        ("Flatten", {}, "vector"),
    ]


def test_one_element_tuple_on_a_sequence():
    src = "input sequence(length=5, channels=2)\nnet n { Conv(kernel=(3,)) GlobalAvgPool }"
    assert lowered(src)[0] == ("Conv", {"kernel": (3,), "stride": 1, "padding": "same", **DENSE},
                               "sequence(5)")
    assert parse(src).statements[1].body[0].args[0].value == ast.Tuple(
        (ast.Num(3, (2, 22)),), (2, 21))


def test_strings_with_either_quote():
    src = ("input image(height=4, width=4, channels=1)\nlet p = 'circular'\n"
           "net n { Conv(kernel=3, padding=p) Conv(kernel=2, padding=\"valid\") GlobalAvgPool }")
    assert [row[1]["padding"] for row in lowered(src)[:2]] == ["circular", "valid"]
    assert lowered(src)[1][2] == "image(3x3)"


def test_booleans():
    src = ("input graph(features=3)\nlet loops = false\n"
           "net g { GraphAgg(self_loops=loops) GraphAgg(self_loops=true, norm=\"mean\") GlobalSumPool }")
    assert lowered(src) == [
        ("GraphAgg", {"self_loops": False, "norm": "sum"}, "graph(nodes)"),
        ("GraphAgg", {"self_loops": True, "norm": "mean"}, "graph(nodes)"),
        ("GlobalSumPool", {}, "vector"),
    ]


def test_keywords_may_start_names():
    src = ("input vector(dim=2)\nlet network = 2\nlet inputs = 3\nlet true_w = 1\n"
           "let repeats = 1\nnet nets { repeat repeats { Dense(W_std=network, b_std=true_w) } }")
    assert lowered(src) == [dense(2.0, 1.0)]


# -- def: parameters, defaults, scoping ----------------------------------------------
DEFS = """input vector(dim=2)
let w = 1.0
def blk(w=2.0, b=w / 4) {
    Dense(W_std=w, b_std=b)
}
def outer(x) {
    blk(x * 2)
    Relu
}
"""


@pytest.mark.parametrize("use, expected", [
    ("blk", [dense(2.0, 0.5)]),                    # b's default sees the parameter w
    ("blk()", [dense(2.0, 0.5)]),
    ("blk(3.0)", [dense(3.0, 0.75)]),              # positional
    ("blk(b=0.1)", [dense(2.0, 0.1)]),
    ("blk(b=0.1, w=4)", [dense(4.0, 0.1)]),        # keywords in any order
    ("blk(1, b=w)", [dense(1.0, 1.0)]),            # args evaluated in the caller's scope
    ("outer(1.5)", [dense(3.0, 0.75), RELU]),      # x * 2 evaluated inside outer
    ("outer(x=w)", [dense(2.0, 0.5), RELU]),
])
def test_def_parameters_and_defaults(use, expected):
    assert lowered(DEFS + f"net n {{ {use} }}") == expected


def test_def_layers_remember_where_they_were_used():
    src = DEFS + "net n {\n    outer(1)\n}"
    d, r = ntkc.check_source(src).layers
    assert d.pos == (4, 5) and d.via == ((11, 5), (7, 5))   # outer used on 11, blk in outer on 7
    assert r.pos == (8, 5) and r.via == ((11, 5),)


def test_def_with_trailing_comma_and_no_params():
    src = "input vector(dim=2)\ndef a(k,) { Dense(W_std=k) }\ndef b() { Relu }\nnet n { a(2,) b }"
    assert lowered(src) == [dense(2.0), RELU]


def test_def_sees_lets_defined_later():
    # Lets are evaluated in order; defs and nets are lowered after the whole file is read.
    src = "input vector(dim=2)\ndef a() { Dense(W_std=late) }\nnet n { a }\nlet late = 3"
    assert lowered(src) == [dense(3.0)]


# -- several nets ----------------------------------------------------------------------
NETS = ("input vector(dim=2)\nnet first { Dense }\nnet second { Dense Relu Dense }\n"
        "net third { Dense(W_std=2) Erf Dense }")


def test_the_default_net_is_the_last():
    assert ntkc.check_source(NETS).name == "third"
    assert lowered(NETS) == [dense(2.0), ("Erf", {"a": 1.0, "b": 1.0, "c": 0.0}, "vector"), dense()]


def test_a_net_is_picked_by_name():
    assert lowered(NETS, "first") == [dense()]
    assert lowered(NETS, "second") == [dense(), RELU, dense()]


# -- repeat ------------------------------------------------------------------------------
@pytest.mark.parametrize("count", ["3", "n", "n + 1 - 1", "6 / 2", "3.0"])
def test_repeat_counts(count):
    src = f"input vector(dim=2)\nlet n = 3\nnet m {{ repeat {count} {{ Dense Relu }} Dense }}"
    assert lowered(src) == [dense(), RELU] * 3 + [dense()]


def test_nested_repeat_and_repeat_of_def():
    src = ("input vector(dim=2)\ndef d(w) { Dense(W_std=w) }\n"
           "net m { repeat 2 { Dense Relu repeat 3 { d(2) } } }")
    assert lowered(src) == ([dense(), RELU] + [dense(2.0)] * 3) * 2


# -- layers with and without parentheses, positional arguments, defaults ----------------
def test_layers_with_and_without_parentheses():
    assert lowered("input vector(dim=2)\nnet n { Dense Relu() Dense() Relu }") == [
        dense(), RELU, dense(), RELU]


def test_positional_layer_arguments_and_trailing_comma():
    assert lowered("input vector(dim=2)\nnet n { Dense(W_std=2, b_std=0.5) Dense(W_std=3, b_std=1,) }") == [
        dense(2.0, 0.5), dense(3.0, 1.0)]


def test_erf_defaults():
    assert lowered("input vector(dim=2)\nnet n { Dense Erf Dense Erf(b=2) }")[1::2] == [
        ("Erf", {"a": 1.0, "b": 1.0, "c": 0.0}, "vector"),
        ("Erf", {"a": 1.0, "b": 2.0, "c": 0.0}, "vector")]


# -- Residual bodies ----------------------------------------------------------------------
def test_residual_with_alpha_and_body():
    src = "input vector(dim=2)\nnet n { Dense Residual(alpha=0.5) { Relu Dense(W_std=2) } }"
    assert lowered(src) == [dense(), ("Residual", {"alpha": 0.5}, "vector", ([RELU, dense(2.0)],))]


def test_residual_without_parentheses_and_nested():
    src = ("input vector(dim=2)\nnet n { Dense Residual { Relu Dense Residual(0.1) { Dense } } }")
    inner = ("Residual", {"alpha": 0.1}, "vector", ([dense()],))
    assert lowered(src) == [dense(), ("Residual", {"alpha": 1.0}, "vector", ([RELU, dense(), inner],))]


def test_residual_on_images_keeps_the_shape():
    src = ("input image(height=5, width=5, channels=2)\n"
           "net n { Conv(kernel=3) Residual(alpha=0.5) { Relu Conv(kernel=3) } GlobalAvgPool }")
    (res,) = [n for n in ntkc.check_source(src).layers if n.layer == "Residual"]
    assert res.in_shape == res.out_shape == Shape("image", (5, 5), 2)
    assert [b.layer for b in res.bodies[0]] == ["Relu", "Conv"]


# -- shapes through Conv / AvgPool ------------------------------------------------------------
@pytest.mark.parametrize("layer, out", [
    ('Conv(kernel=3, padding="same")', "image(8x7)"),
    ('Conv(kernel=3, padding="valid")', "image(6x5)"),
    ('Conv(kernel=3, padding="circular")', "image(8x7)"),
    ('Conv(kernel=3, stride=2)', "image(4x4)"),                     # ceil(8/2), ceil(7/2)
    ('Conv(kernel=(3, 2), stride=(3, 2), padding="valid")', "image(2x3)"),
    ("AvgPool(window=2)", "image(4x3)"),                            # stride defaults to the window
    ("AvgPool(window=2, stride=1)", "image(7x6)"),
    ('AvgPool(window=3, stride=2, padding="same")', "image(4x4)"),
    ("GlobalAvgPool", "vector"), ("GlobalSumPool", "vector"), ("Flatten", "vector"),
])
def test_spatial_shapes(layer, out):
    src = f"input image(height=8, width=7, channels=1)\nnet n {{ {layer} }}"
    assert ntkc.check_source(src, readout=False).layers[0].out_shape.describe() == out


def test_readout_false_allows_a_spatial_output():
    checked = ntkc.check_source("input sequence(length=4, channels=1)\nnet n { Conv(kernel=2) }",
                                readout=False)
    assert checked.output == Shape("sequence", (4,), 1)


# -- the syntax tree, its positions, and the printer ------------------------------------------
def test_ast_positions():
    m = parse('input vector(dim=2)\nlet a = 1 + 2 * b\nnet n {\n  Dense(W_std=-a)\n}')
    inp, let, net = m.statements
    assert inp == ast.Input("vector", (ast.Arg("dim", ast.Num(2, (1, 18)), (1, 14)),), (1, 1))
    assert let.value == ast.BinOp("+", ast.Num(1, (2, 9)),
                                  ast.BinOp("*", ast.Num(2, (2, 13)), ast.Name("b", (2, 17)), (2, 13)),
                                  (2, 9))
    (call,) = net.body
    assert call.pos == (4, 3) and call.args[0].value == ast.Neg(ast.Name("a", (4, 16)), (4, 15))


def test_format_is_canonical_and_round_trips():
    src = ("input vector(dim=2)  # c\nlet a=-(1+2)*-3-(4-5)/(6*7)\nlet t=((1,),'x\"y',true)\n"
           "def d(p,q=sqrt(2)){Residual(alpha=p){Dense(W_std=q)}}\nnet n{Dense repeat 2{d(1)}Relu()}")
    printed = format_module(parse(src))
    assert printed == (
        "input vector(dim=2)\n"
        "let a = -(1 + 2) * -3 - (4 - 5) / (6 * 7)\n"
        "let t = ((1,), 'x\"y', true)\n"
        "\n"
        "def d(p, q=sqrt(2)) {\n"
        "    Residual(alpha=p) {\n"
        "        Dense(W_std=q)\n"
        "    }\n"
        "}\n"
        "\n"
        "net n {\n"
        "    Dense\n"
        "    repeat 2 {\n"
        "        d(1)\n"
        "    }\n"
        "    Relu\n"
        "}\n")
    assert ast.erase_positions(parse(printed)) == ast.erase_positions(parse(src))
    assert ntkc.check_source(printed).lowered() == ntkc.check_source(src).lowered()


def test_lowered_ignores_positions_but_not_meaning():
    a = ntkc.check_source("input vector(dim=2)\nnet n { Dense }")
    b = ntkc.check_source("input vector(dim=2)\n\n\nnet n {\n Dense(W_std=1.0, b_std=0) }")
    c = ntkc.check_source("input vector(dim=2)\nnet n { Dense(W_std=1.1) }")
    assert isinstance(a, CheckedNet) and a.layers[0].pos != b.layers[0].pos
    assert a.lowered() == b.lowered() != c.lowered()


# -- the language reference ----------------------------------------------------------------------
_TYPES = {"float": "number", "int": "whole number", "bool": "true/false", "str": "string",
          "ints": "whole number or tuple (one per spatial axis)", "floats": "number or tuple of numbers"}


def _doc_row(rule) -> str:
    """The docs/language.md §7 table row for a registered layer."""
    def arg(p):
        text = f"`{p.name}`"
        if not p.required:
            d = p.default
            d = ("window" if p.name == "stride" else "auto") if d is None else \
                f'"{d}"' if isinstance(d, str) else {True: "true", False: "false"}.get(d, d) \
                if isinstance(d, bool) else d
            text += f"={d}"
        kind = " \\| ".join(f'"{c}"' if isinstance(c, str) else str(c) for c in p.choices) \
            if p.choices else _TYPES[p.type]
        bounds = ([f"≥ {p.low:g}"] if p.low is not None else []) + \
            ([f"> {p.above:g}"] if p.above is not None else [])
        return text + " (" + ", ".join([kind] + bounds) + ")"
    args = "; ".join(arg(p) for p in rule.params) or "—"
    return f"| `{rule.name}` | {rule.role} | {args} | {rule.doc.replace('|', chr(92) + '|')} |"


def test_the_reference_documents_every_registered_layer():
    from conftest import ROOT
    from ntkc.registry import all_layers
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip().strip("`") for line in text.splitlines() if line.startswith("| `")}
    missing = [rule for name, rule in all_layers().items() if name not in rows]
    assert not missing, ("docs/language.md §7 lacks rows; add (and describe any new rule in §6):\n"
                         + "\n".join(_doc_row(r) for r in missing))
    # Every argument of every layer is named in its row.
    for name, rule in all_layers().items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert all(f"`{p.name}`" in row for p in rule.params), name
