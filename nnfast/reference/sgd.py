"""Mini-batch SGD with backpropagation, as the book's network2.py does it, one batch as one matrix.

Conventions: X holds one example per row; W_l has shape (n_out, n_in) and b_l shape (n_out,), so a
layer computes z = a_prev @ W.T + b. Y holds one target row per example. Parameters are updated in
place (they are views into the network's parameter vector).

Dropout: `masks[l]` (for hidden layer l = 1 .. L-1, else None) holds, per example, 0 for a dropped
unit and 1/(1-p) for a kept one (inverted dropout: nothing to rescale at inference).
"""

import numpy as np

from ..costs import target_classes
from .batchnorm import normalize, normalize_backward


def one_hot(labels, n_out, dtype):
    """Target rows for integer labels: one-hot, or the label itself when there is one output unit."""
    if n_out == 1:
        return labels.astype(dtype).reshape(-1, 1)
    Y = np.zeros((len(labels), n_out), dtype=dtype)
    Y[np.arange(len(labels)), labels] = 1
    return Y


def feedforward(weights, biases, activations, X, masks=None, norms=None, training=False,
                update_running=False):
    """(outputs, inputs, zs, caches): each layer's output (input layer first), what each layer fed
    the next (the output after dropout), each layer's pre-activation z (zs[-1]: the output layer's;
    for maxout, the pieces'), and the batch-norm caches. norms[l]: a batchnorm.Norm for weight layer
    l's output, or None; training: batch statistics (else the running ones)."""
    outputs, inputs, zs, caches = [X], [X], [None], [None]
    for l, (W, b, activation) in enumerate(zip(weights, biases, activations), start=1):
        z = inputs[-1] @ W.T + b
        zs.append(z)
        cache = None
        if norms is not None and norms[l - 1] is not None:
            z, cache = normalize(z, norms[l - 1], training, update_running)
        caches.append(cache)
        a = activation.function(z)
        outputs.append(a)
        dropped = masks is not None and l < len(weights) and masks[l] is not None
        inputs.append(a * masks[l] if dropped else a)
    return outputs, inputs, zs, caches


def route_to_largest_piece(delta, z, k):
    """Maxout's BP2: each unit's delta goes to its largest piece (the first of equal ones)."""
    m, units = delta.shape
    routed = np.zeros((m, units, k), dtype=delta.dtype)
    winner = np.argmax(z.reshape(m, units, k), axis=2)
    np.put_along_axis(routed, winner[:, :, None], delta[:, :, None], axis=2)
    return routed.reshape(m, units * k)


def backprop(weights, biases, activations, cost, X, Y, masks=None, norms=None,
             update_running=False):
    """Gradients of the summed cost of the batch (X, Y): the book's four equations BP1-BP4.
    Returns (nabla_w, nabla_b, nabla_norm) with nabla_norm[l] = (dgamma, dbeta) or None."""
    outputs, inputs, zs, caches = feedforward(weights, biases, activations, X, masks, norms,
                                              training=True, update_running=update_running)
    delta = cost.delta(outputs[-1], Y, activations[-1])  # BP1
    nabla_w = [None] * len(weights)
    nabla_b = [None] * len(weights)
    nabla_norm = [None] * len(weights)
    for l in reversed(range(len(weights))):
        nabla_b[l] = delta.sum(axis=0)  # BP3, summed over the batch
        if norms is not None and norms[l] is not None:
            nabla_b[l] = np.zeros_like(nabla_b[l])  # batch norm removes b: its gradient is 0
        nabla_w[l] = delta.T @ inputs[l]  # BP4
        if l > 0:  # BP2
            below = activations[l - 1]
            delta = delta @ weights[l]
            if below.pieces == 1:
                delta = delta * below.derivative(outputs[l])
            if masks is not None and masks[l] is not None:
                delta = delta * masks[l]
            if below.pieces > 1:
                delta = route_to_largest_piece(delta, zs[l], below.pieces)
            if caches[l] is not None:  # through the batch norm of layer l
                delta, dgamma, dbeta = normalize_backward(delta, caches[l], norms[l - 1].gamma)
                nabla_norm[l - 1] = (dgamma, dbeta)
    return nabla_w, nabla_b, nabla_norm


