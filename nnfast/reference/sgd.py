"""Mini-batch SGD with backpropagation, as the book's network2.py does it, one batch as one matrix.

Conventions: X holds one example per row; W_l has shape (n_out, n_in) and b_l shape (n_out,), so a
layer computes z = a_prev @ W.T + b. Y holds one target row per example. Parameters are updated in
place (they are views into the network's parameter vector).
"""

import numpy as np


def one_hot(labels, n_out, dtype):
    """Target rows for integer labels: one-hot, or the label itself when there is one output unit."""
    if n_out == 1:
        return labels.astype(dtype).reshape(-1, 1)
    Y = np.zeros((len(labels), n_out), dtype=dtype)
    Y[np.arange(len(labels)), labels] = 1
    return Y


def feedforward(weights, biases, activations, X):
    """The outputs of every layer, input first, and the output layer's pre-activation z."""
    outputs = [X]
    for W, b, activation in zip(weights, biases, activations):
        z = outputs[-1] @ W.T + b
        outputs.append(activation.function(z))
    return outputs, z


def backprop(weights, biases, activations, cost, X, Y):
    """Gradients of the summed cost of the batch (X, Y): the book's four equations BP1-BP4."""
    outputs, z = feedforward(weights, biases, activations, X)
    delta = cost.delta(outputs[-1], Y, activations[-1])  # BP1
    nabla_w = [None] * len(weights)
    nabla_b = [None] * len(weights)
    for l in reversed(range(len(weights))):
        nabla_b[l] = delta.sum(axis=0)  # BP3, summed over the batch
        nabla_w[l] = delta.T @ outputs[l]  # BP4
        if l > 0:
            delta = (delta @ weights[l]) * activations[l - 1].derivative(outputs[l])  # BP2
    return nabla_w, nabla_b


def update_mini_batch(weights, biases, activations, cost, X, Y, eta, lmbda, n):
    """One gradient step on the batch, with L2 weight decay (n = number of training rows)."""
    m = len(X)
    nabla_w, nabla_b = backprop(weights, biases, activations, cost, X, Y)
    for W, b, nw, nb in zip(weights, biases, nabla_w, nabla_b):
        W[...] = (1 - eta * lmbda / n) * W - (eta / m) * nw
        b[...] = b - (eta / m) * nb


def train_epoch(weights, biases, activations, cost, X, Y, order, batch_size, eta, lmbda, n):
    """One epoch: the batches are consecutive slices of `order`; the last may be shorter."""
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        update_mini_batch(weights, biases, activations, cost, X[batch], Y[batch], eta, lmbda, n)


def predicted_classes(A):
    """argmax of each output row; with one output unit, 1 where a > 0.5."""
    if A.shape[1] == 1:
        return (A[:, 0] > 0.5).astype(np.intp)
    return np.argmax(A, axis=1)


def evaluate(weights, biases, activations, cost, X, Y, labels=None):
    """(summed cost over the rows, number of rows classified correctly)."""
    outputs, z = feedforward(weights, biases, activations, X)
    A = outputs[-1]
    total = float(np.sum(cost.per_example(z, A, Y)))
    truth = labels if labels is not None else predicted_classes(Y)
    return total, int(np.count_nonzero(predicted_classes(A) == truth))
