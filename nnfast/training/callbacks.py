"""Callbacks: code of yours that training runs after every epoch (or every k mini-batches), and
the way it asks training to stop."""


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


def call_hooks(hooks):
    """Run the hooks; True if one of them asks to stop."""
    stop = False
    for hook in hooks:
        try:
            stop = bool(hook()) or stop
        except StopTraining:
            stop = True
    return stop
