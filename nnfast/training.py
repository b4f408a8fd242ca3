"""The loop behind `Network.fit`: epochs, learning-rate schedules, early stopping, monitoring and
callbacks. Each epoch is one call into the backend (or one per k batches when a callback asks to
hear every k batches); everything here runs between those calls.
"""

import math
import time

import numpy as np

from .costs import penalty
from .history import History


class StopTraining(Exception):
    """Raise it from a callback to end training (after the current epoch's bookkeeping)."""


class Callback:
    """Base class for callbacks. `on_epoch_end` runs after every epoch; with `every_batches = k`,
    `on_batches` also runs after every k mini-batches. Returning True (or raising StopTraining)
    stops training. A plain callable f(net, history) is used as on_epoch_end."""

    every_batches = None

    def on_epoch_end(self, net, history):
        return None

    def on_batches(self, net, history, epoch, batches_done):
        return None


class _EpochFunction(Callback):
    def __init__(self, function):
        self.function = function

    def on_epoch_end(self, net, history):
        return self.function(net, history)


def as_callbacks(callbacks):
    if callbacks is None:
        return []
    if callable(callbacks) or isinstance(callbacks, Callback):
        callbacks = [callbacks]
    result = []
    for callback in callbacks:
        if isinstance(callback, Callback):
            every = callback.every_batches
            if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
                raise ValueError(f"{callback!r}: every_batches must be None or an integer >= 1")
            result.append(callback)
        elif callable(callback):
            result.append(_EpochFunction(callback))
        else:
            raise TypeError(f"callbacks must be callables or nnfast.Callback objects, got {callback!r}")
    return result


def _call(hooks):
    """Run the hooks; True if one of them asks to stop."""
    stop = False
    for hook in hooks:
        try:
            stop = bool(hook()) or stop
        except StopTraining:
            stop = True
    return stop


def train(net, X, labels, targets, validation, *, epochs, batch_size, eta, lmbda, shuffle, monitor,
          verbose, regularization, schedule, early_stopping, callbacks, n_threads):
    """Run the epochs; returns the History (also left in net.history)."""
    n = len(X)
    in_order = np.arange(n, dtype=np.intp)
    history = History()
    net.history = history
    schedule.reset(eta)
    every = min((c.every_batches for c in callbacks if c.every_batches), default=None)
    chunk_rows = n if every is None else every * batch_size
    best_accuracy, best_params, since_best = -math.inf, None, 0
    stop = False
    for epoch in range(1, epochs + 1):
        eta_epoch = schedule.next_eta(epoch, history)
        if eta_epoch is None:
            history.stop_reason = "schedule"
            break
        if isinstance(eta_epoch, bool) or not isinstance(eta_epoch, (int, float)) or not (
                math.isfinite(eta_epoch) and eta_epoch > 0):
            raise ValueError(f"the schedule gave eta = {eta_epoch!r} for epoch {epoch}; it must be a "
                             "positive finite number (or None to stop)")
        order = net.rng.permutation(n).astype(np.intp, copy=False) if shuffle else in_order
        keep = net._draw_dropout_masks(n)
        started = time.perf_counter()
        batches = 0
        for first in range(0, n, chunk_rows):
            steps = net._backend.train_epoch(net, X, labels, targets, order, batch_size, eta_epoch,
                                             lmbda, regularization, keep, first,
                                             min(first + chunk_rows, n), n_threads)
            net.optimizer_steps += steps
            batches += steps
            if every is not None and first + chunk_rows < n:
                due = [c for c in callbacks if c.every_batches and batches % c.every_batches == 0]
                if _call([lambda c=c: c.on_batches(net, history, epoch, batches) for c in due]):
                    stop = True
                    break
        trained = time.perf_counter()
        history.epoch.append(epoch)
        history.eta.append(float(eta_epoch))
        history.seconds.append(trained - started)
        if monitor:
            cost, accuracy = net._evaluate(X, labels, targets, n_threads)
            history.train_cost.append(cost + penalty(net.weights, lmbda, n, regularization))
            history.train_accuracy.append(accuracy)
        if validation is not None:
            cost, accuracy = net._evaluate(*validation, n_threads)
            history.validation_cost.append(
                cost + penalty(net.weights, lmbda, len(validation[0]), regularization))
            history.validation_accuracy.append(accuracy)
        history.eval_seconds.append(time.perf_counter() - trained)
        if verbose:
            print(history.epoch_line(), flush=True)
        if stop:
            history.stop_reason = "callback"
            break
        if early_stopping is not None:
            if history.validation_accuracy[-1] > best_accuracy:
                best_accuracy, since_best = history.validation_accuracy[-1], 0
                best_params = net.params.copy()
                history.best_epoch = epoch
            else:
                since_best += 1
                if since_best >= early_stopping:
                    history.stop_reason = "early_stopping"
                    break
        if _call([lambda c=c: c.on_epoch_end(net, history) for c in callbacks]):
            history.stop_reason = "callback"
            break
    if best_params is not None:
        net.params[...] = best_params  # early stopping keeps the best epoch's weights
    return history
