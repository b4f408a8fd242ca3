"""Threads: different networks train at once with the same results as one after the other; one
network refuses a second thread while it trains (and allows concurrent reads); the process-wide BLAS
thread limit stays right when several threads set it at once."""

import copy
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import nnfast
from nnfast import _threads
from nnfast.training.guards import UsageLock

from _helpers import make_classification

TIMEOUT = 120  # seconds: only so that a deadlock fails the test instead of hanging CI


def blas_counts():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def run_in_threads(*functions):
    errors, threads = [], []
    for function in functions:
        def target(function=function):
            try:
                function()
            except BaseException as exc:  # reported by the test, not lost in the thread
                errors.append(exc)
        threads.append(threading.Thread(target=target))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "a thread is stuck"
    if errors:
        raise errors[0]


def train(spec, seed, X, y, epochs, callbacks=None):
    net = nnfast.Network(spec["sizes"], backend=spec["backend"], seed=seed, n_threads=spec["n_threads"])
    net.fit(X, y, epochs=epochs, batch_size=10, eta=0.5, lmbda=0.1, callbacks=callbacks)
    return net


@pytest.mark.parametrize("backend,n_threads", [("cython", 1), ("cython", 2), ("numpy", 1)])
def test_two_networks_in_two_threads_match_one_after_the_other(backend, n_threads):
    """The two fits are forced to overlap: after every epoch each waits for the other (a barrier),
    so epoch k of both runs at the same time."""
    X, y = make_classification(600, 30, 4, seed=1)
    X2, y2 = make_classification(500, 30, 4, seed=2)
    spec = dict(sizes=[30, 40, 4], backend=backend, n_threads=n_threads)
    alone = [train(spec, 11, X, y, 6), train(spec, 12, X2, y2, 6)]

    barrier = threading.Barrier(2, timeout=TIMEOUT)
    together = [None, None]

    def job(slot, seed, data):
        together[slot] = train(spec, seed, *data, 6, callbacks=[lambda net, h: barrier.wait() and None])

    run_in_threads(lambda: job(0, 11, (X, y)), lambda: job(1, 12, (X2, y2)))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a.params, b.params)
        assert a.history.train_cost == b.history.train_cost


def test_one_network_refuses_a_second_thread_while_it_trains():
    X, y = make_classification(200, 8, 3)
    net = nnfast.Network([8, 6, 3], seed=0)
    inside, release = threading.Event(), threading.Event()
    seen_inside = []

    def pause(n, history):  # the training thread itself may read the network (re-entrant)
        seen_inside.append(n.accuracy(X, y))
        inside.set()
        release.wait(TIMEOUT)

    trainer = threading.Thread(target=lambda: net.fit(X, y, epochs=2, callbacks=[pause]))
    trainer.start()
    try:
        assert inside.wait(TIMEOUT)
        before = net.params.copy()
        for call in (lambda: net.fit(X, y, epochs=1), lambda: net.predict(X),
                     lambda: net.cost(X, y), lambda: net.accuracy(X, y),
                     lambda: net.gradient(X, y), lambda: setattr(net, "weights", net.weights)):
            with pytest.raises(RuntimeError, match="in use by another thread"):
                call()
        np.testing.assert_array_equal(net.params, before)  # refused calls changed nothing
    finally:
        release.set()  # (stays set: the second epoch's callback goes straight through)
        trainer.join(TIMEOUT)
    assert not trainer.is_alive()
    assert len(seen_inside) == 2
    net.fit(X, y, epochs=1)  # free again once the training thread is done
    assert net.history.epoch == [1]


def test_reads_from_several_threads_at_once_are_allowed():
    X, _ = make_classification(300, 8, 3)
    net = nnfast.Network([8, 6, 3], seed=0, n_threads=1)
    expected = net.feedforward(X)
    barrier = threading.Barrier(3, timeout=TIMEOUT)
    outputs = []

    def reader():
        for _ in range(30):
            barrier.wait()
            outputs.append(net.feedforward(X))

    run_in_threads(reader, reader, reader)
    assert len(outputs) == 90
    for out in outputs:
        np.testing.assert_array_equal(out, expected)


