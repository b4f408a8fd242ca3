/* The kernel chosen for each GEMM shape: a table filled from Python (nnfast/_gemm.py measures every
 * shape a model runs on this machine, once, and caches the answers), read by the compiled loops
 * before every GEMM (_matmul.pxd: matmul).
 *
 * Key: (ta, tb, dtype, m, n, k) -- the row-major GEMM C (m x n) = op(A) (m x k) op(B) (k x n),
 * ta/tb 1 when transposed, dtype 8 (double) or 4 (float). Value: a kernel code (_matmul.pxd:
 * GEMM_BLAS, GEMM_OWN, GEMM_PACKED). A shape that is not in the table takes nnf_gemm_fallback
 * (-1: the fixed size rule of _matmul.pxd) and is counted as a miss, so tests can prove that the
 * Python side announces every shape the loops run.
 *
 * Open addressing in a fixed array. Entries are only ever added, under the GIL, and never change
 * once published (the `used` flag is stored last with release order, read with acquire order), so
 * loops running without the GIL in other threads read a consistent table, and a shape's kernel
 * cannot change while an epoch runs. Header-only: each compiled module that includes it has its
 * own table; Python fills every module's.
 */
#ifndef NNF_GEMM_TABLE_H
#define NNF_GEMM_TABLE_H

#include <string.h>

#define NNF_GEMM_SLOTS 16384 /* a power of two; the table takes at most 3/4 of it */

typedef struct {
    int used;
    int kernel;
    long long key[6];
} nnf_gemm_slot;

static nnf_gemm_slot nnf_gemm_slots[NNF_GEMM_SLOTS];
static int nnf_gemm_entries = 0;
static int nnf_gemm_fallback = -1;
static long long nnf_gemm_missed = 0;
static long long nnf_gemm_last_miss[6] = {0, 0, 0, 0, 0, 0};
static int nnf_gemm_own_isa = -1; /* the instance of our kernels: -1 the best this CPU runs */

static inline unsigned long long nnf_gemm_hash(const long long* key) {
    unsigned long long h = 1469598103934665603ULL;
    int i;
    for (i = 0; i < 6; i++) {
        h ^= (unsigned long long)key[i];
        h *= 1099511628211ULL;
        h ^= h >> 29;
    }
    return h;
}

static inline int nnf_gemm_same(const long long* a, const long long* b) {
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
           a[5] == b[5];
}

/* The slot of key, or the empty slot where it would go. */
static inline nnf_gemm_slot* nnf_gemm_probe(const long long* key) {
    unsigned long long i = nnf_gemm_hash(key) & (NNF_GEMM_SLOTS - 1);
    for (;;) {
        nnf_gemm_slot* slot = &nnf_gemm_slots[i];
        if (!__atomic_load_n(&slot->used, __ATOMIC_ACQUIRE) || nnf_gemm_same(slot->key, key))
            return slot;
        i = (i + 1) & (NNF_GEMM_SLOTS - 1);
    }
}

/* The kernel registered for the shape, or -1 (counted as a miss). */
static inline int nnf_gemm_find(int ta, int tb, int dtype, long long m, long long n,
                                long long k) {
    long long key[6] = {ta, tb, dtype, m, n, k};
    nnf_gemm_slot* slot = nnf_gemm_probe(key);
    int i;
    if (__atomic_load_n(&slot->used, __ATOMIC_ACQUIRE)) return slot->kernel;
    __atomic_fetch_add(&nnf_gemm_missed, 1, __ATOMIC_RELAXED);
    for (i = 0; i < 6; i++) nnf_gemm_last_miss[i] = key[i];
    return -1;
}

/* Register a shape's kernel: 0 added, 1 already there (with that kernel or another: the first
 * answer stays), -1 the table is full. Call with the GIL held. */
static int nnf_gemm_put(int ta, int tb, int dtype, long long m, long long n, long long k,
                        int kernel) {
    long long key[6] = {ta, tb, dtype, m, n, k};
    nnf_gemm_slot* slot = nnf_gemm_probe(key);
    int i;
    if (slot->used) return 1;
    if (4 * (nnf_gemm_entries + 1) > 3 * NNF_GEMM_SLOTS) return -1;
    for (i = 0; i < 6; i++) slot->key[i] = key[i];
    slot->kernel = kernel;
    __atomic_store_n(&slot->used, 1, __ATOMIC_RELEASE);
    nnf_gemm_entries++;
    return 0;
}

/* Empty the table (tests only: no loop may be running). */
static void nnf_gemm_clear(void) {
    memset(nnf_gemm_slots, 0, sizeof(nnf_gemm_slots));
    nnf_gemm_entries = 0;
    nnf_gemm_missed = 0;
}

#endif /* NNF_GEMM_TABLE_H */
