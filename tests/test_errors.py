"""One test per kind of error in a .ntk file: each asserts the exact line,
column and message, and that it is an NtkError (never another exception)."""

import pytest

import ntkc
from ntkc import NtkError
from ntkc.check import MAX_LAYERS
from ntkc.parse import MAX_DEPTH, decode, read_source

V = "input vector(dim=2)\n"
I = "input image(height=4, width=4, channels=1)\n"
G = "input graph(features=2)\n"


def error(src, net=None, readout=True) -> NtkError:
    with pytest.raises(NtkError) as info:
        ntkc.check_source(src, net, "t.ntk", readout=readout)
    e = info.value
    assert isinstance(e, ValueError) and e.filename == "t.ntk"
    return e


def where(src, net=None):
    e = error(src, net)
    return (e.line, e.column, e.message)


# -- how an error looks ----------------------------------------------------------
def test_rendering_with_source_line_and_caret():
    e = error(V + "net n {\n\tDense(W_std=ww)\n}")
    # The column counts the tab as one character; the shown line expands it.
    assert str(e) == ("t.ntk:3:14: error: undefined name 'ww'\n"
                      "        Dense(W_std=ww)\n"
                      "                    ^")


def test_rendering_without_a_position():
    e = error(V + "net mlp { Dense }", net="cnn")
    assert (e.line, e.column) == (None, None)
    assert str(e) == "t.ntk: error: no net named 'cnn'; the file defines 'mlp'"


def test_rendering_shows_the_right_line_despite_odd_line_breaks():
    # \f, \x1c and U+2028 are line breaks to str.splitlines but not to the parser.
    e = error(V + "# a\x0cb\x1cc\u2028d\nnet n { Dense( }")
    assert (e.line, e.column) == (3, 16)
    assert str(e).splitlines()[1] == "    net n { Dense( }"


# -- syntax errors, in plain words ----------------------------------------------------
@pytest.mark.parametrize("src, line, column, message", [
    (V + "net n { Dense(W_std=1.5 }", 2, 25, "unexpected '}'; expected ',' or ')'"),
    (V + "net n { Dense( }", 2, 16, "unexpected '}'; expected an expression or ')'"),
    (V + "let x 3\nnet n { Dense }", 2, 7, "unexpected number 3; expected '='"),
    (V + "net n { Dense }}", 2, 16,
     "unexpected '}'; expected a statement (input, let, def or net) or the end of the file"),
    (V + "foo", 2, 1,
     "unexpected name 'foo'; expected a statement (input, let, def or net) or the end of the file"),
    (V + "net n { Dense", 2, 14,
     "unexpected end of file; expected a layer, 'repeat', '(', '{' or '}'"),
    (V + "net n { 3 }", 2, 9, "unexpected number 3; expected a layer, 'repeat' or '}'"),
    (V + "let x = (1, 2\nnet n { Dense }", 3, 1, "unexpected 'net'; expected ',' or ')'"),
    (V + "net { Dense }", 2, 5, "unexpected '{'; expected a name"),
    (V + "def f(a b) { Dense }", 2, 9, "unexpected name 'b'; expected '=', ',' or ')'"),
    (V + "net n { repeat { Dense } }", 2, 16, "unexpected '{'; expected an expression"),
    (I + "net n { Conv(kernel=()) }", 2, 22, "unexpected ')'; expected an expression"),
    (V + 'net n { Conv(padding="same) }', 2, 22,
     'unterminated string: it needs a closing " on the same line'),
    (V + "net n { Dense; Relu }", 2, 14, "unexpected ';': statements and layers need no separator"),
    (V + "net n { Dense @ }", 2, 15, "unexpected character '@'"),
    (V + "net n { Dense \x00 }", 2, 15, "unexpected character U+0000"),
])
def test_syntax_errors(src, line, column, message):
    assert where(src) == (line, column, message)


