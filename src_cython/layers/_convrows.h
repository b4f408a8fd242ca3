/* Inner loops of the convolution and pooling kernels (_convkern.pxd), in C: the compiler knows
 * that source and destination never overlap (restrict) and vectorizes the short rows of a
 * convolution (8 to 24 values) without an alias check or a call to memcpy per row; the 2x2 max
 * pool is written with SSE2 (the x86-64 baseline: no target pragmas, no -march), without branches.
 *
 * Every loop here is elementwise (copies, one addition per element, comparisons and selects), so
 * the vector width never changes a result: the SSE2 and the scalar code give the same bits.
 *
 *   nnf_copy_rows_{s,d}(isa, dst, src, rows, n, src_stride):  dst[r*n + x] = src[r*src_stride + x]
 *   nnf_add_rows_{s,d}(isa, dst, src, rows, n, dst_stride):   dst[r*dst_stride + x] += src[r*n + x]
 *       (isa >= 1, nnf_isa() of _simd.h: compiled for AVX2 under a target attribute, chosen at
 *       run time like _simd.h's kernels; the same bits either way)
 *   nnf_pool2_{s,d}(z, bias, W, oh, ow, relu, y, arg, base):
 *       2x2 windows at stride 2 of the plane z (rows of W values) of a = z + bias (relu: then
 *       a > 0 ? a : 0): y[oy*ow + ox] the window's first maximum in row-major order (the running
 *       maximum replaced only by a strictly larger value), arg[oy*ow + ox] the index
 *       base + row*W + column of that element in the plane.
 *   nnf_unpool2_{s,d}(dY, Y, arg, H, W, oh, ow, relu, d, base):
 *       the backward of nnf_pool2 and of the activation, the whole plane d (H rows of W) written:
 *       v = relu ? dY * (Y > 0 ? 1 : 0) : dY at each window's arg - base, 0 everywhere else
 *       (arg - base must be one of the window's four elements).
 */
#ifndef NNF_CONVROWS_H
#define NNF_CONVROWS_H

#include <stddef.h>

#if defined(__SSE2__) && defined(__x86_64__)
#include <emmintrin.h>
#define NNF_POOL2_SSE2 1
#else
#define NNF_POOL2_SSE2 0
#endif
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define NNF_ROWS_AVX2 1
#else
#define NNF_ROWS_AVX2 0
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
/* no memcpy call per short row; comparisons may vectorize (no traps are ever enabled) */
#pragma GCC optimize("no-tree-loop-distribute-patterns", "no-trapping-math")
#endif

#if defined(_MSC_VER)
#define NNF_RESTRICT __restrict
#else
#define NNF_RESTRICT restrict
#endif

/* the row loops, once per instruction set (attr: a target attribute or nothing) */
#define NNF_ROWLOOPS(T, name, attr)                                                            \
    static attr void nnf_copy_rows_##name(T* NNF_RESTRICT dst, const T* NNF_RESTRICT src,       \
                                          ptrdiff_t rows, ptrdiff_t n, ptrdiff_t src_stride) {   \
        ptrdiff_t r, x;                                                                        \
        for (r = 0; r < rows; r++)                                                             \
            for (x = 0; x < n; x++) dst[r * n + x] = src[r * src_stride + x];                  \
    }                                                                                          \
    static attr void nnf_add_rows_##name(T* NNF_RESTRICT dst, const T* NNF_RESTRICT src,        \
                                         ptrdiff_t rows, ptrdiff_t n, ptrdiff_t dst_stride) {    \
        ptrdiff_t r, x;                                                                        \
        for (r = 0; r < rows; r++)                                                             \
            for (x = 0; x < n; x++)                                                            \
                dst[r * dst_stride + x] = dst[r * dst_stride + x] + src[r * n + x];            \
    }

NNF_ROWLOOPS(float, s_base, )
NNF_ROWLOOPS(double, d_base, )
#if NNF_ROWS_AVX2
/* AVX2 only (no FMA: nothing here multiplies): 8 floats per row of the second convolution of
 * the chapter-6 network are one load and one store instead of two */
