"""The loop behind every model's `fit`: epochs, learning-rate schedules, early stopping, monitoring and
callbacks. Each epoch is one call into the backend (or one per k batches when a callback asks to
hear every k batches); everything here runs between those calls.
"""

import math
import time

import numpy as np

from . import guards as _guards
from .callbacks import call_hooks
from ..costs import penalty
from .history import History


def train(net, X, labels, targets, validation, *, epochs, batch_size, eta, lmbda, shuffle, monitor,
          verbose, regularization, optimizer, schedule, early_stopping, callbacks, n_threads):
    """Adopt the optimizer (a new one starts with fresh state), lmbda and regularization, then run
    the epochs; returns the History (also left in net.history).

    Raises TrainingDiverged (NaN/inf in the parameters or the cost after an epoch: the network is
    put back to the end of the last finished epoch) and TrainingInterrupted (Ctrl-C: stops at a
    mini-batch boundary); see nnfast/training/guards.py. A ValueError or TypeError before the first batch
    (a schedule's invalid eta for epoch 1) leaves the network as it was before the call."""
    before = (net.optimizer, net.optimizer_state, net.optimizer_steps, net.lmbda, net.regularization,
              net.history)
    if optimizer != net.optimizer:
        net.optimizer = optimizer
        net._reset_optimizer_state()
    net.lmbda, net.regularization = lmbda, regularization
    steps = net.optimizer_steps
    history = History()
    net.history = history
    try:
        schedule.reset(eta)
        snapshot = _guards.Snapshot(net)
        with _guards.deferred_sigint() as interrupt:
            _epochs(net, X, labels, targets, validation, history, snapshot, interrupt, n=len(X),
                    epochs=epochs, batch_size=batch_size, lmbda=lmbda, shuffle=shuffle,
                    monitor=monitor, verbose=verbose, regularization=regularization,
                    schedule=schedule, early_stopping=early_stopping, callbacks=callbacks,
                    n_threads=n_threads)
    except (ValueError, TypeError):
        if not history.epoch and net.optimizer_steps == steps:  # refused before any batch
            (net.optimizer, net.optimizer_state, net.optimizer_steps, net.lmbda, net.regularization,
             net.history) = before
        raise
    return history


def _train_batches(net, X, labels, targets, order, batch_size, eta, lmbda, regularization, keep,
                   first, last, n_threads, interrupt, snapshot, epoch, done_before, history):
    """Batches first:last of the epoch; returns how many were taken. A Ctrl-C (or any exception)
    leaves no batch half applied: the compiled loop stops between batches and says how many it
    took; when that count is unknown (the NumPy backend stopped inside a batch), the epoch is
    undone."""
    total = -(-len(X) // batch_size)
    try:
        steps = net._backend.train_epoch(net, X, labels, targets, order, batch_size, eta, lmbda,
                                         regularization, keep, first, last, n_threads,
                                         interrupt.flag)
    except BaseException as exc:
        steps = getattr(exc, "nnfast_batches_done", None)
        if steps is None:
            snapshot.restore(net)
        else:
            net.optimizer_steps += steps
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, _guards.TrainingInterrupted):
            interrupt.handled = True
            raise _guards.interrupted(epoch, done_before + (steps or 0), total, history,
                                      rolled_back=steps is None) from None
        raise
    net.optimizer_steps += steps
    if interrupt.requested:
        interrupt.handled = True
        raise _guards.interrupted(epoch, done_before + steps, total, history)
    return steps


def _epochs(net, X, labels, targets, validation, history, snapshot, interrupt, *, n, epochs,
            batch_size, lmbda, shuffle, monitor, verbose, regularization, schedule, early_stopping,
            callbacks, n_threads):
    in_order = np.arange(n, dtype=np.intp)
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
        snapshot.take(net)  # the end of the last finished epoch, to go back to if this one diverges
        order = net.rng.permutation(n).astype(np.intp, copy=False) if shuffle else in_order
        keep = net._draw_dropout_masks(n)
        started = time.perf_counter()
        batches = 0
        for first in range(0, n, chunk_rows):
            steps = _train_batches(net, X, labels, targets, order, batch_size, eta_epoch, lmbda,
                                   regularization, keep, first, min(first + chunk_rows, n),
                                   n_threads, interrupt, snapshot, epoch, batches, history)
            batches += steps
            if every is not None and first + chunk_rows < n:
                due = [c for c in callbacks if c.every_batches and batches % c.every_batches == 0]
                if call_hooks([lambda c=c: c.on_batches(net, history, epoch, batches) for c in due]):
                    stop = True
                    break
        trained = time.perf_counter()
        if not _guards.state_finite(net):
            snapshot.restore(net)
            raise _guards.diverged(epoch, eta_epoch, history, "the weights")
        if monitor:
            cost, accuracy = net._evaluate(X, labels, targets, n_threads)
            train = (cost + penalty(net._decayed_weights(), lmbda, n, regularization), accuracy)
        if validation is not None:
            cost, accuracy = net._evaluate(*validation, n_threads)
            valid = (cost + penalty(net._decayed_weights(), lmbda, len(validation[0]), regularization), accuracy)
        if (monitor and not math.isfinite(train[0])) or (
                validation is not None and not math.isfinite(valid[0])):
            snapshot.restore(net)
            raise _guards.diverged(epoch, eta_epoch, history, "the cost")
        history.epoch.append(epoch)
        history.eta.append(float(eta_epoch))
        history.seconds.append(trained - started)
        if monitor:
            history.train_cost.append(train[0])
            history.train_accuracy.append(train[1])
        if validation is not None:
            history.validation_cost.append(valid[0])
            history.validation_accuracy.append(valid[1])
        history.eval_seconds.append(time.perf_counter() - trained)
        if verbose:
            print(history.epoch_line(), flush=True)
        if interrupt.requested:  # Ctrl-C during the evaluation: the epoch is complete
            interrupt.handled = True
            raise _guards.interrupted(epoch, batches, batches, history)
        if stop:
            history.stop_reason = "callback"
            break
        if early_stopping is not None:
            if history.validation_accuracy[-1] > best_accuracy:
                best_accuracy, since_best = history.validation_accuracy[-1], 0
                best_params = (net.params.copy(), net.running.copy())
                history.best_epoch = epoch
            else:
                since_best += 1
                if since_best >= early_stopping:
                    history.stop_reason = "early_stopping"
                    break
        if call_hooks([lambda c=c: c.on_epoch_end(net, history) for c in callbacks]):
            history.stop_reason = "callback"
            break
    if best_params is not None:  # early stopping keeps the best epoch's model: its parameters
        net.params[...], net.running[...] = best_params  # and batch norm's running statistics
