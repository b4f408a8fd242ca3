# Elementwise kernels: scalar functions first, then row kernels, then whole-matrix loops.
#
# Header-only (inline, nogil, noexcept). Matrices are row-major, contiguous, (m rows = examples,
# n columns = units). Output buffers are passed in by the caller; nothing here allocates.
# The NumPy twins of everything here are in nnfast/activations.py and nnfast/costs.py (the spec);
# tests/test_kernels.py compares the two.
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport (exp, expf, expm1, expm1f, log, logf, log1p, log1pf, tanh, tanhf, fabs,
                        fabsf, sqrt, sqrtf)

# Codes shared with the Python registries (nnfast/activations.py, nnfast/costs.py).
cdef enum:
    ACT_IDENTITY = 0
    ACT_SIGMOID = 1
    ACT_TANH = 2
    ACT_RELU = 3
    ACT_LEAKY_RELU = 4   # param: the slope for z <= 0
    ACT_ELU = 5          # param: alpha
    ACT_SELU = 6
    ACT_SOFTPLUS = 7
    ACT_STEP = 8         # the perceptron's output: 1 if z > 0 else 0 (not differentiable)
    ACT_SOFTMAX = 9      # a whole row at once; output layer only
    ACT_MAXOUT = 10      # k linear pieces per unit, the largest wins; hidden layers only

cdef enum:
    COST_QUADRATIC = 0
    COST_CROSS_ENTROPY = 1
    COST_LOG_LIKELIHOOD = 2
    COST_HINGE = 3

# Below this many elements a loop stays on one thread: a parallel region costs microseconds.
cdef enum:
    PARALLEL_MIN_ELEMENTS = 32768

# SELU's fixed constants (Klambauer et al. 2017), as in nnfast/activations.py. C macros, so this
# header stays import-free at run time.
cdef extern from *:
    """
    #define NNFAST_SELU_ALPHA 1.6732632423543772848170429916717
    #define NNFAST_SELU_SCALE 1.0507009873554804934193349852946
    """
    double SELU_ALPHA "NNFAST_SELU_ALPHA"
    double SELU_SCALE "NNFAST_SELU_SCALE"

# Vectorized kernels compiled for SSE2, AVX2 and AVX-512 and chosen at run time (src_cython/kernels/_simd.h):
# the sigmoid of a whole matrix with our own e^x (within 1 ulp of libm's). Used from AVX2 up; the
# SSE2 instance is slower than libm's scalar exp, so without AVX2 the scalar path below runs.
cdef extern from "_simd.h" nogil:
    int NNF_ISA_BASELINE, NNF_ISA_AVX2, NNF_ISA_AVX512
    int nnf_isa()
    void nnf_sigmoid_bias_d(int isa, double* Z, const double* bias, Py_ssize_t m, Py_ssize_t n)
    void nnf_sigmoid_bias_s(int isa, float* Z, const float* bias, Py_ssize_t m, Py_ssize_t n)
    void nnf_sigmoid_shift_d(int isa, double* z, double shift, Py_ssize_t n)
    void nnf_sigmoid_shift_s(int isa, float* z, float shift, Py_ssize_t n)
    void nnf_exp_nonpos_d(int isa, const double* x, double* out, Py_ssize_t n)
    void nnf_exp_nonpos_s(int isa, const float* x, float* out, Py_ssize_t n)


cdef inline bint simd_sigmoid(floating* Z, const floating* bias, Py_ssize_t m,
                              Py_ssize_t n) noexcept nogil:
    """Z (m, n) <- sigmoid(Z + b) on the vectorized kernel when the CPU has AVX2 or more; returns
    False (Z untouched) otherwise."""
    if nnf_isa() < NNF_ISA_AVX2:
        return False
    if floating is float:
        nnf_sigmoid_bias_s(-1, Z, bias, m, n)
    else:
        nnf_sigmoid_bias_d(-1, Z, bias, m, n)
    return True


