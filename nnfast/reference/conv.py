"""The NumPy reference of `nnfast.Sequential`: every layer's forward and backward pass, and the
book's mini-batch SGD over them. Readable first; the compiled module src_cython/engine/_conv.pyx follows
the same arithmetic (the same im2col layout, the same GEMMs) and the tests hold the two together.

Layouts: a batch of m images is (m, C, H, W); between layers every activation is kept as rows
(m, C*H*W) of the same memory. A convolution's weights are (F, C, kh, kw).

im2col: `cols` has one row per kernel tap (c, i, j) (K = C*kh*kw rows, in C order) and one column per
(image, output position) (m*P columns, P = out_h*out_w, image-major), so the convolution of the
whole batch is one matrix product W.reshape(F, K) @ cols -> (F, m*P).

Dropout `masks[l]` (only for Dropout layers, else None) holds per example 0 for a dropped value and
1/(1-p) for a kept one.

Batch norm (nnfast/reference/batchnorm.py, the semantics of Network): `norms[l]` is a Norm for a
Dense or Conv2D layer with batch_norm (its z, bias included, normalised per unit / per channel over
the batch's m rows / m*out_h*out_w positions; the bias is redundant: its gradient is 0) and for a
BatchNorm layer (its input normalised per unit / per channel, no weights: weights[l] and biases[l]
are None, its gamma and beta live in the Norm), else None. Maxout Dense layers (activation
maxout(k)) have units*k rows of W. The optimizers, regularisation and step counting are those of
nnfast/reference/sgd.py.
"""

import numpy as np

from ..costs import target_classes
from .batchnorm import normalize, normalize_backward
from .sgd import route_to_largest_piece


# ---------------------------------------------------------------- convolution

def _padded(X, built):
    """X (m, C, H, W) inside zeros: pad_top/pad_left before, enough after for every window."""
    m, channels, height, width = X.shape
    kh, kw = built.weight_shape[2:]
    out_h, out_w = built.out_shape[1:]
    s = built.stride
    full_h = max(height + built.pad_top, (out_h - 1) * s + kh)
    full_w = max(width + built.pad_left, (out_w - 1) * s + kw)
    padded = np.zeros((m, channels, full_h, full_w), dtype=X.dtype)
    padded[:, :, built.pad_top:built.pad_top + height, built.pad_left:built.pad_left + width] = X
    return padded


def im2col(X, built):
    """cols (K, m*P): cols[(c, i, j), (n, y, x)] = X[n, c, y*s + i - pad_top, x*s + j - pad_left]."""
    m, channels = X.shape[:2]
    kh, kw = built.weight_shape[2:]
    out_h, out_w = built.out_shape[1:]
    s = built.stride
    padded = _padded(X, built)
    cols = np.empty((channels, kh, kw, m, out_h, out_w), dtype=X.dtype)
    for i in range(kh):
        for j in range(kw):
            window = padded[:, :, i:i + s * (out_h - 1) + 1:s, j:j + s * (out_w - 1) + 1:s]
            cols[:, i, j] = window.transpose(1, 0, 2, 3)
    return cols.reshape(channels * kh * kw, m * out_h * out_w)


def col2im(dcols, built, m):
    """The adjoint of im2col: dX (m, C, H, W) = the sum of every column entry back at its pixel
    (taps in (i, j) order; entries in the padding are dropped)."""
    channels, height, width = built.in_shape
    kh, kw = built.weight_shape[2:]
    out_h, out_w = built.out_shape[1:]
    s = built.stride
    padded = _padded(np.zeros((m, channels, height, width), dtype=dcols.dtype), built)
    taps = dcols.reshape(channels, kh, kw, m, out_h, out_w)
    for i in range(kh):
        for j in range(kw):
            padded[:, :, i:i + s * (out_h - 1) + 1:s, j:j + s * (out_w - 1) + 1:s] += \
                taps[:, i, j].transpose(1, 0, 2, 3)
    return padded[:, :, built.pad_top:built.pad_top + height,
                  built.pad_left:built.pad_left + width].copy()


