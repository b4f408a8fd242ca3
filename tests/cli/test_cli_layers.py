"""`nnfast train --layers SPEC`: the layer-spec syntax (convolutional and other Sequential models
from the command line), its defaults, its one-line errors, and the plain form N,N,... beside it.
Run in-process through nnfast.cli.main on the bundled subset or on small files made here."""

import re

import numpy as np
import pytest

import nnfast
from nnfast.cli import main
from nnfast.datasets import load_bundled_mnist

from _helpers import cli_error

CHAPTER6 = "conv:20:5,pool:2,conv:40:5,pool:2,flatten,dense:100,dropout:0.5,dense:10"
SMALL_CONV = "conv:8:5,pool:2,flatten,dense:10"


def run_error(capsys, argv):
    """The one stderr line of a command refused before it printed anything."""
    return cli_error(capsys, argv, quiet=True)


def final_accuracy(out, name="test"):
    return float(re.search(rf"^final {name} accuracy: (\d+\.\d\d)%", out, re.MULTILINE)[1])


@pytest.fixture(scope="module")
def mnist_small(tmp_path_factory):
    """2,000 training and 500 test images of the bundled subset, as a Keras-style .npz."""
    (X, y), (X_test, y_test) = load_bundled_mnist()
    path = tmp_path_factory.mktemp("data") / "mnist-small.npz"
    np.savez(path, x_train=X[:2000], y_train=y[:2000], x_test=X_test[:500], y_test=y_test[:500])
    return path