cdef inline void sigmoid_shift(floating* z, floating shift, Py_ssize_t n) noexcept nogil:
    """z (n,) <- sigmoid(z + shift) on the vectorized kernel (call it from AVX2 up only)."""
    if floating is float:
        nnf_sigmoid_shift_s(-1, z, shift, n)
    else:
        nnf_sigmoid_shift_d(-1, z, shift, n)


# ---------------------------------------------------------------- scalar functions

cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating _expm1(floating x) noexcept nogil:
    if floating is float:
        return expm1f(x)
    else:
        return expm1(x)


cdef inline floating _log(floating x) noexcept nogil:
    if floating is float:
        return logf(x)
    else:
        return log(x)


cdef inline floating sigmoid(floating z) noexcept nogil:
    """1 / (1 + e^-z) without overflow: only e^-|z| is ever formed."""
    cdef floating e = _exp(-z if z >= 0 else z)
    if z >= 0:
        return 1 / (1 + e)
    return e / (1 + e)


cdef inline floating softplus(floating z) noexcept nogil:
    """log(1 + e^z) = max(z, 0) + log1p(e^-|z|)."""
    if floating is float:
        return (z if z > 0 else 0) + log1pf(expf(-fabsf(z)))
    else:
        return (z if z > 0 else 0) + log1p(exp(-fabs(z)))


cdef inline floating activate(floating z, int act, floating param) noexcept nogil:
    """sigma(z) for the elementwise activations (softmax is done a row at a time)."""
    if act == ACT_SIGMOID:
        return sigmoid(z)
    if act == ACT_TANH:
        if floating is float:
            return tanhf(z)
        else:
            return tanh(z)
    if act == ACT_RELU:
        return z if z > 0 else 0
    if act == ACT_LEAKY_RELU:
        return z if z > 0 else param * z
    if act == ACT_ELU:
        return z if z > 0 else param * _expm1(z)
    if act == ACT_SELU:
        return <floating>SELU_SCALE * (z if z > 0 else <floating>SELU_ALPHA * _expm1(z))
    if act == ACT_SOFTPLUS:
        return softplus(z)
    if act == ACT_STEP:
        return 1 if z > 0 else 0
    return z  # identity


cdef inline floating derivative_from_output(floating a, int act, floating param) noexcept nogil:
    """sigma'(z) written in terms of the output a = sigma(z) (elementwise activations)."""
    if act == ACT_SIGMOID:
        return a * (1 - a)
    if act == ACT_TANH:
        return 1 - a * a
    if act == ACT_RELU:
        return 1 if a > 0 else 0
    if act == ACT_LEAKY_RELU:
        return 1 if a > 0 else param
    if act == ACT_ELU:
        return 1 if a > 0 else a + param
    if act == ACT_SELU:
        return <floating>SELU_SCALE if a > 0 else a + <floating>(SELU_SCALE * SELU_ALPHA)
    if act == ACT_SOFTPLUS:
        return -_expm1(-a)  # sigmoid(z) = 1 - e^-a
    if act == ACT_STEP:
        return 0
    return 1  # identity


# ---------------------------------------------------------------- row kernels

cdef inline void softmax_row(floating* row, Py_ssize_t n) noexcept nogil:
    """IN/OUT row: z -> e^(z - max z) / sum_k e^(z_k - max z)."""
    cdef Py_ssize_t j
    cdef floating top = row[0], total = 0
    for j in range(1, n):
        if row[j] > top:
            top = row[j]
    for j in range(n):
        row[j] = _exp(row[j] - top)
        total = total + row[j]
    for j in range(n):
        row[j] = row[j] / total