def conv_forward(X, W, b, built):
    """Pre-activations Z (m, F, out_h, out_w) of images X (m, C, H, W); also returns cols."""
    m = X.shape[0]
    filters = W.shape[0]
    out_h, out_w = built.out_shape[1:]
    cols = im2col(X, built)
    Zt = W.reshape(filters, -1) @ cols  # (F, m*P)
    Z = Zt.reshape(filters, m, out_h, out_w).transpose(1, 0, 2, 3) + b[None, :, None, None]
    return Z, cols


def conv_backward(dZ, cols, W, built, need_input_gradient=True):
    """(dX or None, dW, db) from dZ = dC/dZ (m, F, out_h, out_w) and the forward pass's cols."""
    m, filters = dZ.shape[:2]
    dZt = dZ.transpose(1, 0, 2, 3).reshape(filters, -1)  # (F, m*P)
    dW = (dZt @ cols.T).reshape(W.shape)
    db = dZt.sum(axis=1)
    dX = col2im(W.reshape(filters, -1).T @ dZt, built, m) if need_input_gradient else None
    return dX, dW, db


# ---------------------------------------------------------------- pooling

def _out_size(length, size, stride):
    return (length - size) // stride + 1


def _windows(X, size, stride):
    """(m, C, out_h, out_w, size*size): each window's values in row-major order; window (y, x)
    starts at (y*stride, x*stride); trailing rows/columns no window reaches are ignored."""
    m, channels = X.shape[:2]
    views = np.lib.stride_tricks.sliding_window_view(X, (size, size), axis=(2, 3))
    views = views[:, :, ::stride, ::stride]
    return views.reshape(m, channels, views.shape[2], views.shape[3], size * size)


def maxpool_forward(X, size, stride=None):
    """(Y (m, C, out_h, out_w), argmax): argmax holds, per output, the flat index c*H*W + y*W + x
    within its image of the window's first maximum (row-major). stride None: size."""
    stride = size if stride is None else stride
    m, channels, height, width = X.shape
    windows = _windows(X, size, stride)
    best = np.argmax(windows, axis=4)
    Y = np.take_along_axis(windows, best[..., None], axis=4)[..., 0]
    out_h, out_w = Y.shape[2:]
    rows = np.arange(out_h)[:, None] * stride + best // size
    columns = np.arange(out_w)[None, :] * stride + best % size
    argmax = np.arange(channels)[None, :, None, None] * (height * width) + rows * width + columns
    return Y, argmax


def maxpool_backward(dY, argmax, in_shape):
    """dX (m, C, H, W): each output's gradient added at its argmax (outputs in order; overlapping
    windows may send several to one input), 0 elsewhere."""
    m = dY.shape[0]
    dX = np.zeros((m, int(np.prod(in_shape))), dtype=dY.dtype)
    rows = np.repeat(np.arange(m), argmax[0].size)
    np.add.at(dX, (rows, argmax.reshape(-1)), dY.reshape(-1))
    return dX.reshape(m, *in_shape)


def avgpool_forward(X, size, stride=None):
    """Y (m, C, out_h, out_w): each window's sum (row-major) times 1/size^2."""
    stride = size if stride is None else stride
    return _windows(X, size, stride).sum(axis=4) * X.dtype.type(1.0 / (size * size))


def avgpool_backward(dY, size, in_shape, stride=None):
    """dX (m, C, H, W): dY / size^2 added over each window (window taps (i, j) in row-major
    order); 0 where no window reaches."""
    stride = size if stride is None else stride
    m = dY.shape[0]
    dX = np.zeros((m, *in_shape), dtype=dY.dtype)
    share = dY * dY.dtype.type(1.0 / (size * size))
    out_h, out_w = dY.shape[2:]
    for i in range(size):
        for j in range(size):
            dX[:, :, i:i + stride * (out_h - 1) + 1:stride,
               j:j + stride * (out_w - 1) + 1:stride] += share
    return dX


