"""ntkc: compile neural-network architectures written in ``.ntk`` files to
their infinite-width NNGP and NTK kernels.

>>> import ntkc
>>> kernel = ntkc.load("examples/mlp.ntk")
>>> ntk = kernel(x1)                      # Θ(x1, x1), (N1, N1)
>>> nngp, ntk = kernel(x1, x2, get=("nngp", "ntk"))
"""

from __future__ import annotations

from . import predict
from .ast import with_constants
from .check import CheckedNet, check
from .errors import NtkError, NtkWarning
from .finite import FiniteNet, finite_net
from .family import Family, compile_family, load_family
from .graphs import GraphBatch, Graphs
from .kernel import Kernel, Kernels
from .parse import parse, read_source
from .tangent import empirical_ntk
from .verification import verify  # noqa: E402  (ntkc.verify the function; the module stays importable)

__all__ = ["load", "compile", "check_source", "verify", "predict", "Kernel", "Kernels", "Graphs",
           "GraphBatch", "NtkError", "NtkWarning", "CheckedNet", "finite_net", "FiniteNet", "empirical_ntk",
           "Family", "load_family", "compile_family"]
__version__ = "0.1.0"


def check_source(source: str, net: str | None = None, filename: str = "<string>",
                 readout: bool = True, constants: dict | None = None) -> CheckedNet:
    """Parse and check ``.ntk`` source; return the checked network.
    ``constants={"w": 2.0}`` replaces the value of the file's ``let w = ...``."""
    module = parse(source, filename)
    if constants:
        module = with_constants(module, constants, filename)
    return check(module, net, filename, source, readout=readout)


def compile(source: str, net: str | None = None, filename: str = "<string>",
            constants: dict | None = None) -> Kernel:
    """Compile ``.ntk`` source text to a :class:`Kernel` (the last ``net`` unless
    named). ``constants`` overrides ``let`` values by name (see check_source)."""
    return Kernel(check_source(source, net, filename, constants=constants))


def load(path, net: str | None = None, constants: dict | None = None) -> Kernel:
    """Compile the ``.ntk`` file at ``path`` to a :class:`Kernel`;
    ``constants={"w": 2.0}`` compiles it as if it said ``let w = 2.0``."""
    return compile(read_source(path), net, str(path), constants=constants)
