"""Build nnfast/data/mnist_subset.npz, the small MNIST subset shipped inside the package.

Usage (from the repository root)::

    python tools/make_mnist_subset.py [MNIST_DIR] [--out nnfast/data/mnist_subset.npz]

MNIST_DIR holds the four standard idx files (default: ../shared/data/mnist next to the repository).
The archive keeps the first 10,000 official training images and labels and the first 2,000 official
test images and labels, unchanged: pixels uint8 (n, 784), labels uint8 (n,), saved with
numpy.savez_compressed under the keys x_train, y_train, x_test, y_test. The output is deterministic
(same input files, same bytes).
"""

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nnfast.datasets import MNIST_FILES, read_idx  # noqa: E402

N_TRAIN = 10_000
N_TEST = 2_000


def build(mnist_dir, out):
    mnist_dir = Path(mnist_dir)
    parts = {}
    for key, name in MNIST_FILES.items():
        file = mnist_dir / name
        if not file.is_file():
            raise SystemExit(f"make_mnist_subset: missing {file}")
        parts[key] = read_idx(file)
    subset = {
        "x_train": parts["train_images"][:N_TRAIN],
        "y_train": parts["train_labels"][:N_TRAIN],
        "x_test": parts["test_images"][:N_TEST],
        "y_test": parts["test_labels"][:N_TEST],
    }
    for key, array in subset.items():
        assert array.dtype == np.uint8, (key, array.dtype)
    assert subset["x_train"].shape == (N_TRAIN, 784) and subset["y_train"].shape == (N_TRAIN,)
    assert subset["x_test"].shape == (N_TEST, 784) and subset["y_test"].shape == (N_TEST,)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **subset)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out}: {out.stat().st_size} bytes, sha256 {digest}")
    for key, array in subset.items():
        print(f"  {key}: {array.dtype} {array.shape}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mnist_dir", nargs="?", default=str(REPO.parent / "shared" / "data" / "mnist"),
                        help="directory with the four MNIST idx files")
    parser.add_argument("--out", default=str(REPO / "nnfast" / "data" / "mnist_subset.npz"))
    args = parser.parse_args(argv)
    build(args.mnist_dir, args.out)


if __name__ == "__main__":
    main()
