# What both epoch loops (the dense loop _train.pyx and the layer engine _conv.pyx) do alike with the
# data and the table: check X, the targets (or labels) and the dropout masks against a layer table
# before the GIL is released; gather a batch's target rows; the parameter segments of the update;
# take Python's signal handlers between batches. Header-only (inline).
from cpython.exc cimport PyErr_CheckSignals
from cython cimport floating
from libc.string cimport memcpy

import numpy as np

from _elementwise cimport COST_HINGE, OPT_SGD, OPT_ADAM, target_row_from_label
from _layers cimport (norm_units, KIND_CONV, KIND_DENSE, KIND_DROPOUT, KIND_BATCHNORM, S_KIND,
                      S_C, S_H, S_W, S_F, S_OH, S_OW, S_WOFF, S_BOFF, S_DCOL, S_PIECES, S_BN,
                      S_GOFF, F_SCALE)
from _update cimport SEGMENT_COLUMNS, UPDATE_REG_L1


cdef inline int check_data(const Py_ssize_t[:, ::1] spec, Py_ssize_t n_rows, Py_ssize_t x_cols,
                           Py_ssize_t t_rows, Py_ssize_t t_cols, const Py_ssize_t[::1] labels,
                           int cost, bint need_targets=True) except -1:
    """X is (n >= 1, the input size); targets either dense (n, n_out) rows, or labels (n,) in
    range: 0..n_out-1, or 0..1 for one output unit (need_targets False: not looked at); the hinge
    cost has at least 2 output units (its target class indexes a second one)."""
    cdef Py_ssize_t L = spec.shape[0], i
    cdef Py_ssize_t n_out = spec[L - 1, S_F] * spec[L - 1, S_OH] * spec[L - 1, S_OW]
    cdef Py_ssize_t n_in = spec[0, S_C] * spec[0, S_H] * spec[0, S_W]
    cdef Py_ssize_t n_classes = 2 if n_out == 1 else n_out
    if cost == COST_HINGE and n_out < 2:
        raise ValueError("the hinge cost needs at least 2 output units")
    if n_rows < 1 or x_cols != n_in:
        raise ValueError(f"X must be (n >= 1, {n_in}), got ({n_rows}, {x_cols})")
    if not need_targets:
        return 0
    if labels.shape[0] > 0:
        if labels.shape[0] != n_rows or t_rows != 0:
            raise ValueError("labels must have one entry per row of X (and no dense targets)")
        for i in range(n_rows):
            if labels[i] < 0 or labels[i] >= n_classes:
                raise ValueError(f"label {labels[i]} at row {i} is outside [0, {n_classes})")
    elif t_rows != n_rows or t_cols != n_out:
        raise ValueError(f"targets must be ({n_rows}, {n_out}), got ({t_rows}, {t_cols})")
    return 0


cdef inline bint check_keep(const Py_ssize_t[:, ::1] spec, const double[:, ::1] fparams,
                            Py_ssize_t keep_rows, Py_ssize_t keep_cols,
                            Py_ssize_t positions) except -1:
    """Whether the dropout masks apply: keep (positions, columns) holds a row per position of the
    epoch's order, a Dropout row's units at its S_DCOL column on, each kept unit scaled by its
    F_SCALE = 1/(1-p) >= 1; an empty keep (0 rows or columns): nothing drops."""
    cdef Py_ssize_t l
    cdef bint use_keep = keep_rows > 0 and keep_cols > 0
    if use_keep and keep_rows != positions:
        raise ValueError(f"keep needs one row per position in order ({positions}), has {keep_rows}")
    for l in range(spec.shape[0]):
        if spec[l, S_KIND] != KIND_DROPOUT:
            continue
        if not fparams[l, F_SCALE] >= 1:
            raise ValueError(f"layer {l}: a dropout layer's scale 1/(1-p) must be >= 1")
        if use_keep and not (0 <= spec[l, S_DCOL] and spec[l, S_DCOL] + spec[l, S_F]
                             * spec[l, S_OH] * spec[l, S_OW] <= keep_cols):
            raise ValueError("a dropout layer's mask columns fall outside keep")
    return use_keep


