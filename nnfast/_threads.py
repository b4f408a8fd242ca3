"""Thread counts: one meaning for our OpenMP loops and the BLAS underneath.

n_threads: None -> the OpenMP default (honours OMP_NUM_THREADS), -1 -> every processor,
-k -> processors + 1 - k, k > 0 -> k; 0 is an error. BLAS is limited to the same count while
nnfast runs (threadpoolctl), so n_threads=1 really means one core.
"""

import contextlib
import os

from ._validation import check_int

try:
    from . import _kernels
except ImportError:  # the compiled extension is not built: the numpy backend still works
    _kernels = None


def openmp_enabled():
    return _kernels is not None and _kernels.openmp_enabled()


def _num_procs():
    if _kernels is not None and _kernels.openmp_enabled():
        return _kernels.openmp_num_procs()
    return os.cpu_count() or 1


def check_n_threads(n_threads):
    if n_threads is None:
        return None
    if check_int(n_threads, "n_threads", -(10**6)) == 0:
        raise ValueError("n_threads must not be 0 (None: the default, -1: all processors, k > 0: k threads)")
    return int(n_threads)


def effective_n_threads(n_threads):
    """The number of threads `n_threads` means on this machine (>= 1)."""
    n_threads = check_n_threads(n_threads)
    if n_threads is None:
        if _kernels is not None and _kernels.openmp_enabled():
            return max(1, _kernels.openmp_max_threads())
        return _num_procs()
    if n_threads < 0:
        return max(1, _num_procs() + 1 + n_threads)
    return n_threads


_controller = None


def _blas_controller():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


_blas_libraries = None


@contextlib.contextmanager
def blas_threads(n):
    """Limit the BLAS libraries loaded in this process to n threads for the duration, then put
    back what they had. Only libraries whose count differs are touched (a C call each), so the
    common case costs about a microsecond instead of threadpoolctl's full `limit` (~20 us)."""
    global _blas_libraries
    if _blas_libraries is None:
        _blas_libraries = list(_blas_controller().select(user_api="blas").lib_controllers)
    changed = []
    try:
        for library in _blas_libraries:
            before = library.num_threads
            if before != n:
                library.set_num_threads(n)
                changed.append((library, before))
        yield
    finally:
        for library, before in reversed(changed):
            library.set_num_threads(before)


def blas_info():
    """What threadpoolctl sees: one dict per BLAS library (name, version, threads, path)."""
    return [lib for lib in _blas_controller().info() if lib.get("user_api") == "blas"]
