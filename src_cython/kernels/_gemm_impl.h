/* One instance of our GEMM kernels: included (through _simd_types.h) by _simd.h once per
 * (instruction set, type), with
 *   NNF_T     the element type (double or float)
 *   NNF_VB    the vector width in bytes (64: AVX-512, 32: AVX2, 16: SSE2)
 *   NNF_NT_MR, NNF_NT_NR, NNF_XN_MR, NNF_XN_NV  the register blocks
 *   NNF_NAME(x) the instance's name for x (x ## _d_avx512, ...)
 * and, around the inclusion, the target pragma of the instruction set. Vectors are GCC/Clang
 * vector extensions: plain C arithmetic on them, compiled for the instruction set in force; loads
 * and stores go through a vector type aligned like one element (unaligned accesses). No
 * -ffast-math: every sum below has a fixed order (a function of the sizes only).
 */

typedef NNF_T NNF_NAME(nnf_vec) __attribute__((vector_size(NNF_VB), aligned(sizeof(NNF_T))));
#define NNF_VEC NNF_NAME(nnf_vec)
#define NNF_LANES ((nnf_idx)(NNF_VB / sizeof(NNF_T)))
#ifndef NNF_KC_BYTES
#define NNF_KC_BYTES 2048
#endif
#define NNF_KC ((nnf_idx)(NNF_KC_BYTES / sizeof(NNF_T)))

static inline __attribute__((always_inline)) NNF_VEC NNF_NAME(nnf_load)(const NNF_T* p) {
    return *(const NNF_VEC*)p;  /* the type's alignment is the element's: an unaligned load */
}

static inline __attribute__((always_inline)) void NNF_NAME(nnf_store)(NNF_T* p, NNF_VEC v) {
    *(NNF_VEC*)p = v;
}

/* The first r lanes (0 < r < NNF_LANES) at p, zeros in the others; and the store of the first r
 * lanes of v to p: what lies past them is not touched (nor read: a masked access does not fault
 * there). AVX-512 by mask registers, AVX2 by its maskload/maskstore (a lane's sign bit its mask),
 * SSE2 through memory. The lanes loaded are exact copies, so sums over them are the same as over
 * whole vectors whose other lanes are zero. */
#if NNF_VB == 32
typedef NNF_IT NNF_NAME(nnf_lanes) __attribute__((vector_size(NNF_VB)));

static inline __attribute__((always_inline)) NNF_NAME(nnf_lanes) NNF_NAME(nnf_lane_mask)(
        nnf_idx r) {
    NNF_NAME(nnf_lanes) lane;
    int i;
    for (i = 0; i < (int)NNF_LANES; i++) lane[i] = (NNF_IT)i;
    return lane < (NNF_IT)r;  /* -1 (all bits) in the first r lanes, 0 after */
}
#endif

static inline __attribute__((always_inline)) NNF_VEC NNF_NAME(nnf_load_part)(const NNF_T* p,
                                                                          nnf_idx r) {
#if NNF_VB == 64 && NNF_TBYTES == 8
    return (NNF_VEC)_mm512_maskz_loadu_pd((__mmask8)((1u << r) - 1), p);
#elif NNF_VB == 64
    return (NNF_VEC)_mm512_maskz_loadu_ps((__mmask16)((1u << r) - 1), p);
#elif NNF_VB == 32 && NNF_TBYTES == 8
    return (NNF_VEC)_mm256_maskload_pd(p, (__m256i)NNF_NAME(nnf_lane_mask)(r));
#elif NNF_VB == 32
    return (NNF_VEC)_mm256_maskload_ps(p, (__m256i)NNF_NAME(nnf_lane_mask)(r));
#else
    NNF_VEC v = {0};
    memcpy(&v, p, (size_t)r * sizeof(NNF_T));
    return v;
#endif
}

static inline __attribute__((always_inline)) void NNF_NAME(nnf_store_part)(NNF_T* p, NNF_VEC v,
                                                                        nnf_idx r) {
#if NNF_VB == 64 && NNF_TBYTES == 8
    _mm512_mask_storeu_pd(p, (__mmask8)((1u << r) - 1), (__m512d)v);
#elif NNF_VB == 64
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << r) - 1), (__m512)v);
#elif NNF_VB == 32 && NNF_TBYTES == 8
    _mm256_maskstore_pd(p, (__m256i)NNF_NAME(nnf_lane_mask)(r), (__m256d)v);
