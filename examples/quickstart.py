"""The five-minute tour of the Python API on the MNIST subset bundled with nnfast (no download).

Run: python examples/quickstart.py [EPOCHS]      (default 10; or set NNFAST_EXAMPLE_EPOCHS)
"""

import os
import sys
import tempfile
from pathlib import Path

import nnfast
from nnfast.datasets import load_bundled_mnist, train_validation_split

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("NNFAST_EXAMPLE_EPOCHS", 10))

(X, y), (X_test, y_test) = load_bundled_mnist()          # 10,000 + 2,000 images, rows of 784
(X, y), (X_val, y_val) = train_validation_split(X, y, 0.1, seed=0)

net = nnfast.Network([784, 100, 10], activation="sigmoid", cost="cross_entropy", dtype="float32",
                     seed=0)
history = net.fit(X, y, epochs=epochs, batch_size=10, eta=0.5, lmbda=1.0,
                  validation_data=(X_val, y_val),
                  callbacks=[lambda net, h: print(h.epoch_line())])
print(f"test accuracy: {net.accuracy(X_test, y_test):.4f}")
print(f"first test digits: predicted {net.predict(X_test[:10]).tolist()}, true {y_test[:10].tolist()}")

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "model.npz"
    net.save(path)
    again = nnfast.load(path)
    print(f"saved and loaded back: same test accuracy {again.accuracy(X_test, y_test):.4f}")
    try:
        history.plot(Path(folder) / "curves.png")
        print("history.plot wrote a PNG of the accuracy and cost curves")
    except ImportError as exc:  # matplotlib is the optional 'plot' extra
        print(f"(no plot: {exc})")
