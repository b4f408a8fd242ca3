# Convolution and pooling kernels for nnfast.Sequential (header-only: inline, nogil, noexcept).
#
# Layouts (as in nnfast/reference/conv.py, the spec): a batch of m images is m rows of C*H*W values
# (C order). im2col's `cols` is (K, m*P): row k = (c, i, j) a kernel tap (K = C*kh*kw), column
# img*P + y*out_w + x an (image, output position) pair (P = out_h*out_w), its rows `ld` >= m*P
# apart (the layer engine: cols_stride(m*P)). A convolution's pre-activations come out of one
# GEMM as Zt (F, m*P).
#
# Every loop over images writes only that image's part of the output (no shared `+=`), and the
# sums inside an image run in a fixed order, so results do not depend on the thread count.
# Output buffers are passed in by the caller; nothing here allocates.
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset

from _elementwise cimport (activate, derivative_from_output, multiply_derivative, nnf_isa,
                           ACT_IDENTITY, ACT_RELU)

cdef extern from "_convrows.h" nogil:
    void nnf_copy_rows_s(int isa, float* dst, const float* src, Py_ssize_t rows, Py_ssize_t n,
                         Py_ssize_t src_stride)
    void nnf_copy_rows_d(int isa, double* dst, const double* src, Py_ssize_t rows, Py_ssize_t n,
                         Py_ssize_t src_stride)
    void nnf_add_rows_s(int isa, float* dst, const float* src, Py_ssize_t rows, Py_ssize_t n,
                        Py_ssize_t dst_stride)
    void nnf_add_rows_d(int isa, double* dst, const double* src, Py_ssize_t rows, Py_ssize_t n,
                        Py_ssize_t dst_stride)
    void nnf_pool2_s(const float* z, float bias, Py_ssize_t W, Py_ssize_t oh, Py_ssize_t ow,
                     int relu, float* y, Py_ssize_t* arg, Py_ssize_t base)
    void nnf_pool2_d(const double* z, double bias, Py_ssize_t W, Py_ssize_t oh, Py_ssize_t ow,
                     int relu, double* y, Py_ssize_t* arg, Py_ssize_t base)
    void nnf_unpool2_s(const float* dY, const float* Y, const Py_ssize_t* arg, Py_ssize_t H,
                       Py_ssize_t W, Py_ssize_t oh, Py_ssize_t ow, int relu, float* d,
                       Py_ssize_t base)
    void nnf_unpool2_d(const double* dY, const double* Y, const Py_ssize_t* arg, Py_ssize_t H,
                       Py_ssize_t W, Py_ssize_t oh, Py_ssize_t ow, int relu, double* d,
                       Py_ssize_t base)

# Below this many output elements a loop over images stays on one thread.
cdef enum:
    CONV_PARALLEL_MIN = 16384