cdef inline void bias_activation_row(floating* row, const floating* bias, Py_ssize_t n, int act,
                                     floating param) noexcept nogil:
    """IN/OUT row: z without bias -> sigma(z + b)."""
    cdef Py_ssize_t j
    if act == ACT_SOFTMAX:
        for j in range(n):
            row[j] = row[j] + bias[j]
        softmax_row(row, n)
        return
    if act == ACT_SIGMOID and simd_sigmoid(row, bias, 1, n):
        return
    for j in range(n):
        row[j] = activate(row[j] + bias[j], act, param)


cdef inline void multiply_derivative_row(floating* delta, const floating* a, Py_ssize_t n, int act,
                                         floating param) noexcept nogil:
    """IN/OUT delta: delta * sigma'(z), with sigma'(z) from the layer's output a."""
    cdef Py_ssize_t j
    if act == ACT_IDENTITY:
        return
    for j in range(n):
        delta[j] = delta[j] * derivative_from_output(a[j], act, param)


cdef inline Py_ssize_t target_class(const floating* t, Py_ssize_t n) noexcept nogil:
    """The class a target row stands for: argmax (first of equal maxima); one unit: 1 if t > 0.5."""
    cdef Py_ssize_t j, best = 0
    if n == 1:
        return 1 if t[0] > 0.5 else 0
    for j in range(1, n):
        if t[j] > t[best]:
            best = j
    return best


cdef inline void output_delta_row(floating* delta, const floating* a, const floating* t,
                                  Py_ssize_t n, int act, floating param, int cost) noexcept nogil:
    """OUT delta = dC/dz for one example (the book's BP1), for the valid (cost, output) pairs:

    cross-entropy (sigmoid output): a - y;  log-likelihood (softmax output): a * sum(y) - y
    (= a - y for one-hot y);  quadratic: (a - y) sigma'(z), or J^T (a - y) with the softmax Jacobian
    J = diag(a) - a a^T;  hinge (elementwise output): g * sigma'(z), with g = dJ/da of
    J = sum_{c != k} max(0, 1 - a_k + a_c), k the target class.
    """
    cdef Py_ssize_t j, k
    cdef floating total = 0, count = 0
    if cost == COST_CROSS_ENTROPY:
        for j in range(n):
            delta[j] = a[j] - t[j]
    elif cost == COST_LOG_LIKELIHOOD:
        for j in range(n):
            total = total + t[j]
        for j in range(n):
            delta[j] = a[j] * total - t[j]
    elif cost == COST_HINGE:
        k = target_class(t, n)
        for j in range(n):
            if j != k and 1 - a[k] + a[j] > 0:
                delta[j] = 1
                count = count + 1
            else:
                delta[j] = 0
        delta[k] = -count
        multiply_derivative_row(delta, a, n, act, param)
    elif act == ACT_SOFTMAX:  # quadratic through the softmax Jacobian
        for j in range(n):
            total = total + a[j] * (a[j] - t[j])
        for j in range(n):
            delta[j] = a[j] * ((a[j] - t[j]) - total)
    else:
        for j in range(n):
            delta[j] = (a[j] - t[j]) * derivative_from_output(a[j], act, param)


cdef inline double cost_row(const floating* z, const floating* a, const floating* t,
                            Py_ssize_t n, int cost) noexcept nogil:
    """The cost of one example from its output pre-activation z and output a, in double.

    cross-entropy: sum_j softplus(z_j) - y_j z_j (= -y ln a - (1-y) ln(1-a), never log(0));
    log-likelihood: sum_j y_j (logsumexp(z) - z_j) (= -ln a_y for one-hot y);
    quadratic: 0.5 sum_j (a_j - y_j)^2;  hinge: sum_{c != k} max(0, 1 - a_k + a_c).
    """
    cdef Py_ssize_t j, k
    cdef double total = 0, diff, top, lse, margin
    if cost == COST_CROSS_ENTROPY:
        for j in range(n):
            total += <double>(softplus(z[j]) - t[j] * z[j])
    elif cost == COST_LOG_LIKELIHOOD:
        top = z[0]
        for j in range(1, n):
            if z[j] > top:
                top = z[j]
        lse = 0
        for j in range(n):
            lse += exp(<double>z[j] - top)
        lse = top + log(lse)
        for j in range(n):
            total += <double>t[j] * (lse - <double>z[j])
    elif cost == COST_HINGE:
        k = target_class(t, n)
        for j in range(n):
            if j != k:
                margin = 1.0 - <double>a[k] + <double>a[j]
                if margin > 0:
                    total += margin
    else:
        for j in range(n):
            diff = <double>a[j] - <double>t[j]
            total += 0.5 * diff * diff
    return total


