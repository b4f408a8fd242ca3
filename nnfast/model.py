"""The one model of nnfast: a feed-forward network given as a list of layers.

`Sequential` holds everything a model is: its layers (nnfast.layers), one flat parameter vector in
the layout the compiled loops read, batch norm's running statistics, the random generator, the
optimizer and its state, and the History of the last fit. Every architecture (dense, convolutional,
with dropout, batch norm or maxout) gets the same training loop (nnfast/training/loop.py), the same
guards (nnfast/training/guards.py), the same save format (nnfast/io.py) and the same checks.
`nnfast.Network(sizes)` is this model built from the book's list of layer sizes.

Parameter layout: per layer with parameters, in layer order: W (row-major, `weights[l].shape`), b,
then gamma and beta when the layer is batch-normalised. The running statistics: per normalised
layer, the running mean then the running variance.
"""

import contextlib

import numpy as np

from . import _threads
from ._aligned import aligned_zeros
from ._architecture import _check_differentiable, _check_regularization
from ._backend import make_backend
from ._format import save
from ._parameters import ParameterList, runs_on_dense_loop
from ._validation import (all_finite, check_dtype, check_fit_arguments, check_float,
                          check_inputs, check_int, check_targets, nonfinite_error)
from .costs import check_pairing, get_cost, penalty, target_classes
from .initializers import get_initializer
from .layers import Layer
from .training import callbacks as _callbacks, loop as _loop, single_step as _single_step
from .training.guards import UsageLock, uses_network
from .training.optimizers import get_optimizer
from .training.schedules import get_schedule


