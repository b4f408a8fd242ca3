"""`nnfast evaluate`, `predict` and `show-errors` on convolutional models saved by
`nnfast train --layers SPEC --save`: on small synthetic images made here, and on the real MNIST
(skipped when ../shared/data is absent). Run in-process through nnfast.cli.main."""

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

import nnfast
from nnfast.cli import main
from nnfast.datasets import MNIST_FILES, load_mnist

from _helpers import cli_error

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
HAVE_MNIST = all((MNIST_DIR / name).is_file() for name in MNIST_FILES.values())
FLIPPED = 3  # test labels made wrong on purpose, so that show-errors has something to draw


def bars(n, channels=1, side=8, seed=0):
    """(n, channels, side, side) images of one bright bar in noise: class 0 a row, 1 a column,
    2 the diagonal; the labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.random((n, channels, side, side)) * 0.3
    where = rng.integers(1, side - 1, n)
    for i, (label, k) in enumerate(zip(y, where)):
        if label == 0:
            X[i, :, k, :] += 0.7
        elif label == 1:
            X[i, :, :, k] += 0.7
        else:
            X[i, :, np.arange(side), np.arange(side)] += 0.7
    return X, y


def bars_file(path, channels=1):
    X, y = bars(300, channels)
    X_test, y_test = bars(60, channels, seed=1)
    y_test[:FLIPPED] = (y_test[:FLIPPED] + 1) % 3
    np.savez(path, x_train=X, y_train=y, x_test=X_test, y_test=y_test)
    return X_test, y_test


def train(argv, capsys):
    assert main(["train", *argv]) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory):
    """A conv net trained and saved by `nnfast train` on the bar images, with its data."""
    folder = tmp_path_factory.mktemp("conv")
    data, model = folder / "bars.npz", folder / "conv.npz"
    X_test, y_test = bars_file(data)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "--data", str(data), "--layers", "conv:4:3,pool:2,flatten,dense:3",
                     "--epochs", "15", "--save", str(model)]) == 0
    final = float(re.search(r"final test accuracy: (\d+\.\d\d)%", out.getvalue())[1])
    return model, data, X_test, y_test, final


def test_saved_conv_model(conv_model):
    model, _, X_test, y_test, final = conv_model
    net = nnfast.load(model)
    assert type(net) is nnfast.Sequential and net.input_shape == (1, 8, 8)
    assert round(100 * net.accuracy(X_test, y_test), 2) == final
    assert final >= 100 * (1 - (FLIPPED + 3) / 60)  # only the flipped labels (and a few) wrong


def test_evaluate_a_conv_model(conv_model, capsys):
    model, data, X_test, y_test, final = conv_model
    assert main(["evaluate", str(model), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    net = nnfast.load(model)
    assert out.startswith(f"{model}: Sequential([Conv2D(4, (3, 3)")
    assert f"the test part of {data}: 60 examples" in out
    correct = round(final * 60 / 100)
    assert f"accuracy: {final:.2f}% ({correct}/60)" in out
    assert f"cost: {net.cost(X_test, y_test, lmbda=0):.4f} (mean log_likelihood" in out
    assert main(["evaluate", str(model), "--data", str(data), "--split", "train"]) == 0
    accuracy = float(re.search(r"accuracy: (\d+\.\d\d)%", capsys.readouterr().out)[1])
    assert accuracy > 95


def test_predict_with_a_conv_model(conv_model, tmp_path, capsys):
    """Images as (n, 8, 8), (n, 1, 8, 8) or flat rows, and a CSV: the same classes as the API."""
    model, _, X_test, _, _ = conv_model
    expected = nnfast.load(model).predict(X_test[:9])
    for name, array in (("images.npy", X_test[:9, 0]), ("channels.npy", X_test[:9]),
                        ("rows.npy", X_test[:9].reshape(9, -1))):
        np.save(tmp_path / name, array)
        assert main(["predict", str(model), str(tmp_path / name)]) == 0
        assert capsys.readouterr().out.split() == [str(c) for c in expected], name
    csv = tmp_path / "rows.csv"
    np.savetxt(csv, X_test[:9].reshape(9, -1), delimiter=",")
    out_file = tmp_path / "classes.npy"
    assert main(["predict", str(model), str(csv), "--out", str(out_file)]) == 0
    assert "wrote 9 predicted classes" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(out_file), expected)


def test_show_errors_of_a_conv_model(conv_model, tmp_path, capsys):
    model, data, X_test, y_test, _ = conv_model
    wrong = int(np.sum(nnfast.load(model).predict(X_test) != y_test))
    assert wrong >= FLIPPED
    errors = tmp_path / "errors.png"
    assert main(["show-errors", str(model), "--data", str(data), "--out", str(errors)]) == 0
    out = capsys.readouterr().out
    assert f"the test part of {data}: {wrong} of 60 examples misclassified" in out
    assert f"drew {wrong} of them into {errors}" in out
    assert errors.read_bytes().startswith(PNG_SIGNATURE)


def test_colour_images(tmp_path, capsys):
    """Three channels: --input-shape when training; show-errors draws them in colour."""
    data, model, errors = tmp_path / "rgb.npz", tmp_path / "rgb-model.npz", tmp_path / "rgb.png"
    bars_file(data, channels=3)
    out = train(["--data", str(data), "--layers", "conv:4:3,pool:2,flatten,dense:3",
                 "--input-shape", "3,8,8", "--epochs", "10", "--save", str(model)], capsys)
    assert "input_shape=(3, 8, 8)" in out
    assert main(["show-errors", str(model), "--data", str(data), "--out", str(errors)]) == 0
    assert "misclassified" in capsys.readouterr().out
    assert errors.read_bytes().startswith(PNG_SIGNATURE)


def test_data_that_does_not_fit_a_conv_model(conv_model, tmp_path, capsys):
    model, data, *_ = conv_model
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((2, 65)))
    message = cli_error(capsys, ["predict", str(model), str(wide)], quiet=True)
    assert message == (f"nnfast: error: {wide} has 65 features per row but the model's input "
                       "layer takes 64 (1x8x8 images)")
    labels = tmp_path / "labels.npz"
    np.savez(labels, X=np.zeros((4, 64)), y=np.array([0, 1, 2, 5]))
    message = cli_error(capsys, ["evaluate", str(model), "--data", str(labels)], quiet=True)
    assert "labels up to 5 but the model has only 3 output units" in message
    errors = tmp_path / "e.png"
    four_channels = tmp_path / "four.npz"
    X, y = bars(60, channels=4, side=4)
    np.savez(four_channels, X=X, y=y)
    train(["--data", str(four_channels), "--layers", "conv:2:3,flatten,dense:3", "--input-shape",
           "4,4,4", "--epochs", "1", "--save", str(tmp_path / "four-model.npz")], capsys)
    message = cli_error(capsys, ["show-errors", str(tmp_path / "four-model.npz"), "--data",
                                 str(four_channels), "--out", str(errors)], quiet=True)
    assert message == ("nnfast: error: show-errors draws grey or colour images (1 or 3 channels); "
                       "the model's are 4x4x4")
    assert not errors.exists()


@pytest.mark.mnist
@pytest.mark.skipif(not HAVE_MNIST, reason=f"real MNIST idx files not found in {MNIST_DIR}")
def test_conv_net_on_real_mnist(tmp_path, capsys):
    """A conv net trained by the command line on 2,000 real MNIST images for one epoch, then
    evaluated on the 10,000 test images, used for predictions and for drawing its errors."""
    (X, y), _, (X_test, y_test) = load_mnist(MNIST_DIR, dtype="float32")
    data, model = tmp_path / "mnist-2000.npz", tmp_path / "mnist-conv.npz"
    np.savez(data, x_train=X[:2000], y_train=y[:2000], x_test=X_test[:500], y_test=y_test[:500])
    out = train(["--data", str(data), "--layers", "conv:20:5,pool:2,flatten,dense:100,dense:10",
                 "--epochs", "1", "--save", str(model)], capsys)
    assert "input_shape=(1, 28, 28), cost='log_likelihood'" in out

    assert main(["evaluate", str(model), "--data", str(MNIST_DIR)]) == 0
    out = capsys.readouterr().out
    assert f"the test part of MNIST from {MNIST_DIR}: 10000 examples" in out
    accuracy = float(re.search(r"accuracy: (\d+\.\d\d)%", out)[1])
    assert accuracy > 75  # chance: 10% (84.33% here)

    images = tmp_path / "digits.npy"
    np.save(images, np.round(X_test[:20] * 256).astype(np.uint8).reshape(20, 28, 28))
    assert main(["predict", str(model), str(images)]) == 0
    predicted = [int(c) for c in capsys.readouterr().out.split()]
    assert predicted == nnfast.load(model).predict(X_test[:20]).tolist()
    assert np.mean(np.array(predicted) == y_test[:20]) >= 0.7

    errors = tmp_path / "errors.png"
    assert main(["show-errors", str(model), "--data", str(MNIST_DIR), "--out", str(errors),
                 "--count", "16"]) == 0
    out = capsys.readouterr().out
    wrong = int(re.search(r"(\d+) of 10000 examples misclassified", out)[1])
    assert wrong == round(10000 * (1 - accuracy / 100))
    assert f"drew 16 of them into {errors}" in out
    assert errors.read_bytes().startswith(PNG_SIGNATURE) and errors.stat().st_size > 10_000
