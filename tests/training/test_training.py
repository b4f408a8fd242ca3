"""Optimizers, schedules, early stopping, callbacks and the history: both backends, same numbers."""

import math

import numpy as np
import pytest

import nnfast
from nnfast.training.optimizers import OPTIMIZERS, Adam, Momentum, get_optimizer
from nnfast.training.schedules import HalveOnPlateau, InverseTime

NAMES = sorted(OPTIMIZERS)


def blobs(n=120, n_in=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = 3 * rng.standard_normal((classes, n_in))
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.standard_normal((n, n_in))) / 3, y


def pair(sizes=(6, 9, 3), dtype="float64", **network):
    return [nnfast.Network(list(sizes), backend=b, dtype=dtype, seed=2, **network)
            for b in ("numpy", "cython")]


# ---------------------------------------------------------------- optimizers

@pytest.mark.parametrize("optimizer", NAMES)
@pytest.mark.parametrize("regularization,lmbda", [("l2", 0.0), ("l2", 2.0), ("l1", 2.0)])
def test_optimizers_match_reference(optimizer, regularization, lmbda):
    X, y = blobs(64)
    nets = pair(activation="relu", output_activation="softmax", cost="log_likelihood")
    for net in nets:  # 13 epochs x 8 batches = 104 steps
        net.fit(X, y, epochs=13, batch_size=8, eta=0.02, lmbda=lmbda, regularization=regularization,
                optimizer=optimizer)
    np.testing.assert_allclose(nets[1].params, nets[0].params, rtol=1e-10, atol=1e-12)
    for s_ref, s_c in zip(*(net.optimizer_state for net in nets)):
        np.testing.assert_allclose(s_c, s_ref, rtol=1e-10, atol=1e-12)
    assert nets[0].optimizer_steps == nets[1].optimizer_steps == 104


@pytest.mark.parametrize("optimizer", NAMES)
def test_optimizers_match_reference_with_dropout_maxout_and_float32(optimizer):
    from nnfast.activations import maxout

    X, y = blobs(64)
    for dtype, rtol in (("float64", 1e-10), ("float32", 2e-4)):
        nets = pair((6, 7, 5, 3), dtype=dtype, activation=[maxout(2), "tanh"],
                    output_activation="softmax", cost="log_likelihood", dropout=0.25)
        for net in nets:
            net.fit(X, y, epochs=13, batch_size=8, eta=0.01, lmbda=1.0, optimizer=optimizer)
        # float32: judged against the parameters' scale; Adam's normalised step turns float32
        # rounding of tiny gradients into ~1e-6 absolute differences on parameters near zero
        scale = np.abs(nets[0].params).max() if dtype == "float32" else 1e-2
        np.testing.assert_allclose(nets[1].params, nets[0].params, rtol=rtol, atol=rtol * scale)


def one_weight_net(backend):
    """a = w x + b (identity output, quadratic cost): with x = 1, y = 0, grad_w = grad_b = w + b."""
    net = nnfast.Network([1, 1], activation="identity", cost="quadratic", backend=backend, seed=0)
    net.weights = [[[1.0]]]
    net.biases = [[0.5]]
    return net