#elif NNF_VB == 32
    _mm256_maskstore_ps(p, (__m256i)NNF_NAME(nnf_lane_mask)(r), (__m256)v);
#else
    memcpy(p, &v, (size_t)r * sizeof(NNF_T));
#endif
}

/* A vector of r lanes at p: the whole vector when r is NNF_LANES (a constant after inlining
 * where the caller's is, so the branch goes), else the masked part. */
static inline __attribute__((always_inline)) NNF_VEC NNF_NAME(nnf_load_r)(const NNF_T* p,
                                                                       nnf_idx r) {
    return r == NNF_LANES ? NNF_NAME(nnf_load)(p) : NNF_NAME(nnf_load_part)(p, r);
}

static inline __attribute__((always_inline)) void NNF_NAME(nnf_store_r)(NNF_T* p, NNF_VEC v,
                                                                     nnf_idx r) {
    if (r == NNF_LANES) NNF_NAME(nnf_store)(p, v);
    else NNF_NAME(nnf_store_part)(p, v, r);
}

#if defined(__GNUC__) && !defined(__clang__)
/* lane-wise integers of the element's size: the shuffle masks */
typedef NNF_IT NNF_NAME(nnf_mask) __attribute__((vector_size(NNF_VB)));
#endif

/* The sum of the lanes by a fixed tree: the upper half added to the lower half, then again. */
static inline __attribute__((always_inline)) NNF_T NNF_NAME(nnf_hsum)(NNF_VEC v) {
#if defined(__GNUC__) && !defined(__clang__)
    NNF_NAME(nnf_mask) mask;
    nnf_idx width = NNF_LANES, i;
    NNF_UNROLL
    while (width > 1) {
        width /= 2;
        NNF_UNROLL
        for (i = 0; i < NNF_LANES; i++) mask[i] = (NNF_IT)(i < width ? i + width : i);
        v += __builtin_shuffle(v, mask);
    }
    return v[0];
#else
    NNF_T lane[NNF_VB / sizeof(NNF_T)];
    nnf_idx width = NNF_LANES, i;
    memcpy(lane, &v, sizeof(v));
    while (width > 1) {
        width /= 2;
        for (i = 0; i < width; i++) lane[i] += lane[i + width];
    }
    return lane[0];
#endif
}

/* acc[i][j] += a_i[p:p+r] * b_j[p:p+r] lane by lane (r = NNF_LANES, or fewer: a masked step). */
static inline __attribute__((always_inline)) void NNF_NAME(nnf_dot_step)(
        int mr, int nr, nnf_idx p, nnf_idx r, const NNF_T* const* a, const NNF_T* const* b,
        NNF_VEC acc[NNF_NT_MR][NNF_NT_NR]) {
    NNF_VEC av[NNF_NT_MR], bv[NNF_NT_NR];
    int i, j;
    NNF_UNROLL
    for (i = 0; i < mr; i++) av[i] = NNF_NAME(nnf_load_r)(a[i] + p, r);
    NNF_UNROLL
    for (j = 0; j < nr; j++) bv[j] = NNF_NAME(nnf_load_r)(b[j] + p, r);
    NNF_UNROLL
    for (i = 0; i < mr; i++)
        NNF_UNROLL
        for (j = 0; j < nr; j++)
            acc[i][j] += av[i] * bv[j];
}

/* C[i, j] = sum_p a_i[p] b_j[p] for i < mr, j < nr (mr <= NNF_NT_MR, nr <= NNF_NT_NR: constants
 * after inlining, so the accumulators live in registers). Whole vectors, then the last
 * k % LANES elements as one masked step: each lane sums its terms in order of p, then the lanes
 * are added by a fixed tree. */
static inline __attribute__((always_inline)) void NNF_NAME(nnf_dot_block)(
        int mr, int nr, nnf_idx k, const NNF_T* const* a, const NNF_T* const* b,
        NNF_T* C, nnf_idx ldc, int add) {
    NNF_VEC acc[NNF_NT_MR][NNF_NT_NR];
    nnf_idx p;
    int i, j;
    NNF_UNROLL
    for (i = 0; i < mr; i++)
        NNF_UNROLL
        for (j = 0; j < nr; j++)
            acc[i][j] = (NNF_VEC){0};
    for (p = 0; p + NNF_LANES <= k; p += NNF_LANES)
        NNF_NAME(nnf_dot_step)(mr, nr, p, NNF_LANES, a, b, acc);
    if (p < k) NNF_NAME(nnf_dot_step)(mr, nr, p, k - p, a, b, acc);
    for (i = 0; i < mr; i++) {
        for (j = 0; j < nr; j++) {
            NNF_T s = NNF_NAME(nnf_hsum)(acc[i][j]);
            C[i * ldc + j] = add ? C[i * ldc + j] + s : s;
        }
    }
}

