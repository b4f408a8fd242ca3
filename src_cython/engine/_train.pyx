"""The dense loop: the fast path for plain stacks of Dense layers (Dropout between them), one call
per epoch, one call per predict/evaluate/gradient, without the GIL.

It takes the same layer table as the layer engine (src_cython/engine/_conv.pyx): `spec` (L, SPEC_COLUMNS)
and `fparams` (L, FPARAM_COLUMNS) (the columns: src_cython/layers/_layers.pxd, by name
_conv.TABLE_COLUMNS), the flat `params` at the table's offsets, batch norm's `running` statistics
at its S_ROFF columns, the dropout masks `keep` with each Dropout row's units at its S_DCOL column.
Every entry point checks the table (check_table), reads it as a dense plan (dense_plan in
src_cython/engine/_dense.pxd: Dense rows, a Dropout row after a Dense row, Flatten rows; anything else is
a ValueError: the layer engine runs it), and checks the data (src_cython/engine/_data.pxd), before the GIL
is released. What it does beyond the layer engine: the fused SGD update GEMMs
(W <- beta W - step D^T A in one GEMM), aligned consecutive rows of X used in place, the
transposed inference path. Every GEMM runs the kernel chosen for its shape (_matmul.pxd).
"""

import threading

import numpy as np

from nnfast._aligned import aligned_zeros

from cython cimport floating
from libc.string cimport memcpy

from _data cimport (check_data, check_epoch, check_keep, gather_targets, pending_signal,
                   raise_interrupted, update_segments)
from _update cimport optimizer_update
from _table cimport check_table, require_dense_output
from _matmul cimport (N_GEMM_KERNELS, nnf_gemm_put, nnf_gemm_clear, nnf_gemm_fallback,
                      nnf_gemm_own_isa, nnf_gemm_entries, nnf_gemm_missed, nnf_gemm_last_miss)
from _elementwise cimport (
    ACT_SOFTMAX, activate, bias_activation, cost_row, predicted_class, softmax_row, OPT_SGD,
    OPT_MOMENTUM, OPT_NESTEROV, OPT_ADAGRAD, OPT_RMSPROP, OPT_ADAM, nnf_isa, NNF_ISA_AVX2,
    transpose_into,
)
from _layers cimport S_F
from _dense cimport (Layout, Workspace, Dropout, dense_plan, make_layout, make_dropout,
                     dense_batch, forward_chunk_batch_stats, forward_chunk_t, REG_L1, REG_L2,
                     P_SIZES, P_PIECES, P_BN, Q_SCALE)

nnf_isa()  # detect the instruction set of the vectorized kernels now, before any thread runs one

include "_gemm_registry.pxi"

REGULARIZATION_CODES = {"l2": REG_L2, "l1": REG_L1}
OPTIMIZER_CODES = {"sgd": OPT_SGD, "momentum": OPT_MOMENTUM, "nesterov": OPT_NESTEROV,
                   "adagrad": OPT_ADAGRAD, "rmsprop": OPT_RMSPROP, "adam": OPT_ADAM}
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1, "adam": 2}

cdef enum:
    # train_epoch takes the GIL back to run Python's signal handlers (Ctrl-C) once this much work
    # is done since the last check: per batch, rows x parameters (~3 multiply-adds each) plus
    # BATCH_WORK for the batch's fixed costs. 2**28 is ~30 ms of one core on [784, 30, 10] with
    # batches of 10 (~10 ms for tiny networks): a check (~80 ns) costs nothing measurable, and
    # when another Python thread holds the GIL, its wait (up to sys.getswitchinterval(), 5 ms)
    # stays a small fraction; even a 10x slower machine notices Ctrl-C well within a second.
    SIGNAL_CHECK_WORK = 268435456
    BATCH_WORK = 8192



cdef tuple _plan(const Py_ssize_t[:, ::1] spec, const double[:, ::1] fparams, Py_ssize_t n_params,
                 Py_ssize_t n_running):
    """(plan, fplan) of a table the dense loop runs; ValueError for any other (check_table first:
    shapes chain, parameters and running statistics inside their arrays)."""
    check_table(spec, fparams, n_params, n_running)
    require_dense_output(spec)
    return dense_plan(spec, fparams)