cdef inline Py_ssize_t predicted_class(const floating* a, Py_ssize_t n) noexcept nogil:
    """argmax (first of equal maxima, like numpy.argmax); one output unit: 1 if a > 0.5 else 0."""
    return target_class(a, n)


cdef inline void target_row_from_label(floating* t, Py_ssize_t label, Py_ssize_t n) noexcept nogil:
    """OUT t: one-hot of label (or the label itself when there is one output unit)."""
    cdef Py_ssize_t j
    if n == 1:
        t[0] = <floating>label
        return
    for j in range(n):
        t[j] = 0
    t[label] = 1


# ---------------------------------------------------------------- whole-matrix loops

cdef inline void bias_activation(floating* Z, const floating* bias, Py_ssize_t m, Py_ssize_t n,
                                 int act, floating param, int n_threads) noexcept nogil:
    """IN/OUT Z (m, n): sigma(Z + b) row by row; rows in parallel when the work is large."""
    cdef Py_ssize_t i
    if n_threads > 1 and m * n >= PARALLEL_MIN_ELEMENTS:
        for i in prange(m, schedule="static", num_threads=n_threads):
            bias_activation_row(Z + i * n, bias, n, act, param)
    elif act == ACT_SIGMOID and simd_sigmoid(Z, bias, m, n):  # the whole matrix in one call
        return
    else:
        for i in range(m):
            bias_activation_row(Z + i * n, bias, n, act, param)


cdef inline void multiply_derivative(floating* D, const floating* A, Py_ssize_t m, Py_ssize_t n,
                                     int act, floating param, int n_threads) noexcept nogil:
    """IN/OUT D (m, n): D * sigma'(z) with sigma'(z) from A (m, n)."""
    cdef Py_ssize_t i
    if n_threads > 1 and m * n >= PARALLEL_MIN_ELEMENTS:
        for i in prange(m, schedule="static", num_threads=n_threads):
            multiply_derivative_row(D + i * n, A + i * n, n, act, param)
    else:
        for i in range(m):
            multiply_derivative_row(D + i * n, A + i * n, n, act, param)


cdef inline void apply_mask(floating* out, const floating* A, const unsigned char* keep,
                            Py_ssize_t keep_stride, Py_ssize_t m, Py_ssize_t n,
                            floating scale) noexcept nogil:
    """OUT out (m, n) = A * (keep ? scale : 0): inverted dropout (out may be A itself)."""
    cdef Py_ssize_t i, j
    for i in range(m):
        for j in range(n):
            out[i * n + j] = A[i * n + j] * (scale if keep[i * keep_stride + j] else <floating>0)


cdef inline void output_delta(floating* D, const floating* A, const floating* T, Py_ssize_t m,
                              Py_ssize_t n, int act, floating param, int cost) noexcept nogil:
    """OUT D (m, n): the output layer's delta for m examples (small: n is the output width)."""
    cdef Py_ssize_t i
    for i in range(m):
        output_delta_row(D + i * n, A + i * n, T + i * n, n, act, param, cost)


cdef inline void column_sums(const floating* D, Py_ssize_t m, Py_ssize_t n,
                             floating* sums) noexcept nogil:
    """OUT sums (n,) = D.sum(axis=0), accumulated row after row (a fixed order)."""
    cdef Py_ssize_t i, j
    for j in range(n):
        sums[j] = D[j]
    for i in range(1, m):
        for j in range(n):
            sums[j] = sums[j] + D[i * n + j]