#define NNF_NT_CASE(MR, NR)                                                           \
    case (MR) * 8 + (NR):                                                             \
        if ((MR) <= NNF_NT_MR && (NR) <= NNF_NT_NR)                                   \
            NNF_NAME(nnf_dot_block)((MR), (NR), kc, a, b, C + i0 * ldc + j0, ldc, add); \
        break;
#define NNF_NT_ROW(MR) NNF_NT_CASE(MR, 1) NNF_NT_CASE(MR, 2) NNF_NT_CASE(MR, 3) NNF_NT_CASE(MR, 4)

/* OUT C (m x n) = A B^T: row i of A is A + i*lda, row j of B is B + j*ldb; both k long. The
 * forward pass: C = inputs @ W^T.
 * Cut along k into chunks of NNF_KC (a multiple of the vector width), so that a chunk of all the
 * rows of A and of NNF_NT_NR rows of B stay in L1 while the blocks sweep them: B is read once
 * from L2, A once per chunk. Each C[i, j] is the chunks' sums added in order. */
static void NNF_NAME(nnf_gemm_nt)(nnf_idx m, nnf_idx n, nnf_idx k, const NNF_T* A, nnf_idx lda,
                                  const NNF_T* B, nnf_idx ldb, NNF_T* C, nnf_idx ldc) {
    const NNF_T* a[NNF_NT_MR];
    const NNF_T* b[NNF_NT_NR];
    nnf_idx i0, j0, k0, kc;
    int i, j, mr, nr, add;
    if (k == 0) {
        for (i0 = 0; i0 < m; i0++)
            for (j0 = 0; j0 < n; j0++) C[i0 * ldc + j0] = 0;
        return;
    }
    for (k0 = 0; k0 < k; k0 += kc) {
        kc = (k - k0 > NNF_KC) ? NNF_KC : k - k0;
        add = k0 > 0;
        for (j0 = 0; j0 < n; j0 += nr) {
            nr = (n - j0 >= NNF_NT_NR) ? NNF_NT_NR : (int)(n - j0);
            for (j = 0; j < nr; j++) b[j] = B + (j0 + j) * ldb + k0;
            for (i0 = 0; i0 < m; i0 += mr) {
                mr = (m - i0 >= NNF_NT_MR) ? NNF_NT_MR : (int)(m - i0);
                for (i = 0; i < mr; i++) a[i] = A + (i0 + i) * lda + k0;
                switch (mr * 8 + nr) {
                    NNF_NT_ROW(1) NNF_NT_ROW(2) NNF_NT_ROW(3) NNF_NT_ROW(4) NNF_NT_ROW(5)
                    NNF_NT_ROW(6)
                    default: break;
                }
            }
        }
    }
}
#undef NNF_NT_ROW
#undef NNF_NT_CASE

/* C[i, j0 + v*LANES + lane] for i < mr, v < nv (mr <= NNF_XN_MR, nv <= NNF_XN_NV, constants after
 * inlining): beta * C + alpha * sum_p A[i*ars + p*aps] * brow_p[...]. The last vector has `last`
 * lanes (NNF_LANES, or fewer: masked loads and stores, for the columns past the last whole
 * vector). */
static inline __attribute__((always_inline)) void NNF_NAME(nnf_axpy_block)(
        int mr, int nv, nnf_idx last, nnf_idx k, NNF_T alpha, const NNF_T* A, nnf_idx ars,
        nnf_idx aps, const NNF_T* B, nnf_idx ldb, nnf_idx j0, NNF_T beta,
        NNF_T* C, nnf_idx ldc) {
    NNF_VEC acc[NNF_XN_MR][NNF_XN_NV], bv[NNF_XN_NV], cv;
    nnf_idx p;
    int i, v;
    NNF_UNROLL
    for (i = 0; i < mr; i++)
        NNF_UNROLL
        for (v = 0; v < nv; v++)
            acc[i][v] = (NNF_VEC){0};
    for (p = 0; p < k; p++) {
        const NNF_T* row = B + p * ldb + j0;
        NNF_UNROLL
        for (v = 0; v < nv; v++)
            bv[v] = NNF_NAME(nnf_load_r)(row + v * NNF_LANES, v == nv - 1 ? last : NNF_LANES);
        NNF_UNROLL
        for (i = 0; i < mr; i++) {
            NNF_T s = A[i * ars + p * aps];
            NNF_UNROLL
            for (v = 0; v < nv; v++) acc[i][v] += s * bv[v];
        }
    }
    NNF_UNROLL
    for (i = 0; i < mr; i++) {
        NNF_UNROLL
        for (v = 0; v < nv; v++) {
            NNF_T* c = C + i * ldc + j0 + v * NNF_LANES;
            const nnf_idx r = (v == nv - 1) ? last : NNF_LANES;
            if (beta == 0) {
                cv = alpha * acc[i][v];
            } else {
                cv = NNF_NAME(nnf_load_r)(c, r);
                cv = beta * cv + alpha * acc[i][v];
            }
            NNF_NAME(nnf_store_r)(c, cv, r);
        }
    }
}

