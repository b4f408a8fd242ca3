"""Python-visible twins of the compiled primitives, so tests can hold each one against its NumPy spec;
and what the build knows about OpenMP. Nothing on a training path calls these wrappers.
"""

import time

import numpy as np

from cython cimport floating

from _blas cimport BLAS_Trans, NoTrans, Trans
from _matmul cimport (gemm_with, kernel_runs, nnf_gemm_own_isa, nnf_gemm_d, nnf_gemm_s,
                      nnf_gemm_blocks_d, nnf_gemm_blocks_s, GEMM_BLAS, GEMM_OWN, GEMM_PACKED,
                      N_GEMM_KERNELS)
from _elementwise cimport (
    ACT_IDENTITY, ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_LEAKY_RELU, ACT_ELU, ACT_SELU, ACT_SOFTPLUS,
    ACT_STEP, ACT_SOFTMAX, ACT_MAXOUT, COST_QUADRATIC, COST_CROSS_ENTROPY, COST_LOG_LIKELIHOOD, COST_HINGE,
    PARALLEL_MIN_ELEMENTS, apply_mask, bias_activation, multiply_derivative, output_delta,
    bias_update, cost_row, l1_shrink, maxout_forward, maxout_route, predicted_class,
    batchnorm_train, batchnorm_backward, optimizer_step, bias_activation_t, maxout_forward_t,
    batchnorm_infer_t, transpose_into, nnf_isa, nnf_sigmoid_bias_d, nnf_sigmoid_bias_s,
    nnf_sigmoid_shift_d, nnf_sigmoid_shift_s,
    nnf_exp_nonpos_d, nnf_exp_nonpos_s,
)
from _openmp cimport NNFAST_OPENMP_ENABLED, omp_get_max_threads, omp_get_num_procs

# The codes the Python registries must use (checked by tests/test_kernels.py).
ACTIVATION_CODES = {"identity": ACT_IDENTITY, "sigmoid": ACT_SIGMOID, "tanh": ACT_TANH,
                    "relu": ACT_RELU, "leaky_relu": ACT_LEAKY_RELU, "elu": ACT_ELU,
                    "selu": ACT_SELU, "softplus": ACT_SOFTPLUS, "step": ACT_STEP,
                    "softmax": ACT_SOFTMAX, "maxout": ACT_MAXOUT}
COST_CODES = {"quadratic": COST_QUADRATIC, "cross_entropy": COST_CROSS_ENTROPY,
              "log_likelihood": COST_LOG_LIKELIHOOD, "hinge": COST_HINGE}
PARALLEL_MIN = PARALLEL_MIN_ELEMENTS


def openmp_enabled():
    """True when the extension was compiled with OpenMP."""
    return bool(NNFAST_OPENMP_ENABLED)


def openmp_max_threads():
    """omp_get_max_threads(): the default team size (honours OMP_NUM_THREADS); 1 without OpenMP."""
    return omp_get_max_threads()


def openmp_num_procs():
    """omp_get_num_procs(): the processors available; 1 without OpenMP."""
    return omp_get_num_procs()


def _check_2d(name, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t want_rows, Py_ssize_t want_cols):
    if rows != want_rows or cols != want_cols:
        raise ValueError(f"{name} must be ({want_rows}, {want_cols}), got ({rows}, {cols})")


GEMM_KERNELS = {"blas": GEMM_BLAS, "own": GEMM_OWN, "packed": GEMM_PACKED}  # _matmul.pxd's codes


cdef tuple _gemm_shape(bint trans_a, bint trans_b, A, B, C):
    """(m, n, k) of C <- op(A) op(B), checked; ValueError for mismatched or empty matrices."""
    cdef Py_ssize_t m = C.shape[0], n = C.shape[1]
    cdef Py_ssize_t k = A.shape[0] if trans_a else A.shape[1]
    _check_2d("op(A)", A.shape[1] if trans_a else A.shape[0], k, m, k)
    _check_2d("op(B)", B.shape[1] if trans_b else B.shape[0], B.shape[0] if trans_b else B.shape[1], k, n)
    if m < 1 or n < 1 or k < 1:
        raise ValueError("all dimensions must be >= 1")
    return m, n, k


