"""Generated programs and mutated sources.

* Random *valid* programs are built as syntax trees from every construct of
  the language (input kinds, lets of numbers/strings/booleans/tuples,
  arithmetic and sqrt, defs with defaults that see earlier parameters and
  calls whose arguments are evaluated in the caller's scope, repeat, several
  nets, Residual bodies, layers with and without arguments). While building
  one, the generator also works out, by itself, the layers it must lower to
  (every argument's value, defaults filled in). Then:
  - round trip: ``parse(format(ast)) == ast`` up to positions, and both lower
    to the same checked net;
  - reference: the checker's lowering equals the generator's.
* Random mutations (characters and tokens deleted, inserted, swapped,
  replaced) of valid sources must lower or raise ``NtkError`` — nothing else.

The generator draws through a tiny ``Pick`` interface, so the same code runs
under hypothesis (shrinkable) and under ``random.Random`` (fast, for the long
``slow`` fuzz run).
"""

import math
import random
import re
import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ntkc
from conftest import EXAMPLES, GOLDEN
from ntkc import ast
from ntkc.check import check, net_names
from ntkc.format import format_module
from ntkc.parse import decode, parse
from ntkc.registry import lookup

P0 = (0, 0)  # generated trees have no real positions


# -- drawing ---------------------------------------------------------------------------
class RandomPick:
    def __init__(self, rng):
        self.rng = rng

    def int(self, lo, hi):
        return self.rng.randint(lo, hi)

    def choice(self, seq):
        return self.rng.choice(list(seq))

    def float(self, lo, hi):
        return self.rng.uniform(lo, hi)


class HypothesisPick:
    def __init__(self, draw):
        self.draw = draw

    def int(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def choice(self, seq):
        return self.draw(st.sampled_from(list(seq)))

    def float(self, lo, hi):
        return self.draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False))


def num(v):
    return ast.Num(v, P0)


def name(n):
    return ast.Name(n, P0)


def binop(op, a, b):
    return ast.BinOp(op, a, b, P0)


def call(layer, args=(), body=None):
    return ast.Call(layer, tuple(ast.Arg(k, v, P0) for k, v in args), body, P0)


def defaults(layer):
    return {p.name: p.default for p in lookup(layer).params}


