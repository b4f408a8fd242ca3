"""The compiled training loop: one call per epoch, one call per predict/evaluate/gradient.

Parameters live in one flat vector `params` in the network's dtype. For layer l (0-based, mapping
sizes[l] -> sizes[l+1]) it holds W_l, a row-major (sizes[l+1], sizes[l]) matrix, followed by b_l
(sizes[l+1],); layers follow each other. nnfast/network.py builds the same layout and hands out
views into it as `net.weights` / `net.biases`.

Every public function here is called by nnfast/_backend.py with arguments it has already validated
(shapes, dtypes, contiguity, ranges). The checks below repeat the structural ones before the GIL is
released, so a wrong call from elsewhere raises instead of reading out of bounds.
"""

import threading

import numpy as np

from nnfast._aligned import aligned_zeros

from cpython.exc cimport PyErr_CheckSignals
from cython cimport floating
from libc.math cimport pow
from libc.string cimport memcpy
from cython.parallel cimport prange

from _checks cimport check_targets
from _update cimport optimizer_segment
from _blas cimport (gemm_split, NoTrans, Trans, GemmChoice, matmul_nt, matmul_xn,
                    SPLIT_BLOCK_FLOPS)
from _elementwise cimport (
    COST_HINGE,
    ACT_MAXOUT, ACT_SOFTMAX, activate, apply_mask, bias_activation, bias_update, column_sums,
    cost_row, l1_shrink, maxout_forward, maxout_route, multiply_derivative, output_delta,
    predicted_class, softmax_row, target_row_from_label, optimizer_step, OPT_SGD, OPT_MOMENTUM,
    OPT_NESTEROV, OPT_ADAGRAD, OPT_RMSPROP, OPT_ADAM, nnf_isa, NNF_ISA_AVX2, batchnorm_train, batchnorm_backward, bias_activation_t, maxout_forward_t, batchnorm_infer_t, transpose_into,
)

nnf_isa()  # detect the instruction set of the vectorized kernels now, before any thread runs one

cdef enum:
    REG_L2 = 0
    REG_L1 = 1

REGULARIZATION_CODES = {"l2": REG_L2, "l1": REG_L1}
OPTIMIZER_CODES = {"sgd": OPT_SGD, "momentum": OPT_MOMENTUM, "nesterov": OPT_NESTEROV,
                   "adagrad": OPT_ADAGRAD, "rmsprop": OPT_RMSPROP, "adam": OPT_ADAM}
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "rmsprop": 1, "adam": 2}

# Which training GEMMs run on our kernels (_blas.pxd: own_gemm): m*n*k in (OWN_GEMM_ABOVE,
# OWN_GEMM_UP_TO], from AVX2 up (the SSE2 instance is slower than BLAS). gemm_config() changes it.
OWN_GEMM_ABOVE = 1.0e6      # OpenBLAS's small-matrix kernels handle up to this well
# gemm_split cuts a GEMM of 2*m*n*k >= 2*SPLIT_BLOCK_FLOPS into blocks for the threads: BLAS
# keeps those, so our range ends where its single-call range does
OWN_GEMM_UP_TO = float(SPLIT_BLOCK_FLOPS)
cdef GemmChoice _gemm_choice
_gemm_choice.own_above = OWN_GEMM_ABOVE
_gemm_choice.own_up_to = OWN_GEMM_UP_TO if nnf_isa() >= NNF_ISA_AVX2 else 0.0
_gemm_choice.isa = -1


def gemm_config(own_above=None, own_up_to=None, isa=None):
    """The GEMM choice of the training loop, (own_above, own_up_to, isa): GEMMs with m*n*k in
    (own_above, own_up_to] run on our kernels (src_cython/_gemm_impl.h), the others on BLAS
    (gemm_split); isa -1 picks the best instance this CPU runs (0 SSE2, 1 AVX2, 2 AVX-512, lowered
    to what it runs). Arguments given are set first. For tests and measurements: results differ
    only by rounding (another summation order), and never with the thread count."""
    if own_above is not None:
        if not own_above >= 0:
            raise ValueError("own_above must be >= 0")
        _gemm_choice.own_above = own_above
    if own_up_to is not None:
        if not own_up_to >= 0:
            raise ValueError("own_up_to must be >= 0")
        _gemm_choice.own_up_to = own_up_to
    if isa is not None:
        if isa not in (-1, 0, 1, 2):
            raise ValueError("isa must be -1, 0, 1 or 2")
        _gemm_choice.isa = isa
    return _gemm_choice.own_above, _gemm_choice.own_up_to, _gemm_choice.isa


cdef enum:
    # train_epoch takes the GIL back to run Python's signal handlers (Ctrl-C) once this much work
    # is done since the last check: per batch, rows x parameters (~3 multiply-adds each) plus
    # BATCH_WORK for the batch's fixed costs. 2**28 is ~30 ms of one core on [784, 30, 10] with
    # batches of 10 (~10 ms for tiny networks): a check (~80 ns) costs nothing measurable, and
    # when another Python thread holds the GIL, its wait (up to sys.getswitchinterval(), 5 ms)
    # stays a small fraction; even a 10x slower machine notices Ctrl-C well within a second.
    SIGNAL_CHECK_WORK = 268435456
    BATCH_WORK = 8192