def test_chapter6_network_in_one_command(mnist_small, capsys):
    """The book's chapter-6 network, no option but --layers: (1, 28, 28) images, relu, softmax and
    log-likelihood, eta 0.1; one epoch over 2,000 images is already far above chance."""
    assert main(["train", "--layers", CHAPTER6, "--data", str(mnist_small), "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    assert header.startswith("Sequential([Conv2D(20, (5, 5), stride=1, padding='valid', "
                             "activation='relu'), MaxPool2D(2), Conv2D(40, (5, 5)")
    assert ("Flatten(), Dense(100, activation='relu'), Dropout(0.5), Dense(10, activation='softmax')]"
            ", input_shape=(1, 28, 28), cost='log_likelihood', dtype='float32'") in header
    assert "(2000 train, 500 test): 1 epoch, batch size 10, eta 0.1, lmbda 0.2" in out
    assert final_accuracy(out) > 60  # chance is 10%


def test_conv_net_on_the_bundled_subset(capsys):
    assert main(["train", "--layers", SMALL_CONV, "--epochs", "1", "--quiet"]) == 0
    assert final_accuracy(capsys.readouterr().out) > 85


def test_plain_form_is_still_a_network(capsys):
    assert main(["train", "--layers", "784,16,10", "--epochs", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "--layers", " 784, 16 ,10", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Network([784, 16, 10], activation=[sigmoid,sigmoid], "
                          "cost='cross_entropy'")
    assert "eta 0.5" in out


def test_dense_spec_defaults_and_options(capsys):
    """A spec of dense layers only is a Sequential on flat rows: relu hidden layers by default,
    --activation for those without act=, --batch-norm for every hidden one, any optimizer."""
    assert main(["train", "--layers", "dense:32,dropout:0.1,dense:16:act=tanh,dense:10",
                 "--activation", "elu", "--batch-norm", "--optimizer", "adam", "--eta", "0.002",
                 "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Sequential([Dense(32, activation='elu', batch_norm=True), Dropout(0.1), "
                          "Dense(16, activation='tanh', batch_norm=True), "
                          "Dense(10, activation='softmax')], input_shape=(784,), "
                          "cost='log_likelihood'")
    assert "optimizer adam" in out
    assert final_accuracy(out) > 80


def test_batch_norm_reaches_the_plain_form(capsys):
    assert main(["train", "--layers", "784,16,10", "--batch-norm", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "batch_norm=[True]" in out.splitlines()[0]
    assert final_accuracy(out) > 80


@pytest.mark.parametrize("spec, options, output, cost", [
    ("dense:10", [], "softmax", "log_likelihood"),
    ("dense:10", ["--cost", "cross_entropy"], "sigmoid", "cross_entropy"),
    ("dense:10", ["--cost", "quadratic"], "sigmoid", "quadratic"),
    ("dense:10", ["--cost", "hinge"], "identity", "hinge"),
    ("dense:10:act=sigmoid", [], "sigmoid", "cross_entropy"),
    ("dense:10:act=softmax", [], "softmax", "log_likelihood"),
    ("dense:10:act=tanh", [], "tanh", "quadratic"),
])
def test_output_layer_and_cost_pairing(spec, options, output, cost, capsys):
    assert main(["train", "--layers", f"dense:8,{spec}", "--epochs", "1", *options]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert f"Dense(10, activation='{output}')], input_shape=(784,), cost='{cost}'" in header


def test_one_output_unit_for_two_classes(tmp_path, capsys):
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 50)
    X = rng.normal(size=(100, 16)) * 0.3 + y[:, None]
    data = tmp_path / "two.npz"
    np.savez(data, X=X, y=y)
    assert main(["train", "--data", str(data), "--layers", "conv:2:3,flatten,dense:1",
                 "--epochs", "10"]) == 0
    out = capsys.readouterr().out
    assert "Dense(1, activation='sigmoid')], input_shape=(1, 4, 4), cost='cross_entropy'" in out
    assert final_accuracy(out, "train") > 90


def test_input_shape(tmp_path, capsys):
    """Without --input-shape the rows of a conv net are one channel of a square image; with it,
    any C x H x W of the row's length."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 20)
    data = tmp_path / "wide.npz"
    np.savez(data, X=rng.random((60, 2 * 6 * 5)), y=y)
    message = run_error(capsys, ["train", "--data", str(data), "--layers", "conv:2:3,flatten,dense:3"])
    assert message == ("nnfast: error: --layers conv:2:3,flatten,dense:3: conv and pool layers take "
                       f"images, and the 60 features per row of {data} are not a square image: "
                       "give --input-shape C,H,W")
    assert main(["train", "--data", str(data), "--layers", "conv:2:3,flatten,dense:3",
                 "--input-shape", "2,6,5", "--epochs", "1"]) == 0
    assert "input_shape=(2, 6, 5)" in capsys.readouterr().out
    message = run_error(capsys, ["train", "--data", str(data), "--layers", "conv:2:3,flatten,dense:3",
                                 "--input-shape", "1,6,5"])
    assert message == (f"nnfast: error: --input-shape 1,6,5 holds 30 values but {data} has 60 "
                       "features per row")


@pytest.mark.parametrize("spec, expected", [
    ("conv:20:5,pool:2,dense:10", "layer 3 'dense:10' needs flat input, but its input is 20x12x12 "
                                  "images: put flatten before it"),
    ("flatten,conv:2:3,dense:10", "layer 2 'conv:2:3' needs images (channels, height, width), but "
                                  "its input is flat (784 features): conv and pool layers come "
                                  "before flatten and dense"),
    ("dense:30,pool:2,dense:10", "layer 1 'dense:30' needs flat input"),
    ("conv:20:30,flatten,dense:10", "layer 1 'conv:20:30': Conv2D kernel 30x30 is larger than its "
                                    "input 28x28"),
    ("conv:4:3,pool:2,conv:4:3,pool:2,conv:4:3,pool:2,conv:4:3,flatten,dense:10",
     "layer 7 'conv:4:3': Conv2D kernel 3x3 is larger than its input 1x1"),
    ("pool:30,flatten,dense:10", "layer 1 'pool:30': MaxPool2D(30) is larger than its input 28x28"),
    ("conv:20,flatten,dense:10", "layer 1 'conv:20': expected conv:FILTERS:KERNEL"),
    ("conv:a:5,flatten,dense:10", "layer 1 'conv:a:5': FILTERS must be a whole number, got 'a'"),
    ("conv:0:5,flatten,dense:10", "FILTERS must be at least 1, got 0"),
    ("conv:2:3x4x5,flatten,dense:10", "KERNEL must be K or KHxKW, got '3x4x5'"),
    ("conv:2:5:stride=0,flatten,dense:10", "stride= must be at least 1, got 0"),
    ("conv:2:5:padding=full,flatten,dense:10", "padding= must be valid or same, got 'full'"),
    ("conv:2:5:foo,flatten,dense:10", "conv takes stride=, padding=, act=, bn after "
                                      "conv:FILTERS:KERNEL, not 'foo'"),
    ("conv:2:5:stride=1:stride=2,flatten,dense:10", "stride= is given twice"),
    ("conv:2:5:act=softmax,flatten,dense:10", "Conv2D needs an elementwise activation, got 'softmax'"),
    ("dense:30:act=swish,dense:10", "layer 1 'dense:30:act=swish': unknown activation 'swish'"),
    ("dense:30:act=softmax,dense:10", "layer 1 'dense:30:act=softmax': softmax is for the output "
                                      "layer only"),
    ("dense:30:act=maxout,dense:10:act=maxout", "maxout is a hidden-layer type"),
    ("dense:30,dense:10:act=relu:bn:units=3", "dense takes act=, bn after dense:UNITS, not 'units='"),
    ("dense:30,dropout:1.5,dense:10", "layer 2 'dropout:1.5': P must be a number in [0, 1), got '1.5'"),
    ("dense:30,dropout,dense:10", "layer 2 'dropout': expected dropout:P"),
    ("flatten:2,dense:10", "layer 1 'flatten:2': flatten takes no arguments"),
    ("pool:2:3,flatten,dense:10", "expected pool:SIZE"),
    ("dense:30,,dense:10", "layer 2 '': empty (two commas in a row, or one at an end?)"),
    ("dense:30,softmax:10", "layer 2 'softmax:10': unknown layer kind 'softmax'; choose one of conv, "
                            "pool, maxpool, avgpool, flatten, dense, dropout"),
    ("784,x,10", "layer 2 'x': unknown layer kind 'x'"),
    ("784,dense:30,dense:10", "'784' is a bare number in a layer spec; write dense:784"),
    ("dense:30,flatten", "the last layer must be dense:UNITS, one unit per class (got 'flatten')"),
    ("conv:4:5,pool:2,flatten,dense:7", "the layers must end with 10, one output unit per class"),
])
def test_malformed_specs_are_one_line(spec, expected, tmp_path, capsys):
    """Every malformed spec: exit 2, one line `nnfast: error: --layers SPEC: ...`, nothing printed
    or written (--save names a file that must not appear)."""
    saved = tmp_path / "model.npz"
    message = run_error(capsys, ["train", "--layers", spec, "--save", str(saved)])
    assert message.startswith(f"nnfast: error: --layers {spec}: ")
    assert expected in message
    assert list(tmp_path.iterdir()) == []


def test_output_activation_that_does_not_pair_with_the_cost(capsys):
    message = run_error(capsys, ["train", "--layers", "dense:8,dense:10:act=softmax",
                                 "--cost", "cross_entropy"])
    assert message == ("nnfast: error: --layers dense:8,dense:10:act=softmax: cost 'cross_entropy' "
                       "needs a 'sigmoid' output layer, got 'softmax'")


@pytest.mark.parametrize("argv, expected", [
    (["--layers", SMALL_CONV, "--dropout", "0.2"],
     "--dropout goes with the plain form N,N,...; a layer spec has dropout:P layers"),
    (["--layers", SMALL_CONV, "--activation", "relu,relu"], "--activation takes one name with a "
                                                            "layer spec"),
    (["--layers", "784,30,10", "--input-shape", "1,28,28"], "--input-shape goes with a layer spec"),
    (["--input-shape", "1,28,28"], "--input-shape goes with a layer spec"),
    (["--layers", SMALL_CONV, "--input-shape", "1,28"], "--input-shape must be C,H,W"),
    (["--layers", SMALL_CONV, "--input-shape", "1,0,28"], "--input-shape must be C,H,W"),
    (["--layers", SMALL_CONV, "--eta", "-1"], "--eta must be a positive number"),
])
def test_options_that_do_not_fit_the_form(argv, expected, capsys):
    assert expected in run_error(capsys, ["train", *argv])


def test_what_the_model_cannot_do_yet_is_one_line(tmp_path, capsys):
    """The CLI passes --optimizer, --regularization and --batch-norm through; what the model
    refuses for a conv net (today: other optimizers than SGD, L1, batch norm) is its one-line
    message, and nothing is saved. (When the engine learns them, these runs just train.)"""
    saved = tmp_path / "model.npz"
    for option in (["--optimizer", "adam"], ["--regularization", "l1"], ["--batch-norm"]):
        argv = ["train", "--layers", SMALL_CONV, "--epochs", "1", "--save", str(saved), *option]
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        if code == 0:
            assert saved.is_file()
            saved.unlink()
            continue
        assert code == 2 and "Traceback" not in err
        assert len(err.splitlines()) == 1 and err.startswith("nnfast: error: ")
        assert "for now" in err  # the model's own words
        assert not saved.exists()


def test_spec_too_large_for_memory_is_refused_before_the_data(monkeypatch, capsys):
    """With --input-shape the spec's parameters are counted from the built layers before the
    data is read; without it, after, and before the model is made."""
    from nnfast.cli import train as cli_train

    def never(*args, **kwargs):
        raise AssertionError("the model was built")
    monkeypatch.setattr(nnfast.Sequential, "__init__", never)
    monkeypatch.setattr(cli_train, "load_sets", never)
    monkeypatch.setattr(cli_train, "_physical_memory", lambda: 2**20)
    spec = "conv:1000:3:padding=same,flatten,dense:10"
    message = run_error(capsys, ["train", "--layers", spec, "--input-shape", "1,28,28"])
    count = 1000 * 9 + 1000 + 1000 * 28 * 28 * 10 + 10
    assert message.startswith(f"nnfast: error: --layers {spec}: {count:,} parameters take ")
    assert "memory" in message


def test_spec_too_large_for_memory_without_input_shape(monkeypatch, capsys):
    from nnfast.cli import train as cli_train

    def never(*args, **kwargs):
        raise AssertionError("the model was built")
    monkeypatch.setattr(nnfast.Sequential, "__init__", never)
    monkeypatch.setattr(cli_train, "_physical_memory", lambda: 2**20)
    message = run_error(capsys, ["train", "--layers", "dense:100000,dense:10"])
    assert message.startswith("nnfast: error: --layers dense:100000,dense:10: 79,500,010 parameters")


def test_spec_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for text in ("conv:FILTERS:KERNEL[:stride=S][:padding=valid|same][:act=NAME][:bn]", "pool:SIZE",
                 "avgpool:SIZE", "flatten", "dense:UNITS[:act=NAME][:bn]", "dropout:P", "--input-shape",
                 "--batch-norm", CHAPTER6):
        assert text in out, text


def test_saved_conv_net_loads_as_a_sequential(tmp_path, capsys):
    saved = tmp_path / "conv.npz"
    assert main(["train", "--layers", "conv:4:5:stride=2:padding=same,avgpool:2,flatten,dense:10",
                 "--epochs", "1", "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    assert f"saved the network to {saved}" in out
    net = nnfast.load(saved)
    assert type(net) is nnfast.Sequential and net.input_shape == (1, 28, 28)
    assert [layer.get_config()["kind"] for layer in net.layers] == ["Conv2D", "AvgPool2D", "Flatten",
                                                                    "Dense"]
    assert net.layers[0].stride == 2 and net.layers[0].padding == "same"
    (_, _), (X_test, y_test) = load_bundled_mnist()
    assert round(100 * net.accuracy(X_test, y_test), 2) == final_accuracy(out)
