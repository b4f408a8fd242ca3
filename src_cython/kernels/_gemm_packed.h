/* The packed, cache-blocked GEMM: one instance per (instruction set, type), included through
 * _simd_types.h (like _gemm_impl.h) with NNF_T, NNF_TBYTES, NNF_VB, NNF_NAME and the target
 * pragma of the instruction set in force; _simd.h dispatches nnf_gemm_{d,s} to the instances.
 *
 *   int nnf_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)
 *       row-major C (m x n) <- alpha op(A) op(B) + beta C, exactly as gemm() in _blas.pxd:
 *       op(A) = A (m x k, row stride lda), or A^T when ta (A stored k x m); op(B) = B (k x n), or
 *       B^T when tb (B stored n x k). beta == 0 never reads C (NaN there is overwritten); alpha == 0
 *       or k == 0 only scales C (A and B unread), as BLAS does. Returns 0, or -1 when the packing
 *       buffers cannot be allocated (C untouched then).
 *
 * Structure (GotoBLAS / BLIS, written for a row-major C):
 *
 *   for ic in 0..m step MC:                    rows of C
 *     for pc in 0..k step KC:                  depth
 *       pack op(A)[ic:+MC, pc:+KC] -> Ap        MR-row panels, kc columns each (L3)
 *       for jc in 0..n step NC:                columns of C
 *         pack op(B)[pc:+KC, jc:+NC] -> Bp      NR-column panels, kc rows each (L2)
 *         for ir in 0..mc step MR:             one panel of Ap stays in L1 ...
 *           for jr in 0..nc step NR:           ... while the panels of Bp stream past it from L2
 *             C[ir:+MR, jr:+NR] (+)= alpha Ap[ir] Bp[jr]     the micro-kernel
 *
 * The micro-kernel holds an MR x NR tile of C in MR x NV vector registers (NR = NV lanes-wide
 * vectors): per step p of the depth it loads the NV vectors of row p of the B panel and, for each
 * of the MR rows, broadcasts one element of the A panel and does NV fused multiply-adds. The
 * broadcast side (MR loads a step) reads the L1-resident A panel, the vector side (NV loads a
 * step) the L2-resident B block, the split BLIS makes (its column-major A is our B). Packing does
 * the transpositions (any strides) and zero-pads partial panels, so the kernel always runs the
 * full width; a tile with fewer than NR columns of C is copied into a small buffer, updated there
 * by the same code and copied back (the rounding of a full tile). Rows past C's are computed but
 * not stored; a last row panel of at most MR / 2 rows runs a kernel of MR / 2 rows (short
 * outputs: a batch of 20 is 14 + 7 rows of work, not 28).
 *
 * Block sizes (MR x NV vectors, KC, NC, MC) per instance, below:
 *   AVX-512 (32 zmm):  MR = 14, NV = 2: 28 accumulators + 2 B vectors + 1 broadcast.
 *   AVX2 (16 ymm):     MR = 6,  NV = 2: 12 accumulators + 2 B vectors + 1 broadcast.
 *   SSE2 (16 xmm):     MR = 4,  NV = 2: 8 accumulators, no FMA (a product needs a temporary).
 *   KC: an A panel (MR x KC) takes about half of a 32-48 KiB L1d, so the B panel rows passing
 *   through and C's tile do not evict it. NC: the B block (KC x NC) about half of a 1-2 MiB L2
 *   (1 MiB on Zen 4, 2 MiB on Sapphire Rapids: sized for the smaller). MC: the A block (MC x KC)
 *   in L3; a large MC packs B fewer times.
 *
 * Determinism: every C[i, j] is sum over the KC blocks, in order, of alpha times that block's
 * dot product, itself accumulated by FMAs in order of p from 0; the first block computes
 * alpha*acc + beta*C, the later ones alpha*acc + C, each product rounded on its own (never fused
 * into the addition: see nnf_pk_rounded). The order is a function of k and KC (and of the
 * instance: SSE2 has no FMA) only: not of m, n, the tile the element falls in, the
 * alignment of the inputs (packing copies them into aligned buffers) or threads (none here; the
 * function keeps no state, so any number of threads may call it at once).
 */

