"""Epoch time of the book's chapter-6 style convolutional network: nnfast compiled vs the NumPy
reference vs PyTorch CPU (when importable), at batch 10 and 64, on a subset of MNIST-shaped rows.

    python benches/bench_conv.py [--rows 5000] [--reference-rows 300] [--threads 1] [--dtype float32]

Network: Conv2D(20, 5, relu) MaxPool2D(2) Conv2D(40, 5, relu) MaxPool2D(2) Flatten Dense(100, relu)
Dropout(0.5) Dense(10, softmax); log-likelihood, L2, plain SGD. PyTorch gets the same architecture
(nn.Sequential, CrossEntropyLoss = softmax + log-likelihood, optim.SGD with weight decay on the
weights only: the same update rule). Times are the best of --repeats training passes over the
rows, scaled to one 50,000-row epoch; the reference runs on fewer rows (it is slow) and is scaled
the same way. The FLOP bound is the epoch's GEMM FLOP count (forward, weight gradient and input
gradient of every convolution and dense layer; pooling and elementwise work not counted) divided by
the GFLOP/s of one large GEMM on the same number of threads. The FLOP counts and the PyTorch model come
from the harness (nnfast.bench), where `nnfast bench` also times this net against JAX. Data: MNIST when
$NNFAST_DATA or /work/shared/data/mnist holds it, else random pixels (the time does not depend on
the values).
"""

import argparse
import os
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
try:
    import nnfast  # noqa: F401  (installed, or on PYTHONPATH)
except ImportError:  # run from a source tree built in place
    sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))
from mnist_conv import chapter6_network  # noqa: E402

from nnfast import bench  # noqa: E402

EPOCH_ROWS = bench.config.CONV_EPOCH_ROWS
ETA, LMBDA = bench.config.CONV_ETA, bench.config.CONV_LMBDA
layer_flops = bench.conv_batch_flops  # GEMM FLOPs of one training step on `batch_size` rows


def epoch_flops(rows, batch_size):
    return bench.epoch_flops(bench.CONV_NET, rows, batch_size)


def gemm_gflops(dtype, threads):
    """GFLOP/s of a 1024^3 GEMM (best of 5) with BLAS limited to `threads`."""
    a = np.random.default_rng(0).random((1024, 1024)).astype(dtype)
    best = np.inf
    with threadpool_limits(threads, user_api="blas"):
        a @ a
        for _ in range(5):
            started = time.perf_counter()
            a @ a
            best = min(best, time.perf_counter() - started)
    return 2 * 1024 ** 3 / best / 1e9


def load_rows(rows, dtype):
    try:
        from nnfast.datasets import load_mnist

        (X, y), _, _ = load_mnist(os.environ.get("NNFAST_DATA", "/work/shared/data/mnist"), dtype=dtype)
        return X[:rows], y[:rows], "MNIST"
    except (OSError, ValueError):
        rng = np.random.default_rng(0)
        return rng.random((rows, 784)).astype(dtype), rng.integers(0, 10, rows), "random pixels"


def time_nnfast(backend, X, y, batch_size, threads, dtype, repeats):
    net = chapter6_network(seed=0, dtype=dtype, n_threads=threads, backend=backend)
    net.fit(X[:batch_size * 2], y[:batch_size * 2], epochs=1, batch_size=batch_size, eta=ETA,
            lmbda=LMBDA)  # warm-up
    best = np.inf
    for _ in range(repeats):
        net.fit(X, y, epochs=1, batch_size=batch_size, eta=ETA, lmbda=LMBDA, monitor=False)
        best = min(best, net.history.seconds[-1])
    return best


def time_torch(X, y, batch_size, threads, dtype, repeats):
    """The harness's PyTorch baseline of this net (nnfast.bench.baselines.TorchConvTrainer)."""
    from nnfast.bench.baselines import TorchConvTrainer

    trainer = TorchConvTrainer(X, y, batch_size, ETA, LMBDA, dtype, threads, seed=0)
    rng = np.random.default_rng(0)
    trainer.train_epoch(rng.permutation(batch_size * 2))  # warm-up
    best = np.inf
    for _ in range(repeats):
        order = rng.permutation(len(X))
        started = time.perf_counter()
        trainer.train_epoch(order)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--reference-rows", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-sizes", default="10,64")
    args = parser.parse_args(argv)
    X, y, source = load_rows(args.rows, args.dtype)
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    bound_gflops = gemm_gflops(args.dtype, args.threads)
    print(f"chapter-6 conv net, {args.dtype}, {args.threads} thread(s), {source}: {len(X)} rows "
          f"(reference {args.reference_rows}); seconds per {EPOCH_ROWS:,}-row epoch (scaled); "
          f"GEMM probe {bound_gflops:.1f} GFLOP/s; torch "
          f"{torch_version or 'not installed (skipped)'}")
    header = f"{'batch':>5}  {'implementation':<18}{'s/epoch':>9}{'GFLOP/s':>9}{'x bound':>9}"
    print(header)
    print("-" * len(header))
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        flops_per_row = epoch_flops(EPOCH_ROWS, batch_size) / EPOCH_ROWS
        bound = flops_per_row * EPOCH_ROWS / (bound_gflops * 1e9)
        results = {}
        with threadpool_limits(args.threads, user_api="blas"):
            results["nnfast compiled"] = time_nnfast("cython", X, y, batch_size, args.threads,
                                                     args.dtype, args.repeats) / len(X)
            if torch_version:
                results["pytorch cpu"] = time_torch(X, y, batch_size, args.threads, args.dtype,
                                                    args.repeats) / len(X)
            rows = min(args.reference_rows, len(X))
            results["nnfast numpy ref"] = time_nnfast("numpy", X[:rows], y[:rows], batch_size,
                                                      args.threads, args.dtype, 1) / rows
        for name, per_row in results.items():
            seconds = per_row * EPOCH_ROWS
            print(f"{batch_size:>5}  {name:<18}{seconds:>9.2f}"
                  f"{flops_per_row / per_row / 1e9:>9.1f}{seconds / bound:>9.2f}")
        print(f"{batch_size:>5}  {'FLOP bound':<18}{bound:>9.2f}{bound_gflops:>9.1f}{1:>9.2f}")
        if "pytorch cpu" in results:
            print(f"{batch_size:>5}  compiled / pytorch = "
                  f"{results['nnfast compiled'] / results['pytorch cpu']:.2f}")
        print(flush=True)


if __name__ == "__main__":
    main()
