"""The timed callables of `nnfast bench`: one epoch or one inference pass per call."""

import time

import numpy as np

from .. import _threads
from .baselines import (PerExampleNetwork, SklearnTrainer, TorchManualTrainer,
                               TorchNNTrainer)
from .config import ETA, ETA_BIG, LMBDA, WARMUP_ROWS


# ------------------------------------------------------------------------------------ timers
def _network(sizes, dtype, backend, threads, seed):
    from ..network import Network

    return Network(list(sizes), activation="sigmoid", cost="cross_entropy", dtype=dtype,
                   backend=backend, seed=seed, n_threads=threads)


def _eta(sizes):
    return ETA_BIG if len(sizes) > 3 else ETA


def _nnfast_train_timer(backend, X, labels, sizes, batch_size, dtype, threads, seed):
    net = _network(sizes, dtype, backend, threads, seed)
    fit = dict(epochs=1, batch_size=batch_size, eta=_eta(sizes), lmbda=LMBDA, monitor=False)
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


def _train_timer(impl, X, labels, sizes, batch_size, dtype, threads, seed):
    """A warmed-up function timing one more epoch of `impl` (raises NotInstalled)."""
    if impl in ("compiled", "reference"):
        backend = "cython" if impl == "compiled" else "numpy"
        return _nnfast_train_timer(backend, X, labels, sizes, batch_size, dtype, threads, seed)
    if impl == "per_example":
        return _order_timer(_PerExampleTrainer(X, labels, sizes, batch_size, threads, seed),
                            len(X), seed)
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


def _infer_timer(impl, X, labels, sizes, dtype, threads, seed):
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
