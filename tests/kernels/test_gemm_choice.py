"""The kernel of every GEMM shape, chosen by measurement and cached (nnfast/_gemm.py, the table of
src_cython/kernels/_gemm_table.h read by _matmul.pxd's matmul).

- every kernel computes every form it accepts like NumPy, and refuses the others;
- the Python side announces every shape the compiled loops run (no table misses), for dense and
  convolutional models, on every entry point;
- the cache: written per machine identity, read back by a fresh process state and by a second
  process (the same kernels, so the same bits), an unreadable file measured again, an unwritable folder kept in memory;
- NNFAST_GEMM fixes the choice without measuring.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import nnfast
from nnfast import _gemm
from nnfast import _kernels as K
from _helpers import make_classification

FORMS = [(False, False), (True, False), (False, True), (True, True)]


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A cache folder of the test's own and an empty memory; the session's state back after."""
    monkeypatch.setenv("NNFAST_CACHE_DIR", str(tmp_path))
    before = _gemm.mode()
    _gemm.set_mode("measure")
    yield tmp_path
    _gemm.set_mode(before)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("trans_a, trans_b", FORMS)
@pytest.mark.parametrize("kernel", sorted(_gemm.KERNELS))
@pytest.mark.parametrize("m, n, k", [(1, 1, 1), (10, 30, 784), (33, 17, 9), (300, 260, 70)])
def test_every_kernel_matches_numpy_on_the_forms_it_computes(dtype, trans_a, trans_b, kernel,
                                                              m, n, k):
    rng = np.random.default_rng(m + n + k)
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    C0 = rng.standard_normal((m, n)).astype(dtype)
    code = _gemm.KERNELS[kernel]
    runs = kernel != "own" or not trans_b or not trans_a
    alpha, beta = (1.0, 0.0) if trans_b else (-0.5, 0.75)
    expected = alpha * ((A.T if trans_a else A).astype(np.float64)
                        @ (B.T if trans_b else B).astype(np.float64)) + beta * C0
    for threads in (1, 2):
        C = C0.copy()
        if not runs:
            with pytest.raises(ValueError, match="does not compute this form"):
                K.gemm_rowmajor(trans_a, trans_b, alpha, A, B, beta, C, code, threads)
            np.testing.assert_array_equal(C, C0)
            continue
        K.gemm_rowmajor(trans_a, trans_b, alpha, A, B, beta, C, code, threads)
        tol = (1e-12 if dtype == np.float64 else 2e-5) * np.sqrt(k) * 4
        np.testing.assert_allclose(C, expected, rtol=tol, atol=tol)


def test_the_kernel_codes_are_the_compiled_ones():
    assert _gemm.KERNELS == K.GEMM_KERNELS


def test_the_measurement_times_every_candidate_and_keeps_the_fastest(fresh):
    key = (0, 1, 8, 10, 30, 784)
    entry = _gemm._choose(key)
    assert set(entry["seconds"]) == {"blas", "own", "packed"}
    assert all(0 < s < 0.01 for s in entry["seconds"].values())
    assert entry["kernel"] == min(entry["seconds"], key=entry["seconds"].get)
    assert _gemm.candidates((1, 1, 8, 3, 3, 3)) == ["blas", "packed"]  # own: no A^T B^T


def _models():
    conv = [nnfast.layers.Conv2D(4, 3, activation="relu"), nnfast.layers.MaxPool2D(2),
            nnfast.layers.Flatten(), nnfast.layers.Dense(12, activation="tanh"),
            nnfast.layers.Dropout(0.2), nnfast.layers.Dense(3, activation="softmax")]
    conv_bn = [nnfast.layers.Conv2D(3, 3, activation="relu", batch_norm=True),
               nnfast.layers.Flatten(), nnfast.layers.Dense(3, activation="softmax")]
    return [
        ("dense", lambda: nnfast.Network([64, 20, 3], seed=1), 64),
        ("dense maxout bn dropout", lambda: nnfast.Network(
            [64, 20, 9, 3], activation=[nnfast.activations.maxout(2), "relu", "softmax"],
            cost="log_likelihood", dropout=0.2, batch_norm=[False, True], seed=1), 64),
        ("conv", lambda: nnfast.Sequential(conv, input_shape=(1, 8, 8), cost="log_likelihood",
                                           seed=1), 64),
        ("conv bn", lambda: nnfast.Sequential(conv_bn, input_shape=(1, 8, 8),
                                              cost="log_likelihood", seed=1), 64),
    ]


@pytest.mark.parametrize("name, make, n_in", _models(), ids=[m[0] for m in _models()])
def test_every_gemm_the_loops_run_was_announced(fresh, name, make, n_in):
    X, y = make_classification(203, n_in, 3, seed=2)  # batches of 10 / 32 and short last ones
    misses = _gemm.misses()
    for threads in (1, 2):
        net = make()
        net.n_threads = threads
        net.fit(X, y, epochs=1, batch_size=10, eta=0.1, validation_data=(X[:57], y[:57]))
        net.fit(X, y, epochs=1, batch_size=32, eta=0.1, optimizer="adam")
        net.predict(X[:5])
        net.feedforward(X)
        net.accuracy(X, y)
        net.cost(X, y)
        net.gradient(X[:13], y[:13])
        net.input_gradient(X[:7], y[:7])
        net.train_on_batch(X[:9], y[:9], eta=0.1)
    assert _gemm.misses() == misses, _gemm._train.gemm_table_stats()
    assert _gemm.describe()  # the shapes were measured


