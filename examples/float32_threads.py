"""float32 halves the memory traffic; the thread count changes the speed, never the result.

Run: python examples/float32_threads.py [EPOCHS]   (default 2; or NNFAST_EXAMPLE_EPOCHS)
"""

import os
import sys
import time

import numpy as np

import nnfast
from nnfast.datasets import load_bundled_mnist

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("NNFAST_EXAMPLE_EPOCHS", 2))
(X, y), (X_test, y_test) = load_bundled_mnist()
threads = [1, 2] if (os.cpu_count() or 1) > 1 else [1]

params = {}
for dtype in ("float64", "float32"):
    for n_threads in threads:
        net = nnfast.Network([784, 100, 10], dtype=dtype, n_threads=n_threads, seed=0)
        started = time.perf_counter()
        net.fit(X, y, epochs=epochs, batch_size=10, eta=0.5, lmbda=1.0, monitor=False)
        seconds = (time.perf_counter() - started) / epochs
        params[dtype, n_threads] = net.params.copy()
        print(f"{dtype}, {n_threads} thread(s): {seconds:6.3f} s per epoch, "
              f"test accuracy {net.accuracy(X_test, y_test):.4f}")

for dtype in ("float64", "float32"):
    same = all(np.array_equal(params[dtype, threads[0]], params[dtype, k]) for k in threads)
    print(f"{dtype}: parameters bit for bit identical across {threads} threads: {same}")
gap = np.max(np.abs(params["float32", 1].astype(np.float64) - params["float64", 1]))
print(f"float32 vs float64: largest parameter difference {gap:.2e}")
