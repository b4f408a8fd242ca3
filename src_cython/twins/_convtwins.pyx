"""Python-visible twins of the convolution and pooling kernels of _convkern.pxd, for the tests
(tests/test_conv.py holds each against nnfast/reference/conv.py). Arrays are checked before the
GIL is released."""

import numpy as np

from cython cimport floating

from _blas cimport NoTrans
from _matmul cimport matmul
from _convkern cimport (im2col as _im2col, col2im as _col2im, conv_output,
                        conv_pool_forward as _conv_pool_forward,
                        pool_conv_delta as _pool_conv_delta,
                        maxpool_forward as _maxpool_forward, maxpool_backward as _maxpool_backward,
                        avgpool_forward as _avgpool_forward, avgpool_backward as _avgpool_backward,
                        check_geometry, check_pool)


def _check_shape(array, shape, name):
    if tuple(array.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(array.shape)}")


def im2col(const floating[:, ::1] X, floating[:, ::1] cols, Py_ssize_t C, Py_ssize_t H,
           Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride, Py_ssize_t pad_top,
           Py_ssize_t pad_left, Py_ssize_t out_h, Py_ssize_t out_w, int n_threads=1):
    """IN X (m, C*H*W); OUT cols (C*kh*kw, m*out_h*out_w) (twin of reference.conv.im2col); cols
    may have longer rows (C*kh*kw, ld > m*out_h*out_w), whose ends are left alone (the layer
    engine's layout: cols_stride)."""
    cdef Py_ssize_t m = X.shape[0]
    check_geometry(C, H, W, kh, kw, stride, pad_top, pad_left, out_h, out_w)
    _check_shape(X, (m, C * H * W), "X")
    _check_shape(cols, (C * kh * kw, max(cols.shape[1], m * out_h * out_w)), "cols")
    with nogil:
        _im2col(&X[0, 0], &cols[0, 0], m, C, H, W, kh, kw, stride, pad_top, pad_left, out_h,
                out_w, cols.shape[1], n_threads)


def col2im(const floating[:, ::1] cols, floating[:, ::1] dX, Py_ssize_t C, Py_ssize_t H,
           Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride, Py_ssize_t pad_top,
           Py_ssize_t pad_left, Py_ssize_t out_h, Py_ssize_t out_w, int n_threads=1):
    """IN cols (C*kh*kw, m*out_h*out_w), or with longer rows (ld > m*out_h*out_w: their ends are
    not read); OUT dX (m, C*H*W) (twin of reference.conv.col2im)."""
    cdef Py_ssize_t m = dX.shape[0]
    check_geometry(C, H, W, kh, kw, stride, pad_top, pad_left, out_h, out_w)
    _check_shape(dX, (m, C * H * W), "dX")
    _check_shape(cols, (C * kh * kw, max(cols.shape[1], m * out_h * out_w)), "cols")
    with nogil:
        _col2im(&cols[0, 0], &dX[0, 0], m, C, H, W, kh, kw, stride, pad_top, pad_left, out_h,
                out_w, cols.shape[1], n_threads)