# -- names: layers, arguments, variables, inputs, nets --------------------------------
@pytest.mark.parametrize("src, line, column, message", [
    (V + "net n { Dnese }", 2, 9, "unknown layer 'Dnese'; did you mean 'Dense'?"),
    (V + "net n { relu }", 2, 9, "unknown layer 'relu'; did you mean 'Relu'?"),
    (V + "net n { Foo }", 2, 9, "unknown layer 'Foo'"),
    (V + "def block() { Dense }\nnet n { blok }", 3, 9, "unknown layer 'blok'; did you mean 'block'?"),
    (V + "net n { Dense(W_sd=1) }", 2, 15, "Dense has no argument 'W_sd'; did you mean 'W_std'?"),
    (V + "net n { Dense(alpha=1) }", 2, 15, "Dense has no argument 'alpha' (it takes W_std, b_std, width, parameterization, bias)"),
    (V + "net n { Relu(x=1) }", 2, 14, "Relu takes no arguments"),
    (V + "def a(w) { Dense(W_std=w) }\nnet n { a(v=1) }", 3, 11, "def 'a' has no parameter 'v' (it takes w)"),
    (V + "def a(wide) { Dense(W_std=wide) }\nnet n { a(wdie=1) }", 3, 11,
     "def 'a' has no parameter 'wdie'; did you mean 'wide'?"),
    ("input vectr(dim=2)\nnet n { Dense }", 1, 1,
     "unknown input kind 'vectr'; did you mean 'vector'? (one of vector, sequence, image, graph)"),
])
def test_unknown_names_with_suggestions(src, line, column, message):
    assert where(src) == (line, column, message)


def test_undefined_name():
    assert where(V + "let w = 1\nnet n { Dense(W_std=ww) }") == (
        3, 21, "undefined name 'ww'; did you mean 'w'?")
    # A def body sees lets and its parameters, not its caller's parameters.
    assert where(V + "def a() { Dense(W_std=x) }\ndef b(x) { a }\nnet n { b(1) }") == (
        2, 23, "undefined name 'x' (in def 'a' used on line 3)")


def test_unknown_net_name():
    src = V + "net mlp { Dense }\nnet cnn { Dense }"
    assert where(src, "mpl") == (None, None, "no net named 'mpl'; did you mean 'mlp'?")
    assert where(src, "transformer") == (
        None, None, "no net named 'transformer'; the file defines 'mlp', 'cnn'")


# -- types and values -------------------------------------------------------------------
@pytest.mark.parametrize("src, line, column, message", [
    (V + 'net n { Dense(W_std="a") }', 2, 21, 'W_std of Dense must be a number, not the string "a"'),
    (V + "let t = (1, 2)\nnet n { Dense(W_std=t) }", 3, 21, "W_std of Dense must be a number, not a tuple"),
    (V + "net n { Residual(alpha=true) { Dense } }", 2, 24,
     "alpha of Residual must be a number, not a boolean"),
    (V + "net n { Dense(W_std=-1) }", 2, 21, "W_std of Dense must be at least 0, not -1"),
    (I + 'net n { Conv(kernel=3, padding="full") GlobalAvgPool }', 2, 32,
     'padding of Conv must be one of "same", "valid", "circular", not "full"'),
    (I + "net n { Conv(kernel=2.5) GlobalAvgPool }", 2, 21, "kernel of Conv must be a whole number, not 2.5"),
    (I + "net n { Conv(kernel=7 / 2) GlobalAvgPool }", 2, 21,
     "kernel of Conv must be a whole number, not 3.5"),
    (I + "net n { Conv(kernel=3, stride=0) GlobalAvgPool }", 2, 31, "stride of Conv must be at least 1, not 0"),
    (G + "net n { GraphAgg(self_loops=1) GlobalSumPool }", 2, 29,
     "self_loops of GraphAgg must be true or false, not the number 1"),
    ("input vector(dim=0)\nnet n { Dense }", 1, 18, "dim of input vector must be at least 1, not 0"),
    (V + "net n { repeat 0 { Dense } }", 2, 16, "repeat needs a count of at least 1, not 0"),
    (V + "net n { repeat 2.5 { Dense } }", 2, 16, "repeat needs a whole number, not the number 2.5"),
    (V + 'net n { repeat "a" { Dense } }', 2, 16, 'repeat needs a whole number, not the string "a"'),
    (V + "let x = 1 / 0\nnet n { Dense }", 2, 13, "division by zero"),
    (V + "let x = sqrt(-1)\nnet n { Dense }", 2, 14, "sqrt of a negative number (-1)"),
    (V + "let x = sin(1)\nnet n { Dense }", 2, 9, "unknown function 'sin' (the only function is sqrt)"),
    (V + 'let x = 1 + "a"\nnet n { Dense }', 2, 13, "'+' needs numbers, not the string \"a\""),
    (V + "let x = true * 2\nnet n { Dense }", 2, 9, "'*' needs numbers, not a boolean"),
    (V + 'let x = -"a"\nnet n { Dense }', 2, 9, 'cannot negate the string "a"'),
])
def test_wrong_type_or_value(src, line, column, message):
    assert where(src) == (line, column, message)


