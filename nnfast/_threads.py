"""Thread counts: one meaning for our OpenMP loops and the BLAS underneath.

n_threads: None -> the OpenMP default (honours OMP_NUM_THREADS), -1 -> every processor,
-k -> processors + 1 - k, k > 0 -> k; 0 is an error. BLAS is limited to the same count while
nnfast runs (threadpoolctl), so n_threads=1 really means one core.
"""

import contextlib
import os
import threading

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


MAX_THREADS = 4096  # beyond this, an OpenMP runtime may fail to create the threads (and abort)


def check_n_threads(n_threads):
    if n_threads is None:
        return None
    if check_int(n_threads, "n_threads", -(10**6)) == 0:
        raise ValueError("n_threads must not be 0 (None: the default, -1: all processors, k > 0: k threads)")
    if n_threads > MAX_THREADS:
        raise ValueError(f"n_threads must be at most {MAX_THREADS}, got {n_threads}")
    return int(n_threads)


def effective_n_threads(n_threads):
    """The number of threads `n_threads` means on this machine (>= 1); 1 in a process forked after
    nnfast ran multithreaded (see _after_fork_in_child)."""
    global _parallel_used
    n_threads = check_n_threads(n_threads)
    if n_threads is None:
        if _kernels is not None and _kernels.openmp_enabled():
            n = max(1, _kernels.openmp_max_threads())
        else:
            n = _num_procs()
    elif n_threads < 0:
        n = max(1, _num_procs() + 1 + n_threads)
    else:
        n = n_threads
    if n > 1:
        if _forked_after_parallel:
            _warn_forked()
            return 1
        _parallel_used = True
    return n


# fork() after OpenMP work: GNU OpenMP (libgomp) keeps its idle worker threads in a pool; a forked
# child inherits the pool's bookkeeping but not the threads, and its next parallel region can wait
# for them forever (observed here: a child hangs in predict after the parent's last parallel
# region was a predict; see tests/test_fork.py). Results never depend on the thread count, so a
# child forked after multithreaded nnfast work simply runs single-threaded (one warning).
_parallel_used = False           # this process ran nnfast with more than one thread
_forked_after_parallel = False   # ...and this is a child forked after that
_warned_forked = False


def _warn_forked():
    global _warned_forked
    if not _warned_forked:
        _warned_forked = True
        import warnings

        warnings.warn("nnfast: this process was forked after nnfast ran multithreaded, which OpenMP "
                      "runtimes do not support (GNU OpenMP can hang); nnfast runs single-threaded "
                      "here, with the same results. For parallel workers use the 'spawn' or "
                      "'forkserver' start method of multiprocessing (see RELIABILITY.md).",
                      RuntimeWarning, stacklevel=5)


_controller = None


def _blas_controller():
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


_blas_libraries = None
_blas_lock = threading.Lock()
_blas_requests = []      # the n of every blas_threads block open in the process, any thread
_blas_saved = None       # [(library, count)] from before the first of them opened


def _blas_set(library, n):
    """Set one library's count from whichever thread we are in. threadpoolctl >= 3.8 lets only
    one 'controlling' thread set OpenBLAS's (pthreads) count and silently ignores the others, which
    would leave a fit in a second Python thread with BLAS unlimited; nnfast arbitrates under its
    own lock instead, so it releases that control before and after each change."""
    release = getattr(type(library), "clear_controlling_thread", None)
    if release is not None:
        release(force=True)
    library.set_num_threads(n)
    if release is not None:
        release(force=True)


def _blas_apply(n):
    for library in _blas_libraries:
        if library.num_threads != n:
            _blas_set(library, n)


@contextlib.contextmanager
def blas_threads(n):
    """Limit the BLAS libraries loaded in this process to n threads for the duration, then put
    back what they had. Only libraries whose count differs are touched (a C call each), so the
    common case costs a few microseconds instead of threadpoolctl's full `limit` (~20 us).

    BLAS thread counts are process-wide, so blocks opened by several Python threads at once are
    counted under a lock: while any block is open the limit is the smallest n asked for (the
    compiled backend's 1 wins, which keeps its results independent of the thread count), and
    the counts from before the first block come back when the last one closes."""
    global _blas_libraries, _blas_saved
    with _blas_lock:
        if _blas_libraries is None:
            _blas_libraries = list(_blas_controller().select(user_api="blas").lib_controllers)
        if not _blas_requests and _blas_saved is None:
            _blas_saved = [(library, library.num_threads) for library in _blas_libraries]
        _blas_requests.append(n)
        _blas_apply(min(_blas_requests))
    try:
        yield
    finally:
        with _blas_lock:
            _blas_requests.remove(n)
            if _blas_requests:
                _blas_apply(min(_blas_requests))
            else:
                for library, before in reversed(_blas_saved):
                    if library.num_threads != before:
                        _blas_set(library, before)
                _blas_saved = None


def _after_fork_in_child():
    """A fork while another thread held a blas_threads block leaves a child with no such thread:
    start over with a fresh lock, and put the saved counts back when the child's next block ends
    (no BLAS call from inside the fork handler). After multithreaded work, the child runs
    single-threaded (see effective_n_threads)."""
    global _blas_lock, _forked_after_parallel
    _blas_lock = threading.Lock()
    _blas_requests.clear()
    if _parallel_used:
        _forked_after_parallel = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def blas_info():
    """What threadpoolctl sees: one dict per BLAS library (name, version, threads, path)."""
    return [lib for lib in _blas_controller().info() if lib.get("user_api") == "blas"]
