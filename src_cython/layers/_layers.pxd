# The layer interpreter of the compiled layer-table engine (_conv.pyx): the table's columns, the
# per-pass record, batch normalisation per channel, and one forward and one backward pass over the
# layers (nnfast/reference/conv.py is the spec). Header-only (inline, nogil, noexcept).
#
# Buffers of a pass over m rows (offsets into one buffer, per layer, made by _conv._Work):
#   out_off[l]  the input of layer l = the output of layer l-1 (m, n) rows (l = 0: the batch)
#   d_off[l]    dC/d(out_off[l]) (training; d_off[0] only when the input's gradient is wanted)
#   cols_off[l] conv: im2col's columns (K, m*P), rows cols_stride(m*P) apart; maxout dense: the
#               pieces' z (m, units*k)
#   arg_off[l]  max-pool: the argmax of each output (in the intp buffer)
#   zh_off[l]   batch norm: zhat, in the layout the layer normalises (m*n_out values)
#   st_off[l]   batch norm: the batch's mean and 1/sqrt(var + eps) (2 units)
#   zt          scratch: a convolution's Zt / Dt (F, m*P), a maxout layer's deltas (m, units*k)
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt, sqrtf
from libc.string cimport memcpy, memset

from _blas cimport NoTrans, Trans
from _matmul cimport matmul
from _elementwise cimport (ACT_SOFTMAX, activate, apply_mask, bias_activation, column_sums,
                           derivative_from_output, maxout_forward, maxout_route,
                           multiply_derivative, output_delta)
from _convkern cimport (im2col, col2im, cols_stride, conv_output, conv_gather, row_sums, conv_delta,
                        maxpool_forward, maxpool_backward, avgpool_forward, avgpool_backward,
                        conv_pool_forward, pool_conv_delta, CONV_PARALLEL_MIN)

cdef enum:
    KIND_CONV = 0
    KIND_MAXPOOL = 1
    KIND_AVGPOOL = 2
    KIND_FLATTEN = 3
    KIND_DENSE = 4
    KIND_DROPOUT = 5
    KIND_BATCHNORM = 6

# columns of the layer table: input (C, H, W), output (F, OH, OW) (flat shapes: (n, 1, 1)),
# kernel (a pooling window's side, twice), stride, padding, activation code, offsets of W and b in
# the parameters, first column of a dropout layer's units in the keep mask, maxout pieces, batch
# norm flag, offset of gamma (beta follows) in the parameters, offset of the running mean
# (the variance follows) in the running statistics
cdef enum:
    S_KIND = 0
    S_C = 1
    S_H = 2
    S_W = 3
    S_F = 4
    S_OH = 5
    S_OW = 6
    S_KH = 7
    S_KW = 8
    S_STRIDE = 9
    S_PT = 10
    S_PL = 11
    S_ACT = 12
    S_WOFF = 13
    S_BOFF = 14
    S_DCOL = 15
    S_PIECES = 16   # maxout pieces per unit of a dense layer (1: any other activation)
    S_BN = 17       # 1: batch norm (dense, conv: of z; a batchnorm layer: of its input)
    S_GOFF = 18     # offset of gamma in the parameters (beta follows), with batch norm
    S_ROFF = 19     # offset of the running mean in `running` (the variance follows)
    SPEC_COLUMNS = 20

# columns of fparams: the activation's parameter, the dropout scale 1/(1-p), batch norm's eps and
# momentum
cdef enum:
    F_ACT = 0
    F_SCALE = 1
    F_EPS = 2
    F_MOMENTUM = 3
    FPARAM_COLUMNS = 4


cdef struct Pass:
    Py_ssize_t L
    const Py_ssize_t* spec
    const double* fparams
    int cost
    const Py_ssize_t* out_off
    const Py_ssize_t* d_off
    const Py_ssize_t* cols_off
    const Py_ssize_t* arg_off
    const Py_ssize_t* zh_off
    const Py_ssize_t* st_off
    Py_ssize_t* argbuf
    const unsigned char* keep   # this batch's rows of the keep mask, NULL: no dropout (inference)
    Py_ssize_t keep_stride
    bint batch_stats            # batch norm with the batch's statistics (else the running ones)
    bint from_grad_output       # the output delta from dL/d(outputs) (in T) instead of the cost's
    bint outputs_only           # evaluate: the outputs, no cost (any last layer)
    bint need_input             # backward also writes dC/d(input) at d_off[0]


