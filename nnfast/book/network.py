"""The book's chapter-1 ``network.py`` API, trained by nnfast.

``Network(sizes)`` is a sigmoid network with the quadratic cost and N(0, 1) weights and biases,
trained by mini-batch SGD without regularisation, exactly as in "Neural Networks and Deep
Learning", chapter 1::

    from nnfast.book import mnist_loader, network
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
    net = network.Network([784, 30, 10])
    net.SGD(training_data, 30, 10, 3.0, test_data=test_data)   # prints "Epoch 0: 9021 / 10000" ...

The public names and behaviour follow the book: ``sizes``, ``num_layers``, ``weights`` (a list of
``(n_out, n_in)`` arrays), ``biases`` (a list of ``(n_out, 1)`` columns), ``feedforward(a)`` for a
column ``a`` of shape ``(n_in, 1)``, ``SGD(training_data, epochs, mini_batch_size, eta,
test_data=None)`` printing ``Epoch {j}: {correct} / {n_test}`` or ``Epoch {j} complete`` after
each epoch, ``evaluate(test_data)`` (a count), and also ``update_mini_batch``, ``backprop`` and
``cost_derivative``; module functions ``sigmoid`` and ``sigmoid_prime``.

How it works: the network holds an internal `nnfast.Network` (``activation="sigmoid"``,
``cost="quadratic"``), and each ``SGD`` call converts the data once into a matrix of rows and runs
every epoch in compiled code (``backend="cython"``; ``backend="numpy"`` for the NumPy reference).
The book-style ``weights``/``biases`` lists are the network's parameters as far as you are
concerned: they are copied into the internal network at the start of every call (so assigning or
editing them takes effect) and, after ``SGD``/``update_mini_batch`` (also when interrupted between
epochs), replaced by new arrays holding the trained values, as the book's update rebinds them.

Differences from the book (the same algorithm; these are the only visible changes):

- Randomness: the book draws from the global ``np.random`` (initial weights) and ``random``
  (``random.shuffle`` of the training data); here everything comes from the internal network's
  ``numpy.random.Generator``: ``Network(sizes, seed=...)`` (default None: fresh entropy).
  ``np.random.seed``/``random.seed`` have no effect, and the same seed gives other numbers than
  the book's. Biases are drawn before weights, as in the book.
- ``SGD`` does not shuffle your ``training_data`` list in place (the book's ``random.shuffle``
  does); each epoch visits the rows in a permutation drawn from the Generator.
- Data may be any iterable of ``(x, y)`` pairs (lists, or the ``zip`` objects of a Python 3 port
  of the loader); it is materialised once per call. Shapes are checked and a clear ``ValueError``
  is raised where the book would silently broadcast: ``x`` must be ``(n_in, 1)``, training ``y``
  an ``(n_out, 1)`` column, test ``y`` an integer label in range. An empty ``test_data`` means
  no evaluation (as the book's ``if test_data``); an empty ``training_data`` is an error.
- Arithmetic: the same float64 formulas computed by BLAS/compiled loops, a mini-batch as one
  matrix, so the numbers agree with the book's to rounding (about 1e-12 relative), not bit for
  bit. ``dtype="float32"`` is available. ``feedforward`` returns a new array of the network's
  dtype; it accepts an ``(n_in, k)`` block of columns (as the book's broadcasting does) but not a
  1-D vector.
- ``SGD`` does not call ``update_mini_batch``/``backprop``: overriding them in a subclass does not
  change training (those methods exist for exploring, and run on the compiled path too).
  ``eta`` must be positive and ``mini_batch_size`` a positive integer (``epochs=0`` does nothing).
- Weights must stay finite: non-finite values in ``weights``/``biases`` are refused.
"""

import numbers

import numpy as np

from .. import activations as _activations
from .._validation import check_int
from ..initializers import normal as _normal
from ..network import Network as _Engine

__all__ = ["Network", "sigmoid", "sigmoid_prime"]


def sigmoid(z):
    """The sigmoid function 1 / (1 + e^-z), elementwise (never overflows)."""
    return _activations.sigmoid(np.asarray(z, dtype=np.float64))


def sigmoid_prime(z):
    """The derivative of the sigmoid function, sigma(z) (1 - sigma(z))."""
    s = sigmoid(z)
    return s * (1 - s)


def _no_init(rng, n_in, n_out):
    """Zero weights drawing nothing: the facade draws the book's initial values itself."""
    return np.zeros((n_out, n_in))


