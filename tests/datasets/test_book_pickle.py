"""The book's mnist.pkl.gz: read without running code from the file."""

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from nnfast.datasets import BOOK_PICKLE, load_mnist, MNIST_FILES
from nnfast.datasets.bookpickle import read_book_pickle

MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


def book_split(rng, sizes=(12, 5, 6)):
    return tuple((rng.integers(0, 256, (n, 784)).astype(np.float32) / 256,
                  rng.integers(0, 10, n).astype(np.int64)) for n in sizes)


def write(path, obj, protocol=2, compress=True):
    data = pickle.dumps(obj, protocol=protocol)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("compress", [True, False])
def test_reads_a_book_style_pickle(tmp_path, protocol, compress):
    parts = book_split(np.random.default_rng(0))
    got = read_book_pickle(write(tmp_path / "m.pkl.gz", parts, protocol, compress))
    for (X, y), (Xg, yg) in zip(parts, got):
        np.testing.assert_array_equal(X, Xg)
        np.testing.assert_array_equal(y, yg)
        assert yg.dtype == np.int64


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize("payload", [Boom(), (Boom(), 1), {"a": Boom()}])
def test_refuses_anything_but_numpy_arrays_before_calling_it(tmp_path, payload, monkeypatch):
    path = write(tmp_path / "evil.pkl.gz", payload)
    called = []
    monkeypatch.setattr(os, "system", lambda *a: called.append(a))
    with pytest.raises(ValueError, match="refusing (posix|nt|os).system"):
        read_book_pickle(path)
    assert not called


def test_refuses_object_arrays(tmp_path):
    X = np.empty((2, 784), dtype=object)
    X[:] = 0.5
    parts = ((X, np.zeros(2, np.int64)),) * 3
    with pytest.raises(ValueError):
        read_book_pickle(write(tmp_path / "obj.pkl.gz", parts))


@pytest.mark.parametrize("mutate, match", [
    (lambda p: p[:2], "train, validation, test"),
    (lambda p: ((p[0][0][:, :10], p[0][1]),) + p[1:], "784"),
    (lambda p: ((p[0][0], p[0][1][:-1]),) + p[1:], "one per row"),
    (lambda p: ((p[0][0], p[0][1] + 10),) + p[1:], "0-9"),
    (lambda p: ((p[0][0], p[0][1].astype(np.float64)),) + p[1:], "integers"),
    (lambda p: ((np.where(p[0][0] > 0.5, np.nan, p[0][0]), p[0][1]),) + p[1:], "NaN"),
])
def test_checks_the_arrays(tmp_path, mutate, match):
    parts = mutate(book_split(np.random.default_rng(1)))
    with pytest.raises(ValueError, match=match):
        read_book_pickle(write(tmp_path / "bad.pkl.gz", parts))


@pytest.mark.parametrize("data", [b"", b"\x1f\x8b\x08garbage", b"not a pickle at all"])
def test_unreadable_files_are_a_clear_error(tmp_path, data):
    (tmp_path / "x.pkl.gz").write_bytes(data)
    with pytest.raises(ValueError, match="not a readable MNIST pickle"):
        read_book_pickle(tmp_path / "x.pkl.gz")


def test_truncated_file_is_a_clear_error(tmp_path):
    path = write(tmp_path / "m.pkl.gz", book_split(np.random.default_rng(2)))
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ValueError, match="not a readable MNIST pickle"):
        read_book_pickle(path)


def test_load_mnist_falls_back_to_the_pickle(tmp_path):
    parts = book_split(np.random.default_rng(3))
    write(tmp_path / BOOK_PICKLE, parts)
    got = load_mnist(tmp_path, dtype="float64")
    for (X, y), (Xg, yg) in zip(parts, got):
        assert Xg.dtype == np.float64
        np.testing.assert_array_equal(X, Xg)
        np.testing.assert_array_equal(y, yg)


def test_load_mnist_default_cache_with_only_the_pickle_does_not_download(tmp_path, monkeypatch):
    write(tmp_path / BOOK_PICKLE, book_split(np.random.default_rng(4)))
    monkeypatch.setenv("NNFAST_DATA", str(tmp_path))
    monkeypatch.setattr("nnfast.datasets.download_mnist",
                        lambda *a, **k: pytest.fail("must not download"))
    (X, _), _, _ = load_mnist()
    assert X.shape == (12, 784)


@pytest.mark.skipif(not (MNIST_DIR / BOOK_PICKLE).is_file(),
                    reason=f"the book's {BOOK_PICKLE} not found in {MNIST_DIR}")
def test_the_real_book_pickle_equals_the_idx_files(tmp_path):
    (tmp_path / BOOK_PICKLE).symlink_to(MNIST_DIR / BOOK_PICKLE)
    from_pickle = load_mnist(tmp_path)
    if not all((MNIST_DIR / name).is_file() for name in MNIST_FILES.values()):
        pytest.skip("the idx files to compare with are absent")
    from_idx = load_mnist(MNIST_DIR)
    for (X, y), (Xi, yi) in zip(from_pickle, from_idx):
        assert X.shape == Xi.shape and X.dtype == np.float32
        np.testing.assert_array_equal(X, Xi)
        np.testing.assert_array_equal(y, yi)
