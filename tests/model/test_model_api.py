"""The model API for training loops of your own, on a dense and a conv model, both backends:
input_gradient, backward from dL/d(outputs), train_on_batch (targets or grad_output), and a
generator trained through a discriminator (what a GAN needs)."""

import numpy as np
import pytest

import nnfast
from nnfast import Conv2D, Dense, Dropout, Flatten, MaxPool2D, Network, Sequential
from nnfast import TrainingDiverged

BACKENDS = ["cython", "numpy"]
KINDS = ["dense", "conv"]
SHAPE = (2, 6, 6)


def make(kind, backend, seed=0, dropout=0.0, batch_norm=False, output="softmax"):
    if kind == "dense":
        return Network([12, 7, 3], activation="tanh", output_activation=output,
                       cost="log_likelihood" if output == "softmax" else "cross_entropy",
                       dropout=dropout, batch_norm=batch_norm, backend=backend, seed=seed)
    layers = [Conv2D(3, 3, activation="tanh", batch_norm=batch_norm), MaxPool2D(2), Flatten(),
              Dropout(dropout), Dense(5, "tanh"), Dense(3, output)]
    return Sequential(layers, SHAPE, cost="log_likelihood" if output == "softmax" else
                      "cross_entropy", backend=backend, seed=seed)


def data(kind, n=9, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 12 if kind == "dense" else 72))
    return X, rng.integers(0, 3, n)


def central_difference(loss, values, index, eps=1e-6):
    """(loss(values[index] + eps) - loss(values[index] - eps)) / (2 eps), `values` (a flat view)
    restored."""
    saved = values[index]
    values[index] = saved + eps
    plus = loss()
    values[index] = saved - eps
    minus = loss()
    values[index] = saved
    return (plus - minus) / (2 * eps)


def assert_backward_of_weighted_outputs(net, X, G, grad, grad_input, param_indices,
                                        input_indices, rel):
    """grad and grad_input are the derivatives of L = sum(G * feedforward(X)) (central
    differences) at the given entries of params and of X (flat)."""
    def loss():
        return float(np.sum(G * net.feedforward(X)))

    for index in param_indices:
        assert grad[index] == pytest.approx(central_difference(loss, net.params, index),
                                            rel=rel, abs=1e-9)
    flat_X, flat_grad = X.reshape(-1), grad_input.reshape(-1)
    for index in input_indices:
        assert flat_grad[index] == pytest.approx(central_difference(loss, flat_X, index),
                                                 rel=rel, abs=1e-9)