cdef void _optimizer_update(const Layout* net, floating* P, const floating* G, floating* S1,
                            floating* S2, int optimizer, const double* hyper, double eta,
                            Py_ssize_t m, double lmbda_over_n, int regularization,
                            Py_ssize_t step, int n_threads) noexcept nogil:
    """One optimizer step on every parameter (weights decayed, biases not), from the summed
    gradient G of a batch of m examples; step = 1, 2, ... counts the steps taken (Adam)."""
    cdef Py_ssize_t l
    cdef double c1 = 1.0 - pow(hyper[0], <double>step), c2 = 1.0 - pow(hyper[1], <double>step)
    for l in range(net.L):
        # the weights (decayed), then the biases (not; and gamma_l, beta_l with batch norm)
        optimizer_segment(P, G, S1, S2, net.w_off[l], net.b_off[l] - net.w_off[l],
                          <floating>lmbda_over_n, optimizer, hyper, eta, m, regularization, c1,
                          c2, n_threads)
        optimizer_segment(P, G, S1, S2, net.b_off[l], net.e_off[l] - net.b_off[l], <floating>0,
                          optimizer, hyper, eta, m, regularization, c1, c2, n_threads)


ctypedef struct Layout:
    Py_ssize_t L                 # number of weight layers
    const Py_ssize_t* sizes      # (L + 1,) units per layer, input first
    const Py_ssize_t* pieces     # (L,) linear pieces per unit of layer l's output: k for maxout, else 1
    const Py_ssize_t* w_off      # (L,) offset of W_l in params
    const Py_ssize_t* b_off      # (L,) offset of b_l in params
    const int* acts              # (L,) activation code of layer l's output
    const double* act_params     # (L,) its parameter (leaky slope, ELU alpha; else unused)
    const Py_ssize_t* bn         # (L,) 1 where layer l's output is batch-normalised (hidden only)
    const Py_ssize_t* g_off      # (L,) offset of gamma_l in params (beta_l follows); after b_l
    const Py_ssize_t* e_off      # (L,) end of layer l's parameters
    const Py_ssize_t* r_off      # (L,) offset of layer l's running mean (variance follows)
    double bn_eps
    double bn_momentum
    int cost


ctypedef struct Workspace:
    # offsets into the batch buffer, per layer l = 0 .. L (an offset is only used where it applies)
    const Py_ssize_t* a_off      # A_l, the outputs (m, sizes[l])
    const Py_ssize_t* in_off     # the input layer l feeds on: A_l after dropout (= a_off[l] without)
    const Py_ssize_t* d_off      # D_l = dC/dA_l... times sigma'(z): the deltas (m, sizes[l])
    const Py_ssize_t* zp_off     # maxout: the pieces' pre-activations (m, sizes[l] * k)
    const Py_ssize_t* dp_off     # maxout: the pieces' deltas (m, sizes[l] * k)
    const Py_ssize_t* zh_off     # batch norm: zhat (m, sizes[l])
    const Py_ssize_t* st_off     # batch norm: mean, inv_std, dgamma, dbeta (4 sizes[l])


ctypedef struct Dropout:
    const unsigned char* keep    # this batch's rows of the keep mask (m, stride); NULL: no dropout
    Py_ssize_t stride            # columns of the mask: all dropped units of a row
    const Py_ssize_t* col        # (L + 1,) first mask column of layer l's units
    const double* scale          # (L + 1,) 1 / (1 - p) for hidden layer l, 0 where it has no dropout


cdef tuple _layout(Py_ssize_t n_params, const Py_ssize_t[::1] sizes, const int[::1] activations,
                   const double[::1] act_params, const Py_ssize_t[::1] pieces,
                   const Py_ssize_t[::1] batch_norm, Py_ssize_t n_running):
    """(L, offsets of W_l, b_l, gamma_l, the end of layer l, running stats of layer l) after checking
    params (and the running statistics) have exactly the length the layers need. W_l has
    sizes[l+1] * pieces[l] rows (unit j's pieces next to each other) and sizes[l] columns; a
    batch-normalised layer has gamma_l and beta_l (sizes[l+1] each) after b_l."""
    cdef Py_ssize_t L = sizes.shape[0] - 1, l, pos = 0, rows, running = 0
    if (L < 1 or activations.shape[0] != L or act_params.shape[0] != L
            or pieces.shape[0] != L or batch_norm.shape[0] != L):
        raise ValueError("layout: need len(sizes) >= 2 and one activation (parameter, pieces, "
                         "batch-norm flag) per layer")
    for l in range(L + 1):
        if sizes[l] < 1 or sizes[l] > 2147483647:
            raise ValueError("layout: layer sizes must be in [1, 2**31)")
    for l in range(L):
        if l < L - 1 and activations[l] == ACT_SOFTMAX:
            raise ValueError("layout: softmax is for the output layer only")
        if (activations[l] == ACT_MAXOUT) != (pieces[l] > 1) or pieces[l] < 1 or pieces[l] > 65536:
            raise ValueError("layout: maxout layers (and only they) have 2 .. 65536 pieces per unit")
        if l == L - 1 and activations[l] == ACT_MAXOUT:
            raise ValueError("layout: maxout is for hidden layers only")
        if sizes[l + 1] * pieces[l] > 2147483647:
            raise ValueError("layout: a layer has too many rows (units x pieces)")
        if batch_norm[l] != 0 and (batch_norm[l] != 1 or l == L - 1 or pieces[l] != 1):
            raise ValueError("layout: batch norm is for hidden layers (not maxout) only")
    offsets = np.zeros((5, L), dtype=np.intp)  # W, b, gamma, end, running
    for l in range(L):
        rows = sizes[l + 1] * pieces[l]
        offsets[0, l] = pos
        pos += rows * sizes[l]
        offsets[1, l] = pos
        pos += rows
        offsets[2, l] = pos
        if batch_norm[l]:
            pos += 2 * rows
            offsets[4, l] = running
            running += 2 * rows
        offsets[3, l] = pos
    if n_params != pos:
        raise ValueError(f"layout: params has {n_params} values, the sizes need {pos}")
    if n_running != running:
        raise ValueError(f"layout: the running statistics have {n_running} values, need {running}")
    return L, offsets


