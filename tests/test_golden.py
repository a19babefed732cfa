"""The compiled kernels equal neural-tangents' stax (golden arrays copied from
../shared/golden) to 1e-6 relative, with x2 omitted and given."""

import json

import numpy as np
import pytest

import ntkc
from conftest import GOLDEN

CASES = [c["name"] for c in json.loads((GOLDEN / "cases.json").read_text())["cases"]]


def inputs(z):
    if "x1" in z:
        return z["x1"], z["x2"]
    return tuple(ntkc.GraphBatch(z[f"{s}_features"], z[f"{s}_adjacency"], z[f"{s}_mask"])
                 for s in ("x1", "x2"))


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("name", CASES)
def test_golden(name):
    z = np.load(GOLDEN / f"{name}.npz")
    kernel = ntkc.load(GOLDEN / f"{name}.ntk")
    x1, x2 = inputs(z)
    nngp11, ntk11 = kernel(x1, get=("nngp", "ntk"))
    nngp12, ntk12 = kernel(x1, x2, get=("nngp", "ntk"))
    assert nngp11.dtype == np.float64
    assert rel(nngp11, z["nngp_11"]) < 1e-6
    assert rel(ntk11, z["ntk_11"]) < 1e-6
    assert rel(nngp12, z["nngp_12"]) < 1e-6
    assert rel(ntk12, z["ntk_12"]) < 1e-6


@pytest.mark.parametrize("name", CASES)
def test_golden_blocked(name):
    """Blocks of 2 rows/columns (padded, symmetric tiles mirrored) change nothing."""
    z = np.load(GOLDEN / f"{name}.npz")
    kernel = ntkc.load(GOLDEN / f"{name}.ntk")
    x1, x2 = inputs(z)
    assert rel(kernel(x1, batch_size=2), z["ntk_11"]) < 1e-6
    assert rel(kernel(x1, x2, get="nngp", batch_size=2), z["nngp_12"]) < 1e-6


def test_gntk_reference_jk0():
    """The GNTK authors' own code on MUTAG (188 graphs), to 1e-8."""
    ref = GOLDEN / "gntk_reference"
    z = np.load(ref / "MUTAG_inputs.npz")
    kernel = ntkc.load(ref / "MUTAG_b3_m2_jk0_degree.ntk")
    gram = kernel(ntkc.GraphBatch(z["features"], z["adjacency"], z["mask"]))
    assert rel(gram, np.load(ref / "MUTAG_b3_m2_jk0_degree.npy")) < 1e-8
