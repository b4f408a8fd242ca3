"""The two backends behind `Network`: one interface, the reference in NumPy and the compiled one.

Each gets arguments already validated by the network (dtype, contiguity, shapes, label range); the
network's randomness (the row order of an epoch, the dropout masks) is drawn in Python and passed in,
so both consume the same random numbers.

train_epoch(..., stop) stops before the next mini-batch once stop[0] is set (Ctrl-C, see
nnfast/_guards.py) and returns the batches it took.

Dropout masks arrive as `keep`: a uint8 array (n, H) holding every hidden unit that drops, row r for
the r-th example of the epoch's order, hidden layer l at columns net.dropout_columns[l] (with
net.dropout_scales[l] = 1/(1-p), 0 where layer l has no dropout); None when no layer drops.
"""

import numpy as np

from . import reference

try:
    from . import _train
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    _train = None
    _IMPORT_ERROR = exc

FORWARD_BUFFER_ELEMENTS = 4_000_000  # rows per pass of predict/evaluate: buffers of about this size


def forward_chunk(net, n_rows):
    """Rows per compiled inference pass: as many as fit FORWARD_BUFFER_ELEMENTS in the widest layer
    (fewer, larger GEMMs), at least 1024; depends on the sizes only, never on the thread count."""
    widest = max(n_out * act.pieces for n_out, act in zip(net.sizes[1:], net.activations))
    return max(1024, min(n_rows, FORWARD_BUFFER_ELEMENTS // widest))


class NumpyBackend:
    """backend="numpy": the readable reference (nnfast/reference)."""

    name = "numpy"
    blas_threads_per_call = None  # NumPy's BLAS gets all of n_threads
    checks_finite_inputs = False  # inference inputs must be checked for NaN/inf beforehand

    @staticmethod
    def _targets(net, labels, targets):
        return targets if labels is None else reference.one_hot(labels, net.sizes[-1], net.dtype)

    @staticmethod
    def _masks(net, keep):
        """Per layer: None, or the float mask 0 / (1/(1-p)) of the rows (reference convention)."""
        if keep is None:
            return None
        masks = []
        for l, n_units in enumerate(net.sizes):
            scale = net.dropout_scales[l]
            if scale == 0:
                masks.append(None)
                continue
            column = net.dropout_columns[l]
            masks.append(keep[:, column:column + n_units].astype(net.dtype) * net.dtype.type(scale))
        return masks

    @staticmethod
    def _norms(net):
        """Per layer: a reference Norm (views of gamma, beta, the running statistics) or None."""
        return [None if running is None else
                reference.Norm(gamma, beta, running[0], running[1], net.batch_norm_eps,
                               net.batch_norm_momentum)
                for gamma, beta, running in zip(net.bn_gamma, net.bn_beta, net.running_views())]

    def train_epoch(self, net, X, labels, targets, order, batch_size, eta, lmbda, regularization,
                    keep, first, last, n_threads, stop=None):
        masks = self._masks(net, keep)
        if masks is not None:
            masks = [None if mk is None else mk[first:last] for mk in masks]
        return reference.train_epoch(net.weights, net.biases, net.activations, net.cost_function, X,
                                     self._targets(net, labels, targets), order[first:last],
                                     batch_size, eta, lmbda, len(X), regularization, masks,
                                     net.optimizer, self._state_views(net), net.optimizer_steps,
                                     self._norms(net), stop)

    @staticmethod
    def _state_views(net):
        """Per layer, (state 1, state 2) view pairs for W, b, gamma, beta; None where unused."""
        per_array = []  # per state array: (weights, biases, gammas, betas) views, or None
        for s in net.optimizer_state:
            per_array.append((*net.layer_views(s), *net.norm_views(s)) if len(s) else None)

        def pair(kind, l):
            return tuple(None if views is None else views[kind][l] for views in per_array)

        return [tuple(pair(kind, l) for kind in range(4)) for l in range(len(net.weights))]

    def feedforward(self, net, X, n_threads):
        outputs, _, _, _ = reference.feedforward(net.weights, net.biases, net.activations, X,
                                                 norms=self._norms(net))
        return outputs[-1]

    def evaluate(self, net, X, labels, targets, n_threads, batch_stats=False):
        return reference.evaluate(net.weights, net.biases, net.activations, net.cost_function, X,
                                  self._targets(net, labels, targets), labels, self._norms(net),
                                  batch_stats)

    def gradient(self, net, X, labels, targets, n_threads):
        nabla_w, nabla_b, nabla_norm = reference.backprop(
            net.weights, net.biases, net.activations, net.cost_function, X,
            self._targets(net, labels, targets), norms=self._norms(net))
        grad = np.empty_like(net.params)
        weights, biases = net.layer_views(grad)
        gammas, betas = net.norm_views(grad)
        for l in range(len(weights)):
            weights[l][...], biases[l][...] = nabla_w[l], nabla_b[l]
            if nabla_norm[l] is not None:
                gammas[l][...], betas[l][...] = nabla_norm[l]
        return grad


class CythonBackend:
    """backend="cython": one call into C per epoch / per predict, without the GIL."""

    name = "cython"
    # Our loops split the work in fixed blocks over n_threads; BLAS itself must stay on one thread
    # (a threaded BLAS sums in an order that depends on its thread count).
    blas_threads_per_call = 1
    # feedforward/evaluate notice NaN/inf in X themselves, from the first layer's output
    checks_finite_inputs = True

    def __init__(self):
        if _train is None:
            raise ImportError(
                "nnfast's compiled extension is not available (install nnfast with `pip install .`, "
                f"or use backend='numpy'): {_IMPORT_ERROR}"
            )

    @staticmethod
    def _layout(net):
        """The architecture arguments of every _train entry point, then the running statistics."""
        return (np.asarray(net.sizes, dtype=np.intp),
                np.asarray([a.code for a in net.activations], dtype=np.intc),
                np.asarray([a.param for a in net.activations], dtype=np.float64),
                np.asarray([a.pieces for a in net.activations], dtype=np.intp),
                np.asarray(net.batch_norm, dtype=np.intp),
                np.asarray([net.batch_norm_eps, net.batch_norm_momentum], dtype=np.float64),
                net.bn_running)

    @staticmethod
    def _target_args(net, labels, targets):
        if labels is None:
            return np.empty(0, dtype=np.intp), targets
        return labels, np.empty((0, net.sizes[-1]), dtype=net.dtype)

    def train_epoch(self, net, X, labels, targets, order, batch_size, eta, lmbda, regularization,
                    keep, first, last, n_threads, stop=None):
        layout = self._layout(net)
        labels, targets = self._target_args(net, labels, targets)
        if keep is None:
            keep = np.empty((0, 0), dtype=np.uint8)
        optimizer = net.optimizer
        state1, state2 = net.optimizer_state
        return _train.train_epoch(net.params, *layout, net.cost_function.code, X, targets,
                                  labels, order, batch_size, eta, lmbda, len(X),
                                  _train.REGULARIZATION_CODES[regularization], keep,
                                  net.dropout_columns, net.dropout_scales,
                                  _train.OPTIMIZER_CODES[optimizer.name],
                                  np.asarray(optimizer.hyper, dtype=np.float64), state1, state2,
                                  net.optimizer_steps, first, last, n_threads, stop)

    def feedforward(self, net, X, n_threads):
        out = np.empty((len(X), net.sizes[-1]), dtype=net.dtype)
        _train.feedforward(net.params, *self._layout(net), X, out, forward_chunk(net, len(X)),
                           n_threads)
        return out

    def evaluate(self, net, X, labels, targets, n_threads, batch_stats=False):
        labels, targets = self._target_args(net, labels, targets)
        return _train.evaluate(net.params, *self._layout(net), net.cost_function.code, X, targets,
                               labels, len(X) if batch_stats else forward_chunk(net, len(X)),
                               n_threads, batch_stats)

    def gradient(self, net, X, labels, targets, n_threads):
        labels, targets = self._target_args(net, labels, targets)
        grad = np.empty_like(net.params)
        _train.gradient(net.params, *self._layout(net), net.cost_function.code, X, targets, labels,
                        grad, n_threads)
        return grad


def make_backend(name):
    if name == "cython":
        return CythonBackend()
    if name == "numpy":
        return NumpyBackend()
    raise ValueError(f"unknown backend {name!r}; choose 'cython' (compiled) or 'numpy' (reference)")
