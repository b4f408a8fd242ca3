from pathlib import Path

import numpy as np
import pytest

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture
def mnist_dir():
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    if not all((MNIST_DIR / name).exists() for name in names):
        pytest.skip(f"real MNIST not found in {MNIST_DIR} (the shared data folder is absent)")
    return MNIST_DIR