# ---------------------------------------------------------------- batch norm per channel

def normalize_channels(z, channels, norm, training, update_running):
    """batchnorm.normalize of z (m, channels*P) per channel, over its m*P values (P = 1: per
    unit). Returns (y (m, channels*P), cache)."""
    m = len(z)
    rows = z.reshape(m, channels, -1).transpose(0, 2, 1).reshape(-1, channels)
    y, cache = normalize(rows, norm, training, update_running)
    return y.reshape(m, -1, channels).transpose(0, 2, 1).reshape(m, -1), cache


def normalize_channels_backward(dy, channels, cache, gamma):
    """(dC/dz (m, channels*P), dgamma, dbeta) from dC/dy, for normalize_channels."""
    m = len(dy)
    rows = dy.reshape(m, channels, -1).transpose(0, 2, 1).reshape(-1, channels)
    dz, dgamma, dbeta = normalize_backward(rows, cache, gamma)
    return dz.reshape(m, -1, channels).transpose(0, 2, 1).reshape(m, -1), dgamma, dbeta


def _norm_units(layer):
    """Channels (units) a layer's batch norm works on."""
    return layer.in_shape[0] if layer.kind == "batchnorm" else layer.out_shape[0]


# ---------------------------------------------------------------- a whole network

def _has_norm(norms, l):
    return norms is not None and norms[l] is not None


def feedforward(layers, weights, biases, X, masks=None, norms=None, training=False,
                update_running=False):
    """(outputs, caches, z): outputs[0] = X and outputs[l+1] = layer l's output, each as rows
    (m, n_out); caches[l] = what backprop needs of layer l (a dict); z = the last layer's
    pre-activation. Dropout layers apply masks[l] when masks is given (training), else pass their
    input on. Batch norm (norms[l]): training = the batch's statistics (moving the running ones
    with update_running), else the running ones."""
    m = X.shape[0]
    outputs, caches, z = [X], [], None
    for l, layer in enumerate(layers):
        a = outputs[-1]
        cache = {}
        if layer.kind == "conv":
            Z, cache["cols"] = conv_forward(a.reshape(m, *layer.in_shape), weights[l], biases[l],
                                            layer)
            y = Z.reshape(m, -1)
            if _has_norm(norms, l):
                y, cache["norm"] = normalize_channels(y, layer.out_shape[0], norms[l], training,
                                                      update_running)
            out = layer.activation.function(y)
        elif layer.kind == "dense":
            z = a @ weights[l].T + biases[l]
            y = z
            if layer.activation.pieces > 1:
                cache["pieces"] = z
            if _has_norm(norms, l):
                y, cache["norm"] = normalize_channels(z, layer.out_shape[0], norms[l], training,
                                                      update_running)
            out = layer.activation.function(y)
        elif layer.kind == "batchnorm":
            y, cache["norm"] = normalize_channels(a, layer.in_shape[0], norms[l], training,
                                                  update_running)
            out = layer.activation.function(y)
        elif layer.kind == "maxpool":
            Y, cache["argmax"] = maxpool_forward(a.reshape(m, *layer.in_shape), layer.size,
                                                 layer.stride)
            out = Y.reshape(m, -1)
        elif layer.kind == "avgpool":
            out = avgpool_forward(a.reshape(m, *layer.in_shape), layer.size,
                                  layer.stride).reshape(m, -1)
        elif layer.kind == "dropout" and masks is not None and masks[l] is not None:
            out = a * masks[l]
        else:  # flatten; dropout at inference
            out = a
        outputs.append(out)
        caches.append(cache)
    return outputs, caches, z


def output_delta_from_gradient(grad_output, a, activation):
    """dL/dz of the output layer from g = dL/da: g * sigma'(z), or for softmax the Jacobian-vector
    product a * (g - sum(g * a)) per row."""
    if activation.rowwise:
        return a * (grad_output - np.sum(grad_output * a, axis=1, keepdims=True))
    return grad_output * activation.derivative(a)