def gemm_rowmajor(bint trans_a, bint trans_b, double alpha, const floating[:, ::1] A,
                  const floating[:, ::1] B, double beta, floating[:, ::1] C, int kernel=GEMM_BLAS,
                  int n_threads=1, isa=None):
    """IN/OUT C <- alpha op(A) op(B) + beta C for C-contiguous arrays, by `kernel` (GEMM_KERNELS;
    ValueError when it cannot compute this form) cut into the loops' blocks for n_threads, our
    kernels compiled for `isa` (default: what the loops use)."""
    cdef int m, n, k, saved = nnf_gemm_own_isa
    m, n, k = _gemm_shape(trans_a, trans_b, A, B, C)
    cdef BLAS_Trans ta = Trans if trans_a else NoTrans, tb = Trans if trans_b else NoTrans
    if not 0 <= kernel < N_GEMM_KERNELS or not kernel_runs(kernel, ta, tb, <floating>alpha,
                                                           <floating>beta):
        raise ValueError(f"GEMM kernel {kernel} does not compute this form")
    if n_threads < 1:
        raise ValueError("n_threads must be >= 1")
    global nnf_gemm_own_isa
    if isa is not None:
        nnf_gemm_own_isa = _isa_code(isa)
    try:
        with nogil:
            gemm_with(kernel, ta, tb, m, n, k, <floating>alpha, &A[0, 0], A.shape[1], &B[0, 0],
                      B.shape[1], <floating>beta, &C[0, 0], n, n_threads)
    finally:
        nnf_gemm_own_isa = saved


def time_gemm(int kernel, bint trans_a, bint trans_b, const floating[:, ::1] A,
              const floating[:, ::1] B, floating[:, ::1] C, Py_ssize_t calls):
    """Seconds of `calls` calls of C <- op(A) op(B) by `kernel` on one thread, without the GIL
    (the measurement behind the choice of kernel per shape, nnfast/_gemm.py)."""
    cdef int m, n, k
    cdef Py_ssize_t i
    m, n, k = _gemm_shape(trans_a, trans_b, A, B, C)
    cdef BLAS_Trans ta = Trans if trans_a else NoTrans, tb = Trans if trans_b else NoTrans
    if not 0 <= kernel < N_GEMM_KERNELS or not kernel_runs(kernel, ta, tb, <floating>1,
                                                           <floating>0):
        raise ValueError(f"GEMM kernel {kernel} does not compute this form")
    started = time.perf_counter()
    with nogil:
        for i in range(calls):
            gemm_with(kernel, ta, tb, m, n, k, <floating>1, &A[0, 0], A.shape[1], &B[0, 0],
                      B.shape[1], <floating>0, &C[0, 0], n, 1)
    return time.perf_counter() - started


ISA_NAMES = ("baseline", "avx2", "avx512")
nnf_isa()  # detect the instruction set now, at import, before any thread runs a kernel


cdef extern from *:
    """
    #ifndef NNFAST_DEBUG_BUILD
    #define NNFAST_DEBUG_BUILD 0
    #endif
    """
    int NNFAST_DEBUG_BUILD


def debug_build():
    """Whether this is a debugging build (NNFAST_CYTHON_DEBUG=1: Cython's checks on, -O1): its
    vector kernels may round differently."""
    return bool(NNFAST_DEBUG_BUILD)


def simd_isa():
    """The instruction set of the vectorized kernels in use: 'baseline' (SSE2 or the compiler's
    default target; the scalar libm path then runs instead), 'avx2' or 'avx512' (NNFAST_ISA caps
    it)."""
    return ISA_NAMES[nnf_isa()]


def _isa_code(isa):
    if isa not in ISA_NAMES:
        raise ValueError(f"isa must be one of {ISA_NAMES}, got {isa!r}")
    return ISA_NAMES.index(isa)


def simd_exp_nonpos(const floating[::1] x, floating[::1] out, isa):
    """OUT out <- e^x (x <= 0) by the vectorized kernel's e^x, compiled for `isa` (an instruction
    set this CPU lacks is lowered to the best it has)."""
    cdef int code = _isa_code(isa)
    if out.shape[0] != x.shape[0]:
        raise ValueError("out must have the length of x")
    if x.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            nnf_exp_nonpos_s(code, &x[0], &out[0], x.shape[0])
        else:
            nnf_exp_nonpos_d(code, &x[0], &out[0], x.shape[0])