cdef inline void _valid_columns(Py_ssize_t j, Py_ssize_t s, Py_ssize_t pl, Py_ssize_t W,
                                Py_ssize_t ow, Py_ssize_t* lo, Py_ssize_t* hi) noexcept nogil:
    """OUT [lo, hi): the output columns ox whose input column ox*s + j - pl lies in [0, W)."""
    lo[0] = 0 if j >= pl else (pl - j + s - 1) // s
    hi[0] = 0 if W - 1 - j + pl < 0 else min(ow, (W - 1 - j + pl) // s + 1)
    if lo[0] > ow:
        lo[0] = ow
    if hi[0] < lo[0]:
        hi[0] = lo[0]


cdef inline void copy_rows(int isa, floating* dst, const floating* src, Py_ssize_t rows,
                           Py_ssize_t n, Py_ssize_t src_stride) noexcept nogil:
    """OUT dst (rows, n) contiguous = rows of n values of src, src_stride apart (isa: nnf_isa())."""
    if floating is float:
        nnf_copy_rows_s(isa, dst, src, rows, n, src_stride)
    else:
        nnf_copy_rows_d(isa, dst, src, rows, n, src_stride)


cdef inline void add_rows(int isa, floating* dst, const floating* src, Py_ssize_t rows,
                          Py_ssize_t n, Py_ssize_t dst_stride) noexcept nogil:
    """IN/OUT dst (rows of n values, dst_stride apart) += src (rows, n) contiguous (isa:
    nnf_isa())."""
    if floating is float:
        nnf_add_rows_s(isa, dst, src, rows, n, dst_stride)
    else:
        nnf_add_rows_d(isa, dst, src, rows, n, dst_stride)


cdef inline Py_ssize_t cols_stride(Py_ssize_t npos) noexcept nogil:
    """The layer engine's row stride of a convolution's columns (K, npos): npos rounded up to 16
    values, plus 16. Rows of a power-of-two number of bytes (8 rows x 64 positions of float32:
    2 KB) fall into a fraction of the cache's sets, so the columns of one slice (1 MB) would not
    stay in L2 between im2col, the GEMMs and col2im; 64 bytes more per row spread them."""
    return (npos + 15) // 16 * 16 + 16


cdef inline bint whole_tap(Py_ssize_t i, Py_ssize_t j, Py_ssize_t H, Py_ssize_t W, Py_ssize_t s,
                           Py_ssize_t pt, Py_ssize_t pl, Py_ssize_t oh,
                           Py_ssize_t ow) noexcept nogil:
    """Whether tap (i, j) at stride 1 reads only pixels inside the image for every output
    position: then its rows of the columns are a block of the image (no padding)."""
    return (s == 1 and i >= pt and oh - 1 + i - pt < H and j >= pl
            and ow - 1 + j - pl < W)


cdef inline void im2col_image(const floating* x, floating* cols, Py_ssize_t col0, Py_ssize_t row_len,
                              Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh,
                              Py_ssize_t kw, Py_ssize_t s, Py_ssize_t pt, Py_ssize_t pl,
                              Py_ssize_t oh, Py_ssize_t ow, int isa) noexcept nogil:
    """OUT cols[k, col0 + y*ow + x] for one image x (C, H, W); row_len = m*P (zero in the padding);
    isa: nnf_isa()."""
    cdef Py_ssize_t k, c, i, j, oy, ox, yy, lo, hi
    cdef floating* dst
    cdef const floating* src
    for c in range(C):  # taps k = (c, i, j) in order
        for i in range(kh):
            for j in range(kw):
                k = (c * kh + i) * kw + j
                if whole_tap(i, j, H, W, s, pt, pl, oh, ow):  # stride 1, no padding: a block
                    copy_rows(isa, cols + k * row_len + col0, x + (c * H + i - pt) * W + j - pl,
                              oh, ow, W)
                    continue
                _valid_columns(j, s, pl, W, ow, &lo, &hi)
                for oy in range(oh):
                    dst = cols + k * row_len + col0 + oy * ow
                    yy = oy * s + i - pt
                    if yy < 0 or yy >= H:
                        memset(dst, 0, ow * sizeof(floating))
                        continue
                    src = x + (c * H + yy) * W + j - pl  # src[ox * s]: input column ox*s + j - pl
                    for ox in range(lo):
                        dst[ox] = 0
                    if s == 1:
                        copy_rows(isa, dst + lo, src + lo, 1, hi - lo, 0)
                    else:
                        for ox in range(lo, hi):
                            dst[ox] = src[ox * s]
                    for ox in range(hi, ow):
                        dst[ox] = 0


cdef inline void col2im_image(const floating* cols, floating* dx, Py_ssize_t col0, Py_ssize_t row_len,
                              Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh,
                              Py_ssize_t kw, Py_ssize_t s, Py_ssize_t pt, Py_ssize_t pl,
                              Py_ssize_t oh, Py_ssize_t ow, int isa) noexcept nogil:
    """OUT dx (C, H, W) of one image = the sum of its columns' entries back at their pixels, taps
    in (c, i, j) order (the adjoint of im2col_image)."""
    cdef Py_ssize_t k, c, i, j, oy, ox, yy, lo, hi
    cdef const floating* src
    cdef floating* dst
    memset(dx, 0, C * H * W * sizeof(floating))
    for c in range(C):  # taps k = (c, i, j) in order
        for i in range(kh):
            for j in range(kw):
                k = (c * kh + i) * kw + j
                if whole_tap(i, j, H, W, s, pt, pl, oh, ow):  # stride 1, no padding: one block
                    add_rows(isa, dx + (c * H + i - pt) * W + j - pl, cols + k * row_len + col0,
                             oh, ow, W)
                    continue
                _valid_columns(j, s, pl, W, ow, &lo, &hi)
                for oy in range(oh):
                    yy = oy * s + i - pt
                    if yy < 0 or yy >= H:
                        continue
                    src = cols + k * row_len + col0 + oy * ow
                    dst = dx + (c * H + yy) * W + j - pl  # dst[ox * s]: input column ox*s + j - pl
                    if s == 1:
                        add_rows(isa, dst + lo, src + lo, 1, hi - lo, 0)
                    else:
                        for ox in range(lo, hi):
                            dst[ox * s] = dst[ox * s] + src[ox]


cdef inline void im2col(const floating* X, floating* cols, Py_ssize_t m, Py_ssize_t C, Py_ssize_t H,
                        Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t s, Py_ssize_t pt,
                        Py_ssize_t pl, Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t ld,
                        int n_threads) noexcept nogil:
    """IN X (m, C*H*W); OUT cols (C*kh*kw, m*oh*ow), rows ld apart (ld >= m*oh*ow; the rest of a
    row is not written). Images in parallel."""
    cdef Py_ssize_t img, P = oh * ow
    cdef int isa = nnf_isa()
    for img in prange(m, schedule="static", num_threads=n_threads,
                      use_threads_if=n_threads > 1 and m * P * C * kh * kw >= CONV_PARALLEL_MIN):
        im2col_image(X + img * C * H * W, cols, img * P, ld, C, H, W, kh, kw, s, pt, pl, oh, ow,
                     isa)


cdef inline void col2im(const floating* cols, floating* dX, Py_ssize_t m, Py_ssize_t C, Py_ssize_t H,
                        Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t s, Py_ssize_t pt,
                        Py_ssize_t pl, Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t ld,
                        int n_threads) noexcept nogil:
    """IN cols (C*kh*kw, m*oh*ow), rows ld apart; OUT dX (m, C*H*W). Images in parallel (each
    writes its own)."""
    cdef Py_ssize_t img, P = oh * ow
    cdef int isa = nnf_isa()
    for img in prange(m, schedule="static", num_threads=n_threads,
                      use_threads_if=n_threads > 1 and m * P * C * kh * kw >= CONV_PARALLEL_MIN):
        col2im_image(cols, dX + img * C * H * W, img * P, ld, C, H, W, kh, kw, s, pt, pl, oh, ow,
                     isa)


cdef inline void conv_output(const floating* Zt, floating* out, const floating* bias, Py_ssize_t m,
                             Py_ssize_t F, Py_ssize_t P, int act, floating param,
                             int n_threads) noexcept nogil:
    """IN Zt (F, m*P); OUT out (m, F*P) = sigma(Zt[f, img*P + p] + b[f]) (act: elementwise)."""
    cdef Py_ssize_t img, f, p
    cdef const floating* src
    cdef floating* dst
    cdef floating b, value
    for img in prange(m, schedule="static", num_threads=n_threads,
                      use_threads_if=n_threads > 1 and m * F * P >= CONV_PARALLEL_MIN):
        for f in range(F):
            src = Zt + f * m * P + img * P
            dst = out + (img * F + f) * P
            b = bias[f]
            if act == ACT_RELU:  # the common case, as a loop the compiler can vectorize
                for p in range(P):
                    value = src[p] + b
                    dst[p] = value if value > 0 else 0
            elif act == ACT_IDENTITY:
                for p in range(P):
                    dst[p] = src[p] + b
            else:
                for p in range(P):
                    dst[p] = activate(src[p] + b, act, param)


cdef inline void pool2(const floating* z, floating bias, Py_ssize_t W, Py_ssize_t oh,
                       Py_ssize_t ow, bint relu, floating* y, Py_ssize_t* arg,
                       Py_ssize_t base) noexcept nogil:
    """2x2 windows at stride 2 of the plane z (rows of W values) after z + bias (relu: then
    max(., 0)): OUT y (oh, ow) the first maxima (row-major), arg their indices base + row*W + col."""
    if floating is float:
        nnf_pool2_s(z, bias, W, oh, ow, relu, y, arg, base)
    else:
        nnf_pool2_d(z, bias, W, oh, ow, relu, y, arg, base)


cdef inline void conv_pool_forward(const floating* Zt, floating* Y, Py_ssize_t* argmax,
                                   const floating* bias, Py_ssize_t m, Py_ssize_t F, Py_ssize_t H,
                                   Py_ssize_t W, Py_ssize_t size, Py_ssize_t stride, int act,
                                   floating param, int n_threads) noexcept nogil:
    """IN Zt (F, m*H*W): a convolution's pre-activations without the bias; OUT Y, argmax
    (m, F*oh*ow): maxpool_forward (size, stride) of conv_output(Zt) = sigma(Zt + b), the same
    values and the same first maxima, in one pass (the convolution's output is never written).
    For windows that do not overlap (stride >= size: pool_conv_delta is the backward pass)."""
    cdef Py_ssize_t img, f, oy, ox, i, j, best, at, P = H * W
    cdef Py_ssize_t oh = (H - size) // stride + 1, ow = (W - size) // stride + 1
    cdef const floating* z
    cdef floating* y
    cdef Py_ssize_t* arg
    cdef floating top, value, b
    for img in prange(m, schedule="static", num_threads=n_threads,
                      use_threads_if=n_threads > 1 and m * F * P >= CONV_PARALLEL_MIN):
        for f in range(F):
            z = Zt + f * m * P + img * P
            b = bias[f]
            y = Y + (img * F + f) * oh * ow
            arg = argmax + (img * F + f) * oh * ow
            if size == 2 and stride == 2 and (act == ACT_RELU or act == ACT_IDENTITY):
                pool2(z, b, W, oh, ow, act == ACT_RELU, y, arg, f * P)
                continue
            for oy in range(oh):
                for ox in range(ow):
                    best = oy * stride * W + ox * stride
                    top = activate(z[best] + b, act, param)
                    for i in range(size):
                        for j in range(size):
                            at = (oy * stride + i) * W + ox * stride + j
                            value = activate(z[at] + b, act, param)
                            if value > top:
                                top = value
                                best = at
                    y[oy * ow + ox] = top
                    arg[oy * ow + ox] = f * P + best


cdef inline void pool_conv_delta(const floating* dY, const floating* Y, const Py_ssize_t* argmax,
                                 floating* Dt, Py_ssize_t m, Py_ssize_t F, Py_ssize_t H,
                                 Py_ssize_t W, Py_ssize_t size, Py_ssize_t stride, int act,
                                 floating param, int n_threads) noexcept nogil:
    """IN dY, Y, argmax (m, F*oh*ow): the gradient, output and argmax of a max pool (size, stride
    >= size: windows not overlapping) over a convolution's output (m, F*H*W); OUT Dt (F, m*H*W):
    the convolution's dC/dz in the layout of Zt, in one pass: maxpool_backward, conv_delta and
    conv_gather together. At each argmax dY * sigma'(z), sigma'(z) from the output there, which
    is Y; 0 elsewhere. 2x2 windows at stride 2 with ReLU or identity: nnf_unpool2, which writes
    each plane in order (no memset, no scatter)."""
    cdef Py_ssize_t img, f, q, P = H * W
    cdef Py_ssize_t oh = (H - size) // stride + 1, ow = (W - size) // stride + 1, n_pool = oh * ow
    cdef floating* d
    cdef Py_ssize_t at
    for img in prange(m, schedule="static", num_threads=n_threads,
                      use_threads_if=n_threads > 1 and m * F * P >= CONV_PARALLEL_MIN):
        for f in range(F):
            at = (img * F + f) * n_pool
            if size == 2 and stride == 2 and (act == ACT_RELU or act == ACT_IDENTITY):
                if floating is float:
                    nnf_unpool2_s(dY + at, Y + at, argmax + at, H, W, oh, ow, act == ACT_RELU,
                                  Dt + f * m * P + img * P, f * P)
                else:
                    nnf_unpool2_d(dY + at, Y + at, argmax + at, H, W, oh, ow, act == ACT_RELU,
                                  Dt + f * m * P + img * P, f * P)
                continue
            d = Dt + f * m * P + img * P - f * P  # d[argmax] is the plane's entry
            memset(d + f * P, 0, P * sizeof(floating))
            for q in range(at, at + n_pool):
                if act == ACT_RELU:
                    d[argmax[q]] = dY[q] * (<floating>1 if Y[q] > 0 else <floating>0)
                elif act == ACT_IDENTITY:
                    d[argmax[q]] = dY[q]
                else:
                    d[argmax[q]] = dY[q] * derivative_from_output(Y[q], act, param)


cdef inline void conv_gather(const floating* D, floating* Dt, Py_ssize_t m, Py_ssize_t F,
                             Py_ssize_t P, int n_threads) noexcept nogil:
    """IN D (m, F*P); OUT Dt (F, m*P): the deltas in the layout of Zt."""
    cdef Py_ssize_t img, f, p
    for img in prange(m, schedule="static", num_threads=n_threads,
                      use_threads_if=n_threads > 1 and m * F * P >= CONV_PARALLEL_MIN):
        for f in range(F):
            for p in range(P):
                Dt[f * m * P + img * P + p] = D[(img * F + f) * P + p]


cdef enum:
    SUM_LANES = 8


cdef inline void row_sums(const floating* A, Py_ssize_t rows, Py_ssize_t cols,
                          floating* out) noexcept nogil:
    """OUT out (rows,) = the sum of each row of A (rows, cols): 8 interleaved partial sums (element
    j goes to lane j % 8), then the lanes added in order; a fixed order, and 8 independent chains
    instead of one long dependent one."""
    cdef Py_ssize_t r, j, lane, full
    cdef floating lanes[SUM_LANES]
    cdef floating total
    cdef const floating* row
    full = cols - cols % SUM_LANES
    for r in range(rows):
        row = A + r * cols
        for lane in range(SUM_LANES):
            lanes[lane] = 0
        for j in range(full // SUM_LANES):
            for lane in range(SUM_LANES):
                lanes[lane] = lanes[lane] + row[j * SUM_LANES + lane]
        for j in range(full, cols):
            lanes[j - full] = lanes[j - full] + row[j]
        total = 0
        for lane in range(SUM_LANES):
            total = total + lanes[lane]
        out[r] = total


cdef inline void conv_delta(floating* D, const floating* A, Py_ssize_t m, Py_ssize_t n, int act,
                            floating param, int n_threads) noexcept nogil:
    """IN/OUT D (m, n) <- D * sigma'(z) from the outputs A: ReLU as D * (A > 0) in one flat loop
    (the same numbers as _elementwise's multiply_derivative, which does every other activation)."""
    cdef Py_ssize_t i
    if act == ACT_RELU:
        for i in range(m * n):
            D[i] = D[i] * (<floating>1 if A[i] > 0 else <floating>0)
    else:
        multiply_derivative(D, A, m, n, act, param, n_threads)


cdef inline void maxpool_forward(const floating* X, floating* Y, Py_ssize_t* argmax, Py_ssize_t m,
                                 Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t size,
                                 Py_ssize_t stride, int n_threads) noexcept nogil:
    """IN X (m, C*H*W); OUT Y (m, C*oh*ow) the maxima of the size x size windows starting every
    `stride` pixels (oh = (H - size) // stride + 1, ow likewise) and argmax (m, C*oh*ow): the index
    c*H*W + y*W + x within the image of each window's first maximum in row-major order."""
    cdef Py_ssize_t img, c, oy, ox, i, j, best, at
    cdef Py_ssize_t oh = (H - size) // stride + 1, ow = (W - size) // stride + 1
    cdef const floating* x
    cdef floating top
    for img in prange(m, schedule="static", num_threads=n_threads,
                      use_threads_if=n_threads > 1 and m * C * H * W >= CONV_PARALLEL_MIN):
        x = X + img * C * H * W
        for c in range(C):
            for oy in range(oh):
                for ox in range(ow):
                    best = (c * H + oy * stride) * W + ox * stride
                    top = x[best]
                    for i in range(size):
                        for j in range(size):
                            at = (c * H + oy * stride + i) * W + ox * stride + j
                            if x[at] > top:
                                top = x[at]
                                best = at
                    Y[((img * C + c) * oh + oy) * ow + ox] = top
                    argmax[((img * C + c) * oh + oy) * ow + ox] = best


cdef inline void maxpool_backward(const floating* dY, const Py_ssize_t* argmax, floating* dX,
                                  Py_ssize_t m, Py_ssize_t n_in, Py_ssize_t n_out,
                                  int n_threads) noexcept nogil:
    """IN dY, argmax (m, n_out); OUT dX (m, n_in): dY added at each argmax, outputs in order (where
    windows overlap an input may receive several), 0 elsewhere. Each image is one thread's."""
    cdef Py_ssize_t img, q
    for img in prange(m, schedule="static", num_threads=n_threads,
                      use_threads_if=n_threads > 1 and m * n_in >= CONV_PARALLEL_MIN):
        memset(dX + img * n_in, 0, n_in * sizeof(floating))
        for q in range(n_out):
            dX[img * n_in + argmax[img * n_out + q]] += dY[img * n_out + q]


cdef inline void avgpool_forward(const floating* X, floating* Y, Py_ssize_t m, Py_ssize_t C,
                                 Py_ssize_t H, Py_ssize_t W, Py_ssize_t size, Py_ssize_t stride,
                                 int n_threads) noexcept nogil:
    """IN X (m, C*H*W); OUT Y (m, C*oh*ow): each window's sum (row-major) times 1/size^2."""
    cdef Py_ssize_t img, c, oy, ox, i, j
    cdef Py_ssize_t oh = (H - size) // stride + 1, ow = (W - size) // stride + 1
    cdef const floating* x
    cdef floating total, inv = <floating>(1.0 / <double>(size * size))
    for img in prange(m, schedule="static", num_threads=n_threads,
                      use_threads_if=n_threads > 1 and m * C * H * W >= CONV_PARALLEL_MIN):
        x = X + img * C * H * W
        for c in range(C):
            for oy in range(oh):
                for ox in range(ow):
                    total = 0
                    for i in range(size):
                        for j in range(size):
                            total = total + x[(c * H + oy * stride + i) * W + ox * stride + j]
                    Y[((img * C + c) * oh + oy) * ow + ox] = total * inv


cdef inline void avgpool_backward(const floating* dY, floating* dX, Py_ssize_t m, Py_ssize_t C,
                                  Py_ssize_t H, Py_ssize_t W, Py_ssize_t size, Py_ssize_t stride,
                                  int n_threads) noexcept nogil:
    """IN dY (m, C*oh*ow); OUT dX (m, C*H*W): dY / size^2 added over each window, window taps
    (i, j) in row-major order outside, windows inside (the reference's order); 0 where no window
    reaches. Each image is one thread's."""
    cdef Py_ssize_t img, c, oy, ox, i, j
    cdef Py_ssize_t oh = (H - size) // stride + 1, ow = (W - size) // stride + 1
    cdef floating inv = <floating>(1.0 / <double>(size * size))
    cdef floating* dx
    cdef const floating* dy
    for img in prange(m, schedule="static", num_threads=n_threads,
                      use_threads_if=n_threads > 1 and m * C * H * W >= CONV_PARALLEL_MIN):
        dx = dX + img * C * H * W
        memset(dx, 0, C * H * W * sizeof(floating))
        for c in range(C):
            dy = dY + (img * C + c) * oh * ow
            for i in range(size):
                for j in range(size):
                    for oy in range(oh):
                        for ox in range(ow):
                            dx[(c * H + oy * stride + i) * W + ox * stride + j] += \
                                dy[oy * ow + ox] * inv


# ---------------------------------------------------------------- checks (with the GIL)

cdef inline int check_geometry(Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t kh,
                               Py_ssize_t kw, Py_ssize_t s, Py_ssize_t pt, Py_ssize_t pl,
                               Py_ssize_t oh, Py_ssize_t ow) except -1:
    """Refuse a convolution geometry the kernels cannot run (their reads are bounds-checked, but
    the buffers are sized from these numbers)."""
    if min(C, H, W, kh, kw, s, oh, ow) < 1 or pt < 0 or pl < 0 or pt >= kh or pl >= kw:
        raise ValueError("convolution geometry: sizes, kernel, stride and output must be >= 1 and "
                         "the padding in [0, kernel)")
    return 0


cdef inline int check_pool(Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t size,
                           Py_ssize_t stride) except -1:
    """Refuse a pooling window that does not fit the image, or a stride < 1."""
    if min(C, H, W, size, stride) < 1 or size > H or size > W:
        raise ValueError("pooling: sizes and stride must be >= 1 and the window no larger than "
                         "the image")
    return 0
