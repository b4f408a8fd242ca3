"""The `nnfast` command line, run in-process through nnfast.cli.main (and once as `python -m nnfast`)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnfast

from nnfast.cli import main
from nnfast.datasets import MNIST_FILES

MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
HAVE_MNIST = all((MNIST_DIR / name).is_file() for name in MNIST_FILES.values())

FAST = ["train", "--epochs", "1", "--layers", "784,10,10"]


def final_accuracy(out, name="test"):
    match = re.search(rf"^final {name} accuracy: (\d+\.\d\d)% \((\d+)/(\d+)\)", out, re.MULTILINE)
    assert match, f"no final {name} accuracy line in:\n{out}"
    percent, correct, total = float(match[1]), int(match[2]), int(match[3])
    assert abs(percent - 100 * correct / total) < 0.006
    return percent, total


def test_train_one_epoch(capsys):
    assert main(FAST) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "Network([784, 10, 10]" in out
    assert "bundled MNIST subset (10000 train, 2000 test)" in out
    epochs = [line for line in out.splitlines() if line.startswith("epoch")]
    assert len(epochs) == 1
    assert re.fullmatch(r"epoch +1/1 +\d+\.\d\ds +train acc \d+\.\d\d% +test acc \d+\.\d\d%", epochs[0])
    percent, total = final_accuracy(out)
    assert total == 2000
    assert percent > 60  # one epoch of a small net already does far better than chance (10%)
    test_acc = float(re.search(r"test acc (\d+\.\d\d)%", epochs[0])[1])
    assert test_acc == percent  # the final figure is the last epoch's, from fit's History


def test_train_epoch_lines_and_options(capsys):
    args = ["train", "--epochs", "2", "--layers", "784,12,10", "--batch-size", "20", "--eta", "1.0",
            "--lmbda", "0", "--dtype", "float64", "--threads", "1", "--seed", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "dtype='float64'" in out and "batch size 20" in out and "eta 1" in out and "lmbda 0" in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == ["1/2", "2/2"]
    assert final_accuracy(out)[0] > 60


def test_train_is_reproducible_and_backends_agree(capsys):
    main(FAST + ["--seed", "7", "--dtype", "float64"])
    cython = final_accuracy(capsys.readouterr().out)
    main(FAST + ["--seed", "7", "--dtype", "float64"])
    again = final_accuracy(capsys.readouterr().out)
    main(FAST + ["--seed", "7", "--dtype", "float64", "--backend", "numpy"])
    out = capsys.readouterr().out
    assert "backend='numpy'" in out
    assert cython == again
    assert abs(final_accuracy(out)[0] - cython[0]) <= 0.1  # same algorithm; rounding may move a row


def test_train_quiet(capsys):
    assert main(FAST + ["--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert len(out.splitlines()) == 1
    final_accuracy(out)


def test_train_per_layer_activations(capsys):
    assert main(["train", "--epochs", "1", "--layers", "784,16,10", "--activation", "relu,sigmoid",
                 "--eta", "0.1", "--quiet"]) == 0
    assert final_accuracy(capsys.readouterr().out)[0] > 50


def test_train_default_reaches_90_percent(capsys):
    """No options: [784, 100, 10] sigmoid, cross-entropy, eta 0.5, batch 10, 10 epochs, seed 0, and
    lmbda = 5.0 * 10000 / 50000 = 1 (the book's decay per step)."""
    assert main(["train"]) == 0
    out = capsys.readouterr().out
    assert "Network([784, 100, 10], activation=[sigmoid,sigmoid], cost='cross_entropy'" in out
    assert "10 epochs, batch size 10, eta 0.5, lmbda 1" in out
    assert len([line for line in out.splitlines() if line.startswith("epoch")]) == 10
    assert final_accuracy(out)[0] >= 90.0


@pytest.mark.mnist
@pytest.mark.skipif(not HAVE_MNIST, reason=f"real MNIST idx files not found in {MNIST_DIR}")
def test_train_on_full_data(capsys):
    assert main(["train", "--data", str(MNIST_DIR), "--epochs", "1", "--layers", "784,10,10"]) == 0
    out = capsys.readouterr().out
    assert "(50000 train, 10000 validation, 10000 test)" in out
    assert re.search(r"^epoch +1/1 .* validation acc \d+\.\d\d%$", out, re.MULTILINE)
    assert final_accuracy(out, "validation")[1] == 10_000
    percent, total = final_accuracy(out, "test")
    assert total == 10_000 and percent > 80


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("nnfast ")
    assert "backends" in out and "dtypes" in out
    assert "CPU" in out and "kernels " in out and "GEMM kernels       : " in out


def test_info_names_the_kernel_chosen_per_gemm_shape(capsys, monkeypatch, tmp_path):
    from nnfast import _gemm
    monkeypatch.setenv("NNFAST_CACHE_DIR", str(tmp_path))
    before = _gemm.mode()
    _gemm.set_mode("measure")
    try:
        nnfast.Network([30, 12, 4], seed=0).fit(np.random.default_rng(0).random((20, 30)),
                                                np.zeros(20, int), epochs=1, batch_size=10)
        assert main(["info", "--gemm"]) == 0
    finally:
        _gemm.set_mode(before)
    out = capsys.readouterr().out
    assert f"cache {tmp_path}" in out
    shapes = [line for line in out.splitlines() if line.startswith("  ")]
    # 3 GEMMs per layer on batches of 10, and the monitoring pass over the 20 rows (one GEMM per
    # layer, transposed: units x rows)
    assert "  NT float64 10x12x30: " in out and "  NN float64 4x20x12: " in out
    assert len(shapes) == 8
    assert all(("blas" in line) and (" us" in line) for line in shapes)


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "train" in out and "info" in out
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    assert "--layers" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("nnfast ")


@pytest.mark.parametrize("argv, expected", [
    ([], "required"),
    (["bogus"], "invalid choice"),
    (["train", "--layers", "784,x,10"], "784,x,10"),
    (["train", "--layers", "784"], "at least two"),
    (["train", "--layers", "784,0,10"], "positive"),
    (["train", "--layers", "100,30,10"], "start with 784"),
    (["train", "--layers", "784,30,3"], "end with 10"),
    (["train", "--activation", "swish"], "unknown activation 'swish'"),
    (["train", "--activation", "relu,relu,relu"], "activation"),
    (["train", "--cost", "hinge-ish"], "unknown cost 'hinge-ish'"),
    (["train", "--activation", "relu"], "needs a 'sigmoid' output layer"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--epochs", "two"], "invalid int value"),
    (["train", "--batch-size", "-5"], "--batch-size"),
    (["train", "--eta", "-1"], "--eta"),
    (["train", "--eta", "0"], "--eta"),
    (["train", "--lmbda", "nan"], "--lmbda"),
    (["train", "--lmbda", "-0.5"], "--lmbda"),
    (["train", "--threads", "0"], "n_threads"),
    (["train", "--dtype", "float16"], "invalid choice"),
    (["train", "--backend", "gpu"], "invalid choice"),
    (["train", "--unknown-option"], "unrecognized arguments"),
])
def test_user_errors(capsys, argv, expected):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nnfast: error: ")
    assert expected in lines[0]
    assert "Traceback" not in err and "Traceback" not in out
    assert out == ""  # refused before any output or training


def test_missing_data_directory(capsys, tmp_path):
    missing = tmp_path / "no-mnist-here"
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(missing)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("nnfast: error: ")
    assert str(missing) in err
    for name in MNIST_FILES.values():
        assert name in err


def test_corrupt_data_file(capsys, tmp_path):
    for name in MNIST_FILES.values():
        (tmp_path / name).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05\x01")  # labels: 5 announced, 1 held
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "truncated" in err


def test_python_dash_m(tmp_path):
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    if not env.get("PYTHONPATH"):  # a source checkout run without installing: point at it
        env["PYTHONPATH"] = root
    ok = subprocess.run([sys.executable, "-m", "nnfast", "info"], capture_output=True, text=True, env=env,
                        cwd=tmp_path, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "backends" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "nnfast", "train", "--layers", "1,2"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and bad.stderr.startswith("nnfast: error: ")
    assert bad.stdout == ""
