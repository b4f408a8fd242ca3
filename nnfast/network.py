"""The feed-forward network: the book's network2 semantics on two interchangeable backends."""

import contextlib
from collections.abc import Sequence

import numpy as np

from . import _threads, training
from ._aligned import aligned_zeros
from ._guards import UsageLock, uses_network
from ._backend import make_backend
from ._validation import (all_finite, check_data, check_dtype, check_fit_arguments, check_float,
                          check_inputs, check_int, check_sizes, nonfinite_error)
from ._architecture import (_check_differentiable, _check_regularization, _resolve_activations,
                            _resolve_batch_norm, _resolve_dropout)
from .costs import check_pairing, get_cost, penalty, target_classes
from .initializers import get_initializer
from .optimizers import get_optimizer
from .schedules import get_schedule


class ParameterList(Sequence):
    """`net.weights` / `net.biases`: views into the network's one parameter vector.

    Reading gives the live array (in-place edits change the network); assigning `net.weights[l] = A`
    checks A's shape and values, then copies it in, converted to the network's dtype.
    """

    def __init__(self, views, kind):
        self._views = views
        self._kind = kind

    def __len__(self):
        return len(self._views)

    def __getitem__(self, index):
        return self._views[index]

    def _checked(self, index, value):
        target = self._views[index]
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{self._kind}[{index}] must hold real numbers, got dtype {array.dtype}")
        if array.shape != target.shape:
            raise ValueError(f"{self._kind}[{index}] must have shape {target.shape}, got {array.shape}")
        with np.errstate(over="ignore", invalid="ignore"):  # checked after the conversion:
            array = array.astype(target.dtype)             # 1e300 is inf in float32
        if not np.isfinite(array).all():
            raise ValueError(f"{self._kind}[{index}] contains NaN or infinite values (in "
                             f"{target.dtype.name})")
        return array

    def __setitem__(self, index, value):
        if not isinstance(index, (int, np.integer)):
            raise TypeError(f"{self._kind} is indexed by layer number")
        self._views[index][...] = self._checked(index, value)

    def assign_all(self, values):
        values = list(values)
        if len(values) != len(self):
            raise ValueError(f"need {len(self)} {self._kind} arrays, got {len(values)}")
        checked = [self._checked(i, v) for i, v in enumerate(values)]  # all checks before any write
        for view, array in zip(self._views, checked):
            view[...] = array

    def __repr__(self):
        return f"<{len(self)} {self._kind}: " + ", ".join(str(v.shape) for v in self._views) + ">"


