"""The reference backprop (the spec) against central finite differences of its own cost."""

import numpy as np
import pytest

import nnfast
from nnfast.reference import backprop, feedforward, one_hot


def summed_cost(net, X, Y):
    outputs, _, zs, _ = feedforward(net.weights, net.biases, net.activations, X)
    return float(np.sum(net.cost_function.per_example(zs[-1], outputs[-1], Y)))


def max_relative_error(net, X, Y, eps=1e-4):
    nabla_w, nabla_b, _ = backprop(net.weights, net.biases, net.activations, net.cost_function, X, Y)
    worst = 0.0
    for params, grads in ((net.weights, nabla_w), (net.biases, nabla_b)):
        for P, G in zip(params, grads):
            assert G.shape == P.shape
            numeric = np.zeros_like(P)
            for index in np.ndindex(P.shape):
                saved = P[index]
                P[index] = saved + eps
                plus = summed_cost(net, X, Y)
                P[index] = saved - eps
                minus = summed_cost(net, X, Y)
                P[index] = saved
                numeric[index] = (plus - minus) / (2 * eps)
            # relative error, with a floor so that gradients near 0 are judged on absolute error
            scale = np.maximum(np.abs(numeric) + np.abs(G), 1e-5)
            worst = max(worst, float(np.max(np.abs(numeric - G) / scale)))
    return worst


@pytest.mark.parametrize("cost", ["cross_entropy", "quadratic"])
@pytest.mark.parametrize("activation", [["sigmoid", "sigmoid", "sigmoid"], ["tanh", "relu", "sigmoid"]])
def test_backprop_matches_finite_differences(cost, activation):
    net = nnfast.Network([4, 5, 3, 2], activation=activation, cost=cost, backend="numpy", seed=2)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 4))
    Y = one_hot(rng.integers(0, 2, 6), 2, np.float64)
    assert max_relative_error(net, X, Y) < 1e-6


def test_quadratic_with_linear_output_matches_finite_differences():
    net = nnfast.Network([3, 4, 2], activation=["tanh", "identity"], cost="quadratic", backend="numpy",
                         seed=4)
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    assert max_relative_error(net, X, Y) < 1e-6


def test_gradient_check_can_fail():
    """A wrong delta (sign flipped) must be caught: the check is not vacuous."""
    net = nnfast.Network([3, 4, 2], backend="numpy", seed=5)
    rng = np.random.default_rng(2)
    X, Y = rng.standard_normal((4, 3)), one_hot(rng.integers(0, 2, 4), 2, np.float64)
    broken = net.cost_function.__class__(net.cost_function.name, net.cost_function.code,
                                         net.cost_function.per_example, lambda a, y, act: y - a)
    net.cost_function = broken
    assert max_relative_error(net, X, Y) > 0.5


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_gradcheck_catches_a_small_error_where_the_gradient_is_zero(backend, monkeypatch):
    """nnfast.gradcheck's error is |b - n| / max(|b| + |n|, floor) with the documented absolute
    floor max(eps, machine epsilon / eps), not 1e-3 x the gradient's RMS: a wrong backprop entry
    where the true derivative is exactly 0 reads 1.0 from the floor up, and in proportion below."""
    net = nnfast.Network([3, 4, 2], backend=backend, seed=6)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((5, 3)), rng.integers(0, 2, 5)
    X[:, 1] = 0.0  # the weights from input 1 have no effect: their true derivative is exactly 0
    marker = np.zeros_like(net.params)
    net.layer_views(marker)[0][0][2, 1] = 1.0  # W_0 (units x inputs): unit 2's weight from input 1
    index = int(np.flatnonzero(marker)[0])
    true_gradient = net.gradient
    assert true_gradient(X, y)[index] == 0.0
    assert nnfast.gradcheck(net, X, y) < 1e-6  # a correct backprop passes

    def off_by(amount):
        def gradient(X, y):
            grad = true_gradient(X, y)
            grad[index] += amount
            return grad
        return gradient

    eps = 1e-4  # the default step, and so the floor
    for amount, expected in ((0.01, 1.0), (2 * eps, 1.0), (1e-6, 1e-6 / eps)):
        monkeypatch.setattr(net, "gradient", off_by(amount))
        assert nnfast.gradcheck(net, X, y) == pytest.approx(expected, rel=1e-6), amount