# -- arguments: missing, arity, order -----------------------------------------------------
@pytest.mark.parametrize("src, line, column, message", [
    (I + "net n { Conv GlobalAvgPool }", 2, 9, "Conv needs the argument 'kernel'"),
    ("input vector()\nnet n { Dense }", 1, 1, "input vector needs the argument 'dim'"),
    (V + "def a(w) { Dense(W_std=w) }\nnet n { a }", 3, 9, "def 'a' needs a value for parameter 'w'"),
    (V + "net n { Dense(W_std=1, b_std=2, 3) }", 2, 33,
     "a positional argument cannot follow a keyword argument"),
    (V + "net n { Relu(1) }", 2, 14, "Relu takes no arguments but 1 was given"),
    # stax habits: a width first is a positioned error that shows the keyword form
    (V + "net n { Dense(512) Relu Dense }", 2, 15,
     "Dense takes keyword arguments only, e.g. Dense(W_std=…, b_std=…): in stax the first "
     "argument of Dense is an output width, written width=… here (only the standard "
     "parameterization's kernel reads it; finite networks take their width from ntkc verify "
     "--width)"),
    ("input image(height=4, width=4, channels=2)\nnet n { Conv(64, (3, 3)) Relu GlobalAvgPool "
     "Dense }", 2, 14, "Conv takes keyword arguments only, e.g. Conv(kernel=…): in stax the "
     "first argument of Conv is an output width, written width=… here (only the standard "
     "parameterization's kernel reads it; finite networks take their width from ntkc verify "
     "--width)"),
    (V + "net n { Relu(1) }", 2, 14, "Relu takes no arguments but 1 was given"),
    (V + "def blk(w) { Dense(W_std=w) }\nnet n { blk(1, 2) }", 3, 16, "def 'blk' takes 1 argument but 2 were given"),
    (V + "net n { Dense(W_std=sqrt()) }", 2, 21, "sqrt takes 1 argument but 0 were given"),
    (V + "let x = sqrt(1, 2)\nnet n { Dense }", 2, 9, "sqrt takes 1 argument but 2 were given"),
    (V + "net n { Dense(W_std=1, 2) }", 2, 24, "a positional argument cannot follow a keyword argument"),
    (V + "net n { Dense(W_std=1, W_std=2) }", 2, 24, "argument 'W_std' of Dense is given twice"),
    (V + "net n { Erf(1, a=2) }", 2, 16, "argument 'a' of Erf is given twice"),
    (V + "def a(x, x) { Dense }\nnet n { a(1, 2) }", 2, 10, "parameter 'x' appears twice in def 'a'"),
])
def test_arguments_missing_or_wrong_arity(src, line, column, message):
    assert where(src) == (line, column, message)


# -- def recursion and definitions ------------------------------------------------------------
@pytest.mark.parametrize("src, line, column, message", [
    (V + "def a() { a }\nnet n { a }", 2, 11, "def 'a' calls itself (a -> a); recursion is not allowed"),
    (V + "def a() { b }\ndef b() { Relu a }\nnet n { a }", 3, 16,
     "def 'a' calls itself (a -> b -> a); recursion is not allowed"),
    (V + "def a() { Dense }\ndef a() { Relu }\nnet n { a }", 3, 1, "'a' is already defined"),
    (V + "let a = 1\nlet a = 2\nnet n { Dense }", 3, 1, "'a' is already defined"),
    (V + "let Dense = 1\nnet n { Dense }", 2, 1, "'Dense' is a built-in layer and cannot be redefined"),
    (V + "def Relu() { Dense }\nnet n { Dense }", 2, 1, "'Relu' is a built-in layer and cannot be redefined"),
    (V + "net n { Dense }\nnet n { Relu }", 3, 1, "net 'n' is already defined on line 2"),
    (V + "def a() { Dense }\nnet n { a { Relu } }", 3, 9, "def 'a' takes no body"),
])
def test_recursion_and_definitions(src, line, column, message):
    assert where(src) == (line, column, message)


def test_errors_inside_a_def_name_the_use():
    src = V + 'def a(w) { Dense(W_std=w) }\ndef b() { a("x") }\nnet n {\n    b\n}'
    assert where(src) == (2, 24, "W_std of Dense must be a number, not the string \"x\" "
                                 "(in def 'a' used on line 3)")


