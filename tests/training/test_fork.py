"""fork() after multithreaded work. OpenMP runtimes do not promise to survive fork(): GNU OpenMP
(libgomp) keeps its idle worker threads in a pool, and a forked child inherits the pool's bookkeeping
but not the threads. Observed here (GCC 12's libgomp): when the parent's last parallel region was a
predict, the child's next parallel region waits forever. nnfast therefore runs single-threaded (same
results, one RuntimeWarning) in a process forked after it ran multithreaded.

Every scenario runs in a subprocess under a timeout, so a hang fails the test instead of freezing CI.
See RELIABILITY.md."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import nnfast

# the children import the nnfast these tests import (the installed one in CI)
PACKAGE_PARENT = Path(nnfast.__file__).resolve().parents[1]
TIMEOUT = 180  # for the whole subprocess; the child itself gets CHILD_SECONDS (it needs about 1 s)

SCRIPT = textwrap.dedent("""
    import copy, json, multiprocessing as mp, os, select, sys, warnings
    import numpy as np
    sys.path.insert(0, {package_parent!r})
    import nnfast

    CHILD_SECONDS = 60
    rng = np.random.default_rng(0)
    X = rng.random((3000, 60))
    y = (X[:, 0] + X[:, 1] > 1).astype(int)


    def child_work(model, n_threads, raw):
        if raw:  # switch the protection off, to see what the OpenMP runtime itself does
            nnfast._threads._forked_after_parallel = False
        model.n_threads = n_threads
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = model.feedforward(X)
            model.fit(X, y, epochs=1, batch_size=20, monitor=False)
        warned = any("forked after nnfast ran multithreaded" in str(w.message) for w in caught)
        return out, model.params, warned


    def work(queue, path, n_threads, raw):
        model = nnfast.load(path) if path else net   # spawn/forkserver children load the file
        queue.put(child_work(model, n_threads, raw))


    def report(out, params, warned, status):
        same = np.array_equal(out, expected_out) and np.array_equal(params, expected_params)
        return dict(outcome="same" if same else "different", warned=warned, status=status)


    def with_os_fork(n_threads, raw):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            out, params, warned = child_work(net, n_threads, raw)
            os.write(write, json.dumps(report(out, params, warned, 0)).encode())
            os._exit(0)
        os.close(write)
        if not select.select([read], [], [], CHILD_SECONDS)[0]:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return dict(outcome="hung")
        answer = json.loads(os.read(read, 1000).decode())
        _, answer["status"] = os.waitpid(pid, 0)
        return answer


    def with_multiprocessing(method, n_threads, raw, model_path):
        ctx = mp.get_context(method)
        queue = ctx.Queue()
        child = ctx.Process(target=work, args=(queue, None if method == "fork" else model_path,
                                              n_threads, raw))
        child.start()
        try:
            out, params, warned = queue.get(timeout=CHILD_SECONDS)
        except Exception:
            child.kill()
            child.join()
            return dict(outcome="hung")
        child.join(CHILD_SECONDS)
        return report(out, params, warned, child.exitcode)


    if __name__ == "__main__":
        method, n_threads, raw, model_path = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "raw", sys.argv[4]
        if raw:
            CHILD_SECONDS = 10  # the child finishes in about 1 s when it does not hang
        net = nnfast.Network([60, 128, 2], seed=0, n_threads=2)
        net.fit(X, y, epochs=2, batch_size=20, monitor=False)   # parallel work before the fork
        net.save(model_path)
        twin = copy.deepcopy(net)
        twin.fit(X, y, epochs=1, batch_size=20, monitor=False)
        expected_params = twin.params
        expected_out = net.feedforward(X)  # the last parallel region before the fork: a predict
        result = (with_os_fork(n_threads, raw) if method == "os.fork"
                  else with_multiprocessing(method, n_threads, raw, model_path))
        print(json.dumps(result))
""")


def run(tmp_path, method, n_threads, raw=False):
    script = tmp_path / "fork_child.py"
    script.write_text(SCRIPT.format(package_parent=str(PACKAGE_PARENT)))
    result = subprocess.run([sys.executable, str(script), method, str(n_threads),
                             "raw" if raw else "guarded", str(tmp_path / "model.npz")],
                            capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


needs_openmp = pytest.mark.skipif(not nnfast._threads.openmp_enabled(),
                                  reason="built without OpenMP: no thread team to fork")


@needs_openmp
@pytest.mark.parametrize("method", ["fork", "os.fork"])
def test_a_child_forked_after_parallel_work_runs_single_threaded(tmp_path, method):
    """The child asks for 2 threads, gets 1 (with a warning), finishes, and computes bit for bit
    what the parent computes with 2 threads."""
    assert run(tmp_path, method, n_threads=2) == dict(outcome="same", warned=True, status=0)


def _links_libgomp():
    maps = Path("/proc/self/maps")
    return maps.exists() and "libgomp" in maps.read_text()


@needs_openmp
@pytest.mark.skipif(not _links_libgomp(), reason="the hang is specific to GNU OpenMP (libgomp)")
def test_without_the_protection_the_libgomp_child_hangs(tmp_path):
    """What the protection is for: with it switched off, the forked child's first parallel region
    never returns (killed after 10 s). If a future libgomp survives fork, this test fails: then
    update RELIABILITY.md, and the protection may become optional on that runtime."""
    assert run(tmp_path, "os.fork", n_threads=2, raw=True) == dict(outcome="hung")


@pytest.mark.parametrize("method,n_threads", [("forkserver", 2), ("spawn", 2), ("fork", 1)])
def test_the_documented_workarounds(tmp_path, method, n_threads):
    """Fresh interpreters (spawn, forkserver) run multithreaded with no warning; a fork child with
    n_threads=1 needs no protection either."""
    assert run(tmp_path, method, n_threads) == dict(outcome="same", warned=False, status=0)
