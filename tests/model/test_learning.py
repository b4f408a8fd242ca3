"""Networks that must actually learn: XOR (needs the hidden layer) and the real MNIST."""

import time

import numpy as np
import pytest

import nnfast

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
XOR_Y = np.array([0, 1, 1, 0])


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_xor_is_learned_with_a_hidden_layer(backend, seed):
    net = nnfast.Network([2, 3, 1], backend=backend, seed=seed)
    assert net.accuracy(XOR_X, XOR_Y) < 1.0 or seed != 0  # seed 0 does not start out solved
    history = net.fit(XOR_X, XOR_Y, epochs=3000, batch_size=4, eta=2.0)
    assert net.accuracy(XOR_X, XOR_Y) == 1.0
    outputs = net.feedforward(XOR_X)[:, 0]
    assert np.all(np.abs(outputs - XOR_Y) < 0.1)
    assert history.train_cost[-1] < history.train_cost[0] / 10


def test_xor_is_not_learned_without_a_hidden_layer():
    """A single sigmoid neuron cannot separate XOR: at most 3 of the 4 points."""
    net = nnfast.Network([2, 1], seed=0)
    net.fit(XOR_X, XOR_Y, epochs=3000, batch_size=4, eta=2.0, monitor=False)
    assert net.accuracy(XOR_X, XOR_Y) <= 0.75


@pytest.mark.mnist
def test_mnist_784_30_10_reaches_95_percent(mnist_dir):
    from nnfast.datasets import load_mnist

    (X, y), (Xv, yv), (Xt, yt) = load_mnist(mnist_dir, dtype="float64")
    net = nnfast.Network([784, 30, 10], cost="cross_entropy", seed=0)
    started = time.perf_counter()
    history = net.fit(X, y, epochs=10, batch_size=10, eta=0.5, lmbda=5.0, validation_data=(Xv, yv))
    seconds = time.perf_counter() - started
    accuracy = net.accuracy(Xt, yt)
    print(f"MNIST [784, 30, 10], 10 epochs: test accuracy {accuracy:.4f}, "
          f"validation {history.validation_accuracy[-1]:.4f}, {seconds:.1f} s")
    assert accuracy >= 0.95
    assert history.validation_accuracy[-1] >= 0.95


@pytest.mark.mnist
def test_mnist_784_100_10_softmax_log_likelihood_reaches_97_5_percent(mnist_dir):
    from nnfast.datasets import load_mnist

    (X, y), _, (Xt, yt) = load_mnist(mnist_dir, dtype="float32")
    net = nnfast.Network([784, 100, 10], activation="sigmoid", output_activation="softmax",
                         cost="log_likelihood", dtype="float32", seed=0)
    started = time.perf_counter()
    net.fit(X, y, epochs=30, batch_size=10, eta=0.5, lmbda=5.0, monitor=False)
    accuracy = net.accuracy(Xt, yt)
    print(f"MNIST [784, 100, 10] softmax + log-likelihood, L2, 30 epochs: test accuracy "
          f"{accuracy:.4f}, {time.perf_counter() - started:.1f} s")
    assert accuracy >= 0.975