def summed_cost(net, X, y):
    """The summed cost the gradients are of (batch norm with the rows' own statistics)."""
    return net._backend.evaluate(net, *net._data(X, y), 1, True)[0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch_norm", [False, True])
def test_input_gradient_matches_finite_differences(kind, backend, batch_norm):
    X, y = data(kind)
    net = make(kind, backend, batch_norm=batch_norm)
    grad = net.input_gradient(X, y)
    assert grad.shape == X.shape and grad.dtype == np.float64
    eps = 1e-5
    for index in np.random.default_rng(2).choice(X.size, 40, replace=False):
        i, j = divmod(int(index), X.shape[1])
        plus, minus = X.copy(), X.copy()
        plus[i, j] += eps
        minus[i, j] -= eps
        numeric = (summed_cost(net, plus, y) - summed_cost(net, minus, y)) / (2 * eps)
        assert abs(grad[i, j] - numeric) <= 1e-6 * max(abs(numeric), 1e-3)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_backward_is_the_gradient_of_the_weighted_outputs(kind, output):
    """L = sum(G * A): dL/dX and dL/dparams by finite differences of feedforward, and the two
    backends agree."""
    X, _ = data(kind, n=5)
    G = np.random.default_rng(3).standard_normal((5, 3))
    nets = [make(kind, backend, output=output) for backend in BACKENDS]
    (grad, grad_input), (ref_grad, ref_input) = (net.backward(X, G) for net in nets)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad_input, ref_input, rtol=1e-10, atol=1e-13)
    assert_backward_of_weighted_outputs(nets[0], X, G, grad, grad_input,
                                        np.random.default_rng(4).choice(len(grad), 30,
                                                                        replace=False),
                                        range(0, X.size, 7), rel=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_train_on_batch_is_one_step_of_fit(kind, backend, optimizer):
    """The same step as an epoch of fit over one batch in order (dropout masks from the same
    Generator draws, the optimizer's state carried on): the same bits."""
    X, y = data(kind)
    a = make(kind, backend, dropout=0.3, batch_norm=True)
    b = make(kind, backend, dropout=0.3, batch_norm=True)
    for _ in range(3):
        a.train_on_batch(X, y, eta=0.05, lmbda=0.2, optimizer=optimizer)
        b.fit(X, y, epochs=1, batch_size=len(X), shuffle=False, eta=0.05, lmbda=0.2,
              optimizer=optimizer, monitor=False)
    assert a.params.tobytes() == b.params.tobytes()
    assert a.running.tobytes() == b.running.tobytes()
    assert a.optimizer_steps == b.optimizer_steps == 3
    assert a.rng.bit_generator.state == b.rng.bit_generator.state


@pytest.mark.parametrize("kind", KINDS)
def test_train_on_batch_from_a_gradient_of_the_outputs(kind):
    X, _ = data(kind)
    G = np.random.default_rng(5).standard_normal((len(X), 3))
    nets = [make(kind, backend) for backend in BACKENDS]
    grad, _ = nets[0].backward(X, G)
    expected = nets[0].params - (0.1 / len(X)) * grad  # SGD, no decay
    for net in nets:
        net.train_on_batch(X, grad_output=G, eta=0.1)
    np.testing.assert_allclose(nets[0].params, expected, rtol=1e-12, atol=1e-14)
    for net in nets:
        for _ in range(4):
            net.train_on_batch(X, grad_output=G, eta=0.01, lmbda=0.5, optimizer="adam")
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-10, atol=1e-12)
    assert nets[0].optimizer_steps == 4  # a new optimizer starts afresh


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_generator_learns_through_a_discriminator(backend):
    """A GAN's generator step: the discriminator's input gradient of 'call these real' is the
    generator's grad_output; its steps make the discriminator call the fakes real."""
    rng = np.random.default_rng(0)
    discriminator = Sequential([Conv2D(3, 3, activation="relu"), MaxPool2D(2), Flatten(),
                                Dense(1, "sigmoid")], SHAPE, cost="cross_entropy",
                               backend=backend, seed=1)
    generator = Network([4, 16, 72], activation="relu", output_activation="sigmoid",
                        backend=backend, seed=2)
    z = rng.standard_normal((32, 4))
    real = np.ones(32, dtype=np.intp)

    def fooled():
        return discriminator.feedforward(generator.feedforward(z)).mean()

    before = fooled()
    for _ in range(30):
        fakes = generator.feedforward(z)
        generator.train_on_batch(z, grad_output=discriminator.input_gradient(fakes, real),
                                 eta=2.0)
    assert fooled() > before + 0.1


