# The parameter update of one training step, shared by the dense loop (_train.pyx) and the layer
# table loop (_conv.pyx). Header-only (inline, nogil, noexcept).
#
# The parameters are cut into segments (start, count, decayed): the weights of a layer (decayed by
# the regularisation) and its other parameters (biases, batch norm's gamma and beta: never
# decayed). Each segment is cut into fixed blocks of STEP_BLOCK values that the threads share; the
# update is elementwise, so the result does not depend on the thread count.
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport pow

from _elementwise cimport optimizer_step

cdef enum:
    STEP_BLOCK = 16384  # parameters per parallel block of an update
    SEGMENT_COLUMNS = 3  # a segment: start, count, decayed (0/1)
    UPDATE_REG_L1 = 1   # the regularization codes (_train.REGULARIZATION_CODES): 0 L2, 1 L1


cdef inline void optimizer_segment(floating* P, const floating* G, floating* S1, floating* S2,
                                   Py_ssize_t start, Py_ssize_t count, floating decay,
                                   int optimizer, const double* hyper, double eta, Py_ssize_t m,
                                   int regularization, double c1, double c2,
                                   int n_threads) noexcept nogil:
    """optimizer_step (see _elementwise.pxd) on P[start:start+count] in blocks, from the summed
    gradient G of m examples; decay: lmbda/n for weights, 0 for the rest."""
    cdef Py_ssize_t block, n_blocks = (count + STEP_BLOCK - 1) // STEP_BLOCK, lo, hi
    for block in prange(n_blocks, schedule="static", num_threads=n_threads,
                        use_threads_if=n_threads > 1 and n_blocks > 1):
        lo = start + block * STEP_BLOCK
        hi = min(start + count, lo + STEP_BLOCK)
        optimizer_step(P + lo, G + lo, S1 + lo, S2 + lo, hi - lo, optimizer,
                       <floating>eta, <floating>(1.0 / <double>m), decay, regularization,
                       <floating>hyper[0], <floating>hyper[1], <floating>hyper[2],
                       <floating>c1, <floating>c2)


cdef inline void optimizer_update(const Py_ssize_t* segments, Py_ssize_t n_segments, floating* P,
                                  const floating* G, floating* S1, floating* S2, int optimizer,
                                  const double* hyper, double eta, Py_ssize_t m,
                                  double lmbda_over_n, int regularization, Py_ssize_t step,
                                  int n_threads) noexcept nogil:
    """One step of a stateful optimizer (momentum .. adam) on every segment (segments: (n, 3) of
    start, count, decayed); step = 1, 2, ... counts the steps taken (Adam's corrections)."""
    cdef Py_ssize_t s
    cdef double c1 = 1.0 - pow(hyper[0], <double>step), c2 = 1.0 - pow(hyper[1], <double>step)
    for s in range(n_segments):
        optimizer_segment(P, G, S1, S2, segments[s * SEGMENT_COLUMNS],
                          segments[s * SEGMENT_COLUMNS + 1],
                          <floating>lmbda_over_n if segments[s * SEGMENT_COLUMNS + 2] else <floating>0,
                          optimizer, hyper, eta, m, regularization, c1, c2, n_threads)


cdef inline void sgd_block(floating* P, const floating* G, Py_ssize_t count, floating decay,
                           floating shrink, floating step) noexcept nogil:
    """The book's rule on count values: P <- decay P - step G (L2, or no decay with decay = 1),
    or with shrink != 0 (L1): P <- P - shrink sign(P) - step G."""
    cdef Py_ssize_t i
    if shrink != 0:
        for i in range(count):
            if P[i] > 0:
                P[i] = (P[i] - shrink) - step * G[i]
            elif P[i] < 0:
                P[i] = (P[i] + shrink) - step * G[i]
            else:
                P[i] = P[i] - step * G[i]
    else:
        for i in range(count):
            P[i] = decay * P[i] - step * G[i]


cdef inline void sgd_update(const Py_ssize_t* segments, Py_ssize_t n_segments, floating* P,
                            const floating* G, double eta, Py_ssize_t m, double lmbda_over_n,
                            int regularization, int n_threads) noexcept nogil:
    """The book's SGD step from the summed gradient G of m examples, on every segment:
    L2: W <- (1 - eta*lmbda/n) W - (eta/m) G;  L1: W <- W - (eta*lmbda/n) sign(W) - (eta/m) G;
    undecayed segments (biases, gamma, beta): p <- p - (eta/m) G."""
    cdef Py_ssize_t s, start, count, block, n_blocks, lo, hi
    cdef floating step = <floating>(eta / <double>m)
    cdef floating decay, shrink
    for s in range(n_segments):
        start = segments[s * SEGMENT_COLUMNS]
        count = segments[s * SEGMENT_COLUMNS + 1]
        decay, shrink = 1, 0
        if segments[s * SEGMENT_COLUMNS + 2]:
            if regularization == UPDATE_REG_L1:
                shrink = <floating>(eta * lmbda_over_n)
            else:
                decay = <floating>(1.0 - eta * lmbda_over_n)
        n_blocks = (count + STEP_BLOCK - 1) // STEP_BLOCK
        for block in prange(n_blocks, schedule="static", num_threads=n_threads,
                            use_threads_if=n_threads > 1 and n_blocks > 1):
            lo = start + block * STEP_BLOCK
            hi = min(start + count, lo + STEP_BLOCK)
            sgd_block(P + lo, G + lo, hi - lo, decay, shrink, step)
