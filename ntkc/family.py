"""Several nets of one file in one pass: a :class:`Family` of kernels.

A hyper-parameter grid often runs nets that begin the same way: with jumping
knowledge the GNTK of 9, 11 and 13 blocks are the same first 9 blocks, each
read out after its own last one. A family traces all its nets into one jitted
function and runs a layer once when it is the same layer (rule, arguments,
shapes, pair layouts and bodies, compared without source positions) on the
same input state as a layer already traced — so the shared prefix is computed
once and a grid costs about its deepest member, not the sum.

Nothing here knows a layer. Sharing falls out of the rule contract: a block
rule runs its bodies through ``fusion.Body``, and a body of the shorter net's
``JumpingKnowledge`` that equals the longer net's, on the same input, is handed
the longer one's output. Blocks whose bodies differ (9 vs 13 segments) are run
per net, but only their own arithmetic (the running sum of the taps) is new.
"""

from __future__ import annotations

import jax

from .errors import NtkError
from .fusion import Checked, bytes_per_pair, input_state, layouts, run_nets
from .kernel import Kernel, Kernels, _names
from .state import PaddedGraphs


class Shared:
    """Trace-time memo of step outputs, keyed by what the step computes and
    the identity of its input state (one trace holds every state it made, so
    identities are not reused while it lives)."""

    def __init__(self):
        self._out, self._keys, self._alive = {}, {}, []
        self.run = 0      # steps traced
        self.reused = 0   # steps handed an earlier output

    def key(self, step):
        k = self._keys.get(id(step))
        if k is None:
            n = step.node
            k = (n.layer, n.args, n.in_shape, n.out_shape, step.in_diag, step.out_diag,
                 tuple(tuple(self.key(s) for s in body) for body in step.bodies))
            self._keys[id(step)] = k
            self._alive.append(step)
        return k

    def get(self, step, state):
        out = self._out.get((self.key(step), id(state)))
        if out is None:
            self.run += 1
        else:
            self.reused += 1
        return out

    def put(self, step, state, out):
        self._out[(self.key(step), id(state))] = out
        self._alive += [state, out]

    def derive(self, tag, state, make):
        """``make(state)`` once per (tag, state)."""
        k = (tag, id(state))
        if k not in self._out:
            self._out[k] = make(state)
            self._alive += [state, self._out[k]]
        return self._out[k]


def fuse_family(nets, get: tuple, same: bool, stats: dict):
    """One jitted function (x1, x2, g1, g2) -> the kernels ``get`` of every
    net, net after net (``len(nets) * len(get)`` matrices)."""
    plans = [layouts(net.layers) for net in nets]
    d = nets[0].input.nspatial
    checks = []

    def kernel_fn(x1, x2, g1, g2):
        g1 = None if g1 is None else PaddedGraphs(*g1)
        g2 = None if g2 is None else PaddedGraphs(*g2)
        shared = Shared()
        out = run_nets(plans, lambda diag: input_state(x1, None if same else x2, g1, g2, d,
                                                       diag, False), get, checks, shared)
        stats.update(run=shared.run, reused=shared.reused)
        return out

    return Checked(jax.jit(kernel_fn), checks, nets[-1])


class Family(Kernel):
    """The kernels of several nets with one input, computed in one pass.

    ``family(x1, x2=None, get="ntk", **kw)`` returns ``{net name: kernel}``,
    each value what ``ntkc.load(path, net=name)(x1, x2, get=get, **kw)``
    returns, with the keyword arguments of :class:`~ntkc.Kernel` (blocks are
    planned for the family's joint working memory). Layers the nets share —
    the same layer on the same input, inside blocks too — run once.
    ``family.last_trace`` counts the steps the last compilation ran and
    reused."""

    def __init__(self, nets):
        nets = list(nets)
        if not nets:
            raise NtkError("a family needs at least one net")
        names = [n.name for n in nets]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise NtkError(f"net {twice[0]!r} is named twice in the family")
        first = nets[0]
        for net in nets[1:]:
            if net.input != first.input:
                raise NtkError(f"the nets of a family read one input: {first.name} reads "
                               f"{first.input.describe()}, {net.name} {net.input.describe()}")
        super().__init__(first)
        self.nets = tuple(nets)
        self.members = tuple(names)
        self.last_trace = {}

    def __repr__(self):
        return f"<ntkc.Family nets={list(self.members)} from {self.filename}>"

    def __call__(self, x1, x2=None, get="ntk", **kw):
        names = _names(get)
        out = super().__call__(x1, x2, get=names, **kw)
        k = len(names)
        result = {}
        for i, name in enumerate(self.members):
            mine = tuple(out[i * k:(i + 1) * k])
            result[name] = Kernels(*mine) if get is None else (mine[0] if isinstance(get, str) else mine)
        return result

    def nngp(self, x1, x2=None, **kw):
        return self(x1, x2, get="nngp", **kw)

    def ntk(self, x1, x2=None, **kw):
        return self(x1, x2, get="ntk", **kw)

    def gram(self, *args, **kw):
        raise NtkError("a family has no Gram store: compute its Grams with family(x1, x2) or "
                       "each member's with kernel.gram(...)")

    def _trace_stats(self):
        return self.last_trace

    def explain(self):
        raise NtkError("explain one net of the family: ntkc.load(path, net=name).explain()")

    def _outputs(self, get) -> int:
        return len(get) * len(self.nets)

    def _fn(self, get, same):
        key = (get, same)
        if key not in self._fns:
            self._fns[key] = fuse_family(self.nets, get, same, self.last_trace)
        return self._fns[key]

    def _per_pair(self, a, get):
        # Each member beyond the widest keeps its own running readout state
        # alive (about one pair-sized array per kernel, a sixth of a net's count).
        x1, g1 = a
        nodes = x1.shape[1] if g1 is not None else 1
        each = [bytes_per_pair(n, x1.dtype.itemsize, nodes, "ntk" in get) for n in self.nets]
        return max(each) + (len(each) - 1) * max(each) // 6


def compile_family(source: str, nets, filename: str = "<string>", constants=None) -> Family:
    """A :class:`Family` of the named nets of ``.ntk`` source."""
    from . import check_source
    if isinstance(nets, str):
        raise NtkError(f"nets={nets!r}: give a list of net names")
    return Family([check_source(source, name, filename, constants=constants) for name in nets])


def load_family(path, nets, constants=None) -> Family:
    """A :class:`Family` of the named nets of the ``.ntk`` file at ``path``:
    ``ntkc.load_family("gntk.ntk", ["b9_m1_sum", "b11_m1_sum"])(graphs)``
    gives ``{"b9_m1_sum": Θ, "b11_m1_sum": Θ}`` in one pass."""
    from .parse import read_source
    return compile_family(read_source(path), nets, str(path), constants)


__all__ = ["Family", "Shared", "load_family", "compile_family"]
