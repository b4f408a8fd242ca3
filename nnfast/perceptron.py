"""The perceptron (a single neuron with a step output) and the logic gates of the book's chapter 1.

A perceptron outputs 1 if w . x + b > 0 and 0 otherwise (the book's convention; the step activation
of `nnfast.activations`). It learns by the perceptron rule, one example at a time:
    w <- w + eta (y - output) x,   b <- b + eta (y - output)
which converges whenever the classes are linearly separable (AND, OR, NAND, NOT) and never for XOR.
The rule is sequential and the model tiny, so it is plain NumPy (no compiled path).
"""

import numpy as np

from ._validation import check_float, check_int, check_targets, check_inputs
from .network import Network


class Perceptron:
    """One step neuron with `n_inputs` inputs.

    Parameters
    ----------
    n_inputs : int
    weights, bias : optional initial values (default 0).
    """

    def __init__(self, n_inputs, weights=None, bias=0.0):
        self.n_inputs = check_int(n_inputs, "n_inputs", 1)
        self.weights = np.zeros(self.n_inputs) if weights is None else np.array(weights, dtype=np.float64)
        if self.weights.shape != (self.n_inputs,) or not np.isfinite(self.weights).all():
            raise ValueError(f"weights must be {self.n_inputs} finite numbers")
        self.bias = float(bias)
        if not np.isfinite(self.bias):
            raise ValueError("bias must be finite")

    def predict(self, X):
        """1 where w . x + b > 0, else 0, for each row of X."""
        X = check_inputs(X, self.n_inputs, np.float64)
        return (X @ self.weights + self.bias > 0).astype(np.intp)

    def fit(self, X, y, epochs=100, eta=1.0, shuffle=False, seed=None):
        """The perceptron rule over the rows, `epochs` times or until an epoch makes no mistake.

        Returns the number of mistakes in each epoch (the last is 0 when it converged). With
        shuffle=True the row order of each epoch comes from numpy.random.default_rng(seed).
        """
        X = check_inputs(X, self.n_inputs, np.float64)
        labels, targets = check_targets(y, len(X), 1, np.float64)
        y = labels if labels is not None else (targets[:, 0] > 0.5).astype(np.intp)
        epochs = check_int(epochs, "epochs", 1)
        eta = check_float(eta, "eta", positive=True)
        rng = np.random.default_rng(seed)
        mistakes = []
        for _ in range(epochs):
            order = rng.permutation(len(X)) if shuffle else range(len(X))
            wrong = 0
            for i in order:
                error = y[i] - int(X[i] @ self.weights + self.bias > 0)
                if error:
                    self.weights += eta * error * X[i]
                    self.bias += eta * error
                    wrong += 1
            mistakes.append(wrong)
            if wrong == 0:
                break
        return mistakes

    def __repr__(self):
        return f"Perceptron(weights={self.weights.tolist()}, bias={self.bias})"


# Hand-set gates. Perceptrons (step output) and the book's / the seeds' sigmoid neurons with large
# weights, e.g. NOT: h(x) = sigmoid(10 - 20 x), which is ~1 for x = 0 and ~0 for x = 1.
GATE_PERCEPTRONS = {
    "AND": ([1.0, 1.0], -1.5),
    "OR": ([1.0, 1.0], -0.5),
    "NAND": ([-2.0, -2.0], 3.0),  # the book's example perceptron
    "NOT": ([-1.0], 0.5),
}
GATE_SIGMOID_NEURONS = {
    "AND": ([20.0, 20.0], -30.0),
    "OR": ([20.0, 20.0], -10.0),
    "NAND": ([-20.0, -20.0], 30.0),
    "NOT": ([-20.0], 10.0),
}
TRUTH_TABLES = {
    "AND": ([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 0, 0, 1]),
    "OR": ([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 1]),
    "NAND": ([[0, 0], [0, 1], [1, 0], [1, 1]], [1, 1, 1, 0]),
    "NOT": ([[0], [1]], [1, 0]),
    "XOR": ([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 1, 1, 0]),
}


def gate_perceptron(name):
    """The hand-set perceptron for AND, OR, NAND or NOT."""
    weights, bias = GATE_PERCEPTRONS[name]
    return Perceptron(len(weights), weights, bias)


def gate_neuron(name, backend="cython"):
    """The gate as a one-neuron sigmoid Network with the seeds' large hand-set weights."""
    weights, bias = GATE_SIGMOID_NEURONS[name]
    net = Network([len(weights), 1], activation="sigmoid", backend=backend, seed=0)
    net.weights = [[weights]]
    net.biases = [[bias]]
    return net


def xor_network(backend="cython"):
    """XOR from gates: a hidden layer of NAND and OR step units, then AND of the two (step output).
    No single perceptron can do it; this two-layer network of perceptrons does."""
    net = Network([2, 2, 1], activation="step", cost="quadratic", backend=backend, seed=0)
    net.weights = [[GATE_PERCEPTRONS["NAND"][0], GATE_PERCEPTRONS["OR"][0]], [GATE_PERCEPTRONS["AND"][0]]]
    net.biases = [[GATE_PERCEPTRONS["NAND"][1], GATE_PERCEPTRONS["OR"][1]], [GATE_PERCEPTRONS["AND"][1]]]
    return net
