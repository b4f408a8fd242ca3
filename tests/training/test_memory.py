"""No leak: 200 rounds of build / fit / predict / evaluate / gradient / save / load (and a refused
call) keep the process's resident memory flat. Each round handles megabytes (the converted copy of X,
the predictions, the kernels' work buffers), so a leak of any of them would grow the RSS by hundreds
of megabytes; the tolerance is 16 MB."""

import gc
import os
from pathlib import Path

import numpy as np
import pytest

import nnfast

STATM = Path("/proc/self/statm")
ROUNDS = 200
TOLERANCE = 16 * 2**20


def rss():
    return int(STATM.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def one_round(X, y, Xv, path, backend, seed):
    net = nnfast.Network([100, 40, 10], seed=seed, n_threads=2, backend=backend,
                         batch_norm=seed % 2 == 0, dropout=0.2 if seed % 3 == 0 else 0.0)
    net.fit(X, y, epochs=1, batch_size=50, validation_data=(Xv, y[:500]),
            optimizer="adam" if seed % 2 else "sgd")
    net.predict(X)
    net.cost(X, y)
    net.accuracy(Xv, y[:500])
    net.gradient(X[:200], y[:200])
    with pytest.raises(ValueError):
        net.fit(X, y + 100)  # refused: labels out of range
    net.save(path)
    nnfast.load(path).feedforward(Xv)


@pytest.mark.skipif(not STATM.exists(), reason="reads the RSS from /proc/self/statm (Linux)")
@pytest.mark.parametrize("backend,rounds", [("cython", ROUNDS), ("numpy", ROUNDS // 4)])
def test_rss_stays_flat(tmp_path, backend, rounds):
    rng = np.random.default_rng(0)
    X = rng.random((2000, 100)).astype(np.float32)  # converted to float64 (a copy) by every call
    Xv = rng.random((500, 100)).astype(np.float32)
    y = rng.integers(0, 10, 2000)
    path = tmp_path / "net.npz"
    for seed in range(12):  # warm up: allocator pools, lazily imported modules, caches
        one_round(X, y, Xv, path, backend, seed)
    gc.collect()
    before = rss()
    for seed in range(rounds):
        one_round(X, y, Xv, path, backend, seed)
    gc.collect()
    grown = rss() - before
    assert grown < TOLERANCE, f"RSS grew by {grown / 2**20:.1f} MB over {rounds} rounds"