def simd_sigmoid_bias_inplace(floating[:, ::1] Z, const floating[::1] bias, isa):
    """IN/OUT Z <- sigmoid(Z + bias) by the vectorized kernel compiled for `isa`."""
    cdef int code = _isa_code(isa)
    if bias.shape[0] != Z.shape[1] or Z.shape[0] < 1 or Z.shape[1] < 1:
        raise ValueError("bias must have one entry per column of a non-empty Z")
    with nogil:
        if floating is float:
            nnf_sigmoid_bias_s(code, &Z[0, 0], &bias[0], Z.shape[0], Z.shape[1])
        else:
            nnf_sigmoid_bias_d(code, &Z[0, 0], &bias[0], Z.shape[0], Z.shape[1])


def simd_sigmoid_shift_inplace(floating[::1] z, double shift, isa):
    """IN/OUT z <- sigmoid(z + shift) by the vectorized kernel compiled for `isa`."""
    cdef int code = _isa_code(isa)
    if z.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            nnf_sigmoid_shift_s(code, &z[0], <float>shift, z.shape[0])
        else:
            nnf_sigmoid_shift_d(code, &z[0], shift, z.shape[0])


def own_gemm_nt(const floating[:, ::1] A, const floating[:, ::1] B, floating[:, ::1] C, isa):
    """OUT C <- A @ B.T by our GEMM kernel compiled for `isa` (A: m x k, B: n x k, C: m x n),
    through the loops' wrapper (_matmul.pxd)."""
    gemm_rowmajor(False, True, 1.0, A, B, 0.0, C, GEMM_OWN, 1, isa)


def own_gemm_xn(bint a_trans, double alpha, const floating[:, ::1] A, const floating[:, ::1] B,
                double beta, floating[:, ::1] C, isa):
    """IN/OUT C <- beta C + alpha op(A) @ B by our GEMM kernel compiled for `isa`; op(A) = A
    (m x k) or A.T when a_trans (A: k x m); B: k x n. beta == 0 never reads C. Through the
    loops' wrapper (_matmul.pxd)."""
    gemm_rowmajor(a_trans, False, alpha, A, B, beta, C, GEMM_OWN, 1, isa)


cdef Py_ssize_t _row_stride(name, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t row_bytes,
                            Py_ssize_t col_bytes, Py_ssize_t itemsize) except -1:
    """The row stride in elements of a matrix whose rows are contiguous (lda >= cols, as BLAS
    wants); a single row has none of its own, its length stands in."""
    if cols > 1 and col_bytes != itemsize:
        raise ValueError(f"{name} must have contiguous rows")
    if rows == 1:
        return cols
    if row_bytes % itemsize or row_bytes // itemsize < cols:
        raise ValueError(f"{name}'s row stride must be a whole number of elements >= its width")
    return row_bytes // itemsize


def own_gemm(bint ta, bint tb, double alpha, const floating[:, :] A, const floating[:, :] B,
             double beta, floating[:, :] C, isa):
    """IN/OUT C <- alpha op(A) @ op(B) + beta C by our packed GEMM (_gemm_packed.h) compiled for
    `isa`: op(A) = A (m x k) or A.T when ta (A: k x m); op(B) = B (k x n) or B.T when tb (B:
    n x k); C: m x n. Rows must be contiguous, the row strides may exceed the widths (views of
    larger arrays). beta == 0 never reads C."""
    cdef int code = _isa_code(isa)
    cdef Py_ssize_t m = C.shape[0], n = C.shape[1]
    cdef Py_ssize_t k = A.shape[0] if ta else A.shape[1]
    cdef Py_ssize_t size = sizeof(floating)
    cdef Py_ssize_t lda, ldb, ldc
    cdef int status
    _check_2d("op(A)", A.shape[1] if ta else A.shape[0], k, m, k)
    _check_2d("op(B)", B.shape[1] if tb else B.shape[0], B.shape[0] if tb else B.shape[1], k, n)
    if m == 0 or n == 0 or k == 0:
        raise ValueError("empty matrices are not multiplied here")
    lda = _row_stride("A", A.shape[0], A.shape[1], A.strides[0], A.strides[1], size)
    ldb = _row_stride("B", B.shape[0], B.shape[1], B.strides[0], B.strides[1], size)
    ldc = _row_stride("C", m, n, C.strides[0], C.strides[1], size)
    with nogil:
        if floating is float:
            status = nnf_gemm_s(code, ta, tb, m, n, k, <float>alpha, &A[0, 0], lda, &B[0, 0], ldb,
                                <float>beta, &C[0, 0], ldc)
        else:
            status = nnf_gemm_d(code, ta, tb, m, n, k, alpha, &A[0, 0], lda, &B[0, 0], ldb,
                                beta, &C[0, 0], ldc)
    if status != 0:
        raise MemoryError("own_gemm: no memory for the packing buffers")


