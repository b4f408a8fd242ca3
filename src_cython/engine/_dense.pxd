# The dense loop's core (src_cython/engine/_train.pyx has its entry points): a plain stack of Dense
# layers (Dropout between them) read off the layer table into a Layout, and the nogil passes over
# it: one training step of a batch with the fused update GEMMs (dense_batch), the training-mode
# forward of gradient checks and the transposed inference forward. Header-only (inline, nogil).
#
# Parameters: the table's offsets (S_WOFF, S_BOFF, S_GOFF): W_l a row-major (units * pieces,
# fan_in) matrix, b_l (units * pieces,), with batch norm gamma_l then beta_l (units each) after b_l;
# the running statistics of a normalised layer (mean, then variance) at S_ROFF in `running`.
from cython cimport floating
from libc.string cimport memcpy

import numpy as np

from _blas cimport NoTrans, Trans
from _matmul cimport matmul
from _elementwise cimport (
    apply_mask, bias_activation, bias_update, column_sums, l1_shrink, maxout_forward,
    maxout_route, multiply_derivative, output_delta, batchnorm_train, batchnorm_backward,
    bias_activation_t, maxout_forward_t, batchnorm_infer_t,
)
from _layers cimport (KIND_DENSE, KIND_DROPOUT, KIND_FLATTEN, S_KIND, S_C, S_H, S_W, S_F, S_ACT,
                      S_WOFF, S_BOFF, S_DCOL, S_PIECES, S_BN, S_GOFF, S_ROFF, F_ACT, F_SCALE,
                      F_EPS, F_MOMENTUM)

cdef enum:
    REG_L2 = 0
    REG_L1 = 1

# the dense plan (dense_plan): rows of an intp (PLAN_ROWS, L + 1) and a double (FPLAN_ROWS, L + 1)
# array; per layer of sizes (input first: L + 1 values) or per weight layer l (L values)
cdef enum:
    P_SIZES = 0   # units of layer l of sizes, the input's first
    P_PIECES = 1  # weight layer l: maxout pieces per unit (1: another activation)
    P_WOFF = 2    # weight layer l: offset of W_l in params
    P_BOFF = 3    # ... of b_l
    P_GOFF = 4    # ... of gamma_l (beta_l follows), with batch norm
    P_ROFF = 5    # ... of its running mean (the variance follows) in running, with batch norm
    P_BN = 6      # weight layer l: 1 where its output is batch-normalised
    P_ACT = 7     # weight layer l: activation code
    P_DCOL = 8    # layer l of sizes: first keep-mask column of its units (with dropout)
    PLAN_ROWS = 9
    Q_ACT = 0     # weight layer l: the activation's parameter
    Q_EPS = 1     # ... batch norm's eps
    Q_MOMENTUM = 2  # ... batch norm's momentum
    Q_SCALE = 3   # layer l of sizes: 1/(1-p) where it drops units, else 0
    FPLAN_ROWS = 4


ctypedef struct Layout:
    Py_ssize_t L                 # number of weight layers
    const Py_ssize_t* sizes      # (L + 1,) units per layer, input first
    const Py_ssize_t* pieces     # (L,) linear pieces per unit of layer l's output: k for maxout, else 1
    const Py_ssize_t* w_off      # (L,) offset of W_l in params
    const Py_ssize_t* b_off      # (L,) offset of b_l in params
    const Py_ssize_t* g_off      # (L,) offset of gamma_l in params (beta_l follows); after b_l
    const Py_ssize_t* r_off      # (L,) offset of layer l's running mean (variance follows)
    const Py_ssize_t* bn         # (L,) 1 where layer l's output is batch-normalised (hidden only)
    const Py_ssize_t* acts       # (L,) activation code of layer l's output
    const double* act_params     # (L,) its parameter (leaky slope, ELU alpha; else unused)
    const double* bn_eps         # (L,) batch norm's eps, where it applies
    const double* bn_momentum    # (L,) and its momentum
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