/* the register tile: MR rows x NV vectors (see above) */
#if NNF_VB == 64
#define NNF_PK_MR 14
#define NNF_PK_NV 2
#elif NNF_VB == 32
#define NNF_PK_MR 6
#define NNF_PK_NV 2
#else
#define NNF_PK_MR 4
#define NNF_PK_NV 2
#endif
/* the depth of a block: an AVX-512 A panel of 14 x 256 doubles is 28 KiB, of 14 x 384 floats
 * 21 KiB (the narrower ISAs' panels are smaller still) */
#if NNF_TBYTES == 8
#define NNF_PK_KC 256
#else
#define NNF_PK_KC 384
#endif
#define NNF_PK_LANES ((nnf_idx)(NNF_VB / NNF_TBYTES))
#define NNF_PK_NR (NNF_PK_NV * NNF_PK_LANES)
/* the B block (KC x NC) at about 512 KiB: NC a multiple of NR */
#define NNF_PK_NC ((nnf_idx)(((512 * 1024) / (NNF_PK_KC * NNF_TBYTES)) / NNF_PK_NR * NNF_PK_NR))
/* the A block (MC x KC): MC a multiple of MR near 4096 rows (8 MiB of doubles at most; the
 * buffer is only as large as the product needs) */
#define NNF_PK_MC ((nnf_idx)(4096 / NNF_PK_MR * NNF_PK_MR))

/* NNF_UNROLL stops at 8 iterations (GCC); the kernel's loops over its MR rows must unroll whole,
 * or its accumulators go to memory */
#ifndef NNF_UNROLL_ALL
#if defined(__clang__)
#define NNF_UNROLL_ALL _Pragma("unroll")
#elif defined(__GNUC__)
#define NNF_UNROLL_ALL _Pragma("GCC unroll 32")
#else
#define NNF_UNROLL_ALL
#endif
#endif

/* the vector type of _gemm_impl.h (included before this file): unaligned loads and stores */
#define NNF_PKVEC NNF_NAME(nnf_vec)

/* v, as a value the compiler must produce rounded: an empty asm that may change it stands
 * between a product and the sum it feeds, so that the product is not fused with the addition
 * into an FMA. Contraction is the compiler's choice per inlined copy of the code, and one copy
 * fusing alpha*acc, another beta*C, would round an entry differently in different tiles. */
static inline __attribute__((always_inline)) NNF_PKVEC NNF_NAME(nnf_pk_rounded)(NNF_PKVEC v) {
#if NNF_X86
    __asm__("" : "+v"(v));
#else
    __asm__("" : "+m"(v));
#endif
    return v;
}

/* C (mr x NR at c, row stride ldc) <- beta C + alpha (A panel)(B panel) over kc steps, for
 * mr <= rows <= MR: the kernel computes `rows` rows (a constant after inlining: MR, or MR / 2
 * for the last panel of a short C) and stores the first mr. beta == 0 never reads C.
 * a: kc groups of MR elements (the panel's stride, whatever `rows`); b: kc rows of NR elements.
 * Each accumulator sums its terms in order of p whatever `rows` is: the same bits. */
static inline __attribute__((always_inline)) void NNF_NAME(nnf_pk_kernel)(
        int rows, nnf_idx mr, nnf_idx kc, const NNF_T* a, const NNF_T* b, NNF_T alpha,
        NNF_T beta, NNF_T* c, nnf_idx ldc) {
    NNF_PKVEC acc[NNF_PK_MR][NNF_PK_NV], bv[NNF_PK_NV], cv;
    nnf_idx p;
    int i, v;
    NNF_UNROLL_ALL
    for (i = 0; i < rows; i++)
        NNF_UNROLL_ALL
        for (v = 0; v < NNF_PK_NV; v++) acc[i][v] = (NNF_PKVEC){0};
    for (p = 0; p < kc; p++) {
        NNF_UNROLL_ALL
        for (v = 0; v < NNF_PK_NV; v++) bv[v] = *(const NNF_PKVEC*)(b + v * NNF_PK_LANES);
        NNF_UNROLL_ALL
        for (i = 0; i < rows; i++) {
            NNF_T s = a[i];
            NNF_UNROLL_ALL
            for (v = 0; v < NNF_PK_NV; v++) acc[i][v] += s * bv[v];
        }
        a += NNF_PK_MR;
        b += NNF_PK_NR;
    }
    NNF_UNROLL_ALL
    for (i = 0; i < rows; i++) {
        if (i >= mr) break;
        NNF_UNROLL_ALL
        for (v = 0; v < NNF_PK_NV; v++) {
            NNF_PKVEC* cp = (NNF_PKVEC*)(c + i * ldc + v * NNF_PK_LANES);
            cv = NNF_NAME(nnf_pk_rounded)(alpha * acc[i][v]);
            if (beta != 0) cv += NNF_NAME(nnf_pk_rounded)(beta * *cp);
            *cp = cv;
        }
    }
}

