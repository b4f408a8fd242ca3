"""`nnfast.show_config()`: how this installation was built and what it will run on."""

import platform
import sys

import numpy as np

from . import _gemm, _threads
from ._version import __version__


def config():
    """The facts show_config prints, as a dict."""

    try:
        blas = _threads.blas_info()
    except Exception as exc:  # threadpoolctl missing or failing: say so rather than crash
        blas = [{"error": repr(exc)}]
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "compiled_extension": _threads._kernels is not None,
        "openmp": _threads.openmp_enabled(),
        "openmp_threads": _threads.effective_n_threads(None),
        "processors": _threads._num_procs(),
        "cpu": _gemm.cpu_model(),
        "simd": _threads._kernels.simd_isa() if _threads._kernels is not None else None,
        "blas": blas,
        "gemm": _gemm.summary(),
        "dtypes": ["float32", "float64"],
        "backends": ["cython", "numpy"] if _threads._kernels is not None else ["numpy"],
    }


def show_config(file=None, gemm_shapes=False):
    """Print the version, OpenMP (built with it? threads), the CPU, the vector instruction set of
    the compiled kernels, the BLAS libraries (their threads and kernel sets), how GEMM kernels are
    chosen (with gemm_shapes: the kernel of every shape measured here), and the supported dtypes
    and backends."""
    info = config()
    lines = [
        f"nnfast {info['version']}  (Python {info['python']}, NumPy {info['numpy']}, {info['platform']})",
        f"compiled extension : {'yes' if info['compiled_extension'] else 'NO (numpy backend only)'}",
        f"built with OpenMP  : {'yes' if info['openmp'] else 'no (serial build)'}",
        (f"OpenMP threads     : {info['openmp_threads']} (of {info['processors']} processors)"
         if info["openmp"] else "OpenMP threads     : 1 (serial build: the compiled loops use one thread)"),
    ]
    lines.append(f"CPU                : {info['cpu']}")
    if info["simd"] is not None:
        lines.append(f"vector kernels     : {info['simd']}"
                     + (" (scalar libm path: AVX2 not available or NNFAST_ISA=baseline)"
                        if info["simd"] == "baseline" else " (chosen at run time; NNFAST_ISA caps it)"))
    for lib in info["blas"]:
        if "error" in lib:
            lines.append(f"BLAS               : unknown ({lib['error']})")
        else:
            lines.append(f"BLAS               : {lib.get('internal_api')} {lib.get('version')} "
                         f"[{lib.get('threading_layer')}], kernels {lib.get('architecture')}, "
                         f"{lib.get('num_threads')} threads, {lib.get('filepath')}")
    gemm = info["gemm"]
    lines.append(f"GEMM kernels       : {gemm['mode']} (NNFAST_GEMM); cache {gemm['cache']}; "
                 + (", ".join(f"{name} {count}" for name, count in gemm["kernels"].items())
                    or "no shapes measured yet"))
    if gemm_shapes:
        for row in _gemm.describe():
            timings = "  ".join(f"{name} {seconds * 1e6:.2f} us"
                                for name, seconds in sorted(row["seconds"].items()))
            lines.append(f"  {row['form']} {row['dtype']} {row['m']}x{row['n']}x{row['k']}: "
                         f"{row['kernel']:<5} {timings}")
    lines.append(f"dtypes             : {', '.join(info['dtypes'])}")
    lines.append(f"backends           : {', '.join(info['backends'])}")
    print("\n".join(lines), file=file)
