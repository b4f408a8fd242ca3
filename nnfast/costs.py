"""Cost functions by name: the NumPy definitions (the spec) and the codes of their compiled twins.

A cost gives, for a batch of examples (rows), the per-example cost from the output layer's
pre-activations z and outputs a, and the output error delta = dC/dz (the book's equation BP1).
The network's cost is the mean over the examples plus the L2 term (see `l2_term`).
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np


@dataclass(frozen=True)
class Cost:
    name: str
    code: int  # the compiled kernel's COST_* code
    per_example: Callable  # (z, a, y) -> (n,) float64
    delta: Callable  # (a, y, output_activation) -> dC/dz
    requires_output: Optional[str] = None  # the output activation the delta formula assumes

    def __repr__(self):
        return f"Cost({self.name!r})"


def quadratic_cost(z, a, y):
    """0.5 * ||a - y||^2 per example."""
    return 0.5 * np.sum(np.square(a - y), axis=1, dtype=np.float64)


def quadratic_delta(a, y, activation):
    return (a - y) * activation.derivative(a)


def cross_entropy_cost(z, a, y):
    """-[y ln a + (1-y) ln(1-a)] summed over the output units, for a = sigmoid(z).

    Written as softplus(z) - y z, which is the same number but never takes log(0).
    """
    return np.sum(np.logaddexp(0, z) - y * z, axis=1, dtype=np.float64)


def cross_entropy_delta(a, y, activation):
    return a - y


COSTS = {
    c.name: c
    for c in (
        Cost("quadratic", 0, quadratic_cost, quadratic_delta),
        Cost("cross_entropy", 1, cross_entropy_cost, cross_entropy_delta, requires_output="sigmoid"),
    )
}


def get_cost(name):
    """The Cost registered under `name` (a Cost passes through)."""
    if isinstance(name, Cost):
        return name
    if not isinstance(name, str) or name not in COSTS:
        raise ValueError(f"unknown cost {name!r}; choose one of {sorted(COSTS)}")
    return COSTS[name]


def l2_term(weights, lmbda, n):
    """The book's regularisation term 0.5 * (lmbda / n) * sum of all squared weights (biases not)."""
    if lmbda == 0:
        return 0.0
    return 0.5 * (lmbda / n) * sum(float(np.sum(np.square(w, dtype=np.float64))) for w in weights)
