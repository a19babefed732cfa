"""The package works when installed from a wheel, away from the source tree:
the grammar ships inside it as ``ntkc/grammar/ntk.lark`` (pyproject maps
``grammar/`` to the ``ntkc.grammar`` package) and the ``ntkc`` console script
runs. Slow: it builds a wheel (pip fetches the build backend) and a venv."""

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT


def sh(*cmd, cwd, env=None):
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600)
    return result


@pytest.mark.slow
def test_wheel_installs_and_checks_outside_the_source_tree(tmp_path):
    # Build from a copy holding only what the package is made of, so the build
    # leaves nothing in the working tree and cannot pick up stray files.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("ntkc", "grammar"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    built = sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / "dist", src, cwd=tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("ntkc-*.whl")
    assert "ntkc/grammar/ntk.lark" in zipfile.ZipFile(wheel).namelist()

    # A fresh venv that sees this environment's jax/numpy/lark/sympy, with only the
    # wheel added. --system-site-packages would show the base interpreter's
    # packages, not those of the venv these tests run in: a .pth file appends this
    # environment's site-packages after the new venv's own (so its ntkc wins).
    venv = tmp_path / "venv"
    made = sh(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    python, ntkc = venv / "bin" / "python", venv / "bin" / "ntkc"
    own = sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path)
    parent = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    # Install before the .pth exists: where the environment running these tests
    # holds a non-editable ntkc (CI's `pip install .`), pip would otherwise see it
    # through the .pth, call the wheel "already satisfied" and install nothing.
    installed = sh(python, "-m", "pip", "install", "--no-deps", "--quiet", wheel, cwd=tmp_path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (Path(own.stdout.strip()) / "_parent_env.pth").write_text("\n".join(sorted(parent)) + "\n")

    outside = tmp_path / "elsewhere"
    shutil.copytree(EXAMPLES, outside / "examples")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}

    where = sh(python, "-c", "import ntkc, importlib.resources as r; print(ntkc.__file__); "
               "print(r.files('ntkc.grammar').joinpath('ntk.lark').is_file())", cwd=outside, env=env)
    assert where.returncode == 0, where.stderr
    module_file, grammar_found = where.stdout.split()
    assert module_file.startswith(str(venv)) and grammar_found == "True"

    ok = sh(ntkc, "check", "examples/mlp.ntk", cwd=outside, env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == "net mlp (examples/mlp.ntk)"
    assert sum(line.split()[1:2] == ["Dense"] for line in ok.stdout.splitlines()) == 5

    (outside / "bad.ntk").write_text("input vector(dim=2)\nnet n { Dense(W_std=) }\n")
    bad = sh(ntkc, "check", "bad.ntk", cwd=outside, env=env)
    assert bad.returncode == 1
    assert bad.stderr.startswith("bad.ntk:2:21: error: unexpected ')'; expected an expression")
    assert sh(ntkc, "check", cwd=outside, env=env).returncode == 2
