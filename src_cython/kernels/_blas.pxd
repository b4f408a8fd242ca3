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


# Our own GEMM kernels (src_cython/kernels/_gemm_impl.h, compiled per instruction set in _simd.h) for the
# shapes between BLAS's two good regimes. OpenBLAS multiplies up to about m*n*k = 1e6 with
# unpacked small-matrix kernels, and packs both operands above that: for a batch of 10 against a
# 300 x 784 weight matrix the packing costs more than the arithmetic, and ours (no packing, register
# blocks, cache-sized chunks of k) were 10-25% faster per epoch (BENCHMARKS.md). Above
# SPLIT_BLOCK_FLOPS of work gemm_split shares BLAS calls among threads, so BLAS keeps those.
cdef extern from "_simd.h" nogil:
    int nnf_isa()
    void nnf_gemm_nt_d(int isa, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const double* A,
                       Py_ssize_t lda, const double* B, Py_ssize_t ldb, double* C, Py_ssize_t ldc)
    void nnf_gemm_nt_s(int isa, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, const float* A,
                       Py_ssize_t lda, const float* B, Py_ssize_t ldb, float* C, Py_ssize_t ldc)
    void nnf_gemm_xn_d(int isa, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, double alpha,
                       const double* A, Py_ssize_t ars, Py_ssize_t aps, const double* B,
                       Py_ssize_t ldb, double beta, double* C, Py_ssize_t ldc)
    void nnf_gemm_xn_s(int isa, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
                       const float* A, Py_ssize_t ars, Py_ssize_t aps, const float* B,
                       Py_ssize_t ldb, float beta, float* C, Py_ssize_t ldc)

    # the packed, cache-blocked GEMM (_gemm_packed.h): gemm()'s semantics; 0, or -1 when its
    # packing buffers could not be allocated (C untouched)
    int nnf_gemm_d(int isa, int ta, int tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                   double alpha, const double* A, Py_ssize_t lda, const double* B, Py_ssize_t ldb,
                   double beta, double* C, Py_ssize_t ldc)
    int nnf_gemm_s(int isa, int ta, int tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                   float alpha, const float* A, Py_ssize_t lda, const float* B, Py_ssize_t ldb,
                   float beta, float* C, Py_ssize_t ldc)
    void nnf_gemm_blocks_d(int isa, Py_ssize_t* sizes)  # its MR, NR, KC, NC, MC
    void nnf_gemm_blocks_s(int isa, Py_ssize_t* sizes)

ctypedef struct GemmChoice:
    double own_above   # m*n*k above which our kernels run (BLAS's small-matrix range below) ...
    double own_up_to   # ... up to this (gemm_split's single-call range); own_up_to <= own_above: never
    int isa            # the instance of ours (-1: the best this CPU runs)


cdef inline bint own_gemm(const GemmChoice* choice, double m, double n, double k) noexcept nogil:
    cdef double work = m * n * k
    return choice.own_above < work <= choice.own_up_to


cdef inline void matmul_nt(int m, int n, int k, const floating* A, int lda, const floating* B,
                           int ldb, floating* C, int ldc, const GemmChoice* choice,
                           int n_threads) noexcept nogil:
    """C (m x n) = A (m x k) B^T (B: n x k): our kernel or gemm_split, as `choice` says."""
    if own_gemm(choice, m, n, k):
        if floating is float:
            nnf_gemm_nt_s(choice.isa, m, n, k, A, lda, B, ldb, C, ldc)
        else:
            nnf_gemm_nt_d(choice.isa, m, n, k, A, lda, B, ldb, C, ldc)
    else:
        gemm_split(NoTrans, Trans, m, n, k, <floating>1, A, lda, B, ldb, <floating>0, C, ldc,
                   n_threads)


cdef inline void matmul_xn(bint a_trans, int m, int n, int k, floating alpha, const floating* A,
                           int lda, const floating* B, int ldb, floating beta, floating* C, int ldc,
                           const GemmChoice* choice, int n_threads) noexcept nogil:
    """C (m x n) = beta C + alpha op(A) B, op(A) = A (m x k), or A^T when a_trans (A: k x m);
    B (k x n). beta == 0 never reads C. Our kernel or gemm_split, as `choice` says."""
    cdef Py_ssize_t ars = 1 if a_trans else lda
    cdef Py_ssize_t aps = lda if a_trans else 1
    if own_gemm(choice, m, n, k):
        if floating is float:
            nnf_gemm_xn_s(choice.isa, m, n, k, alpha, A, ars, aps, B, ldb, beta, C, ldc)
        else:
            nnf_gemm_xn_d(choice.isa, m, n, k, alpha, A, ars, aps, B, ldb, beta, C, ldc)
    else:
        gemm_split(Trans if a_trans else NoTrans, NoTrans, m, n, k, alpha, A, lda, B, ldb, beta,
                   C, ldc, n_threads)