# ---------------------------------------------------------------------------- data conversion

def _materialise(data, what):
    """The (x, y) pairs of `data` as a list (a zip object or any iterable is consumed once)."""
    if data is None:
        raise TypeError(f"{what} must be a list of (x, y) pairs, got None")
    if isinstance(data, (np.ndarray, str, bytes)):
        raise TypeError(f"{what} must be a list of (x, y) pairs as mnist_loader.load_data_wrapper "
                        f"returns, got {type(data).__name__}")
    try:
        return list(data)
    except TypeError:
        raise TypeError(f"{what} must be a list (or iterable) of (x, y) pairs, "
                        f"got {type(data).__name__}") from None


def _numeric(value, what):
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold real numbers, got dtype {array.dtype}")
    return array


def _column(value, n, what, hint=""):
    array = _numeric(value, what)
    if array.shape != (n, 1):
        extra = "; make it a column with .reshape(-1, 1)" if array.shape == (n,) else ""
        raise ValueError(f"{what} must be a column vector of shape ({n}, 1){hint}, "
                         f"got shape {array.shape}{extra}")
    return array


def _is_label(y):
    if isinstance(y, (bool, np.bool_)):
        return False
    if isinstance(y, (numbers.Integral, np.integer)):
        return True
    return isinstance(y, np.ndarray) and y.ndim == 0 and y.dtype.kind in "iu"


def _split(pairs, what):
    xs, ys = [], []
    for i, pair in enumerate(pairs):
        try:
            x, y = pair
        except (TypeError, ValueError):
            raise ValueError(f"{what}[{i}] must be an (x, y) pair, "
                             f"got {type(pair).__name__}") from None
        xs.append(x)
        ys.append(y)
    return xs, ys


def _stack_inputs(xs, n_in, dtype, what):
    """The columns x (n_in, 1) as the rows of one (n, n_in) array of `dtype`."""
    X = np.empty((len(xs), n_in), dtype=dtype)
    for i, x in enumerate(xs):  # row by row: much faster than numpy.array(xs) on a list of columns
        X[i] = _column(x, n_in, f"{what}[{i}]: x", " (the network's input layer)")[:, 0]
    return X


def _training_arrays(data, n_in, n_out, dtype, what="training_data"):
    """(X, y, classes) from pairs (x (n_in, 1), y (n_out, 1)): X the rows, y the integer labels when
    every y is one-hot (else the target rows), classes the argmax of each y."""
    pairs = _materialise(data, what)
    if not pairs:
        raise ValueError(f"{what} is empty (a zip object can be read only once: "
                         "wrap it in list() to use it again)")
    xs, ys = _split(pairs, what)
    X = _stack_inputs(xs, n_in, dtype, what)
    Y = np.empty((len(ys), n_out), dtype=np.float64)
    for i, y in enumerate(ys):
        if _is_label(y):
            raise ValueError(f"{what}[{i}]: y is the integer label {int(y)}, but training data "
                             f"needs a ({n_out}, 1) target vector (load_data_wrapper's training "
                             "format: a one-hot column); validation and test data carry labels")
        Y[i] = _column(y, n_out, f"{what}[{i}]: y", " (a target for the output layer)")[:, 0]
    if not np.isfinite(Y).all():
        raise ValueError(f"{what}: the targets contain NaN or infinite values")
    classes = np.argmax(Y, axis=1)
    one_hot = n_out > 1 and np.array_equal(Y, np.eye(n_out)[classes])
    y = classes.astype(np.intp) if one_hot else np.ascontiguousarray(Y, dtype=dtype)
    return X, y, classes


def _labelled_arrays(data, n_in, n_out, dtype, what="test_data", allow_empty=False):
    """(X, labels) from pairs (x (n_in, 1), integer label)."""
    pairs = _materialise(data, what)
    if not pairs and not allow_empty:
        raise ValueError(f"{what} is empty (a zip object can be read only once: "
                         "wrap it in list() to use it again)")
    xs, ys = _split(pairs, what)
    X = _stack_inputs(xs, n_in, dtype, what) if pairs else np.empty((0, n_in), dtype=dtype)
    n_classes = 2 if n_out == 1 else n_out
    for i, y in enumerate(ys):
        if not _is_label(y):
            shape = getattr(np.asarray(y), "shape", None)
            raise ValueError(f"{what}[{i}]: y must be an integer label (load_data_wrapper's "
                             f"validation/test format), got {type(y).__name__} of shape {shape}; "
                             "training data with target vectors is not evaluation data")
        if not 0 <= int(y) < n_classes:
            raise ValueError(f"{what}[{i}]: label {int(y)} is outside [0, {n_classes}) for a "
                             f"network with {n_out} output unit(s)")
    return X, np.array([int(y) for y in ys], dtype=np.intp)


