"""The NumPy reference of `nnfast.Sequential`: every layer's forward and backward pass, and the
book's mini-batch SGD over them. Readable first; the compiled module src_cython/_conv.pyx follows
the same arithmetic (the same im2col layout, the same GEMMs) and the tests hold the two together.

Layouts: a batch of m images is (m, C, H, W); between layers every activation is kept as rows
(m, C*H*W) of the same memory. A convolution's weights are (F, C, kh, kw).

im2col: `cols` has one row per kernel tap (c, i, j) (K = C*kh*kw rows, in C order) and one column per
(image, output position) (m*P columns, P = out_h*out_w, image-major), so the convolution of the
whole batch is one matrix product W.reshape(F, K) @ cols -> (F, m*P).

Dropout `masks[l]` (only for Dropout layers, else None) holds per example 0 for a dropped value and
1/(1-p) for a kept one.
"""

import numpy as np

from ..costs import target_classes


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

def _windows(X, size):
    """(m, C, out_h, out_w, size*size): each window's values in row-major order (cropped input)."""
    m, channels, height, width = X.shape
    out_h, out_w = height // size, width // size
    cropped = X[:, :, :out_h * size, :out_w * size]
    return (cropped.reshape(m, channels, out_h, size, out_w, size)
            .transpose(0, 1, 2, 4, 3, 5).reshape(m, channels, out_h, out_w, size * size))


def maxpool_forward(X, size):
    """(Y (m, C, out_h, out_w), argmax): argmax holds, per output, the flat index c*H*W + y*W + x
    within its image of the window's first maximum (row-major)."""
    m, channels, height, width = X.shape
    windows = _windows(X, size)
    best = np.argmax(windows, axis=4)
    Y = np.take_along_axis(windows, best[..., None], axis=4)[..., 0]
    out_h, out_w = Y.shape[2:]
    rows = np.arange(out_h)[:, None] * size + best // size
    columns = np.arange(out_w)[None, :] * size + best % size
    argmax = np.arange(channels)[None, :, None, None] * (height * width) + rows * width + columns
    return Y, argmax


def maxpool_backward(dY, argmax, in_shape):
    """dX (m, C, H, W): each output's gradient at its argmax, 0 elsewhere."""
    m = dY.shape[0]
    dX = np.zeros((m, int(np.prod(in_shape))), dtype=dY.dtype)
    np.put_along_axis(dX, argmax.reshape(m, -1), dY.reshape(m, -1), axis=1)
    return dX.reshape(m, *in_shape)


def avgpool_forward(X, size):
    """Y (m, C, out_h, out_w): each window's sum (row-major) times 1/size^2."""
    return _windows(X, size).sum(axis=4) * X.dtype.type(1.0 / (size * size))


def avgpool_backward(dY, size, in_shape):
    """dX (m, C, H, W): dY / size^2 spread over each window; 0 on the cropped border."""
    m = dY.shape[0]
    dX = np.zeros((m, *in_shape), dtype=dY.dtype)
    share = dY * dY.dtype.type(1.0 / (size * size))
    out_h, out_w = dY.shape[2:]
    dX[:, :, :out_h * size, :out_w * size] = np.repeat(np.repeat(share, size, axis=2), size, axis=3)
    return dX


# ---------------------------------------------------------------- a whole network

def feedforward(layers, weights, biases, X, masks=None):
    """(outputs, caches, z): outputs[0] = X and outputs[l+1] = layer l's output, each as rows
    (m, n_out); caches[l] = cols (conv) or argmax (max-pool); z = the last layer's pre-activation.
    Dropout layers apply masks[l] when masks is given (training), else pass their input on."""
    m = X.shape[0]
    outputs, caches, z = [X], [], None
    for l, layer in enumerate(layers):
        a = outputs[-1]
        cache = None
        if layer.kind == "conv":
            Z, cache = conv_forward(a.reshape(m, *layer.in_shape), weights[l], biases[l], layer)
            out = layer.activation.function(Z).reshape(m, -1)
        elif layer.kind == "dense":
            z = a @ weights[l].T + biases[l]
            out = layer.activation.function(z)
        elif layer.kind == "maxpool":
            Y, cache = maxpool_forward(a.reshape(m, *layer.in_shape), layer.stride)
            out = Y.reshape(m, -1)
        elif layer.kind == "avgpool":
            out = avgpool_forward(a.reshape(m, *layer.in_shape), layer.stride).reshape(m, -1)
        elif layer.kind == "dropout" and masks is not None and masks[l] is not None:
            out = a * masks[l]
        else:  # flatten; dropout at inference
            out = a
        outputs.append(out)
        caches.append(cache)
    return outputs, caches, z


