"""The installed build: compiled modules present, OpenMP state consistent with what is linked."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nnfast
from nnfast import _kernels, _train


def test_compiled_modules_are_inside_the_package():
    package = Path(nnfast.__file__).parent
    for module in (_kernels, _train):
        assert Path(module.__file__).parent == package


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ldd") is None,
                    reason="ldd is the Linux way to list linked libraries")
def test_openmp_flag_matches_the_linked_runtime():
    linked = subprocess.run(["ldd", _train.__file__], capture_output=True, text=True).stdout
    has_runtime = "libgomp" in linked or "libomp" in linked or "libiomp" in linked
    assert _kernels.openmp_enabled() == has_runtime, linked


def test_openmp_reports_threads():
    if _kernels.openmp_enabled():
        assert _kernels.openmp_max_threads() >= 1 and _kernels.openmp_num_procs() >= 1
    else:
        assert _kernels.openmp_max_threads() == 1
