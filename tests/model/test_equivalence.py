"""backend="cython" against backend="numpy" (the reference): same seed, same data -> same network."""

import numpy as np
import pytest

import nnfast
from _helpers import make_classification


def train_pair(sizes, X, y, dtype="float64", seed=3, activation="sigmoid", cost="cross_entropy",
               validation=None, **fit):
    nets, histories = [], []
    for backend in ("numpy", "cython"):
        net = nnfast.Network(sizes, activation=activation, cost=cost, dtype=dtype, backend=backend,
                             seed=seed)
        histories.append(net.fit(X, y, validation_data=validation, **fit))
        nets.append(net)
    return nets, histories


def assert_same_parameters(reference, compiled, rtol):
    for name in ("weights", "biases"):
        for r, c in zip(getattr(reference, name), getattr(compiled, name)):
            assert r.dtype == c.dtype == reference.dtype
            np.testing.assert_allclose(c, r, rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("cost", ["cross_entropy", "quadratic"])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("lmbda", [0.0, 3.0])
def test_float64_parameters_match_after_200_steps(cost, shuffle, lmbda):
    X, y = make_classification(97, 12, 4, seed=1)  # batch 10 -> 9 full batches + a short one of 7
    nets, histories = train_pair([12, 9, 4], X, y, cost=cost, epochs=21, batch_size=10, eta=0.7,
                                 lmbda=lmbda, shuffle=shuffle, validation=(X[:30], y[:30]))
    assert 21 * 10 >= 200
    assert_same_parameters(*nets, rtol=1e-10)
    for key in ("train_cost", "train_accuracy", "validation_cost", "validation_accuracy"):
        np.testing.assert_allclose(getattr(histories[1], key), getattr(histories[0], key), rtol=1e-10)
    # training changed the network (the test could fail)
    assert not np.allclose(nets[1].weights[0], nnfast.Network([12, 9, 4], seed=3).weights[0])


@pytest.mark.parametrize("activation", ["sigmoid", ["tanh", "sigmoid"], ["relu", "sigmoid"]])
def test_float64_match_with_hidden_activations(activation):
    X, y = make_classification(64, 6, 3, seed=2)
    nets, _ = train_pair([6, 8, 3], X, y, activation=activation, epochs=25, batch_size=8, eta=0.3,
                         lmbda=1.0)
    assert_same_parameters(*nets, rtol=1e-10)


def test_float64_match_with_dense_targets_and_deep_net():
    rng = np.random.default_rng(4)
    X = rng.random((50, 5))
    Y = rng.random((50, 3))  # arbitrary targets in [0, 1], not one-hot
    nets, _ = train_pair([5, 7, 6, 3], X, Y, cost="quadratic", epochs=40, batch_size=6, eta=1.0,
                         lmbda=0.5)
    assert_same_parameters(*nets, rtol=1e-10)
    np.testing.assert_allclose(nets[1].cost(X, Y), nets[0].cost(X, Y), rtol=1e-12)


def test_float64_match_with_one_output_unit_and_binary_labels():
    rng = np.random.default_rng(5)
    X = rng.random((40, 3))
    y = (X.sum(axis=1) > 1.5).astype(int)
    nets, hist = train_pair([3, 4, 1], X, y, epochs=50, batch_size=4, eta=1.0)
    assert_same_parameters(*nets, rtol=1e-10)
    assert hist[0].train_accuracy == hist[1].train_accuracy


def test_batch_larger_than_data_and_batch_of_one():
    X, y = make_classification(23, 4, 2, seed=6)
    for batch_size in (1, 50):
        nets, _ = train_pair([4, 3, 2], X, y, epochs=10, batch_size=batch_size, eta=0.2, lmbda=0.1)
        assert_same_parameters(*nets, rtol=1e-10)


def test_float32_parameters_match_to_1e4():
    X, y = make_classification(100, 10, 3, seed=7)
    nets, histories = train_pair([10, 8, 3], X, y, dtype="float32", epochs=20, batch_size=10,
                                 eta=0.5, lmbda=2.0)
    assert nets[1].params.dtype == np.float32
    assert_same_parameters(*nets, rtol=1e-4)
    np.testing.assert_allclose(histories[1].train_cost, histories[0].train_cost, rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_inference_matches(dtype):
    X, y = make_classification(2500, 20, 5, seed=8)  # more rows than one compiled chunk
    reference = nnfast.Network([20, 16, 5], backend="numpy", seed=1, dtype=dtype)
    compiled = nnfast.Network([20, 16, 5], backend="cython", seed=1, dtype=dtype)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    out_r, out_c = reference.feedforward(X), compiled.feedforward(X)
    assert out_c.dtype == np.dtype(dtype) and out_c.shape == (2500, 5)
    np.testing.assert_allclose(out_c, out_r, rtol=rtol)
    np.testing.assert_array_equal(compiled.predict(X), reference.predict(X))
    assert compiled.accuracy(X, y) == reference.accuracy(X, y)
    np.testing.assert_allclose(compiled.cost(X, y, lmbda=2.0), reference.cost(X, y, lmbda=2.0), rtol=rtol)


def test_same_seed_same_network_in_both_backends():
    a = nnfast.Network([7, 5, 2], backend="numpy", seed=11)
    b = nnfast.Network([7, 5, 2], backend="cython", seed=11)
    for wa, wb in zip(list(a.weights) + list(a.biases), list(b.weights) + list(b.biases)):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize("sizes,batch_size", [([12, 9, 4], 10), ([40, 400, 300, 10], 128)])
def test_results_do_not_depend_on_thread_count(sizes, batch_size):
    # the second case is large enough for the parallel loops and for multithreaded BLAS
    X, y = make_classification(300, sizes[0], sizes[-1], seed=9)
    results = []
    for n_threads in (1, 2):
        net = nnfast.Network(sizes, seed=5, n_threads=n_threads)
        hist = net.fit(X, y, epochs=3, batch_size=batch_size, eta=0.1, lmbda=1.0)
        results.append((net.params.copy(), hist.train_cost, net.feedforward(X)))
    np.testing.assert_array_equal(results[0][0], results[1][0])  # bitwise
    assert results[0][1] == results[1][1]
    np.testing.assert_array_equal(results[0][2], results[1][2])


@pytest.mark.parametrize("options", [
    dict(activation="tanh", output_activation="softmax", cost="log_likelihood", dropout=0.3),
    dict(activation=[nnfast.activations.maxout(3), "relu", "sigmoid"], dropout=[0.2, 0.0]),
    dict(activation="relu", output_activation="softmax", cost="log_likelihood", batch_norm=True,
         dropout=0.25),
])
@pytest.mark.parametrize("optimizer,regularization", [("sgd", "l2"), ("sgd", "l1"),
                                                      ("momentum", "l2"), ("adam", "l1")])
def test_the_layer_interpreter_is_the_books_dense_network(options, optimizer, regularization):
    """backend="numpy" runs every model on the layer interpreter (nnfast/reference/conv.py);
    nnfast/reference/sgd.py writes the dense network in the book's four equations. One epoch of
    30 steps with dropout: the two agree to rounding."""
    from nnfast import reference
    from nnfast._backend import NumpyBackend
    from nnfast.training.optimizers import get_optimizer

    sizes = [8, 7, 6, 3]
    X, y = make_classification(90, 8, 3, seed=4)
    net = nnfast.Network(sizes, backend="numpy", seed=5, **options)
    twin = nnfast.Network(sizes, backend="numpy", seed=5, **options)
    net.fit(X, y, epochs=1, batch_size=3, eta=0.05, lmbda=0.4, optimizer=optimizer,
            regularization=regularization, monitor=False)
    # the same epoch in the book's formulation, with the same permutation and dropout masks
    order = twin.rng.permutation(len(X)).astype(np.intp)
    keep = twin._draw_dropout_masks(len(X))
    backend = twin._backend
    dense_masks = None
    if keep is not None:
        masks = backend._masks(twin, keep)
        dense_masks = [None] * len(sizes)
        for position, l in enumerate(twin._weight_layers, start=1):
            if l + 1 < len(twin.built) and twin.built[l + 1].kind == "dropout":
                dense_masks[position] = masks[l + 1]
    twin.optimizer = get_optimizer(optimizer)
    twin._reset_optimizer_state()
    per_array = [twin.layer_views(s) + twin.norm_views(s) if len(s) else None
                 for s in twin.optimizer_state]
    states = [tuple(tuple(None if views is None else views[kind][l] for views in per_array)
                    for kind in range(4)) for l in range(len(sizes) - 1)]
    Y = reference.one_hot(y.astype(np.intp), 3, twin.dtype)
    steps = reference.train_epoch(twin.weights, twin.biases, twin.activations,
                                  twin.cost_function, X, Y, order, 3, 0.05, 0.4, len(X),
                                  regularization, dense_masks, twin.optimizer, states, 0,
                                  backend._norms(twin))
    assert steps == net.optimizer_steps == 30
    np.testing.assert_allclose(net.params, twin.params, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.running, twin.running, rtol=1e-12, atol=1e-14)
