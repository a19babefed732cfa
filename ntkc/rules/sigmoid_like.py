"""Sigmoid_like: φ(x) = erf(x/2.4020563531719796)/2 + 1/2, stax's sigmoid
stand-in — the Erf(a, b, c) layer with a = 1/2, b = 1/2.4020563531719796,
c = 1/2, so its kernel is Erf's closed form (see erf.py).

The constant makes φ the least-squares fit of the logistic sigmoid on [−5, 5].
"""

from . import erf
from ._activation import register_activation

ARGS = {"a": 0.5, "b": 1 / 2.4020563531719796, "c": 0.5}

register_activation(
    "Sigmoid_like", (), lambda c, v1, v2, args: erf.pair(c, v1, v2, ARGS),
    lambda x, args: erf.fn(x, ARGS), symbolic=lambda args: erf.symbolic(ARGS),
    doc="erf(x/2.4020563531719796)/2 + 1/2: Erf(a=1/2, b=1/2.4020563531719796, c=1/2)")
