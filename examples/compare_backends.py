"""The compiled backend and the NumPy reference train the same network to the same numbers.

Run: python examples/compare_backends.py [EPOCHS]   (default 2; or NNFAST_EXAMPLE_EPOCHS)
"""

import os
import sys
import time

import numpy as np

import nnfast
from nnfast.datasets import load_bundled_mnist

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("NNFAST_EXAMPLE_EPOCHS", 2))
(X, y), (X_test, y_test) = load_bundled_mnist(dtype="float64")

nets = {}
for backend in ("cython", "numpy"):
    net = nnfast.Network([784, 30, 10], backend=backend, dtype="float64", seed=1)
    started = time.perf_counter()
    net.fit(X, y, epochs=epochs, batch_size=10, eta=0.5, lmbda=1.0, monitor=False)
    seconds = (time.perf_counter() - started) / epochs
    print(f"{backend:6s}: {seconds:6.3f} s per epoch, test accuracy {net.accuracy(X_test, y_test):.4f}")
    nets[backend] = net

difference = np.max(np.abs(nets["cython"].params - nets["numpy"].params))
scale = np.max(np.abs(nets["numpy"].params))
print(f"largest parameter difference after {epochs} epoch(s): {difference:.2e} "
      f"(relative {difference / scale:.2e})")
