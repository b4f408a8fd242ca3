"""The book's ``mnist_loader.py`` API, read from the standard MNIST idx files or the book's pickle.

``load_data()`` and ``load_data_wrapper()`` return what the book's loader returns, built by
`nnfast.datasets.load_mnist`:

- ``load_data(path=None)``: ``(training_data, validation_data, test_data)``, each a tuple
  ``(X, y)`` with X a float32 array ``(n, 784)`` of ``pixel / 256`` and y an int64 array of the
  digits; 50,000 training images (the first of the official 60,000), 10,000 validation images
  (the last 10,000) and the official 10,000 test images.
- ``load_data_wrapper(path=None)``: the same as lists of ``(x, y)`` pairs with x a ``(784, 1)``
  column (a view into the float32 array); training y is the one-hot ``(10, 1)`` float64 column of
  the digit (`vectorized_result`), validation and test y the digit itself (a NumPy int64).

``path`` is a directory holding either the four idx files ``train-images-idx3-ubyte.gz``,
``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``
(gzipped or not), or the book's ``mnist.pkl.gz``. The idx files are read when all four are there,
even if the pickle is there too; otherwise ``mnist.pkl.gz`` is read, through nnfast's restricted
unpickler (`nnfast._bookpickle`), which builds NumPy arrays only and refuses any other global the
file names before anything is called, then checks the arrays' shapes, dtypes and labels. Without
``path``: ``$NNFAST_DATA`` if set, else ``~/.cache/nnfast``, where the four idx files are
downloaded when absent and there is no ``mnist.pkl.gz`` (sha256-checked, see
`nnfast.datasets.download_mnist`; ``download=False`` turns that off).

Differences from the book: the book unpickles ``../data/mnist.pkl.gz`` (relative to the working
directory) with the unrestricted ``pickle`` and takes no argument; this reads the idx files, or the
pickle safely as above, from ``path`` or the default directory (downloaded into the default
directory when absent; a directory given as ``path`` that holds neither form is a
FileNotFoundError naming what is missing, a path to a file a ValueError). The arrays hold the same
numbers as the book's pickle. ``load_data_wrapper`` returns lists, as the book's Python 2
code did (a Python 3 port returns ``zip`` objects, which can be read only once).
"""

from pathlib import Path

import numpy as np

from ..datasets import BOOK_PICKLE, MNIST_FILES, load_mnist

__all__ = ["load_data", "load_data_wrapper", "vectorized_result"]


def _directory(path):
    if path is not None and Path(path).expanduser().is_file():
        raise ValueError(f"{path} is a file: give the directory that holds it, with either the "
                         f"four MNIST idx files ({', '.join(MNIST_FILES.values())}) or the book's "
                         f"{BOOK_PICKLE}")
    return path


def load_data(path=None, download=None):
    """``(training_data, validation_data, test_data)``, each ``(X, y)``: X float32 (n, 784), y int64
    (n,). `download` as in `nnfast.datasets.load_mnist` (by default only into the default
    directory)."""
    (X, y), (X_validation, y_validation), (X_test, y_test) = load_mnist(_directory(path),
                                                                        dtype="float32",
                                                                        download=download)
    return (X, y), (X_validation, y_validation), (X_test, y_test)


def load_data_wrapper(path=None, download=None):
    """``(training_data, validation_data, test_data)`` as lists of ``(x (784, 1), y)`` pairs:
    training y the one-hot (10, 1) column of the digit, validation and test y the digit."""
    training, validation, test = load_data(path, download)
    return (_pairs(training[0], [vectorized_result(j) for j in training[1]]),
            _pairs(validation[0], list(validation[1])),
            _pairs(test[0], list(test[1])))


def _pairs(X, ys):
    columns = list(X.reshape(len(X), X.shape[1], 1))  # views, one (784, 1) column per image
    return list(zip(columns, ys))


def vectorized_result(j):
    """The (10, 1) column with 1.0 at position ``j`` (the digit) and zeros elsewhere."""
    e = np.zeros((10, 1))
    e[j] = 1.0
    return e