def own_gemm_blocks(isa, dtype):
    """The block sizes of our packed GEMM compiled for `isa` (lowered to what this CPU runs) and
    `dtype` (float32 or float64): a dict of MR, NR (the register tile), KC, NC, MC (the cache
    blocks)."""
    cdef int code = _isa_code(isa)
    cdef Py_ssize_t sizes[5]
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        nnf_gemm_blocks_d(code, sizes)
    elif dtype == np.float32:
        nnf_gemm_blocks_s(code, sizes)
    else:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dict(MR=sizes[0], NR=sizes[1], KC=sizes[2], NC=sizes[3], MC=sizes[4])


def bias_activation_inplace(floating[:, ::1] Z, const floating[::1] bias, int act,
                            double param=0.0, int n_threads=1):
    """IN/OUT Z <- sigma(Z + bias) (row-broadcast bias; softmax: per row)."""
    if bias.shape[0] != Z.shape[1] or Z.shape[0] < 1 or Z.shape[1] < 1 or n_threads < 1:
        raise ValueError("bias must have one entry per column of a non-empty Z; n_threads >= 1")
    with nogil:
        bias_activation(&Z[0, 0], &bias[0], Z.shape[0], Z.shape[1], act, <floating>param,
                        n_threads)


def multiply_derivative_inplace(floating[:, ::1] D, const floating[:, ::1] A, int act,
                                double param=0.0, int n_threads=1):
    """IN/OUT D <- D * sigma'(z), sigma'(z) from the outputs A (elementwise activations)."""
    _check_2d("A", A.shape[0], A.shape[1], D.shape[0], D.shape[1])
    if D.shape[0] < 1 or D.shape[1] < 1 or n_threads < 1 or act == ACT_SOFTMAX:
        raise ValueError("D must be non-empty; n_threads >= 1; not for softmax")
    with nogil:
        multiply_derivative(&D[0, 0], &A[0, 0], D.shape[0], D.shape[1], act, <floating>param,
                            n_threads)


def output_delta_into(floating[:, ::1] D, const floating[:, ::1] A, const floating[:, ::1] T,
                      int act, int cost, double param=0.0):
    """OUT D <- dC/dz of the output layer."""
    _check_2d("A", A.shape[0], A.shape[1], D.shape[0], D.shape[1])
    _check_2d("T", T.shape[0], T.shape[1], D.shape[0], D.shape[1])
    if D.shape[0] < 1 or D.shape[1] < 1:
        raise ValueError("D must be non-empty")
    with nogil:
        output_delta(&D[0, 0], &A[0, 0], &T[0, 0], D.shape[0], D.shape[1], act, <floating>param,
                     cost)


def apply_mask_into(floating[:, ::1] out, const floating[:, ::1] A, const unsigned char[:, ::1] keep,
                    double scale):
    """OUT out <- A * (keep ? scale : 0) (inverted dropout)."""
    _check_2d("out", out.shape[0], out.shape[1], A.shape[0], A.shape[1])
    _check_2d("keep", keep.shape[0], keep.shape[1], A.shape[0], A.shape[1])
    if A.shape[0] < 1 or A.shape[1] < 1:
        raise ValueError("A must be non-empty")
    with nogil:
        apply_mask(&out[0, 0], &A[0, 0], &keep[0, 0], keep.shape[1], A.shape[0], A.shape[1],
                   <floating>scale)


def l1_shrink_inplace(floating[::1] W, double amount):
    """IN/OUT W <- W - amount * sign(W)."""
    if W.shape[0] < 1:
        raise ValueError("W must be non-empty")
    with nogil:
        l1_shrink(&W[0], W.shape[0], <floating>amount)


