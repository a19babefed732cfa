"""Every layer's registry entry. Importing this package registers them all;
a new layer is a new module here, listed below."""

from . import dense, conv, relu, erf, graph, pooling, residual, branch  # noqa: F401
from . import abrelu, gelu, trig, sigmoid_like, polynomial, rectified, elementwise, layernorm  # noqa: F401
from . import recurrent  # noqa: F401
from . import attention  # noqa: F401