def update_mini_batch(weights, biases, activations, cost, X, Y, eta, lmbda, n,
                      regularization="l2", masks=None, optimizer=None, states=None, step=1,
                      norms=None):
    """One gradient step on the batch (n = number of training rows). Plain SGD (the book's):
    L2: W <- (1 - eta*lmbda/n) W - (eta/m) sum grad;  L1: W <- W - (eta*lmbda/n) sign(W) - (eta/m) sum grad;
    b <- b - (eta/m) sum grad_b (biases are not regularised).
    Another optimizer: g = (1/m) sum grad (+ (lmbda/n) W or (lmbda/n) sign(W) for the weights), then
    optimizer.update on each parameter array with its state arrays: states[l] = pairs for
    (W, b, gamma, beta). Batch norm's gamma and beta learn like biases."""
    m = len(X)
    nabla_w, nabla_b, nabla_norm = backprop(weights, biases, activations, cost, X, Y, masks, norms,
                                            update_running=True)
    if optimizer is None or optimizer.name == "sgd":
        for l, (W, b, nw, nb) in enumerate(zip(weights, biases, nabla_w, nabla_b)):
            if nabla_norm[l] is not None:
                for p, grad in zip((norms[l].gamma, norms[l].beta), nabla_norm[l]):
                    p[...] = p - (eta / m) * grad
            if regularization == "l1":
                W[...] = W - (eta * lmbda / n) * np.sign(W) - (eta / m) * nw
            else:
                W[...] = (1 - eta * lmbda / n) * W - (eta / m) * nw
            b[...] = b - (eta / m) * nb
        return
    for l, (W, b, nw, nb) in enumerate(zip(weights, biases, nabla_w, nabla_b)):
        (w1, w2), (b1, b2), gamma_state, beta_state = states[l]
        g = nw * (1 / m)
        if lmbda != 0:
            g = g + (lmbda / n) * (np.sign(W) if regularization == "l1" else W)
        optimizer.update(W, g, w1, w2, eta, step)
        optimizer.update(b, nb * (1 / m), b1, b2, eta, step)
        if nabla_norm[l] is not None:
            for p, grad, (s1, s2) in zip((norms[l].gamma, norms[l].beta), nabla_norm[l],
                                         (gamma_state, beta_state)):
                optimizer.update(p, grad * (1 / m), s1, s2, eta, step)


def train_epoch(weights, biases, activations, cost, X, Y, order, batch_size, eta, lmbda, n,
                regularization="l2", masks=None, optimizer=None, states=None, step0=0, norms=None,
                stop=None):
    """One epoch (or part of one): the batches are consecutive slices of `order`; the last may be
    shorter. masks[l] has one row per position in `order`. Returns the number of steps taken.
    stop: an optional array; once stop[0] is set (by a signal handler), no further batch starts."""
    step = step0
    for start in range(0, len(order), batch_size):
        if stop is not None and stop[0]:
            break
        batch = order[start:start + batch_size]
        batch_masks = None
        if masks is not None:
            batch_masks = [None if mk is None else mk[start:start + batch_size] for mk in masks]
        step += 1
        update_mini_batch(weights, biases, activations, cost, X[batch], Y[batch], eta, lmbda, n,
                          regularization, batch_masks, optimizer, states, step, norms)
    return step - step0


def predicted_classes(A):
    """argmax of each output row; with one output unit, 1 where a > 0.5."""
    return target_classes(A)


def evaluate(weights, biases, activations, cost, X, Y, labels=None, norms=None, batch_stats=False):
    """(summed cost over the rows, number of rows classified correctly). Batch norm with the running
    statistics, or with the rows' own (batch_stats: training mode, for gradient checks)."""
    outputs, _, zs, _ = feedforward(weights, biases, activations, X, norms=norms,
                                    training=batch_stats)
    A = outputs[-1]
    total = float(np.sum(cost.per_example(zs[-1], A, Y)))
    truth = labels if labels is not None else predicted_classes(Y)
    return total, int(np.count_nonzero(predicted_classes(A) == truth))
