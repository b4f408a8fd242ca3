"""Learning-rate schedules: the eta of each epoch, decided between epochs in Python.

- ``"constant"`` (default): eta0 every epoch.
- ``InverseTime(tau)`` (``"inverse_time"``, tau = 10): the seeds' alpha = alpha0 * tau / max(t, tau),
  with t the epoch number (1, 2, ...): constant for tau epochs, then falling as 1/t.
- ``HalveOnPlateau(patience=10, min_ratio=1/128)`` (``"halve_on_plateau"``): the book's schedule:
  halve eta whenever the validation accuracy has not improved for `patience` epochs, and stop
  training once eta falls below eta0 * min_ratio. Needs validation_data.
- any callable ``schedule(epoch, eta0, history) -> eta`` (or None to stop), epoch = 1, 2, ...

A schedule object has ``reset(eta0)`` (called when fit starts) and
``next_eta(epoch, history) -> float or None``.
"""

import math


class Constant:
    name = "constant"

    def reset(self, eta0):
        self.eta0 = eta0

    def next_eta(self, epoch, history):
        return self.eta0


class InverseTime:
    name = "inverse_time"

    def __init__(self, tau=10):
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau >= 1:
            raise ValueError(f"InverseTime: tau must be a number >= 1, got {tau!r}")
        self.tau = tau

    def reset(self, eta0):
        self.eta0 = eta0

    def next_eta(self, epoch, history):
        return self.eta0 * self.tau / max(epoch, self.tau)


class HalveOnPlateau:
    name = "halve_on_plateau"
    needs_validation = True

    def __init__(self, patience=10, min_ratio=1 / 128):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"HalveOnPlateau: patience must be an integer >= 1, got {patience!r}")
        if not (isinstance(min_ratio, (int, float)) and 0 < min_ratio < 1):
            raise ValueError(f"HalveOnPlateau: min_ratio must be in (0, 1), got {min_ratio!r}")
        self.patience, self.min_ratio = patience, min_ratio

    def reset(self, eta0):
        self.eta0 = self.eta = eta0
        self.best = -math.inf
        self.since_best = 0

    def next_eta(self, epoch, history):
        if epoch > 1:  # judge the epoch just finished
            accuracy = history.validation_accuracy[-1]
            if accuracy > self.best:
                self.best, self.since_best = accuracy, 0
            else:
                self.since_best += 1
                if self.since_best >= self.patience:
                    self.eta, self.since_best = self.eta / 2, 0
        return None if self.eta < self.eta0 * self.min_ratio else self.eta


class _FromCallable:
    name = "callable"

    def __init__(self, function):
        self.function = function

    def reset(self, eta0):
        self.eta0 = eta0

    def next_eta(self, epoch, history):
        return self.function(epoch, self.eta0, history)


SCHEDULES = {"constant": Constant, "inverse_time": InverseTime, "halve_on_plateau": HalveOnPlateau}


def get_schedule(schedule):
    if schedule is None:
        return Constant()
    if isinstance(schedule, str):
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; choose one of {sorted(SCHEDULES)} or a callable")
        return SCHEDULES[schedule]()
    if hasattr(schedule, "next_eta") and hasattr(schedule, "reset"):
        return schedule
    if callable(schedule):
        return _FromCallable(schedule)
    raise TypeError(f"schedule must be a name, a schedule object or a callable, got {schedule!r}")