cdef Dropout _no_dropout(object fplan, const double[:, ::1] fplan_view, object plan):
    """No unit drops (gradient, or no keep mask): the scales 0 (the buffers then hold no copies)."""
    fplan[Q_SCALE, :] = 0
    return make_dropout(plan, fplan_view, 0)


cdef class _BatchBuffers:
    """The workspace of dense_batch for batches of up to `rows` examples: one buffer and its offsets."""
    cdef object buffer
    cdef object offsets  # (7, L + 1): a, in, d, zp, dp, zh, st
    cdef Py_ssize_t scratch_off, targets_off

    def __init__(self, const Py_ssize_t[::1] sizes, const Py_ssize_t[::1] pieces,
                 const Py_ssize_t[::1] batch_norm, Py_ssize_t rows, const double[::1] scale,
                 object dtype):
        cdef Py_ssize_t L = sizes.shape[0] - 1, l, total = 0, widest = 0
        offsets = np.zeros((7, L + 1), dtype=np.intp)
        for l in range(L + 1):
            offsets[0, l] = offsets[1, l] = total                      # A_l
            total += rows * sizes[l]
            widest = max(widest, sizes[l] * (pieces[l - 1] if l > 0 else 1))
        for l in range(1, L):
            if scale[l] != 0:                                          # A_l after dropout
                offsets[1, l] = total
                total += rows * sizes[l]
        for l in range(1, L + 1):                                      # D_l
            offsets[2, l] = total
            total += rows * sizes[l]
        for l in range(1, L + 1):
            if pieces[l - 1] > 1:                                      # maxout pieces: z, delta
                offsets[3, l] = total
                total += rows * sizes[l] * pieces[l - 1]
                offsets[4, l] = total
                total += rows * sizes[l] * pieces[l - 1]
            if batch_norm[l - 1]:                                      # batch norm: zhat, stats
                offsets[5, l] = total
                total += rows * sizes[l]
                offsets[6, l] = total
                total += 4 * sizes[l]
        self.targets_off = total
        total += rows * sizes[L]
        self.scratch_off = total
        total += widest
        self.buffer = aligned_zeros(total, dtype)  # 64-byte aligned: see nnfast/_aligned.py
        self.offsets = offsets


cdef Workspace _workspace(const Py_ssize_t[:, ::1] offsets):
    cdef Workspace ws
    ws.a_off = &offsets[0, 0]
    ws.in_off = &offsets[1, 0]
    ws.d_off = &offsets[2, 0]
    ws.zp_off = &offsets[3, 0]
    ws.dp_off = &offsets[4, 0]
    ws.zh_off = &offsets[5, 0]
    ws.st_off = &offsets[6, 0]
    return ws



