"""Activation functions by name.

Each entry is the NumPy definition (the spec, used by the reference backend and by the tests) plus the
code of its compiled twin in src_cython/_elementwise.pxd. Derivatives are written in terms of the
layer's *output* a = sigma(z), so backprop never needs to keep the pre-activations.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Activation:
    name: str
    code: int  # the compiled kernel's ACT_* code
    function: Callable[[np.ndarray], np.ndarray]  # z -> a
    derivative: Callable[[np.ndarray], np.ndarray]  # a -> sigma'(z)

    def __repr__(self):
        return f"Activation({self.name!r})"


def sigmoid(z):
    """1 / (1 + e^-z), computed from e^-|z| so that it never overflows."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_derivative(a):
    return a * (1 - a)


def tanh_derivative(a):
    return 1 - a * a


def relu(z):
    return np.maximum(z, 0)


def relu_derivative(a):
    return (a > 0).astype(a.dtype)


def identity(z):
    return z


def identity_derivative(a):
    return np.ones_like(a)


ACTIVATIONS = {
    a.name: a
    for a in (
        Activation("identity", 0, identity, identity_derivative),
        Activation("sigmoid", 1, sigmoid, sigmoid_derivative),
        Activation("tanh", 2, np.tanh, tanh_derivative),
        Activation("relu", 3, relu, relu_derivative),
    )
}


def get_activation(name):
    """The Activation registered under `name` (an Activation passes through)."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]
