"""Every training feature and every guarantee on every model: a dense network and a conv net, on
both backends (the compiled one held to the reference), through the one model's code."""

import os
import signal
import threading

import numpy as np
import pytest

import nnfast
from nnfast import (AvgPool2D, Callback, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Network,
                    Sequential, StopTraining, TrainingDiverged, TrainingInterrupted)

BACKENDS = ["cython", "numpy"]
KINDS = ["dense", "conv"]
OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
SHAPE = (2, 6, 6)


def make(kind, backend="cython", dtype="float64", seed=0, batch_norm=False, dropout=0.2,
         n_threads=1):
    """The dense and the conv model of these tests (3 classes)."""
    if kind == "dense":
        return Network([12, 7, 5, 3], activation="tanh", output_activation="softmax",
                       cost="log_likelihood", dropout=dropout, batch_norm=batch_norm,
                       backend=backend, dtype=dtype, seed=seed, n_threads=n_threads)
    layers = [Conv2D(3, 3, activation="tanh", batch_norm=batch_norm), MaxPool2D(2),
              Conv2D(4, 2, padding="same", activation="relu"), AvgPool2D(1), Flatten(),
              Dropout(dropout), Dense(5, "tanh", batch_norm=batch_norm), Dense(3, "softmax")]
    return Sequential(layers, SHAPE, backend=backend, dtype=dtype, seed=seed, n_threads=n_threads)


def data(kind, n=40, seed=1):
    rng = np.random.default_rng(seed)
    width = 12 if kind == "dense" else int(np.prod(SHAPE))
    X = rng.random((n, width))
    y = np.argmax(X @ rng.standard_normal((width, 3)), axis=1)
    return X, y


def state(net):
    """Everything a refused call must leave as it was."""
    return (net.params.copy(), [s.copy() for s in net.optimizer_state], net.optimizer_steps,
            net.running.copy(), net.history, net.lmbda, net.regularization, net.optimizer,
            net.rng.bit_generator.state)


def assert_same_state(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    for x, y in zip(a[1], b[1]):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a[3], b[3])
    assert a[2] == b[2] and a[4] is b[4] and a[5:] == b[5:]


# ---------------------------------------------------------------- compiled == reference

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("regularization", ["l2", "l1"])
def test_every_optimizer_and_regularization_matches_the_reference(kind, optimizer,
                                                                  regularization):
    """5 epochs of 10 batches (50 steps) with dropout: float64 to 1e-10."""
    X, y = data(kind)
    nets = [make(kind, backend) for backend in BACKENDS]
    for net in nets:
        net.fit(X, y, epochs=5, batch_size=4, eta=0.05, lmbda=0.5, optimizer=optimizer,
                regularization=regularization, monitor=False)
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-10, atol=1e-12)
    assert nets[0].optimizer_steps == nets[1].optimizer_steps == 50
    for a, b in zip(nets[0].optimizer_state, nets[1].optimizer_state):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_batch_norm_matches_the_reference(kind, optimizer):
    X, y = data(kind)
    nets = [make(kind, backend, batch_norm=True) for backend in BACKENDS]
    for net in nets:
        net.fit(X, y, epochs=5, batch_size=8, eta=0.02, optimizer=optimizer, monitor=False)
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nets[0].running, nets[1].running, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nets[0].feedforward(X), nets[1].feedforward(X), rtol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_matches_the_reference(kind):
    X, y = data(kind)
    nets = [make(kind, backend, dtype="float32") for backend in BACKENDS]
    for net in nets:
        net.fit(X, y, epochs=3, batch_size=4, eta=0.05, optimizer="momentum", monitor=False)
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch_norm", [False, True])
def test_results_do_not_depend_on_the_thread_count(kind, batch_norm):
    X, y = data(kind, n=64)
    nets = [make(kind, n_threads=t, batch_norm=batch_norm) for t in (1, 2)]
    for net in nets:
        net.fit(X, y, epochs=2, batch_size=16, eta=0.05, optimizer="adam", monitor=False)
    assert nets[0].params.tobytes() == nets[1].params.tobytes()