def backprop(layers, weights, biases, cost, X, Y, masks=None):
    """Gradients of the summed cost of the batch: (nabla_w, nabla_b), None for parameterless
    layers. The last layer must be Dense; its delta is the cost's (BP1)."""
    m = X.shape[0]
    outputs, caches, _ = feedforward(layers, weights, biases, X, masks)
    nabla_w = [None] * len(layers)
    nabla_b = [None] * len(layers)
    grad = None  # dC/d(output of layer l)
    for l in reversed(range(len(layers))):
        layer = layers[l]
        a_in, a_out = outputs[l], outputs[l + 1]
        need_input = l > 0
        if layer.kind in ("dense", "conv"):
            if l == len(layers) - 1:
                delta = cost.delta(a_out, Y, layer.activation)
            else:
                delta = grad * layer.activation.derivative(a_out)
            if layer.kind == "dense":
                nabla_w[l] = delta.T @ a_in
                nabla_b[l] = delta.sum(axis=0)
                grad = delta @ weights[l] if need_input else None
            else:
                dX, nabla_w[l], nabla_b[l] = conv_backward(
                    delta.reshape(m, *layer.out_shape), caches[l], weights[l], layer, need_input)
                grad = None if dX is None else dX.reshape(m, -1)
        elif layer.kind == "maxpool":
            grad = maxpool_backward(grad.reshape(m, *layer.out_shape), caches[l],
                                    layer.in_shape).reshape(m, -1)
        elif layer.kind == "avgpool":
            grad = avgpool_backward(grad.reshape(m, *layer.out_shape), layer.stride,
                                    layer.in_shape).reshape(m, -1)
        elif layer.kind == "dropout" and masks is not None and masks[l] is not None:
            grad = grad * masks[l]
    return nabla_w, nabla_b


def update_mini_batch(layers, weights, biases, cost, X, Y, eta, lmbda, n, masks=None):
    """The book's step: W <- (1 - eta*lmbda/n) W - (eta/m) sum grad_W, b <- b - (eta/m) sum grad_b."""
    m = len(X)
    nabla_w, nabla_b = backprop(layers, weights, biases, cost, X, Y, masks)
    for W, b, nw, nb in zip(weights, biases, nabla_w, nabla_b):
        if W is None:
            continue
        W[...] = (1 - eta * lmbda / n) * W - (eta / m) * nw
        b[...] = b - (eta / m) * nb


def train_epoch(layers, weights, biases, cost, X, Y, order, batch_size, eta, lmbda, n, masks=None):
    """Batches are consecutive slices of `order` (the last may be shorter); masks[l] has one row
    per position in `order`."""
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        batch_masks = None
        if masks is not None:
            batch_masks = [None if mk is None else mk[start:start + batch_size] for mk in masks]
        update_mini_batch(layers, weights, biases, cost, X[batch], Y[batch], eta, lmbda, n,
                          batch_masks)


def evaluate(layers, weights, biases, cost, X, Y, labels=None):
    """(summed cost over the rows, number of rows classified correctly)."""
    outputs, _, z = feedforward(layers, weights, biases, X)
    A = outputs[-1]
    total = float(np.sum(cost.per_example(z, A, Y)))
    truth = labels if labels is not None else target_classes(Y)
    return total, int(np.count_nonzero(target_classes(A) == truth))
