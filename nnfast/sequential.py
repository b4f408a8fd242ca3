"""`Sequential`: a network as a list of layers (convolutions, pooling, dropout, dense), with the
book's mini-batch SGD on two interchangeable backends (NumPy reference / compiled Cython).

`Network(sizes)` stays the dense-only network; `Sequential` is the general one.
"""

import time

import numpy as np

from . import _threads
from ._aligned import aligned_zeros
from ._validation import (all_finite, check_dtype, check_fit_arguments, check_float, check_int,
                          check_targets, nonfinite_error)
from .costs import check_pairing, get_cost, penalty, target_classes
from .history import History
from .layers import LAYER_KINDS, Layer
from .optimizers import get_optimizer
from .reference import conv as reference
from .reference.batchnorm import Norm

try:
    from . import _conv
    from ._train import OPTIMIZER_CODES
except ImportError as exc:  # pragma: no cover - only on a broken install
    _conv = None
    _IMPORT_ERROR = exc

INFERENCE_CHUNK = 128  # rows per compiled inference pass (bounds the im2col buffers)
INITS = ("scaled_normal", "he")
# the columns of the compiled layer table (src_cython/_conv.pyx: S_*) and of fparams (F_*)
TABLE_COLUMNS = ("kind", "c", "h", "w", "f", "oh", "ow", "kh", "kw", "stride", "pad_top",
                 "pad_left", "act", "w_off", "b_off", "drop_col", "pieces", "bn", "g_off", "r_off")
S = {name: column for column, name in enumerate(TABLE_COLUMNS)}
FPARAM_COLUMNS = ("act_param", "drop_scale", "bn_eps", "bn_momentum")