class Sequential:
    """A feed-forward network given as a list of layers, trained by mini-batch gradient descent.

    Parameters
    ----------
    layers : list of nnfast.layers.Layer
        E.g. ``[Conv2D(20, 5), MaxPool2D(2), Flatten(), Dense(100, "relu"), Dropout(0.5),
        Dense(10, "softmax")]``. The last layer must be Dense; softmax only there.
    input_shape : (channels, height, width) or (features,)
        Of one example. X may be given as (n, *input_shape) or as flat rows (n, prod(input_shape)).
    cost : str or None
        A cost of ``nnfast.costs`` matching the last layer's activation (``"log_likelihood"`` with
        softmax, ``"cross_entropy"`` with sigmoid, ``"quadratic"`` with any, ``"hinge"`` with an
        elementwise output of at least 2 units). None: a model without a cost, whose last layer
        may be any (a single Conv2D, a stack of convolutions: a GAN's generator); it predicts
        (`feedforward`) and learns from gradients of its outputs (`backward`,
        `train_on_batch(X, grad_output=...)`); what needs a cost (fit, cost, accuracy, gradient,
        input_gradient) refuses it.
    init : str or callable
        An initializer of ``nnfast.initializers`` (default the book's ``"scaled_normal"``), or
        ``init(rng, fan_in, n_out)``. It sees each layer with parameters as a (rows, fan_in) matrix
        (fan_in = C*kh*kw for a convolution, whose weights are then reshaped to (F, C, kh, kw)).
        Batch norm's gamma starts at 1 and beta at 0 (and the bias of a normalised layer at 0).
    dtype : "float64" or "float32"
    backend : "cython" or "numpy"
        The compiled loops (default) or the NumPy reference; both give the same results.
    seed : None, int or numpy.random.Generator
        All randomness: initial weights, each epoch's permutation, then its dropout masks.
    n_threads : None or int
        Threads of the compiled loops (None: the OpenMP default, -1: all, k > 0: k). Results do
        not depend on it.

    Attributes
    ----------
    built : list of nnfast.layers.Built
        Each layer with its input/output shapes.
    params : ndarray
        All parameters (see the module docstring for the layout).
    weights, biases : ParameterList
        Per layer a view into params (None for layers without parameters); assigning
        ``weights[l] = A`` is checked and reaches both backends.
    running : ndarray
        Batch norm's running means and variances (empty without batch norm).
    history : History or None
        The record of the last `fit`.

    Threads: one model is never trained from two threads at once (the other thread's call raises
    RuntimeError and changes nothing); reading (predict, cost, gradient, save) from several threads
    at once is allowed. See RELIABILITY.md.
    """

    _default_eta = 0.1
    _default_monitor = False
    _save_kind = "Sequential"  # what nnfast.io.load builds from a saved file

    def __init__(self, layers, input_shape, cost="log_likelihood", init="scaled_normal",
                 dtype="float64", backend="cython", seed=None, n_threads=None):
        self._usage = UsageLock()
        try:
            layers = list(layers)
        except TypeError:
            layers = None
        if not layers or not all(
                isinstance(layer, Layer) for layer in layers):
            raise TypeError("layers must be a non-empty list of nnfast.layers objects")
        input_shape = _check_shape(input_shape)
        built, shape = [], input_shape
        for position, layer in enumerate(layers):
            try:
                record = layer.build(shape)
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"layer {position} ({layer!r}): {exc}") from None
            built.append(record)
            shape = record.out_shape
        if built[-1].kind != "dense" and cost is not None:
            raise ValueError("the last layer must be Dense (the output layer) for a cost; a model "
                             "that ends in another layer takes cost=None and trains from gradients "
                             "of its outputs (train_on_batch(X, grad_output=...))")
        for record in built[:-1]:
            if record.activation is not None and record.activation.rowwise:
                raise ValueError("softmax is for the output layer only")
        if built[-1].pieces > 1:
            raise ValueError("maxout is for hidden layers only; choose another output activation")
        if built[-1].batch_norm:
            raise ValueError("batch norm is for hidden layers only; the output layer takes none")
        cost_function = None
        if cost is not None:
            cost_function = get_cost(cost)
            check_pairing(cost_function, built[-1].activation, built[-1].n_out)
        self._setup(layers, built, input_shape, cost_function, init, dtype, backend, seed, n_threads)

    def _setup(self, layers, built, input_shape, cost_function, init, dtype, backend, seed,
               n_threads):
        """Everything after the architecture is known and checked: settings, parameters, init."""
        initializer = get_initializer(init)
        self.dtype = check_dtype(dtype)
        self.n_threads = _threads.check_n_threads(n_threads)
        self._backend = make_backend(backend)
        self.layers, self.built, self.input_shape = layers, built, input_shape
        self.cost_function = cost_function
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.lmbda = 0.0
        self.regularization = "l2"
        self.history = None
        self.optimizer = get_optimizer("sgd")
        self._dense_loop = runs_on_dense_loop(built, input_shape)
        self._plan_layout()
        self._backend.prepare(self)
        self._initialize(initializer)
        self._reset_optimizer_state()

    def _plan_layout(self):
        """Offsets of every layer's parameters and running statistics, the parameter vector, the
        views and the dropout mask columns."""
        self._offsets, self._running_offsets = [], []
        pos = running = column = 0
        self._dropout_columns = []  # (layer, first column, width, p)
        for l, layer in enumerate(self.built):
            if layer.n_params:
                w, b = pos, pos + layer.n_weights
                g = b + layer.n_biases if layer.batch_norm else None
                pos += layer.n_params
                self._offsets.append((w, b, g, pos))
            else:
                self._offsets.append(None)
            if layer.batch_norm:
                self._running_offsets.append(running)
                running += layer.n_norm
            else:
                self._running_offsets.append(None)
            if layer.kind == "dropout" and layer.p > 0:
                self._dropout_columns.append((l, column, layer.n_in, layer.p))
                column += layer.n_in
        self._mask_width = column
        # 64-byte aligned: rows of the first W start on cache lines for the compiled kernels' loads
        self.params = aligned_zeros(pos, self.dtype)
        self.running = np.zeros(running, dtype=self.dtype)
        for l, offset in enumerate(self._running_offsets):
            if offset is not None:
                half = self.built[l].n_norm // 2
                self.running[offset + half:offset + 2 * half] = 1  # variance starts at 1
        weights, biases = self._per_layer_views(self.params)
        self._weights = ParameterList(weights, "weights", self._usage)
        self._biases = ParameterList(biases, "biases", self._usage)

    def _initialize(self, initializer):
        layers = [l for l, layer in enumerate(self.built) if layer.n_weights]
        shapes = [(self.built[l].weight_shape[0], self.built[l].fan_in) for l in layers]
        try:
            initial_weights, initial_biases = initializer(self.rng, shapes)
            for l, shape, w, b in zip(layers, shapes, initial_weights, initial_biases):
                w = np.asarray(w)
                if w.shape != shape:
                    raise ValueError(f"layer {l}'s weights must have shape {shape}, got {w.shape}")
                self._weights[l] = w.reshape(self.built[l].weight_shape)
                self._biases[l] = b
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"init: {exc}") from None
        for gamma, bias in zip(self._norm_views(self.params)[0], self._biases):
            if gamma is not None:  # batch norm: gamma starts at 1, beta at 0; the bias is unused
                gamma[...] = 1
                if bias is not None:
                    bias[...] = 0

    # ------------------------------------------------------------------ layout
    def _layer_arrays(self, flat):
        """Per layer: (W, b, gamma, beta) views into `flat` (the layout of params), or None for a
        layer without parameters (gamma, beta None without batch norm)."""
        arrays = []
        for layer, offset in zip(self.built, self._offsets):
            if offset is None:
                arrays.append(None)
                continue
            w, b, g, end = offset
            W = flat[w:b].reshape(layer.weight_shape) if layer.n_weights else None
            bias = flat[b:b + layer.n_biases] if layer.n_biases else None
            if g is None:
                arrays.append((W, bias, None, None))
            else:
                half = (end - g) // 2
                arrays.append((W, bias, flat[g:g + half], flat[g + half:end]))
        return arrays

    def layer_views(self, flat):
        """(weights, biases): per-layer views into `flat` (an array with the layout of params);
        None where a layer has none. A convolution's W is (F, C, kh, kw)."""
        return self._per_layer_views(flat)

    def _per_layer_views(self, flat):
        arrays = self._layer_arrays(flat)
        return ([None if a is None else a[0] for a in arrays],
                [None if a is None else a[1] for a in arrays])

    def norm_views(self, flat):
        """(gammas, betas): per-layer views of batch norm's parameters in `flat` (None where a
        layer has no batch norm)."""
        return self._norm_views(flat)

    def _norm_views(self, flat):
        arrays = self._layer_arrays(flat)
        return ([None if a is None else a[2] for a in arrays],
                [None if a is None else a[3] for a in arrays])

    def _optimizer_state_views(self):
        """Per layer, the optimizer's (state 1, state 2) view pairs for W, b, gamma and beta (None
        where unused); None for layers without parameters."""
        per_array = [self._layer_arrays(s) if len(s) else None for s in self.optimizer_state]
        return [None if offset is None else
                tuple(tuple(None if arrays is None else arrays[l][kind] for arrays in per_array)
                      for kind in range(4))
                for l, offset in enumerate(self._offsets)]

    def _running_views(self):
        """Per layer: (running mean, running variance) views of `running`, or None."""
        views = []
        for layer, offset in zip(self.built, self._running_offsets):
            if offset is None:
                views.append(None)
            else:
                half = layer.n_norm // 2
                views.append((self.running[offset:offset + half],
                              self.running[offset + half:offset + 2 * half]))
        return views

    def _use_layer_engine(self):
        """Run this model on the layer engine even when it is a plain stack of Dense layers (for
        the tests that hold the dense loop and the layer engine together)."""
        self._dense_loop = False

    def _decay_segments(self):
        """(start, stop) ranges of params that weight decay applies to: every layer's W."""
        return [(offset[0], offset[1]) for layer, offset in zip(self.built, self._offsets)
                if offset is not None and layer.n_weights and layer.kind in ("dense", "conv")]

    def _decayed_weights(self):
        """The weight arrays the regularisation term covers (W of every Dense and Conv2D layer)."""
        return [self.params[start:stop] for start, stop in self._decay_segments()]

    def _draw_dropout_masks(self, n):
        """The epoch's keep-masks, packed (n, dropped units) uint8, Dropout layer by layer:
        keep = Generator.random((n, width)) >= p; None without dropout."""
        if not self._dropout_columns:
            return None
        keep = np.empty((n, self._mask_width), dtype=np.uint8)
        for _, column, width, p in self._dropout_columns:
            keep[:, column:column + width] = self.rng.random((n, width)) >= p
        return keep

    # ------------------------------------------------------------------ attributes
    @property
    def weights(self):
        return self._weights

    @weights.setter
    @uses_network(write=True)
    def weights(self, values):
        self._weights.assign_all(values)

    @property
    def biases(self):
        return self._biases

    @biases.setter
    @uses_network(write=True)
    def biases(self, values):
        self._biases.assign_all(values)

    @property
    def bn_gamma(self):
        """Batch norm's gamma of each layer (a view into params), None where it has none."""
        return self.norm_views(self.params)[0]

    @property
    def bn_beta(self):
        """Batch norm's beta of each layer (a view into params), None where it has none."""
        return self.norm_views(self.params)[1]

    @property
    def bn_running(self):
        """Batch norm's running statistics (the same array as `running`)."""
        return self.running

    @property
    def backend(self):
        return self._backend.name

    @property
    def n_inputs(self):
        return int(np.prod(self.input_shape))

    @property
    def n_outputs(self):
        return self.built[-1].n_out

    @property
    def _activations(self):
        return [layer.activation for layer in self.built if layer.activation is not None]

    @property
    def _kernel_checks_finite(self):
        return self._backend.checks_finite_inputs(self)

    def _blas_threads(self, n_threads):
        per_call = self._backend.blas_threads_per_call
        return _threads.blas_threads(n_threads if per_call is None else per_call)

    def __repr__(self):
        cost = self.cost_function.name if self.cost_function is not None else None
        return (f"Sequential({self.layers!r}, input_shape={self.input_shape}, "
                f"cost={cost!r}, dtype={self.dtype.name!r}, "
                f"backend={self.backend!r})")

    # ------------------------------------------------------------------ checks
    def _inputs(self, X, name="X", check_finite=True):
        """X as C-contiguous rows (n, prod(input_shape)) of the model's dtype."""
        if len(self.input_shape) == 1:
            return check_inputs(X, self.n_inputs, self.dtype, name=name, check_finite=check_finite)
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
        return check_inputs(array, self.n_inputs, self.dtype, name=name, check_finite=check_finite)

    def _need_cost(self, what):
        if self.cost_function is None:
            raise ValueError(f"{what} needs a cost, and this model has none (cost=None): it "
                             "predicts (feedforward) and learns from gradients of its outputs "
                             "(backward, train_on_batch(X, grad_output=...))")

    def _data(self, X, y, what="", check_finite=True):
        X = self._inputs(X, f"{what}X", check_finite)
        labels, targets = check_targets(y, len(X), self.n_outputs, self.dtype, name=f"{what}y")
        return X, labels, targets

    @contextlib.contextmanager
    def _nonfinite_inputs_named(self, X, name="X"):
        """Turn the kernel's 'not finite' into the right error: X's fault, or the weights'."""
        try:
            yield
        except FloatingPointError:
            if not all_finite(X):
                raise nonfinite_error(name, self.dtype) from None
            if not all_finite(self.params) or not all_finite(self.running):
                raise FloatingPointError("the network's parameters are not finite (NaN or infinity); "
                                         "training may have diverged: use a smaller eta") from None
            raise ValueError(f"{name} is finite, but so large that the first layer's weighted inputs "
                             f"overflow in {self.dtype.name} (largest |value| "
                             f"{float(np.max(np.abs(X))):g}); scale the inputs down") from None

    # ------------------------------------------------------------------ inference
    @uses_network()
    def feedforward(self, X):
        """The output layer's activations for each example: an (n, outputs) array."""
        X = self._inputs(X, check_finite=not self._kernel_checks_finite)
        n_threads = _threads.effective_n_threads(self.n_threads)
        with self._blas_threads(n_threads), self._nonfinite_inputs_named(X):
            return self._backend.feedforward(self, X, n_threads)

    def predict(self, X):
        """Class labels: the argmax of the outputs (with one output unit: 1 where a > 0.5)."""
        return target_classes(self.feedforward(X))

    def _evaluate(self, X, labels, targets, n_threads):
        """(mean cost without the regularisation term, accuracy) of prepared data."""
        self._need_cost("evaluating")
        total, correct = self._backend.evaluate(self, X, labels, targets, n_threads)
        return total / len(X), correct / len(X)

    @uses_network()
    def accuracy(self, X, y):
        """The fraction of rows whose predicted class matches y (labels, or target rows' classes)."""
        X, labels, targets = self._data(X, y, check_finite=not self._kernel_checks_finite)
        n_threads = _threads.effective_n_threads(self.n_threads)
        with self._blas_threads(n_threads), self._nonfinite_inputs_named(X):
            return self._evaluate(X, labels, targets, n_threads)[1]

    @uses_network()
    def cost(self, X, y, lmbda=None, regularization=None):
        """The book's total cost on (X, y): the mean per-example cost plus the regularisation term,
        0.5 (lmbda / n) sum w^2 (L2) or (lmbda / n) sum |w| (L1) over every weight (not biases).

        n is the number of rows of X (as in network2's `total_cost`); lmbda and regularization
        default to those of the last `fit` (0 and "l2" before any).
        """
        lmbda = self.lmbda if lmbda is None else check_float(lmbda, "lmbda", positive=False)
        regularization = self.regularization if regularization is None else _check_regularization(
            regularization)
        X, labels, targets = self._data(X, y, check_finite=not self._kernel_checks_finite)
        n_threads = _threads.effective_n_threads(self.n_threads)
        with self._blas_threads(n_threads), self._nonfinite_inputs_named(X):
            mean_cost = self._evaluate(X, labels, targets, n_threads)[0]
        return mean_cost + penalty(self._decayed_weights(), lmbda, len(X), regularization)

    @uses_network()
    def gradient(self, X, y):
        """The gradient of the summed cost over the rows of (X, y) (no regularisation, no dropout;
        batch norm with the statistics of all the rows as one batch), by backpropagation in this
        model's backend: a flat array in the layout of `params`. `nnfast.gradcheck` holds it
        against finite differences."""
        self._need_cost("gradient")
        _check_differentiable(self._activations)
        X, labels, targets = self._data(X, y)
        n_threads = _threads.effective_n_threads(self.n_threads)
        with self._blas_threads(n_threads):
            return self._backend.gradient(self, X, labels, targets, n_threads)

    # ------------------------------------------------------------------ training
    @uses_network(write=True)
    def fit(self, X, y, epochs=30, batch_size=10, eta=None, lmbda=0.0, shuffle=True,
            validation_data=None, monitor=None, verbose=False, regularization="l2",
            optimizer="sgd", schedule=None, early_stopping=None, callbacks=None):
        """Train by mini-batch gradient descent; calling it again continues from the current
        parameters (and the optimizer's state, while the optimizer stays the same).

        Each epoch: the rows are shuffled (one permutation from the model's Generator; in order
        with ``shuffle=False``), then the dropout keep-masks are drawn (Dropout layer by layer, one
        row per example in the epoch's order), then consecutive mini-batches of `batch_size` (the
        last may be shorter and is scaled by its own size m) each take one step. With the default
        SGD: ``W <- (1 - eta*lmbda/n) W - (eta/m) sum grad_W``, ``b <- b - (eta/m) sum grad_b``
        with n the number of training rows (L1: ``W <- W - (eta*lmbda/n) sign(W) - (eta/m) sum
        grad_W``); every Dense and Conv2D weight is decayed, biases and batch norm's gamma/beta
        never.

        Parameters
        ----------
        X : array (n, *input_shape) or flat rows (n, prod(input_shape))
        y : array (n,) of int labels or (n, outputs) of target rows.
        epochs, batch_size, eta, lmbda : the book's hyper-parameters (eta is the initial rate;
            default 0.5 for Network, 0.1 for Sequential).
        validation_data : (Xv, yv) or None
            Measured after every epoch.
        monitor : bool
            Also measure the training cost and accuracy after every epoch (default True for
            Network, False for Sequential).
        verbose : bool
            Print one line per epoch.
        regularization : "l2" or "l1"
        optimizer : str or nnfast.optimizers.Optimizer
            "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam" (see nnfast.optimizers).
        schedule : None, str, schedule object or callable
            The learning rate of each epoch (see nnfast.schedules); None keeps eta.
        early_stopping : int or None
            Stop when the validation accuracy has not improved for this many epochs, and keep the
            parameters of the best epoch (needs validation_data).
        callbacks : list
            Callables f(model, history) run after each epoch, or nnfast.Callback objects (which may
            also ask to run every k batches); returning True or raising nnfast.StopTraining stops.

        Returns
        -------
        History

        Raises
        ------
        ValueError, TypeError
            Bad arguments, before anything changes.
        nnfast.TrainingDiverged (a FloatingPointError)
            NaN or infinity in the parameters or the cost after an epoch: the model is put back
            to the end of the last finished epoch (parameters, optimizer state, running
            statistics); the exception carries the epoch and the history. Use a smaller eta.
        nnfast.TrainingInterrupted (a KeyboardInterrupt)
            Ctrl-C: training stops at the next mini-batch boundary (every batch fully applied or
            not at all); the exception carries the epoch, the batches done and the history.
        RuntimeError
            Another thread is using this model.
        """
        eta = self._default_eta if eta is None else eta
        monitor = self._default_monitor if monitor is None else monitor
        # Every check comes first: a refused call leaves the model exactly as it was.
        self._need_cost("fit")
        _check_differentiable(self._activations)
        regularization = _check_regularization(regularization)
        X, labels, targets = self._data(X, y)
        epochs, batch_size, eta, lmbda, validation = check_fit_arguments(
            epochs, batch_size, eta, lmbda, shuffle, validation_data,
            lambda Xv, yv: self._data(Xv, yv, what="validation "))
        if not isinstance(monitor, (bool, np.bool_)):
            raise TypeError(f"monitor must be True or False, got {monitor!r}")
        optimizer = get_optimizer(optimizer)
        schedule = get_schedule(schedule)
        if early_stopping is not None:
            early_stopping = check_int(early_stopping, "early_stopping", 1)
        if validation is None and (early_stopping is not None
                                   or getattr(schedule, "needs_validation", False)):
            raise ValueError("early_stopping and the halve_on_plateau schedule need validation_data")
        callbacks = _callbacks.as_callbacks(callbacks)
        n_threads = _threads.effective_n_threads(self.n_threads)
        batch_size = min(batch_size, len(X))  # the same batches; keeps it a C integer
        with self._blas_threads(n_threads):  # (train adopts the optimizer, lmbda, regularization)
            return _loop.train(self, X, labels, targets, validation, epochs=epochs,
                                  batch_size=batch_size, eta=eta, lmbda=lmbda, shuffle=shuffle,
                                  monitor=monitor, verbose=verbose, regularization=regularization,
                                  optimizer=optimizer, schedule=schedule,
                                  early_stopping=early_stopping, callbacks=callbacks,
                                  n_threads=n_threads)

    # ------------------------------------------------------------------ single steps
    @uses_network()
    def input_gradient(self, X, y):
        """dC/dX: the gradient of the summed cost over the rows of (X, y) with respect to the
        inputs, an (n, prod(input_shape)) array (flat rows), computed as `gradient` is (no
        dropout; batch norm with the statistics of all the rows as one batch). To train a
        generator through this model (a GAN's discriminator), hand it to the generator's
        `train_on_batch(z, grad_output=...)`."""
        return _single_step.input_gradient(self, X, y)

    @uses_network()
    def backward(self, X, grad_output):
        """Backpropagation from a gradient of the outputs: for L = sum(grad_output * A), with A
        the model's outputs on the rows of X (no dropout; batch norm with the rows' statistics),
        returns (dL/dparams in the layout of `params`, dL/dX as flat rows (n, prod(input_shape))).
        grad_output is (n, outputs)."""
        return _single_step.backward(self, X, grad_output)

    @uses_network(write=True)
    def train_on_batch(self, X, y=None, eta=None, lmbda=0.0, *, grad_output=None,
                       regularization="l2", optimizer=None, n_train=None):
        """One step of mini-batch gradient descent on the rows of X as one batch, as `fit` takes
        it (dropout masks drawn from the model's Generator, batch norm's statistics and running
        averages, the optimizer's state and step count carried on).

        Give y (labels or target rows: the step follows the model's cost) or grad_output (n,
        outputs) = dL/d(outputs) of a loss of your own (the step follows `backward`: no dropout).
        eta defaults as in `fit`; the weight decay is eta*lmbda/n_train (n_train defaults to the
        rows of X); optimizer None keeps the model's (another one starts with fresh state).
        Raises ValueError/TypeError before anything changes, TrainingDiverged (the parameters
        put back) when the step makes them NaN or infinite."""
        eta = self._default_eta if eta is None else eta
        _single_step.train_on_batch(self, X, y, grad_output, eta, lmbda, regularization,
                                    optimizer, n_train)

    # ------------------------------------------------------------------ saving
    @uses_network()
    def save(self, path, include_state=True):
        """Write the model to one .npz file, atomically, without pickle (see nnfast.io.save):
        architecture, parameters bit for bit, batch norm's running statistics and, with
        include_state, the random generator and the optimizer's state, so that training continues
        exactly as it would have."""
        save(self, path, include_state)

    def state_arrays(self):
        """The optimizer's state arrays by name (saved by `save` with include_state)."""
        return {f"optimizer{k}": s for k, s in enumerate(self.optimizer_state, start=1) if len(s)}

    @uses_network(write=True)
    def load_state_arrays(self, state):
        """Restore what `state_arrays` gave (after the optimizer itself is restored)."""
        expected = self.state_arrays()
        if set(state) != set(expected):
            raise ValueError(f"the optimizer {self.optimizer.name!r} keeps {sorted(expected)}, "
                             f"got {sorted(state)}")
        for name, array in state.items():
            if array.shape != expected[name].shape or array.dtype != self.dtype:
                raise ValueError(f"state {name!r} must be {expected[name].shape} {self.dtype.name}")
            if not np.isfinite(array).all():
                raise ValueError(f"state {name!r} contains NaN or infinite values")
        for name, array in state.items():
            expected[name][...] = array

    def _reset_optimizer_state(self):
        n_states = self.optimizer.n_states
        self.optimizer_state = tuple(np.zeros(len(self.params) if k < n_states else 0, dtype=self.dtype)
                                     for k in range(2))
        self.optimizer_steps = 0


def _check_shape(shape):
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"input_shape must be (channels, height, width) or (features,), "
                        f"got {shape!r}") from None
    if len(shape) not in (1, 3):
        raise ValueError(f"input_shape must be (channels, height, width) or (features,), got {shape}")
    return tuple(check_int(s, "input_shape entries", 1) for s in shape)