cdef inline tuple dense_plan(const Py_ssize_t[:, ::1] spec, const double[:, ::1] fparams):
    """(plan, fplan): the dense loop's reading of a layer table that check_table passed (see the
    P_ and Q_ rows above). The dense loop runs Dense rows, a Dropout row after a Dense row (before
    the next), and Flatten rows (the identity on flat rows: a Dropout with p = 0); any other table
    raises ValueError (the layer engine runs it)."""
    cdef Py_ssize_t n_rows = spec.shape[0], r, l = 0, kind
    cdef bint dropped = False  # a Dropout row since the last Dense row
    for r in range(n_rows):
        kind = spec[r, S_KIND]
        if kind == KIND_DENSE:
            l += 1
            dropped = False
        elif kind == KIND_DROPOUT:
            if l == 0 or dropped:
                raise ValueError(f"layer {r}: the dense loop drops the units of a Dense layer's "
                                 "output only (once)")
            dropped = True
        elif kind != KIND_FLATTEN:
            raise ValueError(f"layer {r}: the dense loop runs Dense layers (with Dropout between "
                             "them) only")
    plan_arr = np.zeros((PLAN_ROWS, l + 1), dtype=np.intp)
    fplan_arr = np.zeros((FPLAN_ROWS, l + 1), dtype=np.float64)
    cdef Py_ssize_t[:, ::1] plan = plan_arr
    cdef double[:, ::1] fplan = fplan_arr
    l = 0
    for r in range(n_rows):
        kind = spec[r, S_KIND]
        if kind == KIND_DENSE:
            if l == 0:
                plan[P_SIZES, 0] = spec[r, S_C] * spec[r, S_H] * spec[r, S_W]
            plan[P_SIZES, l + 1] = spec[r, S_F]
            plan[P_PIECES, l] = spec[r, S_PIECES]
            plan[P_WOFF, l] = spec[r, S_WOFF]
            plan[P_BOFF, l] = spec[r, S_BOFF]
            plan[P_GOFF, l] = spec[r, S_GOFF]
            plan[P_ROFF, l] = spec[r, S_ROFF]
            plan[P_BN, l] = spec[r, S_BN]
            plan[P_ACT, l] = spec[r, S_ACT]
            fplan[Q_ACT, l] = fparams[r, F_ACT]
            fplan[Q_EPS, l] = fparams[r, F_EPS]
            fplan[Q_MOMENTUM, l] = fparams[r, F_MOMENTUM]
            l += 1
        elif kind == KIND_DROPOUT:  # on the output of weight layer l - 1: layer l of sizes
            plan[P_DCOL, l] = spec[r, S_DCOL]
            fplan[Q_SCALE, l] = fparams[r, F_SCALE]
    return plan_arr, fplan_arr


cdef inline Layout make_layout(const Py_ssize_t[:, ::1] plan, const double[:, ::1] fplan,
                               int cost):
    """The Layout of a dense plan (pointers into plan and fplan: keep them alive)."""
    cdef Layout net
    net.L = plan.shape[1] - 1
    net.sizes = &plan[P_SIZES, 0]
    net.pieces = &plan[P_PIECES, 0]
    net.w_off = &plan[P_WOFF, 0]
    net.b_off = &plan[P_BOFF, 0]
    net.g_off = &plan[P_GOFF, 0]
    net.r_off = &plan[P_ROFF, 0]
    net.bn = &plan[P_BN, 0]
    net.acts = &plan[P_ACT, 0]
    net.act_params = &fplan[Q_ACT, 0]
    net.bn_eps = &fplan[Q_EPS, 0]
    net.bn_momentum = &fplan[Q_MOMENTUM, 0]
    net.cost = cost
    return net


cdef inline Dropout make_dropout(const Py_ssize_t[:, ::1] plan, const double[:, ::1] fplan,
                                 Py_ssize_t stride):
    """The dropout of a dense plan, no mask yet (keep NULL: set per batch)."""
    cdef Dropout drop
    drop.keep = NULL
    drop.stride = stride
    drop.col = &plan[P_DCOL, 0]
    drop.scale = &fplan[Q_SCALE, 0]
    return drop


cdef inline void dense_batch(const Layout* net, const Dropout* drop, const Workspace* ws,
                             floating* P, floating* G, floating* running, const floating* A0,
                             const floating* T, Py_ssize_t m, floating* buf, floating* scratch,
                             double eta, double lmbda_over_n, int regularization,
                             int n_threads) noexcept nogil:
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
        matmul(NoTrans, Trans, <int>m, rows, fan_in, <floating>1, inp, fan_in, P + net.w_off[l],
               fan_in, <floating>0, buf + (ws.zp_off[l + 1] if k > 1 else ws.a_off[l + 1]), rows,
               n_threads)
        if k > 1:
            maxout_forward(buf + ws.a_off[l + 1], buf + ws.zp_off[l + 1], P + net.b_off[l], m,
                           sizes[l + 1], k)
        elif net.bn[l]:
            stats = buf + ws.st_off[l + 1]
            batchnorm_train(buf + ws.a_off[l + 1], P + net.b_off[l], P + net.g_off[l], m, rows,
                            buf + ws.zh_off[l + 1], stats, stats + rows,
                            running + net.r_off[l] if running != NULL else NULL,
                            <floating>net.bn_eps[l], <floating>net.bn_momentum[l])
            bias_activation(buf + ws.a_off[l + 1], P + net.g_off[l] + rows, m, rows, net.acts[l],
                            <floating>net.act_params[l], n_threads)
        else:
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
            matmul(NoTrans, NoTrans, <int>m, fan_in, rows, <floating>1, Dl, rows, P + net.w_off[l],
                   fan_in, <floating>0, buf + ws.d_off[l], fan_in, n_threads)
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
            matmul(Trans, NoTrans, rows, fan_in, <int>m, <floating>1, Dl, rows, inp, fan_in,
                   <floating>0, G + net.w_off[l], fan_in, n_threads)
            continue
        if not net.bn[l]:
            bias_update(P + net.b_off[l], Dl, m, rows, step, scratch)
        if regularization == REG_L1:
            l1_shrink(P + net.w_off[l], <Py_ssize_t>rows * fan_in, <floating>(eta * lmbda_over_n))
            beta = 1
        else:
            beta = <floating>(1.0 - eta * lmbda_over_n)
        matmul(Trans, NoTrans, rows, fan_in, <int>m, -step, Dl, rows, inp, fan_in, beta,
               P + net.w_off[l], fan_in, n_threads)



