"""`nnfast train` outputs (--save, --json, --plot, progress bar), `evaluate`, `predict`, `show-errors`
and the generic --data files, run in-process through nnfast.cli.main on the bundled subset or on
small files made here."""

import io
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import nnfast
from nnfast.cli import main
from nnfast.datasets import load_bundled_mnist

from _helpers import cli_error

SMALL = ["--epochs", "1", "--layers", "784,16,10"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


run_error = cli_error  # (capsys, argv): the one stderr line of a refused command


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small network trained by `nnfast train --save --json` on the bundled subset."""
    folder = tmp_path_factory.mktemp("trained")
    model, history = folder / "model.npz", folder / "history.json"
    out = io.StringIO()
    stdout, sys.stdout = sys.stdout, out
    try:
        assert main(["train", "--epochs", "2", "--layers", "784,20,10", "--save", str(model),
                     "--json", str(history)]) == 0
    finally:
        sys.stdout = stdout
    return model, history, out.getvalue()


@pytest.fixture(scope="module")
def bundled():
    return load_bundled_mnist()


def test_train_save_and_json(trained, bundled):
    model, history_file, out = trained
    assert f"saved the network to {model}" in out and f"saved the history to {history_file}" in out
    net = nnfast.load(model)
    assert net.sizes == [784, 20, 10]
    history = nnfast.History.load(history_file)
    assert history.epoch == [1, 2] and len(history.validation_accuracy) == 2
    final = float(re.search(r"final test accuracy: (\d+\.\d\d)%", out)[1])
    _, (X_test, y_test) = bundled
    assert round(100 * net.accuracy(X_test, y_test), 2) == final
    assert round(100 * history.validation_accuracy[-1], 2) == final
    assert json.loads(history_file.read_text())["epoch"] == [1, 2]


def test_evaluate_matches_the_api(trained, bundled, capsys):
    model = trained[0]
    assert main(["evaluate", str(model)]) == 0
    out = capsys.readouterr().out
    net = nnfast.load(model)
    _, (X_test, y_test) = bundled
    accuracy = net.accuracy(X_test, y_test)
    assert f"accuracy: {100 * accuracy:.2f}% ({round(accuracy * 2000)}/2000)" in out
    assert f"cost: {net.cost(X_test, y_test, lmbda=0):.4f}" in out
    assert "the test part of the bundled MNIST subset: 2000 examples" in out
    assert main(["evaluate", str(model), "--split", "train"]) == 0
    assert "the train part of the bundled MNIST subset: 10000 examples" in capsys.readouterr().out


def test_predict_prints_and_writes(trained, bundled, tmp_path, capsys):
    model = trained[0]
    net = nnfast.load(model)
    _, (X_test, _) = bundled
    expected = net.predict(X_test[:7])
    raw = np.round(X_test[:7] * 256).astype(np.uint8)  # 0-255 pixels: divided by 256 ('auto')
    images = tmp_path / "images.npy"
    np.save(images, raw.reshape(7, 28, 28))  # images are flattened to rows
    assert main(["predict", str(model), str(images)]) == 0
    assert capsys.readouterr().out.split() == [str(c) for c in expected]

    rows = tmp_path / "rows.npy"
    np.save(rows, X_test[:7])  # float features: used as they are
    out_npy, out_txt = tmp_path / "classes.npy", tmp_path / "classes.txt"
    assert main(["predict", str(model), str(rows), "--out", str(out_npy)]) == 0
    assert main(["predict", str(model), str(rows), "--out", str(out_txt)]) == 0
    assert "wrote 7 predicted classes" in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(out_npy), expected)
    assert out_txt.read_text().split() == [str(c) for c in expected]

    one = tmp_path / "one.npy"
    np.save(one, X_test[3])  # a single example (784,)
    assert main(["predict", str(model), str(one)]) == 0
    assert capsys.readouterr().out.split() == [str(expected[3])]
    for shape in ((28, 28), (1, 28, 28)):  # a single image: one example, not 28 rows
        np.save(one, raw[3].reshape(shape))
        assert main(["predict", str(model), str(one)]) == 0
        assert capsys.readouterr().out.split() == [str(expected[3])]


def test_predict_csv_with_label_column(trained, bundled, tmp_path, capsys):
    model = trained[0]
    net = nnfast.load(model)
    _, (X_test, y_test) = bundled
    csv = tmp_path / "digits.csv"
    pixels = np.round(X_test[:5] * 256).astype(int)
    lines = ["label," + ",".join(f"p{i}" for i in range(784))]
    lines += [f"{label}," + ",".join(map(str, row)) for label, row in zip(y_test[:5], pixels)]
    csv.write_text("\n".join(lines) + "\n")
    message = run_error(capsys, ["predict", str(model), str(csv)])
    assert "785 features per row" in message and "--label-column" in message
    assert main(["predict", str(model), str(csv), "--label-column", "label", "--scale", "256"]) == 0
    assert capsys.readouterr().out.split() == [str(c) for c in net.predict(X_test[:5])]


def test_train_progress_bar_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setattr("nnfast._progress._REDRAW_SECONDS", 0.0)  # draw every update
    assert main(["train", "--epochs", "2", "--layers", "784,8,10"]) == 0
    text = screen.getvalue()
    bars = re.findall(r"\repoch +(\d)/2 \[[#.]{30}\] +\d+% (\d+)/1000 batches", text)
    assert {epoch for epoch, _ in bars} == {"1", "2"}
    assert max(int(done) for _, done in bars) >= 950 and len(bars) >= 60  # about 40 per epoch
    lines = text.replace("\r", "\n").splitlines()
    assert len([line for line in lines if re.match(r"epoch +\d/2 +\d+\.\d\ds", line)]) == 2


def test_train_plain_lines_when_not_a_terminal(capsys):
    assert main(["train"] + SMALL) == 0
    out = capsys.readouterr().out
    assert "\r" not in out and "[#" not in out


def test_progress_bar_does_not_change_the_result(monkeypatch, capsys):
    assert main(["train", "--seed", "4", "--dtype", "float64"] + SMALL) == 0
    plain = re.search(r"final test accuracy: .*\)", capsys.readouterr().out)[0]
    screen = io.StringIO()
    screen.isatty = lambda: True
    monkeypatch.setattr(sys, "stdout", screen)
    assert main(["train", "--seed", "4", "--dtype", "float64"] + SMALL) == 0
    assert re.search(r"final test accuracy: .*\)", screen.getvalue())[0] == plain


def test_train_validation_split(capsys):
    assert main(["train", "--validation-split", "0.1"] + SMALL) == 0
    out = capsys.readouterr().out
    assert "(9000 train, 1000 validation, 2000 test)" in out
    assert re.search(r"^epoch +1/1 .* validation acc \d+\.\d\d%$", out, re.MULTILINE)
    assert "final validation accuracy" in out and "(" in out
    assert re.search(r"final test accuracy: [\d.]+% \(\d+/2000\)", out)


def test_train_api_options_reach_the_network(capsys):
    assert main(["train", "--epochs", "1", "--layers", "784,16,10", "--activation", "relu,softmax",
                 "--cost", "log_likelihood", "--optimizer", "adam", "--eta", "0.002",
                 "--dropout", "0.2", "--init", "he", "--regularization", "l1", "--lmbda", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "dropout=[0.2]" in out and "optimizer adam" in out and "lmbda 0.1" in out
    assert float(re.search(r"final test accuracy: (\d+\.\d\d)%", out)[1]) > 70


@pytest.fixture
def blobs():
    """Three well separated classes in 5 features."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 60)
    X = rng.normal(size=(180, 5)) * 0.3 + np.eye(3, 5)[y] * 3
    order = rng.permutation(180)
    return X[order], y[order]


def test_train_and_evaluate_on_files(blobs, tmp_path, capsys):
    X, y = blobs
    npz = tmp_path / "blobs.npz"
    np.savez(npz, features=X, labels=y)
    csv_last = tmp_path / "blobs.csv"
    np.savetxt(csv_last, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,e,class",
               comments="")
    npy, labels = tmp_path / "X.npy", tmp_path / "y.txt"
    np.save(npy, X)
    labels.write_text("\n".join(map(str, y)) + "\n")
    model = tmp_path / "blobs-model.npz"
    common = ["--epochs", "20", "--eta", "1", "--validation-split", "0.25", "--quiet"]
    accuracies = []
    for data in (["--data", str(npz)], ["--data", str(csv_last), "--label-column", "class"],
                 ["--data", str(csv_last), "--label-column", "-1"],
                 ["--data", str(npy), "--labels", str(labels)]):
        assert main(["train", *data, *common, "--save", str(model)]) == 0
        out = capsys.readouterr().out
        assert "final validation accuracy" in out
        accuracies.append(float(re.search(r"validation accuracy: (\d+\.\d\d)%", out)[1]))
    assert min(accuracies) > 90 and len(set(accuracies)) == 1  # same data, same seed, same result
    assert nnfast.load(model).sizes == [5, 100, 3]  # the data's features and classes
    assert main(["evaluate", str(model), "--data", str(npz)]) == 0
    out = capsys.readouterr().out
    assert f"{npz}: 180 examples" in out
    assert float(re.search(r"accuracy: (\d+\.\d\d)%", out)[1]) > 90


def test_keras_style_npz_splits(bundled, tmp_path, capsys):
    (X, y), (X_test, y_test) = bundled
    npz = tmp_path / "mnist-small.npz"
    np.savez(npz, x_train=np.round(X[:2000] * 256).astype(np.uint8).reshape(-1, 28, 28),
             y_train=y[:2000], x_test=np.round(X_test[:500] * 256).astype(np.uint8), y_test=y_test[:500])
    assert main(["train", "--data", str(npz), "--epochs", "3", "--layers", "784,30,10"]) == 0
    out = capsys.readouterr().out
    assert f"training on {npz} (2000 train, 500 test)" in out
    assert float(re.search(r"final test accuracy: (\d+\.\d\d)% \(\d+/500\)", out)[1]) > 75


def test_train_plot_and_show_errors(trained, tmp_path, capsys):
    curves = tmp_path / "curves.png"
    assert main(["train", "--plot", str(curves)] + SMALL) == 0
    assert f"plotted the curves to {curves}" in capsys.readouterr().out
    assert curves.read_bytes().startswith(PNG_SIGNATURE) and curves.stat().st_size > 10_000

    errors = tmp_path / "errors.png"
    assert main(["show-errors", str(trained[0]), "--out", str(errors), "--count", "12"]) == 0
    out = capsys.readouterr().out
    wrong = int(re.search(r"(\d+) of 2000 examples misclassified", out)[1])
    assert 0 < wrong < 400
    assert f"drew 12 of them into {errors}" in out
    assert errors.read_bytes().startswith(PNG_SIGNATURE) and errors.stat().st_size > 10_000


@pytest.mark.parametrize("argv", [["train", "--plot", "curves.png"],
                                  ["show-errors", "MODEL", "--out", "errors.png"]])
def test_missing_matplotlib_is_one_clear_line(argv, trained, monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    monkeypatch.chdir(tmp_path)
    argv = [str(trained[0]) if a == "MODEL" else a for a in argv]
    message = run_error(capsys, argv)
    assert "needs matplotlib" in message and "pip install 'nnfast[plot]'" in message
    assert list(tmp_path.iterdir()) == []


def test_user_errors_of_the_new_commands(trained, blobs, tmp_path, capsys):
    model = str(trained[0])
    wide = tmp_path / "wide.npy"
    np.save(wide, np.zeros((3, 10)))
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("1,2,3\n4,five,6\n")
    good_csv = tmp_path / "good.csv"
    good_csv.write_text("1,2,3\n4,5,6\n")
    labelled = tmp_path / "blobs.npz"
    np.savez(labelled, X=blobs[0], y=blobs[1])
    cases = [
        (["evaluate", str(tmp_path / "none.npz")], "not found"),
        (["evaluate", str(text)], "not an nnfast model file"),
        (["predict", model, str(tmp_path / "none.npy")], "no such file"),
        (["predict", model, str(wide)], "10 features per row but the model's input layer takes 784"),
        (["predict", model, str(text)], "unknown data file type"),
        (["evaluate", model, "--data", str(labelled)], "5 features per row"),
        (["evaluate", model, "--data", str(wide)], "labels"),
        (["evaluate", model, "--data", str(bad_csv)], "not a CSV file of numbers"),
        (["evaluate", model, "--split", "validation"], "no validation part"),
        (["evaluate", model, "--scale", "zero"], "--scale"),
        (["show-errors", model, "--count", "0"], "--count"),
        (["show-errors", model, "--data", str(labelled)], "5 features per row"),
        (["train", "--data", str(labelled), "--layers", "784,30,10"], "must start with 5"),
        (["train", "--data", str(labelled), "--layers", "5,30,10"], "must end with 3"),
        (["train", "--data", str(labelled), "--early-stopping", "3"], "needs a validation set"),
        (["train", "--data", str(good_csv), "--label-column", "9"], "out of range"),
        (["train", "--data", str(labelled), "--label-column", "1"], "applies to .csv"),
        (["train", "--data", str(labelled), "--labels", str(text)], "applies to .npy"),
        (["train", "--data", str(wide)], "give the labels' file too"),
        (["train", "--label-column", "1"], "apply to --data files"),
        (["train", "--validation-split", "1"], "--validation-split"),
        (["train", "--save", str(tmp_path / "no" / "m.npz")], "does not exist"),
        (["train", "--json", str(tmp_path)], "is a directory"),
        (["train", "--optimizer", "lbfgs"], "lbfgs"),
        (["train", "--dropout", "1.5"], "dropout"),
        (["train", "--schedule", "cosine"], "choose constant, inverse_time"),
        (["train", "--schedule", "inverse_time:0.5"], "tau must be a number >= 1"),
        (["train", "--schedule", "halve_on_plateau:x"], "--schedule halve_on_plateau:x"),
        (["train", "--data", str(labelled), "--schedule", "halve_on_plateau"],
         "needs a validation set"),
    ]
    for argv, expected in cases:
        assert expected in run_error(capsys, argv), argv


def test_train_with_a_schedule(tmp_path, capsys):
    """--schedule inverse_time:1 gives eta / epoch (in the history); halve_on_plateau runs."""
    history = tmp_path / "history.json"
    assert main(["train", "--epochs", "3", "--layers", "784,16,10", "--eta", "0.6",
                 "--schedule", "inverse_time:1", "--json", str(history), "--quiet"]) == 0
    assert nnfast.History.load(history).eta == pytest.approx([0.6, 0.3, 0.2])
    assert main(["train", "--epochs", "2", "--layers", "784,16,10", "--validation-split", "0.2",
                 "--schedule", "halve_on_plateau:1"]) == 0
    assert "schedule halve_on_plateau:1" in capsys.readouterr().out


@pytest.fixture
def four_features_csv(tmp_path):
    """A CSV of 4 features and its labels (0 to 2) in the first column."""
    def write(labels):
        path = tmp_path / "four.csv"
        rows = [f"{label},{i},{i + 1},{i + 2},{i + 3}" for i, label in enumerate(labels)]
        path.write_text("\n".join(rows) + "\n")
        return str(path)
    return write


def test_absurd_label_is_refused_before_allocating(four_features_csv, monkeypatch, capsys):
    """A label of 1e9 would make the classes 0 to 1e9: one clear line naming the column, no
    MemoryError traceback, nothing allocated (the network is never built)."""
    import nnfast.network

    def never(*args, **kwargs):
        raise AssertionError("the network was built")
    monkeypatch.setattr(nnfast.network.Network, "__init__", never)
    csv = four_features_csv([0, 1, 2, 1000000000])
    message = run_error(capsys, ["train", "--data", csv, "--epochs", "1"])
    assert "1000000000" in message and "--label-column 0" in message and "4 rows" in message


def test_layers_too_large_for_memory(four_features_csv, monkeypatch, capsys):
    from nnfast.cli import train as cli_train

    monkeypatch.setattr(cli_train, "_physical_memory", lambda: 16 * 2**30)
    message = run_error(capsys, ["train", "--data", four_features_csv([0, 1, 2, 0]),
                                 "--layers", "4,1000000000,3"])
    assert message.startswith("nnfast: error: --layers 4,1000000000,3: 8,000,000,003 parameters")
    assert "memory" in message and "16.0 GiB" in message
    assert capsys.readouterr().out == ""  # refused before the data was read
    # the default layers (features, 100, classes) are checked too
    monkeypatch.setattr(cli_train, "_physical_memory", lambda: 4096)
    message = run_error(capsys, ["train", "--data", four_features_csv([0, 1, 2, 0])])
    assert "the layers (default: features, 100, classes) 4,100,3" in message


def test_unexpected_failure_is_one_line(four_features_csv, monkeypatch, capsys):
    """Anything a command did not foresee (here a MemoryError from training) is one line, exit 2."""
    import nnfast.network

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 29.8 GiB for an array\nwith shape (8000000003,)")
    monkeypatch.setattr(nnfast.network.Network, "fit", out_of_memory)
    message = run_error(capsys, ["train", "--data", four_features_csv([0, 1, 2, 0]), "--quiet"])
    assert message == ("nnfast: error: out of memory: Unable to allocate 29.8 GiB for an array "
                       "with shape (8000000003,)")
    monkeypatch.setattr(nnfast.network.Network, "fit", lambda *a, **k: {}["missing"])
    assert run_error(capsys, ["train", "--data", four_features_csv([0, 1, 2, 0]), "--quiet"]) == (
        "nnfast: error: KeyError: 'missing'")


@pytest.mark.parametrize("command, options", [
    ("train", ["--save", "--plot", "--json", "--data", "--validation-split", "--optimizer",
               "--dropout", "--label-column", "--labels", "--scale"]),
    ("evaluate", ["--data", "--split", "--label-column", "--backend"]),
    ("predict", ["--out", "--label-column", "--scale"]),
    ("show-errors", ["--out", "--count", "--data", "--split"]),
])
def test_help_of_each_command(command, options, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in options:
        assert option in out
    with pytest.raises(SystemExit):
        main(["--help"])
    assert command in capsys.readouterr().out


def test_data_mnist_offline_is_a_clear_error(monkeypatch, tmp_path, capsys):
    """--data mnist with an empty cache and no reachable mirror (conftest points the mirrors at a
    closed port): the download's progress lines, then one error line naming the mirror, exit 2."""
    monkeypatch.setenv("NNFAST_DATA", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", "mnist", "--epochs", "1"])
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    last = err.splitlines()[-1]
    assert last.startswith("nnfast: error: could not download train-images-idx3-ubyte.gz")
    assert "connection refused" in last and "/no-downloads-in-tests/" in last
    assert [p for p in (tmp_path / "cache").iterdir()] == []


MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


@pytest.mark.mnist
@pytest.mark.skipif(not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason=f"real MNIST idx files not found in {MNIST_DIR}")
def test_data_mnist_from_the_cache(trained, monkeypatch, capsys):
    monkeypatch.setenv("NNFAST_DATA", str(MNIST_DIR))
    assert main(["evaluate", str(trained[0]), "--data", "mnist"]) == 0
    out = capsys.readouterr().out
    assert f"the test part of MNIST from {MNIST_DIR}: 10000 examples" in out
    assert float(re.search(r"accuracy: (\d+\.\d\d)%", out)[1]) > 85
    assert main(["evaluate", str(trained[0]), "--data", "mnist", "--split", "validation"]) == 0
    assert "the validation part of MNIST" in capsys.readouterr().out