def bias_update_inplace(floating[::1] bias, const floating[:, ::1] D, double scale):
    """IN/OUT bias <- bias - scale * D.sum(axis=0)."""
    if D.shape[1] != bias.shape[0] or D.shape[0] < 1 or D.shape[1] < 1:
        raise ValueError("D must be non-empty with one column per bias entry")
    sums = np.empty(bias.shape[0], dtype=np.float32 if floating is float else np.float64)
    cdef floating[::1] s = sums
    with nogil:
        bias_update(&bias[0], &D[0, 0], D.shape[0], D.shape[1], <floating>scale, &s[0])


def cost_rows(const floating[:, ::1] Z, const floating[:, ::1] A, const floating[:, ::1] T,
              int cost):
    """The per-example costs (float64, one per row) from the output pre-activations and outputs."""
    _check_2d("A", A.shape[0], A.shape[1], Z.shape[0], Z.shape[1])
    _check_2d("T", T.shape[0], T.shape[1], Z.shape[0], Z.shape[1])
    out = np.empty(Z.shape[0], dtype=np.float64)
    cdef double[::1] o = out
    cdef Py_ssize_t i, n = Z.shape[1]
    if Z.shape[0] < 1 or n < 1:
        raise ValueError("Z must be non-empty")
    with nogil:
        for i in range(Z.shape[0]):
            o[i] = cost_row(&Z[i, 0], &A[i, 0], &T[i, 0], n, cost)
    return out


def predicted_classes(const floating[:, ::1] A):
    """The class of each row of outputs (argmax; > 0.5 with one unit)."""
    out = np.empty(A.shape[0], dtype=np.intp)
    cdef Py_ssize_t[::1] o = out
    cdef Py_ssize_t i
    if A.shape[1] < 1:
        raise ValueError("A must have at least one column")
    with nogil:
        for i in range(A.shape[0]):
            o[i] = predicted_class(&A[i, 0], A.shape[1])
    return out


def maxout_forward_into(floating[:, ::1] A, floating[:, ::1] ZP, const floating[::1] bias):
    """IN/OUT ZP (m, n*k) <- ZP + bias; OUT A (m, n) <- each unit's largest piece."""
    cdef Py_ssize_t m = A.shape[0], n = A.shape[1], k
    if m < 1 or n < 1 or ZP.shape[0] != m or ZP.shape[1] % n != 0 or bias.shape[0] != ZP.shape[1]:
        raise ValueError("need A (m, n), ZP (m, n*k), bias (n*k,)")
    k = ZP.shape[1] // n
    with nogil:
        maxout_forward(&A[0, 0], &ZP[0, 0], &bias[0], m, n, k)


def maxout_route_into(floating[:, ::1] DP, const floating[:, ::1] D, const floating[:, ::1] ZP):
    """OUT DP (m, n*k): D (m, n) routed to each unit's largest piece of ZP (m, n*k)."""
    cdef Py_ssize_t m = D.shape[0], n = D.shape[1], k
    if (m < 1 or n < 1 or ZP.shape[0] != m or ZP.shape[1] % n != 0 or DP.shape[0] != m
            or DP.shape[1] != ZP.shape[1]):
        raise ValueError("need D (m, n), ZP and DP (m, n*k)")
    k = ZP.shape[1] // n
    with nogil:
        maxout_route(&DP[0, 0], &D[0, 0], &ZP[0, 0], m, n, k)


def batchnorm_train_inplace(floating[:, ::1] Z, const floating[::1] bias, const floating[::1] gamma,
                            floating[:, ::1] zhat, floating[::1] mean, floating[::1] inv_std,
                            floating[::1] running, double eps, double momentum):
    """IN/OUT Z (m, n): z -> gamma * zhat (training mode); OUT zhat, mean, inv_std; IN/OUT running
    (2n: means then variances; pass an empty array to leave none)."""
    cdef Py_ssize_t m = Z.shape[0], n = Z.shape[1]
    if (m < 1 or n < 1 or bias.shape[0] != n or gamma.shape[0] != n or zhat.shape[0] != m
            or zhat.shape[1] != n or mean.shape[0] != n or inv_std.shape[0] != n
            or running.shape[0] not in (0, 2 * n)):
        raise ValueError("shapes: Z, zhat (m, n); bias, gamma, mean, inv_std (n,); running (2n,) or (0,)")
    with nogil:
        batchnorm_train(&Z[0, 0], &bias[0], &gamma[0], m, n, &zhat[0, 0], &mean[0], &inv_std[0],
                        &running[0] if running.shape[0] else NULL, <floating>eps, <floating>momentum)


