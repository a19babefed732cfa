"""Create the peer's virtual environment: neural-tangents 0.6.5 on the old JAX
it needs, in ``benchmarks/.peer-venv`` (gitignored). The project itself never
depends on neural-tangents; only the benchmark's peer runs use this venv.

    python benchmarks/peer_env.py          # create (or reuse) and smoke-test
    python benchmarks/peer_env.py --fresh  # delete and recreate
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".peer-venv"
PYTHON = VENV / "bin" / "python"

# neural-tangents 0.6.5 predates jax.tree_map's removal and numpy 2; pin the
# stack it was released against and install it without its own requirements
# (they pull tensorflow, which stax does not need: see stand_ins() below).
STACK = ["jax==0.4.30", "jaxlib==0.4.30", "numpy<2", "scipy<1.14",
         "frozendict", "absl-py", "typing_extensions"]
PEER = "neural-tangents==0.6.5"


def pip(*args):
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", *args], check=True)


def ensure(fresh: bool = False) -> Path:
    """Return the peer venv's python, creating the venv when missing."""
    if fresh and VENV.exists():
        shutil.rmtree(VENV)
    if not PYTHON.exists() or not _smoke():
        if VENV.exists():
            shutil.rmtree(VENV)
        venv.create(VENV, with_pip=True)
        pip(*STACK)
        pip("--no-deps", PEER)
        if not _smoke():
            raise SystemExit("the peer venv was built but neural_tangents does not import")
    return PYTHON


def _smoke() -> bool:
    code = ("import sys; sys.path.insert(0, %r); import worker; "
            "nt = worker.import_peer(); print(nt.__version__)" % str(HERE))
    r = subprocess.run([str(PYTHON), "-c", code], capture_output=True, text=True)
    return r.returncode == 0 and r.stdout.strip() == "0.6.5"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fresh", action="store_true", help="delete the venv and rebuild it")
    print(ensure(ap.parse_args().fresh))
