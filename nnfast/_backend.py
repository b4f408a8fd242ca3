"""The two backends behind every model: one interface, the reference in NumPy and the compiled one.

Each gets arguments already validated by the model (dtype, contiguity, shapes, label range); the
model's randomness (the row order of an epoch, the dropout masks) is drawn in Python and passed in,
so both consume the same random numbers.

A model that is a plain stack of Dense layers (`model._dense`, see nnfast/model.py) runs on the
dense loop (src_cython/_train.pyx; reference nnfast/reference/sgd.py); any other runs on the layer
engine, which interprets a table of layers (src_cython/_conv.pyx; reference nnfast/reference/conv.py).

train_epoch(..., stop) stops before the next mini-batch once stop[0] is set (Ctrl-C, see
nnfast/training/guards.py) and returns the batches it took.

Dropout masks arrive as `keep`: a uint8 array (n, H) holding every unit that drops, row r for the
r-th example of the epoch's order, Dropout layer by layer (model._dropout_columns); None when no
layer drops.
"""

import numpy as np

from . import reference
from .layers import LAYER_KINDS
from .reference import conv as layer_reference

try:
    from . import _conv, _train
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    _train = _conv = None
    _IMPORT_ERROR = exc

FORWARD_BUFFER_ELEMENTS = 4_000_000  # rows per pass of predict/evaluate: buffers of about this size
LAYER_CHUNK = 128  # rows per compiled inference pass of the layer engine (bounds im2col buffers)