/* The kernel for the mr rows of a tile: all MR, or half as many when they suffice. */
static inline __attribute__((always_inline)) void NNF_NAME(nnf_pk_rows)(
        nnf_idx mr, nnf_idx kc, const NNF_T* a, const NNF_T* b, NNF_T alpha, NNF_T beta,
        NNF_T* c, nnf_idx ldc) {
    if (mr > NNF_PK_MR / 2)
        NNF_NAME(nnf_pk_kernel)(NNF_PK_MR, mr, kc, a, b, alpha, beta, c, ldc);
    else
        NNF_NAME(nnf_pk_kernel)(NNF_PK_MR / 2, mr, kc, a, b, alpha, beta, c, ldc);
}

/* The tile of C at c (mr x nr valid, mr <= MR, nr <= NR): with all NR columns in place; with
 * fewer through a buffer, so that the kernel's whole-vector stores stay inside C. */
static void NNF_NAME(nnf_pk_tile)(nnf_idx kc, const NNF_T* a, const NNF_T* b, NNF_T alpha,
                                  NNF_T beta, NNF_T* c, nnf_idx ldc, nnf_idx mr, nnf_idx nr) {
    NNF_T tile[NNF_PK_MR * NNF_PK_NR] __attribute__((aligned(64)));
    nnf_idx i, j;
    if (nr == NNF_PK_NR) {
        NNF_NAME(nnf_pk_rows)(mr, kc, a, b, alpha, beta, c, ldc);
        return;
    }
    if (beta != 0)
        for (i = 0; i < mr; i++)
            for (j = 0; j < nr; j++) tile[i * NNF_PK_NR + j] = c[i * ldc + j];
    NNF_NAME(nnf_pk_rows)(mr, kc, a, b, alpha, beta, tile, NNF_PK_NR);
    for (i = 0; i < mr; i++)
        for (j = 0; j < nr; j++) c[i * ldc + j] = tile[i * NNF_PK_NR + j];
}

#if defined(__GNUC__) && !defined(__clang__)
#define NNF_PK_TRANSPOSE 1
/* v[0..L-1] (L = NNF_PK_LANES vectors of L lanes) <- their transpose, in registers: for each bit b
 * of the lane index, the elements whose row and column differ in bit b swap places (row i with
 * bit b clear keeps its lanes with bit b clear and takes, in the others, those of row i + b; row
 * i + b the other way round). Two-input shuffles with constant masks: log2(L) rounds of L. */
static inline __attribute__((always_inline)) void NNF_NAME(nnf_pk_transpose)(NNF_PKVEC* v) {
    NNF_NAME(nnf_mask) keep, take;
    nnf_idx b, i, j;
    NNF_UNROLL_ALL
    for (b = 1; b < NNF_PK_LANES; b *= 2) {
        NNF_UNROLL_ALL
        for (j = 0; j < NNF_PK_LANES; j++) {
            keep[j] = (NNF_IT)((j & b) ? NNF_PK_LANES + (j ^ b) : j);
            take[j] = (NNF_IT)((j & b) ? NNF_PK_LANES + j : (j ^ b));
        }
        NNF_UNROLL_ALL
        for (i = 0; i < NNF_PK_LANES; i++) {
            if (!(i & b)) {
                NNF_PKVEC low = v[i], high = v[i + b];
                v[i] = __builtin_shuffle(low, high, keep);
                v[i + b] = __builtin_shuffle(low, high, take);
            }
        }
    }
}

/* The panels of R = NV * L rows (NV whole vectors: B's) of a source whose rows are contiguous
 * (cs == 1): L x L blocks loaded row by row, transposed in registers and stored as L steps of
 * p; the last kc % L steps and a last partial panel element by element. The same values in the
 * same places as the element-wise loop. */
