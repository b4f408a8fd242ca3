"""Every file in examples/ runs as written (with a small epoch count, NNFAST_EXAMPLE_EPOCHS=1) and
prints what it promises. A new example without an entry in EXPECTED fails the test."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import nnfast

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
MNIST_NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]

# Per example: patterns its output must match (re.search, multiline).
EXPECTED = {
    "logic_gates.py": [r"XOR with one perceptron: still \d+ mistakes",
                       r"XOR learned by backprop.*\n  XOR .* ok$"],
    "quickstart.py": [r"^epoch +1 +eta 0\.5 .*validation cost [\d.]+ acc 0\.9\d+$",
                      r"^test accuracy: 0\.[89]\d+$",
                      r"^saved and loaded back: same test accuracy (0\.\d+)$"],
    "mnist_book.py": [r"^Epoch 0: (\d+) / 10000$", r"^Accuracy on evaluation data: (\d+) / 10000$"],
    "mnist_conv.py": [r"^epoch +1 +train +[\d.]+s +validation 0\.9[5-9]\d+ +test 0\.9[5-9]\d+ "],
    "compare_backends.py": [r"^cython: .* test accuracy (0\.\d+)\nnumpy : .* test accuracy \1$",
                            r"largest parameter difference after 1 epoch\(s\): .*\(relative (\S+)\)"],
    "float32_threads.py": [r"^float64: parameters bit for bit identical across \[.*\] threads: True$",
                           r"^float32: parameters bit for bit identical across \[.*\] threads: True$"],
    "custom_data.py": [r"^points\.csv: 480 training and 120 validation rows of 2 features$",
                       r"^validation accuracy after 1 epoch\(s\): 0\.[6-9]\d+$",
                       r"^predicted classes of \(0, 0\), \(3, 0\), \(0, 3\): \[0, 1, 2\]$"],
}


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_example_is_covered():
    assert sorted(path.name for path in EXAMPLES) == sorted(EXPECTED)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(example, tmp_path):
    env = dict(os.environ, NNFAST_EXAMPLE_EPOCHS="1", MPLBACKEND="Agg")
    if Path(nnfast.__file__).resolve().parent.parent == ROOT:
        # This run imports the source tree (built in place): the examples must import it too.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # Never download in a test: an unreachable mirror makes a missing file an immediate error.
    env["NNFAST_MNIST_MIRRORS"] = f"http://127.0.0.1:{_closed_port()}/"
    if example.name in ("mnist_book.py", "mnist_conv.py"):
        if not all((MNIST_DIR / name).is_file() for name in MNIST_NAMES):
            pytest.skip(f"{example.name} needs the real MNIST idx files, not found in {MNIST_DIR}")
        env["NNFAST_DATA"] = str(MNIST_DIR)
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for pattern in EXPECTED[example.name]:
        match = re.search(pattern, done.stdout, re.MULTILINE)
        assert match, f"{example.name}: no match for {pattern!r} in:\n{done.stdout}"
        if example.name == "compare_backends.py" and match.lastindex == 1 and "relative" in pattern:
            assert float(match[1]) < 1e-10  # float64 backends agree
        if example.name == "mnist_book.py":
            assert int(match[1]) > 8500  # one epoch on the full MNIST already reads most digits
    assert list(tmp_path.iterdir()) == []  # examples leave nothing behind in the working directory