# -- layers that do not fit their input --------------------------------------------------------
@pytest.mark.parametrize("src, line, column, message", [
    (V + "net n { Conv(kernel=3) }", 2, 9, "Conv needs a sequence or an image, but its input is a vector"),
    (I + "net n { GraphAgg GlobalAvgPool }", 2, 9, "GraphAgg needs a graph, but its input is an image(4x4)"),
    (V + "net n { GlobalAvgPool }", 2, 9, "GlobalAvgPool needs spatial positions or nodes, but its input is a vector"),
    (G + "net n { Flatten }", 2, 9, "Flatten needs a fixed number of positions; a graph's node count varies, "
                                  "so read it out with GlobalSumPool or GlobalAvgPool"),
    (G + "net n { AvgPool(2) GlobalSumPool }", 2, 9,
     "AvgPool needs a sequence or an image, but its input is a graph(nodes)"),
    (I + "net n { Conv(kernel=(3, 3, 3)) GlobalAvgPool }", 2, 9,
     "kernel has 3 entries but the input has 2 spatial axes"),
])
def test_layer_does_not_fit_the_input(src, line, column, message):
    assert where(src) == (line, column, message)


@pytest.mark.parametrize("src, line, column, message", [
    (I + 'net n { Conv(kernel=5, padding="valid") GlobalAvgPool }', 2, 9,
     'Conv window 5 is larger than the input size 4 with padding="valid"'),
    (I + 'net n { Conv(kernel=(2, 5), padding="valid") GlobalAvgPool }', 2, 9,
     'Conv window 5 is larger than the input size 4 with padding="valid"'),
    (I + "net n { AvgPool(window=5) GlobalAvgPool }", 2, 9,
     'AvgPool window 5 is larger than the input size 4 with padding="valid"'),
])
def test_window_larger_than_the_input(src, line, column, message):
    assert where(src) == (line, column, message)


# -- blocks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("src, line, column, message", [
    (V + "net n { Dense Residual { Dense Relu } }", 2, 15,
     "the body of Residual must end in a weight layer (Dense, Conv or SelfAttention) so that it is uncorrelated "
     "with the skip connection, but it ends in Relu (line 2)"),
    (V + "net n { Residual }", 2, 9, "Residual needs a body: Residual { ... }"),
    (V + "net n { Dense Residual { } }", 2, 15, "the body of Residual is empty"),
    (I + "net n { Residual { Conv(kernel=3, stride=2) } GlobalAvgPool }", 2, 9,
     "the body of Residual changes the shape from image(4x4) to image(2x2); "
     "x + alpha·BODY(x) needs them equal"),
    (V + "net n { Dense { Relu } }", 2, 9, "Dense takes no body"),
    (V + "net n { repeat 2 { } }", 2, 9, "the body of repeat is empty"),
    (V + "net n { }", 2, 1, "net 'n' has no layers"),
])
def test_block_errors(src, line, column, message):
    assert where(src) == (line, column, message)


# -- readout, input lines, nets ---------------------------------------------------------------
def test_spatial_or_graph_output_without_a_readout():
    assert where(I + "net n { Conv(kernel=3) }") == (
        2, 1, "net 'n' ends with an image(4x4) output; add a readout "
              "(GlobalAvgPool, GlobalSumPool or Flatten) so it has a kernel")
    assert where(G + "net g { GraphAgg Dense }") == (
        2, 1, "net 'g' ends with a graph(nodes) output; add a readout "
              "(GlobalAvgPool, GlobalSumPool or Flatten) so it has a kernel")


def test_two_input_lines():
    assert where(V + "net n { Dense }\ninput vector(dim=3)") == (
        3, 1, "a file has exactly one input line; the first is on line 1")


def test_no_input_and_no_net():
    assert where("net n { Dense }") == (1, 16, "the file has no input line, e.g. input vector(dim=8)")
    assert where(V + "let a = 1") == (2, 10, "the file defines no net, e.g. net mlp { Dense Relu Dense }")


def test_empty_file_and_only_comments():
    assert where("") == (1, 1, "the file has no input line, e.g. input vector(dim=8)")
    assert where("# nothing here\n") == (2, 1, "the file has no input line, e.g. input vector(dim=8)")
    assert where("   \n\t\n") == (3, 1, "the file has no input line, e.g. input vector(dim=8)")


# -- bytes and files --------------------------------------------------------------------------
def test_non_utf8_bytes():
    with pytest.raises(NtkError) as info:
        decode(b"input vector(dim=2)\nnet n { D\xc3\xa9 \xff }", "t.ntk")
    # The column counts characters (é is one), not bytes.
    assert (info.value.line, info.value.column, info.value.message) == (
        2, 12, "the file is not UTF-8 text (byte 0xff)")