def train_epoch(floating[::1] params, const Py_ssize_t[:, ::1] spec, const double[:, ::1] fparams,
                floating[::1] running, int cost, const floating[:, ::1] X,
                const floating[:, ::1] targets, const Py_ssize_t[::1] labels,
                const Py_ssize_t[::1] order, Py_ssize_t batch_size, double eta, double lmbda,
                Py_ssize_t n_train, const unsigned char[:, ::1] keep, int n_threads, *,
                int regularization=0, int optimizer=0, hyper=None, floating[::1] state1=None,
                floating[::1] state2=None, Py_ssize_t step0=0, Py_ssize_t first=0,
                Py_ssize_t last=-1, unsigned char[::1] stop=None):
    """One epoch (or the batches of positions first:last of it) of mini-batch training, in place on
    params (and the optimizer's state), without the GIL. Returns the number of batches taken.

    IN  X (n, n_in); targets (n, n_out) or, when labels (n,) is non-empty, targets is (0, n_out)
        and the labels give one-hot rows; order (n,): the permutation of rows for this epoch;
        mini-batches are its consecutive slices of batch_size, the last one possibly shorter.
        Dropout: keep (n, columns) uint8, row r for the r-th example of the epoch, a Dropout
        row's units at its S_DCOL column, kept units scaled by its F_SCALE (keep (0, 0): no unit
        drops). Optimizer (as _conv.train_epoch): 0 (sgd) takes the book's fused step (see
        dense_batch); the others compute the batch gradient, then optimizer_step with
        hyper = (h0, h1, h2) and state1/state2 (the length of params, as the optimizer needs);
        step0 = steps taken before. first, last: positions in `order` (first a multiple of
        batch_size; last -1: the end). Batch norm: running moves toward the batches' statistics.
    OUT params, updated batch by batch (see dense_batch); state1, state2; running.

    Interruption, always at a mini-batch boundary (no batch is ever half applied):
      - stop (optional, 1 value): the loop ends before the next batch once stop[0] != 0 (a Python
        signal handler may set it; the return value then counts the batches that were taken);
      - called from the main thread, the loop takes the GIL back every SIGNAL_CHECK_WORK units of
        work (after every batch when batches are bigger) and runs PyErr_CheckSignals(); if a
        handler raises (Ctrl-C's KeyboardInterrupt), the loop ends and that exception propagates
        with the attribute `nnfast_batches_done`, the number of batches taken in this call.
    """
    plan_arr, fplan_arr = _plan(spec, fparams, params.shape[0], running.shape[0])
    cdef const Py_ssize_t[:, ::1] plan = plan_arr
    cdef const double[:, ::1] fplan = fplan_arr
    cdef Py_ssize_t L = plan.shape[1] - 1
    cdef Py_ssize_t n = X.shape[0], n_in = plan[P_SIZES, 0], n_out = plan[P_SIZES, L], i, start, m
    check_data(spec, n, X.shape[1], targets.shape[0], targets.shape[1], labels, cost)
    cdef bint any_dropout = check_keep(spec, fparams, keep.shape[0], keep.shape[1], n)
    hyper_arr, last, n_states_obj = check_epoch(
        n, order, True, batch_size, n_train, n_threads, regularization, optimizer, hyper,
        state1.shape[0] if state1 is not None else -1,
        state2.shape[0] if state2 is not None else -1, params.shape[0], step0, first, last)
    cdef Py_ssize_t n_states = n_states_obj
    batch_size = min(batch_size, n)
    dtype = np.float32 if floating is float else np.float64
    grad_arr = np.empty(params.shape[0] if optimizer != OPT_SGD else 1, dtype=dtype)
    segments_arr = update_segments(spec)
    cdef const Py_ssize_t[:, ::1] segments = segments_arr
    cdef const double[::1] hyper_view = hyper_arr
    cdef floating[::1] grad = grad_arr
    cdef floating* G = &grad[0] if optimizer != OPT_SGD else NULL
    cdef floating* S1 = &state1[0] if n_states >= 1 else NULL
    cdef floating* S2 = &state2[0] if n_states == 2 else NULL
    cdef Py_ssize_t step = step0

    cdef Layout net = make_layout(plan, fplan, cost)
    cdef floating* R = &running[0] if running.shape[0] > 0 else NULL
    cdef Dropout drop = (make_dropout(plan, fplan, keep.shape[1]) if any_dropout
                         else _no_dropout(fplan_arr, fplan, plan))
    cdef _BatchBuffers buffers = _BatchBuffers(plan_arr[P_SIZES], plan_arr[P_PIECES],
                                               plan_arr[P_BN], batch_size, fplan_arr[Q_SCALE],
                                               dtype)
    cdef const Py_ssize_t[:, ::1] offsets = buffers.offsets
    cdef Workspace ws = _workspace(offsets)
    cdef floating[::1] work = buffers.buffer
    cdef floating* buf = &work[0]
    cdef floating* T = buf + buffers.targets_off
    cdef floating* scratch = buf + buffers.scratch_off
    cdef const floating* x0 = &X[0, 0]
    cdef const floating* T0 = &targets[0, 0] if targets.shape[0] > 0 else NULL
    cdef const Py_ssize_t* lab = &labels[0] if labels.shape[0] > 0 else NULL
    cdef const floating* A0
    cdef bint consecutive
    cdef bint in_place = (<size_t>x0) % 64 == 0 and (n_in * sizeof(floating)) % 64 == 0
    cdef double lmbda_over_n = lmbda / <double>n_train
    cdef unsigned char* stop_flag = &stop[0] if stop is not None and stop.shape[0] > 0 else NULL
    # only the main thread runs Python's signal handlers: elsewhere the GIL is never taken back
    cdef bint check_signals = threading.current_thread() is threading.main_thread()
    cdef bint interrupted = False
    cdef Py_ssize_t since_check = 0, n_params = params.shape[0]
    pending = None

    start = first
    with nogil:
        while start < last:
            if stop_flag != NULL and stop_flag[0] != 0:
                break
            m = min(batch_size, last - start)
            # gather the batch into the aligned buffer (consecutive rows of an aligned X are used
            # in place; misaligned vector loads would cost more than the copy)
            consecutive = True
            for i in range(1, m):
                if order[start + i] != order[start] + i:
                    consecutive = False
                    break
            if consecutive and in_place:
                A0 = x0 + order[start] * n_in
            else:
                A0 = buf + ws.a_off[0]
                for i in range(m):
                    memcpy(buf + ws.a_off[0] + i * n_in, x0 + order[start + i] * n_in,
                           n_in * sizeof(floating))
            gather_targets(T, T0, lab, &order[start], m, n_out)
            if any_dropout:
                drop.keep = &keep[start, 0]
            dense_batch(&net, &drop, &ws, &params[0], G, R, A0, T, m, buf, scratch, eta,
                        lmbda_over_n, regularization, n_threads)
            step += 1
            if G != NULL:
                optimizer_update(&segments[0, 0], segments.shape[0], &params[0], G, S1, S2,
                                 optimizer, &hyper_view[0], eta, m, lmbda_over_n, regularization,
                                 step, n_threads)
            start += m
            since_check += m * n_params + BATCH_WORK
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
             const double[:, ::1] fparams, const floating[::1] running, int cost,
             const floating[:, ::1] X, const floating[:, ::1] targets,
             const Py_ssize_t[::1] labels, floating[::1] grad, int n_threads):
    """OUT grad (the layout of params): the gradient of the summed cost of all rows of X (BP1-BP4),
    by the same code as a training step, without dropout or regularisation (batch norm uses the
    statistics of all the rows, as one batch, and leaves the running statistics alone)."""
    plan_arr, fplan_arr = _plan(spec, fparams, params.shape[0], running.shape[0])
    cdef const Py_ssize_t[:, ::1] plan = plan_arr
    cdef const double[:, ::1] fplan = fplan_arr
    cdef Py_ssize_t L = plan.shape[1] - 1, n = X.shape[0]
    check_data(spec, n, X.shape[1], targets.shape[0], targets.shape[1], labels, cost)
    if grad.shape[0] != params.shape[0] or n_threads < 1:
        raise ValueError("grad must have the length of params; n_threads >= 1")
    cdef Layout net = make_layout(plan, fplan, cost)
    cdef Dropout drop = _no_dropout(fplan_arr, fplan, plan)
    cdef _BatchBuffers buffers = _BatchBuffers(plan_arr[P_SIZES], plan_arr[P_PIECES],
                                               plan_arr[P_BN], n, fplan_arr[Q_SCALE],
                                               np.float32 if floating is float else np.float64)
    cdef const Py_ssize_t[:, ::1] offsets = buffers.offsets
    cdef Workspace ws = _workspace(offsets)
    cdef floating[::1] work = buffers.buffer
    rows_arr = np.arange(n, dtype=np.intp)
    cdef const Py_ssize_t[::1] rows = rows_arr
    cdef floating* buf = &work[0]
    cdef floating* T = buf + buffers.targets_off
    cdef floating* scratch = buf + buffers.scratch_off
    cdef const floating* T0 = &targets[0, 0] if targets.shape[0] > 0 else NULL
    cdef const Py_ssize_t* lab = &labels[0] if labels.shape[0] > 0 else NULL
    with nogil:
        gather_targets(T, T0, lab, &rows[0], n, plan[P_SIZES, L])
        # P is only read when G is given
        dense_batch(&net, &drop, &ws, <floating*>&params[0], &grad[0], NULL, &X[0, 0], T, n,
                    buf, scratch, 0.0, 0.0, REG_L2, n_threads)