NNF_ROWLOOPS(float, s_avx2, __attribute__((target("avx2"))))
NNF_ROWLOOPS(double, d_avx2, __attribute__((target("avx2"))))
#define NNF_ROWS_CALL(name, ts, isa, args) \
    do { if ((isa) >= 1) nnf_##name##_##ts##_avx2 args; else nnf_##name##_##ts##_base args; } while (0)
#else
#define NNF_ROWS_CALL(name, ts, isa, args) nnf_##name##_##ts##_base args
#endif

/* isa: nnf_isa() of _simd.h (>= 1: AVX2 runs here) */
static inline void nnf_copy_rows_s(int isa, float* dst, const float* src, ptrdiff_t rows,
                                   ptrdiff_t n, ptrdiff_t src_stride) {
    NNF_ROWS_CALL(copy_rows, s, isa, (dst, src, rows, n, src_stride));
}
static inline void nnf_copy_rows_d(int isa, double* dst, const double* src, ptrdiff_t rows,
                                   ptrdiff_t n, ptrdiff_t src_stride) {
    NNF_ROWS_CALL(copy_rows, d, isa, (dst, src, rows, n, src_stride));
}
static inline void nnf_add_rows_s(int isa, float* dst, const float* src, ptrdiff_t rows,
                                  ptrdiff_t n, ptrdiff_t dst_stride) {
    NNF_ROWS_CALL(add_rows, s, isa, (dst, src, rows, n, dst_stride));
}
static inline void nnf_add_rows_d(int isa, double* dst, const double* src, ptrdiff_t rows,
                                  ptrdiff_t n, ptrdiff_t dst_stride) {
    NNF_ROWS_CALL(add_rows, d, isa, (dst, src, rows, n, dst_stride));
}

#define NNF_POOL2_TAIL(T, ts)                                                                   \
    /* windows ox0 .. ow-1 of one row of windows (rows z0, z1), one at a time */               \
    static inline void nnf_pool2_tail##ts(const T* z0, const T* z1, T bias, ptrdiff_t W,         \
                                          ptrdiff_t ox0, ptrdiff_t ow, int relu, T* yr,          \
                                          ptrdiff_t* ar, ptrdiff_t at0) {                        \
        ptrdiff_t ox;                                                                          \
        for (ox = ox0; ox < ow; ox++) {                                                        \
            T a0 = z0[2 * ox] + bias, a1 = z0[2 * ox + 1] + bias;                              \
            T a2 = z1[2 * ox] + bias, a3 = z1[2 * ox + 1] + bias;                              \
            T top;                                                                             \
            ptrdiff_t at;                                                                      \
            if (relu) {                                                                        \
                a0 = a0 > 0 ? a0 : 0;                                                          \
                a1 = a1 > 0 ? a1 : 0;                                                          \
                a2 = a2 > 0 ? a2 : 0;                                                          \
                a3 = a3 > 0 ? a3 : 0;                                                          \
            }                                                                                  \
            top = a0;                                                                          \
            at = 0;                                                                            \
            if (a1 > top) { top = a1; at = 1; }                                                \
            if (a2 > top) { top = a2; at = W; }                                                \
            if (a3 > top) { top = a3; at = W + 1; }                                            \
            yr[ox] = top;                                                                      \
            ar[ox] = at0 + 2 * ox + at;                                                        \
        }                                                                                      \
    }

NNF_POOL2_TAIL(float, _s)
NNF_POOL2_TAIL(double, _d)

#if NNF_POOL2_SSE2
/* a > top ? (a, code) : (top, at), as masks: max_ps(a, top) is exactly a > top ? a : top */
static inline void nnf_pool2_step_s(__m128 a, __m128* top, __m128i code, __m128i* at) {
    __m128i larger = _mm_castps_si128(_mm_cmpgt_ps(a, *top));
    *top = _mm_max_ps(a, *top);
    *at = _mm_or_si128(_mm_and_si128(larger, code), _mm_andnot_si128(larger, *at));
}

static inline void nnf_pool2_step_d(__m128d a, __m128d* top, __m128i code, __m128i* at) {
    __m128i larger = _mm_castpd_si128(_mm_cmpgt_pd(a, *top));
    *top = _mm_max_pd(a, *top);
    *at = _mm_or_si128(_mm_and_si128(larger, code), _mm_andnot_si128(larger, *at));
}
#endif

