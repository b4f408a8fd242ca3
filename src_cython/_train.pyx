"""The compiled training loop: one call per epoch, one call per predict/evaluate.

Parameters live in one flat vector `params` in the network's dtype. For layer l (0-based, mapping
sizes[l] -> sizes[l+1]) it holds W_l, a row-major (sizes[l+1], sizes[l]) matrix, followed by b_l
(sizes[l+1],); layers follow each other. nnfast/network.py builds the same layout and hands out
views into it as `net.weights` / `net.biases`.

Every public function here is called by nnfast/_backend.py with arguments it has already validated
(shapes, dtypes, contiguity, ranges). The checks below repeat the cheap structural ones before the
GIL is released, so a wrong call from elsewhere raises instead of reading out of bounds.
"""

import numpy as np

from cython cimport floating
from libc.string cimport memcpy

from _blas cimport gemm_split, NoTrans, Trans
from _elementwise cimport (
    bias_activation, multiply_derivative, output_delta, bias_update, bias_activation_row,
    cost_row, predicted_class, target_row_from_label, activate,
)


cdef tuple _layout(Py_ssize_t n_params, const Py_ssize_t[::1] sizes, const int[::1] activations):
    """(L, offsets of W_l in params, offsets of b_l): checks params has exactly the sizes' length."""
    cdef Py_ssize_t L = sizes.shape[0] - 1, l, pos = 0
    if L < 1 or activations.shape[0] != L:
        raise ValueError("layout: need len(sizes) >= 2 and one activation per layer")
    for l in range(L + 1):
        if sizes[l] < 1 or sizes[l] > 2147483647:
            raise ValueError("layout: layer sizes must be in [1, 2**31)")
    w_off = np.empty(L, dtype=np.intp)
    b_off = np.empty(L, dtype=np.intp)
    for l in range(L):
        w_off[l] = pos
        pos += sizes[l + 1] * sizes[l]
        b_off[l] = pos
        pos += sizes[l + 1]
    if n_params != pos:
        raise ValueError(f"layout: params has {n_params} values, the sizes need {pos}")
    return L, w_off, b_off


cdef _check_data(const Py_ssize_t[::1] sizes, Py_ssize_t n_rows, Py_ssize_t x_cols,
                 Py_ssize_t t_rows, Py_ssize_t t_cols, const Py_ssize_t[::1] labels):
    """X is (n, sizes[0]); targets are either dense (n, sizes[-1]) or labels (n,) in range."""
    cdef Py_ssize_t L = sizes.shape[0] - 1, i, n_out = sizes[L]
    cdef Py_ssize_t n_classes = 2 if n_out == 1 else n_out
    if n_rows < 1 or x_cols != sizes[0]:
        raise ValueError(f"X must be (n >= 1, {sizes[0]}), got ({n_rows}, {x_cols})")
    if labels.shape[0] > 0:
        if labels.shape[0] != n_rows or t_rows != 0:
            raise ValueError("labels must have one entry per row of X (and no dense targets)")
        for i in range(n_rows):
            if labels[i] < 0 or labels[i] >= n_classes:
                raise ValueError(f"label {labels[i]} at row {i} is outside [0, {n_classes})")
    elif t_rows != n_rows or t_cols != n_out:
        raise ValueError(f"targets must be ({n_rows}, {n_out}), got ({t_rows}, {t_cols})")


