"""Data sets: the MNIST idx reader and downloader, the book's MNIST layout, the small subset bundled
with nnfast, and features and labels from generic files (``.npz``, ``.csv``, ``.npy``).

`load_mnist` reads the four standard idx files from a directory, or the book's ``mnist.pkl.gz``
when only that is there (through an unpickler that can build NumPy arrays and nothing else: see
`nnfast._bookpickle`); when they are absent from the default cache directory, `download_mnist`
fetches the idx files (urllib only, sha256-checked, all or nothing). `load_bundled_mnist` reads the compressed NumPy archive shipped
inside the package. `load_data` / `load_features` read generic files; `train_validation_split`
holds out a shuffled fraction of the rows.
"""

import gzip
import os
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from .bookpickle import read_book_pickle
from .download import DownloadError, check_mirrors, fetch_all
from .files import load_data, load_features, train_validation_split

__all__ = ["BOOK_PICKLE", "MNIST_FILES", "MNIST_MIRRORS", "MNIST_SHA256", "DownloadError", "default_data_dir",
           "mnist_mirrors", "read_idx", "download_mnist", "load_mnist", "load_bundled_mnist",
           "load_data", "load_features", "train_validation_split"]

#: The four standard MNIST file names, looked up in a data directory (``.gz`` or uncompressed).
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

#: The book's pickle of the (train, validation, test) split, read when the idx files are absent.
BOOK_PICKLE = "mnist.pkl.gz"

#: Where `download_mnist` looks for the files, in this order (each URL + file name). Override it with
#: the environment variable ``NNFAST_MNIST_MIRRORS`` (URLs separated by commas or spaces) or the
#: ``mirrors=`` argument.
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]

#: sha256 of the four standard files' data (after gunzip: the canonical idx bytes, whatever gzip
#: settings a mirror compressed them with). A download whose data does not match is refused.
MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

_GZIP_MAGIC = b"\x1f\x8b"
_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (count, rows, cols)
_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (count)
_N_TRAIN = 50_000  # the book's split of the 60,000 official training images


