"""Property-testing helpers for ``.ntk`` networks (needs ``hypothesis``).

Import them in your own test suite::

    from hypothesis import given, settings
    import ntkc
    from ntkc.testing import architectures, assert_kernel_matches_monte_carlo

    @settings(max_examples=5, deadline=None)
    @given(architectures(input_kind="vector", max_depth=3))
    def test_every_net_matches_finite_networks(source):
        assert_kernel_matches_monte_carlo(ntkc.compile(source))

* :func:`architectures` draws valid ``.ntk`` sources from the layer registry,
  so layers registered later are covered without changing this module;
* :func:`inputs_for` draws input batches of the kind a kernel declares;
* :func:`assert_kernel_matches_monte_carlo` runs :func:`ntkc.verify` and
  raises ``AssertionError`` with its report (layer by layer) if it fails.
"""

from __future__ import annotations

from hypothesis import strategies as st

from .check import CheckedNet
from .errors import NtkError
from .registry import Param, all_layers
from .verification import random_inputs, verify

INPUT_KINDS = ("vector", "sequence", "image", "graph")

#: The Monte Carlo budget of :func:`assert_kernel_matches_monte_carlo`: from
#: the measured error curve (docs/verification.md), about 5 % relative
#: standard error on small nets, a few seconds after compilation.
TEST_WIDTH = 128
TEST_SAMPLES = 32