def test_files(tmp_path):
    bad = tmp_path / "bad.ntk"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    for path, message in [(bad, "the file is not UTF-8 text (byte 0x89)"),
                          (tmp_path / "missing.ntk", "no such file"),
                          (tmp_path, "is a directory, not a .ntk file")]:
        with pytest.raises(NtkError) as info:
            read_source(path)
        assert info.value.message == message and info.value.filename == str(path)


def first_invalid_utf8(data: bytes):
    """Index of the first byte that starts an ill-formed UTF-8 sequence (RFC 3629
    table 3-7: lead byte, continuation count, the narrowed second-byte ranges
    that forbid overlongs, surrogates and code points past U+10FFFF), or None."""
    second = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F), 0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}
    i = 0
    while i < len(data):
        b = data[i]
        if b < 0x80:
            i += 1
            continue
        if 0xC2 <= b <= 0xDF:
            n = 1
        elif 0xE0 <= b <= 0xEF:
            n = 2
        elif 0xF0 <= b <= 0xF4:
            n = 3
        else:
            return i  # a stray continuation byte, C0/C1 or F5..FF
        lo, hi = second.get(b, (0x80, 0xBF))
        tail = data[i + 1:i + 1 + n]
        if len(tail) < n or not lo <= tail[0] <= hi or any(not 0x80 <= t <= 0xBF for t in tail[1:]):
            return i
        i += 1 + n
    return None


@pytest.mark.parametrize("seed", range(20))
def test_binary_garbage(seed):
    """Random bytes: a positioned error at the first byte that is not UTF-8
    (line = newlines before it + 1, column = characters before it on its line
    + 1, counted as the bytes that are not continuation bytes); bytes that do
    decode are refused by the parser with a position inside the text."""
    import random
    data = random.Random(seed).randbytes(200)
    bad = first_invalid_utf8(data)
    if bad is None:
        text = decode(data, "g.ntk")
        e = error(text)
        assert 1 <= e.line <= text.count("\n") + 1 and e.column >= 1
        return
    with pytest.raises(NtkError) as info:
        decode(data, "g.ntk")
    start = data.rfind(b"\n", 0, bad) + 1
    column = sum(1 for b in data[start:bad] if not 0x80 <= b <= 0xBF) + 1
    e = info.value
    assert (e.filename, e.line, e.column) == ("g.ntk", data.count(b"\n", 0, bad) + 1, column)
    assert e.message == f"the file is not UTF-8 text (byte 0x{data[bad]:02x})"


@pytest.mark.parametrize("seed", range(10))
def test_text_garbage(seed):
    """Random printable text with line breaks (valid UTF-8, not a program): an
    NtkError positioned inside the text, never another exception."""
    import random
    rng = random.Random(seed)
    alphabet = "abcdefxyz(){}=,.;:#\"' 0123456789\n\tλΣé"
    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 200)))
    e = error(text)
    lines = text.split("\n")
    assert 1 <= e.line <= len(lines)
    assert 1 <= e.column <= len(lines[e.line - 1]) + 1


def test_first_invalid_utf8_reference():
    """The reference validator itself, on the cases its table distinguishes."""
    assert first_invalid_utf8("aé€𝄞".encode()) is None
    for data, at in [(b"ab\x80", 2), (b"a\xc3", 1), (b"\xc0\xaf", 0), (b"\xe0\x80\x80", 0),
                     (b"\xed\xa0\x80", 0), (b"\xf4\x90\x80\x80", 0), (b"x\xe2\x82", 1),
                     (b"\xff", 0), (b"\xe2\x82\xac\xc3(", 3)]:
        assert first_invalid_utf8(data) == at, data
        with pytest.raises(UnicodeDecodeError) as info:
            data.decode("utf-8")
        assert info.value.start == at, data


