"""Syntax tree → checked, shape-annotated intermediate form.

Evaluates ``let`` expressions, expands ``def`` calls and ``repeat`` blocks,
checks every layer's arguments against its registry schema and runs its shape
rule, so that what reaches the compiler is a flat tuple of :class:`Node` s
whose arguments are plain Python values and whose shapes are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from . import ast
from .correlation import non_gaussian_input
from .errors import At, NtkError
from .expressions import _arity, _describe, _suggest, evaluate
from .parse import MAX_DEPTH
from .registry import Param, Rule, ShapeError, all_layers, weight_layers
from .shapes import Shape

#: Most layers a network may have after ``def`` and ``repeat`` are expanded.
MAX_LAYERS = 10_000
#: Most levels of layer bodies and ``def`` calls, one inside the other.
MAX_NESTING = MAX_DEPTH
#: Most ``def`` expansions and ``repeat`` rounds while lowering one net, so
#: that defs which expand to nothing cannot make the checker run for ever.
MAX_STEPS = 100_000
#: Largest whole number a layer or the input accepts (an array dimension).
MAX_INT = 2**31 - 1


@dataclass(frozen=True)
class Node:
    """One layer of a checked network."""
    layer: str
    args: tuple          # ((name, value), ...) in schema order, defaults filled in
    in_shape: Shape
    out_shape: Shape
    pos: tuple           # (line, column) of the layer in the source
    bodies: tuple = ()   # for block layers: one tuple of Nodes per body
    via: tuple = ()      # positions of the def calls this layer was expanded from

    @property
    def kwargs(self) -> dict:
        return dict(self.args)

    @property
    def rule(self) -> Rule:
        return all_layers()[self.layer]

    @property
    def finite_args(self) -> dict:
        """The arguments the finite ``init``/``apply`` get: ``kwargs``, plus
        ``in_width`` for a rule that ``reads_width``, ``in_shape`` for one
        that ``reads_shape``."""
        args = dict(self.args)
        if self.rule.reads_width:
            args["in_width"] = self.in_shape.width
        if self.rule.reads_shape:
            args["in_shape"] = self.in_shape
        return args

    def lowered(self) -> tuple:
        """This node without source positions: ``(layer, args, in_shape,
        out_shape, bodies)`` with bodies lowered likewise. Two programs mean
        the same network exactly when their nets' ``lowered()`` are equal."""
        return (self.layer, self.args, self.in_shape, self.out_shape,
                tuple(tuple(n.lowered() for n in body) for body in self.bodies))

    def describe_args(self) -> str:
        rule = self.rule
        shown = []
        for name, value in self.args:
            p = rule.param(name)
            if p is not None and not p.required and p.default == value:
                continue
            shown.append(f"{name}={_fmt(value)}")
        return ", ".join(shown)


@dataclass(frozen=True)
class CheckedNet:
    """A network ready for the compiler: its input shape and flat layers."""
    name: str
    input: Shape
    layers: tuple
    output: Shape
    filename: str = "<string>"
    source: str = field(default="", repr=False)
    pos: tuple = (1, 1)

    def lowered(self) -> tuple:
        """The network without positions, names or source (see Node.lowered)."""
        return (self.input, tuple(n.lowered() for n in self.layers), self.output)

    def walk(self):
        """Every node, depth first, bodies included."""
        def go(nodes):
            for n in nodes:
                yield n
                for body in n.bodies:
                    yield from go(body)
        yield from go(self.layers)


