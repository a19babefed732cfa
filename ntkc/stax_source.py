"""How ``ntkc.stax`` layers become ``.ntk`` source text.

A stax network is a dataflow of streams: ``FanOut(n)`` copies one stream into
n, ``parallel`` runs one layer on each, ``FanInSum``/``FanInConcat`` join them.
The ``.ntk`` language writes the same thing as blocks: a fan-out up to its
fan-in is one ``Sum { ... }`` or ``Concat { ... }`` whose items are the
branches. So a layer's *spec* transforms a symbolic state — one
:class:`Stream` (the ``.ntk`` statements written so far, plus the finite
shape stax would have there) or a :class:`Fan` of several — and the finished
single stream is the body of the generated ``net``.

Finite shapes are tracked because stax's kernel depends on one of them:
``FanInConcat`` weighs each branch's kernel by its channel count (the
``out_dim``/``out_chan`` of its last weight layer), which becomes
``Branch(width=…)``. Everything else about the kernel is decided by ntkc's
own checker when the text is compiled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import NtkError

INDENT = "    "


def error(message: str) -> NtkError:
    """An NtkError from the stax front end (``ntkc.stax: error: …``)."""
    return NtkError(message, "ntkc.stax")


@dataclass
class Stream:
    """One stream: its ``.ntk`` statements (lines of text), channel count and
    spatial sizes (``()`` vector, ``(T,)``, ``(H, W)``; a graph's node count
    is ``None``). ``last_width`` is the out_dim of its last weight layer;
    ``widths`` every weight layer's, for the finite network."""
    lines: list
    channels: int | None
    spatial: tuple
    last_width: int | None = None
    widths: list = field(default_factory=list)

    def fork(self) -> "Stream":
        return Stream([], self.channels, self.spatial)


@dataclass
class Fan:
    """Several streams after a ``FanOut``, to be joined into ``parent``."""
    parent: Stream
    branches: list


def _single(state, who: str) -> Stream:
    if isinstance(state, Fan):
        raise error(f"stax.{who} takes one input, but it gets {len(state.branches)} "
                    f"(after FanOut, use parallel(...) and then FanInSum or FanInConcat)")
    return state


class Spec:
    """What one stax layer does to the symbolic state (subclasses have ``name``)."""

    def emit(self, state):
        raise NotImplementedError

    def layers(self):
        """The names of every layer inside (to tell a graph net by Aggregate)."""
        yield self.name


@dataclass
class Atom(Spec):
    """A one-stream layer written as one ``.ntk`` layer (or as nothing, for
    ``Identity``). ``shape(stream)`` returns the new (channels, spatial);
    ``width``: its out_dim, for a weight layer."""
    name: str
    text: str | None
    shape: object = None
    width: int | None = None

    def emit(self, state):
        s = _single(state, self.name)
        if self.shape is not None:
            s.channels, s.spatial = self.shape(s)
        if self.width is not None:
            s.last_width = self.width
            s.widths.append(self.width)
        if self.text is not None:
            s.lines.append(self.text)
        return s


@dataclass
class Serial(Spec):
    specs: tuple
    name: str = "serial"

    def emit(self, state):
        for spec in self.specs:
            state = spec.emit(state)
        return state

    def layers(self):
        for spec in self.specs:
            yield from spec.layers()


@dataclass
class Parallel(Spec):
    specs: tuple
    name: str = "parallel"

    def emit(self, state):
        if not isinstance(state, Fan) or len(state.branches) != len(self.specs):
            got = len(state.branches) if isinstance(state, Fan) else 1
            raise error(f"stax.parallel of {len(self.specs)} layers gets {got} input"
                        f"{'s' if got != 1 else ''}; put FanOut({len(self.specs)}) before it")
        state.branches = [spec.emit(b) for spec, b in zip(self.specs, state.branches)]
        return state

    def layers(self):
        for spec in self.specs:
            yield from spec.layers()


@dataclass
class FanOut(Spec):
    num: int
    name: str = "FanOut"

    def emit(self, state):
        s = _single(state, f"FanOut({self.num})")
        return Fan(s, [s.fork() for _ in range(self.num)])


