"""What keeps training safe when something goes wrong: divergence, Ctrl-C, and one network used from
two threads at once (see RELIABILITY.md).

- `TrainingDiverged`: NaN or infinity in the parameters (or the cost) after an epoch; the network is
  put back to the state it had after the last finished epoch (`Snapshot`).
- `TrainingInterrupted`: Ctrl-C during `fit`; training stops at a mini-batch boundary, so every
  batch is either fully applied or not at all (`deferred_sigint`, and the compiled loop's own check).
- `UsageLock`: a network refuses to be trained from one thread while another thread trains it or
  reads it; reading (predict, cost, ...) from several threads at once is allowed.
"""

import contextlib
import functools
import signal
import threading

import numpy as np

from .._validation import all_finite


class TrainingDiverged(FloatingPointError):
    """`fit` stopped because NaN or infinity appeared in the parameters or in the cost.

    The network keeps the parameters (and the optimizer's state, batch norm's running statistics)
    it had after the last finished epoch (before `fit` when the first epoch diverged).

    Attributes: epoch (the epoch that diverged, 1-based), eta (its learning rate), history (the
    History of the finished epochs, also in net.history).
    """

    def __init__(self, message, epoch=None, eta=None, history=None):
        super().__init__(message)
        self.epoch = epoch
        self.eta = eta
        self.history = history


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during `fit`: training stopped at a mini-batch boundary.

    A KeyboardInterrupt, so ``except KeyboardInterrupt`` still catches it. The network holds every
    batch taken so far (no batch is half applied); net.history (also `history` here) holds the
    finished epochs. Attributes: epoch (the epoch running when it stopped), batches_done (batches of
    that epoch that were applied), batches_total, history.
    """

    def __init__(self, message, epoch=None, batches_done=None, batches_total=None, history=None):
        super().__init__(message)
        self.epoch = epoch
        self.batches_done = batches_done
        self.batches_total = batches_total
        self.history = history


def diverged(epoch, eta, history, what):
    before = (f"the weights of epoch {epoch - 1}, the last finished one" if epoch > 1
              else "the weights it had before fit")
    return TrainingDiverged(
        f"training diverged in epoch {epoch}: {what} became NaN or infinite. The network keeps "
        f"{before} (net.history holds the finished epochs). Try a smaller learning rate "
        f"(eta was {eta:g}), or a cost/activation pairing that saturates less.",
        epoch=epoch, eta=eta, history=history)


def interrupted(epoch, batches_done, batches_total, history, rolled_back=False):
    if rolled_back:
        what = (f"in epoch {epoch}, inside a batch; that epoch's batches were undone (the weights "
                "are those " + (f"after epoch {epoch - 1})" if epoch > 1 else "before fit)"))
    elif batches_done >= batches_total:
        what = f"after epoch {epoch}"
    else:
        what = (f"in epoch {epoch} after {batches_done} of {batches_total} mini-batches; the weights "
                f"include those {batches_done} updates (no batch is half applied)")
    finished = len(history.epoch)
    return TrainingInterrupted(
        f"training interrupted (Ctrl-C) {what}; net.history holds the {finished} finished "
        f"epoch{'s' if finished != 1 else ''}",
        epoch=epoch, batches_done=0 if rolled_back else batches_done, batches_total=batches_total,
        history=history)


def state_finite(net):
    """True when the parameters, the optimizer's state and the running statistics are all finite:
    one summing pass over each (see all_finite), microseconds next to an epoch."""
    return (all_finite(net.params) and all(all_finite(s) for s in net.optimizer_state)
            and all_finite(net.bn_running))


class Snapshot:
    """A copy of everything an epoch changes in a network (the random generator aside): params,
    the optimizer's state arrays and step count, batch norm's running statistics. The buffers
    are allocated once and refilled at every epoch start."""

    def __init__(self, net):
        self.params = np.empty_like(net.params)
        self.state = tuple(np.empty_like(s) for s in net.optimizer_state)
        self.running = np.empty_like(net.bn_running)
        self.steps = 0

    def take(self, net):
        np.copyto(self.params, net.params)
        for saved, state in zip(self.state, net.optimizer_state):
            np.copyto(saved, state)
        np.copyto(self.running, net.bn_running)
        self.steps = net.optimizer_steps

    def restore(self, net):
        net.params[...] = self.params
        for saved, state in zip(self.state, net.optimizer_state):
            state[...] = saved
        net.bn_running[...] = self.running
        net.optimizer_steps = self.steps


# ---------------------------------------------------------------------- Ctrl-C

class InterruptRequest:
    """Set by the SIGINT handler of `deferred_sigint`; `flag` (one uint8) is read by the compiled
    training loop between mini-batches, without the GIL."""

    def __init__(self):
        self.flag = np.zeros(1, dtype=np.uint8)
        self.handled = False

    @property
    def requested(self):
        return bool(self.flag[0])


_active_request = None


def _on_sigint(signum, frame):
    request = _active_request
    if request is None or request.flag[0]:
        raise KeyboardInterrupt  # a second Ctrl-C (or a stale handler): at once
    request.flag[0] = 1


@contextlib.contextmanager
def deferred_sigint():
    """While training: the first Ctrl-C only asks training to stop at the next mini-batch boundary
    (the loop raises TrainingInterrupted there, typically within tens of milliseconds); a second
    Ctrl-C before that raises KeyboardInterrupt at once (an escape hatch, e.g. from a callback that
    hangs; a batch running in the NumPy backend is then undone, see training.py).

    Only in the main thread (the only one Python runs signal handlers in) and only while SIGINT has
    Python's default handler; a program with its own SIGINT handler keeps it (the compiled loop
    still runs it at batch boundaries). A nested fit (from a callback) shares the outer request."""
    global _active_request
    if threading.current_thread() is not threading.main_thread():
        yield InterruptRequest()  # never set: signals reach the main thread only
        return
    handler = signal.getsignal(signal.SIGINT)
    if handler is _on_sigint and _active_request is not None:
        yield _active_request     # a fit inside a fit's callback
        return
    if handler is not signal.default_int_handler:
        yield InterruptRequest()  # the program's own handler stays in charge
        return
    request = InterruptRequest()
    _active_request = request
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield request
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _active_request = None
    if request.requested and not request.handled:  # pressed after training's last check
        raise KeyboardInterrupt


# ---------------------------------------------------------------------- threads

class UsageLock:
    """Per-network guard against use from two threads at once, never blocking: training (and
    anything that writes the parameters) is exclusive, reading (predict, feedforward, cost,
    accuracy, gradient, save) may happen from several threads at once. The thread that trains may
    also read (callbacks call net.accuracy during fit). A refused call raises RuntimeError and
    changes nothing."""

    __slots__ = ("_lock", "_writer", "_writer_what", "_depth", "_readers")

    def __init__(self):
        self._lock = threading.Lock()
        self._writer = None        # the thread id that trains (or writes), or None
        self._writer_what = None
        self._depth = 0
        self._readers = {}         # thread id -> nesting depth

    def __deepcopy__(self, memo):  # a copy of a network is a new network: free to use
        return UsageLock()

    def __reduce__(self):
        return UsageLock, ()

    def _refuse(self, what, other):
        raise RuntimeError(
            f"{what}: the network is in use by another thread ({other}). A network may be read "
            "(predict, cost, ...) from several threads at once, but while one thread trains it no "
            "other thread may use it; give each thread its own network (e.g. save and load a copy)")

    def enter(self, what, write):
        me = threading.get_ident()
        with self._lock:
            if self._writer is not None and self._writer != me:
                self._refuse(what, self._writer_what)
            if write:
                for thread in self._readers:
                    if thread != me:
                        self._refuse(what, "reading it")
                if self._writer is None:
                    self._writer, self._writer_what = me, what
                self._depth += 1
            else:
                self._readers[me] = self._readers.get(me, 0) + 1

    def leave(self, write):
        me = threading.get_ident()
        with self._lock:
            if write:
                self._depth -= 1
                if self._depth == 0:
                    self._writer = self._writer_what = None
            else:
                depth = self._readers[me] - 1
                if depth:
                    self._readers[me] = depth
                else:
                    del self._readers[me]

    @contextlib.contextmanager
    def using(self, what, write=False):
        self.enter(what, write)
        try:
            yield
        finally:
            self.leave(write)


def uses_network(write=False):
    """Decorator for Network methods: hold the network's UsageLock (exclusively when `write`)."""
    def decorate(method):
        what = method.__name__

        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            usage = self._usage
            usage.enter(what, write)
            try:
                return method(self, *args, **kwargs)
            finally:
                usage.leave(write)
        return wrapper
    return decorate
