"""What `nnfast bench` records about the machine: CPU, cores, BLAS, OpenMP, versions."""

import importlib.metadata
import os
import platform
import subprocess

import numpy as np

from .. import _gemm
from .baselines import jax_version, sklearn_version, torch_info

# the variables that choose OpenBLAS's kernel set (and the cache size it assumes)
KERNEL_SET_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # nnfast/, not bench/


# ------------------------------------------------------------------------------------ the machine
def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [f for f in ("avx", "avx2", "fma", "avx512f") if f in flags]
    except OSError:
        pass
    return None


def _physical_cores():
    try:
        with open("/proc/cpuinfo") as handle:
            blocks = handle.read().strip().split("\n\n")
    except OSError:
        return None
    cores = set()
    for block in blocks:
        fields = {k.strip(): v.strip() for k, v in
                  (line.split(":", 1) for line in block.splitlines() if ":" in line)}
        if "core id" in fields:
            cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores) or None


def _version(distribution, module=None):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        pass
    if module is not None:
        try:
            return getattr(importlib.import_module(module), "__version__", "unknown")
        except ImportError:
            pass
    return None


def _git_revision():
    """The commit of the source tree nnfast runs from (and whether it has changes), if it is a
    git checkout; None for an installed package."""
    here = _PACKAGE_DIR
    try:
        commit = subprocess.run(["git", "-C", here, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def kernel_set(blas, environ):
    """The BLAS kernel set in use: OpenBLAS's core name ("architecture", e.g. SkylakeX, Haswell,
    Zen) of the library scipy loads (the one nnfast calls; else the first OpenBLAS threadpoolctl
    sees), and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE as set (None when unset: OpenBLAS's own
    choice for this CPU)."""
    openblas = [lib for lib in blas if lib.get("internal_api") == "openblas"]
    scipy_first = sorted(openblas, key=lambda lib: "scipy.libs" not in (lib.get("filepath") or ""))
    info = {"architecture": scipy_first[0].get("architecture") if scipy_first else None}
    info.update({name: environ.get(name) for name in KERNEL_SET_VARIABLES})
    return info


def format_kernel_set(info):
    """"SkylakeX (OPENBLAS_CORETYPE unset: OpenBLAS's choice)" or "Haswell (OPENBLAS_CORETYPE=...)"."""
    chosen = [f"{name}={info[name]}" for name in KERNEL_SET_VARIABLES if info.get(name)]
    why = ", ".join(chosen) if chosen else "OPENBLAS_CORETYPE unset: OpenBLAS's choice"
    return f"{info.get('architecture') or 'unknown'} ({why})"


def machine_info(include_torch=True, include_sklearn=True):
    """CPU, cores, BLAS, OpenMP and the versions of everything a result depends on (a dict).
    torch and sklearn are imported (to check that they work, and for torch's BLAS) unless
    excluded; an excluded or unimportable one is reported by its installed version or None."""
    from .. import _config
    from .._version import __version__

    try:
        config = _config.config()
    except Exception as exc:  # informational: never stop a benchmark over it
        config = {"error": repr(exc)}
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    blas = [{k: lib.get(k) for k in ("internal_api", "version", "threading_layer", "num_threads",
                                     "architecture", "filepath", "error")}
            for lib in config.get("blas", [])]
    info = {
        "cpu_model": _gemm.cpu_model(),
        "cpu_flags": _cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": _physical_cores(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "blas": blas,
        "openmp": config.get("openmp"),
        "openmp_threads": config.get("openmp_threads"),
        "compiled_extension": config.get("compiled_extension"),
        "vector_kernels": config.get("simd"),
        "nnfast_path": _PACKAGE_DIR,
        "nnfast_git": _git_revision(),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": _version("scipy", "scipy"),
            "nnfast": __version__,
            "threadpoolctl": _version("threadpoolctl"),
            "torch": _version("torch"),
            "sklearn": _version("scikit-learn"),
            "matplotlib": _version("matplotlib"),
            "jax": jax_version(),
        },
        "environment": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                    "MKL_NUM_THREADS", "OMP_PROC_BIND",
                                                    "NNFAST_ISA") + KERNEL_SET_VARIABLES
                        if k in os.environ},
        "kernel_set": kernel_set(blas, os.environ),
    }
    if include_torch:
        try:
            info["torch"] = torch_info()
        except Exception as exc:  # a broken torch install: say so, keep going
            info["torch"] = {"error": repr(exc)}
        if info["torch"] is None:
            info["versions"]["torch"] = None
    if include_sklearn:
        info["versions"]["sklearn"] = sklearn_version()
    return info


def format_machine(info):
    versions = ", ".join(f"{k} {v if v else 'not installed'}" for k, v in info["versions"].items())
    cores = f"{info['logical_cpus']} logical CPUs"
    if info.get("physical_cores"):
        cores += f", {info['physical_cores']} physical cores"
    if info.get("usable_cpus") != info.get("logical_cpus"):
        cores += f", {info['usable_cpus']} usable by this process"
    lines = [f"CPU      : {info['cpu_model']}"
             + (f" ({', '.join(info['cpu_flags'])})" if info.get("cpu_flags") else ""),
             f"cores    : {cores}",
             f"platform : {info['platform']}",
             f"OpenMP   : {'yes' if info.get('openmp') else 'no'} "
             f"({info.get('openmp_threads')} threads by default); compiled extension: "
             f"{'yes' if info.get('compiled_extension') else 'NO'}; vector kernels: "
             f"{info.get('vector_kernels')}"]
    for lib in info.get("blas", []):
        if lib.get("error"):
            lines.append(f"BLAS     : unknown ({lib['error']})")
        else:
            lines.append(f"BLAS     : {lib.get('internal_api')} {lib.get('version')} "
                         f"[{lib.get('threading_layer')}, {lib.get('architecture')}] "
                         f"{lib.get('filepath')}")
    if info.get("kernel_set"):
        lines.append(f"kernels  : OpenBLAS kernel set {format_kernel_set(info['kernel_set'])}")
    torch = info.get("torch")
    if torch and "error" not in torch:
        lines.append(f"torch    : {torch.get('version')}, BLAS {torch.get('blas')}")
    lines.append(f"versions : {versions}")
    source = info.get("nnfast_path", "")
    if info.get("nnfast_git"):
        source += f" (git {info['nnfast_git']})"
    lines.append(f"nnfast   : {source}")
    if info.get("environment"):
        lines.append("env      : " + " ".join(f"{k}={v}" for k, v in info["environment"].items()))
    return "\n".join(lines)
