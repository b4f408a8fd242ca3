"""Network's constructor arguments turned into per-layer settings, and the checks fit shares with
the other entry points (moved out of network.py to keep it readable)."""

import numpy as np

from .activations import get_activation
from .costs import REGULARIZATIONS


def _resolve_activations(activation, output_activation, n_layers):
    """One Activation per weight layer, output last; softmax only at the output."""
    if isinstance(activation, (list, tuple)):
        names = list(activation)
        if output_activation is not None:
            if len(names) != n_layers - 1:
                raise ValueError(f"activation: with output_activation, give one per hidden layer "
                                 f"({n_layers - 1}), got {len(names)}")
            names.append(output_activation)
        elif len(names) != n_layers:
            raise ValueError(f"activation: need one name or {n_layers} (one per layer), got {len(names)}")
    else:
        names = [activation] * (n_layers - 1) + [output_activation or activation]
    activations = [get_activation(name) for name in names]
    for position, act in enumerate(activations[:-1], start=1):
        if act.rowwise:
            raise ValueError(f"activation {act.name!r} is for the output layer only "
                             f"(got it for hidden layer {position}); use output_activation")
    if activations[-1].pieces > 1:
        raise ValueError("maxout is a hidden-layer type; choose another output activation")
    return activations


def _resolve_dropout(dropout, n_hidden):
    values = list(dropout) if isinstance(dropout, (list, tuple, np.ndarray)) else [dropout] * n_hidden
    if len(values) != n_hidden:
        raise ValueError(f"dropout: need one probability or {n_hidden} (one per hidden layer), "
                         f"got {len(values)}")
    checked = []
    for p in values:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
            raise TypeError(f"dropout probabilities must be numbers, got {p!r}")
        if not 0 <= p < 1:
            raise ValueError(f"dropout probabilities must be in [0, 1), got {p}")
        checked.append(float(p))
    return checked


def _resolve_batch_norm(batch_norm, activations):
    """One flag per weight layer (the output layer's always False)."""
    n_hidden = len(activations) - 1
    flags = list(batch_norm) if isinstance(batch_norm, (list, tuple)) else [batch_norm] * n_hidden
    if len(flags) != n_hidden or not all(isinstance(f, (bool, np.bool_)) for f in flags):
        raise ValueError(f"batch_norm: need True/False or one flag per hidden layer ({n_hidden}), "
                         f"got {batch_norm!r}")
    for flag, act in zip(flags, activations):
        if flag and act.pieces > 1:
            raise ValueError("batch_norm is not available for maxout layers")
    return [bool(f) for f in flags] + [False]


def _check_regularization(regularization):
    if regularization not in REGULARIZATIONS:
        raise ValueError(f"regularization must be one of {REGULARIZATIONS}, got {regularization!r}")
    return regularization


def _check_differentiable(activations):
    for act in activations:
        if not act.differentiable:
            raise ValueError(f"activation {act.name!r} is not differentiable, so backpropagation "
                             "cannot train this network; train a perceptron with "
                             "nnfast.Perceptron, or set its weights by hand and use feedforward")