def read_idx(path):
    """Read one MNIST idx file of unsigned bytes (images or labels).

    Parameters
    ----------
    path : str or os.PathLike
        The file, gzip-compressed or not: compression is detected from the gzip magic bytes, not from
        the file name.

    Returns
    -------
    numpy.ndarray of uint8
        Images (magic 2051): shape ``(n, rows * cols)``, one flattened image per row.
        Labels (magic 2049): shape ``(n,)``.

    Raises
    ------
    FileNotFoundError
        When `path` does not exist.
    ValueError
        When the file is not a valid idx file: unknown magic number, short header, payload length
        different from what the header announces, or a corrupt gzip stream.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # truncated or damaged stream
            raise ValueError(f"{path}: corrupt gzip data ({exc})") from None

    if len(raw) < 8:
        raise ValueError(f"{path}: too short for an idx header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[0:4], "big")
    count = int.from_bytes(raw[4:8], "big")
    if magic == _IMAGES_MAGIC:
        if len(raw) < 16:
            raise ValueError(f"{path}: truncated idx image header ({len(raw)} bytes, need 16)")
        rows = int.from_bytes(raw[8:12], "big")
        cols = int.from_bytes(raw[12:16], "big")
        header, shape = 16, (count, rows * cols)
    elif magic == _LABELS_MAGIC:
        header, shape = 8, (count,)
    else:
        raise ValueError(f"{path}: not an idx file of MNIST images or labels: magic number {magic} "
                         f"(expected {_IMAGES_MAGIC} for images or {_LABELS_MAGIC} for labels)")

    expected = int(np.prod(shape, dtype=np.int64))
    payload = len(raw) - header
    if payload != expected:
        what = "truncated" if payload < expected else "has trailing data"
        raise ValueError(f"{path}: {what}: the header announces {expected} bytes of data "
                         f"({' x '.join(map(str, shape))}), the file holds {payload}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def default_data_dir():
    """Where `load_mnist` looks without a path: ``$NNFAST_DATA``, else ``~/.cache/nnfast``."""
    env = os.environ.get("NNFAST_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "nnfast"


def _find(directory, name):
    """The file `name` in `directory`, or its uncompressed twin (name without ``.gz``)."""
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _scale(pixels, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point type such as 'float32' or 'float64', "
                         f"got {dtype.name!r}")
    # pixel / 256 (the book's scaling): exact in float32 and float64.
    return pixels.astype(dtype) / dtype.type(256)


def mnist_mirrors():
    """The mirror list in use: ``$NNFAST_MNIST_MIRRORS`` (URLs separated by commas or whitespace)
    when set, else `MNIST_MIRRORS`."""
    env = os.environ.get("NNFAST_MNIST_MIRRORS", "")
    urls = [url for url in env.replace(",", " ").split() if url]
    return urls if urls else list(MNIST_MIRRORS)


def download_mnist(path=None, mirrors=None, sha256=None, progress=True, timeout=30.0):
    """Download the standard MNIST files that `path` lacks; returns the directory.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Where to put them (created if needed). Default: `default_data_dir()` (``$NNFAST_DATA``, else
        ``~/.cache/nnfast``).
    mirrors : list of str, optional
        Base URLs tried in order for each file (``mirror + file name``). Default: `mnist_mirrors()`.
    sha256 : dict, optional
        File name -> expected sha256 (hex) of its data, decompressed when the file is gzipped (see
        `nnfast._download.content_sha256`). Default: `MNIST_SHA256`, the standard files'.
    progress : bool
        Report on stderr: a progress bar per file on a terminal, one line per file otherwise.
    timeout : float
        Seconds to wait for a server before trying the next mirror.

    Each file is streamed into a temporary file in `path`, its length checked against the server's
    Content-Length and its data's sha256 against `sha256` (the data, not the .gz bytes: mirrors
    compress the same idx files differently); a failure moves on to the next mirror. Only when
    every missing file arrived intact are they moved into place (``os.replace``): after a failure
    nothing new is left in `path`.

    Raises
    ------
    DownloadError (an OSError)
        When no mirror delivered one of the files; the message names every mirror and its failure
        (connection refused, timed out, HTTP 404, interrupted transfer, damaged gzip data, sha256
        mismatch).
    """
    import sys

    directory = Path(path).expanduser() if path is not None else default_data_dir()
    mirrors = check_mirrors(mirrors if mirrors is not None else mnist_mirrors())
    sha256 = dict(MNIST_SHA256 if sha256 is None else sha256)
    missing = [name for name in MNIST_FILES.values() if _find(directory, name) is None]
    if missing:
        say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
        if progress:
            say(f"downloading MNIST ({len(missing)} files) into {directory}")
        fetch_all(missing, directory, mirrors, sha256, progress=progress, timeout=timeout, say=say)
    return directory


def load_mnist(path=None, dtype="float32", download=None, mirrors=None):
    """MNIST from the four standard idx files, in the book's (train, validation, test) layout.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Directory holding ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
        ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` (each may also be present
        uncompressed, without ``.gz``); or, when those are not all there, the book's
        ``mnist.pkl.gz`` (read without unpickling anything but NumPy arrays). Default:
        ``$NNFAST_DATA`` if set, else ``~/.cache/nnfast``.
    dtype : str or numpy.dtype
        Floating-point type of the pixel arrays.
    download : bool or None
        Fetch the missing idx files with `download_mnist` first. None (default): only when `path`
        is None, that is into the default cache directory, and it holds no ``mnist.pkl.gz``; a
        directory given explicitly is read as it is unless ``download=True``.
    mirrors : list of str, optional
        Passed to `download_mnist` (default: `mnist_mirrors()`).

    Returns
    -------
    ((X_train, y_train), (X_validation, y_validation), (X_test, y_test))
        X arrays have shape ``(n, 784)`` and hold ``pixel / 256`` in `dtype`; y arrays are int64
        labels 0-9. Train is the first 50,000 official training images, validation the last 10,000,
        and test the official 10,000-image test set.

    Raises
    ------
    FileNotFoundError
        When the directory or any of the four files is missing and nothing is downloaded (the
        message names both).
    DownloadError
        When a download was needed and failed (offline, every mirror refused or corrupted a file).
    ValueError
        When a file is corrupt, or images and labels disagree in number.
    """
    _scale(np.zeros(0, np.uint8), dtype)  # refuse a bad dtype before any download
    directory = Path(path).expanduser() if path is not None else default_data_dir()
    if download is None:  # the default cache directory only, and not when the book's pickle is there
        download = path is None and _find(directory, BOOK_PICKLE) is None
    if download:
        download_mnist(directory, mirrors=mirrors)
    found = {key: _find(directory, name) for key, name in MNIST_FILES.items()}
    missing = [MNIST_FILES[key] for key, file in found.items() if file is None]
    book_pickle = _find(directory, BOOK_PICKLE) if missing else None
    if book_pickle is not None:
        return tuple((X.astype(dtype, copy=False), y) for X, y in read_book_pickle(book_pickle))
    if missing:
        if not directory.is_dir():
            problem = f"MNIST directory {str(directory)!r} does not exist"
        else:
            problem = f"MNIST directory {str(directory)!r} lacks {', '.join(missing)}"
        problem += (f"; it must hold the four idx files {', '.join(MNIST_FILES.values())}, gzipped or "
                    f"not, or the book's {BOOK_PICKLE} (nnfast.datasets.download_mnist(path) "
                    f"fetches the idx files)")
        if path is None:
            where = ("$NNFAST_DATA" if os.environ.get("NNFAST_DATA")
                     else "the default (NNFAST_DATA is not set)")
            problem += f"; no path was given, so this is {where}"
        raise FileNotFoundError(problem)

    arrays = {key: read_idx(file) for key, file in found.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if len(images) != len(labels):
            raise ValueError(f"MNIST {part} set: {len(images)} images but {len(labels)} labels")
        if images.shape[1] != 784:
            raise ValueError(f"MNIST {part} set: images have {images.shape[1]} pixels, "
                             f"expected 784 (28 x 28)")
    if len(arrays["train_images"]) <= _N_TRAIN:
        raise ValueError(f"MNIST training file holds {len(arrays['train_images'])} images; "
                         f"the train/validation split needs more than {_N_TRAIN}")

    X = _scale(arrays["train_images"], dtype)
    y = arrays["train_labels"].astype(np.int64)
    X_test = _scale(arrays["test_images"], dtype)
    y_test = arrays["test_labels"].astype(np.int64)
    return (X[:_N_TRAIN], y[:_N_TRAIN]), (X[_N_TRAIN:], y[_N_TRAIN:]), (X_test, y_test)


def load_bundled_mnist(dtype="float32"):
    """The small MNIST subset shipped with nnfast (no files or network needed).

    It holds the first 10,000 official training images and the first 2,000 official test images;
    see ``nnfast/data/README.md``.

    Parameters
    ----------
    dtype : str or numpy.dtype
        Floating-point type of the pixel arrays.

    Returns
    -------
    ((X_train, y_train), (X_test, y_test))
        X arrays have shape ``(n, 784)`` and hold ``pixel / 256`` in `dtype`; y arrays are int64
        labels 0-9.
    """
    resource = resources.files("nnfast").joinpath("data").joinpath("mnist_subset.npz")
    with resource.open("rb") as f, np.load(f, allow_pickle=False) as archive:
        x_train, y_train = archive["x_train"], archive["y_train"]
        x_test, y_test = archive["x_test"], archive["y_test"]
    return ((_scale(x_train, dtype), y_train.astype(np.int64)),
            (_scale(x_test, dtype), y_test.astype(np.int64)))
