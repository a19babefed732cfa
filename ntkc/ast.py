"""The syntax tree of a ``.ntk`` file: small frozen dataclasses, each with its
source position ``pos = (line, column)`` so every later stage can point at it."""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from typing import Union

Pos = tuple  # (line, column), both 1-based


# -- expressions -------------------------------------------------------------
@dataclass(frozen=True)
class Num:
    value: float | int
    pos: Pos


@dataclass(frozen=True)
class Str:
    value: str
    pos: Pos


@dataclass(frozen=True)
class Bool:
    value: bool
    pos: Pos


@dataclass(frozen=True)
class Name:
    name: str
    pos: Pos


@dataclass(frozen=True)
class Tuple:
    items: tuple
    pos: Pos


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * /
    left: "Expr"
    right: "Expr"
    pos: Pos


@dataclass(frozen=True)
class Neg:
    operand: "Expr"
    pos: Pos


@dataclass(frozen=True)
class Func:
    name: str
    args: tuple
    pos: Pos


Expr = Union[Num, Str, Bool, Name, Tuple, BinOp, Neg, Func]


# -- statements --------------------------------------------------------------
@dataclass(frozen=True)
class Arg:
    name: str | None  # None for a positional argument
    value: Expr
    pos: Pos


@dataclass(frozen=True)
class Call:
    """A layer or a `def` used like one: ``Name(args) { body }``."""
    name: str
    args: tuple  # of Arg
    body: tuple | None  # of Call/Repeat, for block layers such as Residual
    pos: Pos


@dataclass(frozen=True)
class Repeat:
    count: Expr
    body: tuple
    pos: Pos


@dataclass(frozen=True)
class Input:
    kind: str
    args: tuple  # of Arg
    pos: Pos


@dataclass(frozen=True)
class Let:
    name: str
    value: Expr
    pos: Pos


@dataclass(frozen=True)
class DefParam:
    name: str
    default: Expr | None
    pos: Pos


@dataclass(frozen=True)
class Def:
    name: str
    params: tuple  # of DefParam
    body: tuple
    pos: Pos


@dataclass(frozen=True)
class Net:
    name: str
    body: tuple
    pos: Pos


@dataclass(frozen=True)
class Module:
    statements: tuple  # Input | Let | Def | Net, in source order


def erase_positions(node):
    """``node`` with every ``pos`` set to None, to compare programs by meaning
    of their syntax alone (e.g. a parsed file against a printed-and-reparsed one)."""
    if isinstance(node, tuple):
        return tuple(erase_positions(x) for x in node)
    if is_dataclass(node) and not isinstance(node, type):
        return type(node)(**{f.name: None if f.name == "pos" else erase_positions(getattr(node, f.name))
                             for f in fields(node)})
    return node


def literal(value, pos):
    """The expression for a Python constant: a number, string, bool or tuple of
    them (NumPy scalars included); None when it is none of these."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # a NumPy scalar or 0-d array
    if isinstance(value, bool):
        return Bool(value, pos)
    if isinstance(value, (int, float)):
        return Num(value, pos)
    if isinstance(value, str):
        return Str(value, pos)
    if isinstance(value, (tuple, list)):
        items = tuple(literal(v, pos) for v in value)
        return None if any(i is None for i in items) else Tuple(items, pos)
    return None


def with_constants(module: Module, constants: dict, filename: str = "<string>") -> Module:
    """``module`` with the values of the named ``let`` statements replaced by
    ``constants[name]`` (each must be a top-level ``let`` of the file). The
    replacement keeps the statement's position, so errors about the new value
    point at its ``let`` line; later lets that use the name see the new value."""
    from .errors import NtkError
    lets = [s.name for s in module.statements if isinstance(s, Let)]
    for name, value in constants.items():
        if name not in lets:
            known = ", ".join(lets) if lets else "none"
            raise NtkError(f"constants: the file has no 'let {name} = ...' to override "
                           f"(its lets: {known})", filename)
        if literal(value, None) is None:
            raise NtkError(f"constants: {name}={value!r} is not a number, string, bool or "
                           f"tuple of them", filename)
    return Module(tuple(Let(s.name, literal(constants[s.name], s.value.pos), s.pos)
                        if isinstance(s, Let) and s.name in constants else s
                        for s in module.statements))