cdef Layout _make_layout(Py_ssize_t L, const Py_ssize_t[::1] sizes, const Py_ssize_t[::1] pieces,
                         const Py_ssize_t[:, ::1] offsets, const Py_ssize_t[::1] batch_norm,
                         const double[::1] bn_hyper, const int[::1] activations,
                         const double[::1] act_params, int cost):
    cdef Layout net
    net.L = L
    net.sizes = &sizes[0]
    net.pieces = &pieces[0]
    net.w_off = &offsets[0, 0]
    net.b_off = &offsets[1, 0]
    net.g_off = &offsets[2, 0]
    net.e_off = &offsets[3, 0]
    net.r_off = &offsets[4, 0]
    net.bn = &batch_norm[0]
    net.bn_eps = bn_hyper[0]
    net.bn_momentum = bn_hyper[1]
    net.acts = &activations[0]
    net.act_params = &act_params[0]
    net.cost = cost
    return net


cdef const double[::1] _bn_hyper(const double[::1] bn_hyper):
    if bn_hyper.shape[0] != 2 or not bn_hyper[0] > 0 or not 0 <= bn_hyper[1] < 1:
        raise ValueError("bn_hyper must be (eps > 0, momentum in [0, 1))")
    return bn_hyper


cdef _check_data(const Py_ssize_t[::1] sizes, Py_ssize_t n_rows, Py_ssize_t x_cols,
                 Py_ssize_t t_rows, Py_ssize_t t_cols, const Py_ssize_t[::1] labels, int cost):
    """X is (n, sizes[0]); targets are either dense (n, sizes[-1]) or labels (n,) in range; the
    hinge cost has at least 2 output units (its target class indexes a second one)."""
    cdef Py_ssize_t L = sizes.shape[0] - 1, n_out = sizes[L]
    if cost == COST_HINGE and n_out < 2:
        raise ValueError("the hinge cost needs at least 2 output units")
    if n_rows < 1 or x_cols != sizes[0]:
        raise ValueError(f"X must be (n >= 1, {sizes[0]}), got ({n_rows}, {x_cols})")
    check_targets(n_rows, n_out, t_rows, t_cols, labels)


cdef void _fill_targets(floating* T, const floating[:, ::1] targets, const Py_ssize_t[::1] labels,
                        const Py_ssize_t* rows, Py_ssize_t m, Py_ssize_t n_out) noexcept nogil:
    """OUT T (m, n_out): the target rows of the given data rows (one-hot rows from labels)."""
    cdef Py_ssize_t i
    for i in range(m):
        if labels.shape[0] > 0:
            target_row_from_label(T + i * n_out, labels[rows[i]], n_out)
        else:
            memcpy(T + i * n_out, &targets[rows[i], 0], n_out * sizeof(floating))