# -- huge numbers -------------------------------------------------------------------------------
@pytest.mark.parametrize("src, line, column, message", [
    (V + "let x = 1e400\nnet n { Dense }", 2, 9, "number is too large (the limit is 1e300)"),
    (V + "let x = " + "9" * 5000 + "\nnet n { Dense }", 2, 9, "number is too large (the limit is 1e300)"),
    (V + "let x = 1e200 * 1e200\nnet n { Dense }", 2, 9, "number is too large (the limit is 1e300)"),
    (V + "let x = " + "9" * 300 + " * 10\nnet n { Dense }", 2, 9, "number is too large (the limit is 1e300)"),
    ("input vector(dim=3000000000)\nnet n { Dense }", 1, 18, "dim of input vector must be at most 2147483647"),
    (I + "net n { Conv(kernel=1e12) GlobalAvgPool }", 2, 21, "kernel of Conv must be at most 2147483647"),
    (V + "net n { repeat 100000 { Dense } }", 2, 16, f"repeat 100000 would make more than {MAX_LAYERS} layers"),
    (V + "net n { repeat 5001 { Dense Relu } }", 2, 23, f"the network has more than {MAX_LAYERS} layers"),
], ids=lambda v: v[-40:] if isinstance(v, str) and len(v) > 60 else None)
def test_huge_numbers(src, line, column, message):
    assert where(src) == (line, column, message)


def test_exactly_the_layer_limit_is_fine():
    assert len(ntkc.check_source(V + "net n { repeat 5000 { Dense Relu } }").layers) == MAX_LAYERS


def test_defs_that_expand_to_nothing_cannot_hang():
    # 2**40 expansions of an empty def: stopped by the step limit, not by the clock.
    defs = "".join(f"def d{i}() {{ d{i + 1} d{i + 1} }}\n" for i in range(40)) + "def d40() { }\n"
    e = error(V + defs + "net n { Dense d0 }")
    assert e.message.startswith("the net takes more than 100000 def expansions and repeat rounds")
    # Repeating a body that makes no layers stops after one round.
    src = V + "def e() { }\nnet n { Dense repeat 10000 { repeat 10000 { repeat 10000 { e } } } }"
    assert len(ntkc.check_source(src).layers) == 1


# -- deep nesting: an NtkError, never a RecursionError ---------------------------------------------
DEEP = f"the program nests more than {MAX_DEPTH} levels deep here (parentheses, blocks and operators)"


@pytest.mark.parametrize("expr, column", [
    ("(" * 5000 + "1" + ")" * 5000, 9 + MAX_DEPTH),          # the 101st '('
    ("-" * 5000 + "1", 9 + MAX_DEPTH),                        # the 101st '-'
    ("1" + " + 1" * 5000, 9),                                 # + chains nest to the left
    ("(1," * 3000 + "1" + ")" * 3000, 9 + 3 * MAX_DEPTH),
    ("sqrt(" * 3000 + "4" + ")" * 3000, 9 + 5 * MAX_DEPTH),
], ids=["parentheses", "minus", "sum-chain", "tuples", "sqrt"])
def test_deep_expressions(expr, column):
    assert where(V + f"let x = {expr}\nnet n {{ Dense }}") == (2, column, DEEP)


def test_deep_bodies():
    head = V + "net n { Dense "  # the net's '{' is the first level
    residuals = head + "Residual { " * 2000 + "Dense " + "}" * 2001
    assert where(residuals) == (2, 15 + 11 * (MAX_DEPTH - 1) + 9, DEEP)
    repeats = head + "repeat 1 { " * 2000 + "Dense " + "}" * 2001
    assert where(repeats) == (2, 15 + 11 * (MAX_DEPTH - 1) + 9, DEEP)


def test_nesting_just_below_the_limit_works():
    n = MAX_DEPTH - 1
    src = V + "net n { Dense " + "Residual { Dense " * n + "}" * (n + 1)
    node, depth = ntkc.check_source(src).layers[1], 1
    while node.bodies:
        node, depth = node.bodies[0][-1], depth + 1
    assert depth == n + 1 and node.layer == "Dense"
    assert ntkc.check_source(V + f"let x = {'(' * n}2{')' * n}\nnet n {{ Dense(W_std=x) }}"
                             ).layers[0].kwargs["W_std"] == 2.0


def test_deep_def_chains():
    # Each def is shallow, but the expansion nests: bodies and def calls share one limit.
    defs = "".join(f"def d{i}() {{ Residual {{ d{i + 1} }} }}\n" for i in range(300))
    e = error(V + defs + "def d300() { Dense }\nnet n { Dense d0 }")
    assert e.message.startswith("layer bodies and def calls nest more than 100 levels deep here")
    defs = "".join(f"def d{i}() {{ d{i + 1} }}\n" for i in range(3000))
    e = error(V + defs + "def d3000() { Dense }\nnet n { d0 }")
    assert e.message.startswith("layer bodies and def calls nest more than 100 levels deep here")