def hand_steps(name, steps, eta, lmbda_over_n=0.0):
    """The optimizers' formulas written out for (w, b) = (1, 0.5), x = 1, y = 0, one example."""
    w, b = 1.0, 0.5
    state = {"w": [0.0, 0.0], "b": [0.0, 0.0]}
    for t in range(1, steps + 1):
        delta = w + b
        grads = {"w": delta + lmbda_over_n * w, "b": delta}
        new = {}
        for key, value in (("w", w), ("b", b)):
            g, s = grads[key], state[key]
            if name == "sgd":
                new[key] = value - eta * g
            elif name == "momentum":
                s[0] = 0.9 * s[0] - eta * g
                new[key] = value + s[0]
            elif name == "nesterov":
                previous = s[0]
                s[0] = 0.9 * previous - eta * g
                new[key] = value - 0.9 * previous + 1.9 * s[0]
            elif name == "adagrad":
                s[0] += g * g
                new[key] = value - eta * g / (math.sqrt(s[0]) + 1e-8)
            elif name == "rmsprop":
                s[0] = 0.9 * s[0] + 0.1 * g * g
                new[key] = value - eta * g / (math.sqrt(s[0]) + 1e-8)
            elif name == "adam":
                s[0] = 0.9 * s[0] + 0.1 * g
                s[1] = 0.999 * s[1] + 0.001 * g * g
                m_hat, v_hat = s[0] / (1 - 0.9 ** t), s[1] / (1 - 0.999 ** t)
                new[key] = value - eta * m_hat / (math.sqrt(v_hat) + 1e-8)
        w, b = new["w"], new["b"]
    return w, b


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("name", NAMES)
def test_optimizer_steps_by_hand(backend, name):
    net = one_weight_net(backend)
    net.fit([[1.0]], [[0.0]], epochs=3, batch_size=1, eta=0.1, lmbda=0.5, optimizer=name,
            monitor=False)
    w, b = hand_steps(name, 3, 0.1, lmbda_over_n=0.5)
    assert net.weights[0][0, 0] == pytest.approx(w, rel=1e-14, abs=1e-15)
    assert net.biases[0][0] == pytest.approx(b, rel=1e-14, abs=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_every_optimizer_learns(name):
    X, y = blobs(150, seed=5)
    net = nnfast.Network([6, 16, 3], activation="relu", output_activation="softmax",
                         cost="log_likelihood", seed=0)
    eta = {"sgd": 0.05, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.05, "rmsprop": 0.002,
           "adam": 0.002}[name]
    history = net.fit(X, y, epochs=30, batch_size=10, eta=eta, optimizer=name)
    assert history.train_cost[-1] < history.train_cost[0] / 3
    assert net.accuracy(X, y) >= 0.95


@pytest.mark.parametrize("name", ["sgd", "adam", "nesterov"])
def test_fit_again_continues_exactly(name):
    X, y = blobs(50)
    once, twice = (nnfast.Network([6, 5, 3], seed=1, dropout=0.2) for _ in range(2))
    once.fit(X, y, epochs=4, batch_size=7, eta=0.01, optimizer=name)
    twice.fit(X, y, epochs=2, batch_size=7, eta=0.01, optimizer=name)
    twice.fit(X, y, epochs=2, batch_size=7, eta=0.01, optimizer=name)
    np.testing.assert_array_equal(twice.params, once.params)
    assert twice.optimizer_steps == once.optimizer_steps == 4 * 8


def test_a_new_optimizer_starts_fresh():
    X, y = blobs(40)
    net = nnfast.Network([6, 5, 3], seed=1)
    net.fit(X, y, epochs=1, optimizer="momentum")
    assert net.optimizer_steps == 4 and np.any(net.optimizer_state[0] != 0)
    net.fit(X, y, epochs=1, optimizer=Momentum(mu=0.5))
    assert net.optimizer_steps == 4  # reset, then 4 steps
    net.fit(X, y, epochs=1, optimizer="adam")
    assert len(net.optimizer_state[1]) == len(net.params)


@pytest.mark.parametrize("bad,error", [("adamw", ValueError), (Adam(beta1=1.0), ValueError),
                                       (Adam(eps=0.0), ValueError), (Momentum(mu=float("nan")), ValueError),
                                       (42, TypeError)])
def test_bad_optimizers_are_refused(bad, error):
    X, y = blobs(20)
    net = nnfast.Network([6, 3], seed=0)
    before = net.params.copy()
    with pytest.raises(error):
        net.fit(X, y, epochs=1, optimizer=bad)
    np.testing.assert_array_equal(net.params, before)
    assert net.optimizer == get_optimizer("sgd")


# ---------------------------------------------------------------- schedules

def test_inverse_time_schedule():
    X, y = blobs(40)
    net = nnfast.Network([6, 5, 3], seed=0)
    history = net.fit(X, y, epochs=6, eta=0.8, schedule=InverseTime(tau=3))
    assert history.eta == [0.8 * 3 / max(t, 3) for t in range(1, 7)]  # the seeds' formula
    assert history.eta[:3] == pytest.approx([0.8] * 3) and history.eta[5] == pytest.approx(0.4)
    # the same as driving eta by hand, epoch by epoch
    manual = nnfast.Network([6, 5, 3], seed=0)
    for eta in history.eta:
        manual.fit(X, y, epochs=1, eta=eta)
    np.testing.assert_array_equal(manual.params, net.params)


def test_halve_on_plateau_logic():
    schedule = HalveOnPlateau(patience=2, min_ratio=1 / 4)
    schedule.reset(1.0)

    class Fake:
        validation_accuracy = []

    history, etas = Fake(), []
    for epoch, accuracy in enumerate([0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7], 1):
        eta = schedule.next_eta(epoch, history)
        etas.append(eta)
        if eta is None:
            break
        history.validation_accuracy.append(accuracy)
    # 0.6 at epoch 2; no gain at 3, 4 -> halve before epoch 5; 5, 6 -> halve before epoch 7;
    # 0.7 at epoch 7; 8, 9 -> eta 0.125 < 1/4: stop
    assert etas == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, None]


def test_halve_on_plateau_stops_training():
    X, y = blobs(40)
    net = nnfast.Network([6, 5, 3], seed=0)
    history = net.fit(X, y, epochs=200, eta=0.5, validation_data=(X, y),
                      schedule=HalveOnPlateau(patience=1, min_ratio=1 / 8))
    assert history.stop_reason == "schedule" and len(history) < 200
    assert min(history.eta) >= 0.5 / 8


def test_callable_schedule_and_bad_values():
    X, y = blobs(40)
    net = nnfast.Network([6, 5, 3], seed=0)
    history = net.fit(X, y, epochs=5, eta=1.0,
                      schedule=lambda epoch, eta0, history: None if epoch == 4 else eta0 / epoch)
    assert history.eta == [1.0, 0.5, 1 / 3] and history.stop_reason == "schedule"
    with pytest.raises(ValueError, match="schedule gave eta"):
        net.fit(X, y, epochs=2, schedule=lambda epoch, eta0, history: -1.0)
    with pytest.raises(ValueError, match="need validation_data"):
        net.fit(X, y, epochs=2, schedule="halve_on_plateau")