cdef void _batch(const Layout* net, const Dropout* drop, const Workspace* ws, floating* P,
                 floating* G, floating* running, const floating* A0, const floating* T,
                 Py_ssize_t m, floating* buf, floating* scratch, double eta, double lmbda_over_n,
                 int regularization, const GemmChoice* gemms, int n_threads) noexcept nogil:
    """Forward and backward pass of m examples (A0 their inputs, T their targets).

    G == NULL: take the SGD step on P (the book's network2, with the regularisation's weight step):
        L2: W <- (1 - eta*lmbda/n) W - (eta/m) D^T A   (one GEMM, beta = the decay factor)
        L1: W <- W - (eta*lmbda/n) sign(W), then W <- W - (eta/m) D^T A
        b <- b - (eta/m) sum of the rows of D
    G != NULL: write the summed gradients of the examples' costs into G (the layout of P).
    For a maxout layer, D above is the delta of its pieces (each unit's delta routed to its largest).
    Batch norm (training mode: the batch's statistics) moves the running statistics when `running`
    is not NULL; gamma and beta take a plain gradient step with SGD (no decay), or join G.
    """
    cdef Py_ssize_t L = net.L, l, k, i
    cdef const Py_ssize_t* sizes = net.sizes
    cdef int fan_in, rows
    cdef const floating* inp = A0
    cdef floating* Dl
    cdef floating step = <floating>(eta / <double>m)
    cdef floating beta
    cdef floating* stats
    cdef Py_ssize_t units
    # forward: A_{l+1} = sigma(inp W_l^T + b_l) (maxout: the largest piece); inp of the next
    # layer = A_{l+1} after dropout
    for l in range(L):
        fan_in = <int>sizes[l]
        k = net.pieces[l]
        rows = <int>(sizes[l + 1] * k)
        if k > 1:
            matmul_nt(<int>m, rows, fan_in, inp, fan_in, P + net.w_off[l], fan_in,
                      buf + ws.zp_off[l + 1], rows, gemms, n_threads)
            maxout_forward(buf + ws.a_off[l + 1], buf + ws.zp_off[l + 1], P + net.b_off[l], m,
                           sizes[l + 1], k)
        elif net.bn[l]:
            matmul_nt(<int>m, rows, fan_in, inp, fan_in, P + net.w_off[l], fan_in,
                      buf + ws.a_off[l + 1], rows, gemms, n_threads)
            stats = buf + ws.st_off[l + 1]
            batchnorm_train(buf + ws.a_off[l + 1], P + net.b_off[l], P + net.g_off[l], m, rows,
                            buf + ws.zh_off[l + 1], stats, stats + rows,
                            running + net.r_off[l] if running != NULL else NULL,
                            <floating>net.bn_eps, <floating>net.bn_momentum)
            bias_activation(buf + ws.a_off[l + 1], P + net.g_off[l] + rows, m, rows, net.acts[l],
                            <floating>net.act_params[l], n_threads)
        else:
            matmul_nt(<int>m, rows, fan_in, inp, fan_in, P + net.w_off[l], fan_in,
                      buf + ws.a_off[l + 1], rows, gemms, n_threads)
            bias_activation(buf + ws.a_off[l + 1], P + net.b_off[l], m, rows, net.acts[l],
                            <floating>net.act_params[l], n_threads)
        if l + 1 < L:
            if drop.keep != NULL and drop.scale[l + 1] != 0:
                apply_mask(buf + ws.in_off[l + 1], buf + ws.a_off[l + 1], drop.keep + drop.col[l + 1],
                           drop.stride, m, sizes[l + 1], <floating>drop.scale[l + 1])
            inp = buf + ws.in_off[l + 1]
    # backward: delta_L (BP1); per layer, last first: the delta below with the old W_l (BP2),
    # then the gradients (BP3, BP4) or the update of b_l and W_l
    output_delta(buf + ws.d_off[L], buf + ws.a_off[L], T, m, sizes[L], net.acts[L - 1],
                 <floating>net.act_params[L - 1], net.cost)
    for l in range(L - 1, -1, -1):
        fan_in = <int>sizes[l]
        k = net.pieces[l]
        rows = <int>(sizes[l + 1] * k)
        Dl = buf + (ws.dp_off[l + 1] if k > 1 else ws.d_off[l + 1])
        inp = A0 if l == 0 else buf + ws.in_off[l]
        if l > 0:
            matmul_xn(False, <int>m, fan_in, rows, <floating>1, Dl, rows, P + net.w_off[l], fan_in,
                      <floating>0, buf + ws.d_off[l], fan_in, gemms, n_threads)
            if net.pieces[l - 1] == 1:
                multiply_derivative(buf + ws.d_off[l], buf + ws.a_off[l], m, fan_in,
                                    net.acts[l - 1], <floating>net.act_params[l - 1], n_threads)
            if drop.keep != NULL and drop.scale[l] != 0:
                apply_mask(buf + ws.d_off[l], buf + ws.d_off[l], drop.keep + drop.col[l],
                           drop.stride, m, fan_in, <floating>drop.scale[l])
            if net.pieces[l - 1] > 1:
                maxout_route(buf + ws.dp_off[l], buf + ws.d_off[l], buf + ws.zp_off[l], m, fan_in,
                             net.pieces[l - 1])
            if net.bn[l - 1]:  # through the normalisation; gamma, beta of layer l-1 learn here
                units = fan_in
                stats = buf + ws.st_off[l]
                batchnorm_backward(buf + ws.d_off[l], buf + ws.zh_off[l], stats + units,
                                   P + net.g_off[l - 1], m, units, stats + 2 * units,
                                   stats + 3 * units)
                if G != NULL:
                    memcpy(G + net.g_off[l - 1], stats + 2 * units, 2 * units * sizeof(floating))
                else:
                    for i in range(2 * units):
                        P[net.g_off[l - 1] + i] = P[net.g_off[l - 1] + i] - step * stats[2 * units + i]
        # a batch-normalised layer's bias is redundant (the normalisation removes it): its
        # gradient is exactly 0, so it stays put (beta takes its role)
        if G != NULL:
            if net.bn[l]:
                for i in range(rows):
                    G[net.b_off[l] + i] = 0
            else:
                column_sums(Dl, m, rows, G + net.b_off[l])
            matmul_xn(True, rows, fan_in, <int>m, <floating>1, Dl, rows, inp, fan_in,
                      <floating>0, G + net.w_off[l], fan_in, gemms, n_threads)
            continue
        if not net.bn[l]:
            bias_update(P + net.b_off[l], Dl, m, rows, step, scratch)
        if regularization == REG_L1:
            l1_shrink(P + net.w_off[l], <Py_ssize_t>rows * fan_in, <floating>(eta * lmbda_over_n))
            beta = 1
        else:
            beta = <floating>(1.0 - eta * lmbda_over_n)
        matmul_xn(True, rows, fan_in, <int>m, -step, Dl, rows, inp, fan_in, beta,
                  P + net.w_off[l], fan_in, gemms, n_threads)


