"""Source text → syntax tree (``ntkc.ast``), with errors a person can act on."""

from __future__ import annotations

import functools
from pathlib import Path

import lark
from lark import Token, Transformer, v_args

from . import ast
from .errors import At, NtkError


@functools.lru_cache(maxsize=None)
def _parser() -> lark.Lark:
    return lark.Lark(grammar_text(), parser="lalr", propagate_positions=True,
                     maybe_placeholders=True)


def grammar_text() -> str:
    """The grammar, from the installed package or, in a source tree, ``grammar/``."""
    try:
        from importlib.resources import files
        return (files("ntkc.grammar") / "ntk.lark").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        here = Path(__file__).resolve().parent.parent / "grammar" / "ntk.lark"
        return here.read_text(encoding="utf-8")


def _pos(meta_or_token) -> tuple:
    return (meta_or_token.line, meta_or_token.column)


@v_args(meta=True)
class _ToAst(Transformer):
    # expressions
    def number(self, meta, items):
        text = str(items[0])
        value = float(text) if any(ch in text for ch in ".eE") else int(text)
        return ast.Num(value, _pos(meta))

    def string(self, meta, items):
        return ast.Str(str(items[0])[1:-1], _pos(meta))

    def true(self, meta, items):
        return ast.Bool(True, _pos(meta))

    def false(self, meta, items):
        return ast.Bool(False, _pos(meta))

    def name(self, meta, items):
        return ast.Name(str(items[0]), _pos(meta))

    def func(self, meta, items):
        name, args = items
        return ast.Func(str(name), tuple(args or ()), _pos(meta))

    def tuple(self, meta, items):
        first, rest = items
        return ast.Tuple((first,) + tuple(rest or ()), _pos(meta))

    def exprlist(self, meta, items):
        return tuple(items)

    def _binop(op):
        def method(self, meta, items):
            return ast.BinOp(op, items[0], items[1], _pos(meta))
        return method

    add, sub, mul, div = _binop("+"), _binop("-"), _binop("*"), _binop("/")

    def neg(self, meta, items):
        return ast.Neg(items[0], _pos(meta))

    def pos(self, meta, items):
        return items[0]

    # arguments and statements
    def kwarg(self, meta, items):
        return ast.Arg(str(items[0]), items[1], _pos(meta))

    def arglist(self, meta, items):
        return tuple(a if isinstance(a, ast.Arg) else ast.Arg(None, a, a.pos) for a in items)

    def param(self, meta, items):
        return ast.Param(str(items[0]), items[1], _pos(meta))

    def paramlist(self, meta, items):
        return tuple(items)

    def block(self, meta, items):
        return tuple(items)

    def call(self, meta, items):
        name, args, body = items
        return ast.Call(str(name), tuple(args or ()), body, _pos(meta))

    def repeat(self, meta, items):
        return ast.Repeat(items[0], items[1], _pos(meta))

    def input_stmt(self, meta, items):
        return ast.Input(str(items[0]), tuple(items[1] or ()), _pos(meta))

    def let_stmt(self, meta, items):
        return ast.Let(str(items[0]), items[1], _pos(meta))

    def def_stmt(self, meta, items):
        name, params, body = items
        return ast.Def(str(name), tuple(params or ()), body, _pos(meta))

    def net_stmt(self, meta, items):
        return ast.Net(str(items[0]), items[1], _pos(meta))

    def start(self, meta, items):
        return ast.Module(tuple(items))


# Terminal names as a person would say them.
_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string",
    "LPAR": "'('", "RPAR": "')'", "LBRACE": "'{'", "RBRACE": "'}'",
    "COMMA": "','", "EQUAL": "'='", "PLUS": "'+'", "MINUS": "'-'",
    "STAR": "'*'", "SLASH": "'/'", "$END": "the end of the file",
    "INPUT": "'input'", "LET": "'let'", "DEF": "'def'", "NET": "'net'",
    "REPEAT": "'repeat'", "TRUE": "'true'", "FALSE": "'false'",
}


def _describe_token(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    if token.type == "NAME":
        return f"name '{token}'"
    if token.type == "NUMBER":
        return f"number {token}"
    if token.type == "STRING":
        return f"string {token}"
    return f"'{token}'"


_EXPR_START = {"NUMBER", "STRING", "LPAR", "MINUS", "PLUS", "TRUE", "FALSE"}


def _expected_words(expected) -> str:
    expected = set(expected)
    words = []
    if {"NUMBER", "NAME", "LPAR"} <= expected:
        # Everything that can start an expression: say so once.
        expected -= _EXPR_START | {"NAME"}
        words.append("an expression")
    words += sorted({_WORDS.get(t, t.lower()) for t in expected})
    # Keep it readable: the common things first, and not an essay.
    if len(words) > 6:
        words = words[:6] + ["..."]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def parse(source: str, filename: str = "<string>") -> ast.Module:
    """Parse ``.ntk`` source text into an :class:`ntkc.ast.Module`.

    Raises :class:`NtkError` with the position of the first syntax error.
    """
    at = At(filename, source)
    try:
        tree = _parser().parse(source)
        return _ToAst().transform(tree)
    except lark.exceptions.UnexpectedCharacters as e:
        char = source[e.pos_in_stream] if e.pos_in_stream < len(source) else ""
        shown = repr(char) if char.isprintable() else f"character U+{ord(char):04X}" if char else "end of file"
        raise at.error((e.line, e.column), f"unexpected {shown}") from None
    except lark.exceptions.UnexpectedToken as e:
        token = e.token
        if token.type == "$END":
            line, column = _end_position(source)
        else:
            line, column = token.line, token.column
        raise at.error((line, column), f"unexpected {_describe_token(token)}; "
                       f"expected {_expected_words(e.expected)}") from None
    except lark.exceptions.UnexpectedEOF as e:
        raise at.error(_end_position(source),
                       f"unexpected end of file; expected {_expected_words(e.expected)}") from None
    except RecursionError:
        raise at.error((1, 1), "the program nests too deeply to parse") from None


def _end_position(source: str) -> tuple:
    lines = source.splitlines() or [""]
    return (len(lines), len(lines[-1]) + 1)


def read_source(path) -> str:
    """Read a ``.ntk`` file as UTF-8 text, or raise a positioned error."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NtkError(f"no such file", str(path)) from None
    except IsADirectoryError:
        raise NtkError("is a directory, not a .ntk file", str(path)) from None
    except OSError as e:
        raise NtkError(f"cannot read file: {e.strerror}", str(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        column = e.start - (before.rfind(b"\n") + 1) + 1
        raise NtkError(f"the file is not UTF-8 text (byte 0x{data[e.start]:02x})",
                       str(path), line, column) from None
