"""Train the book's chapter-6 style convolutional network on MNIST and print its accuracy per epoch.

    python examples/mnist_conv.py [epochs] [n_threads]

(epochs default to $NNFAST_EXAMPLE_EPOCHS, else 10; n_threads to 1, as in the run recorded in
BENCHMARKS.md; 2 threads make an epoch about 1.8x faster on an idle 2-core machine.)

Network: Conv2D(20, 5x5, ReLU) -> MaxPool2D(2) -> Conv2D(40, 5x5, ReLU) -> MaxPool2D(2) -> Flatten
-> Dense(100, ReLU) -> Dropout(0.5) -> Dense(10, softmax), log-likelihood cost, L2 (lmbda 0.1),
SGD with batch 10 and eta 0.03 (the book's network3 settings), float32, He initialisation.
The data come from $NNFAST_DATA, else ../shared/data/mnist next to the repository
(nnfast.datasets.load_mnist: the idx files or the book's mnist.pkl.gz).
"""

import os
import sys
import time
from pathlib import Path

import nnfast
from nnfast import Conv2D, Dense, Dropout, Flatten, MaxPool2D, Sequential
from nnfast.datasets import load_mnist


def chapter6_network(seed=0, dtype="float32", n_threads=None, backend="cython", init="he"):
    """The book's chapter-6 style network (with dropout on the dense layer)."""
    layers = [Conv2D(20, 5, activation="relu"), MaxPool2D(2),
              Conv2D(40, 5, activation="relu"), MaxPool2D(2), Flatten(),
              Dense(100, "relu"), Dropout(0.5), Dense(10, "softmax")]
    return Sequential(layers, (1, 28, 28), cost="log_likelihood", init=init, dtype=dtype,
                      backend=backend, seed=seed, n_threads=n_threads)


def main(argv):
    epochs = int(argv[1]) if len(argv) > 1 else int(os.environ.get("NNFAST_EXAMPLE_EPOCHS", 10))
    n_threads = int(argv[2]) if len(argv) > 2 else 1
    path = os.environ.get("NNFAST_DATA") or Path(__file__).resolve().parents[2] / "shared/data/mnist"
    (X, y), (Xv, yv), (Xt, yt) = load_mnist(path, dtype="float32")
    net = chapter6_network(n_threads=n_threads)
    print(f"nnfast {nnfast.__version__}: {net!r}", flush=True)
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        net.fit(X, y, epochs=1, batch_size=10, eta=0.03, lmbda=0.1)
        seconds = net.history.seconds[-1]
        print(f"epoch {epoch:3d}  train {seconds:6.1f}s  validation {net.accuracy(Xv, yv):.4f}  "
              f"test {net.accuracy(Xt, yt):.4f}  elapsed {(time.perf_counter() - started) / 60:5.1f} min",
              flush=True)


if __name__ == "__main__":
    main(sys.argv)