cdef class _BatchBuffers:
    """The workspace of _batch for batches of up to `rows` examples: one buffer and its offsets."""
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


def train_epoch(floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] activations,
                const double[::1] act_params, const Py_ssize_t[::1] pieces,
                const Py_ssize_t[::1] batch_norm, const double[::1] bn_hyper,
                floating[::1] running, int cost,
                const floating[:, ::1] X, const floating[:, ::1] targets,
                const Py_ssize_t[::1] labels, const Py_ssize_t[::1] order, Py_ssize_t batch_size,
                double eta, double lmbda, Py_ssize_t n_train, int regularization,
                const unsigned char[:, ::1] keep, const Py_ssize_t[::1] keep_col,
                const double[::1] keep_scale, int optimizer, const double[::1] hyper,
                floating[::1] state1, floating[::1] state2, Py_ssize_t step0, Py_ssize_t first,
                Py_ssize_t last, int n_threads, unsigned char[::1] stop=None):
    """One epoch (or the batches of positions first:last of it) of mini-batch training, in place on
    params (and the optimizer's state), without the GIL. Returns the number of batches taken.

    IN  X (n, n_in); targets (n, n_out) or, when labels (n,) is non-empty, targets is (0, n_out)
        and the labels give one-hot rows; order (n,): the permutation of rows for this epoch;
        mini-batches are its consecutive slices of batch_size, the last one possibly shorter.
        Dropout: keep (n, H) uint8, row r for the r-th example of the epoch; hidden layer l's units
        are columns keep_col[l]:keep_col[l] + sizes[l], kept units scaled by keep_scale[l]
        (0: no dropout on l; keep may be (0, 0) when no layer drops).
        Optimizer: OPT_SGD takes the book's fused step (see _batch); the others compute the batch
        gradient, then optimizer_step with hyper = (h0, h1, h2) and state1/state2 (the length of
        params, or empty when the optimizer keeps less state); step0 = steps taken before.
        first, last: positions in `order` (first a multiple of batch_size; 0, n for an epoch).
        Batch norm: batch_norm (L,) flags, bn_hyper = (eps, momentum), running: the running means
        and variances of the normalised layers (empty without batch norm).
    OUT params, updated batch by batch (see _batch); state1, state2; running.

    Interruption, always at a mini-batch boundary (no batch is ever half applied):
      - stop (optional, 1 value): the loop ends before the next batch once stop[0] != 0 (a Python
        signal handler may set it; the return value then counts the batches that were taken);
      - called from the main thread, the loop takes the GIL back every SIGNAL_CHECK_WORK units of
        work (after every batch when batches are bigger) and runs PyErr_CheckSignals(); if a
        handler raises (Ctrl-C's KeyboardInterrupt), the loop ends and that exception propagates
        with the attribute `nnfast_batches_done`, the number of batches taken in this call.
    """
    L_obj, offsets_arr = _layout(params.shape[0], sizes, activations, act_params, pieces,
                                 batch_norm, running.shape[0])
    cdef Py_ssize_t L = L_obj
    cdef Py_ssize_t n = X.shape[0], n_in = sizes[0], n_out = sizes[L], i, l, start, m
    _check_data(sizes, n, X.shape[1], targets.shape[0], targets.shape[1], labels, cost)
    if order.shape[0] != n:
        raise ValueError("order must be a permutation of the rows of X")
    if batch_size < 1 or n_train < 1 or n_threads < 1:
        raise ValueError("batch_size, n_train and n_threads must be >= 1")
    if regularization != REG_L2 and regularization != REG_L1:
        raise ValueError(f"unknown regularization code {regularization}")
    for i in range(n):
        if order[i] < 0 or order[i] >= n:
            raise ValueError(f"order[{i}] = {order[i]} is not a row of X")
    if keep_col.shape[0] != L + 1 or keep_scale.shape[0] != L + 1:
        raise ValueError("keep_col and keep_scale need one entry per layer (input and output too)")
    cdef bint any_dropout = False
    for l in range(L + 1):
        if keep_scale[l] != 0:
            if l == 0 or l == L or keep_scale[l] < 1:
                raise ValueError("dropout applies to hidden layers only, with scale 1/(1-p) >= 1")
            if keep.shape[0] != n or keep_col[l] < 0 or keep_col[l] + sizes[l] > keep.shape[1]:
                raise ValueError(f"keep must be ({n}, >= {keep_col[l] + sizes[l]}) for layer {l}")
            any_dropout = True
    if optimizer < OPT_SGD or optimizer > OPT_ADAM or hyper.shape[0] != 3 or step0 < 0:
        raise ValueError("unknown optimizer code, or hyper is not (h0, h1, h2), or step0 < 0")
    cdef Py_ssize_t n_states = 2 if optimizer == OPT_ADAM else (0 if optimizer == OPT_SGD else 1)
    if (n_states >= 1 and state1.shape[0] != params.shape[0]) or (
            n_states == 2 and state2.shape[0] != params.shape[0]):
        raise ValueError("the optimizer's state arrays must have the length of params")
    if first < 0 or last > n or first > last or first % batch_size != 0:
        raise ValueError("first:last must be a range of positions starting on a batch boundary")
    batch_size = min(batch_size, n)
    grad_arr = np.empty(params.shape[0] if optimizer != OPT_SGD else 1,
                        dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] grad = grad_arr
    cdef floating* G = &grad[0] if optimizer != OPT_SGD else NULL
    cdef floating* S1 = &state1[0] if n_states >= 1 else NULL
    cdef floating* S2 = &state2[0] if n_states == 2 else NULL
    cdef Py_ssize_t step = step0

    cdef Layout net = _make_layout(L, sizes, pieces, offsets_arr, batch_norm, _bn_hyper(bn_hyper),
                                   activations, act_params, cost)
    cdef floating* R = &running[0] if running.shape[0] > 0 else NULL
    cdef Dropout drop
    drop.keep = NULL
    drop.stride = keep.shape[1]
    drop.col = &keep_col[0]
    drop.scale = &keep_scale[0]
    cdef _BatchBuffers buffers = _BatchBuffers(sizes, pieces, batch_norm, batch_size, keep_scale,
                                               np.float32 if floating is float else np.float64)
    cdef const Py_ssize_t[:, ::1] offsets = buffers.offsets
    cdef Workspace ws = _workspace(offsets)
    cdef floating[::1] work = buffers.buffer
    cdef floating* buf = &work[0]
    cdef floating* T = buf + buffers.targets_off
    cdef floating* scratch = buf + buffers.scratch_off
    cdef const floating* x0 = &X[0, 0]
    cdef const floating* A0
    cdef GemmChoice gemms = _gemm_choice
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
            _fill_targets(T, targets, labels, &order[start], m, n_out)
            if any_dropout:
                drop.keep = &keep[start, 0]
            _batch(&net, &drop, &ws, &params[0], G, R, A0, T, m, buf, scratch, eta, lmbda_over_n,
                   regularization, &gemms, n_threads)
            step += 1
            if G != NULL:
                _optimizer_update(&net, &params[0], G, S1, S2, optimizer, &hyper[0], eta, m,
                                  lmbda_over_n, regularization, step, n_threads)
            start += m
            since_check += m * n_params + BATCH_WORK
            if check_signals and since_check >= SIGNAL_CHECK_WORK and start < last:
                since_check = 0
                with gil:
                    try:
                        PyErr_CheckSignals()
                    except BaseException as exc:
                        pending = exc
                        interrupted = True
                if interrupted:
                    break
    if interrupted:
        try:
            pending.nnfast_batches_done = step - step0
        except AttributeError:
            pass
        raise pending
    return step - step0


