"""nnfast.datasets.load_data / load_features / train_validation_split on small files made here."""

import numpy as np
import pytest

from nnfast.datasets import load_data, load_features, train_validation_split


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    return rng.random((12, 4)), rng.integers(0, 3, 12)


@pytest.mark.parametrize("keys", [("X", "y"), ("x", "y"), ("features", "labels"), ("data", "targets")])
def test_npz_keys(tmp_path, data, keys):
    X, y = data
    path = tmp_path / "d.npz"
    np.savez(path, **{keys[0]: X, keys[1]: y})
    X_read, y_read = load_data(path, dtype="float64")
    np.testing.assert_array_equal(X_read, X)
    np.testing.assert_array_equal(y_read, y)
    assert X_read.dtype == np.float64 and y_read.dtype == np.int64
    assert load_data(path)[0].dtype == np.float32  # the default dtype


def test_npz_splits_images_and_uint8_scaling(tmp_path):
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    path = tmp_path / "keras.npz"
    np.savez(path, x_train=images, y_train=[1, 0], x_test=images[:1], y_test=[4])
    X, y = load_data(path, dtype="float64")
    assert X.shape == (2, 9)  # images flattened row by row
    np.testing.assert_array_equal(X * 256, images.reshape(2, 9))  # uint8 -> pixel / 256
    X_test, y_test = load_data(path, split="test")
    assert X_test.shape == (1, 9) and y_test.tolist() == [4]
    X_raw, _ = load_data(path, dtype="float64", scale=1)
    np.testing.assert_array_equal(X_raw, images.reshape(2, 9))
    with pytest.raises(ValueError, match="no 'validation' split"):
        load_data(path, split="validation")


def test_one_hot_labels(tmp_path, data):
    X, y = data
    path = tmp_path / "d.npz"
    np.savez(path, X=X, y=np.eye(3)[y])
    np.testing.assert_array_equal(load_data(path)[1], y)
    np.savez(path, X=X, y=np.full((12, 3), 0.5))
    with pytest.raises(ValueError, match="one-hot"):
        load_data(path)


def test_csv_label_column(tmp_path, data):
    X, y = data
    first = tmp_path / "first.csv"
    np.savetxt(first, np.column_stack([y, X]), delimiter=",")
    last = tmp_path / "last.csv"
    np.savetxt(last, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,kind", comments="")
    for path, column in ((first, 0), (last, -1), (last, "kind"), (last, 4), (last, "4")):
        X_read, y_read = load_data(path, dtype="float64", label_column=column)
        np.testing.assert_allclose(X_read, X, rtol=1e-15)
        np.testing.assert_array_equal(y_read, y)
    with pytest.raises(ValueError, match="no column named 'label'.*a, b, c, d, kind"):
        load_data(last, label_column="label")
    with pytest.raises(ValueError, match="out of range"):
        load_data(first, label_column=5)
    with pytest.raises(ValueError, match="whole class numbers"):
        load_data(first, label_column=1)  # a column of fractions is not labels


def test_npy_with_labels_file(tmp_path, data):
    X, y = data
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "y.txt").write_text("\n".join(map(str, y)))
    for labels in ("y.npy", "y.txt"):
        X_read, y_read = load_data(tmp_path / "X.npy", labels=tmp_path / labels, dtype="float64")
        np.testing.assert_array_equal(X_read, X)
        np.testing.assert_array_equal(y_read, y)
    with pytest.raises(ValueError, match="labels"):
        load_data(tmp_path / "X.npy")
    np.save(tmp_path / "short.npy", y[:5])
    with pytest.raises(ValueError, match="12 examples but 5 labels"):
        load_data(tmp_path / "X.npy", labels=tmp_path / "short.npy")


@pytest.mark.parametrize("content, message", [
    (b"hello", "not a readable .npz"),
])
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        load_data(path)


def test_refusals(tmp_path, data):
    X, y = data
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_data(tmp_path / "missing.csv")
    (tmp_path / "d.json").write_text("{}")
    with pytest.raises(ValueError, match="unknown data file type '.json'"):
        load_data(tmp_path / "d.json")
    np.savez(tmp_path / "nolabels.npz", X=X)
    with pytest.raises(ValueError, match="no labels in the archive"):
        load_data(tmp_path / "nolabels.npz")
    np.savez(tmp_path / "obj.npz", X=np.array([{"a": 1}], dtype=object), y=[0])
    with pytest.raises(ValueError, match="pickle"):
        load_data(tmp_path / "obj.npz")
    np.savez(tmp_path / "neg.npz", X=X, y=-y - 1)
    with pytest.raises(ValueError, match=">= 0"):
        load_data(tmp_path / "neg.npz")
    bad = X.copy()
    bad[2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=bad, y=y)
    with pytest.raises(ValueError, match="NaN"):
        load_data(tmp_path / "nan.npz")
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n")
    with pytest.raises(ValueError, match="ragged.csv"):
        load_data(tmp_path / "ragged.csv")
    with pytest.raises(ValueError, match="floating-point"):
        load_data(tmp_path / "neg.npz", dtype="int32")
    with pytest.raises(ValueError, match="scale"):
        load_data(tmp_path / "neg.npz", scale=0)


def test_load_features(tmp_path, data):
    X, y = data
    np.save(tmp_path / "one.npy", X[0])
    assert load_features(tmp_path / "one.npy").shape == (1, 4)
    np.savetxt(tmp_path / "f.csv", np.column_stack([y, X]), delimiter=",")
    assert load_features(tmp_path / "f.csv").shape == (12, 5)
    np.testing.assert_allclose(load_features(tmp_path / "f.csv", dtype="float64", label_column=0), X,
                               rtol=1e-15)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    np.testing.assert_array_equal(load_features(tmp_path / "d.npz", dtype="float64"), X)


def test_train_validation_split(data):
    X, y = data
    (X_train, y_train), (X_val, y_val) = train_validation_split(X, y, 0.25, seed=1)
    assert len(X_val) == 3 and len(X_train) == 9
    # A partition of the rows, with each row still next to its label.
    rows = {tuple(row) + (label,) for row, label in zip(X, y)}
    parts = [tuple(row) + (label,) for row, label in zip(np.vstack([X_train, X_val]),
                                                         np.concatenate([y_train, y_val]))]
    assert sorted(parts) == sorted(rows)
    again = train_validation_split(X, y, 0.25, seed=1)
    np.testing.assert_array_equal(again[1][0], X_val)
    other = train_validation_split(X, y, 0.25, seed=2)
    assert not np.array_equal(other[1][0], X_val)
    original = X.copy()
    X_train[...] = 0
    np.testing.assert_array_equal(X, original)  # the parts are copies
    for fraction in (0, 1, 1.5, -0.1, 0.01, True, "0.1"):
        with pytest.raises(ValueError):
            train_validation_split(X, y, fraction)
    with pytest.raises(ValueError, match="12 rows but y has 11"):
        train_validation_split(X, y[:11], 0.5)
