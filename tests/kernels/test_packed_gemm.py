"""Our packed, cache-blocked GEMM (src_cython/kernels/_gemm_packed.h, the twin K.own_gemm): each
instruction-set instance against NumPy, in all four transpositions, at the sizes around its
register tile (MR x NR) and cache blocks (KC, NC, MC), on strided views, and for the independence
of its bits from the alignment of the inputs.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nnfast import _kernels as K

ISAS = ["baseline", "avx2", "avx512"]  # an instance this CPU lacks is lowered to what it runs
DTYPES = [np.float64, np.float32]
TRANS = [(False, False), (False, True), (True, False), (True, True)]
# |error| / (|alpha| |op(A)| |op(B)| + |beta| |C|), elementwise
TOL = {np.float64: 1e-12, np.float32: 1e-5}
# (m, n, k) from the instance's block sizes b: around the tile, the depth, column and row blocks
SHAPES = {
    "1x1x1": lambda b: (1, 1, 1),
    "2x2x2": lambda b: (2, 2, 2),
    "7x7x7": lambda b: (7, 7, 7),
    "1x7x2": lambda b: (1, 7, 2),
    "MR-1,NR-1": lambda b: (b["MR"] - 1, b["NR"] - 1, 7),
    "MR+1,NR+1": lambda b: (b["MR"] + 1, b["NR"] + 1, 2),
    "tile,KC": lambda b: (b["MR"], b["NR"], b["KC"]),
    "2MR+1,NR-1,KC+1": lambda b: (2 * b["MR"] + 1, b["NR"] - 1, b["KC"] + 1),
    "MR-1,2NR+1,2KC+1": lambda b: (b["MR"] - 1, 2 * b["NR"] + 1, 2 * b["KC"] + 1),
    "NC+1": lambda b: (b["MR"] + 1, b["NC"] + 1, 9),
    "NC-1,KC-1": lambda b: (3, b["NC"] - 1, b["KC"] - 1),
    "2NC+NR+3": lambda b: (5, 2 * b["NC"] + b["NR"] + 3, 5),
    "MC+1": lambda b: (b["MC"] + 1, 3, 2),
    "MC-1,NR+1": lambda b: (b["MC"] - 1, b["NR"] + 1, 3),
}


def operands(rng, dtype, m, n, k, ta, tb):
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    return A, B, C


def check(A, B, C0, C, ta, tb, alpha, beta, dtype):
    """C (what own_gemm wrote) against alpha op(A) op(B) + beta C0 in float64."""
    opA = (A.T if ta else A).astype(np.float64)
    opB = (B.T if tb else B).astype(np.float64)
    expected = alpha * (opA @ opB)
    scale = abs(alpha) * (np.abs(opA) @ np.abs(opB))
    if beta != 0:
        expected += beta * C0.astype(np.float64)
        scale += abs(beta) * np.abs(C0.astype(np.float64))
    error = np.abs(C.astype(np.float64) - expected)
    assert np.all(np.isfinite(C))
    worst = np.max(error / np.maximum(scale, np.finfo(np.float64).tiny))
    assert worst <= TOL[dtype], f"relative error {worst:.3g}"


def run(rng, dtype, isa, m, n, k, ta, tb, alpha, beta):
    A, B, C0 = operands(rng, dtype, m, n, k, ta, tb)
    C = np.full((m, n), np.nan, dtype=dtype) if beta == 0 else C0.copy()
    K.own_gemm(ta, tb, alpha, A, B, beta, C, isa)
    check(A, B, C0, C, ta, tb, alpha, beta, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("ta, tb", TRANS)
def test_packed_matches_numpy(dtype, isa, shape, ta, tb):
    m, n, k = SHAPES[shape](K.own_gemm_blocks(isa, dtype))
    rng = np.random.default_rng(m * 7 + n * 3 + k)
    # beta = 0 on a C of NaN: written, never read; then a general and a unit beta
    for alpha, beta in [(1.0, 0.0), (-0.5, 0.75), (2.0, 1.0)]:
        run(rng, dtype, isa, m, n, k, ta, tb, alpha, beta)


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 90), n=st.integers(1, 300), k=st.integers(1, 900),
       ta=st.booleans(), tb=st.booleans(), isa=st.sampled_from(ISAS),
       dtype=st.sampled_from(DTYPES), beta=st.sampled_from([0.0, 1.0, -1.5]))
def test_packed_random_shapes(m, n, k, ta, tb, isa, dtype, beta):
    run(np.random.default_rng(m + n + k), dtype, isa, m, n, k, ta, tb, 0.75, beta)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("ta, tb", TRANS)
def test_packed_strided_views(dtype, isa, ta, tb):
    # every operand a view into a wider array: lda, ldb, ldc larger than the rows they hold
    m, n, k = 19, 37, 45
    rng = np.random.default_rng(3)
    A, B, C0 = operands(rng, dtype, m, n, k, ta, tb)
    views = []
    for X in (A, B, C0):
        wide = np.full((X.shape[0], X.shape[1] + 5), np.inf, dtype=dtype)
        wide[:, 2:2 + X.shape[1]] = X
        views.append(wide[:, 2:2 + X.shape[1]])
    A_view, B_view, C_view = views
    K.own_gemm(ta, tb, -1.25, A_view, B_view, 0.5, C_view, isa)
    check(A, B, C0, C_view, ta, tb, -1.25, 0.5, dtype)
    wide_C = C_view.base
    assert np.all(np.isinf(wide_C[:, :2])) and np.all(np.isinf(wide_C[:, 2 + n:]))


def at_offset(X, offset):
    """A copy of X whose data starts `offset` elements into a fresh buffer (misaligned)."""
    buffer = np.empty(X.size + offset, dtype=X.dtype)
    view = buffer[offset:].reshape(X.shape)
    view[...] = X
    return view


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("ta, tb", TRANS)
def test_packed_bits_do_not_depend_on_alignment(dtype, isa, ta, tb):
    b = K.own_gemm_blocks(isa, dtype)
    m, n, k = b["MR"] + 3, b["NR"] * 2 + 5, b["KC"] + 13
    rng = np.random.default_rng(11)
    A, B, C0 = operands(rng, dtype, m, n, k, ta, tb)
    results = []
    for offset in range(0, 9, 3 if dtype == np.float64 else 1):
        C = at_offset(C0, (offset * 5) % 7)
        K.own_gemm(ta, tb, 0.3, at_offset(A, offset), at_offset(B, (offset + 1) % 8), 0.9, C, isa)
        results.append(C.copy())
    for C in results[1:]:
        np.testing.assert_array_equal(C.view(np.uint8), results[0].view(np.uint8))


@pytest.mark.parametrize("dtype", DTYPES)
def test_packed_alpha_zero_only_scales_c(dtype):
    A = np.full((4, 3), np.nan, dtype=dtype)  # not read when alpha == 0
    B = np.ones((3, 5), dtype=dtype)
    C = np.arange(20, dtype=dtype).reshape(4, 5)
    K.own_gemm(False, False, 0.0, A, B, 2.0, C, "avx512")
    np.testing.assert_array_equal(C, 2 * np.arange(20, dtype=dtype).reshape(4, 5))
    K.own_gemm(False, False, 0.0, A, B, 0.0, C, "avx512")
    np.testing.assert_array_equal(C, 0)


def test_packed_is_safe_from_several_threads_at_once():
    # no shared buffers: concurrent calls (the GIL released) give the sequential results
    rng = np.random.default_rng(5)
    jobs = [operands(rng, np.float64, 150 + i, 170 - i, 300 + 7 * i, False, True) for i in range(6)]

    def product(job):
        A, B, _ = job
        C = np.empty((A.shape[0], B.shape[0]))
        K.own_gemm(False, True, 1.0, A, B, 0.0, C, "avx512")
        return C

    sequential = [product(job) for job in jobs]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            for got, want in zip(pool.map(product, jobs), sequential):
                np.testing.assert_array_equal(got, want)


def test_packed_twin_refuses_bad_arguments():
    with pytest.raises(ValueError):  # op(A) is 2 x 3, op(B) 4 x 5
        K.own_gemm(False, False, 1.0, np.ones((2, 3)), np.ones((4, 5)), 0.0, np.ones((2, 5)), "avx2")
    with pytest.raises(ValueError):  # C's shape
        K.own_gemm(True, True, 1.0, np.ones((3, 2)), np.ones((5, 3)), 0.0, np.ones((2, 4)), "avx2")
    with pytest.raises(ValueError, match="empty"):
        K.own_gemm(False, False, 1.0, np.ones((2, 0)), np.ones((0, 5)), 0.0, np.ones((2, 5)), "avx2")
    with pytest.raises(ValueError, match="contiguous"):
        K.own_gemm(False, False, 1.0, np.ones((2, 6))[:, ::2], np.ones((3, 5)), 0.0,
                   np.ones((2, 5)), "avx2")
    with pytest.raises(ValueError, match="isa"):
        K.own_gemm(False, False, 1.0, np.ones((2, 3)), np.ones((3, 5)), 0.0, np.ones((2, 5)), "sse9")
    with pytest.raises(ValueError):  # mixed dtypes
        K.own_gemm(False, False, 1.0, np.ones((2, 3), np.float32), np.ones((3, 5)), 0.0,
                   np.ones((2, 5)), "avx2")
    with pytest.raises(ValueError, match="dtype"):
        K.own_gemm_blocks("avx2", np.int32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("isa", ISAS)
def test_packed_bits_of_an_entry_do_not_depend_on_m_or_n(dtype, isa):
    # an entry's sum runs in an order set by k and KC alone: the same bits whichever tile (full,
    # half-height, buffered) and block it falls in
    b = K.own_gemm_blocks(isa, dtype)
    m, n, k = 2 * b["MR"] + 3, b["NC"] + b["NR"] + 5, b["KC"] + 9
    rng = np.random.default_rng(13)
    A, B, C0 = operands(rng, dtype, m, n, k, False, True)
    whole = C0.copy()
    K.own_gemm(False, True, 0.7, A, B, 1.5, whole, isa)
    for rows, cols in [(slice(0, 3), slice(0, n)), (slice(b["MR"] - 1, m), slice(1, b["NR"] + 2)),
                       (slice(m - 2, m), slice(n - 7, n))]:
        part = C0[rows, cols].copy()
        K.own_gemm(False, True, 0.7, np.ascontiguousarray(A[rows]), np.ascontiguousarray(B[cols]),
                   1.5, part, isa)
        np.testing.assert_array_equal(part.view(np.uint8), whole[rows, cols].copy().view(np.uint8))