def gradient(const floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] activations,
             const double[::1] act_params, const Py_ssize_t[::1] pieces,
             const Py_ssize_t[::1] batch_norm, const double[::1] bn_hyper,
             const floating[::1] running, int cost,
             const floating[:, ::1] X, const floating[:, ::1] targets,
             const Py_ssize_t[::1] labels, floating[::1] grad, int n_threads):
    """OUT grad (the layout of params): the gradient of the summed cost of all rows of X (BP1-BP4),
    by the same code as a training step, without dropout or regularisation (batch norm uses the
    statistics of all the rows, as one batch, and leaves the running statistics alone)."""
    L_obj, offsets_arr = _layout(params.shape[0], sizes, activations, act_params, pieces,
                                 batch_norm, running.shape[0])
    cdef Py_ssize_t L = L_obj, n = X.shape[0]
    _check_data(sizes, n, X.shape[1], targets.shape[0], targets.shape[1], labels, cost)
    if grad.shape[0] != params.shape[0] or n_threads < 1:
        raise ValueError("grad must have the length of params; n_threads >= 1")
    cdef Layout net = _make_layout(L, sizes, pieces, offsets_arr, batch_norm, _bn_hyper(bn_hyper),
                                   activations, act_params, cost)
    no_dropout = np.zeros(L + 1, dtype=np.float64)
    cdef const double[::1] scale = no_dropout
    cdef Dropout drop
    drop.keep = NULL
    drop.stride = 0
    drop.col = NULL
    drop.scale = &scale[0]
    cdef _BatchBuffers buffers = _BatchBuffers(sizes, pieces, batch_norm, n, scale,
                                               np.float32 if floating is float else np.float64)
    cdef const Py_ssize_t[:, ::1] offsets = buffers.offsets
    cdef Workspace ws = _workspace(offsets)
    cdef floating[::1] work = buffers.buffer
    rows_arr = np.arange(n, dtype=np.intp)
    cdef const Py_ssize_t[::1] rows = rows_arr
    cdef floating* buf = &work[0]
    cdef floating* T = buf + buffers.targets_off
    cdef floating* scratch = buf + buffers.scratch_off
    cdef GemmChoice gemms = _gemm_choice
    with nogil:
        _fill_targets(T, targets, labels, &rows[0], n, sizes[L])
        # P is only read when G is given
        _batch(&net, &drop, &ws, <floating*>&params[0], &grad[0], NULL, &X[0, 0], T, n, buf,
               scratch, 0.0, 0.0, REG_L2, &gemms, n_threads)


