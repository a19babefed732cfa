"""`ntkc check FILE [--net NAME]`: the layer table, exit status 0 / 1 / 2, and
every example and golden .ntk file checks."""

import subprocess
import sys

import pytest

from conftest import EXAMPLES, GOLDEN, ROOT
from ntkc import ast
from ntkc.cli import main
from ntkc.parse import parse
from ntkc.registry import lookup


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_table_for_the_mlp_example(capsys):
    path = EXAMPLES / "mlp.ntk"
    code, out, err = run(capsys, "check", str(path))
    assert (code, err) == (0, "")
    dense = "Dense  W_std=1.5, b_std=0.05  vector"
    assert out.splitlines() == [
        f"net mlp ({path})",
        "#  layer  arguments              output               line",
        "   input                         vector x 8 channels",
        f"1  {dense}               9", "2  Relu                          vector               10",
        f"3  {dense}               9", "4  Relu                          vector               10",
        f"5  {dense}               9", "6  Relu                          vector               10",
        f"7  {dense}               9", "8  Relu                          vector               10",
        f"9  {dense}               12",
    ]


def test_table_shows_bodies_shapes_and_def_uses(tmp_path, capsys):
    f = tmp_path / "r.ntk"
    f.write_text("input image(height=6, width=6, channels=2)\n"
                 "def blk(a) {\n"
                 "    Residual(alpha=a) { Conv(kernel=3) Relu Conv(kernel=3, W_std=2) }\n"
                 "}\n"
                 "net r {\n"
                 "    Conv(kernel=2, padding=\"valid\")\n"
                 "    blk(0.5)\n"
                 "    GlobalAvgPool\n"
                 "}\n")
    code, out, err = run(capsys, "check", str(f))
    assert (code, err) == (0, "")
    rows = [line.split() for line in out.splitlines()[2:]]
    assert rows == [
        ["input", "image(6x6)", "x", "2", "channels"],
        ["1", "Conv", "kernel=2,", 'padding="valid"', "image(5x5)", "6"],
        ["2", "Residual", "alpha=0.5", "image(5x5)", "3", "via", "7"],
        ["2.1", "Conv", "kernel=3", "image(5x5)", "3", "via", "7"],
        ["2.2", "Relu", "image(5x5)", "3", "via", "7"],
        ["2.3", "Conv", "kernel=3,", "W_std=2.0", "image(5x5)", "3", "via", "7"],
        ["3", "GlobalAvgPool", "vector", "8"],
    ]


def test_every_net_is_checked_unless_one_is_named(capsys):
    path = str(EXAMPLES / "nets.ntk")
    code, out, _ = run(capsys, "check", path)
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("net ")] == [
        f"net {n} ({path})" for n in ("mlp", "erf", "shallow", "resnet")]
    code, out, _ = run(capsys, "check", path, "--net", "erf")
    assert code == 0 and [line for line in out.splitlines() if line.startswith("net ")] == [
        f"net erf ({path})"]


def test_an_error_in_any_net_fails_the_check(tmp_path, capsys):
    f = tmp_path / "two.ntk"
    f.write_text("input vector(dim=2)\nnet broken { Conv(kernel=3) }\nnet fine { Dense }\n")
    code, out, err = run(capsys, "check", str(f))
    assert (code, out) == (1, "")
    assert err == (f"{f}:2:14: error: Conv needs a sequence or an image, but its input is a vector\n"
                   "    net broken { Conv(kernel=3) }\n"
                   "                 ^\n")
    assert run(capsys, "check", str(f), "--net", "fine")[0] == 0


@pytest.mark.parametrize("content, message", [
    (b"input vector(dim=2)\nnet n { Dense(W_std=1.5 }\n", ":2:25: error: unexpected '}'; expected ',' or ')'"),
    (b"input vector(dim=2)\nnet n { Dense }\nnet n { Relu }\n", ":3:1: error: net 'n' is already defined on line 2"),
    (b"\x00\xff\xfe garbage", ":1:2: error: the file is not UTF-8 text (byte 0xff)"),
    (b"", ":1:1: error: the file has no input line, e.g. input vector(dim=8)"),
    (b"input vector(dim=2)\nlet x = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\nnet n { Dense }",
     ":2:109: error: the program nests more than 100 levels deep here"),
], ids=["syntax", "duplicate-net", "not-utf8", "empty", "deep"])
def test_errors_exit_1_with_the_message_and_no_traceback(tmp_path, capsys, content, message):
    f = tmp_path / "bad.ntk"
    f.write_bytes(content)
    code, out, err = run(capsys, "check", str(f))
    assert (code, out) == (1, "")
    assert err.startswith(str(f) + message)
    assert "Traceback" not in err and "internal error" not in err


