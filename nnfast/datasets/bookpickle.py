"""The book's ``mnist.pkl.gz`` without running code from the file.

The file is a pickle of ``((X_train, y_train), (X_validation, y_validation), (X_test, y_test))``
NumPy arrays. A pickle can name any importable callable and call it; this reader's unpickler knows
only the names such a file needs (NumPy's two array reconstructors, ``numpy.ndarray``,
``numpy.dtype``, and the ``_codecs.encode`` that protocol-2 pickles use for raw bytes) and refuses
every other one before anything is called. The arrays it builds are then checked: numeric dtypes,
(n, 784) features and (n,) integer labels in 0..9.
"""

import gzip
import io
import pickle
import zlib

import numpy as np

_ALLOWED = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),  # pickles written by NumPy 1
    ("numpy._core.numeric", "_frombuffer"),     # protocol 5
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing {module}.{name}: an MNIST pickle holds only "
                                         "NumPy arrays")
        if module.startswith("numpy.core."):
            module = "numpy._core." + module.removeprefix("numpy.core.")
        return super().find_class(module, name)


def read_book_pickle(path):
    """The three (X, y) pairs of the book's ``mnist.pkl.gz`` (gzipped or not), checked.

    Raises ValueError for a file that is not such a pickle (including one that names anything but
    NumPy arrays) or whose arrays have the wrong shapes, dtypes or labels.
    """
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        parts = _ArraysOnly(io.BytesIO(data), encoding="latin1").load()
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError, ValueError, TypeError,
            AttributeError, IndexError, KeyError, MemoryError) as exc:
        raise ValueError(f"{path}: not a readable MNIST pickle ({exc})") from None
    if not (isinstance(parts, tuple) and len(parts) == 3
            and all(isinstance(p, tuple) and len(p) == 2 for p in parts)):
        raise ValueError(f"{path}: expected ((X, y), (X, y), (X, y)) for train, validation, test")
    checked = []
    for name, (X, y) in zip(("train", "validation", "test"), parts):
        if not (isinstance(X, np.ndarray) and isinstance(y, np.ndarray)):
            raise ValueError(f"{path}: the {name} set is not a pair of arrays")
        if X.dtype.kind != "f" or X.ndim != 2 or X.shape[1] != 784:
            raise ValueError(f"{path}: {name} features must be floating (n, 784), got "
                             f"{X.dtype} {X.shape}")
        if y.dtype.kind not in "iu" or y.shape != (len(X),):
            raise ValueError(f"{path}: {name} labels must be integers, one per row, got "
                             f"{y.dtype} {y.shape}")
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise ValueError(f"{path}: {name} labels must be digits 0-9")
        if not np.isfinite(X).all():
            raise ValueError(f"{path}: {name} features hold NaN or infinity")
        checked.append((X, y.astype(np.int64)))
    return tuple(checked)