cdef inline Py_ssize_t norm_units(const Py_ssize_t* row) noexcept nogil:
    """Channels (units) a layer's batch norm works on."""
    return row[S_C] if row[S_KIND] == KIND_BATCHNORM else row[S_F]


# ---------------------------------------------------------------- batch norm per channel
# Values in the layout (outer, C, P): channel c's are Z[o*C*P + c*P + p]; a dense layer's z is
# (m, units, 1), a convolution's Zt (1, F, m*P), a batchnorm layer's input (m, C, H*W). Each channel
# is one thread's; its sums run in (o, p) order, so results do not depend on the thread count.

cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline void norm_train(floating* Z, const floating* bias, const floating* gamma,
                            floating* zhat, floating* mean, floating* inv_std, floating* running,
                            Py_ssize_t outer, Py_ssize_t C, Py_ssize_t P, floating eps,
                            floating momentum, int n_threads) noexcept nogil:
    """Training mode (nnfast/reference/batchnorm.py normalize). IN/OUT Z: z (+ bias[c] first,
    unless bias is NULL) -> gamma * zhat (beta and the activation come after); OUT zhat,
    mean (C,), inv_std (C,) = 1/sqrt(var + eps) over the channel's count = outer*P values (var
    biased). running (2C,) when not NULL: mean then variance <- momentum running + (1 - momentum)
    batch, the variance unbiased (count / (count - 1))."""
    cdef Py_ssize_t c, o, p, at, count = outer * P
    cdef floating total, squares, mu, inv, diff, value
    cdef floating inv_count = <floating>1 / <floating>count
    for c in prange(C, schedule="static", num_threads=n_threads,
                    use_threads_if=n_threads > 1 and C > 1 and count * C >= CONV_PARALLEL_MIN):
        total = 0
        for o in range(outer):
            at = (o * C + c) * P
            for p in range(P):
                if bias != NULL:
                    Z[at + p] = Z[at + p] + bias[c]
                total = total + Z[at + p]
        mu = total * inv_count
        squares = 0
        for o in range(outer):
            at = (o * C + c) * P
            for p in range(P):
                diff = Z[at + p] - mu
                squares = squares + diff * diff
        if running != NULL:
            running[c] = momentum * running[c] + (1 - momentum) * mu
            running[C + c] = momentum * running[C + c] + (1 - momentum) * (
                squares / <floating>(count - 1 if count > 1 else 1))
        inv = 1 / _sqrt(squares * inv_count + eps)
        mean[c] = mu
        inv_std[c] = inv
        for o in range(outer):
            at = (o * C + c) * P
            for p in range(P):
                value = (Z[at + p] - mu) * inv
                zhat[at + p] = value
                Z[at + p] = gamma[c] * value


cdef inline void norm_infer(floating* Z, const floating* bias, const floating* gamma,
                            const floating* running, Py_ssize_t outer, Py_ssize_t C, Py_ssize_t P,
                            floating eps, int n_threads) noexcept nogil:
    """Inference. IN/OUT Z: gamma * ((z + b - running mean) / sqrt(running var + eps)) per
    channel (bias NULL: none)."""
    cdef Py_ssize_t c, o, p, at
    cdef floating inv, b
    for c in prange(C, schedule="static", num_threads=n_threads,
                    use_threads_if=n_threads > 1 and C > 1 and outer * P * C >= CONV_PARALLEL_MIN):
        inv = 1 / _sqrt(running[C + c] + eps)
        b = bias[c] if bias != NULL else 0
        for o in range(outer):
            at = (o * C + c) * P
            for p in range(P):
                Z[at + p] = gamma[c] * (((Z[at + p] + b) - running[c]) * inv)


