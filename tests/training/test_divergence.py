"""Training that diverges stops with TrainingDiverged, naming the epoch; the network keeps the state of
the last finished epoch (weights, optimizer state, batch norm's running statistics), and the history
of the finished epochs stays available. Both backends."""

import warnings

import numpy as np
import pytest

import nnfast
from nnfast import Callback, TrainingDiverged

BACKENDS = ["cython", "numpy"]


def data(n=60, n_in=4, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, n_in)), rng.integers(0, n_out, n)


def explode_at(epoch, small=0.05):
    """A schedule with a sane eta until `epoch`, then 1e6."""
    return lambda e, eta0, history: small if e < epoch else 1e6


def quiet_fit(net, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow warnings on the way
        return net.fit(*args, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
def test_divergence_in_the_first_epoch_restores_the_initial_weights(backend):
    X, y = data()
    net = nnfast.Network([4, 6, 3], activation="identity", cost="quadratic", backend=backend, seed=1)
    initial = net.params.copy()
    with pytest.raises(TrainingDiverged, match=r"diverged in epoch 1\b.*smaller learning rate") as info:
        quiet_fit(net, X, y, epochs=5, eta=1e6, batch_size=10)
    assert isinstance(info.value, FloatingPointError)
    assert info.value.epoch == 1 and info.value.eta == 1e6
    assert "before fit" in str(info.value)
    np.testing.assert_array_equal(net.params, initial)
    assert info.value.history is net.history and net.history.epoch == []
    assert net.optimizer_steps == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_divergence_keeps_the_last_finished_epoch_bit_for_bit(backend, optimizer):
    """Diverging in epoch 3 leaves exactly the state of a run of 2 epochs with the same seed."""
    X, y = data()
    spec = dict(activation="relu", output_activation="identity", cost="quadratic", backend=backend,
                batch_norm=True)
    net = nnfast.Network([4, 6, 3], seed=1, **spec)
    with pytest.raises(TrainingDiverged, match="diverged in epoch 3.*weights of epoch 2") as info:
        quiet_fit(net, X, y, epochs=6, batch_size=10, optimizer=optimizer, schedule=explode_at(3))
    assert info.value.epoch == 3 and info.value.history.epoch == [1, 2]
    assert len(net.history.train_cost) == 2 and np.all(np.isfinite(net.history.train_cost))

    twin = nnfast.Network([4, 6, 3], seed=1, **spec)
    twin.fit(X, y, epochs=2, batch_size=10, optimizer=optimizer, eta=0.05)
    np.testing.assert_array_equal(net.params, twin.params)
    np.testing.assert_array_equal(net.bn_running, twin.bn_running)
    for mine, theirs in zip(net.optimizer_state, twin.optimizer_state):
        np.testing.assert_array_equal(mine, theirs)
    assert net.optimizer_steps == twin.optimizer_steps == 12
    # and the network is still usable
    assert np.all(np.isfinite(net.feedforward(X)))


class _Blowup(Callback):
    """Writes huge (finite) weights into a one-layer network after 4 of the 6 batches of epoch 2:
    the last two steps keep the weights finite (about 1e155) but the cost (about 1e310) overflows,
    which must count as divergence too."""
    every_batches = 2

    def on_batches(self, net, history, epoch, batches_done):
        if epoch == 2:
            net.weights[-1][...] = 1e155


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_cost_that_overflows_counts_as_divergence(backend):
    X, y = data()
    net = nnfast.Network([4, 3], activation="identity", cost="quadratic", backend=backend, seed=2)
    with pytest.raises(TrainingDiverged, match="epoch 2: the cost"):
        quiet_fit(net, X, y, epochs=3, eta=0.1, batch_size=10, callbacks=[_Blowup()])
    twin = nnfast.Network([4, 3], activation="identity", cost="quadratic", backend=backend, seed=2)
    twin.fit(X, y, epochs=1, eta=0.1, batch_size=10)
    np.testing.assert_array_equal(net.params, twin.params)


@pytest.mark.parametrize("backend", BACKENDS)
def test_validation_cost_is_checked_without_monitoring(backend):
    X, y = data()
    net = nnfast.Network([4, 3], activation="identity", cost="quadratic", backend=backend, seed=2)
    with pytest.raises(TrainingDiverged, match="epoch 2: the cost"):
        quiet_fit(net, X, y, epochs=3, eta=0.1, batch_size=10, monitor=False,
                  validation_data=(X[:10], y[:10]), callbacks=[_Blowup()])
    assert net.history.epoch == [1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_healthy_run_is_not_affected(backend):
    """The check must not fire on ordinary training (and costs nothing in results)."""
    X, y = data()
    net = nnfast.Network([4, 6, 3], backend=backend, seed=3)
    history = net.fit(X, y, epochs=5, eta=0.5, batch_size=10)
    assert history.epoch == [1, 2, 3, 4, 5] and np.all(np.isfinite(net.params))
