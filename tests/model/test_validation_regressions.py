"""Regression tests for what the property-based tests (test_properties.py) and the probes around them
found in the validation layer; each failed with a non-documented exception or a wrong answer."""

import warnings

import numpy as np
import pytest

import nnfast

X = np.random.default_rng(0).random((6, 3))
Y = np.array([0, 1, 0, 1, 1, 0])
BACKENDS = ["cython", "numpy"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch_size", [10**30, 2**63, 2**63 - 1])
def test_a_batch_size_beyond_c_integers_means_one_batch(backend, batch_size):
    """Was OverflowError (Python int too large to convert to C ssize_t)."""
    net = nnfast.Network([3, 4, 2], seed=0, backend=backend)
    twin = nnfast.Network([3, 4, 2], seed=0, backend=backend)
    net.fit(X, Y, epochs=2, batch_size=batch_size)
    twin.fit(X, Y, epochs=2, batch_size=len(X))
    np.testing.assert_array_equal(net.params, twin.params)


@pytest.mark.parametrize("n_threads", [4097, 2**31, 10**10])
def test_absurd_thread_counts_are_refused(n_threads):
    """Was OverflowError in the compiled call, or an attempt to start billions of threads."""
    with pytest.raises(ValueError, match="n_threads must be at most 4096"):
        nnfast.Network([3, 4, 2], n_threads=n_threads)
    net = nnfast.Network([3, 4, 2])
    net.n_threads = n_threads
    with pytest.raises(ValueError, match="at most 4096"):
        net.predict(X)


@pytest.mark.parametrize("size", [2**31, 2**40])
def test_layer_sizes_beyond_c_ints_are_refused_before_allocating(size):
    """Was MemoryError (trying to allocate 48 GiB .. 48 TiB) for sizes the kernels cannot index."""
    with pytest.raises(ValueError, match="at most 2147483647"):
        nnfast.Network([1, size, 1])


def test_gradcheck_wants_a_network():
    """Was AttributeError ('str' object has no attribute 'sizes')."""
    with pytest.raises(TypeError, match="expects an nnfast.Network"):
        nnfast.gradcheck("net", X, Y)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradcheck_with_a_cost_that_is_not_finite_says_so(backend):
    """A NaN relative error was silently dropped by max() (a broken check could report 0.0)."""
    net = nnfast.Network([3, 4, 2], activation="identity", cost="quadratic", seed=0,
                         backend=backend)
    before = net.params.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="cost is not finite"):
            nnfast.gradcheck(net, X * 1e300, Y, eps=1e300)
    np.testing.assert_array_equal(net.params, before)  # every parameter restored


def test_huge_finite_inputs_are_not_blamed_on_the_weights():
    """The compiled inference said 'the network's parameters are not finite' for a finite X whose
    first-layer products overflow; now a ValueError that names X and the overflow."""
    net = nnfast.Network([3, 4, 2], seed=0)
    net.weights[0][...] = 1.0  # every first-layer unit sums three values of 1e308: inf
    huge = np.full((6, 3), 1e308)
    with pytest.raises(ValueError, match="X is finite, but so large .* overflow in float64"):
        net.predict(huge)
    for call in (net.accuracy, net.cost):
        with pytest.raises(ValueError, match="overflow"):
            call(huge, Y)


def test_gradcheck_holds_the_network():
    """gradcheck writes the parameters while it runs: another thread must not use the network."""
    net = nnfast.Network([3, 4, 2], seed=0)
    net._usage.enter("fit", True)  # as if this thread were training it
    try:
        import threading
        errors = []
        thread = threading.Thread(target=lambda: errors.append(
            pytest.raises(RuntimeError, nnfast.gradcheck, net, X, Y)))
        thread.start()
        thread.join(60)
        assert len(errors) == 1 and "in use by another thread" in str(errors[0].value)
    finally:
        net._usage.leave(True)


def test_hinge_cost_needs_two_output_units():
    """Found by test_properties: with one output unit the hinge cost's target class (1 for a
    positive label) indexed a second unit that does not exist: IndexError in the NumPy backend and
    an out-of-bounds read/write in the compiled one."""
    with pytest.raises(ValueError, match="hinge.*at least 2 output units"):
        nnfast.Network([3, 4, 1], activation="relu", output_activation="identity", cost="hinge")
    nnfast.Network([3, 4, 2], activation="relu", output_activation="identity", cost="hinge")


def _one_output_table():
    """The layer table of a [3, 1] network with an identity output (what the hinge cost would
    pair with, had it two output units)."""
    from nnfast._backend import layer_table
    return layer_table(nnfast.Network([3, 1], activation="identity", cost="quadratic"))


def test_compiled_train_epoch_refuses_hinge_with_one_output():
    """The compiled entry point checks it too, before it releases the GIL."""
    from nnfast import _train
    spec, fparams = _one_output_table()
    params = np.zeros(3 + 1)
    with pytest.raises(ValueError, match="hinge"):
        _train.train_epoch(params, spec, fparams, np.zeros(0), 3, X, np.empty((0, 1)),
                           Y.astype(np.intp), np.arange(6, dtype=np.intp), 2, 0.1, 0.0, 6,
                           np.empty((0, 0), dtype=np.uint8), 1)
    np.testing.assert_array_equal(params, 0)


def test_compiled_evaluate_and_gradient_refuse_hinge_with_one_output():
    from nnfast import _train
    spec, fparams = _one_output_table()
    common = (np.zeros(4), spec, fparams, np.zeros(0), 3, X, np.empty((0, 1)), Y.astype(np.intp))
    with pytest.raises(ValueError, match="hinge"):
        _train.evaluate(*common, 4, 1)
    grad = np.full(4, 7.0)
    with pytest.raises(ValueError, match="hinge"):
        _train.gradient(*common, grad, 1)
    np.testing.assert_array_equal(grad, 7.0)


def test_assigned_weights_are_checked_after_conversion_to_the_network_dtype():
    """Found by test_properties: 1e300 is finite in float64 but inf in float32, and assigning it to
    a float32 network's weights was accepted, leaving infinite parameters."""
    net = nnfast.Network([3, 4, 2], dtype="float32", seed=0)
    before = net.params.copy()
    huge = np.full((4, 3), 1e300)
    with pytest.raises(ValueError, match="NaN or infinite values \\(in float32\\)"):
        net.weights[0] = huge
    with pytest.raises(ValueError, match="infinite"):
        net.weights = [huge, net.weights[1]]
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_schedule_refused_at_epoch_1_leaves_the_network_as_it_was(backend):
    """fit adopted the new optimizer (dropping the old one's state), lmbda, regularization and a
    new history before the schedule's first eta was checked."""
    net = nnfast.Network([3, 4, 2], seed=0, backend=backend)
    net.fit(X, Y, epochs=2, optimizer="adam", lmbda=0.5)
    history, state = net.history, [s.copy() for s in net.optimizer_state]
    optimizer, steps, params = net.optimizer, net.optimizer_steps, net.params.copy()
    with pytest.raises(ValueError, match="schedule gave eta"):
        net.fit(X, Y, optimizer="sgd", lmbda=0.0, regularization="l1",
                schedule=lambda epoch, eta0, h: float("nan"))
    assert net.optimizer is optimizer and net.optimizer_steps == steps
    assert net.lmbda == 0.5 and net.regularization == "l2" and net.history is history
    for mine, saved in zip(net.optimizer_state, state):
        np.testing.assert_array_equal(mine, saved)
    np.testing.assert_array_equal(net.params, params)
    net.fit(X, Y, epochs=1, optimizer="adam")  # and Adam continues from its state
    assert net.optimizer_steps == steps + 1