cdef tuple _chunk_buffers(const Py_ssize_t[::1] sizes, const Py_ssize_t[::1] pieces,
                          Py_ssize_t chunk, Py_ssize_t n, int n_threads, object dtype):
    """(scratch, half, pieces, chunk) for _forward_chunk over n rows: two (chunk, widest hidden)
    halves, (chunk, widest maxout pieces), batch norm's (chunk + 2, widest hidden), then (chunk, n_out)
    three times; chunk checked, capped at n."""
    cdef Py_ssize_t l, widest = 1, widest_pieces = 0
    if chunk < 1 or n_threads < 1:
        raise ValueError("chunk and n_threads must be >= 1")
    chunk = min(chunk, n)
    for l in range(1, sizes.shape[0] - 1):
        widest = max(widest, sizes[l])
        if pieces[l - 1] > 1:
            widest_pieces = max(widest_pieces, sizes[l] * pieces[l - 1])
    scratch = np.empty(2 * chunk * widest + chunk * widest_pieces + (chunk + 2) * widest
                       + 3 * chunk * sizes[sizes.shape[0] - 1], dtype=dtype)
    return scratch, chunk * widest, chunk * widest_pieces, chunk



def feedforward(const floating[::1] params, const Py_ssize_t[:, ::1] spec,
                const double[:, ::1] fparams, const floating[::1] running,
                const floating[:, ::1] X, floating[:, ::1] out, Py_ssize_t chunk, int n_threads):
    """OUT out (n, n_out) = the network's output for every row of X (inference: batch norm with the
    running statistics; no unit drops), in chunks of rows, no GIL. Raises FloatingPointError when
    X (or the weights) hold a NaN or an infinity (see forward_chunk_t); the caller says which."""
    plan_arr, fplan_arr = _plan(spec, fparams, params.shape[0], running.shape[0])
    cdef const Py_ssize_t[:, ::1] plan = plan_arr
    cdef const double[:, ::1] fplan = fplan_arr
    cdef Py_ssize_t L = plan.shape[1] - 1
    cdef Py_ssize_t n = X.shape[0], n_out = plan[P_SIZES, L], start, m
    if n < 1 or X.shape[1] != plan[P_SIZES, 0] or out.shape[0] != n or out.shape[1] != n_out:
        raise ValueError("feedforward: X must be (n >= 1, n_in) and out (n, n_out)")
    work_arr, half, piece_size, chunk = _chunk_buffers(
        plan_arr[P_SIZES], plan_arr[P_PIECES], chunk, n, n_threads,
        np.float32 if floating is float else np.float64)
    cdef Layout net = make_layout(plan, fplan, 0)
    cdef floating[::1] work = work_arr
    cdef Py_ssize_t h = half
    cdef floating* buf = &work[0]
    cdef floating* pieces_buf = buf + 2 * h
    cdef floating* bn_buf = pieces_buf + <Py_ssize_t>piece_size
    cdef floating* last_t = bn_buf + (chunk + 2) * (h // chunk)
    cdef bint nonfinite = False
    cdef const floating* P = &params[0]
    cdef const floating* R = &running[0] if running.shape[0] > 0 else NULL
    start = 0
    with nogil:
        while start < n:
            m = min(chunk, n - start)
            forward_chunk_t(&net, P, R, &X[start, 0], m, buf, buf + h, pieces_buf, last_t,
                            &nonfinite, n_threads)
            transpose_into(&out[start, 0], last_t, m, n_out)
            bias_activation(&out[start, 0], P + net.b_off[L - 1], m, n_out, net.acts[L - 1],
                            <floating>net.act_params[L - 1], n_threads)
            start += m
    if nonfinite:
        raise FloatingPointError("the first layer's output is not finite")


def evaluate(const floating[::1] params, const Py_ssize_t[:, ::1] spec,
             const double[:, ::1] fparams, const floating[::1] running, int cost,
             const floating[:, ::1] X, const floating[:, ::1] targets,
             const Py_ssize_t[::1] labels, Py_ssize_t chunk, int n_threads,
             bint batch_stats=False):
    """(sum of the per-example costs, number of correctly classified rows), in one pass, no GIL.

    Targets as in train_epoch. Correct: predicted class == label, or == the class of the target row
    (argmax, or > 0.5 with one output unit). The cost is summed in double, row after row.
    batch_stats: batch norm with the statistics of all the rows (training mode; for gradient
    checks), instead of the running ones.
    """
    plan_arr, fplan_arr = _plan(spec, fparams, params.shape[0], running.shape[0])
    cdef const Py_ssize_t[:, ::1] plan = plan_arr
    cdef const double[:, ::1] fplan = fplan_arr
    cdef Py_ssize_t L = plan.shape[1] - 1
    cdef Py_ssize_t n = X.shape[0], n_out = plan[P_SIZES, L], start, m, i, j, label
    check_data(spec, n, X.shape[1], targets.shape[0], targets.shape[1], labels, cost)
    dtype = np.float32 if floating is float else np.float64
    work_arr, half, piece_size, chunk = _chunk_buffers(plan_arr[P_SIZES], plan_arr[P_PIECES],
                                                       chunk, n, n_threads, dtype)
    if batch_stats and chunk < n:
        raise ValueError("batch statistics need all the rows in one chunk")
    cdef Layout net = make_layout(plan, fplan, cost)
    cdef floating[::1] work = work_arr
    cdef Py_ssize_t h = half, hp = piece_size
    cdef floating* buf = &work[0]
    cdef floating* pieces_buf = buf + 2 * h
    cdef floating* bn_buf = pieces_buf + hp
    cdef floating* Z = bn_buf + (chunk + 2) * (h // chunk)  # (chunk, n_out) pre-activations
    cdef floating* A = Z + chunk * n_out       # (chunk, n_out) outputs
    cdef floating* last_t = A + chunk * n_out  # (n_out, chunk) the transposed path's output
    cdef bint nonfinite = False
    cdef const floating* P = &params[0]
    cdef const floating* R = &running[0] if running.shape[0] > 0 else NULL
    cdef const floating* bias = P + net.b_off[L - 1]
    cdef int out_act = net.acts[L - 1]
    cdef floating out_param = <floating>net.act_params[L - 1]
    cdef const floating* T0 = &targets[0, 0] if targets.shape[0] > 0 else NULL
    cdef const Py_ssize_t* lab = &labels[0] if labels.shape[0] > 0 else NULL
    cdef double total = 0
    cdef Py_ssize_t correct = 0
    t_arr = np.empty(chunk * n_out, dtype=dtype)
    rows_arr = np.arange(n, dtype=np.intp)
    cdef floating[::1] t_view = t_arr
    cdef const Py_ssize_t[::1] rows = rows_arr
    cdef floating* T = &t_view[0]
    cdef floating* z_row
    cdef floating* a_row
    start = 0
    with nogil:
        while start < n:
            m = min(chunk, n - start)
            if batch_stats:
                forward_chunk_batch_stats(&net, P, &X[start, 0], m, buf, buf + h, pieces_buf,
                                          bn_buf, Z, n_threads)
            else:
                forward_chunk_t(&net, P, R, &X[start, 0], m, buf, buf + h, pieces_buf, last_t,
                                &nonfinite, n_threads)
                transpose_into(Z, last_t, m, n_out)
            gather_targets(T, T0, lab, &rows[start], m, n_out)
            for i in range(m):
                z_row = Z + i * n_out
                a_row = A + i * n_out
                for j in range(n_out):
                    z_row[j] = z_row[j] + bias[j]
                    a_row[j] = z_row[j] if out_act == ACT_SOFTMAX else activate(z_row[j], out_act,
                                                                                out_param)
                if out_act == ACT_SOFTMAX:
                    softmax_row(a_row, n_out)
                label = lab[start + i] if lab != NULL else predicted_class(T + i * n_out, n_out)
                total += cost_row(z_row, a_row, T + i * n_out, n_out, cost)
                if predicted_class(a_row, n_out) == label:
                    correct += 1
            start += m
    if nonfinite:
        raise FloatingPointError("the first layer's output is not finite")
    return total, correct
