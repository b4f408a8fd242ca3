/* Elementwise kernels compiled for several instruction sets, chosen when the module loads.
 *
 * The build is portable (no -march): the compiler's default target is SSE2 on x86-64. The code of
 * _simd_impl.h is compiled three times here, for SSE2, AVX2+FMA and AVX-512, each under a target
 * pragma, and nnf_isa() picks the widest one this CPU and OS run. NNFAST_ISA=baseline|avx2 in the
 * environment caps the choice (read once). On other architectures or compilers only the default
 * instance exists. Header-only: every Cython module that includes it gets its own static copy.
 *
 *   nnf_sigmoid_bias_{d,s}(isa, Z, bias, m, n):  Z (m x n, row-major) <- sigmoid(Z + bias)
 *   nnf_sigmoid_shift_{d,s}(isa, z, shift, n):    z (n,) <- sigmoid(z + shift)
 *   nnf_exp_nonpos_{d,s}(isa, x, out, n):         out <- e^x for x <= 0 (the twin for tests)
 *   nnf_gemm_nt_{d,s}(isa, m, n, k, A, lda, B, ldb, C, ldc):       C = A B^T
 *   nnf_gemm_xn_{d,s}(isa, m, n, k, alpha, A, ars, aps, B, ldb, beta, C, ldc):
 *       C = beta C + alpha A' B, A'[i, p] = A[i*ars + p*aps]  (see _gemm_impl.h)
 *   nnf_gemm_{d,s}(isa, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) -> 0 or -1:
 *       C = alpha op(A) op(B) + beta C, packed and cache-blocked (see _gemm_packed.h); -1 when
 *       its packing buffers could not be allocated (C untouched)
 *   nnf_gemm_blocks_{d,s}(isa, sizes): sizes[0:5] <- its MR, NR, KC, NC, MC
 * isa < 0 means nnf_isa(); a larger isa than the CPU runs is lowered to what it runs.
 */
#ifndef NNF_SIMD_H
#define NNF_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef ptrdiff_t nnf_idx;

/* 64-byte aligned memory (a cache line; whole AVX-512 vectors) for the packed GEMM's buffers:
 * posix_memalign where POSIX has it, else malloc with the pointer rounded up by hand (the
 * original pointer kept just below the aligned block). NULL when out of memory. */
#if defined(__unix__) || defined(__APPLE__)
static inline void* nnf_aligned_alloc(size_t bytes) {
    void* p = NULL;
    return posix_memalign(&p, 64, bytes ? bytes : 64) == 0 ? p : NULL;
}
static inline void nnf_aligned_free(void* p) { free(p); }
#else
static inline void* nnf_aligned_alloc(size_t bytes) {
    void* raw = malloc(bytes + 64 + sizeof(void*));
    void* p;
    if (raw == NULL) return NULL;
    p = (void*)(((uintptr_t)raw + sizeof(void*) + 63) & ~(uintptr_t)63);
    ((void**)p)[-1] = raw;
    return p;
}
static inline void nnf_aligned_free(void* p) {
    if (p != NULL) free(((void**)p)[-1]);
}
#endif

#define NNF_ISA_BASELINE 0
#define NNF_ISA_AVX2 1
#define NNF_ISA_AVX512 2

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define NNF_X86 1
#else
#define NNF_X86 0
#endif

#if NNF_X86
/* the masked loads and stores of the GEMM kernels' column tails (_gemm_impl.h), which vector
 * extensions cannot express; each used only under its instance's target pragma */
#include <immintrin.h>
#endif

#define NNF_CAT_(a, b) a##b
#define NNF_CAT(a, b) NNF_CAT_(a, b)

/* The selects below are comparisons, which may raise the 'invalid' flag on a NaN: by default the
 * compiler then refuses to vectorize them on SSE2/AVX2 (no masked operations). Nothing here runs
 * with floating-point traps enabled, so it may assume none: the results are the same. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#endif

#if defined(__clang__)
#define NNF_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define NNF_UNROLL _Pragma("GCC unroll 8")
#else
#define NNF_UNROLL
#endif

/* Each instance: the vector width in bytes, and the GEMM kernels' register blocks (rows x
 * columns of accumulators: 16 vector registers below AVX-512, 32 with it). */

/* the default target */
#define NNF_ISA base
#define NNF_VB 16
#define NNF_NT_MR 2
#define NNF_NT_NR 4
#define NNF_XN_MR 3
#define NNF_XN_NV 4
#include "_simd_types.h"

#if NNF_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define NNF_ISA avx2
#define NNF_VB 32
#define NNF_NT_MR 2
#define NNF_NT_NR 4
#define NNF_XN_MR 3
#define NNF_XN_NV 4
#include "_simd_types.h"
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#endif
#define NNF_ISA avx512
#define NNF_VB 64
#define NNF_NT_MR 5
#define NNF_NT_NR 4
#define NNF_XN_MR 6
#define NNF_XN_NV 4
#include "_simd_types.h"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif /* NNF_X86 */

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

static int nnf_isa_chosen = -1;

/* The widest instance this CPU and OS run (the compiler's CPU check includes the OS's saving of
 * the vector registers), capped by $NNFAST_ISA. */
static int nnf_isa_detect(void) {
    int level = NNF_ISA_BASELINE;
    const char* cap;
#if NNF_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        level = NNF_ISA_AVX2;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
            level = NNF_ISA_AVX512;
    }
#endif
    cap = getenv("NNFAST_ISA");
    if (cap != NULL) {
        if (strcmp(cap, "baseline") == 0) level = NNF_ISA_BASELINE;
        else if (strcmp(cap, "avx2") == 0 && level > NNF_ISA_AVX2) level = NNF_ISA_AVX2;
    }
    return level;
}