def conv_forward(const floating[:, ::1] X, const floating[:, ::1] weights,
                 const floating[::1] bias, floating[:, ::1] out, Py_ssize_t C, Py_ssize_t H,
                 Py_ssize_t W, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t stride, Py_ssize_t pad_top,
                 Py_ssize_t pad_left, Py_ssize_t out_h, Py_ssize_t out_w, int act=0,
                 double param=0.0, int n_threads=1):
    """OUT out (m, F*out_h*out_w) = sigma(conv(X) + b) with weights (F, C*kh*kw); returns cols
    (act 0 = identity: the reference's Z)."""
    cdef Py_ssize_t m = X.shape[0], F = weights.shape[0], P = out_h * out_w, K = C * kh * kw
    check_geometry(C, H, W, kh, kw, stride, pad_top, pad_left, out_h, out_w)
    _check_shape(X, (m, C * H * W), "X")
    _check_shape(weights, (F, K), "weights")
    _check_shape(bias, (F,), "bias")
    _check_shape(out, (m, F * P), "out")
    cols_arr = np.empty((K, m * P), dtype=np.asarray(X).dtype)
    Zt_arr = np.empty((F, m * P), dtype=np.asarray(X).dtype)
    cdef floating[:, ::1] cols = cols_arr
    cdef floating[:, ::1] Zt = Zt_arr
    with nogil:
        _im2col(&X[0, 0], &cols[0, 0], m, C, H, W, kh, kw, stride, pad_top, pad_left, out_h,
                out_w, m * P, n_threads)
        matmul(NoTrans, NoTrans, <int>F, <int>(m * P), <int>K, <floating>1, &weights[0, 0],
               <int>K, &cols[0, 0], <int>(m * P), <floating>0, &Zt[0, 0], <int>(m * P),
               n_threads)
        conv_output(&Zt[0, 0], &out[0, 0], &bias[0], m, F, P, act, <floating>param, n_threads)
    return cols_arr


def conv_pool_forward(const floating[:, ::1] Zt, const floating[::1] bias, floating[:, ::1] Y,
                      Py_ssize_t[:, ::1] argmax, Py_ssize_t H, Py_ssize_t W, Py_ssize_t size,
                      Py_ssize_t stride=0, int act=0, double param=0.0, int n_threads=1):
    """IN Zt (F, m*H*W) a convolution's pre-activations without bias; OUT Y, argmax
    (m, F*oh*ow): the max pool (size, stride; 0: size, windows must not overlap) of
    sigma(Zt + b) in the layout (m, F, H, W) (twin of reference.conv.maxpool_forward over the
    activated conv output)."""
    cdef Py_ssize_t F = Zt.shape[0], m = Y.shape[0]
    stride = stride or size
    n_out = _pool_shape(F, H, W, size, stride)
    if stride < size:
        raise ValueError("the fused kernel is for windows that do not overlap (stride >= size)")
    _check_shape(Zt, (F, m * H * W), "Zt")
    _check_shape(bias, (F,), "bias")
    _check_shape(Y, (m, n_out), "Y")
    _check_shape(argmax, (m, n_out), "argmax")
    with nogil:
        _conv_pool_forward(&Zt[0, 0], &Y[0, 0], &argmax[0, 0], &bias[0], m, F, H, W, size, stride,
                           act, <floating>param, n_threads)


def pool_conv_delta(const floating[:, ::1] dY, const floating[:, ::1] Y,
                    const Py_ssize_t[:, ::1] argmax, floating[:, ::1] Dt, Py_ssize_t H,
                    Py_ssize_t W, Py_ssize_t size, Py_ssize_t stride=0, int act=0,
                    double param=0.0, int n_threads=1):
    """IN dY, Y, argmax (m, F*oh*ow) of a max pool (size, stride; 0: size; windows must not
    overlap) over a convolution's output (m, F, H, W), argmax within its window; OUT Dt
    (F, m*H*W): the convolution's dC/dz (the max pool's backward, times sigma'(z) from the
    outputs, in the layout of Zt)."""
    cdef Py_ssize_t F = Dt.shape[0], m = dY.shape[0], i, f, oy, ox, q, row, col
    stride = stride or size
    n_out = _pool_shape(F, H, W, size, stride)
    if stride < size:
        raise ValueError("the fused kernel is for windows that do not overlap (stride >= size)")
    cdef Py_ssize_t oh = (H - size) // stride + 1, ow = (W - size) // stride + 1
    _check_shape(dY, (m, n_out), "dY")
    _check_shape(Y, (m, n_out), "Y")
    _check_shape(argmax, (m, n_out), "argmax")
    _check_shape(Dt, (F, m * H * W), "Dt")
    for i in range(m):
        for f in range(F):
            for oy in range(oh):
                for ox in range(ow):
                    q = (f * oh + oy) * ow + ox
                    row = (argmax[i, q] - f * H * W) // W - oy * stride
                    col = (argmax[i, q] - f * H * W) % W - ox * stride
                    if not (f * H * W <= argmax[i, q] < (f + 1) * H * W and 0 <= row < size
                            and 0 <= col < size):
                        raise ValueError("argmax holds an index outside its window")
    with nogil:
        _pool_conv_delta(&dY[0, 0], &Y[0, 0], &argmax[0, 0], &Dt[0, 0], m, F, H, W, size, stride,
                         act, <floating>param, n_threads)


