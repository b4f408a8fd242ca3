"""Weight initialisers by name, or a callable of your own.

Every initialiser draws from the network's numpy.random.Generator, layer by layer, in float64 (cast
to the network's dtype afterwards), so both backends start from the same numbers. It receives the
layers' weight shapes [(n_out, n_in), ...] (for a maxout layer n_out = units * pieces):

- ``scaled_normal`` (default): weights N(0, 1/n_in), biases N(0, 1) -- the book's
  default_weight_initializer; all the biases are drawn first, then all the weights, as the book does.
- ``normal``: weights and biases N(0, 1) -- the book's large_weight_initializer (same order).
- ``uniform``: weights U(-eps, eps) with eps = sqrt(6) / sqrt(n_in + n_out) (the classic choice for
  sigmoid/tanh units), biases 0.
- ``xavier`` / ``glorot``: weights N(0, 2 / (n_in + n_out)), biases 0.
- ``he``: weights N(0, 2 / n_in) (for ReLU units), biases 0.
- a callable ``init(rng, n_in, n_out)`` returning the (n_out, n_in) weights, or a pair
  (weights, biases); called once per layer, first layer first; biases default to 0.
"""

import numpy as np


def _book_order(rng, shapes, divisor):
    """All biases N(0, 1) first, then all weights N(0, 1) / divisor(n_in), as network2 draws them."""
    biases = [rng.standard_normal(n_out) for n_out, _ in shapes]
    weights = [rng.standard_normal((n_out, n_in)) / divisor(n_in) for n_out, n_in in shapes]
    return weights, biases


def scaled_normal(rng, shapes):
    return _book_order(rng, shapes, np.sqrt)


def normal(rng, shapes):
    return _book_order(rng, shapes, lambda n_in: 1.0)


def _per_layer(draw):
    """An initialiser that draws each layer's weights with draw(rng, n_in, n_out); biases 0."""
    def initializer(rng, shapes):
        weights = [draw(rng, n_in, n_out) for n_out, n_in in shapes]
        return weights, [np.zeros(n_out) for n_out, _ in shapes]
    return initializer


def _uniform(rng, n_in, n_out):
    eps = np.sqrt(6) / np.sqrt(n_in + n_out)
    return rng.uniform(-eps, eps, size=(n_out, n_in))


def _xavier(rng, n_in, n_out):
    return rng.standard_normal((n_out, n_in)) * np.sqrt(2 / (n_in + n_out))


def _he(rng, n_in, n_out):
    return rng.standard_normal((n_out, n_in)) * np.sqrt(2 / n_in)


INITIALIZERS = {
    "scaled_normal": scaled_normal,
    "normal": normal,
    "uniform": _per_layer(_uniform),
    "xavier": _per_layer(_xavier),
    "glorot": _per_layer(_xavier),
    "he": _per_layer(_he),
}


def _from_callable(function):
    def initializer(rng, shapes):
        weights, biases = [], []
        for n_out, n_in in shapes:
            result = function(rng, n_in, n_out)
            if isinstance(result, tuple) and len(result) == 2:
                w, b = result
            else:
                w, b = result, np.zeros(n_out)
            weights.append(w)
            biases.append(b)
        return weights, biases
    return initializer


def get_initializer(init):
    """The initialiser `init` names, or one made from a callable ``init(rng, n_in, n_out)``."""
    if callable(init):
        return _from_callable(init)
    if not isinstance(init, str) or init not in INITIALIZERS:
        raise ValueError(f"unknown init {init!r}; choose one of {sorted(INITIALIZERS)} "
                         "or pass a callable init(rng, n_in, n_out)")
    return INITIALIZERS[init]
