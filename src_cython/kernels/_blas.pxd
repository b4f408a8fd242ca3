# Row-major GEMM over scipy's BLAS, for the fused type `floating` (float -> sgemm, double -> dgemm).
# The loops call _matmul.pxd's `matmul`, which picks this or one of our kernels per shape.
#
# Header-only (inline) so every compiled module gets it without a runtime import.
# BLAS is column-major; a row-major matrix is the column-major view of its transpose, so
#   row-major  C = op(A) op(B)   <=>   column-major  C^T = op(B)^T op(A)^T
# which is the Fortran call with A and B (and m and n) swapped and the trans flags unchanged.
from cython cimport floating
from scipy.linalg.cython_blas cimport sgemm, dgemm

cdef enum BLAS_Trans:
    NoTrans = 110  # ord('n')
    Trans = 116    # ord('t')


cdef inline void gemm(BLAS_Trans ta, BLAS_Trans tb, int m, int n, int k,
                      floating alpha, const floating* A, int lda,
                      const floating* B, int ldb,
                      floating beta, floating* C, int ldc) noexcept nogil:
    """Row-major C (m x n) <- alpha * op(A) (m x k) @ op(B) (k x n) + beta * C.

    lda, ldb, ldc are row strides (elements). All dimensions must be >= 1.
    """
    cdef char transa = <char>ta
    cdef char transb = <char>tb
    if floating is float:
        sgemm(&transb, &transa, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&transb, &transa, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)