# ---------------------------------------------------------------------------- the shared engine

class _BookNetwork:
    """What the book's two Network classes share: the internal nnfast network and the sync."""

    def __init__(self, sizes, cost, backend, seed, dtype, n_threads):
        self._net = _Engine(sizes, activation="sigmoid", cost=cost, init=_no_init, dtype=dtype,
                            backend=backend, seed=seed, n_threads=n_threads)
        self.num_layers = len(self._net.sizes)
        self.sizes = sizes
        self._pull()

    # ----------------------------------------------------------------- parameters
    def _shapes(self):
        return [(n_out, n_in) for n_in, n_out in zip(self._net.sizes[:-1], self._net.sizes[1:])]

    def _draw(self, initializer):
        """Fresh weights and biases from the Generator, as nnfast's initializer draws them."""
        weights, biases = initializer(self._net.rng, self._shapes())
        self._net.weights = weights
        self._net.biases = biases
        self._pull()

    def _push(self):
        """Copy the book-style lists into the internal network (checking them first)."""
        shapes = self._shapes()
        lists = {}
        for kind, values in (("weights", self.weights), ("biases", self.biases)):
            try:
                values = list(values)
            except TypeError:
                raise TypeError(f"{kind} must be a list of arrays, "
                                f"got {type(values).__name__}") from None
            if len(values) != len(shapes):
                raise ValueError(f"{kind} must hold {len(shapes)} arrays (one per layer after the "
                                 f"input), got {len(values)}")
            lists[kind] = values
        for l, ((n_out, n_in), w, b) in enumerate(zip(shapes, lists["weights"], lists["biases"])):
            if _numeric(w, f"weights[{l}]").shape != (n_out, n_in):
                raise ValueError(f"weights[{l}] must have shape ({n_out}, {n_in}), "
                                 f"got {np.shape(w)}")
            _column(b, n_out, f"biases[{l}]", " as in the book")
        self._net.weights = lists["weights"]
        self._net.biases = [np.reshape(b, -1) for b in lists["biases"]]

    def _pull(self):
        """New book-style lists holding the internal network's values."""
        self.weights = [np.array(w) for w in self._net.weights]
        self.biases = [np.array(b).reshape(-1, 1) for b in self._net.biases]

    # ----------------------------------------------------------------- data
    def _training(self, data, what="training_data"):
        return _training_arrays(data, self._net.sizes[0], self._net.sizes[-1], self._net.dtype,
                                what)

    def _labelled(self, data, what="test_data", allow_empty=False):
        return _labelled_arrays(data, self._net.sizes[0], self._net.sizes[-1], self._net.dtype,
                               what, allow_empty)

    def _count_correct(self, X, classes):
        """How many rows' largest output (numpy.argmax, as the book) is at their class."""
        if len(X) == 0:
            return 0
        return int(np.count_nonzero(np.argmax(self._net.feedforward(X), axis=1) == classes))

    def _fraction_to_count(self, fraction, X, classes):
        """nnfast's accuracy as the book's count (with one output unit the book's argmax, which is
        always 0, differs from nnfast's 0.5 threshold: count it directly)."""
        if self._net.sizes[-1] == 1:
            return self._count_correct(X, classes)
        return int(round(fraction * len(X)))

    def _epoch(self, X, y, mini_batch_size, eta, lmbda, monitor, validation):
        """One epoch in compiled code; its History (monitoring done in the same calls)."""
        return self._net.fit(X, y, epochs=1, batch_size=mini_batch_size, eta=eta, lmbda=lmbda,
                             shuffle=True, validation_data=validation, monitor=monitor,
                             verbose=False)

    def _update(self, mini_batch, eta, lmbda, n):
        X, y, _ = self._training(mini_batch, "mini_batch")
        n = check_int(n, "n", 1)
        m = len(X)
        self._push()
        try:
            # nnfast's weight decay uses the rows it is given (m); the book's uses n
            self._net.fit(X, y, epochs=1, batch_size=m, eta=eta, lmbda=lmbda * m / n,
                          shuffle=False, monitor=False)
        finally:
            self._pull()

    # ----------------------------------------------------------------- the book's methods
    def feedforward(self, a):
        """The network's output for the input column ``a`` of shape (n_in, 1): (n_out, 1).

        A block of k columns (n_in, k) gives the k outputs as columns (n_out, k).
        """
        n_in = self._net.sizes[0]
        a = _numeric(a, "a")
        if a.ndim != 2 or a.shape[0] != n_in or a.shape[1] == 0:
            extra = "; use a.reshape(-1, 1)" if a.shape == (n_in,) else ""
            raise ValueError(f"feedforward needs a column vector of shape ({n_in}, 1) (or {n_in} "
                             f"rows of columns), got shape {a.shape}{extra}")
        self._push()
        return np.ascontiguousarray(self._net.feedforward(a.T).T)

    def backprop(self, x, y):
        """``(nabla_b, nabla_w)``: the gradient of the cost C_x of one example, layer by layer in
        the shapes of ``biases`` and ``weights`` (computed by nnfast's backpropagation)."""
        n_in, n_out = self._net.sizes[0], self._net.sizes[-1]
        x = _column(x, n_in, "x")
        y = _column(y, n_out, "y", " (a target vector)")
        self._push()
        weights, biases = self._net.layer_views(self._net.gradient(x.T, y.T))
        nabla_w = [np.array(w) for w in weights]
        nabla_b = [np.array(b).reshape(-1, 1) for b in biases]
        return nabla_b, nabla_w

    def __repr__(self):
        return (f"{type(self).__module__}.{type(self).__name__}({list(self._net.sizes)}, "
                f"backend={self._net.backend!r}, dtype={self._net.dtype.name!r})")