def train_epoch(floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] activations,
                int cost, const floating[:, ::1] X, const floating[:, ::1] targets,
                const Py_ssize_t[::1] labels, const Py_ssize_t[::1] order,
                Py_ssize_t batch_size, double eta, double lmbda, Py_ssize_t n_train,
                int n_threads):
    """One epoch of mini-batch SGD with L2 weight decay, in place on params, without the GIL.

    IN  X (n, n_in); targets (n, n_out) or, when labels (n,) is non-empty, targets is (0, n_out)
        and the labels give one-hot rows; order (n,): the permutation of rows for this epoch;
        mini-batches are its consecutive slices of batch_size, the last one possibly shorter.
    OUT params, updated batch by batch (the book's network2):
        W <- (1 - eta*lmbda/n_train) W - (eta/m) sum_x delta_x a_x^T    (one GEMM, beta = decay)
        b <- b - (eta/m) sum_x delta_x
    """
    L_obj, w_off_arr, b_off_arr = _layout(params.shape[0], sizes, activations)
    cdef Py_ssize_t L = L_obj
    cdef Py_ssize_t[::1] w_off = w_off_arr, b_off = b_off_arr
    cdef Py_ssize_t n = X.shape[0], n_in = sizes[0], n_out = sizes[L]
    _check_data(sizes, n, X.shape[1], targets.shape[0], targets.shape[1], labels)
    if order.shape[0] != n:
        raise ValueError("order must be a permutation of the rows of X")
    if batch_size < 1 or n_train < 1 or n_threads < 1:
        raise ValueError("batch_size, n_train and n_threads must be >= 1")
    cdef Py_ssize_t i, l, start, m, widest = 0
    for i in range(n):
        if order[i] < 0 or order[i] >= n:
            raise ValueError(f"order[{i}] = {order[i]} is not a row of X")
    cdef bint use_labels = labels.shape[0] > 0
    batch_size = min(batch_size, n)

    # Workspace: activations A_0..A_L and deltas D_1..D_L, each (batch_size, sizes[l]); targets T;
    # column-sum scratch. A_0 is the gathered input batch.
    a_off_arr = np.empty(L + 1, dtype=np.intp)
    d_off_arr = np.empty(L + 1, dtype=np.intp)
    cdef Py_ssize_t[::1] a_off = a_off_arr, d_off = d_off_arr
    cdef Py_ssize_t total = 0
    for l in range(L + 1):
        a_off[l] = total
        total += batch_size * sizes[l]
        widest = max(widest, sizes[l])
    for l in range(1, L + 1):
        d_off[l] = total
        total += batch_size * sizes[l]
    d_off[0] = -1
    cdef Py_ssize_t t_off = total
    total += batch_size * n_out
    cdef Py_ssize_t s_off = total
    total += widest
    work_arr = np.zeros(total, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] work = work_arr

    cdef floating* P = &params[0]
    cdef floating* buf = &work[0]  # the workspace (not the weights: those live in P)
    cdef floating* T = buf + t_off
    cdef const floating* A0
    cdef const floating* Aprev
    cdef floating* Dl
    cdef const floating* x0 = &X[0, 0]
    cdef floating decay = <floating>(1.0 - eta * lmbda / <double>n_train)
    cdef floating step
    cdef bint consecutive
    cdef int fan_in, fan_out

    start = 0
    with nogil:
        while start < n:
            m = min(batch_size, n - start)
            step = <floating>(eta / <double>m)
            # -- gather the batch (consecutive rows are used in place, no copy)
            consecutive = True
            for i in range(1, m):
                if order[start + i] != order[start] + i:
                    consecutive = False
                    break
            if consecutive:
                A0 = x0 + order[start] * n_in
            else:
                A0 = buf + a_off[0]
                for i in range(m):
                    memcpy(buf + a_off[0] + i * n_in, x0 + order[start + i] * n_in, n_in * sizeof(floating))
            for i in range(m):
                if use_labels:
                    target_row_from_label(T + i * n_out, labels[order[start + i]], n_out)
                else:
                    memcpy(T + i * n_out, &targets[order[start + i], 0], n_out * sizeof(floating))
            # -- forward: A_{l+1} = sigma(A_l W_l^T + b_l)
            Aprev = A0
            for l in range(L):
                fan_in = <int>sizes[l]
                fan_out = <int>sizes[l + 1]
                gemm_split(NoTrans, Trans, <int>m, fan_out, fan_in, <floating>1, Aprev, fan_in,
                           P + w_off[l], fan_in, <floating>0, buf + a_off[l + 1], fan_out, n_threads)
                bias_activation(buf + a_off[l + 1], P + b_off[l], m, fan_out, activations[l],
                                n_threads)
                Aprev = buf + a_off[l + 1]
            # -- backward: delta_L, then for each layer (last first) the delta of the layer below
            #    (with the old W_l), then the updates of b_l and W_l.
            output_delta(buf + d_off[L], buf + a_off[L], T, m, n_out, activations[L - 1], cost)
            for l in range(L - 1, -1, -1):
                fan_in = <int>sizes[l]
                fan_out = <int>sizes[l + 1]
                Dl = buf + d_off[l + 1]
                Aprev = A0 if l == 0 else buf + a_off[l]
                if l > 0:
                    gemm_split(NoTrans, NoTrans, <int>m, fan_in, fan_out, <floating>1, Dl, fan_out,
                               P + w_off[l], fan_in, <floating>0, buf + d_off[l], fan_in, n_threads)
                    multiply_derivative(buf + d_off[l], Aprev, m, fan_in, activations[l - 1],
                                        n_threads)
                bias_update(P + b_off[l], Dl, m, fan_out, step, buf + s_off)
                gemm_split(Trans, NoTrans, fan_out, fan_in, <int>m, -step, Dl, fan_out,
                           Aprev, fan_in, decay, P + w_off[l], fan_in, n_threads)
            start += m