@dataclass
class FanIn(Spec):
    """``FanInSum`` → ``Sum { … }``, ``FanInConcat`` → ``Concat { … }``."""
    name: str
    axis: int = -1

    def emit(self, state):
        if not isinstance(state, Fan):
            raise error(f"stax.{self.name} needs several inputs; put FanOut(n) and "
                        f"parallel(...) before it")
        branches = state.branches
        for b in branches:
            if isinstance(b, Fan):
                raise error(f"stax.{self.name}: a branch still has {len(b.branches)} "
                            f"inputs from an inner FanOut; join them first")
        parent = state.parent
        spatial = {b.spatial for b in branches}
        if len(spatial) > 1:
            raise error(f"stax.{self.name}: the branches have different spatial shapes "
                        f"{sorted(spatial, key=str)}")
        channels = [b.channels for b in branches]
        for b in branches:
            parent.widths.extend(b.widths)
        if self.name == "FanInSum":
            if len(set(channels)) > 1:
                raise error(f"stax.FanInSum: the branches have different channel counts "
                            f"{channels}; a sum needs equal shapes")
            items = [_item("Branch", b.lines) for b in branches]
            block, parent.channels = "Sum", channels[0]
        else:
            ndim = 2 + len(parent.spatial)
            if self.axis not in (-1, ndim - 1):
                raise error(f"stax.FanInConcat(axis={self.axis}) concatenates along a batch "
                            f"or spatial axis; ntkc concatenates channels only (axis=-1)")
            equal = len(set(channels)) == 1 or None in channels
            items = [_item("Branch" if equal else f"Branch(width={c})", b.lines)
                     for b, c in zip(branches, channels)]
            block = "Concat"
            parent.channels = None if None in channels else sum(channels)
        parent.spatial = branches[0].spatial
        parent.lines.append(_block(block, items))
        if any(b.widths for b in branches):
            parent.last_width = None  # the last weight layers are inside the block
        return parent


@dataclass
class Repeat(Spec):
    spec: Spec
    n: int
    name: str = "repeat"

    def emit(self, state):
        s = _single(state, "repeat")
        rounds = []
        for _ in range(self.n):
            sub = Stream([], s.channels, s.spatial)
            sub = _single(self.spec.emit(sub), "repeat")
            rounds.append(sub)
            s.channels, s.spatial = sub.channels, sub.spatial
            s.widths.extend(sub.widths)
            if sub.last_width is not None:
                s.last_width = sub.last_width
        if all(r.lines == rounds[0].lines for r in rounds) and rounds[0].lines and self.n > 1:
            s.lines.append(_block(f"repeat {self.n}", rounds[0].lines))
        else:
            for r in rounds:
                s.lines.extend(r.lines)
        return s

    def layers(self):
        return self.spec.layers()


def _item(head: str, lines: list) -> str:
    if not lines:
        return "Identity" if head == "Branch" else _block(head, ["Identity"])
    if len(lines) == 1 and head == "Branch" and "\n" not in lines[0]:
        return lines[0]
    return _block(head, lines)


def _block(head: str, lines: list) -> str:
    body = "\n".join(INDENT + line.replace("\n", "\n" + INDENT) for line in lines)
    return f"{head} {{\n{body}\n}}"


# -- numbers and finite shapes ---------------------------------------------------------
def number(v) -> str:
    """A Python number as ``.ntk`` text, exactly (``repr`` round-trips floats)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise error(f"{v!r} is not a finite number")
    return repr(int(v)) if isinstance(v, int) else repr(float(v))


def ints(t) -> str:
    t = tuple(t)
    return "(" + ", ".join(str(int(v)) for v in t) + ("," if len(t) == 1 else "") + ")"


def window_sizes(spatial, window, strides, padding, who) -> tuple:
    """Output sizes of a Conv/AvgPool window, as lax computes them."""
    if len(window) != len(spatial):
        kind = {0: "a vector", 1: "a sequence", 2: "an image"}.get(len(spatial), "an input")
        raise error(f"stax.{who}: a window of {len(window)} axes {tuple(window)} on "
                    f"{kind} with {len(spatial)} spatial axes")
    out = []
    for n, k, s in zip(spatial, window, strides):
        if n is None:
            out.append(None)
        elif padding == "valid":
            out.append(max((n - k) // s + 1, 0))
        else:
            out.append(-(-n // s))
    return tuple(out)


def input_line(example_shape: tuple, graph: bool) -> str:
    """The ``input`` line for one example's shape (channels last; a graph's
    node count may be None)."""
    shape = tuple(None if v is None else int(v) for v in example_shape)
    if graph:
        if len(shape) != 2:
            raise error(f"a net with stax.Aggregate takes node features shaped (N, V, F), "
                        f"not {('N',) + shape}")
        return f"input graph(features={shape[1]})"
    if len(shape) == 1:
        return f"input vector(dim={shape[0]})"
    if len(shape) == 2:
        return f"input sequence(length={shape[0]}, channels={shape[1]})"
    if len(shape) == 3:
        return f"input image(height={shape[0]}, width={shape[1]}, channels={shape[2]})"
    raise error(f"inputs shaped {('N',) + shape}: ntkc takes (N, D) vectors, (N, T, C) "
                f"sequences, (N, H, W, C) images or (N, V, F) graphs")


def source(spec: Spec, example_shape: tuple) -> tuple:
    """(``.ntk`` text, final stream) of ``spec`` for examples shaped
    ``example_shape`` (without the batch axis)."""
    graph = "Aggregate" in set(spec.layers())
    header = input_line(example_shape, graph)
    shape = tuple(None if v is None else int(v) for v in example_shape)
    spatial = (None,) if graph else shape[:-1]
    root = Stream([], shape[-1], spatial)
    out = _single(spec.emit(root), "the network's output")
    if not out.lines:
        raise error("the stax network has no layers ntkc can compile (only Identity)")
    text = "# generated by ntkc.stax\n" + header + "\n" + _block("net stax", out.lines) + "\n"
    return text, out
