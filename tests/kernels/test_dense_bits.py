"""The dense fast path gives the same bits for 1 and 2 threads, for sgd/momentum/rmsprop/adam, L1/L2,
dropout, batch norm, maxout, float32/float64 and our own GEMM kernels' range: parameters and
running statistics after 3 epochs, then the outputs, gradient, cost and accuracy. (That they are
the bits of the code before a refactoring: `python tools/dense_hashes.py --check`.)"""

import importlib.util
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "dense_hashes.py"


def test_dense_fast_path_bits_do_not_depend_on_the_thread_count():
    spec = importlib.util.spec_from_file_location("dense_hashes", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    one, two = tool.hashes((1,)), tool.hashes((2,))
    assert len(one) == len(tool.CONFIGS) == 7
    assert [v for v in one.values()] == [v for v in two.values()]