static inline __attribute__((always_inline)) void NNF_NAME(nnf_pk_pack_rows)(
        const NNF_T* src, nnf_idx rs, nnf_idx rows, nnf_idx kc, int R, NNF_T* dst) {
    NNF_PKVEC v[NNF_PK_LANES];
    const nnf_idx whole = rows / R * R, steps = kc / NNF_PK_LANES * NNF_PK_LANES;
    nnf_idx r0, p, i;
    int r, part;
    for (r0 = 0; r0 < whole; r0 += R, dst += R * kc) {
        const NNF_T* s = src + r0 * rs;
        for (p = 0; p < steps; p += NNF_PK_LANES) {
            for (part = 0; part < R; part += (int)NNF_PK_LANES) {
                NNF_UNROLL_ALL
                for (i = 0; i < NNF_PK_LANES; i++)
                    v[i] = NNF_NAME(nnf_load)(s + (part + i) * rs + p);
                NNF_NAME(nnf_pk_transpose)(v);
                NNF_UNROLL_ALL
                for (i = 0; i < NNF_PK_LANES; i++)
                    NNF_NAME(nnf_store)(dst + (p + i) * R + part, v[i]);
            }
        }
        for (; p < kc; p++)
            for (r = 0; r < R; r++) dst[p * R + r] = s[r * rs + p];
    }
    if (r0 < rows) {
        const NNF_T* s = src + r0 * rs;
        for (p = 0; p < kc; p++)
            for (r = 0; r < R; r++) dst[p * R + r] = (r0 + r < rows) ? s[r * rs + p] : 0;
    }
}
#endif

/* Pack a block of `rows` x kc elements, element (r, p) at src[r*rs + p*cs], into panels of R rows
 * (the last one zero-padded): panel q holds, for each p, its R elements of column p, at
 * dst + q*R*kc. For op(A) the rows are C's rows; for op(B) they are C's columns. Either way the
 * source is read along its contiguous dimension: with rs == 1 one source row p at a time, its
 * pieces of R going to every panel; otherwise a panel at a time, its R source rows in step. */
static inline __attribute__((always_inline)) void NNF_NAME(nnf_pk_pack)(
        const NNF_T* src, nnf_idx rs, nnf_idx cs, nnf_idx rows, nnf_idx kc, int R,
        NNF_T* dst) {
    const nnf_idx whole = rows / R * R;  /* the rows of the full panels */
    nnf_idx r0, p;
    int r;
#ifdef NNF_PK_TRANSPOSE
    if (rs != 1 && cs == 1 && R % NNF_PK_LANES == 0) {
        NNF_NAME(nnf_pk_pack_rows)(src, rs, rows, kc, R, dst);
        return;
    }
#endif
    if (rs == 1) {
        for (p = 0; p < kc; p++) {
            const NNF_T* s = src + p * cs;
            NNF_T* d = dst + p * R;
            for (r0 = 0; r0 < whole; r0 += R, d += R * kc)
                NNF_UNROLL_ALL
                for (r = 0; r < R; r++) d[r] = s[r0 + r];
            for (r = 0; r0 < rows && r < R; r++) d[r] = (r0 + r < rows) ? s[r0 + r] : 0;
        }
        return;
    }
    for (r0 = 0; r0 < whole; r0 += R, dst += R * kc) {
        const NNF_T* s = src + r0 * rs;
        for (p = 0; p < kc; p++)
            NNF_UNROLL_ALL
            for (r = 0; r < R; r++) dst[p * R + r] = s[r * rs + p * cs];
    }
    if (r0 < rows) {
        const NNF_T* s = src + r0 * rs;
        for (p = 0; p < kc; p++)
            for (r = 0; r < R; r++) dst[p * R + r] = (r0 + r < rows) ? s[r * rs + p * cs] : 0;
    }
}

/* C <- beta C (beta == 0: zeros, C unread): the whole product when alpha == 0 or k == 0. */
static void NNF_NAME(nnf_pk_scale)(nnf_idx m, nnf_idx n, NNF_T beta, NNF_T* C, nnf_idx ldc) {
    nnf_idx i, j;
    for (i = 0; i < m; i++)
        for (j = 0; j < n; j++) C[i * ldc + j] = (beta == 0) ? 0 : beta * C[i * ldc + j];
}