def batchnorm_backward_inplace(floating[:, ::1] D, const floating[:, ::1] zhat,
                               const floating[::1] inv_std, const floating[::1] gamma,
                               floating[::1] dgamma, floating[::1] dbeta):
    """IN/OUT D (m, n): dC/dy -> dC/dz; OUT dgamma, dbeta."""
    cdef Py_ssize_t m = D.shape[0], n = D.shape[1]
    _check_2d("zhat", zhat.shape[0], zhat.shape[1], m, n)
    if m < 1 or n < 1 or inv_std.shape[0] != n or gamma.shape[0] != n or dgamma.shape[0] != n \
            or dbeta.shape[0] != n:
        raise ValueError("inv_std, gamma, dgamma, dbeta must have one entry per column of D")
    with nogil:
        batchnorm_backward(&D[0, 0], &zhat[0, 0], &inv_std[0], &gamma[0], m, n, &dgamma[0], &dbeta[0])


def optimizer_step_inplace(floating[::1] P, const floating[::1] G, floating[::1] S1, floating[::1] S2,
                           int optimizer, double eta, double inv_m, double decay, int regularization,
                           double h0, double h1, double h2, double correction1, double correction2):
    """IN/OUT P, S1, S2: one optimizer step from the summed gradient G (see optimizer_step)."""
    cdef Py_ssize_t n = P.shape[0]
    if n < 1 or G.shape[0] != n or S1.shape[0] != n or S2.shape[0] != n or not 1 <= optimizer <= 5:
        raise ValueError("P, G, S1, S2 must have one length; optimizer in 1..5")
    with nogil:
        optimizer_step(&P[0], &G[0], &S1[0], &S2[0], n, optimizer, <floating>eta, <floating>inv_m,
                       <floating>decay, regularization, <floating>h0, <floating>h1, <floating>h2,
                       <floating>correction1, <floating>correction2)


def transposed_inference_kernels(floating[:, ::1] Zt, const floating[::1] bias, int act,
                                 double param, floating[:, ::1] out):
    """Zt (units, m) <- sigma(Zt + bias per row), then out (m, units) <- its transpose."""
    cdef Py_ssize_t units = Zt.shape[0], m = Zt.shape[1]
    _check_2d("out", out.shape[0], out.shape[1], m, units)
    if units < 1 or m < 1 or bias.shape[0] != units:
        raise ValueError("bias must have one entry per row of a non-empty Zt")
    with nogil:
        bias_activation_t(&Zt[0, 0], &bias[0], units, m, act, <floating>param, 1)
        transpose_into(&out[0, 0], &Zt[0, 0], m, units)


def maxout_forward_t_into(floating[:, ::1] At, const floating[:, ::1] ZPt, const floating[::1] bias):
    """OUT At (units, m): each unit's largest piece of ZPt (units*k, m) + bias."""
    cdef Py_ssize_t units = At.shape[0], m = At.shape[1], k
    if units < 1 or m < 1 or ZPt.shape[1] != m or ZPt.shape[0] % units or bias.shape[0] != ZPt.shape[0]:
        raise ValueError("need At (units, m), ZPt (units*k, m), bias (units*k,)")
    k = ZPt.shape[0] // units
    with nogil:
        maxout_forward_t(&At[0, 0], &ZPt[0, 0], &bias[0], units, k, m)


def batchnorm_infer_t_inplace(floating[:, ::1] Zt, const floating[::1] bias,
                              const floating[::1] gamma, const floating[::1] running, double eps):
    """IN/OUT Zt (units, m): gamma * (z + b - running mean) / sqrt(running var + eps) per row."""
    cdef Py_ssize_t units = Zt.shape[0], m = Zt.shape[1]
    if units < 1 or m < 1 or bias.shape[0] != units or gamma.shape[0] != units \
            or running.shape[0] != 2 * units:
        raise ValueError("bias, gamma (units,), running (2 units,)")
    with nogil:
        batchnorm_infer_t(&Zt[0, 0], &bias[0], &gamma[0], &running[0], units, m, <floating>eps)
