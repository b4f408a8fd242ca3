"""The two backends behind `Network`: one interface, the reference in NumPy and the compiled one.

Each gets arguments already validated by the network (dtype, contiguity, shapes, label range); the
network's randomness (the row order of an epoch) is drawn in Python and passed in, so both consume
the same random numbers.
"""

import numpy as np

from . import reference

try:
    from . import _train
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    _train = None
    _IMPORT_ERROR = exc

FORWARD_CHUNK = 4096  # rows per pass of predict/evaluate in the compiled backend


class NumpyBackend:
    """backend="numpy": the readable reference (nnfast/reference)."""

    name = "numpy"
    blas_threads_per_call = None  # NumPy's BLAS gets all of n_threads

    def train_epoch(self, net, X, labels, targets, order, batch_size, eta, lmbda, n_threads):
        Y = targets if labels is None else reference.one_hot(labels, net.sizes[-1], net.dtype)
        reference.train_epoch(net.weights, net.biases, net.activations, net.cost_function, X, Y,
                              order, batch_size, eta, lmbda, len(X))

    def feedforward(self, net, X, n_threads):
        outputs, _ = reference.feedforward(net.weights, net.biases, net.activations, X)
        return outputs[-1]

    def evaluate(self, net, X, labels, targets, n_threads):
        Y = targets if labels is None else reference.one_hot(labels, net.sizes[-1], net.dtype)
        return reference.evaluate(net.weights, net.biases, net.activations, net.cost_function, X, Y,
                                  labels)


class CythonBackend:
    """backend="cython": one call into C per epoch / per predict, without the GIL."""

    name = "cython"
    # Our loops split the work in fixed blocks over n_threads; BLAS itself must stay on one thread
    # (a threaded BLAS sums in an order that depends on its thread count).
    blas_threads_per_call = 1

    def __init__(self):
        if _train is None:
            raise ImportError(
                "nnfast's compiled extension is not available (install nnfast with `pip install .`, "
                f"or use backend='numpy'): {_IMPORT_ERROR}"
            )

    @staticmethod
    def _layout(net):
        return (np.asarray(net.sizes, dtype=np.intp),
                np.asarray([a.code for a in net.activations], dtype=np.intc))

    @staticmethod
    def _target_args(net, labels, targets):
        if labels is None:
            return np.empty(0, dtype=np.intp), targets
        return labels, np.empty((0, net.sizes[-1]), dtype=net.dtype)

    def train_epoch(self, net, X, labels, targets, order, batch_size, eta, lmbda, n_threads):
        sizes, codes = self._layout(net)
        labels, targets = self._target_args(net, labels, targets)
        _train.train_epoch(net.params, sizes, codes, net.cost_function.code, X, targets, labels,
                           order, batch_size, eta, lmbda, len(X), n_threads)

    def feedforward(self, net, X, n_threads):
        sizes, codes = self._layout(net)
        out = np.empty((len(X), net.sizes[-1]), dtype=net.dtype)
        _train.feedforward(net.params, sizes, codes, X, out, FORWARD_CHUNK, n_threads)
        return out

    def evaluate(self, net, X, labels, targets, n_threads):
        sizes, codes = self._layout(net)
        labels, targets = self._target_args(net, labels, targets)
        return _train.evaluate(net.params, sizes, codes, net.cost_function.code, X, targets, labels,
                               FORWARD_CHUNK, n_threads)


def make_backend(name):
    if name == "cython":
        return CythonBackend()
    if name == "numpy":
        return NumpyBackend()
    raise ValueError(f"unknown backend {name!r}; choose 'cython' (compiled) or 'numpy' (reference)")