cdef void _forward_chunk_batch_stats(const Layout* net, const floating* P, const floating* X,
                                     Py_ssize_t m, floating* buf_a, floating* buf_b,
                                     floating* pieces_buf, floating* bn_buf, floating* last,
                                     int n_threads) noexcept nogil:
    """Training-mode forward for gradient checks: m rows of X through every layer, batch norm with
    the m rows' own statistics (in bn_buf), no dropout; the last layer's A W^T (no bias, no
    activation) goes to `last` (m, n_out). Inference uses _forward_chunk_t."""
    cdef Py_ssize_t L = net.L, l, k
    cdef const floating* src = X
    cdef floating* dst
    cdef int fan_in, rows
    for l in range(L):
        fan_in = <int>net.sizes[l]
        k = net.pieces[l]
        rows = <int>(net.sizes[l + 1] * k)
        dst = last if l == L - 1 else (buf_a if l % 2 == 0 else buf_b)
        gemm_split(NoTrans, Trans, <int>m, rows, fan_in, <floating>1, src, fan_in,
                   P + net.w_off[l], fan_in, <floating>0, pieces_buf if k > 1 else dst, rows,
                   n_threads)
        if k > 1:
            maxout_forward(dst, pieces_buf, P + net.b_off[l], m, net.sizes[l + 1], k)
        elif l < L - 1 and net.bn[l]:
            batchnorm_train(dst, P + net.b_off[l], P + net.g_off[l], m, rows, bn_buf,
                            bn_buf + m * rows, bn_buf + m * rows + rows, NULL,
                            <floating>net.bn_eps, 0)
            bias_activation(dst, P + net.g_off[l] + rows, m, rows, net.acts[l],
                            <floating>net.act_params[l], n_threads)
        elif l < L - 1:
            bias_activation(dst, P + net.b_off[l], m, rows, net.acts[l],
                            <floating>net.act_params[l], n_threads)
        src = dst


cdef bint _all_finite(const floating* values, Py_ssize_t count) noexcept nogil:
    cdef Py_ssize_t i
    cdef bint finite = True
    for i in range(count):
        finite = finite & (values[i] - values[i] == 0)  # false for NaN and +-inf
    return finite


cdef void _forward_chunk_t(const Layout* net, const floating* P, const floating* R,
                           const floating* X, Py_ssize_t m, floating* buf_a, floating* buf_b,
                           floating* pieces_buf, floating* last_t, bint* nonfinite,
                           int n_threads) noexcept nogil:
    """Inference: run m rows of X through every layer with the hidden activations transposed,
    (units, m); the last layer's (A W^T)^T (no bias, no activation) goes to last_t (n_out, m).
    Batch norm with the running statistics R. Sets *nonfinite when the first layer's output is not
    finite: with finite weights, exactly when a row of X holds a NaN or an infinity (inf * 0 and
    inf - inf are NaN), at a 1/n_in of the cost of scanning X."""
    cdef Py_ssize_t L = net.L, l, k, units
    cdef const floating* src = X
    cdef floating* dst
    cdef floating* target
    cdef int fan_in, rows
    for l in range(L):
        fan_in = <int>net.sizes[l]
        units = net.sizes[l + 1]
        k = net.pieces[l]
        rows = <int>(units * k)
        dst = last_t if l == L - 1 else (buf_a if l % 2 == 0 else buf_b)
        target = pieces_buf if k > 1 else dst
        if l == 0:  # X is (m, n_in): C (rows, m) = W X^T
            gemm_split(NoTrans, Trans, rows, <int>m, fan_in, <floating>1, P + net.w_off[l], fan_in,
                       src, fan_in, <floating>0, target, <int>m, n_threads)
            if not _all_finite(target, <Py_ssize_t>rows * m):
                nonfinite[0] = True
        else:       # the input is already (n_in, m): C = W A^T
            gemm_split(NoTrans, NoTrans, rows, <int>m, fan_in, <floating>1, P + net.w_off[l], fan_in,
                       src, <int>m, <floating>0, target, <int>m, n_threads)
        if k > 1:
            maxout_forward_t(dst, pieces_buf, P + net.b_off[l], units, k, m)
        elif l < L - 1 and net.bn[l]:
            batchnorm_infer_t(dst, P + net.b_off[l], P + net.g_off[l], R + net.r_off[l], units, m,
                              <floating>net.bn_eps)
            bias_activation_t(dst, P + net.g_off[l] + units, units, m, net.acts[l],
                              <floating>net.act_params[l], n_threads)
        elif l < L - 1:
            bias_activation_t(dst, P + net.b_off[l], units, m, net.acts[l],
                              <floating>net.act_params[l], n_threads)
        src = dst


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


