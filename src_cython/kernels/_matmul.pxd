# Every GEMM of the compiled loops goes through `matmul`: the kernel for its shape (BLAS, or one of
# our own kernels), then the same fixed cut into blocks for the threads.
#
# The kernel per shape comes from the table in _gemm_table.h, which Python fills before a loop
# runs (nnfast/_gemm.py: measured once per machine and BLAS, cached; or fixed by $NNFAST_GEMM). The
# answer depends on the shape only, never on the thread count, so the bits never do either.
#
# Header-only (inline) so every compiled module gets it without a runtime import.
from cython cimport floating
from cython.parallel cimport prange

from _blas cimport gemm, BLAS_Trans, NoTrans, Trans

cdef extern from "_gemm_table.h" nogil:
    int nnf_gemm_find(int ta, int tb, int dtype, long long m, long long n, long long k)
    int nnf_gemm_put(int ta, int tb, int dtype, long long m, long long n, long long k, int kernel)
    void nnf_gemm_clear()
    int nnf_gemm_fallback
    int nnf_gemm_own_isa
    int nnf_gemm_entries
    long long nnf_gemm_missed
    long long nnf_gemm_last_miss[6]

# Our own GEMM kernels, compiled per instruction set in _simd.h: unpacked ones (_gemm_impl.h: register
# blocks, cache-sized chunks of k, masked tails) that beat BLAS where its packing costs more than
# the arithmetic (small batches), and a packed, cache-blocked one (_gemm_packed.h) for the large
# shapes; both run at the CPU's full vector width wherever the BLAS build runs narrower kernels
# (OpenBLAS with OPENBLAS_CORETYPE=Haswell on an AVX-512 machine).
cdef extern from "_simd.h" nogil:
    int nnf_isa()
    int NNF_ISA_AVX2
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
    # the packed, cache-blocked GEMM (_gemm_packed.h): gemm()'s semantics, every form; 0, or -1
    # when its packing buffers could not be allocated (C untouched)
    int nnf_gemm_d(int isa, int ta, int tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                   double alpha, const double* A, Py_ssize_t lda, const double* B, Py_ssize_t ldb,
                   double beta, double* C, Py_ssize_t ldc)
    int nnf_gemm_s(int isa, int ta, int tb, Py_ssize_t m, Py_ssize_t n, Py_ssize_t k,
                   float alpha, const float* A, Py_ssize_t lda, const float* B, Py_ssize_t ldb,
                   float beta, float* C, Py_ssize_t ldc)
    void nnf_gemm_blocks_d(int isa, Py_ssize_t* sizes)  # its MR, NR, KC, NC, MC
    void nnf_gemm_blocks_s(int isa, Py_ssize_t* sizes)

cdef enum:
    GEMM_RULE = -1     # no kernel registered: the fixed size rule below
    GEMM_BLAS = 0      # scipy's BLAS (sgemm/dgemm)
    GEMM_OWN = 1       # our unpacked kernels (nt: C = A B^T; xn: C = beta C + alpha op(A) B)
    GEMM_PACKED = 2    # our packed, cache-blocked kernel (every form)
    N_GEMM_KERNELS = 3

    # the fixed rule (what runs for an unregistered shape when no fallback is set, and everywhere
    # with NNFAST_GEMM=rule): ours for m*n*k in (RULE_OWN_ABOVE, RULE_OWN_UP_TO], from AVX2 up --
    # between OpenBLAS's small-matrix kernels and its packed ones, on one Intel machine
    RULE_OWN_ABOVE = 1000000
    RULE_OWN_UP_TO = 8000000

    # C is cut into blocks of rows (or of columns, when C is wider than tall): at most
    # SPLIT_MAX_BLOCKS, each of at least SPLIT_MIN_BLOCK rows/columns and SPLIT_BLOCK_FLOPS of work
    # (smaller GEMMs run as one call on one thread: splitting them costs a single thread more than
    # a second one gains)
    SPLIT_BLOCK_FLOPS = 8000000
    SPLIT_MIN_BLOCK = 128
    SPLIT_MAX_BLOCKS = 8


cdef inline bint kernel_runs(int kernel, BLAS_Trans ta, BLAS_Trans tb, floating alpha,
                             floating beta) noexcept nogil:
    """Whether `kernel` computes this form: BLAS all; ours C = A B^T (alpha 1, beta 0) and
    C = beta C + alpha op(A) B."""
    if kernel == GEMM_OWN:
        return tb == NoTrans or (ta == NoTrans and alpha == 1 and beta == 0)
    return kernel == GEMM_BLAS or kernel == GEMM_PACKED


