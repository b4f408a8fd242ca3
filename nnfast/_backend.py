"""The two backends behind every model: one interface, the reference in NumPy and the compiled one.

Each gets arguments already validated by the model (dtype, contiguity, shapes, label range); the
model's randomness (the row order of an epoch, the dropout masks) is drawn in Python and passed in,
so both consume the same random numbers.

- backend="numpy": the layer interpreter nnfast/reference/conv.py, for every model.
- backend="cython": the layer engine src_cython/engine/_conv.pyx, which interprets a table of layers
  (`layer_table`), for every model; a model that is a plain stack of Dense layers (`model._dense_loop`,
  see nnfast/_parameters.py) trains, predicts and evaluates on the dense loop src_cython/engine/_train.pyx
  instead (the fused update GEMMs and our own GEMM kernels), with the same results; it takes the
  same table (and refuses one that is not a Dense stack).

train_epoch(..., stop) stops before the next mini-batch once stop[0] is set (Ctrl-C, see
nnfast/training/guards.py) and returns the batches it took.

Dropout masks arrive as `keep`: a uint8 array (n, H) holding every unit that drops, row r for the
r-th example of the epoch's order, Dropout layer by layer (model._dropout_columns); None when no
layer drops.
"""

import numpy as np

from . import _gemm, reference
from .layers import LAYER_KINDS
from .reference import conv as interpreter

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
    widest = max(layer.weight_shape[0] for layer in net.built if layer.kind == "dense")
    return max(1024, min(n_rows, FORWARD_BUFFER_ELEMENTS // widest))


def _inference_chunk(net, n_rows):
    """Rows per compiled inference pass: forward_chunk on the dense loop, LAYER_CHUNK on the layer
    engine."""
    return forward_chunk(net, n_rows) if net._dense_loop else LAYER_CHUNK


def _pieces(total, per_pass):
    """The row counts of passes of at most per_pass rows over `total` rows."""
    per_pass = max(1, min(per_pass, total))
    return {per_pass, total % per_pass} - {0}


def _prepare_gemms(net, rows, inference=False, chunk=None, layer_engine=False):
    """Announce the GEMM shapes of one compiled call on `rows` row counts (the batch sizes of an
    epoch, or the rows of a predict/evaluate/gradient) to nnfast/_gemm.py, which picks their
    kernels. The passes' row counts come from the loop that will run: the dense loop's batches or
    inference chunks (transposed), the layer engine's slices (_conv.slice_rows) of training batches,
    or of at most `chunk` rows."""
    if net._dense_loop and not layer_engine:
        if inference:
            counts = set().union(*(_pieces(n, chunk) for n in rows))
            _gemm.prepare(net, counts, transposed_inference=True)
        else:
            _gemm.prepare(net, rows)
        return
    itemsize = np.dtype(net.dtype).itemsize
    if chunk is not None:
        per_pass = min(chunk, _conv.slice_rows(net._spec, itemsize))
    else:
        per_pass = _conv.slice_rows(net._spec, itemsize, max(rows))
    _gemm.prepare(net, set().union(*(_pieces(n, per_pass) for n in rows)))


class NumpyBackend:
    """backend="numpy": the readable reference (nnfast/reference/conv.py, one layer interpreter)."""

    name = "numpy"
    blas_threads_per_call = None  # NumPy's BLAS gets all of n_threads

    @staticmethod
    def prepare(net):
        pass

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
    def _layer_norms(net):
        """Per model layer: a reference Norm (views of gamma, beta and the running statistics) or
        None."""
        gammas, betas = net._norm_views(net.params)
        running = net._running_views()
        return [None if running[l] is None else
                reference.Norm(gammas[l], betas[l], running[l][0], running[l][1],
                               net.built[l].bn_eps, net.built[l].bn_momentum)
                for l in range(len(net.built))]

    @classmethod
    def _norms(cls, net):
        """Per weight layer of a plain Dense stack (a Network): its Norm or None (the
        arguments of nnfast/reference/sgd.py, the book's dense formulation)."""
        norms = cls._layer_norms(net)
        return [norms[l] for l in net._weight_layers]

    def train_epoch(self, net, X, labels, targets, order, batch_size, eta, lmbda, regularization,
                    keep, first, last, n_threads, stop=None, n_train=None):
        return interpreter.train_epoch(
            net.built, *net._per_layer_views(net.params), net.cost_function, X,
            self._targets(net, labels, targets), order[first:last], batch_size, eta, lmbda,
            len(X) if n_train is None else n_train, self._masks(net, keep, first, last),
            regularization=regularization, optimizer=net.optimizer, states=net._optimizer_state_views(),
            step0=net.optimizer_steps, norms=self._layer_norms(net), stop=stop)

    def feedforward(self, net, X, n_threads):
        return interpreter.feedforward(net.built, *net._per_layer_views(net.params), X,
                                       norms=self._layer_norms(net))[0][-1]

    def evaluate(self, net, X, labels, targets, n_threads, batch_stats=False):
        return interpreter.evaluate(net.built, *net._per_layer_views(net.params),
                                    net.cost_function, X, self._targets(net, labels, targets),
                                    labels, norms=self._layer_norms(net), batch_stats=batch_stats)

    def _backprop(self, net, X, Y, grad_output, need_input_gradient):
        """(gradient in the layout of params, dC/dX or None)."""
        result = interpreter.backprop(net.built, *net._per_layer_views(net.params),
                                      net.cost_function, X, Y, norms=self._layer_norms(net),
                                      grad_output=grad_output,
                                      need_input_gradient=need_input_gradient)
        grad = np.zeros_like(net.params)
        for views, nw, nb, nn in zip(net._layer_arrays(grad), *result[:3]):
            if views is None:
                continue
            if views[0] is not None:
                views[0][...], views[1][...] = nw, nb
            if nn is not None and views[2] is not None:
                views[2][...], views[3][...] = nn
        return grad, (result[3] if need_input_gradient else None)

    def gradient(self, net, X, labels, targets, n_threads):
        return self._backprop(net, X, self._targets(net, labels, targets), None, False)[0]

    def backward(self, net, X, labels, targets, grad_output, n_threads):
        Y = None if grad_output is not None else self._targets(net, labels, targets)
        return self._backprop(net, X, Y, grad_output, True)


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
    def prepare(net):
        net._spec, net._fparams = layer_table(net)

    @staticmethod
    def checks_finite_inputs(net):
        # the dense loop's feedforward/evaluate notice NaN/inf in X themselves, from the first
        # layer's output
        return net._dense_loop

    @staticmethod
    def _target_args(net, labels, targets):
        if labels is None:
            return np.empty(0, dtype=np.intp), targets
        return labels, np.empty((0, net.n_outputs), dtype=net.dtype)

    # ---------------------------------------------------------------- entry points
    def train_epoch(self, net, X, labels, targets, order, batch_size, eta, lmbda, regularization,
                    keep, first, last, n_threads, stop=None, n_train=None):
        labels, targets = self._target_args(net, labels, targets)
        if keep is None:
            keep = np.empty((0, 0), dtype=np.uint8)
        n = len(X) if n_train is None else n_train
        optimizer = net.optimizer
        state1, state2 = net.optimizer_state
        hyper = np.asarray(optimizer.hyper, dtype=np.float64)
        options = dict(regularization=_train.REGULARIZATION_CODES[regularization],
                       optimizer=_train.OPTIMIZER_CODES[optimizer.name], hyper=hyper,
                       state1=state1 if len(state1) else None,
                       state2=state2 if len(state2) else None, step0=net.optimizer_steps,
                       first=first, last=last, stop=stop)
        span = (len(order) if last is None or last < 0 else last) - first
        _prepare_gemms(net, _pieces(span, batch_size))
        if not net._dense_loop:
            return _conv.train_epoch(net.params, net._spec, net._fparams, net.cost_function.code,
                                     X, targets, labels, order, batch_size, eta, lmbda, n, keep,
                                     n_threads, running=net.running, **options)
        return _train.train_epoch(net.params, net._spec, net._fparams, net.running,
                                  net.cost_function.code, X, targets, labels, order, batch_size,
                                  eta, lmbda, n, keep, n_threads, **options)

    def feedforward(self, net, X, n_threads):
        out = np.empty((len(X), net.n_outputs), dtype=net.dtype)
        chunk = _inference_chunk(net, len(X))
        _prepare_gemms(net, [len(X)], inference=True, chunk=chunk)
        if not net._dense_loop:
            _conv.evaluate(net.params, net._spec, net._fparams, 0, X,
                           np.empty((0, net.n_outputs), dtype=net.dtype),
                           np.empty(0, dtype=np.intp), chunk, n_threads, out,
                           running=net.running, outputs_only=True)
            return out
        _train.feedforward(net.params, net._spec, net._fparams, net.running, X, out, chunk,
                           n_threads)
        return out

    def evaluate(self, net, X, labels, targets, n_threads, batch_stats=False):
        labels, targets = self._target_args(net, labels, targets)
        # batch statistics: all the rows in one training-mode pass; else inference chunks
        chunk = len(X) if batch_stats else _inference_chunk(net, len(X))
        _prepare_gemms(net, [len(X)], inference=not batch_stats, chunk=chunk)
        if not net._dense_loop:
            return _conv.evaluate(net.params, net._spec, net._fparams, net.cost_function.code, X,
                                  targets, labels, chunk, n_threads, running=net.running,
                                  batch_stats=batch_stats)
        return _train.evaluate(net.params, net._spec, net._fparams, net.running,
                               net.cost_function.code, X, targets, labels, chunk, n_threads,
                               batch_stats)

    def gradient(self, net, X, labels, targets, n_threads):
        labels, targets = self._target_args(net, labels, targets)
        grad = np.zeros_like(net.params)
        _prepare_gemms(net, [len(X)], chunk=len(X))
        if not net._dense_loop:
            _conv.gradient(net.params, net._spec, net._fparams, net.cost_function.code, X, targets,
                           labels, grad, n_threads, running=net.running)
        else:
            _train.gradient(net.params, net._spec, net._fparams, net.running,
                            net.cost_function.code, X, targets, labels, grad, n_threads)
        return grad

    def backward(self, net, X, labels, targets, grad_output, n_threads):
        """(gradient of the parameters, gradient of the inputs), on the layer engine (every
        model): of the summed cost, or of sum(grad_output * outputs) when grad_output is given."""
        if grad_output is not None:
            labels = np.empty(0, dtype=np.intp)
            targets = np.empty((0, net.n_outputs), dtype=net.dtype)
        else:
            labels, targets = self._target_args(net, labels, targets)
        grad = np.zeros_like(net.params)
        grad_input = np.zeros_like(X)
        _prepare_gemms(net, [len(X)], chunk=len(X), layer_engine=True)
        cost = net.cost_function.code if net.cost_function is not None else 0
        _conv.gradient(net.params, net._spec, net._fparams, cost, X, targets,
                       labels, grad, n_threads, running=net.running, grad_input=grad_input,
                       grad_output=grad_output)
        return grad, grad_input


def layer_table(net):
    """(spec, fparams): the table of layers the layer engine (src_cython/engine/_conv.pyx) interprets,
    one row per layer (columns _conv.TABLE_COLUMNS), checked by _conv.check_spec."""
    columns, fcolumns = _conv.TABLE_COLUMNS, _conv.FPARAM_NAMES
    spec = np.zeros((len(net.built), _conv.COLUMNS), dtype=np.intp)
    fparams = np.zeros((len(net.built), _conv.FCOLUMNS), dtype=np.float64)
    mask_columns = {l: column for l, column, _, _ in net._dropout_columns}
    for l, (layer, offset, running) in enumerate(zip(net.built, net._offsets,
                                                     net._running_offsets)):
        if layer.kind == "conv":
            kh, kw = layer.weight_shape[2:]
        elif layer.kind in ("maxpool", "avgpool"):
            kh = kw = layer.size
        else:
            kh = kw = 1
        act = layer.activation
        row = spec[l]
        for name, value in zip(("kind", "c", "h", "w", "f", "oh", "ow", "kh", "kw", "stride",
                                "pad_top", "pad_left", "act", "pieces"),
                               (LAYER_KINDS[layer.kind], *_as3(layer.in_shape),
                                *_as3(layer.out_shape), kh, kw, layer.stride, layer.pad_top,
                                layer.pad_left, act.code if act is not None else 0, layer.pieces)):
            row[columns[name]] = value
        fparams[l, fcolumns["act_param"]] = act.param if act is not None else 0.0
        if offset is not None:
            row[columns["w_off"]], row[columns["b_off"]] = offset[0], offset[1]
            if layer.batch_norm:
                row[columns["bn"]], row[columns["g_off"]] = 1, offset[2]
                row[columns["r_off"]] = running
                fparams[l, fcolumns["bn_eps"]] = layer.bn_eps
                fparams[l, fcolumns["bn_momentum"]] = layer.bn_momentum
        if layer.kind == "dropout" and l not in mask_columns:
            row[columns["kind"]] = LAYER_KINDS["flatten"]  # p = 0: nothing drops, the identity
        elif layer.kind == "dropout":
            row[columns["drop_col"]] = mask_columns[l]
            fparams[l, fcolumns["drop_scale"]] = 1.0 / (1.0 - layer.p)
    _conv.check_spec(spec, fparams, len(net.params), len(net.running))
    return spec, fparams


def _as3(shape):
    return tuple(shape) if len(shape) == 3 else (shape[0], 1, 1)


def make_backend(name):
    if name == "cython":
        return CythonBackend()
    if name == "numpy":
        return NumpyBackend()
    raise ValueError(f"unknown backend {name!r}; choose 'cython' (compiled) or 'numpy' (reference)")
