# Row-major GEMM over scipy's BLAS, for the fused type `floating` (float -> sgemm, double -> dgemm).
#
# Header-only (inline) so every compiled module gets it without a runtime import.
# BLAS is column-major; a row-major matrix is the column-major view of its transpose, so
#   row-major  C = op(A) op(B)   <=>   column-major  C^T = op(B)^T op(A)^T
# which is the Fortran call with A and B (and m and n) swapped and the trans flags unchanged.
from cython cimport floating
from cython.parallel cimport prange
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


# C is cut into blocks of rows (or of columns, when C is wider than tall): at most SPLIT_MAX_BLOCKS,
# each of at least SPLIT_MIN_BLOCK rows/columns and SPLIT_BLOCK_FLOPS of work (smaller GEMMs run as
# one call on one thread: splitting them costs a single thread more than a second one gains).
cdef enum:
    SPLIT_BLOCK_FLOPS = 8000000
    SPLIT_MIN_BLOCK = 128
    SPLIT_MAX_BLOCKS = 8


cdef inline void gemm_split(BLAS_Trans ta, BLAS_Trans tb, int m, int n, int k,
                            floating alpha, const floating* A, int lda,
                            const floating* B, int ldb,
                            floating beta, floating* C, int ldc, int n_threads) noexcept nogil:
    """`gemm`, with C cut into a fixed number of blocks that the threads share.

    The cut depends only on (m, n, k), never on n_threads, and every block is one single-threaded
    BLAS call (the caller keeps BLAS at one thread), so the result is the same bits for any thread
    count. Rows i0:i1 of op(A) start at A + i0*lda (not transposed) or A + i0 (transposed); columns
    j0:j1 of op(B) start at B + j0 (not transposed) or B + j0*ldb (transposed).
    """
    cdef bint by_rows = m >= n
    cdef int extent = m if by_rows else n
    cdef int n_blocks = 1, block, lo, hi
    cdef double flops = 2.0 * m * n * k
    if flops >= 2.0 * SPLIT_BLOCK_FLOPS:
        n_blocks = min(<int>SPLIT_MAX_BLOCKS, extent // SPLIT_MIN_BLOCK,
                       <int>(flops / SPLIT_BLOCK_FLOPS))
    if n_blocks <= 1:
        gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    for block in prange(n_blocks, schedule="static", num_threads=n_threads,
                        use_threads_if=n_threads > 1):
        lo = <int>((<long long>block * extent) // n_blocks)
        hi = <int>((<long long>(block + 1) * extent) // n_blocks)
        if by_rows:
            gemm(ta, tb, hi - lo, n, k, alpha,
                 A + (<Py_ssize_t>lo * lda if ta == NoTrans else lo), lda, B, ldb,
                 beta, C + <Py_ssize_t>lo * ldc, ldc)
        else:
            gemm(ta, tb, m, hi - lo, k, alpha, A, lda,
                 B + (lo if tb == NoTrans else <Py_ssize_t>lo * ldb), ldb,
                 beta, C + lo, ldc)