# ---------------------------------------------------------------- the training loop

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_schedule_monitoring_and_callbacks_every_k_batches(kind, backend):
    X, y = data(kind)
    calls = []

    class Every3(Callback):
        every_batches = 3

        def on_batches(self, net, history, epoch, batches_done):
            calls.append((epoch, batches_done))

    net = make(kind, backend)
    history = net.fit(X, y, epochs=3, batch_size=4, eta=0.1, schedule="inverse_time",
                      validation_data=(X[:10], y[:10]), monitor=True,
                      callbacks=[Every3(), lambda net, history: None])
    assert history.epoch == [1, 2, 3] and len(history.eta) == 3
    assert len(history.train_cost) == len(history.validation_accuracy) == 3
    assert calls == [(e, b) for e in (1, 2, 3) for b in (3, 6, 9)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_early_stopping_keeps_the_best_epoch(kind, backend):
    X, y = data(kind)
    kept = {}

    def remember(net, history):
        kept[history.epoch[-1]] = net.params.copy()

    net = make(kind, backend)
    history = net.fit(X, y, epochs=40, batch_size=4, eta=0.5, early_stopping=2,
                      validation_data=(X[:8], 2 - y[:8]), callbacks=[remember])
    assert history.stop_reason == "early_stopping"
    np.testing.assert_array_equal(net.params, kept[history.best_epoch])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_early_stopping_keeps_the_best_epochs_running_statistics_too(kind, backend):
    """The best epoch's model predicts as it did then: its parameters and batch norm's running
    statistics (a regression: the running statistics of the last epoch were kept, and the
    restored model lost accuracy)."""
    X, y = data(kind, n=60)
    kept = {}

    def remember(net, history):
        kept[history.epoch[-1]] = (net.params.copy(), net.running.copy())

    net = make(kind, backend, batch_norm=True)
    history = net.fit(X, y, epochs=30, batch_size=6, eta=0.3, early_stopping=2,
                      validation_data=(X[:20], 2 - y[:20]), callbacks=[remember])
    assert history.stop_reason == "early_stopping" and history.best_epoch < history.epoch[-1]
    params, running = kept[history.best_epoch]
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(net.running, running)
    assert net.accuracy(X[:20], 2 - y[:20]) == history.validation_accuracy[history.best_epoch - 1]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_divergence_puts_the_model_back(kind, backend):
    X, y = data(kind)
    net = make(kind, backend, dropout=0.0)
    net.fit(X, y, epochs=1, batch_size=4, eta=0.05, monitor=False)
    before = net.params.copy()
    with pytest.raises(TrainingDiverged) as info:
        # the weight decay factor 1 - eta*lmbda/n is about -2.5e298: inf within two steps
        net.fit(X, y, epochs=3, batch_size=4, eta=1e300, lmbda=1.0, monitor=False)
    assert info.value.epoch == 1
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_stops_at_a_batch_boundary(kind, backend):
    X, y = data(kind)

    class CtrlC(Callback):
        every_batches = 1

        def on_batches(self, net, history, epoch, batches_done):
            if (epoch, batches_done) == (2, 3):
                os.kill(os.getpid(), signal.SIGINT)

    net = make(kind, backend)
    with pytest.raises(TrainingInterrupted) as info:
        net.fit(X, y, epochs=3, batch_size=4, eta=0.05, monitor=False, callbacks=[CtrlC()])
    assert (info.value.epoch, info.value.batches_done, info.value.batches_total) == (2, 3, 10)
    assert net.history.epoch == [1] and net.optimizer_steps == 13


@pytest.mark.parametrize("kind", KINDS)
def test_a_second_thread_is_refused_while_one_trains(kind):
    X, y = data(kind)
    net = make(kind)
    started, release, errors = threading.Event(), threading.Event(), []

    def wait(net, history):
        started.set()
        release.wait(10)

    trainer = threading.Thread(target=lambda: net.fit(X, y, epochs=1, callbacks=[wait]))
    trainer.start()
    assert started.wait(10)
    before = net.params.copy()
    try:
        for call in (lambda: net.fit(X, y, epochs=1), lambda: net.predict(X),
                     lambda: net.weights.__setitem__(-1, net.weights[-1])):
            with pytest.raises(RuntimeError, match="in use by another thread"):
                call()
        np.testing.assert_array_equal(net.params, before)
    finally:
        release.set()
        trainer.join()


# ---------------------------------------------------------------- guarantees

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_refused_call_leaves_the_model_exactly_as_it_was(kind, backend):
    X, y = data(kind)
    net = make(kind, backend)
    net.fit(X, y, epochs=1, batch_size=4, eta=0.05, optimizer="adam", lmbda=0.1)
    before = state(net)
    refused = [
        lambda: net.fit(X, y + 3, epochs=1),
        lambda: net.fit(X[:, :-1], y, epochs=1),
        lambda: net.fit(np.where(X > 0.9, np.nan, X), y),
        lambda: net.fit(X, y, optimizer="adamw"),
        lambda: net.fit(X, y, regularization="l3", optimizer="sgd"),
        lambda: net.fit(X, y, early_stopping=2),
        lambda: net.fit(X, y, schedule=lambda epoch, eta0, history: -1.0, optimizer="sgd"),
        lambda: net.fit(X, y, validation_data=(X, y[:3])),
        lambda: net.weights.__setitem__(0, np.zeros(3)),
        lambda: net.biases.__setitem__(0, np.full(net.biases[0].shape, np.inf)),
        lambda: net.feedforward(X[:, :5]),
        lambda: net.gradient(X, y[:-1]),
    ]
    for call in refused:
        with pytest.raises((ValueError, TypeError)):
            call()
        assert_same_state(state(net), before)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_assigned_parameters_take_effect(kind, backend):
    X, _ = data(kind, n=5)
    net, twin = make(kind, backend), make(kind, "numpy", seed=9)
    for l in range(len(net.weights)):
        if net.weights[l] is not None:
            twin.weights[l] = net.weights[l] * 0.5
            net.weights[l] = net.weights[l] * 0.5
            net.biases[l] = twin.biases[l]
    twin.biases = list(net.biases)
    twin.running[...] = net.running
    np.testing.assert_allclose(net.feedforward(X), twin.feedforward(X), rtol=1e-12)
    with pytest.raises(TypeError, match="real numbers"):
        net.weights[-1] = np.full(net.weights[-1].shape, "x")
    if kind == "conv":
        with pytest.raises(TypeError, match="no weights"):
            net.weights[1] = np.zeros(3)  # the pooling layer


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_stop_training_from_a_callback(kind, backend):
    X, y = data(kind)

    def stop(net, history):
        raise StopTraining

    history = make(kind, backend).fit(X, y, epochs=5, callbacks=[stop])
    assert history.epoch == [1] and history.stop_reason == "callback"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("init", sorted(nnfast.INITIALIZERS) + ["callable"])
def test_every_initializer_on_every_model(kind, init):
    """The same draws on both backends; a conv layer's weights as a (F, C*kh*kw) matrix of
    fan-in C*kh*kw, reshaped; batch norm's gamma starts at 1 and the normalised layer's bias at 0."""
    if init == "callable":
        init = lambda rng, n_in, n_out: (rng.uniform(-1, 1, (n_out, n_in)) / n_in, np.ones(n_out))
    nets = []
    for backend in BACKENDS:
        if kind == "dense":
            net = Network([12, 7, 3], init=init, batch_norm=True, backend=backend, seed=3)
        else:
            net = Sequential([Conv2D(3, 3, batch_norm=True), Flatten(), Dense(3, "softmax")],
                             SHAPE, init=init, backend=backend, seed=3)
        nets.append(net)
    assert nets[0].params.tobytes() == nets[1].params.tobytes()
    first = nets[0].weights[0].reshape(len(nets[0].weights[0]), -1)
    fan_in = first.shape[1]
    if init == "he":
        assert 0.5 < first.std() * np.sqrt(fan_in / 2) < 1.5
    assert np.all(nets[0].bn_gamma[0] == 1) and not nets[0].biases[0].any()
    X, y = data(kind)
    for net in nets:
        net.fit(X, y, epochs=2, batch_size=8, eta=0.05)
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-10, atol=1e-12)
