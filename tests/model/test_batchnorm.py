"""Batch normalisation: reference vs compiled, gradient checks, training vs inference modes."""

import numpy as np
import pytest

import nnfast
from nnfast.reference import feedforward


def blobs(n=120, n_in=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = 3 * rng.standard_normal((classes, n_in))
    y = rng.integers(0, classes, n)
    return centers[y] + rng.standard_normal((n, n_in)), y


def pair(sizes=(6, 8, 7, 3), dtype="float64", **network):
    network.setdefault("batch_norm", True)
    return [nnfast.Network(list(sizes), backend=b, dtype=dtype, seed=3, **network)
            for b in ("numpy", "cython")]


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "momentum"])
@pytest.mark.parametrize("options", [dict(), dict(dropout=0.3), dict(batch_norm=[True, False]),
                                     dict(activation="relu", output_activation="softmax",
                                          cost="log_likelihood")])
def test_batch_norm_matches_reference(optimizer, options):
    X, y = blobs(64)
    nets = pair(**options)
    for net in nets:  # 104 steps
        net.fit(X, y, epochs=13, batch_size=8, eta=0.05, lmbda=1.0, optimizer=optimizer,
                validation_data=(X[:16], y[:16]))
    np.testing.assert_allclose(nets[1].params, nets[0].params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nets[1].bn_running, nets[0].bn_running, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nets[1].feedforward(X), nets[0].feedforward(X), rtol=1e-10)
    np.testing.assert_allclose(nets[1].history.validation_cost, nets[0].history.validation_cost,
                               rtol=1e-10)


