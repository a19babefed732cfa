"""Testing your own network with ntkc.testing — a test file as a user would write it.

    pytest examples/test_my_net.py

Three kinds of test: the kernel of *your* net agrees with finite networks
drawn from the same file; a property of the kernel holds on any inputs of the
declared kind; and nets composed from the layers you rely on all agree with
Monte Carlo (so a layer rule that is only wrong in some combination is found).
"""

from pathlib import Path

import numpy as np
from hypothesis import given, settings

import ntkc
from ntkc.testing import architectures, assert_kernel_matches_monte_carlo, inputs_for

KERNEL = ntkc.load(Path(__file__).parent / "mlp.ntk")


def test_my_kernel_matches_finite_networks():
    # Raises AssertionError with the table and the first disagreeing layer.
    assert_kernel_matches_monte_carlo(KERNEL, width=256, samples=32)


@settings(max_examples=5, deadline=None)
@given(inputs_for(KERNEL, n=6))
def test_my_kernel_is_positive_semidefinite(x):
    gram = np.asarray(KERNEL(x), np.float64)
    assert np.allclose(gram, gram.T, rtol=1e-5, atol=1e-6)
    assert np.linalg.eigvalsh(gram).min() >= -1e-4 * np.abs(gram).max()


@settings(max_examples=3, deadline=None)
@given(architectures(input_kind="vector", max_depth=4,
                     include={"Dense", "Relu", "Erf", "Residual"}))
def test_nets_built_from_my_layers_agree(source):
    assert_kernel_matches_monte_carlo(ntkc.compile(source))
