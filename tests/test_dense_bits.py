"""The dense fast path gives the same bits as the code these hashes were computed from (before the
dense loop took the layer table): parameters and running statistics after 3 epochs, then the
outputs, gradient, cost and accuracy, for sgd/momentum/rmsprop/adam, L1/L2, dropout, batch norm,
maxout, float32/float64, 1 and 2 threads (tests/dense_hashes.py). The last bits depend on the
instruction set of our GEMM kernels and on the BLAS, so elsewhere the test is skipped."""

import json
from pathlib import Path

import pytest

from dense_hashes import fingerprint, hashes

STORED = json.loads((Path(__file__).parent / "data" / "dense_hashes.json").read_text())


def test_dense_fast_path_bits_unchanged():
    if fingerprint() != STORED["fingerprint"]:
        pytest.skip(f"hashes stored for {STORED['fingerprint']}, this is {fingerprint()}")
    assert hashes() == STORED["hashes"]