# ---------------------------------------------------------------- early stopping

def test_early_stopping_restores_the_best_weights():
    X, y = blobs(60, seed=3)
    Xv, yv = blobs(30, seed=4)
    net = nnfast.Network([6, 20, 3], seed=0)
    snapshots = {}
    history = net.fit(X, y, epochs=100, eta=3.0, validation_data=(Xv, yv), early_stopping=3,
                      callbacks=[lambda net, h: snapshots.__setitem__(h.epoch[-1], net.params.copy())])
    assert history.stop_reason == "early_stopping" and len(history) < 100
    best = history.best_epoch
    assert history.validation_accuracy[best - 1] == max(history.validation_accuracy)
    assert len(history) == best + 3
    np.testing.assert_array_equal(net.params, snapshots[best])
    with pytest.raises(ValueError, match="need validation_data"):
        net.fit(X, y, epochs=2, early_stopping=2)


# ---------------------------------------------------------------- callbacks

def test_epoch_callbacks_see_the_history_and_can_stop():
    X, y = blobs(40)
    net = nnfast.Network([6, 5, 3], seed=0)
    seen = []

    def watch(net, history):
        seen.append((len(history), history.train_accuracy[-1]))
        return len(history) == 3

    history = net.fit(X, y, epochs=10, callbacks=[watch])
    assert [n for n, _ in seen] == [1, 2, 3] and history.stop_reason == "callback"

    def stop(net, history):
        raise nnfast.StopTraining

    assert len(net.fit(X, y, epochs=10, callbacks=stop)) == 1


class EveryThree(nnfast.Callback):
    every_batches = 3

    def __init__(self):
        self.calls = []

    def on_batches(self, net, history, epoch, batches_done):
        self.calls.append((epoch, batches_done))


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_batch_callbacks_run_every_k_batches_and_change_nothing(backend):
    X, y = blobs(100)
    plain = nnfast.Network([6, 5, 3], seed=0, backend=backend, dropout=0.3)
    chunked = nnfast.Network([6, 5, 3], seed=0, backend=backend, dropout=0.3)
    plain.fit(X, y, epochs=2, batch_size=10, optimizer="adam", eta=0.01)
    callback = EveryThree()
    chunked.fit(X, y, epochs=2, batch_size=10, optimizer="adam", eta=0.01, callbacks=[callback])
    assert callback.calls == [(1, 3), (1, 6), (1, 9), (2, 3), (2, 6), (2, 9)]
    np.testing.assert_array_equal(chunked.params, plain.params)


def test_bad_callbacks_are_refused():
    X, y = blobs(20)
    net = nnfast.Network([6, 3], seed=0)
    with pytest.raises(TypeError, match="callbacks"):
        net.fit(X, y, epochs=1, callbacks=[42])
    bad = EveryThree()
    bad.every_batches = 0
    with pytest.raises(ValueError, match="every_batches"):
        net.fit(X, y, epochs=1, callbacks=[bad])


# ---------------------------------------------------------------- history

def test_history_records_save_load_and_plot(tmp_path):
    X, y = blobs(40)
    net = nnfast.Network([6, 5, 3], seed=0)
    history = net.fit(X, y, epochs=3, eta=0.4, validation_data=(X[:10], y[:10]))
    assert history.eta == [0.4] * 3 and len(history.eval_seconds) == 3
    assert history.train_cost[-1] == pytest.approx(net.cost(X, y))
    path = tmp_path / "history.json"
    history.save(path)
    assert nnfast.History.load(path) == history
    (tmp_path / "junk.json").write_text('{"what": 1}')
    with pytest.raises(ValueError, match="not an nnfast history"):
        nnfast.History.load(tmp_path / "junk.json")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="nnfast\\[plot\\]"):
            history.plot(tmp_path / "curves.png")
    else:
        history.plot(tmp_path / "curves.png")
        assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_both_backends_agree_under_schedules_early_stopping_and_batch_callbacks():
    X, y = blobs(80, seed=3)
    Xv, yv = blobs(30, seed=4)
    histories, nets = [], []
    for backend in ("numpy", "cython"):
        net = nnfast.Network([6, 12, 3], backend=backend, seed=0, batch_norm=True, dropout=0.1)
        histories.append(net.fit(X, y, epochs=40, eta=2.0, validation_data=(Xv, yv),
                                 schedule=InverseTime(tau=5), early_stopping=4, optimizer="nesterov",
                                 callbacks=[EveryThree()]))
        nets.append(net)
    assert histories[0].eta == histories[1].eta and histories[0].best_epoch == histories[1].best_epoch
    assert histories[0].stop_reason == histories[1].stop_reason
    np.testing.assert_allclose(nets[1].params, nets[0].params, rtol=1e-10, atol=1e-12)