static inline void nnf_pool2_s(const float* z, float bias, ptrdiff_t W, ptrdiff_t oh,
                               ptrdiff_t ow, int relu, float* NNF_RESTRICT y,
                               ptrdiff_t* NNF_RESTRICT arg, ptrdiff_t base) {
    ptrdiff_t oy, ox;
    for (oy = 0; oy < oh; oy++) {
        const float* z0 = z + 2 * oy * W;
        const float* z1 = z0 + W;
        float* yr = y + oy * ow;
        ptrdiff_t* ar = arg + oy * ow;
        ptrdiff_t at0 = base + 2 * oy * W;
        ox = 0;
#if NNF_POOL2_SSE2
        if (W + 1 <= 2147483647) {
            const __m128 b = _mm_set1_ps(bias), zero = _mm_setzero_ps();
            const __m128i one = _mm_set1_epi32(1), below = _mm_set1_epi32((int)W);
            const __m128i diagonal = _mm_set1_epi32((int)(W + 1)), zero_i = _mm_setzero_si128();
            for (; ox + 4 <= ow; ox += 4) {
                __m128 p = _mm_loadu_ps(z0 + 2 * ox), q = _mm_loadu_ps(z0 + 2 * ox + 4);
                __m128 r = _mm_loadu_ps(z1 + 2 * ox), s = _mm_loadu_ps(z1 + 2 * ox + 4);
                __m128 a0 = _mm_add_ps(_mm_shuffle_ps(p, q, _MM_SHUFFLE(2, 0, 2, 0)), b);
                __m128 a1 = _mm_add_ps(_mm_shuffle_ps(p, q, _MM_SHUFFLE(3, 1, 3, 1)), b);
                __m128 a2 = _mm_add_ps(_mm_shuffle_ps(r, s, _MM_SHUFFLE(2, 0, 2, 0)), b);
                __m128 a3 = _mm_add_ps(_mm_shuffle_ps(r, s, _MM_SHUFFLE(3, 1, 3, 1)), b);
                __m128 top;
                __m128i at = zero_i, start;
                if (relu) {  /* max_ps(a, 0) is a > 0 ? a : 0 */
                    a0 = _mm_max_ps(a0, zero);
                    a1 = _mm_max_ps(a1, zero);
                    a2 = _mm_max_ps(a2, zero);
                    a3 = _mm_max_ps(a3, zero);
                }
                top = a0;
                nnf_pool2_step_s(a1, &top, one, &at);
                nnf_pool2_step_s(a2, &top, below, &at);
                nnf_pool2_step_s(a3, &top, diagonal, &at);
                _mm_storeu_ps(yr + ox, top);
                /* at (4 x int32, >= 0) + at0 + 2 (ox + lane), as 4 x int64 */
                start = _mm_set_epi64x((long long)(at0 + 2 * ox + 2), (long long)(at0 + 2 * ox));
                _mm_storeu_si128((__m128i*)(ar + ox),
                                 _mm_add_epi64(_mm_unpacklo_epi32(at, zero_i), start));
                start = _mm_add_epi64(start, _mm_set1_epi64x(4));
                _mm_storeu_si128((__m128i*)(ar + ox + 2),
                                 _mm_add_epi64(_mm_unpackhi_epi32(at, zero_i), start));
            }
        }
#endif
        nnf_pool2_tail_s(z0, z1, bias, W, ox, ow, relu, yr, ar, at0);
    }
}

static inline void nnf_pool2_d(const double* z, double bias, ptrdiff_t W, ptrdiff_t oh,
                               ptrdiff_t ow, int relu, double* NNF_RESTRICT y,
                               ptrdiff_t* NNF_RESTRICT arg, ptrdiff_t base) {
    ptrdiff_t oy, ox;
    for (oy = 0; oy < oh; oy++) {
        const double* z0 = z + 2 * oy * W;
        const double* z1 = z0 + W;
        double* yr = y + oy * ow;
        ptrdiff_t* ar = arg + oy * ow;
        ptrdiff_t at0 = base + 2 * oy * W;
        ox = 0;
#if NNF_POOL2_SSE2
        {
            const __m128d b = _mm_set1_pd(bias), zero = _mm_setzero_pd();
            const __m128i one = _mm_set1_epi64x(1), below = _mm_set1_epi64x((long long)W);
            const __m128i diagonal = _mm_set1_epi64x((long long)(W + 1));
            for (; ox + 2 <= ow; ox += 2) {
                __m128d p = _mm_loadu_pd(z0 + 2 * ox), q = _mm_loadu_pd(z0 + 2 * ox + 2);
                __m128d r = _mm_loadu_pd(z1 + 2 * ox), s = _mm_loadu_pd(z1 + 2 * ox + 2);
                __m128d a0 = _mm_add_pd(_mm_unpacklo_pd(p, q), b);
                __m128d a1 = _mm_add_pd(_mm_unpackhi_pd(p, q), b);
                __m128d a2 = _mm_add_pd(_mm_unpacklo_pd(r, s), b);
                __m128d a3 = _mm_add_pd(_mm_unpackhi_pd(r, s), b);
                __m128d top;
                __m128i at = _mm_setzero_si128();
                if (relu) {
                    a0 = _mm_max_pd(a0, zero);
                    a1 = _mm_max_pd(a1, zero);
                    a2 = _mm_max_pd(a2, zero);
                    a3 = _mm_max_pd(a3, zero);
                }
                top = a0;
                nnf_pool2_step_d(a1, &top, one, &at);
                nnf_pool2_step_d(a2, &top, below, &at);
                nnf_pool2_step_d(a3, &top, diagonal, &at);
                _mm_storeu_pd(yr + ox, top);
                _mm_storeu_si128((__m128i*)(ar + ox),
                                 _mm_add_epi64(at, _mm_set_epi64x((long long)(at0 + 2 * ox + 2),
                                                                  (long long)(at0 + 2 * ox))));
            }
        }
#endif
        nnf_pool2_tail_d(z0, z1, bias, W, ox, ow, relu, yr, ar, at0);
    }
}

