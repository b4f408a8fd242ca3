"""The book's chapter-3 ``network2.py`` API, trained by nnfast.

``Network(sizes, cost=CrossEntropyCost)``: sigmoid units, the cross-entropy or quadratic cost,
weights N(0, 1/n_in) (``default_weight_initializer``) or N(0, 1) (``large_weight_initializer``),
L2 regularisation, and per-epoch monitoring, as in "Neural Networks and Deep Learning",
chapter 3::

    from nnfast.book import mnist_loader, network2
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
    net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
    evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = net.SGD(
        training_data, 30, 10, 0.5, lmbda=5.0, evaluation_data=validation_data,
        monitor_evaluation_accuracy=True, monitor_training_cost=True)
    net.save("net.json")
    net = network2.load("net.json")

Public names as in the book: ``QuadraticCost`` and ``CrossEntropyCost`` (static ``fn(a, y)`` and
``delta(z, a, y)`` on column vectors), ``Network`` with ``sizes``, ``num_layers``, ``weights``,
``biases`` (``(n, 1)`` columns), ``cost``, ``default_weight_initializer()``,
``large_weight_initializer()``, ``feedforward(a)``, ``SGD(...)`` returning ``(evaluation_cost,
evaluation_accuracy, training_cost, training_accuracy)`` and printing the book's lines
(``Epoch {j} training complete``, ``Cost on training data: {}``, ``Accuracy on training data:
{} / {}``, ``Cost on evaluation data: {}``, ``Accuracy on evaluation data: {} / {}``, then a blank
line), ``accuracy(data, convert=False)`` (a count), ``total_cost(data, lmbda, convert=False)``,
``update_mini_batch``, ``backprop``, ``save(filename)`` in the book's JSON format (``sizes``,
``weights``, ``biases`` as nested lists, ``cost`` as the class name); module functions ``load``,
``vectorized_result``, ``sigmoid``, ``sigmoid_prime``.

Costs are the book's ``total_cost``: the mean per-example cost plus ``0.5 * (lmbda / len(data)) *
sum ||w||^2``; training applies the weight decay ``1 - eta * lmbda / n`` with n the number of
training examples, as the book does. The work is done by an internal `nnfast.Network` (see
`nnfast.book.network` for how the ``weights``/``biases`` lists are kept in sync with it).

Differences from the book (besides those listed in `nnfast.book.network`: randomness from the
network's Generator via ``seed=`` instead of the global ``random``/``np.random`` state, no in-place
shuffle of your list, shape checks, rounding-level differences, ``SGD`` not calling the Python
``update_mini_batch``/``backprop``):

- ``cost`` must be ``QuadraticCost`` or ``CrossEntropyCost`` (or their subclasses that do not
  redefine ``fn``/``delta``): the compiled kernels implement those two, so a cost class of your
  own is refused with a ValueError. Assigning ``net.cost`` later does take effect.
- The costs that ``SGD`` monitors and ``total_cost`` returns are computed by nnfast: the
  cross-entropy as ``softplus(z) - y z`` rather than the book's
  ``nan_to_num(-y ln a - (1-y) ln(1-a))``. They agree to rounding except where a sigmoid output
  saturates to exactly 0 or 1: there the book's value is NaN-patched (``1.8e308`` for a wrong
  saturated unit), nnfast's is the exact finite cost. (``CrossEntropyCost.fn`` itself keeps the
  book's formula.) They are returned as Python floats (the book: NumPy floats; both print alike).
- ``total_cost(data, lmbda, convert=True)`` makes one-hot targets of ``sizes[-1]`` units (the
  book's ``vectorized_result`` always makes 10).
- ``SGD`` checks its arguments first: monitoring the evaluation data without ``evaluation_data``
  (or with an empty one) is a ValueError (the book fails with a NameError or TypeError).
  ``evaluation_data`` is read only when an evaluation monitor is on.
- ``load(filename, *, backend=..., seed=..., dtype=..., n_threads=...)`` accepts only the two cost
  names (the book looks any name up in its module) and checks every shape.
"""

import json
from pathlib import Path

import numpy as np

from ..initializers import normal as _normal, scaled_normal as _scaled_normal
from .._validation import check_float, check_int
from ..network import Network as _Engine
from .network import _BookNetwork, _no_init, sigmoid, sigmoid_prime

__all__ = ["QuadraticCost", "CrossEntropyCost", "Network", "load", "vectorized_result", "sigmoid",
           "sigmoid_prime"]


# ---------------------------------------------------------------------------- the costs