class Sequential:
    """A feed-forward network given as a list of layers, trained by mini-batch SGD.

    Parameters
    ----------
    layers : list of nnfast.layers.Layer
        E.g. ``[Conv2D(20, 5), MaxPool2D(2), Flatten(), Dense(100, "relu"), Dropout(0.5),
        Dense(10, "softmax")]``. The last layer must be Dense; softmax only there.
    input_shape : (channels, height, width) or (features,)
        Of one example. X may be given as (n, *input_shape) or as flat rows (n, prod(input_shape)).
    cost : str
        A cost of ``nnfast.costs`` matching the last layer's activation (``"log_likelihood"`` with
        softmax, ``"cross_entropy"`` with sigmoid, ``"quadratic"`` with any).
    init : "scaled_normal" or "he"
        scaled_normal (the book's): W ~ N(0, 1/fan_in), b ~ N(0, 1); he: W ~ N(0, 2/fan_in), b = 0.
        fan_in = C*kh*kw for a convolution, n_in for a dense layer. Drawn layer by layer, W then b.
    dtype : "float64" or "float32"
    backend : "cython" or "numpy"
        The compiled loops (default) or the NumPy reference (nnfast/reference/conv.py).
    seed : None, int or numpy.random.Generator
        All randomness: initial weights, each epoch's permutation, then its dropout masks.
    n_threads : None or int
        Threads of the compiled loops (None: the OpenMP default, -1: all, k > 0: k). Results do
        not depend on it: a batch is cut in slices fixed by its size, the layers and the dtype;
        with several threads the slices run in parallel, each on its own buffers, and their
        gradients are added in slice order; evaluation runs its chunks in parallel and sums the
        costs in row order; BLAS runs on one thread per call.

    Attributes
    ----------
    built : list of nnfast.layers.Built
        Each layer with its input/output shapes.
    params : ndarray
        All parameters, per layer with parameters W_l (row-major, shape `weights[l].shape`) then b_l.
    weights, biases : lists of ndarray views into params (None for layers without parameters).
    """

    def __init__(self, layers, input_shape, cost="log_likelihood", init="scaled_normal",
                 dtype="float64", backend="cython", seed=None, n_threads=None):
        self.layers = list(layers)
        if not self.layers or not all(isinstance(layer, Layer) for layer in self.layers):
            raise TypeError("layers must be a non-empty list of nnfast.layers objects")
        self.input_shape = _check_shape(input_shape)
        self.built, shape = [], self.input_shape
        for position, layer in enumerate(self.layers):
            try:
                built = layer.build(shape)
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"layer {position} ({layer!r}): {exc}") from None
            self.built.append(built)
            shape = built.out_shape
        last = self.built[-1]
        if last.kind != "dense":
            raise ValueError("the last layer must be Dense (the output layer)")
        for built in self.built[:-1]:
            if built.activation is not None and built.activation.rowwise:
                raise ValueError("softmax is for the output layer only")
        if last.pieces > 1 or last.batch_norm:
            raise ValueError("maxout and batch norm are for hidden layers only")
        self.cost_function = get_cost(cost)
        check_pairing(self.cost_function, last.activation)
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.dtype = check_dtype(dtype)
        self.n_threads = _threads.check_n_threads(n_threads)
        if backend not in ("cython", "numpy"):
            raise ValueError(f"unknown backend {backend!r}; choose 'cython' or 'numpy'")
        if backend == "cython" and _conv is None:
            raise ImportError(f"nnfast's compiled extension is not available: {_IMPORT_ERROR}")
        self.backend = backend
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.lmbda = 0.0
        self.regularization = "l2"
        self.history = None
        self._layout()
        for W, b, built in zip(self.weights, self.biases, self.built):
            if W is None:
                continue
            if init == "he":
                W[...] = self.rng.standard_normal(W.shape) * np.sqrt(2.0 / built.fan_in)
                b[...] = 0
            else:
                W[...] = self.rng.standard_normal(W.shape) / np.sqrt(built.fan_in)
                b[...] = self.rng.standard_normal(b.shape)
            if built.batch_norm:  # the normalisation removes the bias: it stays 0
                b[...] = 0
        for gamma in self.bn_gamma:
            if gamma is not None:
                gamma[...] = 1  # beta starts at 0
        self.optimizer = get_optimizer("sgd")
        self._reset_optimizer_state()

    def _reset_optimizer_state(self):
        n_states = self.optimizer.n_states
        self.optimizer_state = tuple(np.zeros(len(self.params) if k < n_states else 0,
                                              dtype=self.dtype) for k in range(2))
        self.optimizer_steps = 0

    def _layout(self):
        """Parameters (per layer W, b, then gamma, beta with batch norm), the running statistics
        of batch norm (per normalised layer: mean then variance), the compiled layer table and
        the dropout mask columns."""
        n_layers = len(self.built)
        spec = np.zeros((n_layers, len(TABLE_COLUMNS)), dtype=np.intp)
        fparams = np.zeros((n_layers, len(FPARAM_COLUMNS)), dtype=np.float64)
        pos, column, running = 0, 0, 0
        self._dropout_columns = []  # (layer, first column, width, p)
        offsets, norm_offsets = [], []
        for l, built in enumerate(self.built):
            in3 = _as3(built.in_shape)
            out3 = _as3(built.out_shape)
            if built.kind == "conv":
                kh, kw = built.weight_shape[2:]
            elif built.kind in ("maxpool", "avgpool"):
                kh = kw = built.size
            else:
                kh = kw = 1
            act = built.activation
            spec[l, :13] = [LAYER_KINDS[built.kind], *in3, *out3, kh, kw, built.stride,
                            built.pad_top, built.pad_left, act.code if act is not None else 0]
            spec[l, S["pieces"]] = built.pieces
            fparams[l, 0] = act.param if act is not None else 0.0
            if built.n_weights:
                offsets.append((pos, pos + built.n_weights, pos + built.n_weights + built.n_biases))
                spec[l, S["w_off"]], spec[l, S["b_off"]] = pos, pos + built.n_weights
                pos += built.n_weights + built.n_biases
            else:
                offsets.append(None)
            if built.batch_norm:
                units = built.norm_units
                spec[l, S["bn"]], spec[l, S["g_off"]], spec[l, S["r_off"]] = 1, pos, running
                fparams[l, 2], fparams[l, 3] = built.bn_eps, built.bn_momentum
                norm_offsets.append((pos, running, units))
                pos += 2 * units
                running += 2 * units
            else:
                norm_offsets.append(None)
            if built.kind == "dropout":
                spec[l, S["drop_col"]] = column
                fparams[l, 1] = 1.0 / (1.0 - built.p)
                self._dropout_columns.append((l, column, built.n_in, built.p))
                column += built.n_in
        self._spec, self._fparams, self._mask_width = spec, fparams, column
        self._offsets, self._norm_offsets = offsets, norm_offsets
        self.params = aligned_zeros(pos, self.dtype)
        self.weights, self.biases = self.layer_views(self.params)
        self.bn_gamma, self.bn_beta = self.norm_views(self.params)
        self.bn_running = np.zeros(running, dtype=self.dtype)
        for _, r, units in filter(None, norm_offsets):
            self.bn_running[r + units:r + 2 * units] = 1  # the running variance starts at 1
        if self.backend == "cython":
            _conv.check_spec(spec, fparams, pos, running)

    def layer_views(self, flat):
        """(weights, biases): per-layer views into `flat` (the layout of params); None where a
        layer has no weights. A convolution's W is (F, C, kh, kw)."""
        weights, biases = [], []
        for built, offset in zip(self.built, self._offsets):
            if offset is None:
                weights.append(None)
                biases.append(None)
            else:
                weights.append(flat[offset[0]:offset[1]].reshape(built.weight_shape))
                biases.append(flat[offset[1]:offset[2]])
        return weights, biases

    def norm_views(self, flat):
        """(gammas, betas): per-layer views of batch norm's parameters in `flat` (the layout of
        params); None where a layer has no batch norm (a BatchNorm layer's only parameters)."""
        gammas, betas = [], []
        for offset in self._norm_offsets:
            if offset is None:
                gammas.append(None)
                betas.append(None)
            else:
                g, _, units = offset
                gammas.append(flat[g:g + units])
                betas.append(flat[g + units:g + 2 * units])
        return gammas, betas

    def _norms(self):
        """Per layer: a reference Norm (views of gamma, beta, the running statistics) or None."""
        norms = []
        for built, gamma, beta, offset in zip(self.built, self.bn_gamma, self.bn_beta,
                                              self._norm_offsets):
            if offset is None:
                norms.append(None)
                continue
            _, r, units = offset
            norms.append(Norm(gamma, beta, self.bn_running[r:r + units],
                              self.bn_running[r + units:r + 2 * units], built.bn_eps,
                              built.bn_momentum))
        return norms

    def _states(self):
        """Per layer: (state 1, state 2) view pairs for W, b, gamma, beta (None where unused);
        None for layers without parameters."""
        per_array = [(*self.layer_views(s), *self.norm_views(s)) if len(s) else None
                     for s in self.optimizer_state]
        states = []
        for l in range(len(self.built)):
            if self._offsets[l] is None and self._norm_offsets[l] is None:
                states.append(None)
                continue
            states.append(tuple(tuple(None if views is None else views[kind][l]
                                      for views in per_array) for kind in range(4)))
        return states

    def __repr__(self):
        return (f"Sequential({self.layers!r}, input_shape={self.input_shape}, "
                f"cost={self.cost_function.name!r}, dtype={self.dtype.name!r}, "
                f"backend={self.backend!r})")

    # ------------------------------------------------------------------ checks
    @property
    def n_inputs(self):
        return int(np.prod(self.input_shape))

    @property
    def n_outputs(self):
        return self.built[-1].n_out

    def _inputs(self, X, name="X"):
        """X as C-contiguous rows (n, prod(input_shape)) of the network's dtype."""
        array = np.asarray(X)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {array.dtype}")
        shape = tuple(array.shape)
        if len(shape) == 1 + len(self.input_shape) and shape[1:] == self.input_shape:
            array = array.reshape(shape[0], self.n_inputs)
        elif not (array.ndim == 2 and shape[1] == self.n_inputs):
            raise ValueError(f"{name} must be (n, {', '.join(map(str, self.input_shape))}) or flat "
                             f"rows (n, {self.n_inputs}), got shape {shape}"
                             + ("; use X[None] for one example" if len(shape) == len(self.input_shape)
                                else ""))
        if array.shape[0] == 0:
            raise ValueError(f"{name} is empty (0 rows)")
        array = np.ascontiguousarray(array, dtype=self.dtype)
        if not all_finite(array):
            raise nonfinite_error(name, self.dtype)
        return array

    def _data(self, X, y, what=""):
        X = self._inputs(X, f"{what}X")
        labels, targets = check_targets(y, len(X), self.n_outputs, self.dtype, name=f"{what}y")
        return X, labels, targets

    def _targets(self, labels, targets):
        if labels is None:
            return targets
        if self.n_outputs == 1:
            return labels.astype(self.dtype).reshape(-1, 1)
        Y = np.zeros((len(labels), self.n_outputs), dtype=self.dtype)
        Y[np.arange(len(labels)), labels] = 1
        return Y

    def _compiled_targets(self, labels, targets):
        if labels is None:
            return targets, np.empty(0, dtype=np.intp)
        return np.empty((0, self.n_outputs), dtype=self.dtype), labels

    # ------------------------------------------------------------------ inference
    def _evaluate(self, X, labels, targets, n_threads, outputs=False, batch_stats=False):
        """(summed cost, correct rows[, outputs]) of checked data. batch_stats: batch norm with the
        rows' own statistics (training mode, all rows as one batch; for gradient checks)."""
        if self.backend == "numpy":
            Y = self._targets(labels, targets)
            norms = self._norms()
            total, correct = reference.evaluate(self.built, self.weights, self.biases,
                                                self.cost_function, X, Y, labels, norms=norms,
                                                batch_stats=batch_stats)
            if outputs:
                out = reference.feedforward(self.built, self.weights, self.biases, X,
                                            norms=norms, training=batch_stats)[0][-1]
                return total, correct, out
            return total, correct
        T, lab = self._compiled_targets(labels, targets)
        out = np.empty((len(X), self.n_outputs), dtype=self.dtype) if outputs else None
        with _threads.blas_threads(1):
            total, correct = _conv.evaluate(self.params, self._spec, self._fparams,
                                            self.cost_function.code, X, T, lab,
                                            len(X) if batch_stats else INFERENCE_CHUNK,
                                            n_threads, out, running=self.bn_running,
                                            batch_stats=batch_stats)
        return (total, correct, out) if outputs else (total, correct)

    def feedforward(self, X):
        """The output layer's activations for each example: (n, outputs)."""
        X = self._inputs(X)
        labels = np.zeros(len(X), dtype=np.intp)
        n_threads = _threads.effective_n_threads(self.n_threads)
        return self._evaluate(X, labels, None, n_threads, outputs=True)[2]

    def predict(self, X):
        """Class labels: argmax of the outputs (one output unit: 1 where a > 0.5)."""
        return target_classes(self.feedforward(X))

    def accuracy(self, X, y):
        """The fraction of examples whose predicted class matches y."""
        X, labels, targets = self._data(X, y)
        n_threads = _threads.effective_n_threads(self.n_threads)
        return self._evaluate(X, labels, targets, n_threads)[1] / len(X)

    def cost(self, X, y, lmbda=None, batch_stats=False):
        """Mean cost over the examples plus the regularisation term of the last fit (L2:
        0.5 (lmbda / n) sum w^2, L1: (lmbda / n) sum |w|). batch_stats: batch norm with the rows'
        own statistics (the cost `gradient` is the gradient of)."""
        lmbda = self.lmbda if lmbda is None else check_float(lmbda, "lmbda", positive=False)
        X, labels, targets = self._data(X, y)
        n_threads = _threads.effective_n_threads(self.n_threads)
        total = self._evaluate(X, labels, targets, n_threads, batch_stats=batch_stats)[0]
        return total / len(X) + penalty([w for w in self.weights if w is not None], lmbda, len(X),
                                        self.regularization)

    def gradient(self, X, y):
        """The gradient of the summed cost over (X, y) (no regularisation, no dropout), all rows
        as one batch (batch norm with their statistics, the running ones untouched): a flat array
        in the layout of `params`."""
        X, labels, targets = self._data(X, y)
        grad = np.zeros_like(self.params)
        if self.backend == "numpy":
            nabla_w, nabla_b, nabla_norm = reference.backprop(
                self.built, self.weights, self.biases, self.cost_function, X,
                self._targets(labels, targets), norms=self._norms())
            gw, gb = self.layer_views(grad)
            gg, gbeta = self.norm_views(grad)
            for l in range(len(gw)):
                if gw[l] is not None:
                    gw[l][...], gb[l][...] = nabla_w[l], nabla_b[l]
                if nabla_norm[l] is not None:
                    gg[l][...], gbeta[l][...] = nabla_norm[l]
            return grad
        T, lab = self._compiled_targets(labels, targets)
        n_threads = _threads.effective_n_threads(self.n_threads)
        with _threads.blas_threads(1):
            _conv.gradient(self.params, self._spec, self._fparams, self.cost_function.code, X, T,
                           lab, grad, n_threads)
        return grad

    # ------------------------------------------------------------------ training
    def _draw_masks(self, n):
        """The epoch's keep-masks (n, dropout units) uint8, Dropout layer by layer:
        keep = Generator.random((n, width)) >= p; None without Dropout layers."""
        if not self._dropout_columns:
            return None
        keep = np.empty((n, self._mask_width), dtype=np.uint8)
        for _, column, width, p in self._dropout_columns:
            keep[:, column:column + width] = self.rng.random((n, width)) >= p
        return keep

    def _train_epoch(self, X, labels, targets, order, batch_size, eta, lmbda, keep, n_threads):
        """One epoch; returns the steps taken."""
        optimizer = self.optimizer
        if self.backend == "numpy":
            masks = None
            if keep is not None:
                masks = [None] * len(self.built)
                for l, column, width, p in self._dropout_columns:
                    masks[l] = keep[:, column:column + width].astype(self.dtype) * \
                        self.dtype.type(1.0 / (1.0 - p))
            return reference.train_epoch(
                self.built, self.weights, self.biases, self.cost_function, X,
                self._targets(labels, targets), order, batch_size, eta, lmbda, len(X), masks,
                regularization=self.regularization, optimizer=optimizer, states=self._states(),
                step0=self.optimizer_steps, norms=self._norms())
        T, lab = self._compiled_targets(labels, targets)
        if keep is None:
            keep = np.empty((0, 0), dtype=np.uint8)
        state1, state2 = self.optimizer_state
        with _threads.blas_threads(1):
            return _conv.train_epoch(
                self.params, self._spec, self._fparams, self.cost_function.code, X, T, lab, order,
                batch_size, eta, lmbda, len(X), keep, n_threads,
                regularization=_conv.REGULARIZATION_CODES[self.regularization],
                optimizer=OPTIMIZER_CODES[optimizer.name],
                hyper=np.asarray(optimizer.hyper, dtype=np.float64),
                state1=state1 if len(state1) else None, state2=state2 if len(state2) else None,
                step0=self.optimizer_steps, running=self.bn_running)

    def fit(self, X, y, epochs=30, batch_size=10, eta=0.1, lmbda=0.0, shuffle=True,
            validation_data=None, monitor=False, verbose=False, regularization="l2",
            optimizer="sgd"):
        """Train by mini-batch gradient descent; calling it again continues from the current
        weights (and the optimizer's state, while the optimizer stays the same).

        Each epoch: one permutation of the rows from the network's Generator (in order with
        ``shuffle=False``), then the dropout keep-masks (one row per example in that order), then
        consecutive mini-batches of `batch_size` (the last may be shorter, scaled by its own m).
        With the default SGD: ``W <- (1 - eta*lmbda/n) W - (eta/m) sum grad_W``,
        ``b <- b - (eta/m) sum grad_b`` (L1: ``W <- W - (eta*lmbda/n) sign(W) - (eta/m) sum
        grad_W``); other optimizers as nnfast.optimizers describes (weights decayed, biases and
        batch norm's gamma, beta not).

        Returns
        -------
        History
            Per epoch: eta, seconds, and (monitor) training / (validation_data) validation cost
            with the regularisation term and accuracy.
        """
        X, labels, targets = self._data(X, y)  # every check first: a refused call changes nothing
        epochs, batch_size, eta, lmbda, validation = check_fit_arguments(
            epochs, batch_size, eta, lmbda, shuffle, validation_data,
            lambda Xv, yv: self._data(Xv, yv, what="validation "))
        if regularization not in ("l2", "l1"):
            raise ValueError(f"regularization must be 'l2' or 'l1', got {regularization!r}")
        optimizer = get_optimizer(optimizer)
        n_threads = _threads.effective_n_threads(self.n_threads)
        self.lmbda = lmbda
        self.regularization = regularization
        if optimizer != self.optimizer:
            self.optimizer = optimizer
            self._reset_optimizer_state()
        n = len(X)
        history = self.history = History()
        weights = [w for w in self.weights if w is not None]
        for epoch in range(1, epochs + 1):
            order = self.rng.permutation(n).astype(np.intp) if shuffle else np.arange(n, dtype=np.intp)
            keep = self._draw_masks(n)
            started = time.perf_counter()
            self.optimizer_steps += self._train_epoch(X, labels, targets, order, batch_size, eta,
                                                      lmbda, keep, n_threads)
            trained = time.perf_counter()
            history.epoch.append(epoch)
            history.eta.append(eta)
            history.seconds.append(trained - started)
            for data, cost_list, acc_list, do in (
                    ((X, labels, targets), history.train_cost, history.train_accuracy, monitor),
                    (validation, history.validation_cost, history.validation_accuracy,
                     validation is not None)):
                if do:
                    total, correct = self._evaluate(*data, n_threads)
                    rows = len(data[0])
                    cost_list.append(total / rows + penalty(weights, lmbda, rows, regularization))
                    acc_list.append(correct / rows)
            history.eval_seconds.append(time.perf_counter() - trained)
            if verbose:
                print(history.epoch_line(), flush=True)
        return history


def _check_shape(shape):
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"input_shape must be (channels, height, width) or (features,), "
                        f"got {shape!r}") from None
    if len(shape) not in (1, 3):
        raise ValueError(f"input_shape must be (channels, height, width) or (features,), got {shape}")
    return tuple(check_int(s, "input_shape entries", 1) for s in shape)


def _as3(shape):
    return tuple(shape) if len(shape) == 3 else (shape[0], 1, 1)