class Network:
    """A fully connected feed-forward network trained by mini-batch SGD with backpropagation.

    Parameters
    ----------
    sizes : list of int
        Units per layer, input first: ``[784, 30, 10]``.
    activation : str, Activation, or a list of them
        One for every layer, or one per layer (``len(sizes) - 1``, output included), or one per
        hidden layer (``len(sizes) - 2``) with `output_activation`: see
        ``nnfast.activations.ACTIVATIONS``; parametric ones by their factories, e.g.
        ``nnfast.activations.leaky_relu(0.1)``.
    cost : str
        ``"cross_entropy"`` (sigmoid output; delta = a - y), ``"log_likelihood"`` (softmax output;
        delta = a - y), ``"quadratic"`` (any output; delta = (a - y) sigma'(z)) or ``"hinge"`` (the
        multiclass max-margin cost, elementwise output such as identity). See ``nnfast.costs``.
    init : str or callable
        ``"scaled_normal"`` (default), ``"normal"``, ``"uniform"``, ``"xavier"``/``"glorot"``,
        ``"he"``, or ``init(rng, n_in, n_out)``: see ``nnfast.initializers``.
    dtype : "float64" or "float32"
        Of the parameters, the buffers and the outputs.
    backend : "cython" or "numpy"
        The compiled kernels (default) or the NumPy reference; both give the same results.
    seed : None, int or numpy.random.Generator
        All randomness (initial weights, shuffles) comes from ``numpy.random.default_rng(seed)``.
    n_threads : None or int
        Threads for the compiled loops and for BLAS: None = the OpenMP default, -1 = every
        processor, k > 0 = k (at most 4096). Results do not depend on it.
    output_activation : str or Activation, optional
        The output layer's activation, when `activation` names the hidden layers' (e.g.
        ``activation="relu", output_activation="softmax"``).
    dropout : float or list of float
        Dropout probability p for every hidden layer, or one per hidden layer (0 = none). Inverted
        dropout: kept units are scaled by 1/(1-p) during training, so inference needs no rescale.
        The masks are drawn from the network's Generator in Python, after each epoch's shuffle.
    batch_norm : bool or list of bool
        Batch normalisation of every hidden layer's pre-activations, or one flag per hidden layer
        (not for maxout layers): zhat = (z - mean) / sqrt(var + eps) over the mini-batch while
        training, over running averages at inference; y = gamma * zhat + beta feeds the
        activation. gamma (starts at 1) and beta (at 0) are learned, never decayed; see
        ``net.bn_gamma``, ``net.bn_beta``, ``net.bn_running``. Such a layer's bias is redundant
        (the normalisation removes it): it starts at 0 and its gradient is exactly 0.
    batch_norm_eps, batch_norm_momentum : float
        eps, and the running averages' momentum (running <- momentum running + (1 - momentum) batch;
        the batch variance enters unbiased).

    Raises ValueError or TypeError for invalid arguments (layer sizes are at most 2**31 - 1), and
    MemoryError when the parameters do not fit in memory.

    Attributes
    ----------
    weights, biases : sequences of ndarray
        ``weights[l]`` has shape ``(sizes[l+1], sizes[l])``, ``biases[l]`` shape ``(sizes[l+1],)``
        (a maxout layer with k pieces: ``sizes[l+1] * k`` rows, unit j's pieces at j*k .. j*k+k-1).
    history : History or None
        The record of the last `fit`.

    Threads
    -------
    The compiled kernels run without the GIL, so different networks train in parallel from
    different Python threads (with the same results as one after the other). One network is never
    trained from two threads at once: while a thread runs `fit` (or assigns `weights`/`biases`),
    any other thread's call raises RuntimeError ("in use by another thread") and changes nothing;
    reading (predict, feedforward, cost, accuracy, gradient, save) from several threads at once is
    allowed. Writing into the arrays of `weights`/`biases` directly is not guarded.

    Fork: OpenMP runtimes do not survive fork() after multithreaded work (GNU OpenMP's child can
    hang in its next parallel region), so in a process forked after nnfast ran multithreaded,
    nnfast runs single-threaded (same results, one RuntimeWarning). For parallel worker processes
    use multiprocessing's 'spawn' or 'forkserver' start method. See RELIABILITY.md.
    """

    def __init__(self, sizes, activation="sigmoid", cost="cross_entropy", init="scaled_normal",
                 dtype="float64", backend="cython", seed=None, n_threads=None, *,
                 output_activation=None, dropout=0.0, batch_norm=False, batch_norm_eps=1e-5,
                 batch_norm_momentum=0.9):
        self._usage = UsageLock()  # see "Threads" above
        self.sizes = check_sizes(sizes)
        self.activations = _resolve_activations(activation, output_activation, len(self.sizes) - 1)
        self.cost_function = get_cost(cost)
        check_pairing(self.cost_function, self.activations[-1], self.sizes[-1])
        self.dropout = _resolve_dropout(dropout, len(self.sizes) - 2)
        # where each hidden layer's units sit in the packed keep-mask, and their 1/(1-p) scales
        self.dropout_columns = np.zeros(len(self.sizes), dtype=np.intp)
        self.dropout_scales = np.zeros(len(self.sizes), dtype=np.float64)
        column = 0
        for l, p in enumerate(self.dropout, start=1):
            if p > 0:
                self.dropout_columns[l] = column
                self.dropout_scales[l] = 1.0 / (1.0 - p)
                column += self.sizes[l]
        self._dropped_units = column
        self.batch_norm = _resolve_batch_norm(batch_norm, self.activations)
        self.batch_norm_eps = check_float(batch_norm_eps, "batch_norm_eps", positive=True)
        self.batch_norm_momentum = check_float(batch_norm_momentum, "batch_norm_momentum",
                                               positive=False)
        if self.batch_norm_momentum >= 1:
            raise ValueError(f"batch_norm_momentum must be in [0, 1), got {batch_norm_momentum}")
        initializer = get_initializer(init)
        self.dtype = check_dtype(dtype)
        self.n_threads = _threads.check_n_threads(n_threads)
        self._backend = make_backend(backend)
        if isinstance(seed, np.random.Generator):
            self.rng = seed
        else:
            self.rng = np.random.default_rng(seed)
        self.lmbda = 0.0
        self.regularization = "l2"
        self.history = None
        self.optimizer = get_optimizer("sgd")

        # One flat parameter vector; per layer W_l (row-major), b_l, and gamma_l, beta_l with batch
        # norm: the layout of _train.pyx. A maxout layer has units * pieces rows.
        shapes = [(rows, n_in) for rows, n_in, _ in self._layer_shapes()]
        # 64-byte aligned: W_0's rows then start on cache lines for the compiled kernels' loads
        self.params = aligned_zeros(self._layer_offsets()[-1][3], self.dtype)
        weights, biases = self.layer_views(self.params)
        self.bn_gamma, self.bn_beta = self.norm_views(self.params)
        units = [rows for rows, _, normed in self._layer_shapes() if normed]
        self.bn_running = np.concatenate(
            [np.concatenate([np.zeros(u), np.ones(u)]) for u in units]).astype(self.dtype) \
            if units else np.zeros(0, dtype=self.dtype)
        self._weights = ParameterList(weights, "weights")
        self._biases = ParameterList(biases, "biases")
        try:
            initial_weights, initial_biases = initializer(self.rng, shapes)
            self._weights.assign_all(initial_weights)
            self._biases.assign_all(initial_biases)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"init: {exc}") from None
        for gamma, bias in zip(self.bn_gamma, self.biases):
            if gamma is not None:  # batch norm: gamma starts at 1, beta at 0; the bias is unused
                gamma[...] = 1
                bias[...] = 0
        self._reset_optimizer_state()

    # ------------------------------------------------------------------ parameters
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
    def backend(self):
        return self._backend.name

    def _blas_threads(self, n_threads):
        per_call = self._backend.blas_threads_per_call
        return _threads.blas_threads(n_threads if per_call is None else per_call)

    def __repr__(self):
        acts = ",".join(a.name for a in self.activations)
        drop = f", dropout={self.dropout}" if any(self.dropout) else ""
        norm = f", batch_norm={self.batch_norm[:-1]}" if any(self.batch_norm) else ""
        return (f"Network({self.sizes}, activation=[{acts}], cost={self.cost_function.name!r}{drop}"
                f"{norm}, dtype={self.dtype.name!r}, backend={self.backend!r})")

    # ------------------------------------------------------------------ inference
    @uses_network()
    def feedforward(self, X):
        """The output layer's activations for each row of X: an (n, sizes[-1]) array."""
        X = check_inputs(X, self.sizes[0], self.dtype, check_finite=not self._kernel_checks_finite)
        n_threads = _threads.effective_n_threads(self.n_threads)
        with self._blas_threads(n_threads):
            with self._nonfinite_inputs_named(X):
                return self._backend.feedforward(self, X, n_threads)

    @property
    def _kernel_checks_finite(self):
        return self._backend.checks_finite_inputs

    @contextlib.contextmanager
    def _nonfinite_inputs_named(self, X, name="X"):
        """Turn the kernel's 'not finite' into the right error: X's fault, or the weights'."""
        try:
            yield
        except FloatingPointError:
            if not all_finite(X):
                raise nonfinite_error(name, self.dtype) from None
            if not all_finite(self.params) or not all_finite(self.bn_running):
                raise FloatingPointError("the network's parameters are not finite (NaN or infinity); "
                                         "training may have diverged: use a smaller eta") from None
            raise ValueError(f"{name} is finite, but so large that the first layer's weighted inputs "
                             f"overflow in {self.dtype.name} (largest |value| "
                             f"{float(np.max(np.abs(X))):g}); scale the inputs down") from None

    def predict(self, X):
        """Class labels: the argmax of the outputs (with one output unit: 1 where a > 0.5)."""
        return target_classes(self.feedforward(X))

    def _evaluate(self, X, labels, targets, n_threads):
        """(mean cost without the L2 term, accuracy) of prepared data."""
        total, correct = self._backend.evaluate(self, X, labels, targets, n_threads)
        return total / len(X), correct / len(X)

    @uses_network()
    def accuracy(self, X, y):
        """The fraction of rows whose predicted class matches y (labels, or target rows' classes)."""
        X, labels, targets = check_data(X, y, self.sizes[0], self.sizes[-1], self.dtype,
                                        check_finite=not self._kernel_checks_finite)
        n_threads = _threads.effective_n_threads(self.n_threads)
        with self._blas_threads(n_threads), self._nonfinite_inputs_named(X):
            return self._evaluate(X, labels, targets, n_threads)[1]

    @uses_network()
    def cost(self, X, y, lmbda=None, regularization=None):
        """The book's total cost on (X, y): the mean per-example cost plus the regularisation term,
        0.5 (lmbda / n) sum w^2 (L2) or (lmbda / n) sum |w| (L1).

        n is the number of rows of X (as in network2's `total_cost`); lmbda and regularization
        default to those of the last `fit` (0 and "l2" before any).
        """
        lmbda = self.lmbda if lmbda is None else check_float(lmbda, "lmbda", positive=False)
        regularization = self.regularization if regularization is None else _check_regularization(
            regularization)
        X, labels, targets = check_data(X, y, self.sizes[0], self.sizes[-1], self.dtype,
                                        check_finite=not self._kernel_checks_finite)
        n_threads = _threads.effective_n_threads(self.n_threads)
        with self._blas_threads(n_threads), self._nonfinite_inputs_named(X):
            mean_cost = self._evaluate(X, labels, targets, n_threads)[0]
        return mean_cost + penalty(self.weights, lmbda, len(X), regularization)

    @uses_network()
    def gradient(self, X, y):
        """The gradient of the summed cost over the rows of (X, y) (no regularisation, no dropout),
        by backpropagation in this network's backend: a flat array in the layout of `params`
        (per layer W_l row by row, then b_l). `nnfast.gradcheck` holds it against finite
        differences."""
        _check_differentiable(self.activations)
        X, labels, targets = check_data(X, y, self.sizes[0], self.sizes[-1], self.dtype)
        n_threads = _threads.effective_n_threads(self.n_threads)
        with self._blas_threads(n_threads):
            return self._backend.gradient(self, X, labels, targets, n_threads)

    # ------------------------------------------------------------------ training
    @uses_network(write=True)
    def fit(self, X, y, epochs=30, batch_size=10, eta=0.5, lmbda=0.0, shuffle=True,
            validation_data=None, monitor=True, verbose=False, regularization="l2",
            optimizer="sgd", schedule=None, early_stopping=None, callbacks=None):
        """Train by mini-batch gradient descent; calling it again continues from the current
        weights (and the optimizer's state, while the optimizer stays the same).

        Each epoch: the rows are shuffled (one permutation from the network's Generator; in order
        with ``shuffle=False``), cut into consecutive mini-batches of `batch_size` (the last one may
        be shorter and is scaled by its own size m), and each batch takes one step. With the default
        SGD: ``W <- (1 - eta*lmbda/n) W - (eta/m) sum grad_W``, ``b <- b - (eta/m) sum grad_b`` with n
        the number of training rows (L1: ``W <- W - (eta*lmbda/n) sign(W) - (eta/m) sum grad_W``).
        With dropout, each epoch draws its keep-masks after its permutation, hidden layer by
        hidden layer, one row per example in the epoch's order.

        Parameters
        ----------
        X : array (n, sizes[0])
            One example per row; converted once to the network's dtype.
        y : array (n,) of int labels or (n, sizes[-1]) of target rows.
        epochs, batch_size, eta, lmbda : the book's hyper-parameters (eta is the initial rate).
        validation_data : (Xv, yv) or None
            Measured after every epoch.
        monitor : bool
            Also measure the training cost and accuracy after every epoch (one forward pass).
        verbose : bool
            Print one line per epoch.
        regularization : "l2" or "l1"
            The weight penalty lmbda scales (biases are never regularised).
        optimizer : str or nnfast.optimizers.Optimizer
            "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam" (see nnfast.optimizers).
        schedule : None, str, schedule object or callable
            The learning rate of each epoch (see nnfast.schedules); None keeps eta.
        early_stopping : int or None
            Stop when the validation accuracy has not improved for this many epochs, and keep the
            weights of the best epoch (needs validation_data).
        callbacks : list
            Callables f(net, history) run after each epoch, or nnfast.Callback objects (which may
            also ask to run every k batches); returning True or raising nnfast.StopTraining stops.

        Returns
        -------
        History

        Raises
        ------
        ValueError, TypeError
            Bad arguments, before anything changes.
        nnfast.TrainingDiverged (a FloatingPointError)
            NaN or infinity in the parameters or the cost after an epoch: the network is put back
            to the end of the last finished epoch (weights, optimizer state, running statistics);
            the exception carries the epoch and the history. Use a smaller eta.
        nnfast.TrainingInterrupted (a KeyboardInterrupt)
            Ctrl-C: training stops at the next mini-batch boundary (every batch fully applied or
            not at all); the exception carries the epoch, the batches done and the history.
        RuntimeError
            Another thread is using this network.
        """
        # Every check comes first: a refused call leaves the network exactly as it was.
        _check_differentiable(self.activations)
        regularization = _check_regularization(regularization)
        X, labels, targets = check_data(X, y, self.sizes[0], self.sizes[-1], self.dtype)
        epochs, batch_size, eta, lmbda, validation = check_fit_arguments(
            epochs, batch_size, eta, lmbda, shuffle, validation_data,
            lambda Xv, yv: check_data(Xv, yv, self.sizes[0], self.sizes[-1], self.dtype,
                                      what="validation "))
        optimizer = get_optimizer(optimizer)
        schedule = get_schedule(schedule)
        if early_stopping is not None:
            early_stopping = check_int(early_stopping, "early_stopping", 1)
        if validation is None and (early_stopping is not None
                                   or getattr(schedule, "needs_validation", False)):
            raise ValueError("early_stopping and the halve_on_plateau schedule need validation_data")
        callbacks = training.as_callbacks(callbacks)
        n_threads = _threads.effective_n_threads(self.n_threads)
        batch_size = min(batch_size, len(X))  # the same batches; keeps it a C integer
        with self._blas_threads(n_threads):  # (train adopts the optimizer, lmbda, regularization)
            return training.train(self, X, labels, targets, validation, epochs=epochs,
                                  batch_size=batch_size, eta=eta, lmbda=lmbda, shuffle=shuffle,
                                  monitor=monitor, verbose=verbose, regularization=regularization,
                                  optimizer=optimizer, schedule=schedule,
                                  early_stopping=early_stopping, callbacks=callbacks,
                                  n_threads=n_threads)

    # ------------------------------------------------------------------ saving
    @uses_network()
    def save(self, path, include_state=True):
        """Write the network to one .npz file, atomically, without pickle (see nnfast.io.save):
        architecture, parameters bit for bit, batch norm's running statistics and, with
        include_state, the random generator and the optimizer's state, so that training continues
        exactly as it would have."""
        from .io import save

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

    def _layer_shapes(self):
        """Per weight layer: (rows of W, columns of W, batch-normalised?)."""
        return [(n_out * act.pieces, n_in, normed) for n_out, n_in, act, normed
                in zip(self.sizes[1:], self.sizes[:-1], self.activations, self.batch_norm)]

    def _layer_offsets(self):
        """Per weight layer: offsets of (W, b, gamma or None, the end) in `params`."""
        offsets, pos = [], 0
        for rows, n_in, normed in self._layer_shapes():
            w, b = pos, pos + rows * n_in
            g = b + rows if normed else None
            pos = b + rows * (3 if normed else 1)
            offsets.append((w, b, g, pos))
        return offsets

    def layer_views(self, flat):
        """(weights, biases): per-layer views into `flat`, an array with the layout of `params`."""
        weights, biases = [], []
        for (rows, n_in, _), (w, b, _, _) in zip(self._layer_shapes(), self._layer_offsets()):
            weights.append(flat[w:b].reshape(rows, n_in))
            biases.append(flat[b:b + rows])
        return weights, biases

    def norm_views(self, flat):
        """(gammas, betas): per-layer views of batch norm's parameters in `flat` (None where a
        layer has no batch norm)."""
        gammas, betas = [], []
        for (rows, _, _), (_, _, g, _) in zip(self._layer_shapes(), self._layer_offsets()):
            gammas.append(None if g is None else flat[g:g + rows])
            betas.append(None if g is None else flat[g + rows:g + 2 * rows])
        return gammas, betas

    def running_views(self):
        """Per layer: (running mean, running variance) views of `bn_running`, or None."""
        views, pos = [], 0
        for rows, _, normed in self._layer_shapes():
            views.append((self.bn_running[pos:pos + rows], self.bn_running[pos + rows:pos + 2 * rows])
                         if normed else None)
            pos += 2 * rows if normed else 0
        return views

    def _draw_dropout_masks(self, n):
        """The epoch's keep-masks, packed (n, dropped units) uint8; None without dropout.
        Hidden layer by hidden layer: keep = Generator.random((n, width)) >= p."""
        if self._dropped_units == 0:
            return None
        keep = np.empty((n, self._dropped_units), dtype=np.uint8)
        for l, p in enumerate(self.dropout, start=1):
            if p > 0:
                column = self.dropout_columns[l]
                keep[:, column:column + self.sizes[l]] = self.rng.random((n, self.sizes[l])) >= p
        return keep