# -- the generator -----------------------------------------------------------------------
class Generator:
    """Builds one valid Module and the layers each of its nets lowers to.

    Expected layers are ``(layer, {arg: value}, bodies)`` with every argument
    (defaults included) and bodies as tuples of such lists.
    """

    PREFIXES = ("w", "b", "k", "net_", "input2", "repeats", "true_", "defs", "_h", "letx")

    def __init__(self, pick):
        self.p = pick
        self.names = set()
        self.env = {}         # let name -> value (numbers, strings, booleans, tuples)
        self.defs = []        # (name, expand(pa, pb) -> expected layers)

    def fresh(self):
        while True:
            n = self.p.choice(self.PREFIXES) + str(self.p.int(0, 999))
            if n not in self.names:
                self.names.add(n)
                return n

    # expressions with known values ------------------------------------------------------
    def float_expr(self, env, depth=2):
        """A positive number: (expr, value), value computed here the way Python does."""
        c = self.p.int(0, 8 if depth > 0 else 2)
        numeric = [n for n, v in env.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                   and v > 0]
        if c == 2 and numeric:
            n = self.p.choice(sorted(numeric))
            return name(n), env[n]
        if c <= 2:
            if self.p.int(0, 1):
                v = self.p.int(1, 4)
            else:
                v = self.p.float(0.05, 4.0)
            return num(v), v
        a, va = self.float_expr(env, depth - 1)
        b, vb = self.float_expr(env, depth - 1)
        if c == 3:
            return binop("+", a, b), va + vb
        if c == 4:
            return binop("*", a, b), va * vb
        if c == 5:
            return binop("/", a, b), va / vb
        if c == 6:
            return ast.Func("sqrt", (a,), P0), math.sqrt(va)
        if c == 7:  # (a + b) - b ≥ 0: rounding is monotonic
            return binop("-", binop("+", a, b), b), (va + vb) - vb
        return ast.Neg(ast.Neg(a, P0), P0), va

    def int_expr(self, k):
        """An expression worth the whole number k ≥ 1."""
        c = self.p.int(0, 5)
        same = [n for n, v in self.env.items() if type(v) is int and v == k]
        if c == 1 and same:
            return name(self.p.choice(sorted(same)))
        if c == 2 and k >= 2:
            a = self.p.int(1, k - 1)
            return binop("+", num(a), num(k - a))
        if c == 3:
            return binop("/", num(2 * k), num(2))     # the float 2k/2, a whole number
        if c == 4:
            return ast.Neg(ast.Neg(num(k), P0), P0)
        if c == 5:
            return binop("*", num(1), num(k))
        return num(k)

    def str_expr(self, s):
        same = [n for n, v in self.env.items() if v == s and isinstance(v, str)]
        if same and self.p.int(0, 1):
            return name(self.p.choice(sorted(same)))
        return ast.Str(s, P0)

    def bool_expr(self, b):
        same = [n for n, v in self.env.items() if v is b]
        if same and self.p.int(0, 1):
            return name(self.p.choice(sorted(same)))
        return ast.Bool(b, P0)

    # statements ---------------------------------------------------------------------------
    def lets(self):
        out = []
        for _ in range(self.p.int(0, 3)):
            n = self.fresh()
            kind = self.p.int(0, 5)
            if kind <= 2:
                e, v = self.float_expr(self.env)
            elif kind == 3:
                v = self.p.int(1, 3)
                e = num(v)
            elif kind == 4:
                v = self.p.choice(["same", "valid", "circular", "sum", "mean"])
                e = ast.Str(v, P0)
            else:
                v = bool(self.p.int(0, 1))
                e = ast.Bool(v, P0)
            self.env[n] = v
            out.append(ast.Let(n, e, P0))
        return out

    def make_def(self):
        """def NAME(pa, pb=DEFAULT) { Dense(W_std=pa, b_std=pb) [Relu|Erf] [an earlier def(pa)] }"""
        n, pa, pb = self.fresh(), self.fresh(), self.fresh()
        half = self.p.int(0, 1)
        if half:
            default = binop("/", name(pa), num(2))   # sees the parameter before it
        else:
            default, dv = self.float_expr(self.env, 1)
        act = self.p.choice(["", "Relu", "Erf"])
        inner = self.p.choice(self.defs) if self.defs and self.p.int(0, 1) else None
        body = [call("Dense", [("W_std", name(pa)), ("b_std", name(pb))])]
        if act:
            body.append(call(act))
        if inner:
            body.append(call(inner[0], [(None, name(pa))]))   # evaluated in this def's scope

        def expand(va, vb=None):
            vb = (va / 2 if half else dv) if vb is None else vb
            out = [("Dense", {**defaults("Dense"), "W_std": va, "b_std": vb}, ())]
            if act:
                out.append((act, defaults(act), ()))
            if inner:
                out += inner[1](va)
            return out

        stmt = ast.Def(n, (ast.DefParam(pa, None, P0), ast.DefParam(pb, default, P0)), tuple(body), P0)
        self.defs.append((n, expand))
        return stmt

    def def_call(self):
        n, expand = self.p.choice(self.defs)
        ea, va = self.float_expr(self.env, 1)
        form = self.p.int(0, 4)
        if form == 0:
            return call(n, [(None, ea)]), expand(va)
        eb, vb = self.float_expr(self.env, 1)
        d = next(s for s in self.def_stmts if s.name == n)
        pa, pb = d.params[0].name, d.params[1].name
        args = [[(None, ea), (None, eb)], [(pa, ea), (pb, eb)], [(pb, eb), (pa, ea)],
                [(None, ea), (pb, eb)]][form - 1]
        return call(n, args), expand(va, vb)

    # layers by shape -------------------------------------------------------------------------
    def weight(self, layer, extra=()):
        args, values = [], defaults(layer)
        for key, value in extra:
            values[key] = value[1]
            args.append((key, value[0]))
        for p in ("W_std", "b_std"):
            if self.p.int(0, 1):
                e, v = self.float_expr(self.env)
                args.append((p, e))
                values[p] = v
        # Dense and Conv take keywords only (a positional first argument is a
        # stax width there): tests/test_errors.py checks that error.
        return call(layer, args), (layer, values, ())

    def activation(self):
        layer = self.p.choice(["Relu", "Erf"])
        if layer == "Erf" and self.p.int(0, 1):
            e, v = self.float_expr(self.env)
            values = defaults("Erf")
            values["b"] = v
            return call("Erf", [("b", e)]), ("Erf", values, ())
        return call(layer), (layer, defaults(layer), ())

    def conv_same(self, shape):
        sizes = shape[1]
        k = self.p.int(1, 3)
        if len(sizes) == 2 and self.p.int(0, 1):
            kernel = (ast.Tuple((self.int_expr(k), self.int_expr(1)), P0), (k, 1))
        else:
            kernel = (self.int_expr(k), k)
        extra = [("kernel", kernel)]
        if self.p.int(0, 1):
            extra.append(("padding", (self.str_expr("same"), "same")))
        return self.weight("Conv", extra)

    def unit(self, shape):
        """A weight layer and an activation: an activation's input must be
        Gaussian, i.e. come from a weight layer (not the raw input, not
        another activation)."""
        if shape[0] in ("image", "sequence") and self.p.int(0, 1):
            a, x = self.conv_same(shape)
        else:
            a, x = self.weight("Dense")
        b, y = self.activation()
        return [a, b], [x, y]

    def preserving(self, shape, depth):
        """A layer (or Residual, def call, repeat) that keeps the shape."""
        kind = shape[0]
        c = self.p.int(0, 6 if depth < 2 else 3)
        if c == 0:
            a, x = self.weight("Dense")
            return [a], [x]
        if c == 1:
            return self.unit(shape)
        if c == 2 and self.defs:
            a, xs = self.def_call()
            return [a], xs
        if c == 3:
            if kind in ("image", "sequence"):
                a, x = self.conv_same(shape)
            elif kind == "graph":
                loops, norm = bool(self.p.int(0, 1)), self.p.choice(["sum", "mean"])
                a = call("GraphAgg", [("self_loops", self.bool_expr(loops)), ("norm", self.str_expr(norm))])
                x = ("GraphAgg", {"self_loops": loops, "norm": norm}, ())
            else:
                a, x = self.weight("Dense")
            return [a], [x]
        if c in (4, 5):  # Residual: an optional activation, then a weight layer
            body, expected = self.unit(shape) if self.p.int(0, 1) else ([], [])
            inner, more = self.items(shape, depth + 1, 0, 2)
            body += inner
            expected += more
            if kind in ("image", "sequence") and self.p.int(0, 1):
                a, x = self.conv_same(shape)
            else:
                a, x = self.weight("Dense")
            body.append(a)
            expected.append(x)
            alpha = self.p.int(0, 2)
            if alpha == 0:
                return [call("Residual", body=tuple(body))], [("Residual", {"alpha": 1.0}, (expected,))]
            e, v = self.float_expr(self.env)
            arg = [("alpha", e)] if alpha == 1 else [(None, e)]
            return [call("Residual", arg, tuple(body))], [("Residual", {"alpha": v}, (expected,))]
        n = self.p.int(1, 3)
        body, expected = self.items(shape, depth + 1, 1, 3)
        return [ast.Repeat(self.int_expr(n), tuple(body), P0)], expected * n

    def items(self, shape, depth, lo, hi):
        out, expected = [], []
        for _ in range(self.p.int(lo, hi)):
            a, x = self.preserving(shape, depth)
            out += a
            expected += x
        return out, expected

    def changing(self, shape):
        """A Conv or AvgPool that may change spatial sizes: (item, expected, new shape)."""
        kind, sizes = shape
        if self.p.int(0, 1):  # Conv
            padding = self.p.choice(["same", "valid", "circular"])
            ks = [self.p.int(1, min(3, s)) for s in sizes]
            stride = self.p.int(1, 2)
            outs = [(n - k) // stride + 1 if padding == "valid" else -(-n // stride)
                    for n, k in zip(sizes, ks)]
            kernel = ks[0] if len(set(ks)) == 1 and self.p.int(0, 1) else tuple(ks)
            kexpr = self.int_expr(kernel) if isinstance(kernel, int) else \
                ast.Tuple(tuple(self.int_expr(k) for k in kernel), P0)
            extra = [("kernel", (kexpr, kernel)), ("stride", (self.int_expr(stride), stride)),
                     ("padding", (self.str_expr(padding), padding))]
            a, x = self.weight("Conv", extra)
            return a, x, (kind, tuple(outs))
        w = self.p.int(1, min(2, *sizes))
        outs = tuple((n - w) // w + 1 for n in sizes)
        return (call("AvgPool", [("window", self.int_expr(w))]),
                ("AvgPool", {"window": w, "stride": None, "padding": "valid"}, ()), (kind, outs))

    def net_body(self, shape):
        out, expected = [], []
        if shape[0] != "vector":
            for _ in range(self.p.int(0, 3)):
                if shape[0] in ("image", "sequence") and self.p.int(0, 2) == 0:
                    a, x, shape = self.changing(shape)
                    out.append(a)
                    expected.append(x)
                else:
                    more, xs = self.preserving(shape, 0)
                    out += more
                    expected += xs
            readouts = ["GlobalAvgPool", "GlobalSumPool"] + (["Flatten"] if shape[0] != "graph" else [])
            r = self.p.choice(readouts)
            out.append(call(r))
            expected.append((r, {}, ()))
            shape = ("vector", ())
        more, xs = self.items(shape, 0, 0 if out else 1, 3)
        return out + more, expected + xs

    def module(self):
        kind = self.p.choice(["vector", "sequence", "image", "graph"])
        if kind == "vector":
            inp, shape = ast.Input("vector", (ast.Arg("dim", num(self.p.int(1, 9)), P0),), P0), ("vector", ())
        elif kind == "sequence":
            t = self.p.int(1, 9)
            inp = ast.Input("sequence", (ast.Arg("length", num(t), P0), ast.Arg("channels", num(2), P0)), P0)
            shape = ("sequence", (t,))
        elif kind == "image":
            h, w = self.p.int(1, 7), self.p.int(1, 7)
            inp = ast.Input("image", (ast.Arg(None, num(h), P0), ast.Arg(None, num(w), P0),
                                      ast.Arg(None, num(3), P0)), P0)
            shape = ("image", (h, w))
        else:
            inp, shape = ast.Input("graph", (ast.Arg("features", num(4), P0),), P0), ("graph", ())
        stmts = self.lets()
        self.def_stmts = [self.make_def() for _ in range(self.p.int(0, 2))]
        stmts += self.def_stmts
        stmts.insert(self.p.int(0, len(stmts)), inp)   # the input line may be anywhere
        nets = {}
        for _ in range(self.p.int(1, 2)):
            n = self.fresh()
            body, expected = self.net_body(shape)
            stmts.append(ast.Net(n, tuple(body), P0))
            nets[n] = expected
        return ast.Module(tuple(stmts)), nets


def generate(pick):
    return Generator(pick).module()


@st.composite
def programs(draw):
    return generate(HypothesisPick(draw))


# -- the properties --------------------------------------------------------------------------
def simple(nodes):
    return [(n.layer, n.kwargs, tuple(simple(b) for b in n.bodies)) for n in nodes]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_generated_programs_round_trip_and_lower_as_built(program):
    module, nets = program
    # Round trip: print, reparse, same tree, same lowered nets, and printing is idempotent.
    source = format_module(module)
    reparsed = parse(source, "gen.ntk")
    assert ast.erase_positions(reparsed) == ast.erase_positions(module)
    assert format_module(reparsed) == source
    for name, expected in nets.items():
        checked = check(module, name)
        assert check(reparsed, name, "gen.ntk", source).lowered() == checked.lowered()
        # Reference: the layers and argument values the generator worked out itself.
        assert simple(checked.layers) == [_normal(x) for x in expected]
    assert check(module).name == list(nets)[-1]


def _normal(x):
    layer, args, bodies = x
    return (layer, args, tuple([_normal(y) for y in body] for body in bodies))


# -- mutations ---------------------------------------------------------------------------------
TOKEN = re.compile(r"\s+|#[^\n]*|\"[^\"\n]*\"|'[^'\n]*'|\d+\.?\d*(?:[eE][+-]?\d+)?|\w+|.", re.S)
CHARS = list("(){}=,+-*/#\"'.\n \t0123456789eE_aZ;@") + ["\x00", "é", "\u2028", "\r", "\ufeff", "\x0c"]
VOCAB = ["input", "let", "def", "net", "repeat", "true", "false", "sqrt", "Dense", "Relu", "Conv",
         "Residual", "GraphAgg", "GlobalAvgPool", "Flatten", "AvgPool", "Erf", "vector", "image",
         "graph", "sequence", "kernel", "stride", "padding", "W_std", "alpha", "dim", '"valid"',
         '"circular"', "'mean'", "0", "-1", "2.5", "1e400", "9" * 400, "1e-400", "(", ")", "{", "}",
         ",", "=", "-", "/", "*", "+", "(" * 150, "{" * 150, "repeat 10000 {", "Residual {",
         "x", "# comment\n", "\n", "(3, 3)", "()", "(1,)", "10000", "2147483648"]


VALUES = ["0", "1", "-1", "2.5", "1e400", "1e-400", "99999999999", "2147483648", "x", "w",
          '"same"', "'valid'", "true", "(1, 2)", "(3,)", "sqrt(2)", "1 / 0", "-(2)", "k * 2",
          "(1, 2, 3)", "((1, 2), 3)", '"tanh"', "(0.5, -1, 2)", "1e300", "0.0"]
NAMES = ["Dense", "Relu", "Conv", "Residual", "GraphAgg", "Flatten", "GlobalSumPool", "AvgPool",
         "Erf", "Dnese", "kernel", "stride", "padding", "window", "W_std", "b_std", "alpha",
         "self_loops", "norm", "dim", "channels", "height", "vector", "image", "graph", "sequence",
         "Sum", "Concat", "Branch", "Identity", "JumpingKnowledge", "Tap", "coef", "degree", "fn"]


def mutate(source, rng, count):
    """Apply `count` random character or token edits. Edits 8 and 9 keep the
    syntax (a number or a name replaced by another), to reach the checker."""
    for _ in range(count):
        how = rng.randrange(10)
        if how >= 8:
            tokens = TOKEN.findall(source)
            spots = [i for i, t in enumerate(tokens) if (t[:1].isdigit() if how == 8 else
                                                         t[:1].isalpha() or t[:1] == "_")]
            if spots:
                tokens[rng.choice(spots)] = rng.choice(VALUES if how == 8 else NAMES + tokens)
            source = "".join(tokens)
            continue
        if how < 4:
            i = rng.randrange(len(source) + 1)
            if how == 0 and source:                       # delete a character
                source = source[:i] + source[i + 1:]
            elif how == 1:                                # insert a character
                source = source[:i] + rng.choice(CHARS) + source[i:]
            elif how == 2 and len(source) > 1:            # swap neighbours
                i = min(i, len(source) - 2)
                source = source[:i] + source[i + 1] + source[i] + source[i + 2:]
            else:                                         # cut the rest
                source = source[:i]
        else:
            tokens = TOKEN.findall(source)
            if not tokens:
                tokens = [""]
            i, j = rng.randrange(len(tokens)), rng.randrange(len(tokens))
            if how == 4:                                  # delete a token
                del tokens[i]
            elif how == 5:                                # duplicate a token
                tokens.insert(j, tokens[i])
            elif how == 6:                                # swap two tokens
                tokens[i], tokens[j] = tokens[j], tokens[i]
            else:                                         # replace a token
                tokens[i] = rng.choice(VOCAB)
            source = "".join(tokens)
    return source


BRANCHING = """input graph(features=3)
net g {
    Dense(W_std=1.5)
    JumpingKnowledge {
        Tap
        GraphAgg(norm="mean") Dense Relu Dense Tap
        Sum { Identity Branch(width=2) { Relu Dense } }
        Concat { Dense Branch { Dense Relu Dense } } Tap
    }
    GlobalSumPool
    Dense Polynomial(coef=(0.5, 1, 0.25)) Dense Elementwise(fn="tanh")
}
"""


def corpus():
    """Every example and golden file, and one using the branching layers
    and tuple/string-argument activations, when they are registered."""
    files = sorted(EXAMPLES.glob("*.ntk")) + sorted(GOLDEN.glob("**/*.ntk"))
    sources = [f.read_text(encoding="utf-8") for f in files]
    if all(lookup(n) for n in ("JumpingKnowledge", "Sum", "Concat", "Polynomial", "Elementwise")):
        sources.append(BRANCHING)
    return sources


def lower_or_error(source) -> str:
    """'ok' or 'error: <message>'; anything but NtkError propagates and fails the test.
    Checks every net (by name) and the default, with and without a readout."""
    try:
        module = parse(source, "m.ntk")
        names = net_names(module)
        for name in names or [None]:
            check(module, name, "m.ntk", source)
        check(module, None, "m.ntk", source, readout=False)
        reparsed = parse(format_module(module))   # anything that parses prints and reparses
        assert ast.erase_positions(reparsed) == ast.erase_positions(module)
        return "ok"
    except ntkc.NtkError as e:
        if e.line is not None:  # the position is inside the source (end of file included)
            lines = source.split("\n")
            assert 1 <= e.line <= len(lines), (e.line, len(lines))
            assert 1 <= e.column <= len(lines[e.line - 1]) + 1, (e.column, lines[e.line - 1])
        str(e)  # renders
        return "error: " + e.message


_CORPUS = corpus()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.booleans())
def test_mutations_lower_or_raise_ntk_error(seed, count, generated):
    rng = random.Random(seed)
    if generated:
        module, _ = generate(RandomPick(rng))
        source = format_module(module)
    else:
        source = rng.choice(_CORPUS)
    lower_or_error(mutate(source, rng, count))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(data):
    try:
        source = decode(data, "b.ntk")
    except ntkc.NtkError:
        return
    lower_or_error(source)


