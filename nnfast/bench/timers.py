"""The timed callables of `nnfast bench`: one epoch or one inference pass per call."""

import time

import numpy as np

from .. import _threads
from .baselines import (PerExampleNetwork, SklearnTrainer, TorchConvTrainer, TorchManualTrainer,
                        TorchNNTrainer, run_jax_child)
from .config import CONV_ETA, CONV_LMBDA, ETA, ETA_BIG, LMBDA, WARMUP_ROWS, is_conv


# ------------------------------------------------------------------------------------ timers
def _network(sizes, dtype, backend, threads, seed):
    from ..network import Network

    return Network(list(sizes), activation="sigmoid", cost="cross_entropy", dtype=dtype,
                   backend=backend, seed=seed, n_threads=threads)


def chapter6_network(dtype, backend, threads, seed):
    """The book's chapter-6 network (config.CONV_NET; examples/mnist_conv.py builds the same)."""
    from .. import Conv2D, Dense, Dropout, Flatten, MaxPool2D, Sequential

    layers = [Conv2D(20, 5, activation="relu"), MaxPool2D(2), Conv2D(40, 5, activation="relu"),
              MaxPool2D(2), Flatten(), Dense(100, "relu"), Dropout(0.5), Dense(10, "softmax")]
    return Sequential(layers, (1, 28, 28), cost="log_likelihood", init="he", dtype=dtype,
                      backend=backend, seed=seed, n_threads=threads)


def _model(sizes, dtype, backend, threads, seed):
    if is_conv(sizes):
        return chapter6_network(dtype, backend, threads, seed)
    return _network(sizes, dtype, backend, threads, seed)


def _eta(sizes):
    return ETA_BIG if len(sizes) > 3 else ETA


def hyper_parameters(sizes):
    """(eta, lmbda) of a configuration: the conv net's, or the dense nets'."""
    return (CONV_ETA, CONV_LMBDA) if is_conv(sizes) else (_eta(sizes), LMBDA)


def _nnfast_train_timer(backend, X, labels, sizes, batch_size, dtype, threads, seed):
    net = _model(sizes, dtype, backend, threads, seed)
    eta, lmbda = hyper_parameters(sizes)
    fit = dict(epochs=1, batch_size=batch_size, eta=eta, lmbda=lmbda, monitor=False)
    warm = min(WARMUP_ROWS, len(X))
    net.fit(X[:warm], labels[:warm], **fit)
    return lambda: net.fit(X, labels, **fit).seconds[0]


def _nnfast_infer_timer(backend, X, sizes, dtype, threads, seed):
    net = _network(sizes, dtype, backend, threads, seed)
    net.feedforward(X[:min(WARMUP_ROWS, len(X))])

    def one_pass():
        started = time.perf_counter()
        net.feedforward(X)
        return time.perf_counter() - started

    return one_pass


def _order_timer(trainer, n, seed):
    """Time trainer.train_epoch(order) with a fresh permutation drawn before the clock starts."""
    rng = np.random.default_rng(seed)
    trainer.train_epoch(rng.permutation(min(WARMUP_ROWS, n)))  # warm-up

    def one_epoch():
        order = rng.permutation(n)
        started = time.perf_counter()
        trainer.train_epoch(order)
        return time.perf_counter() - started

    return one_epoch


class _PerExampleTrainer:
    def __init__(self, X, labels, sizes, batch_size, threads, seed):
        net = _network(sizes, "float64", "numpy", 1, seed)  # nnfast's initial weights
        self.model = PerExampleNetwork(net.weights, net.biases, "cross_entropy")
        self.xs, self.ys = PerExampleNetwork.columns(X, labels, sizes[-1])
        self.batch_size, self.eta, self.threads, self.n = batch_size, _eta(sizes), threads, len(X)

    def train_epoch(self, order):
        with _threads.blas_threads(self.threads):
            self.model.train_epoch(self.xs, self.ys, order, self.batch_size, self.eta, LMBDA, self.n)


def _train_timer(impl, X, labels, sizes, batch_size, dtype, threads, seed, child=None):
    """A warmed-up function timing one more epoch of `impl` (raises NotInstalled). X is the first
    len(X) rows of the run's data; `child` ("data_rows", "repeats", "budget") completes the JAX
    child's request."""
    if impl == "jax":
        eta, lmbda = hyper_parameters(sizes)
        return jax_timer(dict(child, task="train", net="conv" if is_conv(sizes) else "dense",
                              sizes=list(sizes), batch_size=batch_size, dtype=dtype,
                              threads=threads, rows=len(X), seed=seed, eta=eta, lmbda=lmbda))
    if impl in ("compiled", "reference"):
        backend = "cython" if impl == "compiled" else "numpy"
        return _nnfast_train_timer(backend, X, labels, sizes, batch_size, dtype, threads, seed)
    if impl == "per_example":
        return _order_timer(_PerExampleTrainer(X, labels, sizes, batch_size, threads, seed),
                            len(X), seed)
    if impl == "torch_nn" and is_conv(sizes):
        trainer = TorchConvTrainer(X, labels, batch_size, CONV_ETA, CONV_LMBDA, dtype, threads, seed)
        return _order_timer(trainer, len(X), seed)
    if impl in ("torch_nn", "torch_manual"):
        cls = TorchNNTrainer if impl == "torch_nn" else TorchManualTrainer
        trainer = cls(sizes, X, labels, batch_size, _eta(sizes), LMBDA, dtype, threads, seed=seed)
        return _order_timer(trainer, len(X), seed)
    if impl == "sklearn":
        trainer = SklearnTrainer(sizes, X, labels, batch_size, _eta(sizes), LMBDA, dtype, threads,
                                 seed=seed)

        def one_epoch():
            started = time.perf_counter()
            trainer.train_epoch()
            return time.perf_counter() - started

        return one_epoch
    raise ValueError(f"unknown implementation {impl!r}")


def _infer_timer(impl, X, labels, sizes, dtype, threads, seed, child=None):
    """A warmed-up function timing one more feedforward pass of X (see _train_timer)."""
    if impl == "jax":
        return jax_timer(dict(child, task="infer", net="dense", sizes=list(sizes), dtype=dtype,
                              threads=threads, rows=len(X), seed=seed))
    if impl in ("compiled", "reference"):
        return _nnfast_infer_timer("cython" if impl == "compiled" else "numpy", X, sizes, dtype,
                                   threads, seed)
    if impl == "torch_nn":
        trainer = TorchNNTrainer(sizes, X, labels, 10, ETA, LMBDA, dtype, threads, seed=seed)
        X_tensor = trainer.X
        trainer.feedforward(X_tensor[:min(WARMUP_ROWS, len(X))])

        def one_pass():
            started = time.perf_counter()
            trainer.feedforward(X_tensor)
            return time.perf_counter() - started

        return one_pass
    raise ValueError(f"no inference timer for {impl!r}")


def jax_timer(request):
    """Run the JAX child (every repeat, after its warm-up compile) and replay its times, one per
    call; the function's `note` says where it ran."""
    result = run_jax_child(request)
    seconds = iter(result["seconds"])

    def replay():
        return next(seconds)

    cpus = ",".join(str(c) for c in result["cpus"])
    replay.note = (f"child pinned to CPU {cpus}, repeats back to back; warm-up (compile) "
                   f"{result['warmup_seconds']:.1f} s")
    return replay


def scaled(timer, factor):
    """A timer whose times are multiplied by `factor` (a subset's time scaled to a whole epoch)."""
    def call():
        return timer() * factor

    call.note = getattr(timer, "note", "")
    return call
