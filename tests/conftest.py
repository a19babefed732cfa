import os
import sys
from pathlib import Path

import jax
from hypothesis import settings

# CI must not turn red on a draw no one can reproduce: hypothesis runs the same
# examples every time unless asked to explore (HYPOTHESIS_PROFILE=explore).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

# float64 tests need x64; float32 inputs still give float32 outputs with it on.
jax.config.update("jax_enable_x64", True)

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = ROOT / "examples"
