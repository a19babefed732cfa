"""The ``.ntk`` expression language: numbers, strings, booleans, tuples,
names bound by ``let`` and ``def`` parameters, unary minus, + − * / and
``sqrt``. Every value is checked finite and at most ``MAX_NUMBER`` in size;
errors are positioned through the caller's ``err(pos, message)``."""

from __future__ import annotations

import difflib
import math

from . import ast
from .parse import MAX_NUMBER
from .registry import describe_value as _describe


def evaluate(e, env: dict, err):
    """The value of expression ``e`` with the names of ``env``."""
    try:
        return _eval(e, env, err)
    except RecursionError:
        raise err(e.pos, "the expression nests too deeply") from None


def _eval(e, env, err):
    if isinstance(e, ast.Num):
        return _finite(err, e.pos, e.value)
    if isinstance(e, (ast.Str, ast.Bool)):
        return e.value
    if isinstance(e, ast.Name):
        if e.name in env:
            return env[e.name]
        known = list(env)
        raise err(e.pos, f"undefined name '{e.name}'{_suggest(e.name, known)}")
    if isinstance(e, ast.Tuple):
        return tuple(_eval(i, env, err) for i in e.items)
    if isinstance(e, ast.Neg):
        v = _eval(e.operand, env, err)
        if not _is_number(v):
            raise err(e.pos, f"cannot negate {_describe(v)}")
        return -v
    if isinstance(e, ast.Func):
        if e.name != "sqrt":
            raise err(e.pos, f"unknown function '{e.name}'{_suggest(e.name, ['sqrt'])}"
                                  f" (the only function is sqrt)")
        if len(e.args) != 1:
            raise err(e.pos, _arity("sqrt", 1, len(e.args)))
        v = _eval(e.args[0], env, err)
        if not _is_number(v):
            raise err(e.args[0].pos, f"sqrt needs a number, not {_describe(v)}")
        if v < 0:
            raise err(e.args[0].pos, f"sqrt of a negative number ({v})")
        return _finite(err, e.pos, math.sqrt(v))
    if isinstance(e, ast.BinOp):
        a, b = _eval(e.left, env, err), _eval(e.right, env, err)
        if not (_is_number(a) and _is_number(b)):
            bad, where = (a, e.left) if not _is_number(a) else (b, e.right)
            raise err(where.pos, f"'{e.op}' needs numbers, not {_describe(bad)}")
        try:
            if e.op == "+":
                r = a + b
            elif e.op == "-":
                r = a - b
            elif e.op == "*":
                r = a * b
            else:
                if b == 0:
                    raise err(e.right.pos, "division by zero")
                r = a / b
        except OverflowError:
            raise err(e.pos, "number is too large") from None
        return _finite(err, e.pos, r)
    raise err(getattr(e, "pos", (1, 1)), "cannot evaluate this expression")


def _finite(err, pos, r):
    """``r`` if |r| ≤ MAX_NUMBER (NaN and ±inf fail the test too)."""
    if not abs(r) <= MAX_NUMBER:
        raise err(pos, "number is too large (the limit is 1e300)")
    return r


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _arity(what: str, takes: int, given: int) -> str:
    if takes == 0:
        return f"{what} takes no arguments but {given} {'was' if given == 1 else 'were'} given"
    return (f"{what} takes {takes} argument{'s' if takes != 1 else ''} but {given} "
            f"{'was' if given == 1 else 'were'} given")


def _suggest(name: str, candidates) -> str:
    candidates = list(candidates)
    lower = {c.lower(): c for c in candidates}
    if name.lower() in lower:
        return f"; did you mean '{lower[name.lower()]}'?"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""
