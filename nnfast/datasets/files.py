"""Features and labels from generic files (re-exported by nnfast.datasets, documented there)."""

import os
from pathlib import Path

import numpy as np

FEATURE_KEYS = ("X", "x", "features", "data", "images")
LABEL_KEYS = ("y", "labels", "targets", "target")
SUFFIXES = (".npz", ".csv", ".npy")


def _float_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point type such as 'float32' or 'float64', "
                         f"got {dtype.name!r}")
    return dtype


def _suffix(path):
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: unknown data file type {suffix or '(no suffix)'!r}; nnfast reads "
                         f"{', '.join(SUFFIXES)} files (or a directory of MNIST idx files)")
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return suffix


def _features(array, path, dtype, scale):
    """A 2-D float array: one row per example (images of any shape are flattened)."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{path}: the features must be numbers, got dtype {array.dtype}")
    if array.ndim == 0:
        raise ValueError(f"{path}: the features are a single number, not rows of an array")
    if array.ndim == 1:
        array = array[np.newaxis, :]  # one example
    elif array.ndim > 2:
        array = array.reshape(len(array), -1)  # (n, 28, 28) images -> (n, 784) rows
    if scale == "auto":
        scale = 256 if array.dtype == np.uint8 else 1
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise ValueError(f"scale must be 'auto' or a positive number, got {scale!r}")
    X = array.astype(dtype)
    if scale != 1:
        X /= dtype.type(scale)
    if not np.isfinite(X).all():
        raise ValueError(f"{path}: the features hold NaN or infinite values")
    return X


def _labels(array, path, n):
    """1-D int64 class labels (integers >= 0, or one-hot rows turned into their class)."""
    array = np.asarray(array)
    if array.ndim == 2 and array.shape[1] > 1:
        one_hot = ((array == 0) | (array == 1)).all() and (array.sum(axis=1) == 1).all()
        if not one_hot:
            raise ValueError(f"{path}: 2-D labels must be one-hot rows (one 1 per row)")
        array = array.argmax(axis=1)
    array = array.reshape(-1) if array.ndim == 2 and array.shape[1] == 1 else array
    if array.ndim != 1:
        raise ValueError(f"{path}: the labels must be one class number per example, got shape "
                         f"{array.shape}")
    if array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and not (
            np.isfinite(array).all() and (array == np.round(array)).all())):
        raise ValueError(f"{path}: the labels must be whole class numbers 0, 1, 2, ...")
    if len(array) and array.min() < 0:
        raise ValueError(f"{path}: the labels must be class numbers >= 0, found {array.min():g}")
    if len(array) != n:
        raise ValueError(f"{path}: {n} examples but {len(array)} labels")
    return array.astype(np.int64)


def _pick(archive, keys, path, what):
    for key in keys:
        if key in archive.files:
            return archive[key]
    raise ValueError(f"{path}: no {what} in the archive: expected one of the keys "
                     f"{', '.join(keys)} (it holds {', '.join(archive.files) or 'nothing'})")


def npz_splits(path):
    """The splits an .npz archive holds under x_<split> / y_<split> keys (e.g. Keras' mnist.npz:
    'train' and 'test'); empty when it uses plain X / y keys."""
    archive = _open_npz(path)
    with archive:
        return [key[2:] for key in archive.files
                if key.startswith("x_") and f"y_{key[2:]}" in archive.files]


def _open_npz(path):
    import zipfile

    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable .npz archive ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not an .npz archive (a single array: name it .npy)")
    return archive


def _read_npz(path, split):
    archive = _open_npz(path)
    with archive:
        splits = [key[2:] for key in archive.files
                  if key.startswith("x_") and f"y_{key[2:]}" in archive.files]
        if splits:
            split = split or ("train" if "train" in splits else splits[0])
            if split not in splits:
                raise ValueError(f"{path}: no {split!r} split (it holds {', '.join(splits)})")
            return archive[f"x_{split}"], archive[f"y_{split}"]
        if split not in (None, "train"):
            raise ValueError(f"{path}: the archive has no splits (no x_{split} / y_{split} keys)")
        try:
            return _pick(archive, FEATURE_KEYS, path, "features"), _pick(archive, LABEL_KEYS, path,
                                                                           "labels")
        except ValueError as exc:
            if "pickle" in str(exc):
                raise ValueError(f"{path}: holds Python objects (pickles), which nnfast never loads") from None
            raise


def _read_csv(path, delimiter):
    """(rows as float64, header names or None)."""
    with open(path, encoding="utf-8-sig") as f:
        first = f.readline()
    fields = [field.strip().strip('"') for field in first.strip().split(delimiter)]
    try:
        [float(field) for field in fields]
        header = None
    except ValueError:
        header = fields
    try:
        rows = np.loadtxt(path, delimiter=delimiter, skiprows=1 if header else 0, ndmin=2,
                          dtype=np.float64, encoding="utf-8-sig")
    except ValueError as exc:
        raise ValueError(f"{path}: not a CSV file of numbers ({' '.join(str(exc).split())})") from None
    if rows.size == 0:
        raise ValueError(f"{path}: no data rows")
    return rows, header


def _column_index(label_column, header, width, path):
    if isinstance(label_column, str) and not label_column.lstrip("-").isdigit():
        if header is None or label_column not in header:
            raise ValueError(f"{path}: no column named {label_column!r}"
                             + (f" (the header has {', '.join(header)})" if header else
                                " (the file has no header row)"))
        return header.index(label_column)
    index = int(label_column)
    if not -width <= index < width:
        raise ValueError(f"{path}: label column {index} is out of range: rows have {width} columns")
    return index % width


def load_data(path, dtype="float32", label_column=0, labels=None, scale="auto", split=None,
              delimiter=","):
    """Features and class labels from one file: ``(X, y)``, X of shape ``(n, features)`` in
    `dtype`, y int64 class numbers 0, 1, 2, ...

    Parameters
    ----------
    path : str or os.PathLike
        ``.npz``: features under the key ``X`` (or ``x``, ``features``, ``data``, ``images``) and
        labels under ``y`` (or ``labels``, ``targets``, ``target``); or split keys
        ``x_train`` / ``y_train``, ``x_test`` / ``y_test`` (Keras' mnist.npz, nnfast's bundled
        subset), chosen by `split`. Never unpickled.
        ``.csv``: one example per line, comma-separated numbers; a first line that is not all
        numbers is a header. The labels are the column `label_column`.
        ``.npy``: the features; the labels come from the file `labels`.
    label_column : int or str
        For ``.csv``: the labels' column, by position (0 = first, the default, as in the common
        MNIST CSV files ``label,pixel0,...``; -1 = last) or by header name.
    labels : str or os.PathLike
        For ``.npy``: a ``.npy`` file of labels, or a text file with one label per line.
    scale : "auto" or number
        The features are divided by it. "auto": 256 for uint8 features (raw 0-255 pixels become
        ``pixel / 256``, as MNIST), 1 otherwise. CSV values are read as numbers, so MNIST pixels in
        a CSV file need ``scale=256``.
    split : str, optional
        For an ``.npz`` with split keys: which one ("train" by default, "test", ...).

    Images stored as ``(n, rows, cols)`` are flattened to rows; one-hot label rows become class
    numbers. Raises FileNotFoundError for a missing file and ValueError for anything malformed,
    naming the file.
    """
    dtype = _float_dtype(dtype)
    suffix = _suffix(path)
    if suffix == ".npz":
        X, y = _read_npz(path, split)
    elif suffix == ".csv":
        rows, header = _read_csv(path, delimiter)
        if rows.shape[1] < 2:
            raise ValueError(f"{path}: needs at least two columns (features and a label)")
        column = _column_index(label_column, header, rows.shape[1], path)
        y = rows[:, column]
        X = np.delete(rows, column, axis=1)
    else:
        if labels is None:
            raise ValueError(f"{path}: a .npy file holds only features; give the labels' file too "
                             "(labels=..., on the command line --labels FILE)")
        X = _load_npy(path)
        labels_path = os.fspath(labels)
        if not Path(labels_path).is_file():
            raise FileNotFoundError(f"{labels_path}: no such file")
        if labels_path.lower().endswith(".npy"):
            y = _load_npy(labels_path)
        else:
            try:
                y = np.loadtxt(labels_path, ndmin=1, dtype=np.float64)
            except ValueError as exc:
                raise ValueError(f"{labels_path}: not one label per line ({exc})") from None
    X = _features(X, path, dtype, scale)
    return X, _labels(y, path, len(X))


def _load_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable .npy array ({' '.join(str(exc).split())})") from None


def load_features(path, dtype="float32", scale="auto", label_column=None, delimiter=","):
    """The features of `path` alone (for predictions): ``.npy`` (one row, or rows, or images),
    ``.npz`` (the features key, as `load_data`), ``.csv`` (every column, unless `label_column`
    names one to drop). Returns a 2-D `dtype` array; `scale` as in `load_data`."""
    dtype = _float_dtype(dtype)
    suffix = _suffix(path)
    if suffix == ".npy":
        X = _load_npy(path)
    elif suffix == ".npz":
        X, _ = _read_npz(path, None)
    else:
        rows, header = _read_csv(path, delimiter)
        X = rows
        if label_column is not None:
            X = np.delete(rows, _column_index(label_column, header, rows.shape[1], path), axis=1)
    return _features(X, path, dtype, scale)


def train_validation_split(X, y, fraction, seed=0):
    """Hold out a random `fraction` of the rows: ``((X_train, y_train), (X_validation,
    y_validation))``.

    The rows are shuffled by ``numpy.random.default_rng(seed).permutation`` (the same seed gives the
    same split); the validation part has ``round(fraction * n)`` rows, and both parts keep at least
    one row. X and y are not modified; the parts are new arrays.
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)) or not (
            0 < fraction < 1):
        raise ValueError(f"the validation fraction must be a number between 0 and 1 (exclusive), "
                         f"got {fraction!r}")
    n = len(X)
    n_validation = int(round(fraction * n))
    if n_validation < 1 or n_validation >= n:
        raise ValueError(f"a validation fraction of {fraction:g} of {n} rows leaves "
                         f"{n_validation} validation and {n - n_validation} training rows; "
                         "both need at least one")
    order = np.random.default_rng(seed).permutation(n)
    held, kept = order[:n_validation], order[n_validation:]
    return (X[kept], y[kept]), (X[held], y[held])