def test_batch_norm_float32_matches_reference():
    X, y = blobs(64)
    nets = pair(dtype="float32")
    for net in nets:
        net.fit(X.astype(np.float32), y, epochs=13, batch_size=8, eta=0.05)
    assert nets[1].bn_running.dtype == np.float32
    scale = np.abs(nets[0].params).max()
    np.testing.assert_allclose(nets[1].params, nets[0].params, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("hidden,cost,output", [("sigmoid", "cross_entropy", "sigmoid"),
                                                ("relu", "log_likelihood", "softmax"),
                                                ("tanh", "quadratic", "identity")])
def test_gradcheck_batch_norm(backend, hidden, cost, output):
    X, y = blobs(9)
    net = nnfast.Network([6, 5, 4, 3], activation=hidden, output_activation=output, cost=cost,
                         batch_norm=True, backend=backend, seed=4)
    gammas, betas = net.bn_gamma, net.bn_beta
    rng = np.random.default_rng(0)
    for l in (0, 1):  # away from the starting values 1 and 0, so that they matter
        gammas[l][...] = 1 + 0.3 * rng.standard_normal(len(gammas[l]))
        betas[l][...] = 0.3 * rng.standard_normal(len(betas[l]))
    assert nnfast.gradcheck(net, X / 3, y) < 1e-6


def test_compiled_batch_norm_gradient_equals_reference():
    X, y = blobs(11)
    nets = pair(activation="elu", output_activation="softmax", cost="log_likelihood")
    running = nets[1].bn_running.copy()
    np.testing.assert_allclose(nets[1].gradient(X, y), nets[0].gradient(X, y), rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(nets[1].bn_running, running)  # a gradient does not train


def test_training_normalises_with_the_batch_and_inference_with_running_statistics():
    X, y = blobs(50)
    net = nnfast.Network([6, 5, 3], batch_norm=True, backend="numpy", seed=0)
    net.bn_gamma[0][...] = [1.0, 2.0, 0.5, 1.0, 3.0]
    net.bn_beta[0][...] = [0.0, 1.0, -1.0, 0.5, 0.0]
    norms = net._backend._norms(net)
    # training mode: each unit's y = gamma zhat + beta has the batch mean beta and std gamma
    W, b = net.weights[0], net.biases[0]
    z = X @ W.T + b
    zhat = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5)
    y_train = net.bn_gamma[0] * zhat + net.bn_beta[0]
    outputs, _, _, caches = feedforward(net.weights, net.biases, net.activations, X, norms=norms,
                                        training=True)
    np.testing.assert_allclose(outputs[1], 1 / (1 + np.exp(-y_train)), rtol=1e-12)
    np.testing.assert_allclose(y_train.mean(axis=0), net.bn_beta[0], atol=1e-12)
    np.testing.assert_allclose(y_train.std(axis=0), net.bn_gamma[0], rtol=1e-4)
    # inference: the running statistics (mean 0, var 1 before any training)
    for backend in ("numpy", "cython"):
        other = nnfast.Network([6, 5, 3], batch_norm=True, backend=backend, seed=0)
        other.params[...] = net.params
        mean, var = other.running_views()[0]
        mean[...] = [0.5, -1, 2, 0, 1]
        var[...] = [1, 4, 0.25, 2, 9]
        y_infer = other.bn_gamma[0] * ((z - mean) / np.sqrt(var + 1e-5)) + other.bn_beta[0]
        hidden = 1 / (1 + np.exp(-y_infer))
        expected = 1 / (1 + np.exp(-(hidden @ other.weights[1].T + other.biases[1])))
        np.testing.assert_allclose(other.feedforward(X), expected, rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_running_statistics_follow_the_data(backend):
    X, y = blobs(400, seed=1)
    X = 5 + 2 * X  # far from mean 0, var 1
    net = nnfast.Network([6, 4, 3], batch_norm=True, backend=backend, seed=0, batch_norm_momentum=0.9)
    net.fit(X, y, epochs=3, batch_size=50, eta=1e-12, monitor=False)  # ~no learning: fixed W
    z = X @ net.weights[0].T + net.biases[0]
    mean, var = net.running_views()[0]
    np.testing.assert_allclose(mean, z.mean(axis=0), rtol=0.05, atol=0.05 * z.std())
    np.testing.assert_allclose(var, z.var(axis=0), rtol=0.15)


def test_batch_norm_learns_and_survives_batches_of_one():
    X, y = blobs(150, seed=6)
    net = nnfast.Network([6, 16, 16, 3], activation="relu", output_activation="softmax",
                         cost="log_likelihood", batch_norm=True, seed=0)
    net.fit(X, y, epochs=20, batch_size=10, eta=0.05)
    assert net.accuracy(X, y) >= 0.95
    single = nnfast.Network([6, 5, 3], batch_norm=True, seed=0)
    single.fit(X[:20], y[:20], epochs=2, batch_size=1)  # variance 0 in every batch: finite all the same
    assert np.all(np.isfinite(single.params)) and np.all(np.isfinite(single.bn_running))


def test_batch_norm_results_do_not_depend_on_thread_count():
    X, y = blobs(300, n_in=40)
    results = []
    for n_threads in (1, 2):
        net = nnfast.Network([40, 400, 300, 3], batch_norm=True, seed=5, n_threads=n_threads)
        net.fit(X, y, epochs=2, batch_size=128, eta=0.05, optimizer="adam")
        results.append((net.params.copy(), net.bn_running.copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_parameters_layout_and_refusals():
    from nnfast.activations import maxout

    net = nnfast.Network([6, 5, 4, 3], batch_norm=[True, False], seed=0)
    assert net.bn_gamma[0].tolist() == [1.0] * 5 and net.bn_beta[0].tolist() == [0.0] * 5
    assert net.bn_gamma[1] is None and net.bn_gamma[2] is None
    assert len(net.params) == 6 * 5 + 5 + 10 + 5 * 4 + 4 + 4 * 3 + 3
    assert np.shares_memory(net.bn_gamma[0], net.params)
    assert net.bn_running.tolist() == [0.0] * 5 + [1.0] * 5
    with pytest.raises(ValueError, match="maxout"):
        nnfast.Network([6, 5, 3], activation=[maxout(2), "sigmoid"], batch_norm=True)
    with pytest.raises(ValueError, match="one flag per hidden layer"):
        nnfast.Network([6, 5, 3], batch_norm=[True, True])
    with pytest.raises(ValueError, match="momentum"):
        nnfast.Network([6, 5, 3], batch_norm=True, batch_norm_momentum=1.0)
    with pytest.raises(ValueError, match="batch_norm_eps"):
        nnfast.Network([6, 5, 3], batch_norm=True, batch_norm_eps=0.0)
