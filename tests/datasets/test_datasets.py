"""nnfast.datasets: the idx reader, the bundled subset and the book's MNIST layout."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from nnfast import datasets
from nnfast.datasets import MNIST_FILES, load_bundled_mnist, load_mnist, read_idx

MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
HAVE_MNIST = all((MNIST_DIR / name).is_file() for name in MNIST_FILES.values())


def needs_mnist(test):
    """Mark a test that reads the real MNIST files; skipped with the reason when they are absent."""
    skip = pytest.mark.skipif(not HAVE_MNIST, reason=f"real MNIST idx files not found in {MNIST_DIR}")
    return pytest.mark.mnist(skip(test))


# ---------------------------------------------------------------- small idx files made here
def idx_images(images):
    images = np.asarray(images, dtype=np.uint8)
    n, rows, cols = images.shape
    return struct.pack(">IIII", 2051, n, rows, cols) + images.tobytes()


def idx_labels(labels):
    labels = np.asarray(labels, dtype=np.uint8)
    return struct.pack(">II", 2049, len(labels)) + labels.tobytes()


@pytest.fixture
def images():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(7, 4, 3), dtype=np.uint8)


@pytest.fixture
def labels():
    return np.array([3, 0, 9, 9, 1, 5, 2], dtype=np.uint8)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_images(tmp_path, images, compress):
    data = idx_images(images)
    path = tmp_path / "images.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    out = read_idx(path)
    assert out.dtype == np.uint8
    assert out.shape == (7, 12)  # (n, rows * cols), each image flattened row by row
    np.testing.assert_array_equal(out, images.reshape(7, 12))
    assert out.flags.writeable and out.flags.c_contiguous


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_labels(tmp_path, labels, compress):
    data = idx_labels(labels)
    path = tmp_path / "labels.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    out = read_idx(str(path))  # str paths work too
    assert out.dtype == np.uint8 and out.shape == (7,)
    np.testing.assert_array_equal(out, labels)


def test_read_idx_detects_gzip_by_content_not_name(tmp_path, labels):
    plain_named_gz = tmp_path / "plain.gz"
    plain_named_gz.write_bytes(idx_labels(labels))
    gz_named_plain = tmp_path / "labels-idx1-ubyte"
    gz_named_plain.write_bytes(gzip.compress(idx_labels(labels)))
    np.testing.assert_array_equal(read_idx(plain_named_gz), labels)
    np.testing.assert_array_equal(read_idx(gz_named_plain), labels)


def test_read_idx_empty_set(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(struct.pack(">IIII", 2051, 0, 28, 28))
    out = read_idx(path)
    assert out.shape == (0, 784) and out.dtype == np.uint8


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("kind", ["images", "labels"])
def test_read_idx_truncated_payload(tmp_path, images, labels, kind, compress):
    data = idx_images(images) if kind == "images" else idx_labels(labels)
    path = tmp_path / "short"
    cut = data[:-5]  # a complete gzip stream of a file that lost its last bytes
    path.write_bytes(gzip.compress(cut) if compress else cut)
    with pytest.raises(ValueError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_trailing_data(tmp_path, labels):
    path = tmp_path / "long"
    path.write_bytes(idx_labels(labels) + b"\x00\x01")
    with pytest.raises(ValueError, match="trailing data"):
        read_idx(path)


def test_read_idx_truncated_gzip_stream(tmp_path, images):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_images(images))[:-12])  # the gzip stream itself is cut short
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_idx(path)


def test_read_idx_corrupt_gzip_stream(tmp_path, images):
    stream = bytearray(gzip.compress(idx_images(images)))
    stream[20:30] = b"\xff" * 10  # damage the deflate data
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(stream))
    with pytest.raises(ValueError):
        read_idx(path)


@pytest.mark.parametrize("magic", [0, 2050, 2052, 0x0803_0000, 3331])
def test_read_idx_bad_magic(tmp_path, magic):
    path = tmp_path / "bad"
    path.write_bytes(struct.pack(">II", magic, 2) + b"\x01\x02")
    with pytest.raises(ValueError, match="magic number"):
        read_idx(path)


def test_read_idx_little_endian_header_is_refused(tmp_path):
    path = tmp_path / "le"
    path.write_bytes(struct.pack("<II", 2049, 2) + b"\x01\x02")
    with pytest.raises(ValueError, match="magic number"):
        read_idx(path)


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x08", struct.pack(">II", 2051, 1) + b"\x00\x00"])
def test_read_idx_short_header(tmp_path, data):
    path = tmp_path / "tiny"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="short|truncated"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing-here")


# ---------------------------------------------------------------- load_mnist errors
def test_load_mnist_missing_directory(tmp_path):
    where = tmp_path / "no-such-dir"
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(where)
    message = str(info.value)
    assert str(where) in message
    for name in MNIST_FILES.values():
        assert name in message


def test_load_mnist_missing_some_files(tmp_path, labels):
    (tmp_path / MNIST_FILES["train_labels"]).write_bytes(gzip.compress(idx_labels(labels)))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_labels(labels))  # uncompressed twin counts
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    lacking = message.split("lacks", 1)[1].split(";", 1)[0]
    assert MNIST_FILES["train_images"] in lacking and MNIST_FILES["test_images"] in lacking
    assert MNIST_FILES["train_labels"] not in lacking and MNIST_FILES["test_labels"] not in lacking


def test_load_mnist_default_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("NNFAST_DATA", str(tmp_path / "from-env"))
    assert datasets.default_data_dir() == tmp_path / "from-env"
    with pytest.raises(FileNotFoundError, match="from-env"):
        load_mnist(download=False)  # (downloading into it: tests/test_download.py)
    monkeypatch.delenv("NNFAST_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets.default_data_dir() == tmp_path / "home" / ".cache" / "nnfast"


# ---------------------------------------------------------------- the bundled subset
@pytest.fixture(scope="module")
def bundled():
    return load_bundled_mnist()


def test_bundled_shapes_and_dtypes(bundled):
    (X, y), (X_test, y_test) = bundled
    assert X.shape == (10_000, 784) and y.shape == (10_000,)
    assert X_test.shape == (2_000, 784) and y_test.shape == (2_000,)
    assert X.dtype == np.float32 and X_test.dtype == np.float32
    assert y.dtype == np.int64 and y_test.dtype == np.int64


def test_bundled_values(bundled):
    for X, y in bundled:
        assert X.min() == 0.0 and X.max() == np.float32(255 / 256)
        pixels = X * 256  # exactly pixel / 256, so this gives back the bytes
        np.testing.assert_array_equal(pixels, np.round(pixels))
        assert set(np.unique(y)) == set(range(10))
        counts = np.bincount(y, minlength=10)
        assert counts.min() > len(y) * 0.07  # every digit is well represented
        ink = (X > 0).mean(axis=1)
        assert 0.05 < ink.mean() < 0.35  # digits, not noise or blank images
    (X, y), _ = bundled
    # The first official training labels (the start of train-labels-idx1-ubyte).
    np.testing.assert_array_equal(y[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])


def test_bundled_float64():
    (X, y), (X_test, y_test) = load_bundled_mnist(dtype="float64")
    assert X.dtype == np.float64 and X_test.dtype == np.float64 and y.dtype == np.int64
    (X32, _), _ = load_bundled_mnist()
    np.testing.assert_array_equal(X, X32.astype(np.float64))


def test_bundled_rejects_integer_dtype():
    with pytest.raises(ValueError, match="floating-point"):
        load_bundled_mnist(dtype="int32")


def test_bundled_file_is_small_and_raw():
    from importlib import resources

    resource = resources.files("nnfast").joinpath("data").joinpath("mnist_subset.npz")
    with resource.open("rb") as f, np.load(f, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["x_test", "x_train", "y_test", "y_train"]
        assert all(archive[key].dtype == np.uint8 for key in archive.files)
    assert len(resource.read_bytes()) < 4_000_000


# ---------------------------------------------------------------- the real files
@pytest.fixture(scope="module")
def mnist():
    return load_mnist(MNIST_DIR)


@needs_mnist
def test_load_mnist_split(mnist):
    (X, y), (X_val, y_val), (X_test, y_test) = mnist
    assert X.shape == (50_000, 784) and y.shape == (50_000,)
    assert X_val.shape == (10_000, 784) and y_val.shape == (10_000,)
    assert X_test.shape == (10_000, 784) and y_test.shape == (10_000,)
    for X_part, y_part in mnist:
        assert X_part.dtype == np.float32 and y_part.dtype == np.int64
        assert X_part.min() == 0.0 and X_part.max() == np.float32(255 / 256)
        assert set(np.unique(y_part)) == set(range(10))


@needs_mnist
def test_load_mnist_matches_the_files(mnist):
    (X, y), (X_val, y_val), (X_test, y_test) = mnist
    train_images = read_idx(MNIST_DIR / MNIST_FILES["train_images"])
    train_labels = read_idx(MNIST_DIR / MNIST_FILES["train_labels"])
    assert train_images.shape == (60_000, 784)
    # validation = the last 10,000 images of the official training file, train = the first 50,000
    np.testing.assert_array_equal(X_val * 256, train_images[-10_000:])
    np.testing.assert_array_equal(y_val, train_labels[-10_000:])
    np.testing.assert_array_equal(X * 256, train_images[:50_000])
    np.testing.assert_array_equal(y, train_labels[:50_000])
    np.testing.assert_array_equal(X_test * 256, read_idx(MNIST_DIR / MNIST_FILES["test_images"]))
    np.testing.assert_array_equal(y_test, read_idx(MNIST_DIR / MNIST_FILES["test_labels"]))


@needs_mnist
def test_bundled_subset_is_the_head_of_the_real_sets(mnist, bundled):
    (X, y), _, (X_test, y_test) = mnist
    (Xb, yb), (Xb_test, yb_test) = bundled
    np.testing.assert_array_equal(Xb, X[:10_000])
    np.testing.assert_array_equal(yb, y[:10_000])
    np.testing.assert_array_equal(Xb_test, X_test[:2_000])
    np.testing.assert_array_equal(yb_test, y_test[:2_000])


@needs_mnist
def test_load_mnist_float64_and_uncompressed(tmp_path):
    # The same data read from uncompressed copies (names without .gz) in float64.
    for key in ("test_images", "test_labels"):
        name = MNIST_FILES[key]
        (tmp_path / name.removesuffix(".gz")).write_bytes(gzip.decompress((MNIST_DIR / name).read_bytes()))
    for key in ("train_images", "train_labels"):
        (tmp_path / MNIST_FILES[key]).symlink_to(MNIST_DIR / MNIST_FILES[key])
    _, _, (X_test, y_test) = load_mnist(tmp_path, dtype="float64")
    assert X_test.dtype == np.float64
    np.testing.assert_array_equal(X_test * 256, read_idx(MNIST_DIR / MNIST_FILES["test_images"]))
    np.testing.assert_array_equal(y_test, read_idx(MNIST_DIR / MNIST_FILES["test_labels"]))
