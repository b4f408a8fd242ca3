"""The compiled path of nnfast.Sequential: convolution, pooling, dropout and dense layers, trained one
epoch per call without the GIL; plus Python-visible twins of the kernels (for the tests).

A network arrives as a layer table `spec` (L, SPEC_COLUMNS) of integers and `fparams`
(L, FPARAM_COLUMNS) of doubles (activation parameter, dropout scale 1/(1-p), batch norm's eps and
momentum), built by nnfast/sequential.py (the columns: src_cython/layers/_layers.pxd); the parameters are
one flat vector, W_l (row-major, a convolution's as (F, C*kh*kw); a maxout layer's with units*k
rows) then b_l, then gamma_l and beta_l with batch norm, per layer with parameters, at the offsets
the table names (a BatchNorm layer: gamma, beta only, at S_GOFF). Batch norm's running statistics
are one flat vector `running` (per normalised layer: mean then variance, at S_ROFF). Every entry
point checks the table and the arrays' shapes before the GIL is released. The arithmetic follows
nnfast/reference/conv.py; the layers' passes are in src_cython/layers/_layers.pxd.
"""

import threading

import numpy as np

from cython cimport floating
from libc.string cimport memcpy
from cython.parallel cimport prange, threadid

from _data cimport (check_data, check_epoch, check_keep, gather_targets, pending_signal,
                   raise_interrupted, update_segments as _update_segments)
from _update cimport optimizer_update, sgd_update, SEGMENT_COLUMNS
from _elementwise cimport OPT_SGD, OPT_ADAM, cost_row, predicted_class, target_class, nnf_isa
from _matmul cimport (N_GEMM_KERNELS, nnf_gemm_put, nnf_gemm_clear, nnf_gemm_fallback,
                      nnf_gemm_own_isa, nnf_gemm_entries, nnf_gemm_missed, nnf_gemm_last_miss)
from _convkern cimport cols_stride, add_rows
from _table cimport check_table, has_batch_norm, require_dense_output, row_work
from _layers cimport (Pass, forward as _forward, backward as _backward, norm_units,
                      KIND_CONV, KIND_MAXPOOL, KIND_AVGPOOL, KIND_FLATTEN, KIND_DENSE,
                      KIND_DROPOUT, KIND_BATCHNORM, S_KIND, S_C, S_H, S_W, S_F, S_OH, S_OW, S_KH,
                      S_KW, S_STRIDE, S_PT, S_PL, S_ACT, S_WOFF, S_BOFF, S_DCOL, S_PIECES, S_BN,
                      S_GOFF, S_ROFF, SPEC_COLUMNS, F_ACT, F_SCALE, F_EPS, F_MOMENTUM,
                      FPARAM_COLUMNS)

nnf_isa()  # pick the vectorized kernels' instruction set now, before any thread runs one

include "_gemm_registry.pxi"

KINDS = {"conv": KIND_CONV, "maxpool": KIND_MAXPOOL, "avgpool": KIND_AVGPOOL,
         "flatten": KIND_FLATTEN, "dense": KIND_DENSE, "dropout": KIND_DROPOUT,
         "batchnorm": KIND_BATCHNORM}
COLUMNS = SPEC_COLUMNS
FCOLUMNS = FPARAM_COLUMNS
# the table's columns by name, for the Python side that fills it (nnfast/_backend.py)
TABLE_COLUMNS = {"kind": S_KIND, "c": S_C, "h": S_H, "w": S_W, "f": S_F, "oh": S_OH, "ow": S_OW,
                 "kh": S_KH, "kw": S_KW, "stride": S_STRIDE, "pad_top": S_PT, "pad_left": S_PL,
                 "act": S_ACT, "w_off": S_WOFF, "b_off": S_BOFF, "drop_col": S_DCOL,
                 "pieces": S_PIECES, "bn": S_BN, "g_off": S_GOFF, "r_off": S_ROFF}
FPARAM_NAMES = {"act_param": F_ACT, "drop_scale": F_SCALE, "bn_eps": F_EPS,
                "bn_momentum": F_MOMENTUM}


def _check_shape(array, shape, name):
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(array.shape)}")


# ---------------------------------------------------------------- the network