#define NNF_XN_CASE(MR, NV)                                                                   \
    case (MR) * 8 + (NV):                                                                     \
        if ((MR) <= NNF_XN_MR && (NV) <= NNF_XN_NV)                                           \
            NNF_NAME(nnf_axpy_block)((MR), (NV), last, k, alpha, A + i0 * ars, ars, aps, B,   \
                                     ldb, j0, beta, C + i0 * ldc, ldc);                       \
        break;
#define NNF_XN_ROW(MR) NNF_XN_CASE(MR, 1) NNF_XN_CASE(MR, 2) NNF_XN_CASE(MR, 4)

/* One strip of columns j0 .. j0 + (nv - 1)*LANES + last of C, for all rows, in blocks of
 * NNF_XN_MR rows (a strip of B, k rows, stays in L1 for all of them). Inlined where `last` is the
 * constant NNF_LANES (whole vectors) and where it is the masked remainder. */
static inline __attribute__((always_inline)) void NNF_NAME(nnf_axpy_strip)(
        int nv, nnf_idx last, nnf_idx m, nnf_idx k, NNF_T alpha, const NNF_T* A, nnf_idx ars,
        nnf_idx aps, const NNF_T* B, nnf_idx ldb, nnf_idx j0, NNF_T beta, NNF_T* C,
        nnf_idx ldc) {
    nnf_idx i0;
    int mr;
    for (i0 = 0; i0 < m; i0 += mr) {
        mr = (m - i0 >= NNF_XN_MR) ? NNF_XN_MR : (int)(m - i0);
        switch (mr * 8 + nv) {
            NNF_XN_ROW(1) NNF_XN_ROW(2) NNF_XN_ROW(3) NNF_XN_ROW(4) NNF_XN_ROW(5) NNF_XN_ROW(6)
            default: break;
        }
    }
}
#undef NNF_XN_ROW
#undef NNF_XN_CASE

/* C = beta C + alpha A' B with C (m x n); A' (m x k) has A'[i, p] = A[i*ars + p*aps] (so
 * ars = lda, aps = 1 for a row-major A; ars = 1, aps = lda for the transpose of one); row p of B
 * is B + p*ldb. beta == 0 never reads C.
 *   backward deltas:   D_prev = D @ W             (ars = rows, aps = 1, B = W)
 *   weight gradients:  W = beta W + alpha D^T X   (ars = 1, aps = rows, B = the batch's rows)
 * Column strips of NNF_XN_NV vectors (then half as many, down to 1), then the last n % LANES
 * columns as one masked vector (the same sums, in the same order of p, as whole vectors). */
static void NNF_NAME(nnf_gemm_xn)(nnf_idx m, nnf_idx n, nnf_idx k, NNF_T alpha,
                                  const NNF_T* A, nnf_idx ars, nnf_idx aps,
                                  const NNF_T* B, nnf_idx ldb, NNF_T beta, NNF_T* C,
                                  nnf_idx ldc) {
    nnf_idx j0 = 0;
    int nv;
    for (nv = NNF_XN_NV; nv >= 1; nv /= 2)
        for (; j0 + nv * NNF_LANES <= n; j0 += nv * NNF_LANES)
            NNF_NAME(nnf_axpy_strip)(nv, NNF_LANES, m, k, alpha, A, ars, aps, B, ldb, j0, beta,
                                     C, ldc);
    if (j0 < n)
        NNF_NAME(nnf_axpy_strip)(1, n - j0, m, k, alpha, A, ars, aps, B, ldb, j0, beta, C, ldc);
}

#undef NNF_VEC
#undef NNF_LANES
#undef NNF_KC
