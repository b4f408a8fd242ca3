"""Cost functions by name: the NumPy definitions (the spec) and the codes of their compiled twins.

A cost gives, for a batch of examples (rows), the per-example cost from the output layer's
pre-activations z and outputs a, and the output error delta = dC/dz (the book's equation BP1).
The network's cost is the mean over the examples plus the regularisation term (`penalty`).

Valid pairings (checked by `check_pairing` when a Network is made):
- ``quadratic``: any output activation (with softmax through its Jacobian);
- ``cross_entropy``: the binary cross-entropy per output unit, sigmoid output;
- ``log_likelihood``: softmax output (the book's chapter-3 pairing; delta = a - y);
- ``hinge``: the multiclass max-margin cost J = sum_{c != k} max(0, 1 - a_k + a_c) (k the target
  class) on an elementwise output, usually ``identity``; not with softmax.
"""

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np


@dataclass(frozen=True)
class Cost:
    name: str
    code: int  # the compiled kernel's COST_* code
    per_example: Callable = field(repr=False)  # (z, a, y) -> (n,) float64
    delta: Callable = field(repr=False)  # (a, y, output_activation) -> dC/dz
    requires_output: Optional[str] = None  # the only output activation the cost accepts
    refuses_output: tuple = ()  # output activations the cost does not accept

    def __repr__(self):
        return f"Cost({self.name!r})"


def target_classes(Y):
    """The class each target row stands for: argmax, or 1 where y > 0.5 with one output unit."""
    if Y.shape[1] == 1:
        return (Y[:, 0] > 0.5).astype(np.intp)
    return np.argmax(Y, axis=1)


def quadratic_cost(z, a, y):
    """0.5 * ||a - y||^2 per example."""
    return 0.5 * np.sum(np.square(a - y), axis=1, dtype=np.float64)


def quadratic_delta(a, y, activation):
    if activation.rowwise:  # softmax: J^T (a - y) with J = diag(a) - a a^T
        g = a - y
        return a * (g - np.sum(a * g, axis=1, keepdims=True))
    return (a - y) * activation.derivative(a)


def cross_entropy_cost(z, a, y):
    """-[y ln a + (1-y) ln(1-a)] summed over the output units, for a = sigmoid(z).

    Written as softplus(z) - y z, which is the same number but never takes log(0).
    """
    return np.sum(np.logaddexp(0, z) - y * z, axis=1, dtype=np.float64)


def cross_entropy_delta(a, y, activation):
    return a - y


def log_likelihood_cost(z, a, y):
    """-sum_j y_j ln a_j for a = softmax(z) (= -ln a_y for one-hot y), as logsumexp(z) - z_j."""
    z64 = z.astype(np.float64)
    top = np.max(z64, axis=1, keepdims=True)
    lse = top + np.log(np.sum(np.exp(z64 - top), axis=1, keepdims=True))
    return np.sum(y * (lse - z64), axis=1, dtype=np.float64)


def log_likelihood_delta(a, y, activation):
    """dC/dz = a * sum(y) - y, which is a - y for one-hot targets."""
    return a * np.sum(y, axis=1, keepdims=True) - y


def _margins(a, y):
    """1 - a_k + a_c for every unit c, with k the target class of the row; 0 at c = k."""
    k = target_classes(y)
    rows = np.arange(len(a))
    margins = 1 - a[rows, k][:, None] + a
    margins[rows, k] = 0
    return margins, rows, k


def hinge_cost(z, a, y):
    margins, _, _ = _margins(a.astype(np.float64), y)
    return np.sum(np.maximum(margins, 0), axis=1)


def hinge_delta(a, y, activation):
    margins, rows, k = _margins(a, y)
    g = (margins > 0).astype(a.dtype)
    g[rows, k] = -np.sum(g, axis=1)
    return g * activation.derivative(a)


COSTS = {
    c.name: c
    for c in (
        Cost("quadratic", 0, quadratic_cost, quadratic_delta),
        Cost("cross_entropy", 1, cross_entropy_cost, cross_entropy_delta, requires_output="sigmoid"),
        Cost("log_likelihood", 2, log_likelihood_cost, log_likelihood_delta, requires_output="softmax"),
        Cost("hinge", 3, hinge_cost, hinge_delta, refuses_output=("softmax", "step")),
    )
}


def get_cost(name):
    """The Cost registered under `name` (a Cost passes through)."""
    if isinstance(name, Cost):
        return name
    if not isinstance(name, str) or name not in COSTS:
        raise ValueError(f"unknown cost {name!r}; choose one of {sorted(COSTS)}")
    return COSTS[name]


def check_pairing(cost, output_activation, n_out=None):
    """Refuse a (cost, output activation) pair whose delta formula does not hold, and the hinge
    cost with one output unit (a multiclass margin needs a unit per class)."""
    if cost.name == "hinge" and n_out is not None and n_out < 2:
        raise ValueError("cost 'hinge' needs at least 2 output units (one per class), got 1")
    required = cost.requires_output
    if required is not None and output_activation.name != required:
        raise ValueError(f"cost {cost.name!r} needs a {required!r} output layer, "
                         f"got {output_activation.name!r}")
    if output_activation.name in cost.refuses_output:
        raise ValueError(f"cost {cost.name!r} does not work with a {output_activation.name!r} output "
                         "layer (use an elementwise one such as 'identity')")


REGULARIZATIONS = ("l2", "l1")


def penalty(weights, lmbda, n, regularization="l2"):
    """The regularisation term of the cost (biases are not regularised):
    L2: 0.5 * (lmbda / n) * sum w^2 (the book's);  L1: (lmbda / n) * sum |w|."""
    if lmbda == 0:
        return 0.0
    if regularization == "l1":
        return (lmbda / n) * sum(float(np.sum(np.abs(w), dtype=np.float64)) for w in weights)
    return 0.5 * (lmbda / n) * sum(float(np.sum(np.square(w, dtype=np.float64))) for w in weights)