cdef class _Work:
    """The buffers of one pass over batches of up to m rows: one floating buffer (layer outputs,
    their gradients, im2col columns or maxout pieces, batch norm's zhat and statistics, Zt, the
    last layer's z, targets) and one intp buffer (argmax). need_input: room for the gradient of
    the input too. The layout: src_cython/layers/_layers.pxd."""
    cdef object buffer, indices
    cdef object offsets  # (6, L + 1): outputs, gradients, cols/pieces, argmax, zhat, statistics
    cdef Py_ssize_t zt_off, z_off, t_off
    cdef Py_ssize_t stride, istride  # elements per copy (`copies` independent copies, for slices)

    def __init__(self, const Py_ssize_t[:, ::1] spec, Py_ssize_t m, bint training, dtype,
                 Py_ssize_t copies=1, bint need_input=False):
        cdef Py_ssize_t L = spec.shape[0], l, pos = 0, ipos = 0, n_out, zt = 1, units
        offsets = np.zeros((6, L + 1), dtype=np.intp)
        offsets[0, 0] = pos
        pos += m * spec[0, S_C] * spec[0, S_H] * spec[0, S_W]
        if training and need_input:
            offsets[1, 0] = pos
            pos += m * spec[0, S_C] * spec[0, S_H] * spec[0, S_W]
        for l in range(L):
            n_out = spec[l, S_F] * spec[l, S_OH] * spec[l, S_OW]
            offsets[0, l + 1] = pos
            pos += m * n_out
            if training:
                offsets[1, l + 1] = pos
                pos += m * n_out
            if spec[l, S_KIND] == KIND_CONV:  # rows cols_stride(m*P) apart (_convkern.pxd)
                offsets[2, l] = pos
                pos += spec[l, S_C] * spec[l, S_KH] * spec[l, S_KW] * cols_stride(
                    m * spec[l, S_OH] * spec[l, S_OW])
                zt = max(zt, m * n_out)
            elif spec[l, S_KIND] == KIND_DENSE and spec[l, S_PIECES] > 1:
                offsets[2, l] = pos
                pos += m * n_out * spec[l, S_PIECES]
                zt = max(zt, m * n_out * spec[l, S_PIECES])
            elif spec[l, S_KIND] == KIND_MAXPOOL:
                offsets[3, l] = ipos
                ipos += m * n_out
            if training and spec[l, S_BN]:
                units = spec[l, S_C] if spec[l, S_KIND] == KIND_BATCHNORM else spec[l, S_F]
                offsets[4, l] = pos
                pos += m * n_out
                offsets[5, l] = pos
                pos += 2 * units
        n_out = spec[L - 1, S_F] * spec[L - 1, S_OH] * spec[L - 1, S_OW]  # the output's size
        self.zt_off, self.z_off, self.t_off = pos, pos + zt, pos + zt + m * n_out
        self.stride = (pos + zt + 2 * m * n_out + 15) // 16 * 16  # copies start 64-byte apart
        self.istride = max(ipos, 1)
        self.buffer = np.zeros(copies * self.stride, dtype=dtype)
        self.indices = np.zeros(copies * self.istride, dtype=np.intp)
        self.offsets = offsets


cdef Pass _pass(const Py_ssize_t[:, ::1] spec, const double[:, ::1] fparams, int cost, _Work work,
                const Py_ssize_t[:, ::1] offsets, Py_ssize_t[::1] indices):
    cdef Pass p
    p.L = spec.shape[0]
    p.spec = &spec[0, 0]
    p.fparams = &fparams[0, 0]
    p.cost = cost
    p.out_off = &offsets[0, 0]
    p.d_off = &offsets[1, 0]
    p.cols_off = &offsets[2, 0]
    p.arg_off = &offsets[3, 0]
    p.zh_off = &offsets[4, 0]
    p.st_off = &offsets[5, 0]
    p.argbuf = &indices[0]
    p.keep = NULL
    p.keep_stride = 0
    p.batch_stats = True
    p.from_grad_output = False
    p.outputs_only = False
    p.need_input = False
    return p