def _fmt(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    if isinstance(value, float):
        return repr(round(value, 6)) if not value.is_integer() else repr(value)
    return str(value)


INPUT_KINDS = {
    "vector": (Param("dim", "int", low=1),),
    "sequence": (Param("length", "int", low=1), Param("channels", "int", low=1)),
    "image": (Param("height", "int", low=1), Param("width", "int", low=1),
              Param("channels", "int", low=1)),
    "graph": (Param("features", "int", low=1),),
}


class _Checker:
    def __init__(self, module: ast.Module, filename: str, source: str):
        self.at = At(filename, source)
        self.filename, self.source = filename, source
        self.layers = all_layers()
        self.input: ast.Input | None = None
        self.env: dict = {}
        self.defs: dict[str, ast.Def] = {}
        self.nets: dict[str, ast.Net] = {}
        self.count = 0   # layers made so far
        self.steps = 0   # def expansions and repeat rounds so far
        self.depth = 0   # bodies and def calls currently open
        for stmt in module.statements:
            self._statement(stmt)

    def err(self, pos, message) -> NtkError:
        return self.at.error(pos, message)

    # -- top level -------------------------------------------------------------
    def _statement(self, stmt):
        if isinstance(stmt, ast.Input):
            if self.input is not None:
                raise self.err(stmt.pos, f"a file has exactly one input line; the first is "
                                         f"on line {self.input.pos[0]}")
            self.input = stmt
        elif isinstance(stmt, ast.Let):
            self._fresh_name(stmt.name, stmt.pos)
            self.env[stmt.name] = self.eval(stmt.value, self.env)
        elif isinstance(stmt, ast.Def):
            self._fresh_name(stmt.name, stmt.pos)
            seen = set()
            for p in stmt.params:
                if p.name in seen:
                    raise self.err(p.pos, f"parameter '{p.name}' appears twice in def '{stmt.name}'")
                seen.add(p.name)
            self.defs[stmt.name] = stmt
        elif isinstance(stmt, ast.Net):
            if stmt.name in self.nets:
                raise self.err(stmt.pos, f"net '{stmt.name}' is already defined on line "
                                         f"{self.nets[stmt.name].pos[0]}")
            self.nets[stmt.name] = stmt

    def _fresh_name(self, name, pos):
        if name in self.layers:
            raise self.err(pos, f"'{name}' is a built-in layer and cannot be redefined")
        if name in self.env or name in self.defs:
            raise self.err(pos, f"'{name}' is already defined")

    def input_shape(self) -> Shape:
        stmt = self.input
        if stmt is None:
            raise self.err(_end(self.source), "the file has no input line, e.g. input vector(dim=8)")
        if stmt.kind not in INPUT_KINDS:
            raise self.err(stmt.pos, f"unknown input kind '{stmt.kind}'"
                           f"{_suggest(stmt.kind, INPUT_KINDS)} (one of vector, sequence, image, graph)")
        values = self.bind(stmt.args, INPUT_KINDS[stmt.kind], self.env, stmt.pos, f"input {stmt.kind}")
        # bind() caps whole numbers at MAX_INT, which bounds every size here.
        if stmt.kind == "vector":
            return Shape("vector", (), values["dim"], values["dim"])
        if stmt.kind == "sequence":
            return Shape("sequence", (values["length"],), values["channels"], values["channels"])
        if stmt.kind == "image":
            return Shape("image", (values["height"], values["width"]), values["channels"],
                         values["channels"])
        return Shape("graph", (None,), values["features"], values["features"])

    def net(self, name: str | None) -> CheckedNet:
        shape = self.input_shape()
        if not self.nets:
            raise self.err(_end(self.source), "the file defines no net, e.g. net mlp { Dense Relu Dense }")
        if name is None:
            stmt = list(self.nets.values())[-1]
        elif name not in self.nets:
            known = ", ".join(f"'{n}'" for n in self.nets)
            raise NtkError(f"no net named '{name}'"
                           + (_suggest(name, self.nets) or f"; the file defines {known}"), self.filename)
        else:
            stmt = self.nets[name]
        nodes, out = self.lower(stmt.body, self.env, shape, (), ())
        if not nodes:
            raise self.err(stmt.pos, f"net '{stmt.name}' has no layers")
        result = CheckedNet(stmt.name, shape, tuple(nodes), out, self.filename, self.source, stmt.pos)
        bad, _ = non_gaussian_input(result.layers)
        if bad is not None:
            raise self.err(bad.pos, f"{bad.layer} needs a Gaussian input: put a weight layer "
                                    f"({weight_layers()}) before it (its kernel rule holds "
                                    f"for the output of a weight layer, possibly pooled, aggregated "
                                    f"or summed, but not for raw inputs, another activation's output, "
                                    f"or Concat/Flatten channels)")
        for node in result.walk():
            # Markers such as Tap are consumed by their block; one left over is misplaced.
            inside = getattr(node.rule, "only_inside", None)
            if inside:
                raise self.err(node.pos, f"{node.layer} is only allowed directly inside "
                                         f"{inside} {{ ... }}")
        return result

    # -- lowering ----------------------------------------------------------------
    def lower(self, items, env, shape, stack, via, pos=None):
        """Lower a body (a tuple of Call/Repeat) to nodes; returns (nodes, shape)."""
        self.depth += 1
        try:
            if self.depth > MAX_NESTING and pos is not None:
                raise self.err(pos, f"layer bodies and def calls nest more than {MAX_NESTING} "
                                    f"levels deep here")
            return self._lower(items, env, shape, stack, via)
        finally:
            self.depth -= 1

    def _step(self, pos):
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.err(pos, f"the net takes more than {MAX_STEPS} def expansions and repeat "
                                f"rounds to lower")

    def _lower(self, items, env, shape, stack, via):
        nodes = []
        for item in items:
            if isinstance(item, ast.Repeat):
                n = self.eval(item.count, env)
                if isinstance(n, bool) or not isinstance(n, (int, float)) or \
                        (isinstance(n, float) and not n.is_integer()):
                    raise self.err(item.count.pos, f"repeat needs a whole number, not {_describe(n)}")
                n = int(n)
                if n < 1:
                    raise self.err(item.count.pos, f"repeat needs a count of at least 1, not {n}")
                if n > MAX_LAYERS:
                    raise self.err(item.count.pos, f"repeat {n} would make more than {MAX_LAYERS} layers")
                if not item.body:
                    raise self.err(item.pos, "the body of repeat is empty")
                for _ in range(n):
                    self._step(item.pos)
                    more, shape = self.lower(item.body, env, shape, stack, via, item.pos)
                    if not more:
                        break  # a body that makes no layers (empty defs) changes nothing
                    nodes += more
            else:
                more, shape = self.call(item, env, shape, stack, via)
                nodes += more
        return nodes, shape

    def call(self, call: ast.Call, env, shape, stack, via):
        if call.name in self.defs:
            return self.expand(self.defs[call.name], call, env, shape, stack, via)
        rule = self.layers.get(call.name)
        if rule is None:
            known = list(self.layers) + list(self.defs)
            raise self.err(call.pos, f"unknown layer '{call.name}'{_suggest(call.name, known)}")
        self.count += 1
        if self.count > MAX_LAYERS:
            raise self.err(call.pos, f"the network has more than {MAX_LAYERS} layers")
        args = self.bind(call.args, rule.params, env, call.pos, rule.name)
        bodies, body_outs = (), ()
        try:
            if rule.kind == "block":
                if call.body is None:
                    raise self.err(call.pos, f"{rule.name} needs a body: {rule.name} {{ ... }}")
                bodies, body_outs = rule.body.lower(self, rule, call, env, shape, stack, via)
                out = rule.shape(shape, args, body_outs)
            else:
                if call.body is not None:
                    raise self.err(call.pos, f"{rule.name} takes no body")
                out = rule.shape(shape, args)
        except ShapeError as e:
            raise self.err(call.pos, str(e)) from None
        out = replace(out, hidden=shape.hidden or rule.writes_width
                      or any(b.hidden for b in body_outs))
        why = None if shape.hidden else rule.wide_input_for(args)
        if why:
            self.at.warn(call.pos, f"{rule.name} reads the data's {shape.channels} channel"
                                   f"{'s' if shape.channels != 1 else ''} here, but {why}; put a "
                                   f"weight layer ({weight_layers()}) before it for a kernel of "
                                   f"the net as written")
        node = Node(rule.name, tuple(args.items()), shape, out, call.pos, bodies, via)
        validate = getattr(rule, "validate", None)
        problem = validate(node) if validate else None
        if problem:
            raise self.err(call.pos, problem)
        return [node], out

    def expand(self, d: ast.Def, call: ast.Call, caller_env, shape, stack, via):
        if d.name in stack:
            cycle = " -> ".join(stack[stack.index(d.name):] + (d.name,))
            err = self.err(call.pos, f"def '{d.name}' calls itself ({cycle}); recursion is not allowed")
            err.noted = True  # the cycle already says where it runs; no "(in def ...)" note
            raise err
        if call.body is not None:
            raise self.err(call.pos, f"def '{d.name}' takes no body")
        env = dict(self.env)
        names = [p.name for p in d.params]
        given = {}
        for i, arg in enumerate(call.args):
            if arg.name is None:
                if any(a.name is not None for a in call.args[:i]):
                    raise self.err(arg.pos, "a positional argument cannot follow a keyword argument")
                if i >= len(names):
                    raise self.err(arg.pos, _arity(f"def '{d.name}'", len(names), len(call.args)))
                key = names[i]
            else:
                if arg.name not in names:
                    hint = _suggest(arg.name, names) or (f" (it takes {', '.join(names)})" if names else "")
                    raise self.err(arg.pos, f"def '{d.name}' has no parameter '{arg.name}'{hint}")
                key = arg.name
            if key in given:
                raise self.err(arg.pos, f"parameter '{key}' is given twice")
            given[key] = self.eval(arg.value, caller_env)
        for p in d.params:
            if p.name in given:
                env[p.name] = given[p.name]
            elif p.default is not None:
                env[p.name] = self.eval(p.default, env)
            else:
                raise self.err(call.pos, f"def '{d.name}' needs a value for parameter '{p.name}'")
        self._step(call.pos)
        try:
            return self.lower(d.body, env, shape, stack + (d.name,), via + (call.pos,), call.pos)
        except NtkError as e:
            if e.line is None or e.line == call.pos[0] or getattr(e, "noted", False):
                raise
            # Say which use of the def went wrong; once, for the innermost def.
            noted = NtkError(f"{e.message} (in def '{d.name}' used on line {call.pos[0]})",
                             e.filename, e.line, e.column, e.source)
            noted.noted = True
            raise noted from None

    # -- arguments and expressions -------------------------------------------------
    def bind(self, args, params, env, pos, what) -> dict:
        names = [p.name for p in params]
        values = {}
        seen_keyword = False
        for i, arg in enumerate(args):
            if arg.name is None:
                if seen_keyword:
                    raise self.err(arg.pos, "a positional argument cannot follow a keyword argument")
                if i >= len(params):
                    raise self.err(arg.pos, _arity(what, len(params), len(args)))
                p = params[i]
                if not p.positional:
                    keywords = ", ".join(f"{q.name}=…" for q in params if q.required) or \
                        ", ".join(f"{q.name}=…" for q in params[:2])
                    raise self.err(arg.pos, f"{what} takes keyword arguments only, e.g. "
                                            f"{what}({keywords}): in stax the first argument of "
                                            f"{what} is an output width, written width=… here "
                                            f"(only the standard parameterization's kernel "
                                            f"reads it; finite networks take their width from "
                                            f"ntkc verify --width)")
            else:
                seen_keyword = True
                p = next((q for q in params if q.name == arg.name), None)
                if p is None:
                    hint = _suggest(arg.name, names)
                    if not names:
                        raise self.err(arg.pos, f"{what} takes no arguments")
                    takes = (" (it takes " + ", ".join(names) + ")") if not hint else ""
                    raise self.err(arg.pos, f"{what} has no argument '{arg.name}'{hint}{takes}")
            if p.name in values:
                raise self.err(arg.pos, f"argument '{p.name}' of {what} is given twice")
            value = self.eval(arg.value, env)
            try:
                values[p.name] = p.convert(value)
            except ValueError as e:
                raise self.err(arg.value.pos, f"{p.name} of {what} {e}") from None
            if any(isinstance(v, int) and not isinstance(v, bool) and v > MAX_INT
                   for v in (values[p.name] if isinstance(values[p.name], tuple) else (values[p.name],))):
                raise self.err(arg.value.pos, f"{p.name} of {what} must be at most {MAX_INT}")
        out = {}
        for p in params:
            if p.name in values:
                out[p.name] = values[p.name]
            elif p.required:
                raise self.err(pos, f"{what} needs the argument '{p.name}'")
            else:
                out[p.name] = p.default
        return out

    def eval(self, e, env):
        return evaluate(e, env, self.err)

def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _end(source: str) -> tuple:
    lines = source.split("\n")  # lark counts lines by "\n" only; so do we
    return (len(lines), len(lines[-1]) + 1)


def check(module: ast.Module, net: str | None = None, filename: str = "<string>",
          source: str = "", readout: bool = True) -> CheckedNet:
    """Lower a parsed module to the checked form of one of its nets (the last
    one if ``net`` is None). With ``readout=True`` the net must end in a vector,
    as a Gram matrix needs."""
    try:
        checker = _Checker(module, filename, source)
        result = checker.net(net)
    except RecursionError:
        raise At(filename, source).error((1, 1), "the program nests too deeply") from None
    if readout and result.output.kind != "vector":
        raise checker.err(result.pos, f"net '{result.name}' ends with {_a(result.output.describe())} "
                                      f"output; add a readout (GlobalAvgPool, GlobalSumPool or "
                                      f"Flatten) so it has a kernel")
    return result


def net_names(module: ast.Module) -> list:
    return [s.name for s in module.statements if isinstance(s, ast.Net)]