cdef inline object update_segments(const Py_ssize_t[:, ::1] spec):
    """(S, 3) intp: the parameter segments (start, count, decayed) of a checked layer table, layer
    by layer: a layer's weights (decayed), then its biases with batch norm's gamma and beta after
    them (not decayed); a batchnorm layer's gamma and beta (not decayed)."""
    rows = []
    cdef Py_ssize_t l, units
    for l in range(spec.shape[0]):
        units = 2 * norm_units(&spec[l, 0]) if spec[l, S_BN] else 0
        if spec[l, S_KIND] == KIND_CONV or spec[l, S_KIND] == KIND_DENSE:
            rows.append((spec[l, S_WOFF], spec[l, S_BOFF] - spec[l, S_WOFF], 1))
            rows.append((spec[l, S_BOFF], spec[l, S_F] * spec[l, S_PIECES] + units, 0))
        elif spec[l, S_KIND] == KIND_BATCHNORM:
            rows.append((spec[l, S_GOFF], units, 0))
    return np.asarray(rows, dtype=np.intp).reshape(-1, SEGMENT_COLUMNS)


cdef inline void gather_targets(floating* T, const floating* targets, const Py_ssize_t* labels,
                                const Py_ssize_t* rows, Py_ssize_t m,
                                Py_ssize_t n_out) noexcept nogil:
    """OUT T (m, n_out): the target rows of data rows rows[0..m-1]: one-hot rows of labels (when
    labels is not NULL), else copies of the rows of targets (n, n_out)."""
    cdef Py_ssize_t i
    for i in range(m):
        if labels != NULL:
            target_row_from_label(T + i * n_out, labels[rows[i]], n_out)
        else:
            memcpy(T + i * n_out, targets + rows[i] * n_out, n_out * sizeof(floating))


cdef inline object pending_signal():
    """With the GIL, between batches: the exception one of Python's signal handlers raised (Ctrl-C's
    KeyboardInterrupt), or None."""
    try:
        PyErr_CheckSignals()
    except BaseException as exc:
        return exc
    return None


cdef inline int raise_interrupted(object exc, Py_ssize_t batches) except -1:
    """Raise a signal handler's exception, telling the batches taken (`nnfast_batches_done`)."""
    try:
        exc.nnfast_batches_done = batches
    except AttributeError:
        pass
    raise exc


cdef inline tuple check_epoch(Py_ssize_t n, const Py_ssize_t[::1] order, bint permutation,
                              Py_ssize_t batch_size, Py_ssize_t n_train, int n_threads,
                              int regularization, int optimizer, object hyper,
                              Py_ssize_t state1_len, Py_ssize_t state2_len, Py_ssize_t n_params,
                              Py_ssize_t step0, Py_ssize_t first, Py_ssize_t last):
    """The arguments of an epoch besides the table and the data: order holds rows of X (n rows;
    all of them once, as many positions as rows, when `permutation`), batch_size, n_train,
    n_threads >= 1, regularization 0 (L2) or 1 (L1), an optimizer code with hyper = (h0, h1, h2)
    and the state arrays it needs (state*_len: their lengths, -1 for none), step0 >= 0, first:last
    positions in order starting on a batch boundary (last -1: the end). Returns (hyper as a float64
    array, last, the optimizer's state arrays)."""
    cdef Py_ssize_t i, positions = order.shape[0]
    if permutation and positions != n:
        raise ValueError("order must be a permutation of the rows of X")
    if batch_size < 1 or n_train < 1 or n_threads < 1 or positions < 1:
        raise ValueError("batch_size, n_train, n_threads and the order must be >= 1")
    for i in range(positions):
        if order[i] < 0 or order[i] >= n:
            raise ValueError(f"order[{i}] = {order[i]} is not a row of X")
    if regularization != 0 and regularization != UPDATE_REG_L1:
        raise ValueError(f"unknown regularization code {regularization}")
    hyper_arr = np.zeros(3) if hyper is None else np.ascontiguousarray(hyper, dtype=np.float64)
    if optimizer < OPT_SGD or optimizer > OPT_ADAM or hyper_arr.shape != (3,) or step0 < 0:
        raise ValueError("unknown optimizer code, or hyper is not (h0, h1, h2), or step0 < 0")
    cdef Py_ssize_t n_states = 2 if optimizer == OPT_ADAM else (0 if optimizer == OPT_SGD else 1)
    if (n_states >= 1 and state1_len != n_params) or (n_states == 2 and state2_len != n_params):
        raise ValueError("the optimizer's state arrays must have the length of params")
    if last == -1:
        last = positions
    if first < 0 or last > positions or first > last or first % batch_size != 0:
        raise ValueError("first:last must be a range of positions in order starting on a batch "
                         "boundary")
    return hyper_arr, last, n_states