# -- values for one argument ---------------------------------------------------------------
def _fmt(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return repr(value)


def _ok(p: Param, v) -> bool:
    for x in (v if isinstance(v, tuple) else (v,)):
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            if p.low is not None and x < p.low:
                return False
            if p.above is not None and x <= p.above:
                return False
    return True


def _value(p: Param, nspatial: int):
    """A strategy for one argument, or None when it cannot be filled."""
    if p.choices is not None:
        return st.sampled_from(list(p.choices))
    if p.name == "W_std":
        return st.sampled_from([0.8, 1.0, 1.3, 1.6])
    if p.name == "b_std":
        return st.sampled_from([0.0, 0.1, 0.3, 0.6])
    if p.name == "stride":
        return st.sampled_from([1, 2]) if p.type in ("int", "ints") else None
    if p.type == "bool":
        return st.booleans()
    if p.type == "float":
        if p.default is None and not p.required:
            return None  # keep the default: "none" has no number to vary
        if p.required:
            opts = [0.1, 0.5, 1.0, -0.5]
        elif p.default:
            opts = [p.default, 0.5 * p.default, 1.5 * p.default]
        else:
            opts = [p.default, 0.25]
        opts = [o for o in opts if _ok(p, o)]
        return st.sampled_from(opts) if opts else None
    if p.type == "floats":
        opts = st.sampled_from([-0.5, 0.25, 0.5, 1.0])
        return st.lists(opts, min_size=1, max_size=3).map(tuple)
    if p.type in ("int", "ints"):
        if not p.required:
            return None  # keep the default (e.g. an optional stride or degree)
        low = int(p.low) if p.low is not None else 1
        if p.above is not None:
            low = max(low, int(p.above) + 1)
        one = st.integers(low, low + 2)
        if p.type == "ints" and nspatial > 1:
            return st.one_of(one, st.tuples(*[one] * nspatial))
        return one
    return None  # a required string without choices: nothing sensible to invent


@st.composite
def _call(draw, name: str, nspatial: int):
    """``Name(arg=value, ...)`` with the defaults mostly kept."""
    rule = all_layers()[name]
    parts = []
    for p in rule.params:
        strat = _value(p, nspatial)
        if strat is None:
            if p.required:
                return None
            continue
        if p.required or p.name in ("W_std", "b_std") or draw(st.booleans()):
            parts.append(f"{p.name}={_fmt(draw(strat))}")
    return f"{name}({', '.join(parts)})" if parts else name


# -- whole networks ---------------------------------------------------------------------------
_HEADERS = {
    "vector": st.builds(lambda d: f"input vector(dim={d})", st.integers(2, 6)),
    "sequence": st.builds(lambda t, c: f"input sequence(length={t}, channels={c})",
                          st.integers(4, 8), st.integers(1, 3)),
    "image": st.builds(lambda h, w, c: f"input image(height={h}, width={w}, channels={c})",
                       st.integers(3, 6), st.integers(3, 6), st.integers(1, 3)),
    "graph": st.builds(lambda f: f"input graph(features={f})", st.integers(2, 4)),
}
_SPATIAL = {"vector": 0, "sequence": 1, "image": 2, "graph": 1}


def _source(header, layers, name="generated"):
    return header + "\nnet " + name + " {\n" + "".join(f"    {l}\n" for l in layers) + "}\n"


def _valid(header, layers, readout=False) -> CheckedNet | None:
    from . import check_source
    try:
        return check_source(_source(header, layers), readout=readout)
    except NtkError:
        return None


def _layers_of(roles, include, exclude):
    names = [n for n, r in all_layers().items() if r.role in roles]
    if include is not None:
        names = [n for n in names if n in include]
    return sorted(n for n in names if n not in exclude)


@st.composite
def _pick(draw, names, nspatial):
    """One call of a layer drawn from ``names`` (None if its arguments cannot be filled)."""
    return draw(_call(draw(st.sampled_from(names)), nspatial))


@st.composite
def _block(draw, nspatial, include, exclude):
    """A block layer with a small body: a shape-preserving weight layer,
    after an activation or not; for branching blocks two such branches
    (one may be ``Identity``)."""
    blocks = _layers_of(("block",), include, exclude)
    weights = _layers_of(("weight",), include, exclude)
    acts = _layers_of(("activation",), include, exclude)
    if not blocks or not weights:
        return None
    name = draw(st.sampled_from(blocks))
    head = draw(_call(name, nspatial))
    if head is None:
        return None

    def chain():
        items = [draw(_pick(weights, nspatial))]
        if acts and draw(st.booleans()):
            items.insert(0, draw(_pick(acts, nspatial)))
        return [i for i in items if i is not None]

    body = all_layers()[name].body.sample(draw, chain, st.booleans)
    return head + " { " + " ".join(body) + " }"


@st.composite
def architectures(draw, input_kind: str | None = None, max_depth: int = 4, include=None,
                  exclude=("Tap",), blocks: bool = True, name: str = "generated"):
    """Valid ``.ntk`` sources (strings) built from the registered layers.

    ``input_kind`` is one of vector, sequence, image, graph (None: any).
    Up to ``max_depth`` layers are drawn one at a time from the registry:
    weight layers, activations (only where their input is Gaussian, as the
    checker demands), parameter-free layers and, with ``blocks``, block
    layers with small bodies; arguments are drawn from each layer's schema
    (layers whose required arguments cannot be filled are skipped). A
    candidate that the checker rejects is dropped, so every source compiles.
    The net starts with a weight layer, ends with a readout if its output
    still has positions, and a final weight layer. ``include``/``exclude``
    restrict the layer names.
    """
    kind = input_kind or draw(st.sampled_from(INPUT_KINDS))
    if kind not in _HEADERS:
        raise ValueError(f"input_kind must be one of {', '.join(INPUT_KINDS)}, not {kind!r}")
    exclude = set(exclude)
    header = draw(_HEADERS[kind])
    nspatial = _SPATIAL[kind]
    weights = _layers_of(("weight",), include, exclude)
    others = _layers_of(("weight", "activation", "linear"), include, exclude)
    if not weights:
        raise ValueError("architectures needs at least one weight layer")

    def attempt(names, spatial, readout=False):
        """Append the first layer (in a drawn order) that the checker accepts."""
        first = draw(st.sampled_from(names))  # uniform; the fallback order is not
        for layer_name in [first] + [n for n in draw(st.permutations(names)) if n != first]:
            # a few draws per layer: some argument combinations are refused
            # (bias=false with a b_std, a standard layer whose input has no width)
            for _ in range(3):
                layer = draw(_call(layer_name, spatial))
                if layer is not None and _valid(header, layers + [layer], readout) is not None:
                    layers.append(layer)
                    return True
        return False

    layers = []
    if not attempt(weights, nspatial):
        raise ValueError(f"no weight layer fits a {kind} input")
    depth = draw(st.integers(1, max(1, max_depth)))
    for _ in range(depth - 1):
        net = _valid(header, layers)
        spatial = net.output.nspatial if net is not None else nspatial
        if blocks and draw(st.integers(0, 4)) == 0:
            for _ in range(4):
                block = draw(_block(spatial, include, exclude))
                if block is not None and _valid(header, layers + [block]) is not None:
                    layers.append(block)
                    break
        else:
            attempt(others, spatial)
    if _valid(header, layers, readout=True) is None:
        attempt(_layers_of(("linear",), include, exclude), nspatial, readout=True)
    attempt(weights, 0, readout=True)
    source = _source(header, layers, name)
    if _valid(header, layers, readout=True) is None:  # could not close it: ask for another
        from hypothesis import assume
        assume(False)
    return source


def inputs_for(kernel, n: int = 4):
    """Input batches for ``kernel`` (a Kernel or CheckedNet): ``n`` standard
    normal examples, or ``n`` random graphs of 3–8 nodes as an ntkc.Graphs."""
    return st.integers(0, 2**31 - 1).map(lambda seed: random_inputs(kernel, n, seed))


def assert_kernel_matches_monte_carlo(kernel, x1=None, x2=None, width: int = TEST_WIDTH,
                                      samples: int = TEST_SAMPLES, seed: int = 0,
                                      alpha: float = 1e-3, n: int = 4, **kw):
    """Run :func:`ntkc.verify` and raise ``AssertionError`` with its report
    (including the first disagreeing layer) unless the kernel agrees.
    Without ``x1``, ``n`` random inputs of the declared kind are drawn from
    ``seed``. Returns the report."""
    if x1 is None:
        x1 = random_inputs(kernel, n, seed)
    report = verify(kernel, x1, x2, width=width, samples=samples, seed=seed, alpha=alpha, **kw)
    if not report.passed:
        raise AssertionError("kernel and Monte Carlo disagree:\n" + str(report))
    return report