cdef inline void forward_chunk_batch_stats(const Layout* net, const floating* P, const floating* X,
                                     Py_ssize_t m, floating* buf_a, floating* buf_b,
                                     floating* pieces_buf, floating* bn_buf, floating* last,
                                     int n_threads) noexcept nogil:
    """Training-mode forward for gradient checks: m rows of X through every layer, batch norm with
    the m rows' own statistics (in bn_buf), no dropout; the last layer's A W^T (no bias, no
    activation) goes to `last` (m, n_out). Inference uses forward_chunk_t."""
    cdef Py_ssize_t L = net.L, l, k
    cdef const floating* src = X
    cdef floating* dst
    cdef int fan_in, rows
    for l in range(L):
        fan_in = <int>net.sizes[l]
        k = net.pieces[l]
        rows = <int>(net.sizes[l + 1] * k)
        dst = last if l == L - 1 else (buf_a if l % 2 == 0 else buf_b)
        matmul(NoTrans, Trans, <int>m, rows, fan_in, <floating>1, src, fan_in,
               P + net.w_off[l], fan_in, <floating>0, pieces_buf if k > 1 else dst, rows,
               n_threads)
        if k > 1:
            maxout_forward(dst, pieces_buf, P + net.b_off[l], m, net.sizes[l + 1], k)
        elif l < L - 1 and net.bn[l]:
            batchnorm_train(dst, P + net.b_off[l], P + net.g_off[l], m, rows, bn_buf,
                            bn_buf + m * rows, bn_buf + m * rows + rows, NULL,
                            <floating>net.bn_eps[l], 0)
            bias_activation(dst, P + net.g_off[l] + rows, m, rows, net.acts[l],
                            <floating>net.act_params[l], n_threads)
        elif l < L - 1:
            bias_activation(dst, P + net.b_off[l], m, rows, net.acts[l],
                            <floating>net.act_params[l], n_threads)
        src = dst


cdef inline bint all_finite(const floating* values, Py_ssize_t count) noexcept nogil:
    cdef Py_ssize_t i
    cdef bint finite = True
    for i in range(count):
        finite = finite & (values[i] - values[i] == 0)  # false for NaN and +-inf
    return finite


cdef inline void forward_chunk_t(const Layout* net, const floating* P, const floating* R,
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
            matmul(NoTrans, Trans, rows, <int>m, fan_in, <floating>1, P + net.w_off[l], fan_in,
                   src, fan_in, <floating>0, target, <int>m, n_threads)
            if not all_finite(target, <Py_ssize_t>rows * m):
                nonfinite[0] = True
        else:       # the input is already (n_in, m): C = W A^T
            matmul(NoTrans, NoTrans, rows, <int>m, fan_in, <floating>1, P + net.w_off[l], fan_in,
                   src, <int>m, <floating>0, target, <int>m, n_threads)
        if k > 1:
            maxout_forward_t(dst, pieces_buf, P + net.b_off[l], units, k, m)
        elif l < L - 1 and net.bn[l]:
            batchnorm_infer_t(dst, P + net.b_off[l], P + net.g_off[l], R + net.r_off[l], units, m,
                              <floating>net.bn_eps[l])
            bias_activation_t(dst, P + net.g_off[l] + units, units, m, net.acts[l],
                              <floating>net.act_params[l], n_threads)
        elif l < L - 1:
            bias_activation_t(dst, P + net.b_off[l], units, m, net.acts[l],
                              <floating>net.act_params[l], n_threads)
        src = dst