cdef void _forward_chunk(const floating* P, const Py_ssize_t[::1] sizes,
                         const int[::1] activations, const Py_ssize_t[::1] w_off,
                         const Py_ssize_t[::1] b_off, const floating* X, Py_ssize_t m,
                         floating* buf_a, floating* buf_b, floating* last,
                         int n_threads) noexcept nogil:
    """Run m rows of X through every layer; the last layer's A W^T (no bias, no activation) goes to
    `last` (m, n_out); hidden activations ping-pong between buf_a and buf_b."""
    cdef Py_ssize_t L = sizes.shape[0] - 1, l
    cdef const floating* src = X
    cdef floating* dst
    cdef int fan_in, fan_out
    for l in range(L):
        fan_in = <int>sizes[l]
        fan_out = <int>sizes[l + 1]
        dst = last if l == L - 1 else (buf_a if l % 2 == 0 else buf_b)
        gemm_split(NoTrans, Trans, <int>m, fan_out, fan_in, <floating>1, src, fan_in,
                   P + w_off[l], fan_in, <floating>0, dst, fan_out, n_threads)
        if l < L - 1:
            bias_activation(dst, P + b_off[l], m, fan_out, activations[l], n_threads)
        src = dst


cdef tuple _chunk_buffers(const Py_ssize_t[::1] sizes, Py_ssize_t chunk, Py_ssize_t n,
                          int n_threads, object dtype):
    """(scratch, half, chunk) for _forward_chunk over n rows: two (chunk, widest hidden) halves, then
    (chunk, n_out); chunk is checked and capped at n."""
    cdef Py_ssize_t l, widest = 1
    if chunk < 1 or n_threads < 1:
        raise ValueError("chunk and n_threads must be >= 1")
    chunk = min(chunk, n)
    for l in range(1, sizes.shape[0] - 1):
        widest = max(widest, sizes[l])
    scratch = np.empty(2 * chunk * widest + chunk * sizes[sizes.shape[0] - 1], dtype=dtype)
    return scratch, chunk * widest, chunk