cdef void _gather(floating* A0, floating* T, const floating* X, const floating* targets,
                  const Py_ssize_t* labels, bint have_labels, const Py_ssize_t* rows, Py_ssize_t m,
                  Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil:
    """OUT A0 (m, n_in), T (m, n_out): the inputs and target rows of the given data rows (no
    target rows when there are neither targets nor labels: outputs only)."""
    cdef Py_ssize_t i
    for i in range(m):
        memcpy(A0 + i * n_in, X + rows[i] * n_in, n_in * sizeof(floating))
    if targets != NULL or have_labels:
        gather_targets(T, targets, labels if have_labels else NULL, rows, m, n_out)


cdef enum:
    # A batch goes through forward and backward in slices of rows whose largest im2col matrix takes
    # about this many bytes, so that it stays in cache between im2col, the GEMMs and col2im (the
    # chapter-6 network at batch 64 ran about 2x slower in one slice of 64 than in slices of 16,
    # about 1.2x faster again in slices of 8 (1 MB: its second convolution's GEMMs over 16 * 64
    # columns, a 2 MB B matrix, ran at half the speed per row of those over 8 * 64), and about 8%
    # faster again in slices of 4 (512 KB), once the columns' rows were padded (cols_stride)).
    SLICE_BYTES = 524288
    SLICE_MIN_ROWS = 4
    MAX_COPIES = 16  # slices of one batch that may run in parallel (each with its own buffers)
    # A batch's slices add their gradients in at most this many groups of consecutive slices (a
    # fixed number: the order of the sums never depends on the thread count): each group's sum
    # ((s0 + s1) + s2) + ... builds up in one buffer, which stays in cache, then the groups' sums
    # are added in order. With several threads the groups run in parallel.
    SLICE_GROUPS = 4


cdef Py_ssize_t _slice_rows(const Py_ssize_t[:, ::1] spec, Py_ssize_t itemsize):
    """Rows per forward/backward pass: from the layers and the dtype only (never the thread count);
    unlimited without convolutions, and with batch norm (its statistics are the whole batch's: a
    batch-normalised network runs every batch as one slice)."""
    cdef Py_ssize_t l, widest = 0
    for l in range(spec.shape[0]):
        if spec[l, S_BN]:
            return 1 << 30
        if spec[l, S_KIND] == KIND_CONV:
            widest = max(widest, spec[l, S_C] * spec[l, S_KH] * spec[l, S_KW] * spec[l, S_OH]
                         * spec[l, S_OW])
    if widest == 0:
        return 1 << 30
    return max(<Py_ssize_t>SLICE_MIN_ROWS, SLICE_BYTES // (widest * itemsize))


cdef Py_ssize_t _batch_slice_rows(const Py_ssize_t[:, ::1] spec, Py_ssize_t itemsize,
                                  Py_ssize_t batch):
    """Rows per slice of a training batch of `batch` rows: _slice_rows, and at least two slices
    when the batch allows (two threads share a batch), except with batch norm. An odd number of
    slices (more than one) splits unevenly between two threads: then one slice fewer, of up to
    half as many rows again, when that is enough (the chapter-6 network at batch 10: slices of
    5, 5 rather than 4, 4, 2). From the sizes only, never the thread count."""
    cdef Py_ssize_t slice_rows = min(batch, _slice_rows(spec, itemsize)), n_slices, fewer
    if batch >= 2 * SLICE_MIN_ROWS and not has_batch_norm(spec):
        slice_rows = min(slice_rows, (batch + 1) // 2)
        n_slices = (batch + slice_rows - 1) // slice_rows
        if n_slices > 1 and n_slices % 2 == 1:
            fewer = (batch + n_slices - 2) // (n_slices - 1)
            if fewer <= slice_rows + slice_rows // 2:
                slice_rows = fewer
    return slice_rows


def slice_rows(const Py_ssize_t[:, ::1] spec, Py_ssize_t itemsize, Py_ssize_t batch=0):
    """Rows per pass of this table: of a training batch of `batch` rows (_batch_slice_rows), or,
    with batch 0, the cap of every pass (_slice_rows). nnfast/_gemm.py derives the GEMM shapes
    of the passes from it."""
    if batch < 0 or itemsize not in (4, 8) or spec.shape[1] != COLUMNS:
        raise ValueError("slice_rows needs a layer table, itemsize 4 or 8 and batch >= 0")
    return _batch_slice_rows(spec, itemsize, batch) if batch else _slice_rows(spec, itemsize)


cdef void _scatter_rows(floating* out, const floating* rows_in, const Py_ssize_t* rows,
                        Py_ssize_t m, Py_ssize_t n) noexcept nogil:
    """OUT out[rows[i]] (rows of n values) = rows_in[i], for i < m."""
    cdef Py_ssize_t i
    for i in range(m):
        memcpy(out + rows[i] * n, rows_in + i * n, n * sizeof(floating))


cdef enum:
    ADD_BLOCK = 2048  # parameters per block of _add_slices (a block of each buffer stays in L1)


cdef void _add_slices(floating* G, const floating* Gs, Py_ssize_t n_params, Py_ssize_t n_slices,
                      int n_threads) noexcept nogil:
    """IN/OUT G += Gs[0] + ... + Gs[n_slices - 2] (each n_params long), each parameter's sum in
    order: ((G + Gs[0]) + Gs[1]) + ..., as when they are added one after the other. Blocks of
    parameters in parallel (one pass over G instead of one per buffer); the same bits for any
    thread count."""
    cdef Py_ssize_t block, lo, hi, k
    cdef int isa = nnf_isa()
    for block in prange((n_params + ADD_BLOCK - 1) // ADD_BLOCK, schedule="static",
                        num_threads=n_threads, use_threads_if=n_threads > 1):
        lo = block * ADD_BLOCK
        hi = min(lo + ADD_BLOCK, n_params)
        for k in range(n_slices - 1):
            add_rows(isa, G + lo, Gs + k * n_params + lo, 1, hi - lo, 0)


cdef inline void _slice_gradient(const Pass* net, Pass* local, const floating* P, floating* Gk,
                                 floating* b, Py_ssize_t zt_off, Py_ssize_t z_off,
                                 Py_ssize_t t_off, const floating* X, const floating* T0,
                                 const Py_ssize_t* lab, const Py_ssize_t* rows, Py_ssize_t sub,
                                 Py_ssize_t mm, const unsigned char* keep, Py_ssize_t n_in,
                                 Py_ssize_t n_out, floating* R, floating* grad_input,
                                 int n_threads) noexcept nogil:
    """OUT Gk: the gradient of the mm rows from position sub, on the buffers at b."""
    local.keep = keep + sub * net.keep_stride if keep != NULL else NULL
    _gather(b + local.out_off[0], b + t_off, X, T0, lab, lab != NULL, rows + sub, mm, n_in, n_out)
    _forward(local, P, R, b, zt_off, z_off, mm, False, n_threads)
    _backward(local, P, Gk, b, zt_off, b + t_off, mm, n_threads)
    if grad_input != NULL:
        _scatter_rows(grad_input, b + local.d_off[0], rows + sub, mm, n_in)


cdef inline Py_ssize_t slice_groups(Py_ssize_t n_slices) noexcept nogil:
    """Groups of consecutive slices whose gradients are summed first (_batch_gradient)."""
    return min(n_slices, <Py_ssize_t>SLICE_GROUPS)


cdef void _batch_gradient(const Pass* net, const floating* P, floating* G, floating* Gs,
                          Py_ssize_t n_params, floating* buf, Py_ssize_t stride, Py_ssize_t istride,
                          Py_ssize_t copies, Py_ssize_t zt_off, Py_ssize_t z_off, Py_ssize_t t_off,
                          const floating* X, const floating* T0, const Py_ssize_t* lab,
                          const Py_ssize_t* rows, Py_ssize_t m, const unsigned char* keep,
                          Py_ssize_t slice_rows, Py_ssize_t n_in, Py_ssize_t n_out, floating* R,
                          floating* grad_input, int n_threads) noexcept nogil:
    """OUT G: the summed gradient of the m given rows (keep: their rows of the dropout mask, or
    NULL; R: the running statistics batch norm moves, or NULL; grad_input: when not NULL, OUT
    dC/d(input) of data row rows[i] at grad_input + rows[i] * n_in), in slices of slice_rows rows.

    The slices form slice_groups(n_slices) groups of consecutive slices (group g: slices
    g*n/groups .. (g+1)*n/groups - 1). A group's gradient A_g = ((s_a + s_a+1) + s_a+2) + ...
    builds up in one buffer (G for group 0), each further slice's gradient computed in a scratch
    buffer and added; then G = ((A_0 + A_1) + A_2) + ...: the same additions, so the same bits,
    whether the groups run one after the other or in parallel. Gs: 2 * groups * n_params values
    (A_1 .., then one scratch buffer per group).

    With n_threads > 1 and 2 .. `copies` groups, the groups run in one parallel loop, each on its
    own copy of the buffers (stride / istride elements apart) with its inner loops on one thread;
    otherwise one after the other on copy 0, with the inner loops parallel."""
    cdef Py_ssize_t n_slices = (m + slice_rows - 1) // slice_rows
    cdef Py_ssize_t n_groups = slice_groups(n_slices), g, k, sub, mm
    cdef bint across = n_threads > 1 and 1 < n_groups <= copies
    cdef int isa = nnf_isa()
    cdef Pass local
    cdef floating* b
    cdef floating* A
    cdef floating* S
    if across:
        for g in prange(n_groups, schedule="static", num_threads=n_threads):
            local = net[0]
            local.argbuf = net.argbuf + g * istride
            b = buf + g * stride
            A = G if g == 0 else Gs + (g - 1) * n_params
            S = Gs + (n_groups - 1 + g) * n_params
            for k in range(g * n_slices // n_groups, (g + 1) * n_slices // n_groups):
                sub = k * slice_rows
                mm = min(slice_rows, m - sub)
                if k == g * n_slices // n_groups:
                    _slice_gradient(net, &local, P, A, b, zt_off, z_off, t_off, X, T0, lab, rows,
                                    sub, mm, keep, n_in, n_out, R, grad_input, 1)
                else:
                    _slice_gradient(net, &local, P, S, b, zt_off, z_off, t_off, X, T0, lab, rows,
                                    sub, mm, keep, n_in, n_out, R, grad_input, 1)
                    add_rows(isa, A, S, 1, n_params, 0)
        _add_slices(G, Gs, n_params, n_groups, n_threads)
        return
    local = net[0]
    A = Gs
    S = Gs + n_params
    for g in range(n_groups):
        for k in range(g * n_slices // n_groups, (g + 1) * n_slices // n_groups):
            sub = k * slice_rows
            mm = min(slice_rows, m - sub)
            if k == g * n_slices // n_groups:
                _slice_gradient(net, &local, P, G if g == 0 else A, buf, zt_off, z_off, t_off, X,
                                T0, lab, rows, sub, mm, keep, n_in, n_out, R, grad_input,
                                n_threads)
            else:
                _slice_gradient(net, &local, P, S, buf, zt_off, z_off, t_off, X, T0, lab, rows,
                                sub, mm, keep, n_in, n_out, R, grad_input, n_threads)
                add_rows(isa, G if g == 0 else A, S, 1, n_params, 0)
        if g > 0:
            add_rows(isa, G, A, 1, n_params, 0)


def check_spec(const Py_ssize_t[:, ::1] spec, const double[:, ::1] fparams, Py_ssize_t n_params,
               n_running=None):
    """Refuse a layer table whose shapes do not chain, whose geometry is impossible, whose
    parameters fall outside `params` (n_params values), or (n_running given) whose batch norm
    running statistics fall outside `running` (n_running values): no table passing it makes the
    kernels read or write out of bounds (given buffers of those lengths). See
    src_cython/engine/_table.pxd."""
    check_table(spec, fparams, n_params, -1 if n_running is None else n_running)


cdef enum:
    # train_epoch takes the GIL back to run Python's signal handlers (Ctrl-C) once this much work
    # is done since the last check (as _train.pyx): per batch, rows x the multiply-adds of one
    # row's forward pass (_row_work) plus BATCH_WORK
    SIGNAL_CHECK_WORK = 268435456
    BATCH_WORK = 8192

REGULARIZATION_CODES = {"l2": 0, "l1": 1}  # the codes of _train.REGULARIZATION_CODES


def update_segments(const Py_ssize_t[:, ::1] spec):
    """(S, 3) intp: the parameter segments (start, count, decayed) of a checked layer table (see
    src_cython/engine/_data.pxd)."""
    return _update_segments(spec)


def train_epoch(floating[::1] params, const Py_ssize_t[:, ::1] spec, const double[:, ::1] fparams,
                int cost, const floating[:, ::1] X, const floating[:, ::1] targets,
                const Py_ssize_t[::1] labels, const Py_ssize_t[::1] order, Py_ssize_t batch_size,
                double eta, double lmbda, Py_ssize_t n_train, const unsigned char[:, ::1] keep,
                int n_threads, *, int regularization=0, int optimizer=0, hyper=None,
                floating[::1] state1=None, floating[::1] state2=None, Py_ssize_t step0=0,
                floating[::1] running=None, Py_ssize_t first=0, Py_ssize_t last=-1,
                unsigned char[::1] stop=None):
    """One epoch (or the batches of positions first:last of it), in place on params, without the
    GIL; returns the number of batches taken. The batches are consecutive slices of
    order[first:last] (the last may be shorter); keep (len(order), units) holds the dropout masks,
    one row per position in order (0 rows: none). Batch norm: running (the layout of the table's
    S_ROFF columns; None or empty without batch norm) moves toward each batch's statistics; a
    batch-normalised network runs every batch as one slice (the statistics are the batch's).

    regularization: 0 L2, 1 L1 (the codes of REGULARIZATION_CODES). optimizer: a code of
    _train.OPTIMIZER_CODES; 0 (sgd) takes the book's step
        L2: W <- (1 - eta*lmbda/n) W - (eta/m) G_W;  L1: W <- W - (eta*lmbda/n) sign(W) - (eta/m) G_W
        b <- b - (eta/m) G_b (never decayed),
    the others optimizer_step (src_cython/kernels/_elementwise.pxd) with hyper = (h0, h1, h2), state1 and
    state2 (the length of params, as the optimizer needs; None otherwise), step0 = steps taken
    before; weights decayed, the other parameters not (src_cython/engine/_update.pxd).

    Interruption, always at a batch boundary: once stop[0] != 0 no further batch starts; called
    from the main thread, the loop takes the GIL back every SIGNAL_CHECK_WORK units of work and runs
    PyErr_CheckSignals(); an exception from a handler ends the loop and propagates with
    `nnfast_batches_done`, the batches taken in this call.
    """
    cdef Py_ssize_t n = X.shape[0], n_order = order.shape[0], i, start, m, L = spec.shape[0]
    cdef Py_ssize_t n_in = X.shape[1], n_out = spec[L - 1, S_F]
    check_spec(spec, fparams, params.shape[0], running.shape[0] if running is not None else 0)
    require_dense_output(spec)
    check_data(spec, n, X.shape[1], targets.shape[0], targets.shape[1], labels, cost)
    hyper_arr, last, n_states_obj = check_epoch(
        n, order, False, batch_size, n_train, n_threads, regularization, optimizer, hyper,
        state1.shape[0] if state1 is not None else -1,
        state2.shape[0] if state2 is not None else -1, params.shape[0], step0, first, last)
    cdef Py_ssize_t n_states = n_states_obj
    cdef bint use_keep = check_keep(spec, fparams, keep.shape[0], keep.shape[1], n_order)
    dtype = np.asarray(params).dtype
    segments_arr = _update_segments(spec)
    cdef const Py_ssize_t[:, ::1] segments = segments_arr
    cdef const double[::1] hyper_view = hyper_arr
    cdef Py_ssize_t batch = max(1, min(batch_size, last - first))
    cdef Py_ssize_t slice_rows = _batch_slice_rows(spec, dtype.itemsize, batch)
    cdef Py_ssize_t slices = (batch + slice_rows - 1) // slice_rows
    cdef Py_ssize_t copies = (min(slice_groups(slices), <Py_ssize_t>MAX_COPIES) if n_threads > 1
                              else 1)
    cdef _Work work = _Work(spec, slice_rows, True, dtype, copies)
    cdef floating[::1] buffer = work.buffer
    cdef Py_ssize_t[::1] indices = work.indices
    cdef const Py_ssize_t[:, ::1] offsets = work.offsets
    cdef Pass net = _pass(spec, fparams, cost, work, offsets, indices)
    grad_arr = np.zeros(params.shape[0], dtype=dtype)
    grad2_arr = np.zeros(2 * slice_groups(slices) * params.shape[0] if slices > 1 else 1,
                         dtype=dtype)
    cdef floating[::1] grad = grad_arr
    cdef floating[::1] grad2 = grad2_arr
    cdef floating* buf = &buffer[0]
    cdef floating* R = &running[0] if running is not None and running.shape[0] > 0 else NULL
    cdef floating* S1 = &state1[0] if n_states >= 1 else NULL
    cdef floating* S2 = &state2[0] if n_states == 2 else NULL
    cdef const floating* T0 = &targets[0, 0] if targets.shape[0] > 0 else NULL
    cdef const Py_ssize_t* lab = &labels[0] if labels.shape[0] > 0 else NULL
    cdef double lmbda_over_n = lmbda / <double>n_train
    cdef Py_ssize_t step = step0, n_params = params.shape[0]
    cdef unsigned char* stop_flag = &stop[0] if stop is not None and stop.shape[0] > 0 else NULL
    # only the main thread runs Python's signal handlers: elsewhere the GIL is never taken back
    cdef bint check_signals = threading.current_thread() is threading.main_thread()
    cdef bint interrupted = False
    cdef Py_ssize_t since_check = 0, work_per_row = row_work(spec)
    pending = None
    net.keep_stride = keep.shape[1]
    with nogil:
        start = first
        while start < last:
            if stop_flag != NULL and stop_flag[0] != 0:
                break
            m = min(batch_size, last - start)
            _batch_gradient(&net, &params[0], &grad[0], &grad2[0], n_params, buf,
                            work.stride, work.istride, copies, work.zt_off, work.z_off, work.t_off,
                            &X[0, 0], T0, lab, &order[start], m,
                            &keep[start, 0] if use_keep else NULL, slice_rows, n_in, n_out, R,
                            NULL, n_threads)
            step += 1
            if optimizer == OPT_SGD:
                sgd_update(&segments[0, 0], segments.shape[0], &params[0], &grad[0], eta, m,
                           lmbda_over_n, regularization, n_threads)
            else:
                optimizer_update(&segments[0, 0], segments.shape[0], &params[0], &grad[0], S1, S2,
                                 optimizer, &hyper_view[0], eta, m, lmbda_over_n, regularization,
                                 step, n_threads)
            start += m
            since_check += m * work_per_row + BATCH_WORK
            if check_signals and since_check >= SIGNAL_CHECK_WORK and start < last:
                since_check = 0
                with gil:
                    pending = pending_signal()
                    interrupted = pending is not None
                if interrupted:
                    break
    if interrupted:
        raise_interrupted(pending, step - step0)
    return step - step0


def gradient(const floating[::1] params, const Py_ssize_t[:, ::1] spec,
             const double[:, ::1] fparams, int cost, const floating[:, ::1] X,
             const floating[:, ::1] targets, const Py_ssize_t[::1] labels, floating[::1] grad,
             int n_threads, *, floating[::1] running=None, floating[:, ::1] grad_input=None,
             const floating[:, ::1] grad_output=None):
    """OUT grad (the layout of params): the summed gradient of the rows' costs (no dropout, no
    regularisation), all rows as one batch (batch norm with their statistics; running is not read
    or moved: accepted for the uniform signature).

    grad_output (n, n_out), when given, IN: dL/d(outputs) of some L; the gradient is then L's (the
    output layer's delta dL/dz from it through the output activation: g * sigma'(z), softmax's
    Jacobian-vector product a * (g - sum(g * a))), and targets/labels may be empty.
    grad_input (n, n_in), when given, OUT: dL/dX."""
    cdef Py_ssize_t n = X.shape[0], L = spec.shape[0]
    cdef Py_ssize_t n_out = spec[L - 1, S_F] * spec[L - 1, S_OH] * spec[L - 1, S_OW]
    check_spec(spec, fparams, params.shape[0], running.shape[0] if running is not None else None)
    if grad_output is None:
        require_dense_output(spec)
    check_data(spec, n, X.shape[1], targets.shape[0], targets.shape[1], labels, cost,
               grad_output is None)
    if grad_output is not None:
        _check_shape(grad_output, (n, n_out), "grad_output")
    if grad_input is not None:
        _check_shape(grad_input, (n, X.shape[1]), "grad_input")
    _check_shape(grad, (params.shape[0],), "grad")
    if n_threads < 1:
        raise ValueError("n_threads must be >= 1")
    dtype = np.asarray(params).dtype
    cdef Py_ssize_t slice_rows = min(n, _slice_rows(spec, dtype.itemsize))
    cdef _Work work = _Work(spec, slice_rows, True, dtype, 1, grad_input is not None)
    cdef floating[::1] buffer = work.buffer
    cdef Py_ssize_t[::1] indices = work.indices
    cdef const Py_ssize_t[:, ::1] offsets = work.offsets
    cdef Pass net = _pass(spec, fparams, cost, work, offsets, indices)
    net.from_grad_output = grad_output is not None
    net.need_input = grad_input is not None
    rows_arr = np.arange(n, dtype=np.intp)
    grad2_arr = np.zeros(2 * params.shape[0], dtype=dtype)
    cdef const Py_ssize_t[::1] rows = rows_arr
    cdef floating[::1] grad2 = grad2_arr
    cdef floating* buf = &buffer[0]
    cdef const floating* T0
    cdef const Py_ssize_t* lab = NULL
    if grad_output is not None:
        T0 = &grad_output[0, 0]
    else:
        T0 = &targets[0, 0] if targets.shape[0] > 0 else NULL
        lab = &labels[0] if labels.shape[0] > 0 else NULL
    cdef floating* GI = &grad_input[0, 0] if grad_input is not None else NULL
    with nogil:
        _batch_gradient(&net, &params[0], &grad[0], &grad2[0], params.shape[0], buf, work.stride,
                        work.istride, 1, work.zt_off, work.z_off, work.t_off, &X[0, 0], T0, lab,
                        &rows[0], n, NULL, slice_rows, X.shape[1], n_out, NULL, GI, n_threads)


cdef void _evaluate_chunk(const Pass* net, const floating* P, floating* R, floating* buf,
                          Py_ssize_t zt_off,
                          Py_ssize_t z_off, Py_ssize_t t_off, const floating* X, const floating* T0,
                          const Py_ssize_t* lab, const Py_ssize_t* rows, Py_ssize_t start,
                          Py_ssize_t m, Py_ssize_t n_in, Py_ssize_t n_out, floating* out,
                          double* costs, unsigned char* hits, int n_threads) noexcept nogil:
    """OUT costs, hits (and out, unless NULL) of rows start .. start + m - 1."""
    cdef Py_ssize_t i, truth
    cdef floating* A = buf + net.out_off[net.L]
    cdef floating* T = buf + t_off
    _gather(buf + net.out_off[0], T, X, T0, lab, lab != NULL, rows + start, m, n_in, n_out)
    _forward(net, P, R, buf, zt_off, z_off, m, True, n_threads)
    if out != NULL:
        memcpy(out + start * n_out, A, m * n_out * sizeof(floating))
    if net.outputs_only:
        for i in range(m):
            costs[start + i] = 0
            hits[start + i] = 0
        return
    for i in range(m):
        costs[start + i] = cost_row(buf + z_off + i * n_out, A + i * n_out, T + i * n_out, n_out,
                                    net.cost)
        truth = lab[start + i] if lab != NULL else target_class(T + i * n_out, n_out)
        hits[start + i] = predicted_class(A + i * n_out, n_out) == truth


def evaluate(const floating[::1] params, const Py_ssize_t[:, ::1] spec,
             const double[:, ::1] fparams, int cost, const floating[:, ::1] X,
             const floating[:, ::1] targets, const Py_ssize_t[::1] labels, Py_ssize_t chunk,
             int n_threads, floating[:, ::1] out=None, *, floating[::1] running=None,
             bint batch_stats=False, bint outputs_only=False):
    """(summed cost, rows classified correctly) over the rows of X, `chunk` rows per pass;
    with `out` (n, outputs), also the outputs. With n_threads > 1 the chunks run in one parallel
    loop (a copy of the buffers per thread); the costs are summed in row order either way.
    Batch norm with the running statistics `running`, or (batch_stats: training mode, for
    gradient checks; all rows in one chunk) with the rows' own, leaving running alone.
    outputs_only: `out` only (no cost, no targets: any last layer); returns (0.0, 0)."""
    cdef Py_ssize_t n = X.shape[0], L = spec.shape[0], k, i, t, correct = 0
    cdef Py_ssize_t n_out = spec[L - 1, S_F] * spec[L - 1, S_OH] * spec[L - 1, S_OW]
    cdef Py_ssize_t n_in = X.shape[1]
    cdef double total = 0
    check_spec(spec, fparams, params.shape[0],
               None if batch_stats else (running.shape[0] if running is not None else 0))
    if not outputs_only:
        require_dense_output(spec)
    elif out is None:
        raise ValueError("outputs_only needs out")
    check_data(spec, n, n_in, targets.shape[0], targets.shape[1], labels, cost, not outputs_only)
    if chunk < 1 or n_threads < 1:
        raise ValueError("chunk and n_threads must be >= 1")
    if out is not None:
        _check_shape(out, (n, n_out), "out")
    if batch_stats and chunk < n:
        raise ValueError("batch statistics need all the rows in one chunk")
    chunk = min(chunk, n, _slice_rows(spec, np.asarray(params).dtype.itemsize))
    cdef Py_ssize_t n_chunks = (n + chunk - 1) // chunk
    cdef Py_ssize_t copies = min(n_threads, n_chunks) if n_threads > 1 else 1
    cdef _Work work = _Work(spec, chunk, batch_stats, np.asarray(params).dtype, copies)
    cdef floating[::1] buffer = work.buffer
    cdef Py_ssize_t[::1] indices = work.indices
    cdef const Py_ssize_t[:, ::1] offsets = work.offsets
    cdef Pass net = _pass(spec, fparams, cost, work, offsets, indices)
    net.batch_stats = batch_stats
    cdef floating* R = (&running[0] if running is not None and running.shape[0] > 0
                        and not batch_stats else NULL)
    cdef Pass local
    rows_arr = np.arange(n, dtype=np.intp)
    costs_arr = np.empty(n, dtype=np.float64)
    hits_arr = np.empty(n, dtype=np.uint8)
    cdef const Py_ssize_t[::1] rows = rows_arr
    cdef double[::1] costs = costs_arr
    cdef unsigned char[::1] hits = hits_arr
    cdef floating* buf = &buffer[0]
    cdef floating* O = &out[0, 0] if out is not None else NULL
    cdef const floating* T0 = &targets[0, 0] if targets.shape[0] > 0 and not outputs_only else NULL
    cdef const Py_ssize_t* lab = &labels[0] if labels.shape[0] > 0 and not outputs_only else NULL
    net.outputs_only = outputs_only
    with nogil:
        if copies > 1:
            for k in prange(n_chunks, schedule="static", num_threads=copies):
                t = threadid()
                local = net
                local.argbuf = net.argbuf + t * work.istride
                _evaluate_chunk(&local, &params[0], R, buf + t * work.stride, work.zt_off,
                                work.z_off, work.t_off, &X[0, 0], T0, lab, &rows[0], k * chunk,
                                min(chunk, n - k * chunk), n_in, n_out, O, &costs[0], &hits[0], 1)
        else:
            for k in range(n_chunks):
                _evaluate_chunk(&net, &params[0], R, buf, work.zt_off, work.z_off, work.t_off,
                                &X[0, 0], T0, lab, &rows[0], k * chunk, min(chunk, n - k * chunk),
                                n_in, n_out, O, &costs[0], &hits[0], n_threads)
        for i in range(n):
            total += costs[i]
            correct += hits[i]
    return total, correct