cdef inline void norm_backward(floating* D, const floating* zhat, const floating* inv_std,
                               const floating* gamma, Py_ssize_t outer, Py_ssize_t C, Py_ssize_t P,
                               floating* dgamma, floating* dbeta, int n_threads) noexcept nogil:
    """IN/OUT D: dC/dy (y = gamma zhat + beta) -> dC/dz; OUT dgamma, dbeta (C,):
    dbeta = sum dy, dgamma = sum dy zhat, dz = (inv_std gamma / count) (count dy - dbeta - zhat dgamma)."""
    cdef Py_ssize_t c, o, p, at, count = outer * P
    cdef floating db, dg, scale, fm = <floating>count
    for c in prange(C, schedule="static", num_threads=n_threads,
                    use_threads_if=n_threads > 1 and C > 1 and count * C >= CONV_PARALLEL_MIN):
        db = 0
        dg = 0
        for o in range(outer):
            at = (o * C + c) * P
            for p in range(P):
                db = db + D[at + p]
                dg = dg + D[at + p] * zhat[at + p]
        dbeta[c] = db
        dgamma[c] = dg
        scale = inv_std[c] * gamma[c] / fm
        for o in range(outer):
            at = (o * C + c) * P
            for p in range(P):
                D[at + p] = scale * ((fm * D[at + p] - db) - zhat[at + p] * dg)


cdef inline void channel_bias_activation(floating* Y, const floating* beta, Py_ssize_t m,
                                         Py_ssize_t C, Py_ssize_t P, int act, floating param,
                                         int n_threads) noexcept nogil:
    """IN/OUT Y (m, C, P): sigma(y + beta[c]) (elementwise activations)."""
    cdef Py_ssize_t img, c, p
    cdef floating* y
    if P == 1:
        bias_activation(Y, beta, m, C, act, param, n_threads)
        return
    for img in prange(m, schedule="static", num_threads=n_threads,
                      use_threads_if=n_threads > 1 and m * C * P >= CONV_PARALLEL_MIN):
        for c in range(C):
            y = Y + (img * C + c) * P
            for p in range(P):
                y[p] = activate(y[p] + beta[c], act, param)


cdef inline void output_delta_from_gradient(floating* D, const floating* A, const floating* G,
                                            Py_ssize_t m, Py_ssize_t n, int act,
                                            floating param) noexcept nogil:
    """OUT D (m, n) = dL/dz of the output layer from G = dL/da: G * sigma'(z), or for softmax the
    Jacobian-vector product a * (g - sum(g * a)) per row."""
    cdef Py_ssize_t i, j
    cdef floating total
    for i in range(m):
        if act == ACT_SOFTMAX:
            total = 0
            for j in range(n):
                total = total + G[i * n + j] * A[i * n + j]
            for j in range(n):
                D[i * n + j] = A[i * n + j] * (G[i * n + j] - total)
        else:
            for j in range(n):
                D[i * n + j] = G[i * n + j] * derivative_from_output(A[i * n + j], act, param)


# ---------------------------------------------------------------- the network

cdef inline bint pool_fused(const Pass* net, Py_ssize_t l) noexcept nogil:
    """Whether layer l is a convolution whose output goes straight into a max pool of windows that
    do not overlap (layer l + 1, over the same (F, OH, OW)): the two then run as one forward
    kernel (conv_pool_forward) and one backward kernel (pool_conv_delta), and the convolution's
    output and its gradient are never written."""
    cdef const Py_ssize_t* row = net.spec + l * SPEC_COLUMNS
    cdef const Py_ssize_t* nxt = row + SPEC_COLUMNS
    return (l + 1 < net.L and row[S_KIND] == KIND_CONV and nxt[S_KIND] == KIND_MAXPOOL
            and nxt[S_C] == row[S_F] and nxt[S_H] == row[S_OH] and nxt[S_W] == row[S_OW]
            and nxt[S_STRIDE] >= nxt[S_KH])