/* one window's four entries: v at the one its code (0, 1, W, W+1) names, 0 at the others */
#define NNF_UNPOOL2_TAIL(T)                                                                    \
    for (; ox < ow; ox++) {                                                                    \
        T v = relu ? dYr[ox] * (Yr[ox] > 0 ? (T)1 : (T)0) : dYr[ox];                           \
        ptrdiff_t code = ar[ox] - (at0 + 2 * ox);                                              \
        d0[2 * ox] = code == 0 ? v : (T)0;                                                     \
        d0[2 * ox + 1] = code == 1 ? v : (T)0;                                                 \
        d1[2 * ox] = code == W ? v : (T)0;                                                     \
        d1[2 * ox + 1] = code == W + 1 ? v : (T)0;                                             \
    }

#define NNF_UNPOOL2_EDGES(T)                                                                   \
    for (x = 2 * ow; x < W; x++) {                                                             \
        d0[x] = 0;                                                                             \
        d1[x] = 0;                                                                             \
    }

static inline void nnf_unpool2_s(const float* dY, const float* Y, const ptrdiff_t* arg,
                                 ptrdiff_t H, ptrdiff_t W, ptrdiff_t oh, ptrdiff_t ow, int relu,
                                 float* NNF_RESTRICT d, ptrdiff_t base) {
    ptrdiff_t oy, ox, x;
    for (oy = 0; oy < oh; oy++) {
        const float* dYr = dY + oy * ow;
        const float* Yr = Y + oy * ow;
        const ptrdiff_t* ar = arg + oy * ow;
        float* d0 = d + 2 * oy * W;
        float* d1 = d0 + W;
        ptrdiff_t at0 = base + 2 * oy * W;
        ox = 0;
#if NNF_POOL2_SSE2
        if (W + 1 <= 2147483647) {
            const __m128 one = _mm_set1_ps(1.0f), zero = _mm_setzero_ps();
            const __m128i c1 = _mm_set1_epi32(1), cW = _mm_set1_epi32((int)W);
            const __m128i cW1 = _mm_set1_epi32((int)(W + 1)), c0 = _mm_setzero_si128();
            for (; ox + 4 <= ow; ox += 4) {
                __m128 v = _mm_loadu_ps(dYr + ox);
                __m128i lo = _mm_loadu_si128((const __m128i*)(ar + ox));
                __m128i hi = _mm_loadu_si128((const __m128i*)(ar + ox + 2));
                __m128i start = _mm_set_epi64x((long long)(at0 + 2 * ox + 2),
                                               (long long)(at0 + 2 * ox));
                __m128i code;
                __m128 e0, e1, e2, e3;
                if (relu)  /* dY * (Y > 0 ? 1 : 0) */
                    v = _mm_mul_ps(v, _mm_and_ps(_mm_cmpgt_ps(_mm_loadu_ps(Yr + ox), zero), one));
                lo = _mm_sub_epi64(lo, start);
                hi = _mm_sub_epi64(hi, _mm_add_epi64(start, _mm_set1_epi64x(4)));
                /* the codes are small: their low halves, as 4 x int32 */
                code = _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(lo), _mm_castsi128_ps(hi),
                                                       _MM_SHUFFLE(2, 0, 2, 0)));
                e0 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(code, c0)), v);
                e1 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(code, c1)), v);
                e2 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(code, cW)), v);
                e3 = _mm_and_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(code, cW1)), v);
                _mm_storeu_ps(d0 + 2 * ox, _mm_unpacklo_ps(e0, e1));
                _mm_storeu_ps(d0 + 2 * ox + 4, _mm_unpackhi_ps(e0, e1));
                _mm_storeu_ps(d1 + 2 * ox, _mm_unpacklo_ps(e2, e3));
                _mm_storeu_ps(d1 + 2 * ox + 4, _mm_unpackhi_ps(e2, e3));
            }
        }
