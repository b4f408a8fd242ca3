"""The vectorized kernels (src_cython/kernels/_simd.h): each instruction-set instance against NumPy.

An instance this CPU lacks is lowered to the best it has, so on an older CPU some of these
compare an instance with itself; the baseline (SSE2) instance runs everywhere.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnfast import _kernels as K
from nnfast.activations import sigmoid

ISAS = ["baseline", "avx2", "avx512"]
# (lowest argument, a grid that crosses the subnormal range down to where e^x rounds to 0)
RANGES = {np.float64: -746.0, np.float32: -104.0}


def ulps(actual, expected):
    tiny = np.finfo(expected.dtype).smallest_subnormal
    return np.abs(actual.astype(np.float64) - expected) / np.spacing(np.maximum(expected, tiny))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("isa", ISAS)
def test_exp_is_within_one_ulp_of_numpy(dtype, isa):
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(RANGES[dtype], 0, 100_001),
                        -rng.exponential(1.0, 50_000), -rng.uniform(0, 1e-6, 1000)]).astype(dtype)
    out = np.empty_like(x)
    K.simd_exp_nonpos(x, out, isa)
    # against e^x in float64 rounded to the dtype (for float32, closer than NumPy's float32 exp)
    assert ulps(out, np.exp(x.astype(np.float64)).astype(dtype)).max() <= 1.0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("isa", ISAS)
def test_exp_edge_values(dtype, isa):
    x = np.array([0.0, -0.0, -np.inf, np.nan, -1e30, RANGES[dtype] - 1], dtype=dtype)
    out = np.full_like(x, 7)
    K.simd_exp_nonpos(x, out, isa)
    assert out[0] == 1 and out[1] == 1 and out[2] == 0 and np.isnan(out[3])
    assert out[4] == 0 and out[5] == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (10, 30), (17, 129)])
def test_sigmoid_matches_the_reference(dtype, isa, shape):
    rng = np.random.default_rng(1)
    Z = (rng.standard_normal(shape) * 20).astype(dtype)
    Z.flat[::5] *= 40  # saturated values, both signs
    b = rng.standard_normal(shape[1]).astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        expected = sigmoid(Z + b)
    K.simd_sigmoid_bias_inplace(Z, b, isa)
    assert ulps(Z, expected.astype(dtype)).max() <= 4


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("n", [1, 7, 33, 1000])
def test_sigmoid_with_one_bias_matches_the_reference(dtype, isa, n):
    # the transposed inference layout: one unit's row, one bias for all of it
    z = (np.random.default_rng(n).standard_normal(n) * 30).astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        expected = sigmoid(z + dtype(-1.25)).astype(dtype)
    K.simd_sigmoid_shift_inplace(z, -1.25, isa)
    assert ulps(z, expected).max() <= 4


@pytest.mark.parametrize("isa", ISAS)
def test_sigmoid_propagates_nan_and_saturates_exactly(isa):
    Z = np.array([[np.nan, -np.inf, np.inf, 0.0, -1e4, 1e4]])
    K.simd_sigmoid_bias_inplace(Z, np.zeros(6), isa)
    assert np.isnan(Z[0, 0])
    assert list(Z[0, 1:]) == [0.0, 1.0, 0.5, 0.0, 1.0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_avx2_and_avx512_instances_agree_bit_for_bit(dtype):
    # the same operations in the same order, with fused multiply-adds in both
    rng = np.random.default_rng(2)
    Z = (rng.standard_normal((9, 301)) * 10).astype(dtype)
    b = rng.standard_normal(301).astype(dtype)
    results = []
    for isa in ("avx2", "avx512"):
        out = Z.copy()
        K.simd_sigmoid_bias_inplace(out, b, isa)
        results.append(out)
    np.testing.assert_array_equal(results[0], results[1])


def test_simd_kernels_refuse_bad_arguments():
    with pytest.raises(ValueError, match="isa"):
        K.simd_sigmoid_bias_inplace(np.zeros((2, 3)), np.zeros(3), "sse9")
    with pytest.raises(ValueError, match="bias"):
        K.simd_sigmoid_bias_inplace(np.zeros((2, 3)), np.zeros(4), "avx2")
    with pytest.raises(ValueError, match="length"):
        K.simd_exp_nonpos(np.zeros(3), np.zeros(2), "avx2")


def _run(code, cwd, **env):
    # the nnfast this test imported (installed, or the source tree with in-place modules), run
    # from another directory so that a source tree without compiled modules cannot shadow it
    import nnfast
    home = str(Path(nnfast.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [home, os.environ.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                            env={**os.environ, "PYTHONPATH": path, **env}, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_nnfast_isa_caps_the_instruction_set_and_training_agrees(tmp_path):
    code = ("import numpy as np, nnfast\n"
            "from nnfast import _kernels\n"
            "rng = np.random.default_rng(0)\n"
            "X, y = rng.random((300, 20)), rng.integers(0, 4, 300)\n"
            "net = nnfast.Network([20, 12, 4], seed=1)\n"
            "net.fit(X, y, epochs=3, batch_size=10, eta=0.5, lmbda=1.0, monitor=False)\n"
            "print(_kernels.simd_isa()); print(repr(net.params.tolist()))\n")
    capped = _run(code, tmp_path, NNFAST_ISA="baseline").splitlines()
    default = _run(code, tmp_path).splitlines()
    assert capped[0] == "baseline"
    assert default[0] in ISAS
    # libm's exp on the baseline, ours from AVX2 up: the same training within rounding
    np.testing.assert_allclose(eval(capped[1]), eval(default[1]), rtol=1e-10, atol=1e-13)