cdef inline void forward(const Pass* net, const floating* P, floating* R, floating* buf,
                         Py_ssize_t zt_off, Py_ssize_t z_off, Py_ssize_t m, bint want_z,
                         int n_threads) noexcept nogil:
    """Every layer's output for the m rows at buf + out_off[0]; z of the last layer when want_z.
    Batch norm: with net.batch_stats the batch's statistics (moving the running ones R when not
    NULL), else the running ones R."""
    cdef Py_ssize_t l, i, j, n_in, n_out, K, npos, ld, k, units
    cdef const Py_ssize_t* row
    cdef floating* inp
    cdef floating* out
    cdef floating* target
    cdef floating* Zt = buf + zt_off
    cdef floating param, scale, eps, momentum
    cdef bint fused = False
    for l in range(net.L):
        if fused:  # a max pool done with the convolution before it
            fused = False
            continue
        row = net.spec + l * SPEC_COLUMNS
        n_in = row[S_C] * row[S_H] * row[S_W]
        n_out = row[S_F] * row[S_OH] * row[S_OW]
        inp = buf + net.out_off[l]
        out = buf + net.out_off[l + 1]
        param = <floating>net.fparams[FPARAM_COLUMNS * l + F_ACT]
        scale = <floating>net.fparams[FPARAM_COLUMNS * l + F_SCALE]
        eps = <floating>net.fparams[FPARAM_COLUMNS * l + F_EPS]
        momentum = <floating>net.fparams[FPARAM_COLUMNS * l + F_MOMENTUM]
        units = norm_units(row)
        if row[S_KIND] == KIND_CONV:
            K = row[S_C] * row[S_KH] * row[S_KW]
            npos = m * row[S_OH] * row[S_OW]
            ld = cols_stride(npos)
            im2col(inp, buf + net.cols_off[l], m, row[S_C], row[S_H], row[S_W], row[S_KH],
                   row[S_KW], row[S_STRIDE], row[S_PT], row[S_PL], row[S_OH], row[S_OW], ld,
                   n_threads)
            matmul(NoTrans, NoTrans, <int>row[S_F], <int>npos, <int>K, <floating>1,
                   P + row[S_WOFF], <int>K, buf + net.cols_off[l], <int>ld, <floating>0, Zt,
                   <int>npos, n_threads)
            if row[S_BN] and net.batch_stats:
                norm_train(Zt, P + row[S_BOFF], P + row[S_GOFF], buf + net.zh_off[l],
                           buf + net.st_off[l], buf + net.st_off[l] + units,
                           R + row[S_ROFF] if R != NULL else NULL, 1, units, npos, eps, momentum,
                           n_threads)
            elif row[S_BN]:
                norm_infer(Zt, P + row[S_BOFF], P + row[S_GOFF], R + row[S_ROFF], 1, units, npos,
                           eps, n_threads)
            fused = pool_fused(net, l)
            if fused:
                conv_pool_forward(Zt, buf + net.out_off[l + 2], net.argbuf + net.arg_off[l + 1],
                                  P + (row[S_GOFF] + units if row[S_BN] else row[S_BOFF]), m,
                                  row[S_F], row[S_OH], row[S_OW], row[SPEC_COLUMNS + S_KH],
                                  row[SPEC_COLUMNS + S_STRIDE], <int>row[S_ACT], param, n_threads)
            else:
                conv_output(Zt, out, P + (row[S_GOFF] + units if row[S_BN] else row[S_BOFF]), m,
                            row[S_F], row[S_OH] * row[S_OW], <int>row[S_ACT], param, n_threads)
        elif row[S_KIND] == KIND_DENSE:
            k = row[S_PIECES]
            target = buf + net.cols_off[l] if k > 1 else out
            matmul(NoTrans, Trans, <int>m, <int>(n_out * k), <int>n_in, <floating>1, inp,
                   <int>n_in, P + row[S_WOFF], <int>n_in, <floating>0, target,
                   <int>(n_out * k), n_threads)
            if want_z and l == net.L - 1:
                for i in range(m):
                    for j in range(n_out):
                        buf[z_off + i * n_out + j] = out[i * n_out + j] + P[row[S_BOFF] + j]
            if k > 1:
                maxout_forward(out, target, P + row[S_BOFF], m, n_out, k)
            elif row[S_BN]:
                if net.batch_stats:
                    norm_train(out, P + row[S_BOFF], P + row[S_GOFF], buf + net.zh_off[l],
                               buf + net.st_off[l], buf + net.st_off[l] + units,
                               R + row[S_ROFF] if R != NULL else NULL, m, units, 1, eps, momentum,
                               n_threads)
                else:
                    norm_infer(out, P + row[S_BOFF], P + row[S_GOFF], R + row[S_ROFF], m, units, 1,
                               eps, n_threads)
                bias_activation(out, P + row[S_GOFF] + units, m, n_out, <int>row[S_ACT], param,
                                n_threads)
            else:
                bias_activation(out, P + row[S_BOFF], m, n_out, <int>row[S_ACT], param, n_threads)
        elif row[S_KIND] == KIND_BATCHNORM:
            memcpy(out, inp, m * n_in * sizeof(floating))
            if net.batch_stats:
                norm_train(out, NULL, P + row[S_GOFF], buf + net.zh_off[l], buf + net.st_off[l],
                           buf + net.st_off[l] + units, R + row[S_ROFF] if R != NULL else NULL, m,
                           units, row[S_H] * row[S_W], eps, momentum, n_threads)
            else:
                norm_infer(out, NULL, P + row[S_GOFF], R + row[S_ROFF], m, units,
                           row[S_H] * row[S_W], eps, n_threads)
            channel_bias_activation(out, P + row[S_GOFF] + units, m, units, row[S_H] * row[S_W],
                                    <int>row[S_ACT], param, n_threads)
        elif row[S_KIND] == KIND_MAXPOOL:
            maxpool_forward(inp, out, net.argbuf + net.arg_off[l], m, row[S_C], row[S_H], row[S_W],
                            row[S_KH], row[S_STRIDE], n_threads)
        elif row[S_KIND] == KIND_AVGPOOL:
            avgpool_forward(inp, out, m, row[S_C], row[S_H], row[S_W], row[S_KH], row[S_STRIDE],
                            n_threads)
        elif row[S_KIND] == KIND_DROPOUT and net.keep != NULL:
            apply_mask(out, inp, net.keep + row[S_DCOL], net.keep_stride, m, n_in, scale)
        else:  # flatten, and dropout at inference
            memcpy(out, inp, m * n_in * sizeof(floating))