def feedforward(const floating[::1] params, const Py_ssize_t[::1] sizes,
                const int[::1] activations, const double[::1] act_params,
                const Py_ssize_t[::1] pieces, const Py_ssize_t[::1] batch_norm,
                const double[::1] bn_hyper, const floating[::1] running,
                const floating[:, ::1] X, floating[:, ::1] out, Py_ssize_t chunk, int n_threads):
    """OUT out (n, n_out) = the network's output for every row of X (inference: batch norm with the
    running statistics), in chunks of rows, no GIL. Raises FloatingPointError when X (or the
    weights) hold a NaN or an infinity (see _forward_chunk_t); the caller says which."""
    L_obj, offsets_arr = _layout(params.shape[0], sizes, activations, act_params, pieces,
                                 batch_norm, running.shape[0])
    cdef Py_ssize_t L = L_obj
    cdef Py_ssize_t n = X.shape[0], n_out = sizes[L], start, m
    if n < 1 or X.shape[1] != sizes[0] or out.shape[0] != n or out.shape[1] != n_out:
        raise ValueError("feedforward: X must be (n >= 1, n_in) and out (n, n_out)")
    work_arr, half, piece_size, chunk = _chunk_buffers(
        sizes, pieces, chunk, n, n_threads, np.float32 if floating is float else np.float64)
    cdef Layout net = _make_layout(L, sizes, pieces, offsets_arr, batch_norm, _bn_hyper(bn_hyper),
                                   activations, act_params, 0)
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
            _forward_chunk_t(&net, P, R, &X[start, 0], m, buf, buf + h, pieces_buf, last_t,
                             &nonfinite, n_threads)
            transpose_into(&out[start, 0], last_t, m, n_out)
            bias_activation(&out[start, 0], P + net.b_off[L - 1], m, n_out, net.acts[L - 1],
                            <floating>net.act_params[L - 1], n_threads)
            start += m
    if nonfinite:
        raise FloatingPointError("the first layer's output is not finite")


def evaluate(const floating[::1] params, const Py_ssize_t[::1] sizes, const int[::1] activations,
             const double[::1] act_params, const Py_ssize_t[::1] pieces,
             const Py_ssize_t[::1] batch_norm, const double[::1] bn_hyper,
             const floating[::1] running, int cost, const floating[:, ::1] X,
             const floating[:, ::1] targets, const Py_ssize_t[::1] labels, Py_ssize_t chunk,
             int n_threads, bint batch_stats=False):
    """(sum of the per-example costs, number of correctly classified rows), in one pass, no GIL.

    Targets as in train_epoch. Correct: predicted class == label, or == the class of the target row
    (argmax, or > 0.5 with one output unit). The cost is summed in double, row after row.
    batch_stats: batch norm with the statistics of all the rows (training mode; for gradient
    checks), instead of the running ones.
    """
    L_obj, offsets_arr = _layout(params.shape[0], sizes, activations, act_params, pieces,
                                 batch_norm, running.shape[0])
    cdef Py_ssize_t L = L_obj
    cdef Py_ssize_t n = X.shape[0], n_out = sizes[L], start, m, i, j, label
    _check_data(sizes, n, X.shape[1], targets.shape[0], targets.shape[1], labels, cost)
    work_arr, half, piece_size, chunk = _chunk_buffers(
        sizes, pieces, chunk, n, n_threads, np.float32 if floating is float else np.float64)
    if batch_stats and chunk < n:
        raise ValueError("batch statistics need all the rows in one chunk")
    cdef Layout net = _make_layout(L, sizes, pieces, offsets_arr, batch_norm, _bn_hyper(bn_hyper),
                                   activations, act_params, cost)
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
    cdef bint use_labels = labels.shape[0] > 0
    cdef double total = 0
    cdef Py_ssize_t correct = 0
    t_arr = np.empty(n_out, dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] t_view = t_arr
    cdef floating* t_row = &t_view[0]
    cdef const floating* target
    cdef floating* z_row
    cdef floating* a_row
    start = 0
    with nogil:
        while start < n:
            m = min(chunk, n - start)
            if batch_stats:
                _forward_chunk_batch_stats(&net, P, &X[start, 0], m, buf, buf + h, pieces_buf,
                                           bn_buf, Z, n_threads)
            else:
                _forward_chunk_t(&net, P, R, &X[start, 0], m, buf, buf + h, pieces_buf, last_t,
                                 &nonfinite, n_threads)
                transpose_into(Z, last_t, m, n_out)
            for i in range(m):
                z_row = Z + i * n_out
                a_row = A + i * n_out
                for j in range(n_out):
                    z_row[j] = z_row[j] + bias[j]
                    a_row[j] = z_row[j] if out_act == ACT_SOFTMAX else activate(z_row[j], out_act,
                                                                                out_param)
                if out_act == ACT_SOFTMAX:
                    softmax_row(a_row, n_out)
                if use_labels:
                    label = labels[start + i]
                    target_row_from_label(t_row, label, n_out)
                    target = t_row
                else:
                    target = &targets[start + i, 0]
                    label = predicted_class(target, n_out)
                total += cost_row(z_row, a_row, target, n_out, cost)
                if predicted_class(a_row, n_out) == label:
                    correct += 1
            start += m
    if nonfinite:
        raise FloatingPointError("the first layer's output is not finite")
    return total, correct