#endif
        NNF_UNPOOL2_TAIL(float)
        NNF_UNPOOL2_EDGES(float)
    }
    for (x = 2 * oh * W; x < H * W; x++) d[x] = 0;
}

static inline void nnf_unpool2_d(const double* dY, const double* Y, const ptrdiff_t* arg,
                                 ptrdiff_t H, ptrdiff_t W, ptrdiff_t oh, ptrdiff_t ow, int relu,
                                 double* NNF_RESTRICT d, ptrdiff_t base) {
    ptrdiff_t oy, ox, x;
    for (oy = 0; oy < oh; oy++) {
        const double* dYr = dY + oy * ow;
        const double* Yr = Y + oy * ow;
        const ptrdiff_t* ar = arg + oy * ow;
        double* d0 = d + 2 * oy * W;
        double* d1 = d0 + W;
        ptrdiff_t at0 = base + 2 * oy * W;
        ox = 0;
#if NNF_POOL2_SSE2
        {
            const __m128d one = _mm_set1_pd(1.0), zero = _mm_setzero_pd();
            const __m128i c1 = _mm_set1_epi64x(1), cW = _mm_set1_epi64x((long long)W);
            const __m128i cW1 = _mm_set1_epi64x((long long)(W + 1));
            for (; ox + 2 <= ow; ox += 2) {
                __m128d v = _mm_loadu_pd(dYr + ox);
                __m128i code = _mm_sub_epi64(_mm_loadu_si128((const __m128i*)(ar + ox)),
                                             _mm_set_epi64x((long long)(at0 + 2 * ox + 2),
                                                            (long long)(at0 + 2 * ox)));
                /* 64-bit equality from 32-bit (SSE2): both halves equal */
                __m128i eq0 = _mm_cmpeq_epi32(code, _mm_setzero_si128());
                __m128i eq1 = _mm_cmpeq_epi32(code, c1);
                __m128i eqW = _mm_cmpeq_epi32(code, cW);
                __m128i eqW1 = _mm_cmpeq_epi32(code, cW1);
                __m128d e0, e1, e2, e3;
                eq0 = _mm_and_si128(eq0, _mm_shuffle_epi32(eq0, _MM_SHUFFLE(2, 3, 0, 1)));
                eq1 = _mm_and_si128(eq1, _mm_shuffle_epi32(eq1, _MM_SHUFFLE(2, 3, 0, 1)));
                eqW = _mm_and_si128(eqW, _mm_shuffle_epi32(eqW, _MM_SHUFFLE(2, 3, 0, 1)));
                eqW1 = _mm_and_si128(eqW1, _mm_shuffle_epi32(eqW1, _MM_SHUFFLE(2, 3, 0, 1)));
                if (relu)
                    v = _mm_mul_pd(v, _mm_and_pd(_mm_cmpgt_pd(_mm_loadu_pd(Yr + ox), zero), one));
                e0 = _mm_and_pd(_mm_castsi128_pd(eq0), v);
                e1 = _mm_and_pd(_mm_castsi128_pd(eq1), v);
                e2 = _mm_and_pd(_mm_castsi128_pd(eqW), v);
                e3 = _mm_and_pd(_mm_castsi128_pd(eqW1), v);
                _mm_storeu_pd(d0 + 2 * ox, _mm_unpacklo_pd(e0, e1));
                _mm_storeu_pd(d0 + 2 * ox + 2, _mm_unpackhi_pd(e0, e1));
                _mm_storeu_pd(d1 + 2 * ox, _mm_unpacklo_pd(e2, e3));
                _mm_storeu_pd(d1 + 2 * ox + 2, _mm_unpackhi_pd(e2, e3));
            }
        }
#endif
        NNF_UNPOOL2_TAIL(double)
        NNF_UNPOOL2_EDGES(double)
    }
    for (x = 2 * oh * W; x < H * W; x++) d[x] = 0;
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

#endif /* NNF_CONVROWS_H */
