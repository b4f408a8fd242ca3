"""Weight initialisers by name. Each draws from the network's numpy.random.Generator, in the book's
order: all the biases (layer by layer), then all the weights; float64 draws, cast to the network's dtype.
"""

import numpy as np


def scaled_normal(rng, sizes):
    """Biases N(0, 1); weights N(0, 1) / sqrt(n_in) (the book's default_weight_initializer)."""
    biases = [rng.standard_normal(n_out) for n_out in sizes[1:]]
    weights = [rng.standard_normal((n_out, n_in)) / np.sqrt(n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return weights, biases


def normal(rng, sizes):
    """Biases and weights N(0, 1) (the book's large_weight_initializer)."""
    biases = [rng.standard_normal(n_out) for n_out in sizes[1:]]
    weights = [rng.standard_normal((n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return weights, biases


INITIALIZERS = {"scaled_normal": scaled_normal, "normal": normal}


def get_initializer(name):
    if not isinstance(name, str) or name not in INITIALIZERS:
        raise ValueError(f"unknown init {name!r}; choose one of {sorted(INITIALIZERS)}")
    return INITIALIZERS[name]
