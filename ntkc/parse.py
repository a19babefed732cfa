"""Source text → syntax tree (``ntkc.ast``), with errors a person can act on.

lark's LALR parser is iterative, so any input parses without touching
Python's recursion limit. Everything after it walks trees recursively, so
:func:`parse` first measures how deeply the program nests (iteratively) and
rejects more than :data:`MAX_DEPTH` levels; the tree is then turned into the
AST by an explicit-stack walk rather than a recursive lark ``Transformer``.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import lark
from lark import Token, Tree

from . import ast
from .errors import At, NtkError

#: Most levels of parentheses, blocks, tuples, calls and operators one
#: construct may nest (``1+2+3`` is two levels: ``+`` is left-associative).
MAX_DEPTH = 100
#: Largest magnitude of any number, written or computed.
MAX_NUMBER = 1e300

# Tree nodes that add a level of nesting.
_NESTING = {"block", "paren", "tuple", "func", "add", "sub", "mul", "div", "neg", "pos"}


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


def parse(source: str, filename: str = "<string>") -> ast.Module:
    """Parse ``.ntk`` source text into an :class:`ntkc.ast.Module`.

    Raises :class:`NtkError` with the position of the first syntax error, of
    the first place nesting deeper than :data:`MAX_DEPTH`, or of a number
    larger than :data:`MAX_NUMBER`.
    """
    if source.startswith("\ufeff"):
        source = source[1:]  # a byte-order mark is not part of the program
    at = At(filename, source)
    try:
        tree = _parser().parse(source)
    except lark.exceptions.UnexpectedCharacters as e:
        raise at.error((e.line, e.column), _unexpected_char(source, e.pos_in_stream)) from None
    except lark.exceptions.UnexpectedToken as e:
        token = e.token
        pos = _end_position(source) if token.type == "$END" else (token.line, token.column)
        raise at.error(pos, f"unexpected {_describe_token(token)}; "
                            f"expected {_expected_words(_accepts(e))}") from None
    except lark.exceptions.UnexpectedEOF as e:
        raise at.error(_end_position(source),
                       f"unexpected end of file; expected {_expected_words(e.expected)}") from None
    try:
        _check_depth(tree, at)
        return _build(tree, at)
    except RecursionError:  # defensive: nothing above recurses
        raise at.error((1, 1), "the program nests too deeply to parse") from None


# -- tree → AST, without recursion -----------------------------------------------
def _check_depth(tree: Tree, at: At) -> None:
    """Raise at the first node (in source order) nested deeper than MAX_DEPTH."""
    todo = [(tree, 0)]
    while todo:
        node, depth = todo.pop()
        if node.data in _NESTING:
            depth += 1
            if depth > MAX_DEPTH:
                raise at.error(_pos(node.meta), f"the program nests more than {MAX_DEPTH} levels "
                                                f"deep here (parentheses, blocks and operators)")
        todo.extend((c, depth) for c in reversed(node.children) if isinstance(c, Tree))


def _build(tree: Tree, at: At) -> ast.Module:
    """Post-order walk with an explicit stack; tokens and None pass through."""
    values: list = []
    todo = [(tree, False)]
    while todo:
        node, ready = todo.pop()
        if not isinstance(node, Tree):
            values.append(node)
        elif ready:
            n = len(node.children)
            items = values[len(values) - n:]
            del values[len(values) - n:]
            values.append(_BUILDERS[node.data](_pos(node.meta), items, at))
        else:
            todo.append((node, True))
            todo.extend((c, False) for c in reversed(node.children))
    (module,) = values
    return module


def _pos(meta) -> tuple:
    # An empty file's tree has no tokens and so no position.
    return (getattr(meta, "line", 1), getattr(meta, "column", 1))


def _number(pos, items, at):
    text = str(items[0])
    if any(ch in text for ch in ".eE"):
        value = float(text)
    elif len(text.lstrip("0")) > 301:  # int() refuses > 4300 digits; stop long before
        value = math.inf
    else:
        value = int(text)
    if not abs(value) <= MAX_NUMBER:
        raise at.error(pos, "number is too large (the limit is 1e300)")
    return ast.Num(value, pos)


def _binop(op):
    return lambda pos, items, at: ast.BinOp(op, items[0], items[1], pos)


def _arglist(pos, items, at):
    return tuple(a if isinstance(a, ast.Arg) else ast.Arg(None, a, a.pos) for a in items)


_BUILDERS = {
    # expressions
    "number": _number,
    "string": lambda pos, items, at: ast.Str(str(items[0])[1:-1], pos),
    "true": lambda pos, items, at: ast.Bool(True, pos),
    "false": lambda pos, items, at: ast.Bool(False, pos),
    "name": lambda pos, items, at: ast.Name(str(items[0]), pos),
    "func": lambda pos, items, at: ast.Func(str(items[0]), tuple(items[1] or ()), pos),
    "tuple": lambda pos, items, at: ast.Tuple((items[0],) + tuple(items[1] or ()), pos),
    "paren": lambda pos, items, at: items[0],
    "exprlist": lambda pos, items, at: tuple(items),
    "add": _binop("+"), "sub": _binop("-"), "mul": _binop("*"), "div": _binop("/"),
    "neg": lambda pos, items, at: ast.Neg(items[0], pos),
    "pos": lambda pos, items, at: items[0],  # unary plus changes nothing
    # arguments and statements
    "kwarg": lambda pos, items, at: ast.Arg(str(items[0]), items[1], pos),
    "arglist": _arglist,
    "param": lambda pos, items, at: ast.DefParam(str(items[0]), items[1], pos),
    "paramlist": lambda pos, items, at: tuple(items),
    "block": lambda pos, items, at: tuple(items),
    "call": lambda pos, items, at: ast.Call(str(items[0]), tuple(items[1] or ()), items[2], pos),
    "repeat": lambda pos, items, at: ast.Repeat(items[0], items[1], pos),
    "input_stmt": lambda pos, items, at: ast.Input(str(items[0]), tuple(items[1] or ()), pos),
    "let_stmt": lambda pos, items, at: ast.Let(str(items[0]), items[1], pos),
    "def_stmt": lambda pos, items, at: ast.Def(str(items[0]), tuple(items[1] or ()), items[2], pos),
    "net_stmt": lambda pos, items, at: ast.Net(str(items[0]), items[1], pos),
    "start": lambda pos, items, at: ast.Module(tuple(items)),
}


# -- syntax errors in plain words -------------------------------------------------
# Terminal names as a person would say them, in the order they are listed.
_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "STRING": "a string",
    "INPUT": "'input'", "LET": "'let'", "DEF": "'def'", "NET": "'net'",
    "REPEAT": "'repeat'", "TRUE": "'true'", "FALSE": "'false'",
    "EQUAL": "'='", "LPAR": "'('", "COMMA": "','", "RPAR": "')'",
    "LBRACE": "'{'", "RBRACE": "'}'",
    "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'",
    "$END": "the end of the file",
}
_EXPR_START = {"NUMBER", "STRING", "NAME", "LPAR", "MINUS", "PLUS", "TRUE", "FALSE"}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH"}
_STATEMENTS = {"INPUT", "LET", "DEF", "NET"}


def _accepts(e) -> set:
    """The tokens that could really come next (lark's ``expected`` can be
    off after LALR default reductions; ``accepts`` replays the parser)."""
    try:
        accepts = set(e.accepts)
    except Exception:  # older lark, or no interactive parser to replay
        accepts = set()
    return accepts or set(e.expected)


def _expected_words(expected) -> str:
    expected = set(expected)
    words = []
    if _EXPR_START <= expected:
        expected -= _EXPR_START
        words.append("an expression")
    if "NAME" in expected and "REPEAT" in expected:
        expected -= {"NAME", "REPEAT"}
        words += ["a layer", "'repeat'"]
    if _STATEMENTS <= expected:
        expected -= _STATEMENTS
        words.append("a statement (input, let, def or net)")
    if _OPERATORS <= expected and expected - _OPERATORS:
        # After a complete operand an operator could always follow; naming all
        # four hides what the person most likely forgot (a ',' or a ')').
        expected -= _OPERATORS
    if len(expected) > 1:
        expected.discard("$END")
    order = list(_WORDS)
    words += [_WORDS[t] for t in sorted(expected, key=lambda t: order.index(t) if t in order else 99)
              if t in _WORDS]
    words += sorted(t.lower() for t in expected if t not in _WORDS)
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


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


def _unexpected_char(source: str, offset) -> str:
    char = source[offset] if offset is not None and 0 <= offset < len(source) else ""
    if char in "\"'":
        return f"unterminated string: it needs a closing {char} on the same line"
    if char == ";":
        return "unexpected ';': statements and layers need no separator"
    if char and char.isprintable() and not char.isspace():
        return f"unexpected character '{char}'"
    if char:
        return f"unexpected character U+{ord(char):04X}"
    return "unexpected end of file"


def _end_position(source: str) -> tuple:
    lines = source.split("\n")
    return (len(lines), len(lines[-1]) + 1)


# -- files ------------------------------------------------------------------------
def decode(data: bytes, filename: str = "<string>") -> str:
    """``.ntk`` bytes → text: UTF-8 (a leading byte-order mark is dropped), or a
    positioned error at the first byte that is not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        column = len(data[start:e.start].decode("utf-8", errors="replace")) + 1
        raise NtkError(f"the file is not UTF-8 text (byte 0x{data[e.start]:02x})",
                       filename, line, column) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_source(path) -> str:
    """Read a ``.ntk`` file as UTF-8 text, or raise a positioned error."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NtkError("no such file", str(path)) from None
    except IsADirectoryError:
        raise NtkError("is a directory, not a .ntk file", str(path)) from None
    except OSError as e:
        raise NtkError(f"cannot read file: {e.strerror}", str(path)) from None
    return decode(data, str(path))
