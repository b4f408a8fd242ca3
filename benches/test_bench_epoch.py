"""pytest-benchmark suites: one training epoch and one feedforward pass of [784, 30, 10].

    PYTHONPATH=. python -m pytest benches/test_bench_epoch.py -p no:cacheprovider \
        --import-mode=importlib --benchmark-only

These measure; they assert nothing about speed. Each benchmark is one warm-up round plus three timed
rounds of one call each (``benchmark.pedantic``), so the whole file runs in a few seconds. The
timings are pytest-benchmark's wall clock of the whole call (for ``fit`` this includes the
per-epoch shuffle and the input checks; ``history.seconds``, the training pass alone, is kept in
each benchmark's ``extra_info``).
"""

import numpy as np
import pytest

import nnfast

SIZES = [784, 30, 10]
ROWS = 10_000
BATCH_SIZE = 10
FIT = dict(epochs=1, batch_size=BATCH_SIZE, eta=0.5, lmbda=5.0, monitor=False)
ROUNDS = 3
THREADS = 1  # n_threads for the network (and BLAS during the call): same for both backends

BACKENDS = ["cython", "numpy"]
DTYPES = ["float64", "float32"]


def _needs_backend(backend):
    if backend not in nnfast._config.config()["backends"]:
        pytest.skip(f"backend {backend!r} is not available (compiled extension not importable)")


@pytest.fixture(scope="module")
def data():
    """MNIST-shaped synthetic data, made once: {dtype: X (ROWS, 784) in [0, 1)}, labels 0..9."""
    rng = np.random.default_rng(0)
    base = rng.random((ROWS, SIZES[0]))
    labels = rng.integers(0, SIZES[-1], size=ROWS, dtype=np.intp)
    return {dtype: np.ascontiguousarray(base, dtype=dtype) for dtype in DTYPES}, labels


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_epoch(benchmark, data, backend, dtype):
    _needs_backend(backend)
    inputs, labels = data
    X = inputs[dtype]
    net = nnfast.Network(SIZES, dtype=dtype, backend=backend, seed=0, n_threads=THREADS)
    training_seconds = []

    def one_epoch():
        history = net.fit(X, labels, **FIT)
        training_seconds.append(history.seconds[0])

    benchmark.group = f"epoch {SIZES} batch {BATCH_SIZE}, {ROWS} rows, {dtype}"
    benchmark.extra_info.update(backend=backend, dtype=dtype, rows=ROWS, n_threads=THREADS)
    benchmark.pedantic(one_epoch, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    # the warm-up round is the first entry; keep the timed ones
    benchmark.extra_info["history_seconds"] = training_seconds[-ROUNDS:]
    benchmark.extra_info["examples_per_second"] = ROWS / min(training_seconds[-ROUNDS:])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_feedforward(benchmark, data, backend, dtype):
    _needs_backend(backend)
    inputs, _ = data
    X = inputs[dtype]
    net = nnfast.Network(SIZES, dtype=dtype, backend=backend, seed=0, n_threads=THREADS)

    benchmark.group = f"feedforward {SIZES}, {ROWS} rows, {dtype}"
    benchmark.extra_info.update(backend=backend, dtype=dtype, rows=ROWS, n_threads=THREADS)
    outputs = benchmark.pedantic(net.feedforward, args=(X,), rounds=ROUNDS, iterations=1,
                                 warmup_rounds=1)
    assert outputs.shape == (ROWS, SIZES[-1])  # the call did its work (not a timing check)
