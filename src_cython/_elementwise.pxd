# Elementwise kernels: scalar functions first, then row kernels, then whole-matrix loops.
#
# Header-only (inline, nogil, noexcept). Matrices are row-major, contiguous, (m rows = examples,
# n columns = units). Output buffers are passed in by the caller; nothing here allocates.
# The NumPy twins of everything here are in nnfast/activations.py and nnfast/costs.py (the spec);
# tests/test_kernels.py compares the two.
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp, expf, log1p, log1pf, tanh, tanhf, fabs, fabsf

# Codes shared with the Python registries (nnfast/activations.py, nnfast/costs.py).
cdef enum:
    ACT_IDENTITY = 0
    ACT_SIGMOID = 1
    ACT_TANH = 2
    ACT_RELU = 3

cdef enum:
    COST_QUADRATIC = 0
    COST_CROSS_ENTROPY = 1

# Below this many elements a loop stays on one thread: a parallel region costs microseconds.
cdef enum:
    PARALLEL_MIN_ELEMENTS = 32768


# ---------------------------------------------------------------- scalar functions

cdef inline floating _exp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


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


cdef inline floating activate(floating z, int act) noexcept nogil:
    if act == ACT_SIGMOID:
        return sigmoid(z)
    if act == ACT_TANH:
        if floating is float:
            return tanhf(z)
        else:
            return tanh(z)
    if act == ACT_RELU:
        return z if z > 0 else 0
    return z  # identity


cdef inline floating derivative_from_output(floating a, int act) noexcept nogil:
    """sigma'(z) written in terms of the output a = sigma(z)."""
    if act == ACT_SIGMOID:
        return a * (1 - a)
    if act == ACT_TANH:
        return 1 - a * a
    if act == ACT_RELU:
        return 1 if a > 0 else 0
    return 1  # identity


# ---------------------------------------------------------------- row kernels

cdef inline void bias_activation_row(floating* row, const floating* bias, Py_ssize_t n,
                                     int act) noexcept nogil:
    """IN/OUT row: z without bias -> sigma(z + b)."""
    cdef Py_ssize_t j
    for j in range(n):
        row[j] = activate(row[j] + bias[j], act)


cdef inline void multiply_derivative_row(floating* delta, const floating* a, Py_ssize_t n,
                                         int act) noexcept nogil:
    """IN/OUT delta: delta * sigma'(z), with sigma'(z) from the layer's output a."""
    cdef Py_ssize_t j
    if act == ACT_IDENTITY:
        return
    for j in range(n):
        delta[j] = delta[j] * derivative_from_output(a[j], act)


cdef inline void output_delta_row(floating* delta, const floating* a, const floating* t,
                                  Py_ssize_t n, int act, int cost) noexcept nogil:
    """OUT delta = dC/dz for one example: cross-entropy (sigmoid output) a - y; quadratic (a - y) sigma'(z)."""
    cdef Py_ssize_t j
    if cost == COST_CROSS_ENTROPY:
        for j in range(n):
            delta[j] = a[j] - t[j]
    else:
        for j in range(n):
            delta[j] = (a[j] - t[j]) * derivative_from_output(a[j], act)


cdef inline double cost_row(const floating* z, const floating* a, const floating* t,
                            Py_ssize_t n, int cost) noexcept nogil:
    """The cost of one example from its output pre-activation z and output a.

    cross-entropy: sum_j softplus(z_j) - y_j z_j  (= -y ln a - (1-y) ln(1-a) for a = sigmoid(z), never
    log(0)); quadratic: 0.5 * sum_j (a_j - y_j)^2. Accumulated in double, left to right.
    """
    cdef Py_ssize_t j
    cdef double total = 0, diff
    if cost == COST_CROSS_ENTROPY:
        for j in range(n):
            total += <double>(softplus(z[j]) - t[j] * z[j])
    else:
        for j in range(n):
            diff = <double>a[j] - <double>t[j]
            total += 0.5 * diff * diff
    return total


cdef inline Py_ssize_t predicted_class(const floating* a, Py_ssize_t n) noexcept nogil:
    """argmax (first of equal maxima, like numpy.argmax); one output unit: 1 if a > 0.5 else 0."""
    cdef Py_ssize_t j, best = 0
    if n == 1:
        return 1 if a[0] > 0.5 else 0
    for j in range(1, n):
        if a[j] > a[best]:
            best = j
    return best


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
                                 int act, int n_threads) noexcept nogil:
    """IN/OUT Z (m, n): sigma(Z + b) row by row; rows in parallel when the work is large."""
    cdef Py_ssize_t i
    for i in prange(m, schedule="static", num_threads=n_threads,
                    use_threads_if=n_threads > 1 and m * n >= PARALLEL_MIN_ELEMENTS):
        bias_activation_row(Z + i * n, bias, n, act)


cdef inline void multiply_derivative(floating* D, const floating* A, Py_ssize_t m, Py_ssize_t n,
                                     int act, int n_threads) noexcept nogil:
    """IN/OUT D (m, n): D * sigma'(z) with sigma'(z) from A (m, n)."""
    cdef Py_ssize_t i
    for i in prange(m, schedule="static", num_threads=n_threads,
                    use_threads_if=n_threads > 1 and m * n >= PARALLEL_MIN_ELEMENTS):
        multiply_derivative_row(D + i * n, A + i * n, n, act)


cdef inline void output_delta(floating* D, const floating* A, const floating* T, Py_ssize_t m,
                              Py_ssize_t n, int act, int cost) noexcept nogil:
    """OUT D (m, n): the output layer's delta for m examples (small: n is the output width)."""
    cdef Py_ssize_t i
    for i in range(m):
        output_delta_row(D + i * n, A + i * n, T + i * n, n, act, cost)


cdef inline void bias_update(floating* bias, const floating* D, Py_ssize_t m, Py_ssize_t n,
                             floating scale, floating* column_sums) noexcept nogil:
    """IN/OUT bias (n,) <- bias - scale * sum over the m rows of D (m, n).

    Column sums are accumulated row after row (a fixed order, whatever the thread count) in the
    scratch buffer column_sums (n,).
    """
    cdef Py_ssize_t i, j
    for j in range(n):
        column_sums[j] = D[j]
    for i in range(1, m):
        for j in range(n):
            column_sums[j] = column_sums[j] + D[i * n + j]
    for j in range(n):
        bias[j] = bias[j] - scale * column_sums[j]