def forward_chunk(net, n_rows):
    """Rows per compiled inference pass of the dense loop: as many as fit FORWARD_BUFFER_ELEMENTS
    in the widest layer (fewer, larger GEMMs), at least 1024; depends on the sizes only, never on
    the thread count."""
    dense = net._dense
    widest = max(n_out * act.pieces for n_out, act in zip(dense.sizes[1:], dense.activations))
    return max(1024, min(n_rows, FORWARD_BUFFER_ELEMENTS // widest))


def _views(net):
    """(weights, biases) per model layer (None for layers without parameters)."""
    return net._per_layer_views(net.params)


def _weight_layers(net, arrays):
    """The entries of `arrays` (per model layer) that belong to the dense stack's weight layers."""
    return [arrays[l] for l in net._dense.weight_layers]


class _Backend:
    """What both backends share: the checks of what the layer engine can do yet."""

    @staticmethod
    def prepare(net):
        if net._dense is None:
            for layer in net.built:  # the layer engine learns these next (issue 12)
                if layer.batch_norm or layer.pieces > 1:
                    raise ValueError("batch_norm and maxout are available in plain stacks of Dense "
                                     "layers only, for now")

    @staticmethod
    def check_training(net, optimizer, regularization):
        if net._dense is None and (optimizer.name != "sgd" or regularization != "l2"):
            raise ValueError("models with convolution or pooling layers train with SGD and L2 "
                             "only, for now")


class NumpyBackend(_Backend):
    """backend="numpy": the readable reference (nnfast/reference)."""

    name = "numpy"
    blas_threads_per_call = None  # NumPy's BLAS gets all of n_threads

    @staticmethod
    def checks_finite_inputs(net):
        return False  # inference inputs must be checked for NaN/inf beforehand

    @staticmethod
    def _targets(net, labels, targets):
        return targets if labels is None else reference.one_hot(labels, net.n_outputs, net.dtype)

    @staticmethod
    def _masks(net, keep, first=0, last=None):
        """Per model layer: None, or the float mask 0 / (1/(1-p)) of rows first:last."""
        if keep is None:
            return None
        masks = [None] * len(net.built)
        for l, column, width, p in net._dropout_columns:
            masks[l] = (keep[first:last, column:column + width].astype(net.dtype)
                        * net.dtype.type(1.0 / (1.0 - p)))
        return masks

    @staticmethod
    def _norms(net):
        """Per weight layer of a dense stack: a reference Norm (views of gamma, beta, the running
        statistics) or None."""
        gammas, betas = net._norm_views(net.params)
        running = net._running_views()
        return [None if running[l] is None else
                reference.Norm(gammas[l], betas[l], running[l][0], running[l][1],
                               net.built[l].eps, net.built[l].momentum)
                for l in net._dense.weight_layers]

    @staticmethod
    def _dense_masks(net, masks):
        """Per dense-stack layer (input first): the mask applied to that layer's output."""
        if masks is None:
            return None
        out = [None] * len(net._dense.sizes)
        for position, l in enumerate(net._dense.weight_layers, start=1):
            if l + 1 < len(net.built) and net.built[l + 1].kind == "dropout":
                out[position] = masks[l + 1]
        return out

    @staticmethod
    def _state_views(net):
        """Per weight layer, (state 1, state 2) view pairs for W, b, gamma, beta; None where unused."""
        per_array = [_weight_layers(net, net._layer_arrays(s)) if len(s) else None
                     for s in net.optimizer_state]

        def pair(kind, l):
            return tuple(None if views is None else views[l][kind] for views in per_array)

        return [tuple(pair(kind, l) for kind in range(4)) for l in range(len(net._dense.sizes) - 1)]

    def _weights(self, net):
        weights, biases = _views(net)
        return _weight_layers(net, weights), _weight_layers(net, biases)

    def train_epoch(self, net, X, labels, targets, order, batch_size, eta, lmbda, regularization,
                    keep, first, last, n_threads, stop=None, n_train=None):
        masks = self._masks(net, keep, first, last)
        Y = self._targets(net, labels, targets)
        n = len(X) if n_train is None else n_train
        if net._dense is None:
            layer_reference.train_epoch(net.built, *_views(net), net.cost_function,
                                        X, Y, order[first:last], batch_size, eta, lmbda, n, masks)
            return -(-(last - first) // batch_size)
        weights, biases = self._weights(net)
        return reference.train_epoch(weights, biases, net._dense.activations, net.cost_function,
                                     X, Y, order[first:last], batch_size, eta, lmbda, n,
                                     regularization, self._dense_masks(net, masks), net.optimizer,
                                     self._state_views(net), net.optimizer_steps,
                                     self._norms(net), stop)

    def feedforward(self, net, X, n_threads):
        if net._dense is None:
            return layer_reference.feedforward(net.built, *_views(net), X)[0][-1]
        outputs, _, _, _ = reference.feedforward(*self._weights(net), net._dense.activations, X,
                                                 norms=self._norms(net))
        return outputs[-1]

    def evaluate(self, net, X, labels, targets, n_threads, batch_stats=False):
        Y = self._targets(net, labels, targets)
        if net._dense is None:
            return layer_reference.evaluate(net.built, *_views(net),
                                            net.cost_function, X, Y, labels)
        return reference.evaluate(*self._weights(net), net._dense.activations, net.cost_function,
                                  X, Y, labels, self._norms(net), batch_stats)

    def gradient(self, net, X, labels, targets, n_threads):
        Y = self._targets(net, labels, targets)
        grad = np.zeros_like(net.params)
        arrays = net._layer_arrays(grad)
        if net._dense is None:
            nabla_w, nabla_b = layer_reference.backprop(net.built, *_views(net),
                                                        net.cost_function, X, Y)
            nabla_norm = [None] * len(net.built)
        else:
            nabla_w, nabla_b, nabla_norm = reference.backprop(
                *self._weights(net), net._dense.activations, net.cost_function, X, Y,
                norms=self._norms(net))
            arrays = _weight_layers(net, arrays)
        for views, nw, nb, nn in zip(arrays, nabla_w, nabla_b, nabla_norm):
            if views is None:
                continue
            views[0][...], views[1][...] = nw, nb
            if nn is not None:
                views[2][...], views[3][...] = nn
        return grad


class CythonBackend(_Backend):
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
    def checks_finite_inputs(net):
        # the dense loop's feedforward/evaluate notice NaN/inf in X themselves, from the first
        # layer's output
        return net._dense is not None

    def prepare(self, net):
        super().prepare(net)
        if net._dense is None:
            net._spec, net._fparams = layer_table(net)

    # ---------------------------------------------------------------- the dense loop
    @staticmethod
    def _layout(net):
        """The architecture arguments of every _train entry point, then the running statistics."""
        dense = net._dense
        return (np.asarray(dense.sizes, dtype=np.intp),
                np.asarray([a.code for a in dense.activations], dtype=np.intc),
                np.asarray([a.param for a in dense.activations], dtype=np.float64),
                np.asarray([a.pieces for a in dense.activations], dtype=np.intp),
                np.asarray(dense.batch_norm, dtype=np.intp),
                np.asarray([dense.eps, dense.momentum], dtype=np.float64),
                net.running)

    @staticmethod
    def _target_args(net, labels, targets):
        if labels is None:
            return np.empty(0, dtype=np.intp), targets
        return labels, np.empty((0, net.n_outputs), dtype=net.dtype)

    def train_epoch(self, net, X, labels, targets, order, batch_size, eta, lmbda, regularization,
                    keep, first, last, n_threads, stop=None, n_train=None):
        labels, targets = self._target_args(net, labels, targets)
        if keep is None:
            keep = np.empty((0, 0), dtype=np.uint8)
        n = len(X) if n_train is None else n_train
        if net._dense is None:
            return _conv.train_epoch(net.params, net._spec, net._fparams, net.cost_function.code,
                                     X, targets, labels, order[first:last], batch_size, eta, lmbda,
                                     n, keep[first:last] if len(keep) else keep, n_threads)
        optimizer = net.optimizer
        state1, state2 = net.optimizer_state
        return _train.train_epoch(net.params, *self._layout(net), net.cost_function.code, X,
                                  targets, labels, order, batch_size, eta, lmbda, n,
                                  _train.REGULARIZATION_CODES[regularization], keep,
                                  net._dense.dropout_columns, net._dense.dropout_scales,
                                  _train.OPTIMIZER_CODES[optimizer.name],
                                  np.asarray(optimizer.hyper, dtype=np.float64), state1, state2,
                                  net.optimizer_steps, first, last, n_threads, stop)

    def feedforward(self, net, X, n_threads):
        out = np.empty((len(X), net.n_outputs), dtype=net.dtype)
        if net._dense is None:
            labels = np.zeros(len(X), dtype=np.intp)
            _conv.evaluate(net.params, net._spec, net._fparams, net.cost_function.code, X,
                           np.empty((0, net.n_outputs), dtype=net.dtype), labels, LAYER_CHUNK,
                           n_threads, out)
            return out
        _train.feedforward(net.params, *self._layout(net), X, out, forward_chunk(net, len(X)),
                           n_threads)
        return out

    def evaluate(self, net, X, labels, targets, n_threads, batch_stats=False):
        labels, targets = self._target_args(net, labels, targets)
        if net._dense is None:
            return _conv.evaluate(net.params, net._spec, net._fparams, net.cost_function.code, X,
                                  targets, labels, LAYER_CHUNK, n_threads)
        return _train.evaluate(net.params, *self._layout(net), net.cost_function.code, X, targets,
                               labels, len(X) if batch_stats else forward_chunk(net, len(X)),
                               n_threads, batch_stats)

    def gradient(self, net, X, labels, targets, n_threads):
        labels, targets = self._target_args(net, labels, targets)
        grad = np.zeros_like(net.params)
        if net._dense is None:
            _conv.gradient(net.params, net._spec, net._fparams, net.cost_function.code, X, targets,
                           labels, grad, n_threads)
        else:
            _train.gradient(net.params, *self._layout(net), net.cost_function.code, X, targets,
                            labels, grad, n_threads)
        return grad


def layer_table(net):
    """(spec, fparams): the layer table the layer engine (src_cython/_conv.pyx) interprets."""
    spec = np.zeros((len(net.built), _conv.COLUMNS), dtype=np.intp)
    fparams = np.zeros((len(net.built), 2), dtype=np.float64)
    columns = {l: column for l, column, _, _ in net._dropout_columns}
    for l, (layer, offset) in enumerate(zip(net.built, net._offsets)):
        kh, kw = layer.weight_shape[2:] if layer.kind == "conv" else (1, 1)
        act = layer.activation
        spec[l, :13] = [LAYER_KINDS[layer.kind], *_as3(layer.in_shape), *_as3(layer.out_shape), kh,
                        kw, layer.stride, layer.pad_top, layer.pad_left,
                        act.code if act is not None else 0]
        fparams[l, 0] = act.param if act is not None else 0.0
        if offset is not None:
            spec[l, 13], spec[l, 14] = offset[0], offset[1]
        if layer.kind == "dropout" and layer.p == 0:
            spec[l, 0] = LAYER_KINDS["flatten"]  # nothing drops: the identity
        elif layer.kind == "dropout":
            spec[l, 15] = columns[l]
            fparams[l, 1] = 1.0 / (1.0 - layer.p)
    _conv.check_spec(spec, fparams, len(net.params))
    return spec, fparams


def _as3(shape):
    return tuple(shape) if len(shape) == 3 else (shape[0], 1, 1)


def make_backend(name):
    if name == "cython":
        return CythonBackend()
    if name == "numpy":
        return NumpyBackend()
    raise ValueError(f"unknown backend {name!r}; choose 'cython' (compiled) or 'numpy' (reference)")