def feedforward(const floating[::1] params, const Py_ssize_t[::1] sizes,
                const int[::1] activations, const floating[:, ::1] X, floating[:, ::1] out,
                Py_ssize_t chunk, int n_threads):
    """OUT out (n, n_out) = the network's output for every row of X, in chunks of rows, no GIL."""
    L_obj, w_off_arr, b_off_arr = _layout(params.shape[0], sizes, activations)
    cdef Py_ssize_t L = L_obj
    cdef Py_ssize_t[::1] w_off = w_off_arr, b_off = b_off_arr
    cdef Py_ssize_t n = X.shape[0], n_out = sizes[L], start, m
    if n < 1 or X.shape[1] != sizes[0] or out.shape[0] != n or out.shape[1] != n_out:
        raise ValueError("feedforward: X must be (n >= 1, n_in) and out (n, n_out)")
    work_arr, half, chunk = _chunk_buffers(sizes, chunk, n, n_threads,
                                           np.float32 if floating is float else np.float64)
    cdef floating[::1] work = work_arr
    cdef Py_ssize_t h = half
    cdef floating* buf = &work[0]
    cdef const floating* P = &params[0]
    start = 0
    with nogil:
        while start < n:
            m = min(chunk, n - start)
            _forward_chunk(P, sizes, activations, w_off, b_off, &X[start, 0], m, buf, buf + h,
                           &out[start, 0], n_threads)
            bias_activation(&out[start, 0], P + b_off[L - 1], m, n_out, activations[L - 1],
                            n_threads)
            start += m


def evaluate(const floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] activations,
             int cost, const floating[:, ::1] X, const floating[:, ::1] targets,
             const Py_ssize_t[::1] labels, Py_ssize_t chunk, int n_threads):
    """(sum of the per-example costs, number of correctly classified rows), in one pass, no GIL.

    Targets as in train_epoch. Correct: predicted class == label, or == the class of the target row
    (argmax, or > 0.5 with one output unit). The cost is summed in double, row after row.
    """
    L_obj, w_off_arr, b_off_arr = _layout(params.shape[0], sizes, activations)
    cdef Py_ssize_t L = L_obj
    cdef Py_ssize_t[::1] w_off = w_off_arr, b_off = b_off_arr
    cdef Py_ssize_t n = X.shape[0], n_out = sizes[L], start, m, i, j, label
    _check_data(sizes, n, X.shape[1], targets.shape[0], targets.shape[1], labels)
    work_arr, half, chunk = _chunk_buffers(sizes, chunk, n, n_threads,
                                           np.float32 if floating is float else np.float64)
    cdef floating[::1] work = work_arr
    cdef Py_ssize_t h = half
    cdef floating* buf = &work[0]
    cdef floating* Z = buf + 2 * h
    cdef floating* a_row
    cdef const floating* P = &params[0]
    cdef const floating* bias = P + b_off[L - 1]
    cdef int out_act = activations[L - 1]
    cdef bint use_labels = labels.shape[0] > 0
    cdef double total = 0
    cdef Py_ssize_t correct = 0
    t_arr = np.empty(n_out, dtype=np.float32 if floating is float else np.float64)
    a_arr = np.empty(n_out, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] t_view = t_arr, a_view = a_arr
    cdef floating* t_row = &t_view[0]
    cdef const floating* target
    a_row = &a_view[0]
    start = 0
    with nogil:
        while start < n:
            m = min(chunk, n - start)
            _forward_chunk(P, sizes, activations, w_off, b_off, &X[start, 0], m, buf, buf + h, Z,
                           n_threads)
            for i in range(m):
                for j in range(n_out):
                    Z[i * n_out + j] = Z[i * n_out + j] + bias[j]
                    a_row[j] = activate(Z[i * n_out + j], out_act)
                if use_labels:
                    label = labels[start + i]
                    target_row_from_label(t_row, label, n_out)
                    target = t_row
                else:
                    target = &targets[start + i, 0]
                    label = predicted_class(target, n_out)
                total += cost_row(Z + i * n_out, a_row, target, n_out, cost)
                if predicted_class(a_row, n_out) == label:
                    correct += 1
            start += m
    return total, correct
