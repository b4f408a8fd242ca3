"""Every compiled primitive against its NumPy twin (nnfast/activations.py, costs.py, reference/)."""

import numpy as np
import pytest

from nnfast import _kernels as K
from nnfast.activations import ACTIVATIONS
from nnfast.costs import COSTS
from nnfast.reference.sgd import predicted_classes


def test_apply_mask_and_l1_shrink_match_numpy():
    rng = np.random.default_rng(10)
    A = rng.standard_normal((7, 9))
    keep = (rng.random((7, 9)) > 0.3).astype(np.uint8)
    out = np.empty_like(A)
    K.apply_mask_into(out, A, keep, 1 / 0.7)
    np.testing.assert_array_equal(out, A * (keep.astype(float) * (1 / 0.7)))
    W = np.array([-2.0, -1e-3, 0.0, 1e-3, 3.0])
    expected = W - 0.5 * np.sign(W)
    K.l1_shrink_inplace(W, 0.5)
    np.testing.assert_array_equal(W, expected)

TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=2e-6, atol=1e-6)}
DTYPES = [np.float64, np.float32]


def rand(rng, *shape, dtype=np.float64, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


def test_registry_codes_match_compiled_codes():
    assert {name: a.code for name, a in ACTIVATIONS.items() if name == a.name} == K.ACTIVATION_CODES
    assert {name: c.code for name, c in COSTS.items()} == K.COST_CODES


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_rowmajor_matches_numpy(dtype, trans_a, trans_b):
    rng = np.random.default_rng(1)
    m, n, k = 7, 5, 11
    A = rand(rng, *((k, m) if trans_a else (m, k)), dtype=dtype)
    B = rand(rng, *((n, k) if trans_b else (k, n)), dtype=dtype)
    C = rand(rng, m, n, dtype=dtype)
    expected = 0.5 * ((A.T if trans_a else A) @ (B.T if trans_b else B)) - 2 * C
    K.gemm_rowmajor(trans_a, trans_b, dtype(0.5), A, B, dtype(-2), C)
    np.testing.assert_allclose(C, expected, **TOL[dtype])


def test_gemm_rowmajor_refuses_bad_shapes():
    A, B, C = np.ones((3, 4)), np.ones((5, 2)), np.ones((3, 2))
    with pytest.raises(ValueError):
        K.gemm_rowmajor(False, False, 1.0, A, B, 0.0, C)


ROW_ACTIVATIONS = sorted(name for name, a in ACTIVATIONS.items() if a.pieces == 1)  # maxout: below


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ROW_ACTIVATIONS)
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("rows", [3, 300])  # 300 x 129 is above the parallel threshold
def test_bias_activation_matches_numpy(dtype, name, n_threads, rows):
    activation = ACTIVATIONS[name]
    rng = np.random.default_rng(2)
    Z, b = rand(rng, rows, 129, dtype=dtype, scale=8), rand(rng, 129, dtype=dtype)
    expected = activation.function(Z + b)
    K.bias_activation_inplace(Z, b, activation.code, activation.param, n_threads)
    np.testing.assert_allclose(Z, expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_stable_for_huge_inputs(dtype):
    Z = np.array([[-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        expected = ACTIVATIONS["sigmoid"].function(Z.copy())
    K.bias_activation_inplace(Z, np.zeros(Z.shape[1], dtype), ACTIVATIONS["sigmoid"].code, 0.0)
    assert np.all(np.isfinite(Z)) and Z[0, 0] == 0 and Z[0, -1] == 1 and Z[0, 3] == 0.5
    np.testing.assert_allclose(Z, expected, **TOL[dtype])


ELEMENTWISE = sorted(name for name, a in ACTIVATIONS.items() if not a.rowwise and a.pieces == 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
@pytest.mark.parametrize("rows", [4, 300])
def test_multiply_derivative_matches_numpy(dtype, name, rows):
    activation = ACTIVATIONS[name]
    rng = np.random.default_rng(3)
    A = activation.function(rand(rng, rows, 130, dtype=dtype, scale=3))
    D = rand(rng, rows, 130, dtype=dtype)
    expected = D * activation.derivative(A)
    K.multiply_derivative_inplace(D, A, activation.code, activation.param, 2)
    np.testing.assert_allclose(D, expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("param", [0.05, 0.7, 2.5])
def test_parametric_activations_match_numpy(dtype, param):
    from nnfast.activations import elu, leaky_relu

    rng = np.random.default_rng(9)
    for activation in (leaky_relu(param), elu(param)):
        Z, b = rand(rng, 5, 40, dtype=dtype, scale=4), rand(rng, 40, dtype=dtype)
        A = activation.function(Z + b)
        K.bias_activation_inplace(Z, b, activation.code, activation.param)
        np.testing.assert_allclose(Z, A, **TOL[dtype])
        D = rand(rng, 5, 40, dtype=dtype)
        expected = D * activation.derivative(A)
        K.multiply_derivative_inplace(D, A, activation.code, activation.param)
        np.testing.assert_allclose(D, expected, **TOL[dtype])


VALID_PAIRS = [("quadratic", "sigmoid"), ("quadratic", "tanh"), ("quadratic", "identity"),
               ("quadratic", "softmax"), ("quadratic", "elu"), ("cross_entropy", "sigmoid"),
               ("log_likelihood", "softmax"), ("hinge", "identity"), ("hinge", "tanh"),
               ("hinge", "leaky_relu")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cost_name,act_name", VALID_PAIRS)
@pytest.mark.parametrize("one_hot_targets", [True, False])
def test_output_delta_matches_numpy(dtype, cost_name, act_name, one_hot_targets):
    cost, activation = COSTS[cost_name], ACTIVATIONS[act_name]
    rng = np.random.default_rng(4)
    A = activation.function(rand(rng, 6, 10, dtype=dtype))
    T = rng.random((6, 10)).astype(dtype)
    if one_hot_targets:
        T = np.eye(10, dtype=dtype)[rng.integers(0, 10, 6)]
    D = np.empty_like(A)
    K.output_delta_into(D, A, T, activation.code, cost.code, activation.param)
    np.testing.assert_allclose(D, cost.delta(A, T, activation), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_update_matches_numpy(dtype):
    rng = np.random.default_rng(5)
    b, D = rand(rng, 9, dtype=dtype), rand(rng, 13, 9, dtype=dtype)
    expected = b - dtype(0.25) * D.sum(axis=0)
    K.bias_update_inplace(b, D, dtype(0.25))
    np.testing.assert_allclose(b, expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cost_name,act_name", VALID_PAIRS)
def test_cost_rows_match_numpy(dtype, cost_name, act_name):
    cost = COSTS[cost_name]
    rng = np.random.default_rng(6)
    Z = rand(rng, 8, 10, dtype=dtype, scale=30)  # saturated outputs too
    A = ACTIVATIONS[act_name].function(Z)
    T = (rng.random((8, 10)) > 0.5).astype(dtype)
    if cost_name == "log_likelihood":
        T = np.eye(10, dtype=dtype)[rng.integers(0, 10, 8)]
    got = K.cost_rows(Z, A, T, cost.code)
    np.testing.assert_allclose(got, cost.per_example(Z, A, T), rtol=1e-12 if dtype == np.float64 else 1e-5)
    assert np.all(np.isfinite(got))


def test_cross_entropy_matches_the_book_formula_where_it_is_finite():
    rng = np.random.default_rng(7)
    Z = rng.standard_normal((5, 4))
    A = ACTIVATIONS["sigmoid"].function(Z)
    Y = (rng.random((5, 4)) > 0.5).astype(float)
    book = np.sum(-Y * np.log(A) - (1 - Y) * np.log(1 - A), axis=1)
    np.testing.assert_allclose(COSTS["cross_entropy"].per_example(Z, A, Y), book, rtol=1e-12)
    np.testing.assert_allclose(K.cost_rows(Z, A, Y, COSTS["cross_entropy"].code), book, rtol=1e-12)


@pytest.mark.parametrize("width", [1, 4])
def test_predicted_classes_match_numpy(width):
    A = np.array([[0.2, 0.7, 0.7, 0.1], [0.9, 0.1, 0.0, 0.9], [0.5, 0.5, 0.5, 0.5]])[:, :width].copy()
    np.testing.assert_array_equal(K.predicted_classes(A), predicted_classes(A))


@pytest.mark.parametrize("dtype", DTYPES)
def test_maxout_kernels_match_numpy(dtype):
    from nnfast.activations import maxout
    from nnfast.reference.sgd import route_to_largest_piece

    rng = np.random.default_rng(11)
    m, n, k = 6, 5, 3
    ZP, bias = rand(rng, m, n * k, dtype=dtype), rand(rng, n * k, dtype=dtype)
    ZP[0, :3] = 0.25  # a tie: the first piece wins in both
    bias[:3] = 0
    expected_z = ZP + bias
    A = np.empty((m, n), dtype=dtype)
    K.maxout_forward_into(A, ZP, bias)
    np.testing.assert_array_equal(ZP, expected_z)
    np.testing.assert_array_equal(A, maxout(k).function(expected_z))
    D = rand(rng, m, n, dtype=dtype)
    DP = np.empty((m, n * k), dtype=dtype)
    K.maxout_route_into(DP, D, ZP)
    np.testing.assert_array_equal(DP, route_to_largest_piece(D, ZP, k))
    assert DP[0, 0] == D[0, 0] and DP[0, 1] == 0 and DP[0, 2] == 0


# ---------------------------------------------------------------- batch norm, optimizers, inference

@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_kernels_match_numpy(dtype):
    from nnfast.reference.batchnorm import Norm, normalize, normalize_backward

    rng = np.random.default_rng(12)
    m, n = 9, 6
    Z, b = rand(rng, m, n, dtype=dtype, scale=3), rand(rng, n, dtype=dtype)
    gamma, beta = rand(rng, n, dtype=dtype), np.zeros(n, dtype=dtype)
    running = np.concatenate([rand(rng, n, dtype=dtype), np.abs(rand(rng, n, dtype=dtype)) + 1])
    norm = Norm(gamma, beta, running[:n].copy(), running[n:].copy(), 1e-5, 0.9)
    y, (zhat_ref, inv_ref) = normalize(Z + b, norm, training=True, update_running=True)
    zhat, mean, inv = np.empty((m, n), dtype), np.empty(n, dtype), np.empty(n, dtype)
    K.batchnorm_train_inplace(Z, b, gamma, zhat, mean, inv, running, 1e-5, 0.9)
    np.testing.assert_allclose(Z, y, **TOL[dtype])  # beta = 0: y = gamma zhat
    np.testing.assert_allclose(zhat, zhat_ref, **TOL[dtype])
    np.testing.assert_allclose(inv, inv_ref, **TOL[dtype])
    np.testing.assert_allclose(running, np.concatenate([norm.running_mean, norm.running_var]), **TOL[dtype])
    D = rand(rng, m, n, dtype=dtype)
    dz, dgamma_ref, dbeta_ref = normalize_backward(D, (zhat_ref, inv_ref), gamma)
    dgamma, dbeta = np.empty(n, dtype), np.empty(n, dtype)
    K.batchnorm_backward_inplace(D, zhat, inv, gamma, dgamma, dbeta)
    np.testing.assert_allclose(D, dz, rtol=TOL[dtype]["rtol"] * 100, atol=TOL[dtype]["atol"] * 100)
    np.testing.assert_allclose(dgamma, dgamma_ref, **TOL[dtype])
    np.testing.assert_allclose(dbeta, dbeta_ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["momentum", "nesterov", "adagrad", "rmsprop", "adam"])
@pytest.mark.parametrize("regularization", [0, 1])
def test_optimizer_step_matches_numpy(dtype, name, regularization):
    from nnfast import _train
    from nnfast.training.optimizers import OPTIMIZERS

    rng = np.random.default_rng(13)
    optimizer = OPTIMIZERS[name]()
    P, G = rand(rng, 50, dtype=dtype), rand(rng, 50, dtype=dtype)
    S1, S2 = np.abs(rand(rng, 50, dtype=dtype)), np.abs(rand(rng, 50, dtype=dtype))
    w, s1, s2 = P.copy(), S1.copy(), S2.copy()
    m, decay, t = 7, 0.03, 4
    g = G * (1 / m) + decay * (np.sign(w) if regularization else w)
    optimizer.update(w, g, s1, s2, 0.1, t)
    h0, h1, h2 = optimizer.hyper
    K.optimizer_step_inplace(P, G, S1, S2, _train.OPTIMIZER_CODES[name], 0.1, 1 / m, decay,
                             regularization, h0, h1, h2, 1 - h0 ** t, 1 - h1 ** t)
    tol = dict(rtol=1e-13, atol=1e-15) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(P, w, **tol)
    np.testing.assert_allclose(S1, s1, **tol)
    if optimizer.n_states == 2:
        np.testing.assert_allclose(S2, s2, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_transposed_inference_kernels_match_numpy(dtype, name):
    from nnfast.activations import maxout

    activation = ACTIVATIONS[name]
    rng = np.random.default_rng(14)
    Zt, b = rand(rng, 5, 40, dtype=dtype, scale=3), rand(rng, 5, dtype=dtype)
    expected = activation.function(Zt.T + b)
    out = np.empty((40, 5), dtype=dtype)
    K.transposed_inference_kernels(Zt, b, activation.code, activation.param, out)
    np.testing.assert_allclose(out, expected, **TOL[dtype])
    ZPt, pb = rand(rng, 15, 40, dtype=dtype), rand(rng, 15, dtype=dtype)
    At = np.empty((5, 40), dtype=dtype)
    K.maxout_forward_t_into(At, ZPt, pb)
    np.testing.assert_array_equal(At.T, maxout(3).function(ZPt.T + pb))
    gamma, running = rand(rng, 5, dtype=dtype), np.concatenate([rand(rng, 5, dtype=dtype),
                                                                np.abs(rand(rng, 5, dtype=dtype)) + 0.5])
    Zt = rand(rng, 5, 40, dtype=dtype)
    expected = gamma * ((Zt.T + b - running[:5]) * (1 / np.sqrt(running[5:] + dtype(1e-5))))
    K.batchnorm_infer_t_inplace(Zt, b, gamma, running, 1e-5)
    np.testing.assert_allclose(Zt.T, expected, **TOL[dtype])