def test_the_cache_is_written_and_gives_the_same_kernels_and_bits(fresh):
    X, y = make_classification(150, 40, 3, seed=3)

    def train():
        net = nnfast.Network([40, 25, 3], seed=4)
        net.fit(X, y, epochs=2, batch_size=10, eta=0.3)
        return net.params.copy()

    first = train()
    chosen = {(r["form"], r["m"], r["n"], r["k"]): r["kernel"] for r in _gemm.describe()}
    path = _gemm.cache_path()
    data = json.loads(open(path).read())
    assert data["identity"] == _gemm.identity()
    assert len(data["kernels"]) == len(chosen) > 0
    # a fresh process state reads the file: nothing is measured again, the same kernels run
    _gemm.set_mode("measure")
    mtime = os.stat(path).st_mtime_ns
    np.testing.assert_array_equal(train(), first)
    assert os.stat(path).st_mtime_ns == mtime
    assert {(r["form"], r["m"], r["n"], r["k"]): r["kernel"] for r in _gemm.describe()} == chosen


def test_the_cache_decides_and_a_broken_one_is_measured_again(fresh):
    key = (0, 1, 8, 10, 25, 40)
    text = _gemm._key_text(key)
    for kernel in ("own", "blas"):  # whatever is faster here, the file's answer is the one used
        with open(_gemm.cache_path(), "w") as f:
            json.dump({"identity": _gemm.identity(),
                       "kernels": {text: {"kernel": kernel, "seconds": {}}}}, f)
        _gemm.set_mode("measure")
        _gemm.register([key])
        assert [r["kernel"] for r in _gemm.describe()] == [kernel]
    with open(_gemm.cache_path(), "w") as f:
        f.write("{not json")
    _gemm.set_mode("measure")
    _gemm.register([key])
    assert "unreadable" in _gemm.cache_status() or "shapes" in _gemm.cache_status()
    assert json.loads(open(_gemm.cache_path()).read())["kernels"][text]["seconds"]


def test_an_unwritable_cache_folder_keeps_the_answers_in_memory(fresh, monkeypatch):
    blocker = fresh / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("NNFAST_CACHE_DIR", str(blocker / "cache"))
    _gemm.set_mode("measure")
    net = nnfast.Network([20, 7, 2], seed=0)
    X, y = make_classification(30, 20, 2, seed=0)
    net.fit(X, y, epochs=1, batch_size=10)
    assert "not writable" in _gemm.cache_status()
    assert _gemm.describe()


def _child(env_value, code, cwd):
    """Run code in a child with NNFAST_GEMM=env_value, away from the source tree (whose nnfast
    folder has no compiled modules: the child must import the installed package)."""
    env = dict(os.environ, NNFAST_GEMM=env_value)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, cwd=cwd)


@pytest.mark.parametrize("value, fallback", [("blas", 0), ("own", 1), ("packed", 2), ("rule", -1)])
def test_nnfast_gemm_fixes_the_choice_without_measuring(value, fallback, tmp_path):
    code = ("import nnfast, numpy as np; from nnfast import _gemm, _train, _conv\n"
            "net = nnfast.Network([20, 7, 2], seed=0)\n"
            "net.fit(np.random.default_rng(0).random((30, 20)), np.zeros(30, int), epochs=1)\n"
            "print(_gemm.mode(), _train.gemm_fallback(), _conv.gemm_fallback(), len(_gemm.describe()))")
    result = _child(value, code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [value, str(fallback), str(fallback), "0"]


def test_an_unknown_nnfast_gemm_value_warns_and_measures(tmp_path):
    result = _child("fastest", "from nnfast import _gemm, _train; print(_gemm.mode())", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "measure"
    assert "NNFAST_GEMM='fastest'" in result.stderr


def test_the_table_refuses_invalid_rows():
    from nnfast import _train
    with pytest.raises(ValueError, match="invalid GEMM table row"):
        _train.gemm_register(np.array([[0, 1, 8, 0, 3, 3, 0]], dtype=np.int64))
    with pytest.raises(ValueError, match="invalid GEMM table row"):
        _train.gemm_register(np.array([[0, 1, 8, 3, 3, 3, 9]], dtype=np.int64))
    with pytest.raises(ValueError, match="7 columns"):
        _train.gemm_register(np.zeros((1, 6), dtype=np.int64))


def test_with_one_cache_two_processes_train_the_same_bits(tmp_path):
    """The first process measures and writes the cache; the second reads it: the same kernels for
    every shape, so the same bits (for 1 and 2 threads each)."""
    code = ("import hashlib, sys, numpy as np, nnfast\n"
            "rng = np.random.default_rng(0)\n"
            "X, y = rng.random((230, 784)), rng.integers(0, 10, 230)\n"
            "for threads in (1, 2):\n"
            "    net = nnfast.Network([784, 100, 10], seed=3, n_threads=threads)\n"
            "    net.fit(X, y, epochs=2, batch_size=10, eta=0.5, lmbda=1.0)\n"
            "    print(hashlib.sha256(net.params.tobytes()).hexdigest())\n")
    env = dict(os.environ, NNFAST_GEMM="measure", NNFAST_CACHE_DIR=str(tmp_path / "cache"))
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                           timeout=300, cwd=tmp_path) for _ in range(2)]
    assert all(run.returncode == 0 for run in runs), runs[0].stderr + runs[1].stderr
    first, second = (run.stdout.split() for run in runs)
    assert len(first) == 2 and first[0] == first[1]  # 1 and 2 threads: the same bits
    assert second == first                            # the second process, from the cache
    assert len(list((tmp_path / "cache").glob("gemm-*.json"))) == 1