cdef inline void bias_update(floating* bias, const floating* D, Py_ssize_t m, Py_ssize_t n,
                             floating scale, floating* scratch) noexcept nogil:
    """IN/OUT bias (n,) <- bias - scale * sum over the m rows of D (m, n); scratch (n,)."""
    cdef Py_ssize_t j
    column_sums(D, m, n, scratch)
    for j in range(n):
        bias[j] = bias[j] - scale * scratch[j]


cdef inline void l1_shrink(floating* W, Py_ssize_t count, floating amount) noexcept nogil:
    """IN/OUT W <- W - amount * sign(W) (the L1 step; sign(0) = 0)."""
    cdef Py_ssize_t i
    for i in range(count):
        if W[i] > 0:
            W[i] = W[i] - amount
        elif W[i] < 0:
            W[i] = W[i] + amount


cdef inline void maxout_forward(floating* A, floating* ZP, const floating* bias, Py_ssize_t m,
                                Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """IN/OUT ZP (m, n*k): the pieces' pre-activations, bias added in place (unit j's pieces are
    columns j*k .. j*k+k-1); OUT A (m, n): each unit's largest piece."""
    cdef Py_ssize_t i, j, p
    cdef floating best, value
    cdef floating* row
    for i in range(m):
        row = ZP + i * n * k
        for j in range(n):
            best = row[j * k] + bias[j * k]
            row[j * k] = best
            for p in range(1, k):
                value = row[j * k + p] + bias[j * k + p]
                row[j * k + p] = value
                if value > best:
                    best = value
            A[i * n + j] = best


cdef inline void maxout_route(floating* DP, const floating* D, const floating* ZP, Py_ssize_t m,
                              Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """OUT DP (m, n*k): each unit's delta D (m, n) goes to its largest piece (the first of equal
    ones, like numpy.argmax), 0 to the others."""
    cdef Py_ssize_t i, j, p, best
    cdef const floating* row
    for i in range(m):
        row = ZP + i * n * k
        for j in range(n):
            best = 0
            for p in range(1, k):
                if row[j * k + p] > row[j * k + best]:
                    best = p
            for p in range(k):
                DP[i * n * k + j * k + p] = D[i * n + j] if p == best else <floating>0


# ---------------------------------------------------------------- optimizers

cdef enum:
    OPT_SGD = 0        # the fused book update (never reaches optimizer_step)
    OPT_MOMENTUM = 1   # h0 = mu
    OPT_NESTEROV = 2   # h0 = mu
    OPT_ADAGRAD = 3    # h2 = eps
    OPT_RMSPROP = 4    # h0 = rho, h2 = eps
    OPT_ADAM = 5       # h0 = beta1, h1 = beta2, h2 = eps

cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline void optimizer_step(floating* P, const floating* G, floating* S1, floating* S2,
                                Py_ssize_t count, int optimizer, floating eta, floating inv_m,
                                floating decay, int regularization, floating h0, floating h1,
                                floating h2, floating correction1, floating correction2
                                ) noexcept nogil:
    """IN/OUT P (count,) and the optimizer's state S1, S2, from the summed batch gradient G.

    g = G / m + decay * w (regularization 0: L2, decay = lmbda/n, 0 for biases) or
        + decay * sign(w) (regularization 1: L1); then
    momentum: v <- mu v - eta g; w <- w + v
    nesterov: v' <- mu v - eta g; w <- w - mu v + (1 + mu) v'
    adagrad:  c <- c + g^2; w <- w - eta g / (sqrt(c) + eps)
    rmsprop:  c <- rho c + (1 - rho) g^2; w <- w - eta g / (sqrt(c) + eps)
    adam:     m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
              w <- w - eta (m / correction1) / (sqrt(v / correction2) + eps),
              correction_k = 1 - b_k^t for the t-th step.
    """
    cdef Py_ssize_t i
    cdef floating g, w, previous
    for i in range(count):
        w = P[i]
        g = G[i] * inv_m
        if decay != 0:
            if regularization == 1:
                g = g + decay * (1 if w > 0 else (-1 if w < 0 else 0))
            else:
                g = g + decay * w
        if optimizer == OPT_MOMENTUM:
            S1[i] = h0 * S1[i] - eta * g
            P[i] = w + S1[i]
        elif optimizer == OPT_NESTEROV:
            previous = S1[i]
            S1[i] = h0 * previous - eta * g
            P[i] = w - h0 * previous + (1 + h0) * S1[i]
        elif optimizer == OPT_ADAGRAD:
            S1[i] = S1[i] + g * g
            P[i] = w - eta * g / (_sqrt(S1[i]) + h2)
        elif optimizer == OPT_RMSPROP:
            S1[i] = h0 * S1[i] + (1 - h0) * g * g
            P[i] = w - eta * g / (_sqrt(S1[i]) + h2)
        elif optimizer == OPT_ADAM:
            S1[i] = h0 * S1[i] + (1 - h0) * g
            S2[i] = h1 * S2[i] + (1 - h1) * g * g
            P[i] = w - eta * (S1[i] / correction1) / (_sqrt(S2[i] / correction2) + h2)


# ---------------------------------------------------------------- batch normalisation

cdef inline void batchnorm_train(floating* Z, const floating* bias, const floating* gamma,
                                 Py_ssize_t m, Py_ssize_t n, floating* zhat, floating* mean,
                                 floating* inv_std, floating* running, floating eps,
                                 floating momentum) noexcept nogil:
    """Training mode. IN/OUT Z (m, n): z without bias -> gamma * zhat (beta and the activation are
    added by bias_activation afterwards); OUT zhat (m, n) = (z - mean) * inv_std with the batch's
    mean (n,) and biased variance, inv_std (n,) = 1 / sqrt(var + eps). Sums run row after row.
    running (2n,), when not NULL: mean then variance, moved toward the batch's by
    running <- momentum running + (1 - momentum) batch (the variance unbiased: var * m / (m - 1)).
    """
    cdef Py_ssize_t i, j
    cdef floating diff, inv_m = <floating>1 / <floating>m
    for j in range(n):
        mean[j] = 0
        inv_std[j] = 0  # the sum of squares, for now
    for i in range(m):
        for j in range(n):
            Z[i * n + j] = Z[i * n + j] + bias[j]
            mean[j] = mean[j] + Z[i * n + j]
    for j in range(n):
        mean[j] = mean[j] * inv_m
    for i in range(m):
        for j in range(n):
            diff = Z[i * n + j] - mean[j]
            inv_std[j] = inv_std[j] + diff * diff
    if running != NULL:
        for j in range(n):
            running[j] = momentum * running[j] + (1 - momentum) * mean[j]
            running[n + j] = momentum * running[n + j] + (1 - momentum) * (
                inv_std[j] / <floating>(m - 1 if m > 1 else 1))
    for j in range(n):
        inv_std[j] = 1 / _sqrt(inv_std[j] * inv_m + eps)
    for i in range(m):
        for j in range(n):
            zhat[i * n + j] = (Z[i * n + j] - mean[j]) * inv_std[j]
            Z[i * n + j] = gamma[j] * zhat[i * n + j]


cdef inline void batchnorm_backward(floating* D, const floating* zhat, const floating* inv_std,
                                    const floating* gamma, Py_ssize_t m, Py_ssize_t n,
                                    floating* dgamma, floating* dbeta) noexcept nogil:
    """IN/OUT D (m, n): dC/dy (y = gamma zhat + beta) -> dC/dz; OUT dgamma, dbeta (n,):
    dbeta = sum_i dy, dgamma = sum_i dy zhat,
    dz = (inv_std gamma / m) (m dy - dbeta - zhat dgamma)."""
    cdef Py_ssize_t i, j
    cdef floating scale, fm = <floating>m
    for j in range(n):
        dbeta[j] = 0
        dgamma[j] = 0
    for i in range(m):
        for j in range(n):
            dbeta[j] = dbeta[j] + D[i * n + j]
            dgamma[j] = dgamma[j] + D[i * n + j] * zhat[i * n + j]
    for j in range(n):
        scale = inv_std[j] * gamma[j] / fm
        for i in range(m):
            D[i * n + j] = scale * ((fm * D[i * n + j] - dbeta[j]) - zhat[i * n + j] * dgamma[j])


# ---------------------------------------------------------------- inference on transposed activations
# Inference keeps a hidden layer's activations as (units, m): the GEMMs then run with the large
# m as BLAS's M dimension, which its kernels handle best. Same arithmetic per element as above.

cdef inline void bias_activation_t(floating* Z, const floating* bias, Py_ssize_t units,
                                   Py_ssize_t m, int act, floating param,
                                   int n_threads) noexcept nogil:
    """IN/OUT Z (units, m): row j -> sigma(z + b_j) (elementwise activations; the sigmoid on the
    vectorized kernel from AVX2 up)."""
    cdef Py_ssize_t j, i
    cdef bint vector_sigmoid = act == ACT_SIGMOID and nnf_isa() >= NNF_ISA_AVX2
    if n_threads > 1 and units * m >= PARALLEL_MIN_ELEMENTS and units > 1:
        for j in prange(units, schedule="static", num_threads=n_threads):
            if vector_sigmoid:
                sigmoid_shift(Z + j * m, bias[j], m)
            else:
                for i in range(m):
                    Z[j * m + i] = activate(Z[j * m + i] + bias[j], act, param)
    else:
        for j in range(units):
            if vector_sigmoid:
                sigmoid_shift(Z + j * m, bias[j], m)
            else:
                for i in range(m):
                    Z[j * m + i] = activate(Z[j * m + i] + bias[j], act, param)


cdef inline void maxout_forward_t(floating* A, const floating* ZP, const floating* bias,
                                  Py_ssize_t units, Py_ssize_t k, Py_ssize_t m) noexcept nogil:
    """OUT A (units, m): unit j's largest piece of ZP (units*k, m) + bias (first of equal ones)."""
    cdef Py_ssize_t j, p, i
    cdef floating value
    for j in range(units):
        for i in range(m):
            A[j * m + i] = ZP[(j * k) * m + i] + bias[j * k]
        for p in range(1, k):
            for i in range(m):
                value = ZP[(j * k + p) * m + i] + bias[j * k + p]
                if value > A[j * m + i]:
                    A[j * m + i] = value


cdef inline void batchnorm_infer_t(floating* Z, const floating* bias, const floating* gamma,
                                   const floating* running, Py_ssize_t units, Py_ssize_t m,
                                   floating eps) noexcept nogil:
    """IN/OUT Z (units, m): gamma * (z + b - running mean) / sqrt(running var + eps), per unit."""
    cdef Py_ssize_t j, i
    cdef floating inv
    for j in range(units):
        inv = 1 / _sqrt(running[units + j] + eps)
        for i in range(m):
            Z[j * m + i] = gamma[j] * (((Z[j * m + i] + bias[j]) - running[j]) * inv)


cdef inline void transpose_into(floating* out, const floating* src, Py_ssize_t m,
                                Py_ssize_t n) noexcept nogil:
    """OUT out (m, n) = the transpose of src (n, m)."""
    cdef Py_ssize_t i, j
    for i in range(m):
        for j in range(n):
            out[i * n + j] = src[j * m + i]