def _kind(outcome):
    """Group error messages by their wording, without the names and numbers in them."""
    if outcome == "ok":
        return "lowered"
    return re.sub(r"'[^']*'|\"[^\"]*\"|-?\d[\w.+-]*", "_", outcome)[:70]


@pytest.mark.slow
def test_long_mutation_fuzz(capsys):
    """≥ 20,000 mutated sources (corpus files and generated programs, 1–6 edits each);
    prints how many lowered and which errors the rest raised."""
    rng = random.Random(20261123)
    total, outcomes, start = 25_000, Counter(), time.time()
    for i in range(total):
        if i % 2:
            source = format_module(generate(RandomPick(rng))[0])
        else:
            source = rng.choice(_CORPUS)
        outcomes[_kind(lower_or_error(mutate(source, rng, rng.choice([1, 1, 2, 3, 6]))))] += 1
    with capsys.disabled():
        print(f"\nfuzz: {total} mutated sources in {time.time() - start:.0f} s; "
              f"{outcomes['lowered']} lowered, {total - outcomes['lowered']} NtkError, 0 other exceptions")
        for kind, n in outcomes.most_common(25):
            print(f"  {n:6d}  {kind}")
    # Anything but NtkError, or an error positioned outside its source, has
    # already failed the test in lower_or_error. What is left to check is that
    # the fuzz reached every stage: some mutants still lower (the edits are
    # not all fatal), and the rest fail in the parser, in name resolution and
    # in argument checking, with many distinct messages.
    assert 0.03 * total < outcomes["lowered"] < 0.5 * total, outcomes["lowered"]
    kinds = " | ".join(outcomes)
    for stage in ("error: unexpected", "error: unknown layer", "error: undefined name",
                  "error: the file has no input line", "needs numbers"):
        assert stage in kinds, stage
    assert len(outcomes) > 100, len(outcomes)
