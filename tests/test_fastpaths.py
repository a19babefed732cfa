"""The speed-ups inside rules keep their values: Relu's arccos against NumPy's
in extended precision, and ``state.materialise`` returning its input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkc.rules.relu import arccos
from ntkc.state import materialise


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_arccos_within_a_few_ulp(dtype):
    x = np.concatenate([np.linspace(-1, 1, 200_001), [1, -1, 0, 0.5, -0.5],
                        1 - np.logspace(-1, -15, 60), -1 + np.logspace(-1, -15, 60)])
    x = np.clip(x, -1, 1).astype(dtype)
    got = np.asarray(jax.jit(arccos)(jnp.asarray(x))).astype(np.longdouble)
    ref = np.arccos(x.astype(np.longdouble))
    ulps = np.abs(got - ref) / np.spacing(np.abs(ref).astype(dtype)).astype(np.longdouble)
    # float32 evaluates the fit's Horner scheme in float32 (about 2.7 ulp at worst);
    # float64's economised series is as good as 24 Taylor terms
    assert ulps.max() <= (3 if dtype == np.float32 else 2), float(ulps.max())


@pytest.mark.parametrize("first", [1.0, -2.0, 0.0, np.nan, -np.inf])
def test_materialise_returns_its_input(first):
    x = np.array([first, 3.0, -np.inf, np.nan, 1e-300], np.float64)
    out = np.asarray(jax.jit(materialise)(jnp.asarray(x)))
    np.testing.assert_array_equal(out, x)  # NaN == NaN for assert_array_equal
    twice = jax.jit(lambda a: materialise(a, lambda b: b[1:] + b[:-1]))(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(twice), x[1:] + x[:-1])