/* The instance in use: detected on the first call (made while the module loads). */
static int nnf_isa(void) {
    if (nnf_isa_chosen < 0) nnf_isa_chosen = nnf_isa_detect();
    return nnf_isa_chosen;
}

static inline int nnf_isa_clamp(int isa) {
    int best = nnf_isa();
    return (isa < 0 || isa > best) ? best : isa;
}

/* Call the instance of name##ts for isa with args; `lead` goes before the call (empty, or
 * `result =` to keep what it returns). */
#if NNF_X86
#define NNF_DISPATCH_AS(lead, isa, name, ts, args)                                      \
    do {                                                                                \
        switch (nnf_isa_clamp(isa)) {                                                   \
            case NNF_ISA_AVX512: lead NNF_CAT(name, NNF_CAT(ts, _avx512)) args; break;  \
            case NNF_ISA_AVX2: lead NNF_CAT(name, NNF_CAT(ts, _avx2)) args; break;      \
            default: lead NNF_CAT(name, NNF_CAT(ts, _base)) args; break;                \
        }                                                                               \
    } while (0)
#else
#define NNF_DISPATCH_AS(lead, isa, name, ts, args) lead NNF_CAT(name, NNF_CAT(ts, _base)) args
#endif
#define NNF_DISPATCH(isa, name, ts, args) NNF_DISPATCH_AS(, isa, name, ts, args)

static inline void nnf_sigmoid_bias_d(int isa, double* Z, const double* bias, nnf_idx m,
                                      nnf_idx n) {
    NNF_DISPATCH(isa, nnf_sigmoid_bias, _d, (Z, bias, m, n));
}

static inline void nnf_sigmoid_bias_s(int isa, float* Z, const float* bias, nnf_idx m,
                                      nnf_idx n) {
    NNF_DISPATCH(isa, nnf_sigmoid_bias, _s, (Z, bias, m, n));
}

static inline void nnf_sigmoid_shift_d(int isa, double* z, double shift, nnf_idx n) {
    NNF_DISPATCH(isa, nnf_sigmoid_shift, _d, (z, shift, n));
}

static inline void nnf_sigmoid_shift_s(int isa, float* z, float shift, nnf_idx n) {
    NNF_DISPATCH(isa, nnf_sigmoid_shift, _s, (z, shift, n));
}

static inline void nnf_exp_nonpos_d(int isa, const double* x, double* out, nnf_idx n) {
    NNF_DISPATCH(isa, nnf_exp_nonpos_array, _d, (x, out, n));
}

static inline void nnf_exp_nonpos_s(int isa, const float* x, float* out, nnf_idx n) {
    NNF_DISPATCH(isa, nnf_exp_nonpos_array, _s, (x, out, n));
}

static inline void nnf_gemm_nt_d(int isa, nnf_idx m, nnf_idx n, nnf_idx k, const double* A,
                                 nnf_idx lda, const double* B, nnf_idx ldb, double* C,
                                 nnf_idx ldc) {
    NNF_DISPATCH(isa, nnf_gemm_nt, _d, (m, n, k, A, lda, B, ldb, C, ldc));
}

static inline void nnf_gemm_nt_s(int isa, nnf_idx m, nnf_idx n, nnf_idx k, const float* A,
                                 nnf_idx lda, const float* B, nnf_idx ldb, float* C,
                                 nnf_idx ldc) {
    NNF_DISPATCH(isa, nnf_gemm_nt, _s, (m, n, k, A, lda, B, ldb, C, ldc));
}

static inline void nnf_gemm_xn_d(int isa, nnf_idx m, nnf_idx n, nnf_idx k, double alpha,
                                 const double* A, nnf_idx ars, nnf_idx aps, const double* B,
                                 nnf_idx ldb, double beta, double* C, nnf_idx ldc) {
    NNF_DISPATCH(isa, nnf_gemm_xn, _d, (m, n, k, alpha, A, ars, aps, B, ldb, beta, C, ldc));
}

static inline void nnf_gemm_xn_s(int isa, nnf_idx m, nnf_idx n, nnf_idx k, float alpha,
                                 const float* A, nnf_idx ars, nnf_idx aps, const float* B,
                                 nnf_idx ldb, float beta, float* C, nnf_idx ldc) {
    NNF_DISPATCH(isa, nnf_gemm_xn, _s, (m, n, k, alpha, A, ars, aps, B, ldb, beta, C, ldc));
}

static inline int nnf_gemm_d(int isa, int ta, int tb, nnf_idx m, nnf_idx n, nnf_idx k,
                             double alpha, const double* A, nnf_idx lda, const double* B,
                             nnf_idx ldb, double beta, double* C, nnf_idx ldc) {
    int status;
    NNF_DISPATCH_AS(status =, isa, nnf_gemm, _d,
                    (ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc));
    return status;
}

static inline int nnf_gemm_s(int isa, int ta, int tb, nnf_idx m, nnf_idx n, nnf_idx k,
                             float alpha, const float* A, nnf_idx lda, const float* B,
                             nnf_idx ldb, float beta, float* C, nnf_idx ldc) {
    int status;
    NNF_DISPATCH_AS(status =, isa, nnf_gemm, _s,
                    (ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc));
    return status;
}

static inline void nnf_gemm_blocks_d(int isa, nnf_idx* sizes) {
    NNF_DISPATCH(isa, nnf_gemm_blocks, _d, (sizes));
}

static inline void nnf_gemm_blocks_s(int isa, nnf_idx* sizes) {
    NNF_DISPATCH(isa, nnf_gemm_blocks, _s, (sizes));
}

#endif /* NNF_SIMD_H */
