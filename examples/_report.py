"""Shared plumbing of the reproduction scripts: paths, the section writer for
docs/results.md, and a JSON store so that each script can be re-run alone."""

from __future__ import annotations

import json
import platform
import re
import time
from pathlib import Path

import jax

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DEFAULT_DATA = (ROOT / ".." / "shared" / "data").resolve()


def setup_jax(cache: bool = True):
    """float64 on, and a persistent compilation cache so re-runs skip compiles."""
    jax.config.update("jax_enable_x64", True)
    if cache:
        jax.config.update("jax_compilation_cache_dir", "/tmp/ntkc_jax_cache")
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def machine() -> str:
    import os
    return f"{platform.machine()}, {os.cpu_count()} CPU cores (shared), jax {jax.__version__} on {jax.default_backend()}"


def write_section(key: str, text: str, md: Path = DOCS / "results.md"):
    """Replace (or append) the block between ``<!-- BEGIN key -->`` and
    ``<!-- END key -->`` in ``md``, leaving the other sections alone."""
    md.parent.mkdir(parents=True, exist_ok=True)
    old = md.read_text() if md.exists() else "# Results\n\n"
    block = f"<!-- BEGIN {key} -->\n{text.rstrip()}\n<!-- END {key} -->"
    pattern = re.compile(rf"<!-- BEGIN {re.escape(key)} -->.*?<!-- END {re.escape(key)} -->", re.S)
    new = pattern.sub(lambda _: block, old) if pattern.search(old) else old.rstrip() + "\n\n" + block + "\n"
    md.write_text(new)


def load_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def save_json(path: Path, data: dict):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


class Clock:
    """Wall-clock seconds since construction, for logs."""
    def __init__(self):
        self.start = time.time()

    def __call__(self) -> float:
        return time.time() - self.start