@pytest.mark.parametrize("backend", BACKENDS)
def test_refused_single_steps_change_nothing(backend):
    X, y = data("conv")
    net = make("conv", backend, dropout=0.2)
    net.train_on_batch(X, y, eta=0.05, optimizer="momentum")
    before = (net.params.copy(), net.optimizer_state[0].copy(), net.optimizer_steps,
              net.rng.bit_generator.state)
    for call, error in [
        (lambda: net.train_on_batch(X, y, grad_output=np.zeros((9, 3))), TypeError),
        (lambda: net.train_on_batch(X), TypeError),
        (lambda: net.train_on_batch(X, grad_output=np.zeros((9, 2))), ValueError),
        (lambda: net.train_on_batch(X, grad_output=np.full((9, 3), np.nan)), ValueError),
        (lambda: net.train_on_batch(X, y, eta=-1.0), ValueError),
        (lambda: net.train_on_batch(X, y, optimizer="nadam"), ValueError),
        (lambda: net.train_on_batch(X[:, :10], y), ValueError),
        (lambda: net.backward(X, np.zeros((8, 3))), ValueError),
        (lambda: net.input_gradient(X, y[:3]), ValueError),
    ]:
        with pytest.raises(error):
            call()
        assert net.params.tobytes() == before[0].tobytes()
        assert net.optimizer_state[0].tobytes() == before[1].tobytes()
        assert (net.optimizer_steps, net.rng.bit_generator.state) == before[2:]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_diverging_step_is_put_back(backend):
    X, y = data("dense")
    net = make("dense", backend)
    before = net.params.copy()
    with pytest.raises(TrainingDiverged, match="train_on_batch"):
        net.train_on_batch(X, y, eta=1e300, lmbda=1e10)
    np.testing.assert_array_equal(net.params, before)
    assert net.optimizer_steps == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_through_a_single_dense_layer(backend):
    """A one-layer model is a single layer from Python: its backward is the layer's own,
    dL/dW = (G a (1 - a))^T X, dL/db = sum of the rows, dL/dX = (G a (1 - a)) W (sigmoid)."""
    rng = np.random.default_rng(7)
    X, G = rng.random((6, 4)), rng.standard_normal((6, 3))
    layer = Sequential([Dense(3, "sigmoid")], (4,), cost="cross_entropy", backend=backend, seed=1)
    W, b = layer.weights[0], layer.biases[0]
    a = 1 / (1 + np.exp(-(X @ W.T + b)))
    np.testing.assert_allclose(layer.feedforward(X), a, rtol=1e-12)
    delta = G * a * (1 - a)
    grad, grad_input = layer.backward(X, G)
    weights, biases = layer.layer_views(grad)
    np.testing.assert_allclose(weights[0], delta.T @ X, rtol=1e-10)
    np.testing.assert_allclose(biases[0], delta.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(grad_input, delta @ W, rtol=1e-10)


def conv_only(backend, seed=3):
    """A model without a cost that ends in a convolution (a generator's shape of model)."""
    return Sequential([Conv2D(3, 3, padding="same", activation="relu"), MaxPool2D(2, stride=1),
                       Conv2D(2, 2, activation="sigmoid")], SHAPE, cost=None, backend=backend,
                      seed=seed)


@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_and_backward_through_a_single_conv_layer(backend):
    """A single Conv2D layer from Python (a model of one layer, cost=None): its outputs are the
    convolution's, its backward is the gradient of sum(G * outputs) (finite differences)."""
    rng = np.random.default_rng(8)
    X, G = rng.random((4, 72)), rng.standard_normal((4, 3 * 4 * 4))
    layer = Sequential([Conv2D(3, 3, activation="tanh")], SHAPE, cost=None, backend=backend,
                       seed=2)
    W, b = layer.weights[0], layer.biases[0]
    images = X.reshape(4, *SHAPE)
    z = np.einsum("fcij,ncyixj->nfyx", W,
                  np.lib.stride_tricks.sliding_window_view(images, (3, 3), axis=(2, 3))
                  .transpose(0, 1, 2, 4, 3, 5)) + b[None, :, None, None]
    np.testing.assert_allclose(layer.feedforward(X), np.tanh(z).reshape(4, -1), rtol=1e-12)
    grad, grad_input = layer.backward(X, G)
    assert_backward_of_weighted_outputs(layer, X, G, grad, grad_input,
                                        range(0, len(grad), 5), range(0, X.size, 11), rel=1e-6)


def test_a_model_ending_in_a_convolution_on_both_backends(tmp_path):
    """cost=None: outputs, backward and train_on_batch(grad_output) agree between the backends;
    it saves and loads; what needs a cost refuses it, changing nothing."""
    X = np.random.default_rng(9).random((5, 72))
    nets = [conv_only(backend) for backend in BACKENDS]
    assert nets[0].n_outputs == 2 * 4 * 4
    G = np.random.default_rng(10).standard_normal((5, nets[0].n_outputs))
    np.testing.assert_allclose(nets[0].feedforward(X), nets[1].feedforward(X), rtol=1e-12)
    (g0, i0), (g1, i1) = (net.backward(X, G) for net in nets)
    np.testing.assert_allclose(g0, g1, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(i0, i1, rtol=1e-10, atol=1e-13)
    for net in nets:
        for _ in range(3):
            net.train_on_batch(X, grad_output=G, eta=0.01, optimizer="adam")
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-10, atol=1e-12)
    before = nets[0].params.copy()
    y = np.zeros(5, dtype=np.intp)
    for call in (lambda: nets[0].fit(X, y), lambda: nets[0].cost(X, y),
                 lambda: nets[0].accuracy(X, y), lambda: nets[0].gradient(X, y),
                 lambda: nets[0].input_gradient(X, y), lambda: nets[0].train_on_batch(X, y)):
        with pytest.raises(ValueError, match="needs a cost"):
            call()
    np.testing.assert_array_equal(nets[0].params, before)
    nets[0].save(tmp_path / "generator.npz")
    loaded = nnfast.load(tmp_path / "generator.npz")
    assert loaded.cost_function is None
    np.testing.assert_array_equal(loaded.feedforward(X), nets[0].feedforward(X))
    with pytest.raises(ValueError, match="last layer must be Dense"):
        Sequential([Conv2D(2, 3)], SHAPE)  # a cost needs a Dense output layer
