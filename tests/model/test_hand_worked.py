"""A 2-2-1 sigmoid network, one example, one step: numbers worked out on paper.

x = (1, 0), y = 1; W1 = [[0, 1], [0, 0]], b1 = (0, 0), W2 = [[1, -1]], b2 = (0).
Forward: z1 = W1 x + b1 = (0, 0), a1 = (1/2, 1/2); z2 = 1/2 - 1/2 = 0, a2 = 1/2.

Cross-entropy: delta2 = a2 - y = -1/2
  grad b2 = -1/2, grad W2 = delta2 a1^T = (-1/4, -1/4)
  delta1 = W2^T delta2 * sigma'(z1) = (1, -1)(-1/2)(1/4) = (-1/8, 1/8)
  grad b1 = (-1/8, 1/8), grad W1 = delta1 x^T = [[-1/8, 0], [1/8, 0]]
With eta = 1, m = 1 and lmbda = 1/2, n = 1 (decay 1 - 1 * 1/2 / 1 = 1/2):
  W2 = 1/2 (1, -1) - (-1/4, -1/4) = (3/4, -1/4);  b2 = 0 + 1/2 = 1/2
  W1 = 1/2 [[0, 1], [0, 0]] - [[-1/8, 0], [1/8, 0]] = [[1/8, 1/2], [-1/8, 0]];  b1 = (1/8, -1/8)
Cost before the step: -ln(1/2) + 0.5 (1/2 / 1) (0 + 1 + 0 + 0 + 1 + 1) = ln 2 + 3/4.

Quadratic: delta2 = (a2 - y) sigma'(z2) = (-1/2)(1/4) = -1/8
  grad b2 = -1/8, grad W2 = (-1/16, -1/16); delta1 = (1, -1)(-1/8)(1/4) = (-1/32, 1/32)
With eta = 1, lmbda = 0: W2 = (1 + 1/16, -1 + 1/16) = (17/16, -15/16), b2 = 1/8,
  W1 = [[1/32, 1], [-1/32, 0]], b1 = (1/32, -1/32).
Cost before: 0.5 (1/2 - 1)^2 = 1/8.
"""

import math

import numpy as np
import pytest

import nnfast

X = np.array([[1.0, 0.0]])
Y = np.array([[1.0]])


def tiny(cost, backend, dtype="float64"):
    net = nnfast.Network([2, 2, 1], cost=cost, backend=backend, dtype=dtype, seed=0)
    net.weights = [[[0, 1], [0, 0]], [[1, -1]]]
    net.biases = [[0, 0], [0]]
    return net


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cross_entropy_step(backend, dtype):
    net = tiny("cross_entropy", backend, dtype)
    assert net.cost(X, Y, lmbda=0.5) == pytest.approx(math.log(2) + 0.75, rel=1e-6)
    net.fit(X, Y, epochs=1, batch_size=1, eta=1.0, lmbda=0.5, shuffle=False, monitor=False)
    np.testing.assert_array_equal(net.weights[1], [[0.75, -0.25]])
    np.testing.assert_array_equal(net.biases[1], [0.5])
    np.testing.assert_array_equal(net.weights[0], [[0.125, 0.5], [-0.125, 0.0]])
    np.testing.assert_array_equal(net.biases[0], [0.125, -0.125])


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_quadratic_step(backend):
    net = tiny("quadratic", backend)
    assert net.cost(X, Y) == 0.125
    net.fit(X, Y, epochs=1, batch_size=1, eta=1.0, lmbda=0.0, shuffle=False, monitor=False)
    np.testing.assert_array_equal(net.weights[1], [[17 / 16, -15 / 16]])
    np.testing.assert_array_equal(net.biases[1], [0.125])
    np.testing.assert_array_equal(net.weights[0], [[1 / 32, 1.0], [-1 / 32, 0.0]])
    np.testing.assert_array_equal(net.biases[0], [1 / 32, -1 / 32])


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_short_last_batch_is_scaled_by_its_own_size(backend):
    """3 rows, batch_size 2: a step with m = 2, then one with m = 1 (not 2)."""
    X3 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    Y3 = np.array([[1.0], [0.0], [1.0]])
    net = tiny("cross_entropy", backend)
    net.fit(X3, Y3, epochs=1, batch_size=2, eta=0.5, lmbda=0.3, shuffle=False, monitor=False)

    by_hand = tiny("cross_entropy", "numpy")
    from nnfast.reference import update_mini_batch
    for rows in ([0, 1], [2]):
        update_mini_batch(by_hand.weights, by_hand.biases, by_hand.activations, by_hand.cost_function,
                          X3[rows], Y3[rows], 0.5, 0.3, n=3)
    np.testing.assert_allclose(net.params, by_hand.params, rtol=1e-14)
    # the same epoch with the last batch wrongly scaled by 1/2 gives other weights
    wrong = tiny("cross_entropy", "numpy")
    update_mini_batch(wrong.weights, wrong.biases, wrong.activations, wrong.cost_function,
                      X3[:2], Y3[:2], 0.5, 0.3, n=3)
    update_mini_batch(wrong.weights, wrong.biases, wrong.activations, wrong.cost_function,
                      X3[2:], Y3[2:], 0.25, 0.15, n=3)  # eta/2: as if m were 2
    assert not np.allclose(net.params, wrong.params)
