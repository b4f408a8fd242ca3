/* One instance of the elementwise kernels: included by _simd.h once per (instruction set, type),
 * with NNF_T (double or float), NNF_UT (the unsigned integer of its size) and NNF_NAME(x) (the
 * instance's name for x), under the target pragma of the instruction set. The loops are plain C
 * with no calls and no branches (only selects), so the compiler vectorizes them for that target.
 * No -ffast-math: the compiler keeps every operation as written.
 */

/* e^x for x <= 0 (and NaN -> NaN), within about 1 ulp, subnormal results included.
 * x = k ln2 + r with k = round(x / ln2) and |r| <= ln2 / 2 (ln2 in two parts, Cody and Waite);
 * e^r by its Taylor series (degree 13 for double, 7 for float: the remainder is under 0.1 ulp);
 * then times 2^k, as 2^ka * 2^kb (ka, kb >= -538) so that results below the normal range are
 * rounded once, at the end. */
static inline NNF_T NNF_NAME(nnf_exp_nonpos)(NNF_T x) {
    const int is_double = sizeof(NNF_T) == 8;
    /* 1.5 * 2^52 (2^23): adding it rounds to an integer held in the low bits of the mantissa */
    const NNF_T magic = is_double ? (NNF_T)6755399441055744.0 : (NNF_T)12582912.0;
    const NNF_T lowest = is_double ? (NNF_T)-745.2 : (NNF_T)-104.0;  /* e^lowest rounds to 0 */
    const NNF_T ln2_hi = is_double ? (NNF_T)0.6931471803691238 : (NNF_T)0.693145751953125;
    const NNF_T ln2_lo = is_double ? (NNF_T)1.9082149292705877e-10 : (NNF_T)1.4286068203e-06;
    const int mantissa_bits = is_double ? 52 : 23;
    const NNF_UT bias = is_double ? 1023 : 127;
    NNF_T t, kd, r, p, scale_a, scale_b;
    NNF_UT t_bits, magic_bits, neg_k, ka_neg, kb_neg, a_bits, b_bits;

    x = x < lowest ? lowest : x;
    t = x * (NNF_T)1.4426950408889634 + magic;
    kd = t - magic;
    r = x - kd * ln2_hi;
    r = r - kd * ln2_lo;
    if (is_double) {
        p = (NNF_T)(1.0 / 6227020800.0);
        p = p * r + (NNF_T)(1.0 / 479001600.0);
        p = p * r + (NNF_T)(1.0 / 39916800.0);
        p = p * r + (NNF_T)(1.0 / 3628800.0);
        p = p * r + (NNF_T)(1.0 / 362880.0);
        p = p * r + (NNF_T)(1.0 / 40320.0);
        p = p * r + (NNF_T)(1.0 / 5040.0);
        p = p * r + (NNF_T)(1.0 / 720.0);
        p = p * r + (NNF_T)(1.0 / 120.0);
        p = p * r + (NNF_T)(1.0 / 24.0);
        p = p * r + (NNF_T)(1.0 / 6.0);
        p = p * r + (NNF_T)0.5;
        p = p * r + (NNF_T)1.0;
        p = p * r + (NNF_T)1.0;
    } else {
        p = (NNF_T)(1.0 / 5040.0);
        p = p * r + (NNF_T)(1.0 / 720.0);
        p = p * r + (NNF_T)(1.0 / 120.0);
        p = p * r + (NNF_T)(1.0 / 24.0);
        p = p * r + (NNF_T)(1.0 / 6.0);
        p = p * r + (NNF_T)0.5;
        p = p * r + (NNF_T)1.0;
        p = p * r + (NNF_T)1.0;
    }
    /* -k from the bits of t (k <= 0): t = magic + k exactly, so their bit patterns differ by k */
    memcpy(&t_bits, &t, sizeof(t));
    memcpy(&magic_bits, &magic, sizeof(magic));
    neg_k = magic_bits - t_bits;
    ka_neg = neg_k >> 1;             /* 2^k = 2^-ka_neg * 2^-kb_neg */
    kb_neg = neg_k - ka_neg;
    a_bits = (bias - ka_neg) << mantissa_bits;
    b_bits = (bias - kb_neg) << mantissa_bits;
    memcpy(&scale_a, &a_bits, sizeof(scale_a));
    memcpy(&scale_b, &b_bits, sizeof(scale_b));
    return (p * scale_a) * scale_b;
}

/* OUT out[i] = e^x[i] for x[i] <= 0 (a twin for the tests). */
static void NNF_NAME(nnf_exp_nonpos_array)(const NNF_T* x, NNF_T* out, nnf_idx n) {
    nnf_idx i;
    for (i = 0; i < n; i++) out[i] = NNF_NAME(nnf_exp_nonpos)(x[i]);
}

/* 1 / (1 + e^-z), computed as the reference does, from e^-|z| (so nothing overflows):
 * 1 / (1 + e) for z >= 0, e / (1 + e) otherwise; one division, always executed (a select of two
 * divisions would not vectorize). */
static inline NNF_T NNF_NAME(nnf_sigmoid)(NNF_T z) {
    NNF_T e = NNF_NAME(nnf_exp_nonpos)(z < 0 ? z : -z);
    return (z >= 0 ? (NNF_T)1 : e) / (1 + e);
}

/* IN/OUT z (n,): z -> sigmoid(z + shift): one unit's row of the transposed (units x rows)
 * inference layout, where every entry of a row has the same bias. */
static void NNF_NAME(nnf_sigmoid_shift)(NNF_T* z, NNF_T shift, nnf_idx n) {
    nnf_idx j;
    for (j = 0; j < n; j++) z[j] = NNF_NAME(nnf_sigmoid)(z[j] + shift);
}

/* IN/OUT Z (m x n, row-major): z -> sigmoid(z + b), b one bias per column. */
static void NNF_NAME(nnf_sigmoid_bias)(NNF_T* Z, const NNF_T* bias, nnf_idx m, nnf_idx n) {
    nnf_idx i, j;
    for (i = 0; i < m; i++) {
        NNF_T* row = Z + i * n;
        for (j = 0; j < n; j++) row[j] = NNF_NAME(nnf_sigmoid)(row[j] + bias[j]);
    }
}