def test_usage_lock_rules():
    lock = UsageLock()
    results = {}

    def other(name, write):
        try:
            lock.enter(name, write)
            lock.leave(write)
            results[name] = "ok"
        except RuntimeError as exc:
            results[name] = str(exc)

    lock.enter("predict", False)  # this thread reads
    for name, write in (("read", False), ("fit", True)):
        thread = threading.Thread(target=other, args=(name, write))
        thread.start()
        thread.join(TIMEOUT)
    assert results["read"] == "ok"
    assert "in use by another thread (reading it)" in results["fit"]
    lock.enter("fit", True)  # the reading thread may also write (a callback during predict...)
    lock.leave(True)
    lock.leave(False)
    lock.enter("fit", True)
    thread = threading.Thread(target=other, args=("read", False))
    thread.start()
    thread.join(TIMEOUT)
    assert "in use by another thread (fit)" in results["read"]
    lock.leave(True)
    other("after", True)
    assert results["after"] == "ok"


def test_a_copied_network_has_its_own_lock():
    X, y = make_classification(50, 4, 2)
    net = nnfast.Network([4, 3, 2], seed=0)
    twin = copy.deepcopy(net)
    assert twin._usage is not net._usage
    net._usage.enter("fit", True)
    try:
        result = []
        thread = threading.Thread(target=lambda: result.append(twin.fit(X, y, epochs=1)))
        thread.start()
        thread.join(TIMEOUT)
        assert len(result) == 1
    finally:
        net._usage.leave(True)


def test_blas_limits_from_two_threads_stay_consistent():
    """Two threads open overlapping blas_threads blocks: inside a block of 1, BLAS has 1 thread
    (whatever the other thread does), and the counts from before come back at the end. With a
    plain save/restore per block, the first block to close would restore the original count under
    the other thread's feet."""
    if not blas_counts():
        pytest.skip("no BLAS library visible to threadpoolctl")
    with threadpool_limits(limits=3, user_api="blas"):
        original = blas_counts()
        assert set(original) == {3}
        barrier = threading.Barrier(2, timeout=TIMEOUT)
        wrong = []

        def worker(n, offset):
            for i in range(300):
                if i % 50 == 0:
                    barrier.wait()
                with _threads.blas_threads(n):
                    counts = blas_counts()
                    if max(counts) > n:
                        wrong.append((n, counts))
                    if (i + offset) % 3 == 0:
                        threading.Event().wait(0.0005)

        run_in_threads(lambda: worker(1, 0), lambda: worker(2, 1))
        assert wrong == []
        assert blas_counts() == original


def test_training_in_two_threads_keeps_blas_at_one_thread_for_the_compiled_backend():
    """A NumPy-backend fit (BLAS at n_threads) overlapping a compiled fit (BLAS at 1): the compiled
    one must see 1 BLAS thread at every epoch, and everything is put back afterwards."""
    if not blas_counts():
        pytest.skip("no BLAS library visible to threadpoolctl")
    X, y = make_classification(300, 20, 3)
    with threadpool_limits(limits=3, user_api="blas"):
        original = blas_counts()
        barrier = threading.Barrier(2, timeout=TIMEOUT)
        seen = []

        def compiled():
            net = nnfast.Network([20, 30, 3], seed=0, n_threads=1)
            net.fit(X, y, epochs=8, callbacks=[lambda n, h: (seen.append(max(blas_counts())),
                                                             barrier.wait()) and None])

        def reference():
            net = nnfast.Network([20, 30, 3], seed=0, n_threads=2, backend="numpy")
            net.fit(X, y, epochs=8, callbacks=[lambda n, h: barrier.wait() and None])

        run_in_threads(compiled, reference)
        assert seen == [1] * 8
        assert blas_counts() == original
