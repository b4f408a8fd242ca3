import os
import socket
import tempfile
from pathlib import Path

import numpy as np
import pytest

# The GEMM kernels measured per shape (nnfast/_gemm.py) go to a cache of this test session, not
# the user's ~/.cache/nnfast (set before any test imports nnfast; child processes inherit it).
os.environ.setdefault("NNFAST_CACHE_DIR", tempfile.mkdtemp(prefix="nnfast-test-cache-"))

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture
def mnist_dir():
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    if not all((MNIST_DIR / name).exists() for name in names):
        pytest.skip(f"real MNIST not found in {MNIST_DIR} (the shared data folder is absent)")
    return MNIST_DIR


@pytest.fixture(autouse=True)
def _never_download(monkeypatch):
    """No test reaches the internet: the MNIST mirror list points at a closed local port unless a
    test sets its own (tests/test_download.py serves files on 127.0.0.1)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("NNFAST_MNIST_MIRRORS", f"http://127.0.0.1:{port}/no-downloads-in-tests/")