cdef inline void _zero(floating* values, Py_ssize_t count) noexcept nogil:
    memset(values, 0, count * sizeof(floating))


cdef inline void backward(const Pass* net, const floating* P, floating* G, floating* buf,
                          Py_ssize_t zt_off, const floating* T, Py_ssize_t m,
                          int n_threads) noexcept nogil:
    """OUT G (the layout of P): the summed gradients of the m rows' costs, after forward (with
    batch statistics). T: the target rows, or dL/d(outputs) with net.from_grad_output. With
    net.need_input also dC/d(input) at d_off[0]. A batch-normalised layer's bias gets gradient 0,
    its gamma and beta theirs."""
    cdef Py_ssize_t l, n_in, n_out, K, npos, ld, k, units
    cdef const Py_ssize_t* row
    cdef floating* inp
    cdef floating* out
    cdef floating* D
    cdef floating* Dl
    cdef floating* below
    cdef floating* Dt = buf + zt_off
    cdef floating param, scale
    cdef bint need_below
    row = net.spec + (net.L - 1) * SPEC_COLUMNS
    if net.from_grad_output and row[S_KIND] != KIND_DENSE:  # dL/d(outputs) of any last layer
        memcpy(buf + net.d_off[net.L], T, m * row[S_F] * row[S_OH] * row[S_OW] * sizeof(floating))
    for l in range(net.L - 1, -1, -1):
        row = net.spec + l * SPEC_COLUMNS
        n_in = row[S_C] * row[S_H] * row[S_W]
        n_out = row[S_F] * row[S_OH] * row[S_OW]
        inp = buf + net.out_off[l]
        out = buf + net.out_off[l + 1]
        D = buf + net.d_off[l + 1]  # dC/d(output of layer l); becomes dC/dz in place
        below = buf + net.d_off[l]  # dC/d(input of layer l), for l > 0 (or need_input)
        need_below = l > 0 or net.need_input
        if l > 0 and row[S_KIND] == KIND_MAXPOOL and pool_fused(net, l - 1):
            continue  # done with the convolution below it (pool_conv_delta)
        param = <floating>net.fparams[FPARAM_COLUMNS * l + F_ACT]
        scale = <floating>net.fparams[FPARAM_COLUMNS * l + F_SCALE]
        units = norm_units(row)
        if row[S_KIND] == KIND_DENSE:
            k = row[S_PIECES]
            Dl = D
            if l == net.L - 1 and net.from_grad_output:
                output_delta_from_gradient(D, out, T, m, n_out, <int>row[S_ACT], param)
            elif l == net.L - 1:
                output_delta(D, out, T, m, n_out, <int>row[S_ACT], param, net.cost)  # BP1
            elif k > 1:  # each unit's delta to its largest piece
                maxout_route(Dt, D, buf + net.cols_off[l], m, n_out, k)
                Dl = Dt
            else:
                multiply_derivative(D, out, m, n_out, <int>row[S_ACT], param, n_threads)
            if row[S_BN]:
                norm_backward(D, buf + net.zh_off[l], buf + net.st_off[l] + units,
                              P + row[S_GOFF], m, units, 1, G + row[S_GOFF],
                              G + row[S_GOFF] + units, n_threads)
                _zero(G + row[S_BOFF], n_out)
            else:
                column_sums(Dl, m, n_out * k, G + row[S_BOFF])
            matmul(Trans, NoTrans, <int>(n_out * k), <int>n_in, <int>m, <floating>1, Dl,
                   <int>(n_out * k), inp, <int>n_in, <floating>0, G + row[S_WOFF], <int>n_in,
                   n_threads)
            if need_below:
                matmul(NoTrans, NoTrans, <int>m, <int>n_in, <int>(n_out * k), <floating>1, Dl,
                       <int>(n_out * k), P + row[S_WOFF], <int>n_in, <floating>0, below,
                       <int>n_in, n_threads)
        elif row[S_KIND] == KIND_CONV:
            K = row[S_C] * row[S_KH] * row[S_KW]
            npos = m * row[S_OH] * row[S_OW]
            if pool_fused(net, l):  # from the max pool's gradient straight to Dt
                pool_conv_delta(buf + net.d_off[l + 2], buf + net.out_off[l + 2],
                                net.argbuf + net.arg_off[l + 1], Dt, m, row[S_F], row[S_OH],
                                row[S_OW], row[SPEC_COLUMNS + S_KH],
                                row[SPEC_COLUMNS + S_STRIDE], <int>row[S_ACT], param, n_threads)
            else:
                conv_delta(D, out, m, n_out, <int>row[S_ACT], param, n_threads)
                conv_gather(D, Dt, m, row[S_F], row[S_OH] * row[S_OW], n_threads)
            if row[S_BN]:
                norm_backward(Dt, buf + net.zh_off[l], buf + net.st_off[l] + units,
                              P + row[S_GOFF], 1, units, npos, G + row[S_GOFF],
                              G + row[S_GOFF] + units, n_threads)
                _zero(G + row[S_BOFF], row[S_F])
            else:
                row_sums(Dt, row[S_F], npos, G + row[S_BOFF])
            ld = cols_stride(npos)
            matmul(NoTrans, Trans, <int>row[S_F], <int>K, <int>npos, <floating>1, Dt, <int>npos,
                   buf + net.cols_off[l], <int>ld, <floating>0, G + row[S_WOFF], <int>K,
                   n_threads)
            if need_below:  # the columns' gradients overwrite the columns (no longer needed)
                matmul(Trans, NoTrans, <int>K, <int>npos, <int>row[S_F], <floating>1,
                       P + row[S_WOFF], <int>K, Dt, <int>npos, <floating>0,
                       buf + net.cols_off[l], <int>ld, n_threads)
                col2im(buf + net.cols_off[l], below, m, row[S_C], row[S_H], row[S_W], row[S_KH],
                       row[S_KW], row[S_STRIDE], row[S_PT], row[S_PL], row[S_OH], row[S_OW], ld,
                       n_threads)
        elif row[S_KIND] == KIND_BATCHNORM:
            multiply_derivative(D, out, m, n_out, <int>row[S_ACT], param, n_threads)
            norm_backward(D, buf + net.zh_off[l], buf + net.st_off[l] + units, P + row[S_GOFF], m,
                          units, row[S_H] * row[S_W], G + row[S_GOFF], G + row[S_GOFF] + units,
                          n_threads)
            if need_below:
                memcpy(below, D, m * n_in * sizeof(floating))
        elif not need_below:
            continue
        elif row[S_KIND] == KIND_MAXPOOL:
            maxpool_backward(D, net.argbuf + net.arg_off[l], below, m, n_in, n_out, n_threads)
        elif row[S_KIND] == KIND_AVGPOOL:
            avgpool_backward(D, below, m, row[S_C], row[S_H], row[S_W], row[S_KH], row[S_STRIDE],
                             n_threads)
        elif row[S_KIND] == KIND_DROPOUT and net.keep != NULL:
            apply_mask(below, D, net.keep + row[S_DCOL], net.keep_stride, m, n_in, scale)
        else:
            memcpy(below, D, m * n_in * sizeof(floating))
