"""Batch normalisation (Ioffe and Szegedy 2015) of a hidden layer's pre-activations, per unit:

    training:  zhat = (z - mean_B) / sqrt(var_B + eps)   (the batch's mean and biased variance)
    inference: zhat = (z - running_mean) / sqrt(running_var + eps)
    y = gamma * zhat + beta,  a = sigma(y)

While training, running <- momentum running + (1 - momentum) batch (the variance unbiased,
var_B m/(m-1)). gamma and beta are learned like the other parameters (never decayed). The layer's
bias b is redundant (the mean subtraction removes it): its gradient is exactly 0 and it stays at 0.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class Norm:
    """One layer's batch norm: views of its parameters and running statistics, and its settings."""

    gamma: np.ndarray
    beta: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    eps: float
    momentum: float


def normalize(z, norm, training, update_running):
    """(y = gamma zhat + beta, cache for backward or None)."""
    if not training:
        inv_std = 1 / np.sqrt(norm.running_var + norm.eps)
        return norm.gamma * ((z - norm.running_mean) * inv_std) + norm.beta, None
    m = len(z)
    mean = np.sum(z, axis=0) * (1 / m)
    squares = np.sum((z - mean) * (z - mean), axis=0)
    if update_running:
        norm.running_mean[...] = norm.momentum * norm.running_mean + (1 - norm.momentum) * mean
        norm.running_var[...] = (norm.momentum * norm.running_var
                                 + (1 - norm.momentum) * (squares / max(m - 1, 1)))
    inv_std = 1 / np.sqrt(squares * (1 / m) + norm.eps)
    zhat = (z - mean) * inv_std
    return norm.gamma * zhat + norm.beta, (zhat, inv_std)


def normalize_backward(dy, cache, gamma):
    """(dC/dz, dC/dgamma, dC/dbeta) from dC/dy, for the batch the cache came from."""
    zhat, inv_std = cache
    m = len(dy)
    dbeta = dy.sum(axis=0)
    dgamma = (dy * zhat).sum(axis=0)
    dz = (inv_std * gamma / m) * (m * dy - dbeta - zhat * dgamma)
    return dz, dgamma, dbeta
