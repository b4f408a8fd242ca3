"""GFLOP/s of our GEMM kernels against scipy's BLAS, one thread, on the shapes training makes.

    python benches/bench_gemm.py              # two child runs: the environment as it is, then
                                              # with OPENBLAS_CORETYPE=Haswell (the child's only)
    python benches/bench_gemm.py --child      # one run, in this process and environment
    python benches/bench_gemm.py --quick      # fewer repeats, no 2048^3

Implementations, all row-major C (m x n) = op(A) op(B), beta = 0, on the same arrays:
  blas     scipy's BLAS (OpenBLAS) through scipy.linalg.cython_blas: the twin K.gemm_rowmajor, so
           its Python call costs what ours do
  dgemm    scipy.linalg.blas.dgemm / sgemm on the Fortran views of the same arrays (no copies;
           f2py's argument handling adds a few microseconds a call)
  packed   our packed, cache-blocked GEMM (K.own_gemm)
  nt / xn  our unpacked kernels, where the transpositions fit them (nt: A B^T; xn: op(A) B)
The op combinations: NT = X W^T (the forward pass), NN = D W (backward deltas), TN = D^T X (weight
gradients). Every timer runs in turn, A B C A B C ..., so a burst of load from other jobs on the
machine does not land on one of them; the best of the repeats is reported, and each row's ratio
"ours/blas" (the faster of our kernels over the faster BLAS path) compares numbers of one run.
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np
from scipy.linalg import blas as scipy_blas
from threadpoolctl import threadpool_info, threadpool_limits

from nnfast import _kernels as K

SQUARES = [256, 512, 1024, 2048]
NETWORK = [(256, 512, 784), (256, 784, 512), (512, 784, 256)]
SMALL = [(10, 30, 784), (10, 100, 784), (30, 784, 10), (100, 784, 10), (64, 500, 40),
         (20, 576, 25)]
OPS = {"NT": (False, True), "NN": (False, False), "TN": (True, False)}


def cases(quick):
    """(m, n, k, op) in the order they are measured."""
    for size in SQUARES[:-1] if quick else SQUARES:
        yield size, size, size, "NN"
    for m, n, k in NETWORK + SMALL:
        for op in OPS:
            yield m, n, k, op


def timers(m, n, k, op, dtype, isa):
    """{name: a function of no arguments doing one product} for this case; all write C."""
    ta, tb = OPS[op]
    rng = np.random.default_rng(0)
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    C = np.zeros((m, n), dtype=dtype)
    fortran = scipy_blas.dgemm if dtype == np.float64 else scipy_blas.sgemm
    # row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T on the transposed views
    Ct = C.T
    funcs = {
        "blas": lambda: K.gemm_rowmajor(ta, tb, 1.0, A, B, 0.0, C),
        "dgemm": lambda: fortran(1.0, B.T, A.T, 0.0, Ct, trans_a=tb, trans_b=ta, overwrite_c=1),
        "packed": lambda: K.own_gemm(ta, tb, 1.0, A, B, 0.0, C, isa),
    }
    if op == "NT":
        funcs["nt"] = lambda: K.own_gemm_nt(A, B, C, isa)
    else:
        funcs["xn"] = lambda: K.own_gemm_xn(ta, 1.0, A, B, 0.0, C, isa)
    expected = (A.T if ta else A).astype(np.float64) @ (B.T if tb else B).astype(np.float64)
    tol = 1e-9 if dtype == np.float64 else 1e-3
    for name, func in funcs.items():  # each computes the product (and is warmed up)
        C[...] = np.nan
        func()
        if not np.allclose(C, expected, rtol=tol, atol=tol * np.sqrt(k)):
            raise AssertionError(f"{name} is wrong on {m}x{n}x{k} {op} {np.dtype(dtype).name}")
    return funcs


def measure(funcs, flops, repeats, batch_seconds=0.02):
    """{name: best GFLOP/s}: `repeats` rounds over the timers in turn; each round times a batch of
    calls lasting about batch_seconds (one call for the large products)."""
    calls = {}
    for name, func in funcs.items():
        start = time.perf_counter()
        func()
        once = max(time.perf_counter() - start, 1e-7)
        calls[name] = max(1, int(batch_seconds / once))
    best = dict.fromkeys(funcs, float("inf"))
    for _ in range(repeats):
        for name, func in funcs.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                func()
            best[name] = min(best[name], (time.perf_counter() - start) / calls[name])
    return {name: flops / seconds / 1e9 for name, seconds in best.items()}


COLUMNS = ["blas", "dgemm", "packed", "nt", "xn"]


def run(quick):
    isa = K.simd_isa()
    cores = sorted({lib.get("architecture", "?") for lib in threadpool_info()
                    if lib.get("internal_api") == "openblas"})
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; OpenBLAS "
          f"kernels: {', '.join(cores)}; our instance: {isa}; 1 thread")
    print()
    print("| dtype | m x n x k | op | " + " | ".join(COLUMNS) + " | ours/blas |")
    print("|---|---|---|" + "---:|" * (len(COLUMNS) + 1))
    with threadpool_limits(1):
        for dtype in (np.float64, np.float32):
            for m, n, k, op in cases(quick):
                funcs = timers(m, n, k, op, dtype, isa)
                flops = 2.0 * m * n * k
                repeats = 3 if flops > 2e9 else (5 if quick else 9)
                rates = measure(funcs, flops, repeats)
                ours = max(rates[name] for name in ("packed", "nt", "xn") if name in rates)
                theirs = max(rates["blas"], rates["dgemm"])
                cells = [f"{rates[c]:.1f}" if c in rates else "" for c in COLUMNS]
                print(f"| {np.dtype(dtype).name} | {m}x{n}x{k} | {op} | " + " | ".join(cells)
                      + f" | {ours / theirs:.2f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", action="store_true", help="one run in this environment")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, no 2048^3")
    args = parser.parse_args()
    if args.child:
        run(args.quick)
        return
    command = [sys.executable, os.path.abspath(__file__), "--child"] + (["--quick"] * args.quick)
    for extra in ({}, {"OPENBLAS_CORETYPE": "Haswell"}):
        subprocess.run(command, env={**os.environ, **extra}, check=True)
        print()


if __name__ == "__main__":
    main()