class Network(_BookNetwork):
    """The book's chapter-1 network: sigmoid units, quadratic cost, N(0, 1) initial parameters.

    Parameters
    ----------
    sizes : list of int
        Neurons per layer, input first, e.g. ``[784, 30, 10]``.
    backend : "cython" or "numpy" (keyword only)
        nnfast's compiled kernels (default) or its NumPy reference.
    seed : None, int or numpy.random.Generator (keyword only)
        The source of the initial weights and of every epoch's shuffle.
    dtype : "float64" or "float32" (keyword only)
    n_threads : None or int (keyword only)
        Threads for the compiled loops (see `nnfast.Network`); results do not depend on it.
    """

    def __init__(self, sizes, *, backend="cython", seed=None, dtype="float64", n_threads=None):
        super().__init__(sizes, "quadratic", backend, seed, dtype, n_threads)
        self._draw(_normal)  # biases N(0, 1), then weights N(0, 1)

    def SGD(self, training_data, epochs, mini_batch_size, eta, test_data=None):
        """Train by mini-batch stochastic gradient descent, printing one line per epoch:
        ``Epoch {j}: {correct} / {n_test}`` with (non-empty) ``test_data``, else
        ``Epoch {j} complete``. ``training_data`` holds ``(x, y)`` with y a target column;
        ``test_data`` holds ``(x, label)``. Returns None."""
        X, y, _ = self._training(training_data)
        test = None
        if test_data is not None:
            test = self._labelled(test_data, "test_data", allow_empty=True)
            if len(test[0]) == 0:
                test = None
        epochs = check_int(epochs, "epochs", 0)
        self._push()
        try:
            for j in range(epochs):
                history = self._epoch(X, y, mini_batch_size, eta, 0.0, False, test)
                if test is not None:
                    correct = self._fraction_to_count(history.validation_accuracy[-1], *test)
                    print("Epoch {0}: {1} / {2}".format(j, correct, len(test[0])), flush=True)
                else:
                    print("Epoch {0} complete".format(j), flush=True)
        finally:
            self._pull()

    def update_mini_batch(self, mini_batch, eta):
        """One gradient-descent step on the ``(x, y)`` pairs of ``mini_batch``."""
        self._update(mini_batch, eta, 0.0, 1)

    def evaluate(self, test_data):
        """The number of ``(x, label)`` pairs whose largest output is at ``label``."""
        X, labels = self._labelled(test_data, "test_data", allow_empty=True)
        self._push()
        return self._count_correct(X, labels)

    def cost_derivative(self, output_activations, y):
        """dC_x/da for the quadratic cost: ``output_activations - y``."""
        return output_activations - y
