"""ntkc: compile neural-network architectures written in ``.ntk`` files to
their infinite-width NNGP and NTK kernels.

>>> import ntkc
>>> kernel = ntkc.load("examples/mlp.ntk")
>>> ntk = kernel(x1)                      # Θ(x1, x1), (N1, N1)
>>> nngp, ntk = kernel(x1, x2, get=("nngp", "ntk"))
"""

from __future__ import annotations

from .check import CheckedNet, check
from .errors import NtkError
from .kernel import GraphBatch, Kernel, Kernels
from .parse import parse, read_source
from .verify import verify  # noqa: E402  (ntkc.verify the function; the module stays importable)

__all__ = ["load", "compile", "check_source", "verify", "Kernel", "Kernels", "GraphBatch",
           "NtkError", "CheckedNet"]
__version__ = "0.1.0"


def check_source(source: str, net: str | None = None, filename: str = "<string>",
                 readout: bool = True) -> CheckedNet:
    """Parse and check ``.ntk`` source; return the checked network."""
    return check(parse(source, filename), net, filename, source, readout=readout)


def compile(source: str, net: str | None = None, filename: str = "<string>") -> Kernel:
    """Compile ``.ntk`` source text to a :class:`Kernel` (the last ``net`` unless named)."""
    return Kernel(check_source(source, net, filename))


def load(path, net: str | None = None) -> Kernel:
    """Compile the ``.ntk`` file at ``path`` to a :class:`Kernel`."""
    return compile(read_source(path), net, str(path))
