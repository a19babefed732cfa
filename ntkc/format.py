"""Syntax tree → canonical ``.ntk`` source (the inverse of :func:`ntkc.parse.parse`).

``parse(format_module(m))`` gives back ``m`` up to source positions and
comments: operators get parentheses exactly where the grammar needs them
(``+ -`` bind looser than ``* /``, both are left-associative, unary minus
binds tighter than both), numbers are printed so they read back bit for bit
(``repr`` of a float), layers without arguments are printed without
parentheses, and bodies are indented by four spaces.
"""

from __future__ import annotations

import math

from . import ast

INDENT = "    "
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_UNARY, _ATOM = 3, 4


def format_module(module: ast.Module) -> str:
    """The whole file: statements in order, a blank line before each def and net."""
    out = []
    for stmt in module.statements:
        if out and isinstance(stmt, (ast.Def, ast.Net)):
            out.append("")
        out.append(format_statement(stmt))
    return "\n".join(out) + "\n"


def format_statement(stmt) -> str:
    if isinstance(stmt, ast.Input):
        return f"input {stmt.kind}({_args(stmt.args)})"
    if isinstance(stmt, ast.Let):
        return f"let {stmt.name} = {format_expr(stmt.value)}"
    if isinstance(stmt, ast.Def):
        params = ", ".join(p.name if p.default is None else f"{p.name}={format_expr(p.default)}"
                           for p in stmt.params)
        return f"def {stmt.name}({params}) " + _block(stmt.body, 0)
    if isinstance(stmt, ast.Net):
        return f"net {stmt.name} " + _block(stmt.body, 0)
    raise TypeError(f"not a statement: {stmt!r}")


def _block(items, depth: int) -> str:
    if not items:
        return "{}"
    inner = INDENT * (depth + 1)
    lines = [inner + _item(item, depth + 1) for item in items]
    return "{\n" + "\n".join(lines) + "\n" + INDENT * depth + "}"


def _item(item, depth: int) -> str:
    if isinstance(item, ast.Repeat):
        return f"repeat {format_expr(item.count)} " + _block(item.body, depth)
    if isinstance(item, ast.Call):
        text = item.name + (f"({_args(item.args)})" if item.args else "")
        return text if item.body is None else text + " " + _block(item.body, depth)
    raise TypeError(f"not a layer or repeat: {item!r}")


def _args(args) -> str:
    return ", ".join(format_expr(a.value) if a.name is None else f"{a.name}={format_expr(a.value)}"
                     for a in args)


def _precedence(e) -> int:
    if isinstance(e, ast.BinOp):
        return _PRECEDENCE[e.op]
    if isinstance(e, ast.Neg) or (isinstance(e, ast.Num) and e.value < 0):
        return _UNARY
    return _ATOM


def _wrap(e, need: bool) -> str:
    text = format_expr(e)
    return f"({text})" if need else text


def format_expr(e) -> str:
    """One expression, with the fewest parentheses that keep its tree."""
    if isinstance(e, ast.Num):
        v = e.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"cannot write {v!r} as a .ntk number")
        return ("-" if v < 0 else "") + (str(abs(v)) if isinstance(v, int) else repr(abs(v)))
    if isinstance(e, ast.Str):
        quote = '"' if '"' not in e.value else "'"
        if quote in e.value or "\n" in e.value:
            raise ValueError(f"cannot write {e.value!r} as a .ntk string")
        return quote + e.value + quote
    if isinstance(e, ast.Bool):
        return "true" if e.value else "false"
    if isinstance(e, ast.Name):
        return e.name
    if isinstance(e, ast.Tuple):
        items = [format_expr(i) for i in e.items]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(e, ast.Func):
        return f"{e.name}(" + ", ".join(format_expr(a) for a in e.args) + ")"
    if isinstance(e, ast.Neg):
        return "-" + _wrap(e.operand, _precedence(e.operand) < _UNARY)
    if isinstance(e, ast.BinOp):
        p = _PRECEDENCE[e.op]
        left = _wrap(e.left, _precedence(e.left) < p)
        right = _wrap(e.right, _precedence(e.right) <= p)  # left-associative
        return f"{left} {e.op} {right}"
    raise TypeError(f"not an expression: {e!r}")