def _pool_shape(Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t size, Py_ssize_t stride):
    check_pool(C, H, W, size, stride)
    return C * ((H - size) // stride + 1) * ((W - size) // stride + 1)


def maxpool_forward(const floating[:, ::1] X, floating[:, ::1] Y, Py_ssize_t[:, ::1] argmax,
                    Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, Py_ssize_t size, int n_threads=1,
                    Py_ssize_t stride=0):
    """OUT Y, argmax (m, C*oh*ow), oh = (H - size) // stride + 1 (stride 0: size) (twin of
    reference.conv.maxpool_forward)."""
    cdef Py_ssize_t m = X.shape[0]
    stride = stride or size
    n_out = _pool_shape(C, H, W, size, stride)
    _check_shape(X, (m, C * H * W), "X")
    _check_shape(Y, (m, n_out), "Y")
    _check_shape(argmax, (m, n_out), "argmax")
    with nogil:
        _maxpool_forward(&X[0, 0], &Y[0, 0], &argmax[0, 0], m, C, H, W, size, stride, n_threads)


def maxpool_backward(const floating[:, ::1] dY, const Py_ssize_t[:, ::1] argmax,
                     floating[:, ::1] dX, int n_threads=1):
    """OUT dX (m, n_in): dY added at each argmax (which must be in [0, n_in)), 0 elsewhere."""
    cdef Py_ssize_t m = dY.shape[0], n_in = dX.shape[1], n_out = dY.shape[1], i, j
    _check_shape(argmax, (m, n_out), "argmax")
    _check_shape(dX, (m, n_in), "dX")
    for i in range(m):
        for j in range(n_out):
            if not 0 <= argmax[i, j] < n_in:
                raise ValueError("argmax holds an index outside the image")
    with nogil:
        _maxpool_backward(&dY[0, 0], &argmax[0, 0], &dX[0, 0], m, n_in, n_out, n_threads)


def avgpool_forward(const floating[:, ::1] X, floating[:, ::1] Y, Py_ssize_t C, Py_ssize_t H,
                    Py_ssize_t W, Py_ssize_t size, int n_threads=1, Py_ssize_t stride=0):
    """OUT Y (m, C*oh*ow): the windows' means (stride 0: size)."""
    cdef Py_ssize_t m = X.shape[0]
    stride = stride or size
    n_out = _pool_shape(C, H, W, size, stride)
    _check_shape(X, (m, C * H * W), "X")
    _check_shape(Y, (m, n_out), "Y")
    with nogil:
        _avgpool_forward(&X[0, 0], &Y[0, 0], m, C, H, W, size, stride, n_threads)


def avgpool_backward(const floating[:, ::1] dY, floating[:, ::1] dX, Py_ssize_t C, Py_ssize_t H,
                     Py_ssize_t W, Py_ssize_t size, int n_threads=1, Py_ssize_t stride=0):
    """OUT dX (m, C*H*W): dY / size^2 added over the windows (stride 0: size)."""
    cdef Py_ssize_t m = dY.shape[0]
    stride = stride or size
    n_out = _pool_shape(C, H, W, size, stride)
    _check_shape(dY, (m, n_out), "dY")
    _check_shape(dX, (m, C * H * W), "dX")
    with nogil:
        _avgpool_backward(&dY[0, 0], &dX[0, 0], m, C, H, W, size, stride, n_threads)
