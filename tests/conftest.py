import os
import sys
from pathlib import Path

import jax

# float64 tests need x64; float32 inputs still give float32 outputs with it on.
jax.config.update("jax_enable_x64", True)

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = ROOT / "examples"
