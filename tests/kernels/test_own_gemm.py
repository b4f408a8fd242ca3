"""Our GEMM kernels (src_cython/kernels/_gemm_impl.h): each instruction-set instance against NumPy, and
training on them against the reference backend.

The loops run them for the shapes where they measured faster than BLAS (nnfast/_gemm.py); the
fixture `own_gemms` sends every GEMM they can compute to them (NNFAST_GEMM=own), so the small
networks of these tests exercise them too.
"""

import numpy as np
import pytest

import nnfast
from nnfast import _kernels as K
from nnfast import _gemm
from _helpers import make_classification

ISAS = ["baseline", "avx2", "avx512"]
TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=2e-5, atol=2e-5)}
SHAPES = [(1, 1, 1), (3, 5, 7), (10, 30, 784), (13, 17, 33), (5, 9, 600), (32, 130, 20),
          (7, 4, 1300),  # k > one 2 KiB chunk; sizes off every vector width and register block
          (6, 10, 25), (11, 100, 10), (2, 15, 3)]  # masked tails: of n (xn) and of k (nt)


@pytest.fixture
def own_gemms():
    before = _gemm.mode()
    _gemm.set_mode("own")
    yield
    _gemm.set_mode(before)
    _gemm.set_own_isa(-1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("m, n, k", SHAPES)
def test_nt_matches_numpy(dtype, isa, m, n, k):
    rng = np.random.default_rng(m * 100 + n)
    A, B = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((n, k)).astype(dtype)
    C = np.full((m, n), np.nan, dtype=dtype)  # written, never read
    K.own_gemm_nt(A, B, C, isa)
    scale = np.sqrt(k)
    np.testing.assert_allclose(C, A.astype(np.float64) @ B.T.astype(np.float64),
                               rtol=TOL[dtype]["rtol"] * scale, atol=TOL[dtype]["atol"] * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("m, n, k", SHAPES)
@pytest.mark.parametrize("a_trans", [False, True])
@pytest.mark.parametrize("alpha, beta", [(1.0, 0.0), (-0.05, 0.999), (2.5, 1.0)])
def test_xn_matches_numpy(dtype, isa, m, n, k, a_trans, alpha, beta):
    rng = np.random.default_rng(m * 100 + k)
    A = rng.standard_normal((k, m) if a_trans else (m, k)).astype(dtype)
    B = rng.standard_normal((k, n)).astype(dtype)
    C0 = rng.standard_normal((m, n)).astype(dtype)
    C = np.full((m, n), np.nan, dtype=dtype) if beta == 0 else C0.copy()
    opA = (A.T if a_trans else A).astype(np.float64)
    expected = alpha * (opA @ B.astype(np.float64)) + (beta * C0.astype(np.float64) if beta else 0)
    K.own_gemm_xn(a_trans, alpha, np.ascontiguousarray(A), B, beta, C, isa)
    scale = np.sqrt(k) * max(1.0, abs(alpha))
    np.testing.assert_allclose(C, expected, rtol=TOL[dtype]["rtol"] * scale,
                               atol=TOL[dtype]["atol"] * scale)


def test_own_gemm_twins_refuse_bad_shapes():
    with pytest.raises(ValueError):
        K.own_gemm_nt(np.ones((2, 3)), np.ones((4, 5)), np.ones((2, 4)), "avx2")
    with pytest.raises(ValueError):
        K.own_gemm_xn(False, 1.0, np.ones((2, 3)), np.ones((4, 5)), 0.0, np.ones((2, 5)), "avx2")
    with pytest.raises(ValueError, match="isa"):
        K.own_gemm_nt(np.ones((2, 3)), np.ones((4, 3)), np.ones((2, 4)), "mmx")


def _pair(sizes, X, y, dtype="float64", **kwargs):
    fit = dict(epochs=kwargs.pop("epochs", 12), batch_size=kwargs.pop("batch_size", 10),
               eta=kwargs.pop("eta", 0.5), lmbda=kwargs.pop("lmbda", 2.0),
               optimizer=kwargs.pop("optimizer", "sgd"), monitor=False)
    nets = []
    for backend in ("numpy", "cython"):
        net = nnfast.Network(sizes, dtype=dtype, backend=backend, seed=5, **kwargs)
        net.fit(X, y, **fit)
        nets.append(net)
    return nets


@pytest.mark.parametrize("isa", [-1, 0, 1])
@pytest.mark.parametrize("options", [
    dict(),
    dict(optimizer="adam", eta=0.01),
    dict(activation=[nnfast.activations.maxout(3), "sigmoid"]),
    dict(batch_norm=True, activation="relu", output_activation="softmax", cost="log_likelihood"),
    dict(dropout=0.3),
])
def test_training_on_our_kernels_matches_the_reference(own_gemms, isa, options):
    _gemm.set_own_isa(isa)
    X, y = make_classification(107, 37, 5, seed=6)  # 10 full batches and a short one of 7
    reference, compiled = _pair([37, 19, 5], X, y, **dict(options))
    network_options = {k: v for k, v in options.items() if k not in ("optimizer", "eta")}
    untrained = nnfast.Network([37, 19, 5], seed=5, **network_options)
    assert not np.allclose(compiled.params, untrained.params)  # training moved the weights
    np.testing.assert_allclose(compiled.params, reference.params, rtol=1e-10, atol=1e-13)


def test_float32_training_on_our_kernels_matches_the_reference(own_gemms):
    X, y = make_classification(107, 37, 5, seed=7)
    reference, compiled = _pair([37, 19, 5], X.astype(np.float32), y, dtype="float32")
    np.testing.assert_allclose(compiled.params, reference.params, rtol=1e-4, atol=1e-5)


def test_gradient_on_our_kernels_matches_the_reference(own_gemms):
    X, y = make_classification(40, 37, 5, seed=8)
    grads = [nnfast.Network([37, 19, 5], backend=b, seed=5).gradient(X, y) for b in ("numpy", "cython")]
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10, atol=1e-13)


def test_measured_kernels_on_a_wide_layer_are_thread_independent_and_match_the_reference():
    # [784, 150, 10] at batch 10: m*n*k = 1.18e6, where our kernels usually measure faster
    rng = np.random.default_rng(9)
    X, y = rng.random((200, 784)), rng.integers(0, 10, 200)
    params = []
    for threads in (1, 2):
        net = nnfast.Network([784, 150, 10], seed=1, n_threads=threads)
        net.fit(X, y, epochs=2, batch_size=10, eta=0.5, lmbda=1.0, monitor=False)
        params.append(net.params.copy())
    np.testing.assert_array_equal(params[0], params[1])
    reference = nnfast.Network([784, 150, 10], seed=1, backend="numpy")
    reference.fit(X, y, epochs=2, batch_size=10, eta=0.5, lmbda=1.0, monitor=False)
    np.testing.assert_allclose(params[0], reference.params, rtol=1e-10, atol=1e-13)