def backprop(layers, weights, biases, cost, X, Y, masks=None, norms=None, update_running=False,
             grad_output=None, need_input_gradient=False):
    """Gradients of the summed cost of the batch: (nabla_w, nabla_b, nabla_norm), None for layers
    without parameters; nabla_norm[l] = (dgamma, dbeta) for a layer with batch norm (a BatchNorm
    layer's only parameters), else None. The last layer must be Dense; its delta is the cost's
    (BP1), or with grad_output (m, n_out) = dL/d(outputs) the delta of that L
    (output_delta_from_gradient; Y is then not used). With need_input_gradient, a 4th element:
    dL/dX (m, n_in)."""
    m = X.shape[0]
    outputs, caches, _ = feedforward(layers, weights, biases, X, masks, norms, training=True,
                                     update_running=update_running)
    nabla_w = [None] * len(layers)
    nabla_b = [None] * len(layers)
    nabla_norm = [None] * len(layers)
    grad = grad_output  # dC/d(output of layer l)
    for l in reversed(range(len(layers))):
        layer = layers[l]
        a_in, a_out, cache = outputs[l], outputs[l + 1], caches[l]
        need_input = l > 0 or need_input_gradient
        if layer.kind in ("dense", "conv"):
            if l == len(layers) - 1:
                if grad_output is None:
                    delta = cost.delta(a_out, Y, layer.activation)
                else:
                    delta = output_delta_from_gradient(grad_output, a_out, layer.activation)
            elif layer.activation.pieces > 1:
                delta = route_to_largest_piece(grad, cache["pieces"], layer.activation.pieces)
            else:
                delta = grad * layer.activation.derivative(a_out)
            if "norm" in cache:
                delta, dgamma, dbeta = normalize_channels_backward(
                    delta, layer.out_shape[0], cache["norm"], norms[l].gamma)
                nabla_norm[l] = (dgamma, dbeta)
            if layer.kind == "dense":
                nabla_w[l] = delta.T @ a_in
                nabla_b[l] = delta.sum(axis=0)
                grad = delta @ weights[l] if need_input else None
            else:
                dX, nabla_w[l], nabla_b[l] = conv_backward(
                    delta.reshape(m, *layer.out_shape), cache["cols"], weights[l], layer,
                    need_input)
                grad = None if dX is None else dX.reshape(m, -1)
            if "norm" in cache:  # batch norm removes the bias: its gradient is 0
                nabla_b[l] = np.zeros_like(nabla_b[l])
        elif layer.kind == "batchnorm":
            dy = grad * layer.activation.derivative(a_out)
            grad, dgamma, dbeta = normalize_channels_backward(dy, layer.in_shape[0],
                                                              cache["norm"], norms[l].gamma)
            nabla_norm[l] = (dgamma, dbeta)
        elif layer.kind == "maxpool":
            grad = maxpool_backward(grad.reshape(m, *layer.out_shape), cache["argmax"],
                                    layer.in_shape).reshape(m, -1)
        elif layer.kind == "avgpool":
            grad = avgpool_backward(grad.reshape(m, *layer.out_shape), layer.size,
                                    layer.in_shape, layer.stride).reshape(m, -1)
        elif layer.kind == "dropout" and masks is not None and masks[l] is not None:
            grad = grad * masks[l]
    if need_input_gradient:
        return nabla_w, nabla_b, nabla_norm, grad
    return nabla_w, nabla_b, nabla_norm


