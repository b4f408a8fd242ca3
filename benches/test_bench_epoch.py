"""pytest-benchmark suites: one training epoch and one feedforward pass, over (architecture, batch
size, dtype, threads), for the compiled and the reference backend.

    PYTHONPATH=. python -m pytest benches/test_bench_epoch.py -p no:cacheprovider \\
        --import-mode=importlib --benchmark-only

    # a subset, e.g. only the small nets at 1 thread:
    ... --benchmark-only -k "784-30-10 and 1thr"

These measure; they assert nothing about speed. Each benchmark is three timed rounds of one call
(``benchmark.pedantic(rounds=3, iterations=1)``) after a warm-up fit on 1,000 rows, on 10,000
synthetic MNIST-shaped rows made once per module (nnfast.bench.make_data). pytest-benchmark times
the whole call: for ``fit`` that includes the shuffle and the input checks; ``history.seconds`` (the
training pass alone, what ``nnfast bench`` reports), examples/s and GFLOP/s go in ``extra_info``
(see ``--benchmark-json``). Benchmarks are grouped per configuration, so each group compares the
two backends directly.
"""

import numpy as np
import pytest

import nnfast
from nnfast import bench
from nnfast.bench.baselines import PerExampleNetwork

ROWS = 10_000
WARMUP_ROWS = 1_000
ROUNDS = 3
LMBDA = 5.0

ARCHITECTURES = {  # id -> (sizes, batch sizes, eta)
    "784-30-10": ([784, 30, 10], (10, 100), 0.5),
    "784-100-10": ([784, 100, 10], (10, 100), 0.5),
    "784-512-512-10": ([784, 512, 512, 10], (256,), 0.1),
}
CONFIGS = [pytest.param(arch, batch, id=f"{arch}-b{batch}")
           for arch, (_, batches, _) in ARCHITECTURES.items() for batch in batches]
DTYPES = ["float64", "float32"]
THREADS = [pytest.param(1, id="1thr"), pytest.param(2, id="2thr")]
BACKENDS = ["cython", "numpy"]


def _needs_backend(backend):
    if backend not in nnfast._config.config()["backends"]:
        pytest.skip(f"backend {backend!r} is not available (compiled extension not importable)")


@pytest.fixture(scope="module")
def data():
    """{dtype: X (ROWS, 784)}, labels: uniform [0, 1) pixels, labels 0-9, seed 0."""
    return bench.make_data(ROWS, seed=0, dtypes=DTYPES)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("arch,batch_size", CONFIGS)
def test_epoch(benchmark, data, arch, batch_size, dtype, threads, backend):
    _needs_backend(backend)
    sizes, _, eta = ARCHITECTURES[arch]
    inputs, labels = data
    X = inputs[dtype]
    net = nnfast.Network(sizes, dtype=dtype, backend=backend, seed=0, n_threads=threads)
    fit = dict(epochs=1, batch_size=batch_size, eta=eta, lmbda=LMBDA, monitor=False)
    net.fit(X[:WARMUP_ROWS], labels[:WARMUP_ROWS], **fit)
    seconds = []

    def one_epoch():
        seconds.append(net.fit(X, labels, **fit).seconds[0])

    benchmark.group = f"epoch {arch} b{batch_size} {dtype} {threads}thr, {ROWS} rows"
    benchmark.extra_info.update(backend=backend, sizes=sizes, batch_size=batch_size, dtype=dtype,
                                n_threads=threads, rows=ROWS)
    benchmark.pedantic(one_epoch, rounds=ROUNDS, iterations=1)
    best = min(seconds)
    benchmark.extra_info.update(
        history_seconds=seconds, examples_per_second=ROWS / best,
        gflops=bench.epoch_flops(sizes, ROWS, batch_size) / best / 1e9)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_feedforward(benchmark, data, arch, dtype, threads, backend):
    _needs_backend(backend)
    sizes = ARCHITECTURES[arch][0]
    inputs, _ = data
    X = inputs[dtype]
    net = nnfast.Network(sizes, dtype=dtype, backend=backend, seed=0, n_threads=threads)
    net.feedforward(X[:WARMUP_ROWS])

    benchmark.group = f"feedforward {arch} {dtype} {threads}thr, {ROWS} rows"
    benchmark.extra_info.update(backend=backend, sizes=sizes, dtype=dtype, n_threads=threads,
                                rows=ROWS)
    outputs = benchmark.pedantic(net.feedforward, args=(X,), rounds=ROUNDS, iterations=1)
    assert outputs.shape == (ROWS, sizes[-1])  # the call did its work (not a timing check)


def test_per_example_epoch(benchmark, data):
    """The book's per-example loop (nnfast.bench.baselines) on [784, 30, 10], batch 10, float64:
    the baseline of the 20x target, for comparison with test_epoch[784-30-10-b10-float64-1thr-*]."""
    sizes = [784, 30, 10]
    inputs, labels = data
    net = nnfast.Network(sizes, dtype="float64", backend="numpy", seed=0)
    loop = PerExampleNetwork(net.weights, net.biases)
    xs, ys = PerExampleNetwork.columns(inputs["float64"], labels, sizes[-1])
    rng = np.random.default_rng(0)
    loop.train_epoch(xs, ys, rng.permutation(WARMUP_ROWS), 10, 0.5, LMBDA, ROWS)

    benchmark.group = f"epoch 784-30-10 b10 float64 1thr, {ROWS} rows"
    benchmark.extra_info.update(backend="per-example loop", rows=ROWS)
    benchmark.pedantic(lambda: loop.train_epoch(xs, ys, rng.permutation(ROWS), 10, 0.5, LMBDA, ROWS),
                       rounds=ROUNDS, iterations=1)
