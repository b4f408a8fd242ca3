"""Activation functions by name.

Each entry is the NumPy definition (the spec, used by the reference backend and by the tests) plus the
code of its compiled twin in src_cython/kernels/_elementwise.pxd. Derivatives are written in terms of the
layer's *output* a = sigma(z), so backprop never needs to keep the pre-activations; every formula
below is exact in that form (for leaky ReLU, ELU and SELU the sign of a is the sign of z).

Parametric activations are made by their factories, e.g. ``leaky_relu(slope=0.1)`` or
``elu(alpha=0.5)``; the plain names use the defaults.
"""

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@dataclass(frozen=True)
class Activation:
    name: str
    code: int  # the compiled kernel's ACT_* code
    function: Callable[[np.ndarray], np.ndarray] = field(repr=False)  # z -> a
    derivative: Callable[[np.ndarray], np.ndarray] = field(repr=False)  # a -> sigma'(z)
    param: float = 0.0  # the parameter the compiled kernel receives (slope, alpha)
    differentiable: bool = True  # step is not: a network with it cannot be trained by backprop
    rowwise: bool = False  # softmax: a whole row at once; output layer only
    pieces: int = 1  # maxout: k linear pieces per unit (its weights have units * k rows)

    def __repr__(self):
        return f"Activation({self.name!r}" + (f", {self.param!r})" if self.param else ")")


# ---------------------------------------------------------------- the functions

def sigmoid(z):
    """1 / (1 + e^-z), computed from e^-|z| so that it never overflows."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def softplus(z):
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|), never overflowing."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def softmax(z):
    """e^z / sum e^z over each row, with the row's maximum subtracted first."""
    e = np.exp(z - np.max(z, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def _negative_part_expm1(z):
    """expm1(z) where z <= 0 (what ELU and SELU use there), never overflowing elsewhere."""
    return np.expm1(np.minimum(z, 0))


def _make(name, code, function, derivative, param=0.0, **flags):
    return Activation(name, code, function, derivative, float(param), **flags)


def leaky_relu(slope=0.01):
    """z for z > 0, slope * z otherwise (slope > 0)."""
    slope = _positive(slope, "leaky_relu slope")
    return _make("leaky_relu", 4,
                 lambda z: np.where(z > 0, z, slope * z),
                 lambda a: np.where(a > 0, 1, slope).astype(a.dtype), slope)


def elu(alpha=1.0):
    """z for z > 0, alpha (e^z - 1) otherwise (alpha > 0)."""
    alpha = _positive(alpha, "elu alpha")
    return _make("elu", 5,
                 lambda z: np.where(z > 0, z, alpha * _negative_part_expm1(z)),
                 lambda a: np.where(a > 0, 1, a + alpha).astype(a.dtype), alpha)


def maxout(k=2):
    """Maxout units (Goodfellow et al. 2013): each unit computes k linear pieces of its input and
    outputs the largest, a_j = max_p (W x + b)_{j*k+p}. A layer type for hidden layers: its weight
    matrix has units * k rows (unit j's pieces at rows j*k .. j*k+k-1). `function` maps the pieces'
    pre-activations (n, units * k) to the outputs (n, units); backprop sends each unit's delta to
    its largest piece (the first of equal ones)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= 65536:
        raise ValueError(f"maxout needs an integer number of pieces k in [2, 65536], got {k!r}")
    k = int(k)
    return Activation("maxout", 10, lambda z: z.reshape(len(z), -1, k).max(axis=2), None,
                      float(k), pieces=k)


def _positive(value, what):
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be positive and finite, got {value}")
    return value


def _selu(z):
    return SELU_SCALE * np.where(z > 0, z, SELU_ALPHA * _negative_part_expm1(z))


def _selu_derivative(a):
    return np.where(a > 0, SELU_SCALE, a + SELU_SCALE * SELU_ALPHA).astype(a.dtype)


ACTIVATIONS = {
    a.name: a
    for a in (
        _make("identity", 0, lambda z: z, np.ones_like),
        _make("sigmoid", 1, sigmoid, lambda a: a * (1 - a)),
        _make("tanh", 2, np.tanh, lambda a: 1 - a * a),
        _make("relu", 3, lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(a.dtype)),
        leaky_relu(),
        elu(),
        _make("selu", 6, _selu, _selu_derivative),
        _make("softplus", 7, softplus, lambda a: -np.expm1(-a)),  # sigmoid(z) = 1 - e^-a
        _make("step", 8, lambda z: (z > 0).astype(z.dtype), np.zeros_like, differentiable=False),
        _make("softmax", 9, softmax, None, rowwise=True),
        maxout(),
    )
}
ACTIVATIONS["linear"] = ACTIVATIONS["identity"]


def get_activation(name):
    """The Activation registered under `name` (an Activation passes through)."""
    if isinstance(name, Activation):
        return name
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)} "
                         "(or an Activation such as nnfast.activations.leaky_relu(0.1))")
    return ACTIVATIONS[name]