def update_mini_batch(layers, weights, biases, cost, X, Y, eta, lmbda, n, masks=None, *,
                      regularization="l2", optimizer=None, states=None, step=1, norms=None):
    """One step on the batch, as nnfast/reference/sgd.py's update_mini_batch: backprop, then
    `apply_gradients`. Batch norm moves the running statistics."""
    nabla_w, nabla_b, nabla_norm = backprop(layers, weights, biases, cost, X, Y, masks, norms,
                                            update_running=True)
    params = [None if W is None and norm is None else
              (W, b, *((norm.gamma, norm.beta) if norm is not None else (None, None)))
              for W, b, norm in zip(weights, biases, norms or [None] * len(layers))]
    grads = [(nw, nb, *(nn if nn is not None else (None, None)))
             for nw, nb, nn in zip(nabla_w, nabla_b, nabla_norm)]
    apply_gradients(params, grads, len(X), eta, lmbda, n, regularization, optimizer, states, step)


def apply_gradients(params, grads, m, eta, lmbda, n, regularization="l2", optimizer=None,
                    states=None, step=1):
    """One optimizer step from the summed gradients of a batch of m examples, in place: per layer
    params[l] and grads[l] are (W, b, gamma, beta) (None entries where a layer has none; params[l]
    None for a layer without parameters). Plain SGD (the book's): L2: W <- (1 - eta*lmbda/n) W -
    (eta/m) sum grad_W; L1: W <- W - (eta*lmbda/n) sign(W) - (eta/m) sum grad_W; b, gamma, beta <-
    p - (eta/m) sum grad. Another optimizer: g = (1/m) sum grad (+ (lmbda/n) W or (lmbda/n) sign(W)
    for the weights), then optimizer.update with states[l][k] = its (state 1, state 2) pair for
    W, b, gamma, beta (k = 0..3)."""
    sgd = optimizer is None or optimizer.name == "sgd"
    for l, (layer_params, layer_grads) in enumerate(zip(params, grads)):
        if layer_params is None:
            continue
        for k, (p, grad) in enumerate(zip(layer_params, layer_grads)):
            if p is None:
                continue
            weights = k == 0  # the weights are decayed; biases, gamma and beta never
            if sgd and weights and regularization == "l1":
                p[...] = p - (eta * lmbda / n) * np.sign(p) - (eta / m) * grad
            elif sgd and weights:
                p[...] = (1 - eta * lmbda / n) * p - (eta / m) * grad
            elif sgd:
                p[...] = p - (eta / m) * grad
            else:
                g = grad * (1 / m)
                if weights and lmbda != 0:
                    g = g + (lmbda / n) * (np.sign(p) if regularization == "l1" else p)
                s1, s2 = states[l][k]
                optimizer.update(p, g, s1, s2, eta, step)


def train_epoch(layers, weights, biases, cost, X, Y, order, batch_size, eta, lmbda, n, masks=None,
                *, regularization="l2", optimizer=None, states=None, step0=0, norms=None,
                stop=None):
    """Batches are consecutive slices of `order` (the last may be shorter); masks[l] has one row
    per position in `order`. Returns the number of steps taken; once stop[0] is set (stop: an
    optional array), no further batch starts."""
    step = step0
    for start in range(0, len(order), batch_size):
        if stop is not None and stop[0]:
            break
        batch = order[start:start + batch_size]
        batch_masks = None
        if masks is not None:
            batch_masks = [None if mk is None else mk[start:start + batch_size] for mk in masks]
        step += 1
        update_mini_batch(layers, weights, biases, cost, X[batch], Y[batch], eta, lmbda, n,
                          batch_masks, regularization=regularization, optimizer=optimizer,
                          states=states, step=step, norms=norms)
    return step - step0


def evaluate(layers, weights, biases, cost, X, Y, labels=None, *, norms=None, batch_stats=False):
    """(summed cost over the rows, number of rows classified correctly). Batch norm with the
    running statistics, or with the rows' own (batch_stats: training mode, for gradient checks)."""
    outputs, _, z = feedforward(layers, weights, biases, X, norms=norms, training=batch_stats)
    A = outputs[-1]
    total = float(np.sum(cost.per_example(z, A, Y)))
    truth = labels if labels is not None else target_classes(Y)
    return total, int(np.count_nonzero(target_classes(A) == truth))