class QuadraticCost:
    """C = ||a - y||^2 / 2 for one example (columns a and y)."""

    @staticmethod
    def fn(a, y):
        """The cost of output ``a`` when ``y`` is wanted."""
        diff = np.asarray(a, dtype=np.float64) - y
        return 0.5 * np.sum(diff * diff)

    @staticmethod
    def delta(z, a, y):
        """The output layer's error dC/dz = (a - y) sigma'(z)."""
        return (a - y) * sigmoid_prime(z)


class CrossEntropyCost:
    """C = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)] for one example (columns a and y)."""

    @staticmethod
    def fn(a, y):
        """The cost of output ``a`` when ``y`` is wanted. As in the book, the NaN of a term
        0 * ln 0 becomes 0 (and an infinite term the largest float), via numpy.nan_to_num."""
        a = np.asarray(a, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = -(y * np.log(a)) - (1 - y) * np.log(1 - a)
        return np.sum(np.nan_to_num(terms))

    @staticmethod
    def delta(z, a, y):
        """The output layer's error dC/dz = a - y (``z`` is not needed; kept for the interface)."""
        return a - y


_COST_NAMES = {QuadraticCost: "quadratic", CrossEntropyCost: "cross_entropy"}


def _engine_cost(cost):
    """The nnfast cost that runs `cost` (one of the two classes, or an unmodified subclass)."""
    if isinstance(cost, type):
        for known, name in _COST_NAMES.items():
            if issubclass(cost, known) and cost.fn is known.fn and cost.delta is known.delta:
                return name
    raise ValueError(f"cost must be QuadraticCost or CrossEntropyCost from nnfast.book.network2 "
                     f"(the compiled kernels implement those two), got {cost!r}")


def vectorized_result(j):
    """The (10, 1) column with 1.0 at position ``j`` and zeros elsewhere."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e


# ---------------------------------------------------------------------------- the network

class Network(_BookNetwork):
    """The book's chapter-3 network.

    Parameters
    ----------
    sizes : list of int
        Neurons per layer, input first, e.g. ``[784, 30, 10]``.
    cost : QuadraticCost or CrossEntropyCost
    backend, seed, dtype, n_threads : keyword only
        As for `nnfast.book.network.Network`: the compiled kernels or the NumPy reference, the
        source of every random number, float64 or float32, and the thread count.
    """

    def __init__(self, sizes, cost=CrossEntropyCost, *, backend="cython", seed=None,
                 dtype="float64", n_threads=None):
        super().__init__(sizes, _engine_cost(cost), backend, seed, dtype, n_threads)
        self.cost = cost
        self._engine_for = cost
        self.default_weight_initializer()

    # ----------------------------------------------------------------- parameters
    def default_weight_initializer(self):
        """Weights N(0, 1/n_in) (n_in: the inputs of the neuron), biases N(0, 1)."""
        self._draw(_scaled_normal)

    def large_weight_initializer(self):
        """Weights and biases N(0, 1), as chapter 1's network."""
        self._draw(_normal)

    def _push(self):
        if self.cost is not self._engine_for:  # the cost was reassigned: rebuild the engine
            name = _engine_cost(self.cost)
            old = self._net
            self._net = _Engine(old.sizes, activation="sigmoid", cost=name, init=_no_init,
                                dtype=old.dtype, backend=old.backend, seed=old.rng,
                                n_threads=old.n_threads)
            self._engine_for = self.cost
        super()._push()

    # ----------------------------------------------------------------- training
    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda=0.0, evaluation_data=None,
            monitor_evaluation_cost=False, monitor_evaluation_accuracy=False,
            monitor_training_cost=False, monitor_training_accuracy=False):
        """Train by mini-batch stochastic gradient descent with L2 regularisation ``lmbda``.

        ``training_data`` holds ``(x, y)`` with y a target column, ``evaluation_data`` (usually the
        validation or test data) ``(x, label)``. After each epoch, prints
        ``Epoch {j} training complete``, then each monitored quantity, then a blank line.

        Returns
        -------
        (evaluation_cost, evaluation_accuracy, training_cost, training_accuracy)
            Per-epoch lists, empty when their flag is off; costs are the book's ``total_cost``
            (floats), accuracies counts of correct examples (ints).
        """
        X, y, classes = self._training(training_data)
        n = len(X)
        lmbda = check_float(lmbda, "lmbda", positive=False)
        epochs = check_int(epochs, "epochs", 0)
        evaluation = None
        if monitor_evaluation_cost or monitor_evaluation_accuracy:
            if evaluation_data is None:
                raise ValueError("monitor_evaluation_cost/monitor_evaluation_accuracy need "
                                 "evaluation_data (e.g. the validation data)")
            evaluation = self._labelled(evaluation_data, "evaluation_data")
        monitor_training = bool(monitor_training_cost or monitor_training_accuracy)
        evaluation_cost, evaluation_accuracy = [], []
        training_cost, training_accuracy = [], []
        self._push()
        try:
            for j in range(epochs):
                history = self._epoch(X, y, mini_batch_size, eta, lmbda, monitor_training,
                                      evaluation)
                print("Epoch %s training complete" % j)
                if monitor_training_cost:
                    cost = float(history.train_cost[-1])
                    training_cost.append(cost)
                    print("Cost on training data: {}".format(cost))
                if monitor_training_accuracy:
                    accuracy = self._fraction_to_count(history.train_accuracy[-1], X, classes)
                    training_accuracy.append(accuracy)
                    print("Accuracy on training data: {} / {}".format(accuracy, n))
                if monitor_evaluation_cost:
                    cost = float(history.validation_cost[-1])
                    evaluation_cost.append(cost)
                    print("Cost on evaluation data: {}".format(cost))
                if monitor_evaluation_accuracy:
                    accuracy = self._fraction_to_count(history.validation_accuracy[-1], *evaluation)
                    evaluation_accuracy.append(accuracy)
                    print("Accuracy on evaluation data: {} / {}".format(accuracy,
                                                                        len(evaluation[0])))
                print(flush=True)
        finally:
            self._pull()
        return evaluation_cost, evaluation_accuracy, training_cost, training_accuracy

    def update_mini_batch(self, mini_batch, eta, lmbda, n):
        """One gradient-descent step on ``mini_batch`` with weight decay ``1 - eta * lmbda / n``
        (n: the size of the whole training set)."""
        self._update(mini_batch, eta, check_float(lmbda, "lmbda", positive=False), n)

    # ----------------------------------------------------------------- measuring
    def accuracy(self, data, convert=False):
        """How many examples of ``data`` the network classifies correctly (its largest output).

        ``convert=False``: ``data`` holds ``(x, label)`` (validation/test data, the usual case);
        ``convert=True``: ``(x, y)`` with y a target column (training data), its class the argmax.
        """
        if convert:
            X, _, classes = self._training(data, "data")
        else:
            X, classes = self._labelled(data, "data", allow_empty=True)
        self._push()
        return self._count_correct(X, classes)

    def total_cost(self, data, lmbda, convert=False):
        """The mean cost over ``data`` plus ``0.5 * (lmbda / len(data)) * sum ||w||^2``.

        ``convert=False``: ``data`` holds ``(x, y)`` with y a target column (training data, the
        usual case); ``convert=True``: ``(x, label)`` (validation/test data), the label made
        one-hot.
        """
        if convert:
            X, y = self._labelled(data, "data")
        else:
            X, y, _ = self._training(data, "data")
        self._push()
        return float(self._net.cost(X, y, lmbda))

    # ----------------------------------------------------------------- saving
    def save(self, filename):
        """Write the network to ``filename`` as the book's JSON: sizes, weights, biases, cost."""
        self._push()  # refuses malformed weights before writing anything
        data = {"sizes": [int(s) for s in self.sizes],
                "weights": [np.asarray(w, dtype=np.float64).tolist() for w in self.weights],
                "biases": [np.asarray(b, dtype=np.float64).tolist() for b in self.biases],
                "cost": self.cost.__name__}
        with open(filename, "w") as f:
            json.dump(data, f)


_COSTS_BY_NAME = {"QuadraticCost": QuadraticCost, "CrossEntropyCost": CrossEntropyCost}


def load(filename, *, backend="cython", seed=None, dtype="float64", n_threads=None):
    """The network saved in ``filename`` (the book's JSON format, by `Network.save` or the book)."""
    with open(filename) as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{filename}: not a saved network (expected a JSON object)")
    missing = [key for key in ("sizes", "weights", "biases", "cost") if key not in data]
    if missing:
        raise ValueError(f"{filename}: not a saved network, missing {', '.join(missing)}")
    cost = _COSTS_BY_NAME.get(data["cost"])
    if cost is None:
        raise ValueError(f"{filename}: unknown cost {data['cost']!r}; "
                         f"expected one of {sorted(_COSTS_BY_NAME)}")
    net = Network(data["sizes"], cost=cost, backend=backend, seed=seed, dtype=dtype,
                  n_threads=n_threads)
    net.weights = [np.array(w, dtype=np.float64) for w in data["weights"]]
    net.biases = [np.array(b, dtype=np.float64) for b in data["biases"]]
    try:
        net._push()
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{Path(filename)}: {exc}") from None
    return net