/* OUT sizes[0:5] <- MR, NR, KC, NC, MC of this instance (for the tests' edge cases and the
 * benchmarks). */
static void NNF_NAME(nnf_gemm_blocks)(nnf_idx* sizes) {
    sizes[0] = NNF_PK_MR;
    sizes[1] = NNF_PK_NR;
    sizes[2] = NNF_PK_KC;
    sizes[3] = NNF_PK_NC;
    sizes[4] = NNF_PK_MC;
}

static int NNF_NAME(nnf_gemm)(int ta, int tb, nnf_idx m, nnf_idx n, nnf_idx k, NNF_T alpha,
                              const NNF_T* A, nnf_idx lda, const NNF_T* B, nnf_idx ldb,
                              NNF_T beta, NNF_T* C, nnf_idx ldc) {
    /* op(A)[i, p] = A[i*ars + p*aps]; op(B)[p, j] = B[j*bcs + p*bps] */
    const nnf_idx ars = ta ? 1 : lda, aps = ta ? lda : 1;
    const nnf_idx bcs = tb ? ldb : 1, bps = tb ? 1 : ldb;
    nnf_idx mc_max, nc_max, kc_max, a_size, ic, pc, jc, ir, jr, mc, kc, nc;
    NNF_T *Ap, *Bp;
    if (m <= 0 || n <= 0) return 0;
    if (k <= 0 || alpha == 0) {
        NNF_NAME(nnf_pk_scale)(m, n, beta, C, ldc);
        return 0;
    }
    /* the buffers for the largest blocks this product has: whole panels */
    mc_max = (m < NNF_PK_MC ? m : NNF_PK_MC);
    mc_max = (mc_max + NNF_PK_MR - 1) / NNF_PK_MR * NNF_PK_MR;
    nc_max = (n < NNF_PK_NC ? n : NNF_PK_NC);
    nc_max = (nc_max + NNF_PK_NR - 1) / NNF_PK_NR * NNF_PK_NR;
    kc_max = (k < NNF_PK_KC ? k : NNF_PK_KC);
    a_size = (mc_max * kc_max + 63) / 64 * 64;  /* so that Bp is 64-byte aligned too */
    Ap = (NNF_T*)nnf_aligned_alloc((size_t)(a_size + nc_max * kc_max) * sizeof(NNF_T));
    if (Ap == NULL) return -1;
    Bp = Ap + a_size;
    for (ic = 0; ic < m; ic += mc) {
        mc = (m - ic < NNF_PK_MC) ? m - ic : NNF_PK_MC;
        for (pc = 0; pc < k; pc += kc) {
            /* the first depth block applies beta; the later ones add to what it wrote */
            const NNF_T beta_block = (pc == 0) ? beta : (NNF_T)1;
            kc = (k - pc < NNF_PK_KC) ? k - pc : NNF_PK_KC;
            NNF_NAME(nnf_pk_pack)(A + ic * ars + pc * aps, ars, aps, mc, kc, NNF_PK_MR, Ap);
            for (jc = 0; jc < n; jc += nc) {
                nc = (n - jc < NNF_PK_NC) ? n - jc : NNF_PK_NC;
                NNF_NAME(nnf_pk_pack)(B + jc * bcs + pc * bps, bcs, bps, nc, kc, NNF_PK_NR, Bp);
                for (ir = 0; ir < mc; ir += NNF_PK_MR)
                    for (jr = 0; jr < nc; jr += NNF_PK_NR)
                        NNF_NAME(nnf_pk_tile)(
                            kc, Ap + ir * kc, Bp + jr * kc, alpha, beta_block,
                            C + (ic + ir) * ldc + jc + jr, ldc,
                            (mc - ir < NNF_PK_MR) ? mc - ir : NNF_PK_MR,
                            (nc - jr < NNF_PK_NR) ? nc - jr : NNF_PK_NR);
            }
        }
    }
    nnf_aligned_free(Ap);
    return 0;
}

#undef NNF_PK_MR
#undef NNF_PK_NV
#undef NNF_PK_KC
#undef NNF_PK_LANES
#undef NNF_PK_NR
#undef NNF_PK_NC
#undef NNF_PK_MC
#undef NNF_PKVEC
