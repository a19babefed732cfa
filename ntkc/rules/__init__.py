"""Every layer's registry entry. Importing this package registers them all;
a new layer is a new module here, listed below."""

from . import dense, conv, relu, erf, graph, pooling, residual, branch  # noqa: F401