cdef inline int gemm_kernel(BLAS_Trans ta, BLAS_Trans tb, int m, int n, int k, floating alpha,
                            floating beta) noexcept nogil:
    """The kernel for this GEMM: the table's, else the fallback, else the fixed rule; our packed
    kernel when our unpacked ones cannot compute this form."""
    cdef int kernel = nnf_gemm_find(ta == Trans, tb == Trans, sizeof(floating), m, n, k)
    cdef double work = <double>m * n * k
    if kernel < 0:
        kernel = nnf_gemm_fallback
    if kernel < 0:
        kernel = (GEMM_OWN if nnf_isa() >= NNF_ISA_AVX2 and RULE_OWN_ABOVE < work <= RULE_OWN_UP_TO
                  else GEMM_BLAS)
    if not kernel_runs(kernel, ta, tb, alpha, beta):
        kernel = GEMM_PACKED if kernel == GEMM_OWN else GEMM_BLAS  # ours stays ours
    return kernel


cdef inline void gemm_block(int kernel, BLAS_Trans ta, BLAS_Trans tb, int m, int n, int k,
                            floating alpha, const floating* A, int lda, const floating* B,
                            int ldb, floating beta, floating* C, int ldc) noexcept nogil:
    """One single-threaded call of `kernel` (which must compute this form: kernel_runs); the
    packed kernel falls back to BLAS when its buffers cannot be allocated."""
    cdef Py_ssize_t ars = 1 if ta == Trans else lda
    cdef Py_ssize_t aps = lda if ta == Trans else 1
    cdef int status
    if kernel == GEMM_OWN and tb == Trans:
        if floating is float:
            nnf_gemm_nt_s(nnf_gemm_own_isa, m, n, k, A, lda, B, ldb, C, ldc)
        else:
            nnf_gemm_nt_d(nnf_gemm_own_isa, m, n, k, A, lda, B, ldb, C, ldc)
    elif kernel == GEMM_OWN:
        if floating is float:
            nnf_gemm_xn_s(nnf_gemm_own_isa, m, n, k, alpha, A, ars, aps, B, ldb, beta, C, ldc)
        else:
            nnf_gemm_xn_d(nnf_gemm_own_isa, m, n, k, alpha, A, ars, aps, B, ldb, beta, C, ldc)
    elif kernel == GEMM_PACKED:
        if floating is float:
            status = nnf_gemm_s(nnf_gemm_own_isa, ta == Trans, tb == Trans, m, n, k, alpha, A, lda,
                                B, ldb, beta, C, ldc)
        else:
            status = nnf_gemm_d(nnf_gemm_own_isa, ta == Trans, tb == Trans, m, n, k, alpha, A, lda,
                                B, ldb, beta, C, ldc)
        if status != 0:
            gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
    else:
        gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)


cdef inline void gemm_with(int kernel, BLAS_Trans ta, BLAS_Trans tb, int m, int n, int k,
                           floating alpha, const floating* A, int lda, const floating* B, int ldb,
                           floating beta, floating* C, int ldc, int n_threads) noexcept nogil:
    """Row-major C (m x n) <- alpha op(A) op(B) + beta C by `kernel`, C cut into a fixed number of
    blocks that the threads share.

    The cut depends only on (m, n, k), never on n_threads, and every block is one single-threaded
    call (the caller keeps BLAS at one thread), so the result is the same bits for any thread
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
        gemm_block(kernel, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    for block in prange(n_blocks, schedule="static", num_threads=n_threads,
                        use_threads_if=n_threads > 1):
        lo = <int>((<long long>block * extent) // n_blocks)
        hi = <int>((<long long>(block + 1) * extent) // n_blocks)
        if by_rows:
            gemm_block(kernel, ta, tb, hi - lo, n, k, alpha,
                       A + (<Py_ssize_t>lo * lda if ta == NoTrans else lo), lda, B, ldb,
                       beta, C + <Py_ssize_t>lo * ldc, ldc)
        else:
            gemm_block(kernel, ta, tb, m, hi - lo, k, alpha, A, lda,
                       B + (lo if tb == NoTrans else <Py_ssize_t>lo * ldb), ldb,
                       beta, C + lo, ldc)


cdef inline void matmul(BLAS_Trans ta, BLAS_Trans tb, int m, int n, int k, floating alpha,
                        const floating* A, int lda, const floating* B, int ldb, floating beta,
                        floating* C, int ldc, int n_threads) noexcept nogil:
    """Row-major C (m x n) <- alpha op(A) (m x k) op(B) (k x n) + beta C (beta == 0 never reads
    C; all dimensions >= 1; lda, ldb, ldc row strides) by the kernel chosen for the shape."""
    gemm_with(gemm_kernel(ta, tb, m, n, k, alpha, beta), ta, tb, m, n, k, alpha, A, lda, B, ldb,
              beta, C, ldc, n_threads)
