"""Ctrl-C during fit stops at a mini-batch boundary: every batch is fully applied or not at all, the
history keeps the finished epochs, and TrainingInterrupted (a KeyboardInterrupt) says where it
stopped. The weights are checked bit for bit against a replay of exactly the batches reported done.

The subprocess tests send a real SIGINT to a long fit (the compiled loop checks for signals between
batches, without waiting for the end of the epoch); the in-process tests raise SIGINT from a
callback at a known batch."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import nnfast
from nnfast import Callback, TrainingInterrupted
from nnfast._validation import check_data

BACKENDS = ["cython", "numpy"]
# the children import the nnfast these tests import (the installed one in CI)
PACKAGE_PARENT = Path(nnfast.__file__).resolve().parents[1]


def replay(seed, backend, X, y, sizes, finished_epochs, batches_done, batch_size, eta):
    """The parameters after `finished_epochs` epochs and then `batches_done` batches of the next."""
    twin = nnfast.Network(sizes, backend=backend, seed=seed, n_threads=1)
    if finished_epochs:
        twin.fit(X, y, epochs=finished_epochs, batch_size=batch_size, eta=eta, monitor=False)
    order = twin.rng.permutation(len(X)).astype(np.intp)
    if batches_done:
        Xc, labels, targets = check_data(X, y, sizes[0], sizes[-1], twin.dtype)
        with twin._blas_threads(1):
            twin._backend.train_epoch(twin, Xc, labels, targets, order, batch_size, eta, 0.0, "l2",
                                      None, 0, min(batches_done * batch_size, len(X)), 1)
    return twin.params


class _CtrlC(Callback):
    """Sends SIGINT to this process after `batch` batches of epoch `epoch`."""
    every_batches = 1

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batches(self, net, history, epoch, batches_done):
        if (epoch, batches_done) == (self.epoch, self.batch):
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ctrl_c_between_batches_stops_there(backend):
    X, y = np.random.default_rng(0).random((50, 6)), np.arange(50) % 3
    net = nnfast.Network([6, 5, 3], backend=backend, seed=4, n_threads=1)
    with pytest.raises(TrainingInterrupted, match=r"epoch 3 after 4 of 10 mini-batches") as info:
        net.fit(X, y, epochs=5, batch_size=5, eta=0.3, callbacks=[_CtrlC(3, 4)])
    exc = info.value
    assert isinstance(exc, KeyboardInterrupt)
    assert (exc.epoch, exc.batches_done, exc.batches_total) == (3, 4, 10)
    assert exc.history is net.history and net.history.epoch == [1, 2]
    assert len(net.history.train_cost) == 2
    assert net.optimizer_steps == 2 * 10 + 4
    np.testing.assert_array_equal(net.params, replay(4, backend, X, y, [6, 5, 3], 2, 4, 5, 0.3))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back


class _CtrlCTwice(Callback):
    every_batches = 1

    def on_batches(self, net, history, epoch, batches_done):
        if (epoch, batches_done) == (2, 3):
            os.kill(os.getpid(), signal.SIGINT)  # recorded: training would stop at the boundary
            os.kill(os.getpid(), signal.SIGINT)  # a second one: KeyboardInterrupt at once


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_second_ctrl_c_interrupts_at_once(backend):
    X, y = np.random.default_rng(0).random((50, 6)), np.arange(50) % 3
    net = nnfast.Network([6, 5, 3], backend=backend, seed=4, n_threads=1)
    with pytest.raises(KeyboardInterrupt) as info:
        net.fit(X, y, epochs=5, batch_size=5, eta=0.3, callbacks=[_CtrlCTwice()])
    assert not isinstance(info.value, TrainingInterrupted)  # raised by the handler, in the callback
    # the callback ran between batches, so the weights are still those of whole batches
    np.testing.assert_array_equal(net.params, replay(4, backend, X, y, [6, 5, 3], 1, 3, 5, 0.3))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_outside_fit_is_untouched():
    with pytest.raises(KeyboardInterrupt) as info:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10**6):  # the handler runs between bytecodes
            pass
    assert type(info.value) is KeyboardInterrupt


def test_fit_in_another_thread_leaves_signals_alone():
    X, y = np.random.default_rng(0).random((30, 4)), np.arange(30) % 2
    seen = []

    def work():
        net = nnfast.Network([4, 3, 2], seed=0, n_threads=1)
        net.fit(X, y, epochs=2, callbacks=[lambda n, h: seen.append(signal.getsignal(signal.SIGINT))])

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert seen == [signal.default_int_handler] * 2


CHILD = textwrap.dedent("""
    import json, signal, sys, time
    import numpy as np
    sys.path.insert(0, {package_parent!r})
    import nnfast
    from test_interrupt import replay

    backend, handler = sys.argv[1], sys.argv[2]
    if handler == "custom":  # the program's own handler: nnfast leaves it in place
        def own(signum, frame):
            raise KeyboardInterrupt("own handler")
        signal.signal(signal.SIGINT, own)
    rng = np.random.default_rng(0)
    X, y = rng.random((40000, 100)), rng.integers(0, 10, 40000)
    # a hidden layer wide enough that an epoch takes about 6 s on this machine, whatever the
    # kernels' speed: the signal (1 s after "ready") must land inside the first epoch
    probe = nnfast.Network([100, 1000, 10], backend=backend, seed=5, n_threads=1)
    began = time.perf_counter()
    probe.fit(X[:1000], y[:1000], epochs=1, batch_size=10, eta=0.1, monitor=False)
    epoch_seconds = (time.perf_counter() - began) * len(X) / 1000
    sizes = [100, int(min(8000, max(1000, 1000 * 6.0 / epoch_seconds))), 10]
    net = nnfast.Network(sizes, backend=backend, seed=5, n_threads=1)
    print("ready", flush=True)
    started = time.perf_counter()
    try:
        net.fit(X, y, epochs=50, batch_size=10, eta=0.1, monitor=False)
        print(json.dumps(dict(finished=True)))
        sys.exit(0)
    except nnfast.TrainingInterrupted as exc:
        stopped = time.perf_counter()
        finished = len(net.history.epoch)
        same = np.array_equal(net.params, replay(5, backend, X, y, sizes, finished,
                                                 exc.batches_done, 10, 0.1))
        print(json.dumps(dict(message=str(exc), epoch=exc.epoch, done=exc.batches_done,
                              total=exc.batches_total, finished=finished,
                              steps=net.optimizer_steps, finite=bool(np.isfinite(net.params).all()),
                              same=bool(same), seconds=stopped - started)))
""")


@pytest.mark.parametrize("backend,handler", [("cython", "default"), ("numpy", "default"),
                                             ("cython", "custom"), ("numpy", "custom")])
def test_sigint_to_a_long_fit(tmp_path, backend, handler):
    """A real SIGINT about 1 s into an epoch that takes about 6 s: the process reports a
    consistent state and exits (the 120 s timeout only guards CI against a hang)."""
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(package_parent=str(PACKAGE_PARENT)))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent))  # for `replay`
    child = subprocess.Popen([sys.executable, str(script), backend, handler], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        import time
        time.sleep(1.0)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report.get("finished") is not True, "the fit ended before the signal"
    assert report["finite"] and report["same"], report
    assert report["finished"] == report["epoch"] - 1
    assert report["steps"] == report["finished"] * report["total"] + report["done"]
    assert "interrupted (Ctrl-C)" in report["message"]
    if backend == "numpy" and handler == "custom":
        # the handler raised inside a NumPy batch: that epoch is undone, never half applied
        assert report["done"] == 0 and "undone" in report["message"]
    else:
        # stopped inside the epoch, not at its end: the loop noticed the signal between batches
        assert 0 < report["done"] < report["total"], report