def test_missing_file_and_unknown_net_exit_1(tmp_path, capsys):
    missing = tmp_path / "nope.ntk"
    assert run(capsys, "check", str(missing)) == (1, "", f"{missing}: error: no such file\n")
    path = EXAMPLES / "mlp.ntk"
    assert run(capsys, "check", str(path), "--net", "mpl") == (
        1, "", f"{path}: error: no net named 'mpl'; did you mean 'mlp'?\n")


@pytest.mark.parametrize("argv", [[], ["check"], ["check", "a.ntk", "--bogus"], ["frobnicate"],
                                  ["check", "a.ntk", "--net"]])
def test_bad_usage_exits_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: ntkc" in capsys.readouterr().err


def test_exit_status_of_the_real_process(tmp_path):
    bad = tmp_path / "bad.ntk"
    bad.write_text("input vector(dim=2)\nnet n { Relu(1) }\n")
    env_cmd = [sys.executable, "-m", "ntkc"]
    usage = subprocess.run(env_cmd + ["check"], capture_output=True, text=True, cwd=ROOT)
    error = subprocess.run(env_cmd + ["check", str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert usage.returncode == 2 and "usage" in usage.stderr
    assert error.returncode == 1 and error.stderr.startswith(
        f"{bad}:2:14: error: Relu takes no arguments but 1 was given")


# -- every example and golden file -----------------------------------------------------------
def layer_names(module):
    """Every name used like a layer, defs excluded."""
    defs = {s.name for s in module.statements if isinstance(s, ast.Def)}
    todo = [s.body for s in module.statements if isinstance(s, (ast.Def, ast.Net))]
    names = set()
    while todo:
        for item in todo.pop():
            if isinstance(item, ast.Repeat):
                todo.append(item.body)
            else:
                names.add(item.name)
                if item.body:
                    todo.append(item.body)
    return names - defs


FILES = sorted(EXAMPLES.glob("*.ntk")) + sorted(GOLDEN.glob("**/*.ntk"))


def test_the_examples_are_there():
    assert {f.name for f in EXAMPLES.glob("*.ntk")} >= {
        "mlp.ntk", "cnn_gap.ntk", "resnet.ntk", "gntk.ntk", "nets.ntk"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_and_golden_checks(path, capsys):
    missing = sorted(n for n in layer_names(parse(path.read_text(encoding="utf-8"))) if lookup(n) is None)
    assert not missing, f"{path.name} uses layers that are not registered: {', '.join(missing)}"
    code, out, err = run(capsys, "check", str(path))
    assert code == 0, err
    # stax's goldens that embed positions on the data are warned about, as
    # the many-channel limit (language.md §7.1); nothing else prints
    text = path.read_text()
    warned = 'pos_emb_type="sum"' in text or 'pos_emb_type="concat"' in text
    assert err == "" or (warned and err.count(": warning: SelfAttention reads the data's") == 1
                         and ": error:" not in err), err
    assert out.startswith("net ")


def test_gntk_example_lowers_like_the_reference_network():
    import ntkc
    ours = ntkc.check_source((EXAMPLES / "gntk.ntk").read_text())
    ref = ntkc.check_source((GOLDEN / "gntk_reference" / "MUTAG_b3_m2_jk0_degree.ntk").read_text())
    assert ours.lowered() == ref.lowered()


def test_mlp_example_is_the_one_in_the_language_contract():
    import ntkc
    checked = ntkc.check_source((EXAMPLES / "mlp.ntk").read_text())
    DENSE = {"W_std": 1.5, "b_std": 0.05, "width": None, "parameterization": "ntk", "bias": True}
    assert checked.input.channels == 8
    assert [(n.layer, n.kwargs) for n in checked.layers] == (
        [("Dense", DENSE), ("Relu", {})] * 4 + [("Dense", DENSE)])
