"""Run-time accuracy checks of approximate kernel rules.

A rule that approximates (the ``Elementwise`` quadrature) computes, inside
the jitted kernel, an estimate of its own error for the inputs it meets and
hands it to :func:`report`. Inside :func:`recording` (``compile.fuse``'s
traced function) the reports become extra outputs of the compiled kernel,
each tagged at trace time with the layer that made it (:func:`at_layer`,
entered by ``compile.run_step``); :func:`check` then raises an ``NtkError``
at that layer's position when an estimate is over its tolerance. A rule run
eagerly (``verify``'s layer-by-layer states) is checked at once.

Why an output and not ``jax.experimental.checkify``: a kernel without
approximate layers compiles to exactly the function it did before (no
outputs, no host round trip: closed-form activations pay nothing), and the
check needs no cooperation from the caller's own ``jit``.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

import jax
import numpy as np

from .errors import At, NtkError


@dataclass(frozen=True)
class Report:
    """One estimate: ``describe(values) -> message or None`` runs host-side on
    the reported values (a small array)."""
    node: object          # the check.Node that made it (None outside a net)
    describe: object


_local = threading.local()


def _stack(name):
    if not hasattr(_local, name):
        setattr(_local, name, [])
    return getattr(_local, name)


@contextlib.contextmanager
def recording():
    """Collect reports made while the body runs: yields (reports, values)."""
    reports, values = [], []
    _stack("recorders").append((reports, values))
    try:
        yield reports, values
    finally:
        _stack("recorders").pop()


@contextlib.contextmanager
def at_layer(node):
    """Reports made while the body runs belong to ``node`` (innermost wins)."""
    _stack("layers").append(node)
    try:
        yield
    finally:
        _stack("layers").pop()


def report(values, describe, source=None):
    """Hand over an error estimate ``values`` (a small array) and the host-side
    ``describe(values)`` that says what is wrong with them, or None if nothing.
    ``source`` (a CheckedNet) positions an eager failure."""
    layers = _stack("layers")
    rep = Report(layers[-1] if layers else None, describe)
    recorders = _stack("recorders")
    if recorders:
        recorders[-1][0].append(rep)
        recorders[-1][1].append(values)
    elif not isinstance(values, jax.core.Tracer):
        check((rep,), (values,), source)
    # A traced value outside ``recording`` (the rule traced by other code)
    # cannot be inspected here; ``compile.fuse`` is the one path that traces.


def check(reports, values, net=None):
    """Raise the first report's failure as a positioned NtkError."""
    for rep, v in zip(reports, values):
        problem = rep.describe(np.asarray(v))
        if problem:
            node = rep.node
            if node is None:
                raise NtkError(problem)
            what = f"{node.layer}({node.describe_args()})" if node.describe_args() else node.layer
            message = f"{what} {problem}"
            if node.via:
                message += f" (in a def used on line {node.via[-1][0]})"
            if net is None:
                raise NtkError(message, line=node.pos[0], column=node.pos[1])
            raise At(net.filename, net.source).error(node.pos, message)
