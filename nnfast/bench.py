"""``nnfast bench``: how fast nnfast trains and infers on this machine, against its baselines.

    nnfast bench                          # the full run (50,000 rows per epoch; a few minutes)
    nnfast bench --quick                  # 10,000 rows, fewer repeats, slow baselines skipped (< 1 min)
    nnfast bench --json out.json          # also write every timing, the machine and the targets
    nnfast bench --plot out.png           # epoch time vs batch size and vs hidden width
    python -m nnfast.bench ...            # the same

What is measured, in one process and one run:

* one epoch of mini-batch SGD (sigmoid units, cross-entropy cost, eta 0.5 -- 0.1 for the big net --,
  lmbda 5.0, ``monitor=False``) of [784, 30, 10] and [784, 100, 10] at batch 10 and 100, float64 and
  float32, 1 and 2 threads, and of [784, 512, 512, 10] at batch 256; inference (``feedforward``) on
  10,000 rows; synthetic MNIST-shaped data (uniform [0, 1) pixels, labels 0-9, fixed seed);
* implementations: nnfast's compiled backend, its NumPy reference backend, the book's per-example
  loop (``nnfast._bench_baselines.PerExampleNetwork``), PyTorch (nn + optim.SGD, and hand-written
  matmuls without autograd) and scikit-learn's MLPClassifier when installed ("not installed" rows
  otherwise);
* a FLOP time bound: the exact FLOP count of an epoch (2 m n_in n_out per layer for the forward
  GEMM, the same for the weight gradient, the same for the backward delta of every layer but the
  first; elementwise work not counted) divided by the GFLOP/s a large GEMM attains here (the GEMM
  probe: scipy.linalg.blas dgemm/sgemm, the BLAS nnfast's kernels call);
* peak extra memory during ``fit`` (tracemalloc, and the RSS high-water mark where Linux offers it);
* how the epoch time grows with the rows and with the hidden width.

Every timing is the best of several repeats after a warm-up; within a group the implementations and
thread counts alternate (A B C A B C ...), so a burst of background load does not land on one of
them only. Training times are the training pass alone: ``History.seconds`` for nnfast, the batch loop
for the baselines (the epoch's permutation is drawn before the clock starts; scikit-learn's
``partial_fit`` is timed whole). A "targets" section follows the table.
"""

import argparse
import gc
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import time
import tracemalloc

import numpy as np

from . import _threads
from ._bench_baselines import (NotInstalled, PerExampleNetwork, SklearnTrainer, TorchManualTrainer,
                               TorchNNTrainer, gemm_probes, sklearn_version, torch_info)

__all__ = ["main", "run", "format_report", "format_table", "format_targets", "evaluate_targets",
           "batch_flops", "epoch_flops", "inference_flops", "machine_info", "make_data", "plot"]

SCHEMA = "nnfast-bench/1"

N_INPUTS, N_CLASSES = 784, 10
SMALL_NETS = ((784, 30, 10), (784, 100, 10))
SMALL_BATCHES = (10, 100)
BIG_NET, BIG_BATCH = (784, 512, 512, 10), 256
DTYPES = ("float64", "float32")
ETA, ETA_BIG, LMBDA = 0.5, 0.1, 5.0
SWEEP_BATCH_NET, SWEEP_BATCHES = (784, 100, 10), (10, 32, 100, 256)
SWEEP_WIDTHS, SWEEP_WIDTH_BATCH = (30, 100, 300), 10
WARMUP_ROWS = 1000

IMPLEMENTATIONS = {  # key -> the label the table shows
    "compiled": "nnfast compiled",
    "reference": "nnfast reference",
    "per_example": "per-example loop",
    "torch_nn": "torch nn+SGD",
    "torch_manual": "torch manual",
    "sklearn": "sklearn MLP",
    "bound": "FLOP bound",
}
SKIPPABLE = ("reference", "per_example", "torch", "sklearn", "big", "inference", "sweeps",
             "scaling", "memory")

PROFILES = {
    "full": {"rows": 50_000, "big_rows": 10_000, "infer_rows": 10_000, "gemm_size": 2000,
             "repeats": {"compiled": 5, "reference": 3, "per_example": 2, "torch_nn": 2,
                         "torch_manual": 2, "sklearn": 1, "infer": 10, "gemm": 3, "scaling": 5},
             "budget": 4.0, "skip": ()},
    "quick": {"rows": 10_000, "big_rows": 5_000, "infer_rows": 10_000, "gemm_size": 2000,
              "repeats": {"compiled": 3, "reference": 2, "per_example": 1, "torch_nn": 1,
                          "torch_manual": 1, "sklearn": 1, "infer": 5, "gemm": 2, "scaling": 3},
              "budget": 1.0, "skip": ("sklearn",)},
}

TARGET_CONFIG = ((784, 30, 10), 10, "float64")  # ... at 1 thread


# ------------------------------------------------------------------------------------ FLOPs, data
def batch_flops(sizes, m):
    """FLOPs of one training step on m rows: per layer 2 m n_in n_out for the forward GEMM, the same
    for the weight-gradient GEMM, and the same for the backward delta GEMM of every layer except the
    first (whose delta is never needed). Elementwise work is not counted."""
    total = 0
    for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        gemm = 2 * m * n_in * n_out
        total += 2 * gemm + (gemm if layer > 0 else 0)
    return total


def epoch_flops(sizes, rows, batch_size):
    """FLOPs of one epoch: every full batch, plus the shorter last one."""
    full, rest = divmod(rows, batch_size)
    return full * batch_flops(sizes, batch_size) + (batch_flops(sizes, rest) if rest else 0)


def inference_flops(sizes, rows):
    """FLOPs of one feedforward pass: the forward GEMMs only."""
    return sum(2 * rows * n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def make_data(rows, seed=0, n_inputs=N_INPUTS, n_classes=N_CLASSES, dtypes=DTYPES):
    """MNIST-shaped synthetic data, made once: ({dtype: X (rows, n_inputs)}, labels (rows,)).

    One float64 draw of uniform [0, 1) pixels and labels 0..n_classes-1 from default_rng(seed);
    the float32 inputs are the float64 ones rounded."""
    rng = np.random.default_rng(seed)
    base = rng.random((rows, n_inputs))
    labels = rng.integers(0, n_classes, size=rows).astype(np.intp)
    return {dtype: (base if dtype == "float64" else np.ascontiguousarray(base, dtype=dtype))
            for dtype in dtypes}, labels


# ------------------------------------------------------------------------------------ the machine
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


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
    here = os.path.dirname(os.path.abspath(__file__))
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


def machine_info(include_torch=True, include_sklearn=True):
    """CPU, cores, BLAS, OpenMP and the versions of everything a result depends on (a dict).
    torch and sklearn are imported (to check that they work, and for torch's BLAS) unless
    excluded; an excluded or unimportable one is reported by its installed version or None."""
    from . import __version__, _config

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
        "cpu_model": _cpu_model(),
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
        "nnfast_path": os.path.dirname(os.path.abspath(__file__)),
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
        },
        "environment": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                    "MKL_NUM_THREADS", "OMP_PROC_BIND",
                                                    "NNFAST_ISA")
                        if k in os.environ},
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


# ------------------------------------------------------------------------------------ timers
def _network(sizes, dtype, backend, threads, seed):
    from .network import Network

    return Network(list(sizes), activation="sigmoid", cost="cross_entropy", dtype=dtype,
                   backend=backend, seed=seed, n_threads=threads)


def _eta(sizes):
    return ETA_BIG if len(sizes) > 3 else ETA


def _nnfast_train_timer(backend, X, labels, sizes, batch_size, dtype, threads, seed):
    net = _network(sizes, dtype, backend, threads, seed)
    fit = dict(epochs=1, batch_size=batch_size, eta=_eta(sizes), lmbda=LMBDA, monitor=False)
    warm = min(WARMUP_ROWS, len(X))
    net.fit(X[:warm], labels[:warm], **fit)
    return lambda: net.fit(X, labels, **fit).seconds[0]


def _nnfast_infer_timer(backend, X, sizes, dtype, threads, seed):
    net = _network(sizes, dtype, backend, threads, seed)
    net.feedforward(X[:min(WARMUP_ROWS, len(X))])

    def one_pass():
        started = time.perf_counter()
        net.feedforward(X)
        return time.perf_counter() - started

    return one_pass


def _order_timer(trainer, n, seed):
    """Time trainer.train_epoch(order) with a fresh permutation drawn before the clock starts."""
    rng = np.random.default_rng(seed)
    trainer.train_epoch(rng.permutation(min(WARMUP_ROWS, n)))  # warm-up

    def one_epoch():
        order = rng.permutation(n)
        started = time.perf_counter()
        trainer.train_epoch(order)
        return time.perf_counter() - started

    return one_epoch


class _PerExampleTrainer:
    def __init__(self, X, labels, sizes, batch_size, threads, seed):
        net = _network(sizes, "float64", "numpy", 1, seed)  # nnfast's initial weights
        self.model = PerExampleNetwork(net.weights, net.biases, "cross_entropy")
        self.xs, self.ys = PerExampleNetwork.columns(X, labels, sizes[-1])
        self.batch_size, self.eta, self.threads, self.n = batch_size, _eta(sizes), threads, len(X)

    def train_epoch(self, order):
        with _threads.blas_threads(self.threads):
            self.model.train_epoch(self.xs, self.ys, order, self.batch_size, self.eta, LMBDA, self.n)


def _train_timer(impl, X, labels, sizes, batch_size, dtype, threads, seed):
    """A warmed-up function timing one more epoch of `impl` (raises NotInstalled)."""
    if impl in ("compiled", "reference"):
        backend = "cython" if impl == "compiled" else "numpy"
        return _nnfast_train_timer(backend, X, labels, sizes, batch_size, dtype, threads, seed)
    if impl == "per_example":
        return _order_timer(_PerExampleTrainer(X, labels, sizes, batch_size, threads, seed),
                            len(X), seed)
    if impl in ("torch_nn", "torch_manual"):
        cls = TorchNNTrainer if impl == "torch_nn" else TorchManualTrainer
        trainer = cls(sizes, X, labels, batch_size, _eta(sizes), LMBDA, dtype, threads, seed=seed)
        return _order_timer(trainer, len(X), seed)
    if impl == "sklearn":
        trainer = SklearnTrainer(sizes, X, labels, batch_size, _eta(sizes), LMBDA, dtype, threads,
                                 seed=seed)

        def one_epoch():
            started = time.perf_counter()
            trainer.train_epoch()
            return time.perf_counter() - started

        return one_epoch
    raise ValueError(f"unknown implementation {impl!r}")


def _infer_timer(impl, X, labels, sizes, dtype, threads, seed):
    if impl in ("compiled", "reference"):
        return _nnfast_infer_timer("cython" if impl == "compiled" else "numpy", X, sizes, dtype,
                                   threads, seed)
    if impl == "torch_nn":
        trainer = TorchNNTrainer(sizes, X, labels, 10, ETA, LMBDA, dtype, threads, seed=seed)
        X_tensor = trainer.X
        trainer.feedforward(X_tensor[:min(WARMUP_ROWS, len(X))])

        def one_pass():
            started = time.perf_counter()
            trainer.feedforward(X_tensor)
            return time.perf_counter() - started

        return one_pass
    raise ValueError(f"no inference timer for {impl!r}")


# ------------------------------------------------------------------------------------ measuring
def _config_key(kind, sizes, batch_size, rows, dtype):
    return (kind, tuple(sizes), batch_size, rows, dtype)


def _record(kind, sizes, batch_size, rows, dtype, threads, impl, group):
    return {"kind": kind, "sizes": list(sizes), "batch_size": batch_size, "rows": rows,
            "dtype": dtype, "threads": threads, "impl": impl, "label": IMPLEMENTATIONS[impl],
            "group": group, "status": "ok", "note": "", "seconds": [], "best": None}


def measure_group(entries, say, budget=None):
    """Measure a group of (record, make_timer, repeats) in alternation.

    Every timer is made (and warmed up) first; then round r runs every timer that still has
    repeats left, in order. With a `budget` (seconds), a timer that has run at least twice and
    spent that long already stops early (slow measurements: best of fewer). A missing optional
    library gives status "not installed"; any other failure status "error" with its message (the
    run goes on). Returns the records.
    """
    live = []
    for record, make_timer, repeats in entries:
        try:
            live.append((record, make_timer(), repeats))
        except NotInstalled as exc:
            record["status"], record["note"] = "not installed", str(exc)
        except Exception as exc:  # report it in the table; do not lose the whole run
            record["status"], record["note"] = "error", f"{type(exc).__name__}: {exc}"
            say(f"  ! {record['label']}: {record['note']}")
    for round_ in range(max((r for _, _, r in live), default=0)):
        for record, timer, repeats in live:
            done = record["seconds"]
            if round_ >= repeats or record["status"] != "ok":
                continue
            if budget is not None and len(done) >= 2 and sum(done) >= budget:
                continue
            try:
                done.append(float(timer()))
            except Exception as exc:
                record["status"], record["note"] = "error", f"{type(exc).__name__}: {exc}"
                say(f"  ! {record['label']}: {record['note']}")
    for record, _, _ in live:
        if record["status"] == "ok" and record["seconds"]:
            record["best"] = min(record["seconds"])
    # (no gc.collect() here: the timers are freed by reference counting, and a full collection
    # costs tens of milliseconds once torch is imported)
    return [entry[0] for entry in entries]


def _fit_peak_memory(X, labels, net_dtype, sizes, batch_size, epochs, seed):
    """Peak extra bytes during net.fit(X, ...): (tracemalloc peak, RSS high-water growth or None)."""
    net = _network(sizes, net_dtype, "cython", 1, seed)
    fit = dict(epochs=epochs, batch_size=batch_size, eta=_eta(sizes), lmbda=LMBDA, monitor=False)
    net.fit(X[:min(WARMUP_ROWS, len(X))], labels[:min(WARMUP_ROWS, len(X))], **dict(fit, epochs=1))
    gc.collect()
    rss_before = _reset_rss_peak()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        net.fit(X, labels, **fit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_peak = _rss_peak()
    rss = None if rss_before is None or rss_peak is None else max(0, rss_peak - rss_before)
    return peak - start, rss, net


def _status_kib(field):
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_rss_peak():
    """Reset the RSS high-water mark (Linux: write 5 to /proc/self/clear_refs); the current RSS,
    or None where this is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return None
    return _status_kib("VmRSS")


def _rss_peak():
    return _status_kib("VmHWM")


def measure_memory(inputs, labels, rows, seed, sizes=SMALL_NETS[0], batch_size=10, epochs=3):
    """Peak extra memory during `epochs` epochs of fit on a float32 network: with float64 X (one
    converted copy expected) and with float32 X (no copy expected)."""
    results = []
    for x_dtype in ("float64", "float32"):
        X = inputs[x_dtype][:rows]
        itemsize = np.dtype("float32").itemsize
        peak, rss, net = _fit_peak_memory(X, labels[:rows], "float32", sizes, batch_size, epochs,
                                          seed)
        copy_bytes = X.size * itemsize if X.dtype != np.float32 else 0
        # O(parameters + batch buffers): the parameters, their gradients and a few copies; the
        # per-batch activations and deltas; the epoch's row order and labels (8 bytes a row each);
        # 1 MiB for Python's own bookkeeping.
        allowance = (8 * net.params.nbytes + 8 * batch_size * sum(sizes) * itemsize
                     + 16 * len(X) + (1 << 20))
        results.append({
            "x_dtype": x_dtype, "net_dtype": "float32", "sizes": list(sizes),
            "batch_size": batch_size, "rows": len(X), "epochs": epochs, "x_bytes": X.nbytes,
            "expected_copy_bytes": copy_bytes, "allowance_bytes": allowance,
            "peak_extra_bytes": int(peak), "rss_peak_extra_bytes": rss,
            "peak_over_x": peak / X.nbytes,
            "excess_bytes": int(peak - copy_bytes - allowance),
            "pass": bool(peak <= copy_bytes + allowance),
        })
        del net
        gc.collect()
    return results


# ------------------------------------------------------------------------------------ the run
def _progress(stream=None):
    started = time.perf_counter()

    def say(line):
        if stream is not None:
            print(f"[{time.perf_counter() - started:6.1f}s] {line}", file=stream, flush=True)

    return say


def _resolve_options(profile, rows, infer_rows, big_rows, repeats, gemm_size, skip):
    options = dict(PROFILES[profile])
    options["repeats"] = dict(options["repeats"])
    if rows is not None:
        options["rows"] = int(rows)
        options["big_rows"] = min(options["big_rows"], int(rows))
        options["infer_rows"] = min(options["infer_rows"], int(rows))
    if infer_rows is not None:
        options["infer_rows"] = int(infer_rows)
    if big_rows is not None:
        options["big_rows"] = int(big_rows)
    if repeats is not None:
        options["repeats"] = {k: int(repeats) for k in options["repeats"]}
    if gemm_size is not None:
        options["gemm_size"] = int(gemm_size)
    options["skip"] = tuple(sorted(set(options["skip"]) | set(skip or ())))
    for name in options["skip"]:
        if name not in SKIPPABLE:
            raise ValueError(f"cannot skip {name!r}; choose from {', '.join(SKIPPABLE)}")
    for key in ("rows", "infer_rows", "big_rows", "gemm_size"):
        if options[key] < 1:
            raise ValueError(f"{key.replace('_', '-')} must be at least 1, got {options[key]}")
    return options


def run(profile="full", rows=None, infer_rows=None, big_rows=None, threads=(1, 2), repeats=None,
        gemm_size=None, skip=(), seed=0, progress=None):
    """Run every measurement; returns the report (a JSON-ready dict).

    profile: "full" or "quick" (see PROFILES); rows, infer_rows, big_rows, repeats, gemm_size
    override it; threads: the thread counts to measure (the baselines run at the first, or at 1
    when 1 is among them); skip: names from SKIPPABLE; progress: a stream for one line per group.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
    options = _resolve_options(profile, rows, infer_rows, big_rows, repeats, gemm_size, skip)
    threads = sorted({_threads.effective_n_threads(t) for t in threads})
    if not threads:
        raise ValueError("need at least one thread count")
    base_threads = 1 if 1 in threads else threads[0]
    skip, reps = set(options["skip"]), options["repeats"]
    say = _progress(progress)
    started = time.perf_counter()
    n_rows = options["rows"]
    say(f"machine info; data: {max(n_rows, options['infer_rows'], options['big_rows']):,} rows")
    machine = machine_info(include_torch="torch" not in skip,
                           include_sklearn="sklearn" not in skip)
    inputs, labels = make_data(max(n_rows, options["infer_rows"], options["big_rows"]), seed)
    quick = profile == "quick"
    results = []

    # 1. the GEMM probe: attainable GFLOP/s per dtype and thread count
    # (run again at the end; the bound uses the best of both)
    say(f"GEMM probe: {options['gemm_size']}^3, {', '.join(DTYPES)}, threads "
        + ",".join(str(t) for t in threads))
    probe = gemm_probes(DTYPES, threads, options["gemm_size"], reps["gemm"], seed)

    def baselines_here(sizes, batch_size, dtype):
        chosen = []
        at_target = (tuple(sizes), batch_size, dtype) == TARGET_CONFIG
        if "torch" not in skip and (at_target or not quick):
            chosen += ["torch_nn"] + ([] if quick else ["torch_manual"])
        if "sklearn" not in skip and not quick:
            chosen.append("sklearn")
        if "per_example" not in skip and at_target:
            chosen.append("per_example")
        return chosen

    def train_group(sizes, batch_size, dtype, rows, group, impls_all_threads, impls_base):
        X, y = inputs[dtype][:rows], labels[:rows]
        entries = []
        for impl in impls_all_threads:
            for t in threads:
                entries.append((impl, t))
        entries += [(impl, base_threads) for impl in impls_base]
        say(f"train {list(sizes)} batch {batch_size} {dtype}, {rows:,} rows: "
            + ", ".join(f"{IMPLEMENTATIONS[i]}@{t}" for i, t in entries))
        group_entries = []
        for impl, t in entries:
            record = _record("train", sizes, batch_size, rows, dtype, t, impl, group)
            rep = reps.get(impl, reps["compiled"])
            group_entries.append((record, lambda impl=impl, t=t: _train_timer(
                impl, X, y, sizes, batch_size, dtype, t, seed), rep))
        results.extend(measure_group(group_entries, say, options["budget"]))

    nnfast_impls = ["compiled"] + ([] if "reference" in skip else ["reference"])

    # 2. the main configurations
    for sizes in SMALL_NETS:
        for batch_size in SMALL_BATCHES:
            for dtype in DTYPES:
                train_group(sizes, batch_size, dtype, n_rows, "main", nnfast_impls,
                            baselines_here(sizes, batch_size, dtype))

    # 3. the big network: every implementation at every thread count
    if "big" not in skip:
        for dtype in DTYPES:
            torch_impls = [] if "torch" in skip or quick else ["torch_nn", "torch_manual"]
            train_group(BIG_NET, BIG_BATCH, dtype, options["big_rows"], "big",
                        nnfast_impls + torch_impls, [])

    # 4. inference
    if "inference" not in skip:
        infer_rows = options["infer_rows"]
        for sizes in SMALL_NETS + (BIG_NET,):
            for dtype in DTYPES:
                X = inputs[dtype][:infer_rows]
                impls = nnfast_impls + ([] if "torch" in skip or quick else ["torch_nn"])
                say(f"inference {list(sizes)} {dtype}, {infer_rows:,} rows")
                entries = []
                for impl in impls:
                    for t in threads:
                        record = _record("infer", sizes, None, infer_rows, dtype, t, impl,
                                         "inference")
                        if impl == "torch_nn":
                            record["label"] = "torch nn"  # the same model, forward only
                        rep = reps["infer"] if impl != "torch_nn" else max(1, reps["infer"] // 2)
                        entries.append((record, lambda impl=impl, t=t, sizes=sizes, X=X, dtype=dtype:
                                        _infer_timer(impl, X, labels[:len(X)], sizes, dtype, t,
                                                     seed), rep))
                results.extend(measure_group(entries, say, options["budget"]))

    # 5. the plot's extra points: batch 32 and 256 of [784, 100, 10], width 300 at batch 10
    if "sweeps" not in skip:
        extra = [(SWEEP_BATCH_NET, b) for b in SWEEP_BATCHES if b not in SMALL_BATCHES]
        extra += [((N_INPUTS, h, N_CLASSES), SWEEP_WIDTH_BATCH) for h in SWEEP_WIDTHS
                  if (N_INPUTS, h, N_CLASSES) not in SMALL_NETS]
        for sizes, batch_size in extra:
            impls = ["compiled"] + ([] if "reference" in skip else ["reference"])
            impls += [] if "torch" in skip or quick else ["torch_nn"]
            train_group(sizes, batch_size, "float64", n_rows, "sweep", [], impls)

    # 6. scaling: epoch time vs rows and vs hidden width (compiled, float64, base threads)
    scaling = None
    if "scaling" not in skip:
        scaling = _measure_scaling(inputs, labels, n_rows, base_threads, reps["scaling"], seed,
                                   say, options["budget"])

    # 7. memory
    memory = None
    if "memory" not in skip:
        say(f"memory: fit of {n_rows:,} rows, 3 epochs, float32 network, float64 and float32 X")
        try:
            memory = measure_memory(inputs, labels, n_rows, seed)
        except Exception as exc:  # e.g. no compiled extension: report, keep the timings
            say(f"  ! memory: {type(exc).__name__}: {exc}")

    say("GEMM probe again")
    for first, again in zip(probe, gemm_probes(DTYPES, threads, options["gemm_size"], reps["gemm"],
                                              seed)):
        first["seconds"] += again["seconds"]
        first["best"] = min(first["seconds"])
        first["gflops"] = first["flops"] / first["best"] / 1e9

    report = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "profile": profile,
        "parameters": {"rows": n_rows, "infer_rows": options["infer_rows"],
                       "big_rows": options["big_rows"], "threads": threads,
                       "base_threads": base_threads, "repeats": reps,
                       "budget_seconds": options["budget"],
                       "gemm_size": options["gemm_size"], "skip": sorted(skip), "seed": seed,
                       "eta": ETA, "eta_big": ETA_BIG, "lmbda": LMBDA,
                       "activation": "sigmoid", "cost": "cross_entropy",
                       "data": "uniform [0, 1) pixels, labels 0-9, numpy default_rng(seed)"},
        "machine": machine,
        "gemm_probe": probe,
        "results": results,
        "scaling": scaling,
        "memory": memory,
    }
    _derive(report)
    report["targets"] = evaluate_targets(report)
    report["total_seconds"] = time.perf_counter() - started
    say(f"done in {report['total_seconds']:.1f} s")
    return report


def _measure_scaling(inputs, labels, n_rows, threads, repeats, seed, say, budget=None):
    X = inputs["float64"]
    small = SMALL_NETS[0]
    row_counts = sorted({max(1, n_rows // 10), max(1, n_rows // 5), n_rows})
    points = [("rows", small, r) for r in row_counts]
    points += [("width", (N_INPUTS, h, N_CLASSES), n_rows) for h in SWEEP_WIDTHS]
    say("scaling (compiled, float64, batch 10): rows " + ", ".join(f"{r:,}" for r in row_counts)
        + "; widths " + ", ".join(str(h) for h in SWEEP_WIDTHS))
    entries = []
    for axis, sizes, rows in points:
        record = _record("train", sizes, 10, rows, "float64", threads, "compiled", "scaling")
        record["axis"] = axis
        entries.append((record, lambda sizes=sizes, rows=rows: _train_timer(
            "compiled", X[:rows], labels[:rows], sizes, 10, "float64", threads, seed), repeats))
    records = measure_group(entries, say, budget)
    out = {"threads": threads, "batch_size": 10, "dtype": "float64", "rows": [], "width": []}
    for record in records:
        point = {"rows": record["rows"], "width": record["sizes"][1], "status": record["status"],
                 "seconds": record["best"], "all_seconds": record["seconds"]}
        if record["best"] is not None:
            point["per_row"] = record["best"] / record["rows"]
            point["per_row_width"] = record["best"] / (record["rows"] * record["sizes"][1])
            point["per_gflop"] = record["best"] / (epoch_flops(record["sizes"], record["rows"], 10)
                                                   / 1e9)
        out[record["axis"]].append(point)
    for axis, unit in (("rows", "per_row"), ("width", "per_row_width")):
        values = [p[unit] for p in out[axis] if p.get(unit) is not None]
        if len(values) >= 2:
            out[f"{axis}_spread"] = max(values) / min(values)
            out[f"{axis}_growth"] = values[-1] / values[0]  # largest size's per-unit time / smallest's
    return out


def _attainable(report, dtype, threads):
    for probe in report["gemm_probe"]:
        if probe["dtype"] == dtype and probe["threads"] == threads:
            return probe["gflops"] * 1e9
    return None


def _derive(report):
    """Per result: examples/s, FLOPs, GFLOP/s, the FLOP bound and the ratios; adds a "bound" row
    per (configuration, threads)."""
    results = report["results"]
    by_key = {}
    for r in results:
        by_key[(r["group"], _config_key(r["kind"], r["sizes"], r["batch_size"], r["rows"],
                                        r["dtype"]), r["threads"], r["impl"])] = r
    bounds = []
    seen = set()
    for r in results:
        if r["kind"] == "train":
            r["flops"] = epoch_flops(r["sizes"], r["rows"], r["batch_size"])
        else:
            r["flops"] = inference_flops(r["sizes"], r["rows"])
        attainable = _attainable(report, r["dtype"], r["threads"])
        r["bound_seconds"] = r["flops"] / attainable if attainable else None
        key = _config_key(r["kind"], r["sizes"], r["batch_size"], r["rows"], r["dtype"])
        if r["best"]:
            r["examples_per_s"] = r["rows"] / r["best"]
            r["gflops"] = r["flops"] / r["best"] / 1e9
            r["x_bound"] = r["best"] / r["bound_seconds"] if r["bound_seconds"] else None
            compiled = by_key.get((r["group"], key, r["threads"], "compiled"))
            if r["impl"] != "compiled" and compiled and compiled["best"]:
                r["compiled_speedup"] = r["best"] / compiled["best"]
            one = by_key.get((r["group"], key, 1, r["impl"]))
            if r["threads"] != 1 and one and one["best"]:
                r["thread_speedup"] = one["best"] / r["best"]
        if r["group"] != "scaling" and (key, r["threads"]) not in seen and r["bound_seconds"]:
            seen.add((key, r["threads"]))
            bound = _record(r["kind"], r["sizes"], r["batch_size"], r["rows"], r["dtype"],
                            r["threads"], "bound", r["group"])
            bound.update(best=r["bound_seconds"], flops=r["flops"], bound_seconds=r["bound_seconds"],
                         examples_per_s=r["rows"] / r["bound_seconds"],
                         gflops=attainable / 1e9, x_bound=1.0,
                         note="FLOPs / attainable GEMM GFLOP/s")
            bounds.append((r, bound))
    # order: configurations as first measured; within one, by threads, then implementation,
    # the FLOP bound last
    results.extend(bound for _, bound in bounds)
    first_seen = {}
    for i, r in enumerate(results):
        first_seen.setdefault((r["group"], r["kind"], tuple(r["sizes"]), r["batch_size"],
                               r["rows"], r["dtype"]), i)
    impl_order = list(IMPLEMENTATIONS)
    results.sort(key=lambda r: (first_seen[(r["group"], r["kind"], tuple(r["sizes"]),
                                            r["batch_size"], r["rows"], r["dtype"])],
                                r["threads"], impl_order.index(r["impl"])))


# ------------------------------------------------------------------------------------ targets
def _find(report, kind, sizes, batch_size, dtype, threads, impl, group=None):
    for r in report["results"]:
        if (r["kind"] == kind and tuple(r["sizes"]) == tuple(sizes) and r["batch_size"] == batch_size
                and r["dtype"] == dtype and r["threads"] == threads and r["impl"] == impl
                and (group is None or r["group"] == group)):
            return r
    return None


def _best(record):
    return record["best"] if record and record["status"] == "ok" and record["best"] else None


def _target(name, measured, required, ok, note=""):
    if measured is None:
        return {"target": name, "measured": None, "required": required, "result": "n/a",
                "note": note}
    return {"target": name, "measured": measured, "required": required,
            "result": "PASS" if ok else "FAIL", "note": note}


def _why_missing(*records):
    for r in records:
        if r is None:
            return "not measured"
        if r["status"] != "ok":
            return f"{r['label']}: {r['status']}"
    return ""


def _net(sizes):
    return "[" + ", ".join(str(s) for s in sizes) + "]"


def evaluate_targets(report):
    """The issue's targets, each {"target", "measured", "required", "result" (PASS/FAIL/n/a)}."""
    targets = []
    sizes, batch, dtype = TARGET_CONFIG
    compiled = _find(report, "train", sizes, batch, dtype, 1, "compiled", "main")
    where = f"{_net(sizes)} b{batch} {dtype} 1 thr"
    for impl, factor in (("reference", 4.0), ("per_example", 20.0), ("torch_nn", 5.0)):
        other = _find(report, "train", sizes, batch, dtype, 1, impl, "main")
        c, o = _best(compiled), _best(other)
        ratio = o / c if c and o else None
        targets.append(_target(f"{where}: compiled vs {IMPLEMENTATIONS[impl]}", ratio,
                               f">= {factor:g}x", ratio is not None and ratio >= factor,
                               _why_missing(compiled, other)))
    for batch_size in SMALL_BATCHES:
        for dt in DTYPES:
            r = _find(report, "train", (784, 100, 10), batch_size, dt, 1, "compiled", "main")
            value = r.get("x_bound") if r and _best(r) else None
            targets.append(_target(f"[784, 100, 10] b{batch_size} {dt} 1 thr: compiled / FLOP bound",
                                   value, "<= 2.0x", value is not None and value <= 2.0,
                                   _why_missing(r)))
    r64 = _find(report, "train", (784, 100, 10), 100, "float64", 1, "compiled", "main")
    r32 = _find(report, "train", (784, 100, 10), 100, "float32", 1, "compiled", "main")
    ratio = _best(r64) / _best(r32) if _best(r64) and _best(r32) else None
    targets.append(_target("[784, 100, 10] b100 1 thr: float32 vs float64 (compiled)", ratio,
                           ">= 1.7x", ratio is not None and ratio >= 1.7, _why_missing(r64, r32)))
    # threads: every compiled configuration at 1 and 2 threads
    for r in report["results"]:
        if r["impl"] != "compiled" or r["threads"] != 2 or r["group"] == "scaling":
            continue
        one = _find(report, r["kind"], r["sizes"], r["batch_size"], r["dtype"], 1, "compiled",
                    r["group"])
        slower = _best(r) / _best(one) if _best(r) and _best(one) else None
        what = (f"train {_net(r['sizes'])} b{r['batch_size']}" if r["kind"] == "train"
                else f"infer {_net(r['sizes'])}")
        targets.append(_target(f"{what} {r['dtype']}: 2 thr time / 1 thr time", slower, "<= 1.05",
                               slower is not None and slower <= 1.05, _why_missing(r, one)))
    for dt in DTYPES:
        one = _find(report, "train", BIG_NET, BIG_BATCH, dt, 1, "compiled", "big")
        two = _find(report, "train", BIG_NET, BIG_BATCH, dt, 2, "compiled", "big")
        speedup = _best(one) / _best(two) if _best(one) and _best(two) else None
        if one is None and two is None and dt != "float64":
            continue
        targets.append(_target(f"{_net(BIG_NET)} b{BIG_BATCH} {dt}: 2-thread speed-up", speedup,
                               ">= 1.5x", speedup is not None and speedup >= 1.5,
                               _why_missing(one, two)))
    for r in report["results"]:
        if r["kind"] == "infer" and r["impl"] == "compiled":
            ref = _find(report, "infer", r["sizes"], None, r["dtype"], r["threads"], "reference")
            ratio = _best(ref) / _best(r) if _best(ref) and _best(r) else None
            targets.append(_target(f"infer {_net(r['sizes'])} {r['dtype']} {r['threads']} thr, "
                                   f"{r['rows']:,} rows: reference / compiled", ratio, ">= 1.0x",
                                   ratio is not None and ratio >= 1.0, _why_missing(r, ref)))
    for m in report.get("memory") or []:
        expected = "one float32 copy" if m["expected_copy_bytes"] else "no copy"
        limit = (m["expected_copy_bytes"] + m["allowance_bytes"]) / m["x_bytes"]
        targets.append(_target(
            f"fit memory, {m['x_dtype']} X on a float32 net ({expected} expected): peak extra / X",
            m["peak_over_x"], f"<= {limit:.3f}", m["pass"],
            f"{m['peak_extra_bytes'] / 2**20:.1f} MiB peak extra"))
    scaling = report.get("scaling")
    if scaling:
        for axis, unit in (("rows", "time per row"), ("width", "time per row*width")):
            growth = scaling.get(f"{axis}_growth")
            targets.append(_target(f"linear in {axis}: {unit}, largest size / smallest", growth,
                                   "<= 1.25", growth is not None and growth <= 1.25,
                                   f"spread {scaling.get(f'{axis}_spread', float('nan')):.2f}"))
    return targets


# ------------------------------------------------------------------------------------ formatting
def _seconds(value):
    if value is None:
        return ""
    if value >= 100:
        return f"{value:.1f}"
    if value >= 10:
        return f"{value:.2f}"
    return f"{value:.4f}"


def _ratio(value):
    return "" if value is None else f"{value:.2f}x"


def _markdown(header, rows, align):
    """A Markdown table with padded columns (readable as plain text too)."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]

    def line(cells):
        return "| " + " | ".join(str(c).rjust(w) if a == "r" else str(c).ljust(w)
                                 for c, w, a in zip(cells, widths, align)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2))
                          for w, a in zip(widths, align)) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in rows])


def _configuration(r):
    if r["kind"] == "train":
        return f"train {_net(r['sizes'])} b{r['batch_size']}, {r['rows']:,} rows"
    return f"infer {_net(r['sizes'])}, {r['rows']:,} rows"


def format_table(report):
    """The results table: one row per (configuration, threads, implementation), then the FLOP
    bound. seconds: per epoch (train) or per pass (infer); x bound: seconds / FLOP bound;
    compiled speed-up: this implementation's time / nnfast compiled's (same threads);
    2 thr vs 1: this implementation's time at 1 thread / at 2."""
    header = ["configuration", "dtype", "thr", "implementation", "seconds", "examples/s",
              "GFLOP/s", "x bound", "compiled speed-up", "2 thr vs 1"]
    rows = []
    for r in report["results"]:
        if r["group"] == "scaling":
            continue
        if r["status"] != "ok" or r["best"] is None:
            rows.append([_configuration(r), r["dtype"], r["threads"], r["label"],
                         r["status"], "", "", "", "", ""])
            continue
        rows.append([_configuration(r), r["dtype"], r["threads"], r["label"], _seconds(r["best"]),
                     f"{r['examples_per_s']:,.0f}", f"{r['gflops']:.1f}",
                     _ratio(r.get("x_bound")) if r["impl"] != "bound" else "",
                     _ratio(r.get("compiled_speedup")), _ratio(r.get("thread_speedup"))])
    return _markdown(header, rows, ["l", "l", "r", "l", "r", "r", "r", "r", "r", "r"])


def format_probe(report):
    rows = [[p["dtype"], p["threads"], f"{p['size']}^3", f"{p['gflops']:.1f}", _seconds(p["best"]),
             f"{p['flops'] / max(p['seconds']) / 1e9:.1f}", len(p["seconds"])]
            for p in report["gemm_probe"]]
    return _markdown(["dtype", "threads", "GEMM", "GFLOP/s (best)", "best seconds",
                      "GFLOP/s (worst)", "calls"], rows, ["l", "r", "r", "r", "r", "r", "r"])


def format_memory(report):
    rows = []
    mib = 2 ** 20
    for m in report.get("memory") or []:
        rss = "" if m["rss_peak_extra_bytes"] is None else f"{m['rss_peak_extra_bytes'] / mib:.1f}"
        rows.append([f"fit {_net(m['sizes'])} b{m['batch_size']}, {m['epochs']} epochs",
                     f"{m['x_dtype']} X -> {m['net_dtype']} net", f"{m['rows']:,}",
                     f"{m['x_bytes'] / mib:.1f}", f"{m['expected_copy_bytes'] / mib:.1f}",
                     f"{m['allowance_bytes'] / mib:.1f}", f"{m['peak_extra_bytes'] / mib:.1f}",
                     f"{m['peak_over_x']:.3f}", rss, "PASS" if m["pass"] else "FAIL"])
    return _markdown(["memory", "inputs", "rows", "X MiB", "expected copy MiB", "allowance MiB",
                      "peak extra MiB", "peak / X", "RSS peak growth MiB", "result"], rows,
                     ["l", "l", "r", "r", "r", "r", "r", "r", "r", "l"])


def format_scaling(report):
    s = report.get("scaling")
    if not s:
        return ""
    rows = []
    for axis in ("rows", "width"):
        for p in s[axis]:
            if p.get("seconds") is None:
                rows.append([axis, f"[784, {p['width']}, 10]", f"{p['rows']:,}", p["status"], "",
                             "", ""])
                continue
            rows.append([axis, f"[784, {p['width']}, 10]", f"{p['rows']:,}", _seconds(p["seconds"]),
                         f"{p['per_row'] * 1e6:.3f}", f"{p['per_row_width'] * 1e9:.3f}",
                         f"{p['per_gflop']:.4f}"])
    table = _markdown(["scaling", "network", "rows", "seconds", "us / row", "ns / (row*width)",
                       "s / GFLOP"], rows, ["l", "l", "r", "r", "r", "r", "r"])
    spread = (f"spread (max/min): time per row {s.get('rows_spread', float('nan')):.2f}, "
              f"time per row*width {s.get('width_spread', float('nan')):.2f}  "
              f"(compiled, float64, batch 10, {s['threads']} thread(s))")
    return table + "\n\n" + spread


def format_targets(report):
    rows = []
    for t in report["targets"]:
        measured = "" if t["measured"] is None else f"{t['measured']:.2f}"
        rows.append([t["target"], measured, t["required"], t["result"], t.get("note", "")])
    counts = {k: sum(1 for t in report["targets"] if t["result"] == k) for k in ("PASS", "FAIL", "n/a")}
    return (_markdown(["target", "measured", "required", "result", "note"], rows,
                      ["l", "r", "l", "l", "l"])
            + f"\n\n{counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['n/a']} n/a")


def reproduce_command(report):
    """The `nnfast bench` command line that repeats this run's measurements."""
    p = report["parameters"]
    profile = report["profile"]
    implied = _resolve_options(profile, p["rows"] if p["rows"] != PROFILES[profile]["rows"] else None,
                               None, None, None, None, ())
    parts = ["nnfast bench"] + (["--quick"] if profile == "quick" else [])
    if p["rows"] != PROFILES[profile]["rows"]:
        parts.append(f"--rows {p['rows']}")
    for key in ("infer_rows", "big_rows", "gemm_size"):
        if p[key] != implied[key]:
            parts.append(f"--{key.replace('_', '-')} {p[key]}")
    if p["repeats"] != implied["repeats"] and len(set(p["repeats"].values())) == 1:
        parts.append(f"--repeats {next(iter(p['repeats'].values()))}")
    if p["threads"] != [1, 2]:
        parts.append("--threads " + ",".join(str(t) for t in p["threads"]))
    if p["seed"]:
        parts.append(f"--seed {p['seed']}")
    extra = sorted(set(p["skip"]) - set(implied["skip"]))
    if extra:
        parts.append("--skip " + ",".join(extra))
    return " ".join(parts)


def format_report(report):
    """Everything `nnfast bench` prints: machine, results table, GEMM probe, scaling, memory, and
    the targets section (Markdown)."""
    p = report["parameters"]
    sections = [
        "# nnfast bench" + (" (quick)" if report["profile"] == "quick" else ""),
        "",
        format_machine(report["machine"]),
        "",
        f"Reproduce: `{reproduce_command(report)}` ({report['created']}, "
        f"{report.get('total_seconds', 0):.0f} s). Data: {p['rows']:,} synthetic MNIST-shaped rows per "
        f"epoch ({p['big_rows']:,} for {_net(BIG_NET)}), {p['infer_rows']:,} for inference; sigmoid + "
        f"cross-entropy, eta {p['eta']:g} ({p['eta_big']:g} for the big net), lmbda {p['lmbda']:g}, "
        f"monitor=False. Best of up to {p['repeats']['compiled']} (compiled) / "
        f"{p['repeats']['reference']} (reference) epochs, implementations and thread counts "
        f"alternating (a timer stops after {p['budget_seconds']:g} s once it has 2 repeats).",
        "",
        "## Results",
        "",
        "seconds: per epoch (train) or per pass (infer), best of the repeats; x bound: seconds / FLOP "
        "bound; compiled speed-up: this row's time / nnfast compiled's at the same threads; "
        "2 thr vs 1: this implementation's 1-thread time / its 2-thread time.",
        "",
        format_table(report),
        "",
        "## GEMM probe (attainable GFLOP/s: scipy.linalg.blas, the BLAS nnfast calls; at the start "
        "and the end of the run, the best is the bound's rate)",
        "",
        format_probe(report),
    ]
    if report.get("scaling"):
        sections += ["", "## Scaling", "", format_scaling(report)]
    if report.get("memory"):
        sections += ["", "## Memory (tracemalloc peak during fit, beyond the inputs)", "",
                     format_memory(report)]
    sections += ["", "## Targets", "", format_targets(report)]
    return "\n".join(sections)


# ------------------------------------------------------------------------------------ JSON, plot
def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(report, path):
    data = _jsonable(dict(report, reproduce=reproduce_command(report),
                          text=format_report(report)))
    with open(path, "w") as handle:
        json.dump(data, handle, indent=1)
        handle.write("\n")


def read_json(path):
    """A report written by write_json (to print or plot it again without measuring)."""
    try:
        with open(path) as handle:
            report = json.load(handle)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read a bench report from {path}: {exc}") from None
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not an nnfast bench report (schema {SCHEMA})")
    for key in ("reproduce", "text"):
        report.pop(key, None)
    return report


def plot(report, path):
    """Epoch time vs batch size ([784, 100, 10]) and vs hidden width ([784, h, 10], batch 10), per
    implementation, float64, at the base thread count; log axes, with the FLOP bound dashed.
    Raises ImportError with a clear message when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import (FixedLocator, FuncFormatter, LogLocator, NullFormatter,
                                       NullLocator)
    except ImportError as exc:
        raise ImportError("--plot needs matplotlib (pip install matplotlib, or nnfast[plot]); "
                          "the results were measured and the rest of the output is complete") from exc
    p = report["parameters"]
    threads, rows = p["base_threads"], p["rows"]
    styles = {"compiled": ("#1f77b4", "o", "-"), "reference": ("#ff7f0e", "s", "-"),
              "torch_nn": ("#2ca02c", "^", "-"), "bound": ("#555555", "", "--")}

    def points(impl, configs):
        xs, ys = [], []
        for x, sizes, batch_size in configs:
            found = [r for r in report["results"]
                     if r["kind"] == "train" and tuple(r["sizes"]) == tuple(sizes)
                     and r["batch_size"] == batch_size and r["dtype"] == "float64"
                     and r["threads"] == threads and r["impl"] == impl and r["rows"] == rows
                     and r["group"] in ("main", "sweep") and r["status"] == "ok" and r["best"]]
            if found:
                xs.append(x)
                ys.append(found[0]["best"])
        return xs, ys

    panels = [
        ("batch size", [(b, SWEEP_BATCH_NET, b) for b in SWEEP_BATCHES],
         f"{_net(SWEEP_BATCH_NET)}: epoch time vs batch size"),
        ("hidden width h", [(h, (N_INPUTS, h, N_CLASSES), SWEEP_WIDTH_BATCH) for h in SWEEP_WIDTHS],
         f"[784, h, 10], batch {SWEEP_WIDTH_BATCH}: epoch time vs width"),
    ]
    # each implementation's values on its own side of the point, so close values stay legible
    label_places = {"compiled": ((0, -9), "center", "top"), "reference": ((-5, 6), "right", "bottom"),
                    "torch_nn": ((5, 6), "left", "bottom")}
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), constrained_layout=True)
    for ax, (xlabel, configs, title) in zip(axes, panels):
        for impl, (color, marker, linestyle) in styles.items():
            xs, ys = points(impl, configs)
            if not xs:
                continue
            ax.plot(xs, ys, color=color, marker=marker, linestyle=linestyle, linewidth=2,
                    markersize=7, label=IMPLEMENTATIONS[impl] + (" (GEMM probe)" if impl == "bound"
                                                                else ""))
            if impl != "bound":
                offset, ha, va = label_places[impl]
                for x, y in zip(xs, ys):
                    ax.annotate(f"{y:.3g}", (x, y), textcoords="offset points", xytext=offset,
                                ha=ha, va=va, fontsize=8, color=color)
        ticks = [c[0] for c in configs]
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_locator(LogLocator(base=10, subs=(3.0, 4.0, 6.0, 7.0, 8.0, 9.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(ticks[0] / 1.35, ticks[-1] * 1.5)
        low, high = ax.get_ylim()
        ax.set_ylim(low / 1.4, high * 1.6)  # room for the labels and the legend
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"seconds per epoch ({rows:,} rows)")
        ax.set_title(title, fontsize=11)
        ax.grid(True, which="major", alpha=0.4)
        ax.grid(True, which="minor", alpha=0.15)
        ax.legend(fontsize=9)
    machine = report["machine"]
    fig.suptitle(f"nnfast bench: float64, {threads} thread{'s' if threads != 1 else ''}, sigmoid + "
                 f"cross-entropy  |  {machine['cpu_model']}, {machine['logical_cpus']} CPUs",
                 fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------ command line
def _thread_list(text):
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected thread counts such as 1,2, got {text!r}") from None
    if not values or any(v == 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected non-zero thread counts such as 1,2, got {text!r}")
    return values


def _skip_list(text):
    names = [part.strip() for part in text.split(",") if part.strip()]
    bad = [n for n in names if n not in SKIPPABLE]
    if bad:
        raise argparse.ArgumentTypeError(f"cannot skip {', '.join(bad)}; choose from "
                                         f"{', '.join(SKIPPABLE)}")
    return names


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def build_parser(prog="nnfast bench", parser_class=argparse.ArgumentParser):
    parser = parser_class(
        prog=prog, description="Time nnfast (compiled and NumPy reference backends) against the "
        "book's per-example loop, PyTorch and scikit-learn (when installed) and a FLOP bound from a "
        "large-GEMM probe; print a Markdown table and a targets section.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Progress goes to stderr, the report to stdout.")
    parser.add_argument("--quick", action="store_true",
                        help="10,000 rows, fewer repeats, slow baselines skipped (under a minute)")
    parser.add_argument("--json", metavar="PATH", help="write every timing, the machine and the "
                        "targets as JSON")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG: epoch time vs batch size and "
                        "vs hidden width (needs matplotlib)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the printed report to PATH")
    parser.add_argument("--rows", type=_positive, help="training rows per epoch (default 50,000; "
                        "10,000 with --quick); also caps the inference and big-net rows")
    parser.add_argument("--infer-rows", type=_positive, help="rows per inference pass (10,000)")
    parser.add_argument("--big-rows", type=_positive, help=f"rows per epoch of {_net(BIG_NET)} "
                        "(10,000; 5,000 with --quick)")
    parser.add_argument("--threads", type=_thread_list, default=[1, 2], metavar="K[,K...]",
                        help="thread counts to measure (default 1,2)")
    parser.add_argument("--repeats", type=_positive, help="repeats of every measurement "
                        "(overrides the defaults)")
    parser.add_argument("--gemm-size", type=_positive, help="matrix size of the GEMM probe (2000)")
    parser.add_argument("--skip", type=_skip_list, default=[], metavar="LIST",
                        help=f"comma-separated parts to leave out: {', '.join(SKIPPABLE)}")
    parser.add_argument("--seed", type=int, default=0, help="data and initial-weight seed")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--from-json", metavar="PATH", help="measure nothing: print (and plot) the "
                        "report of an earlier run saved with --json")
    return parser


def main(argv=None, prog="nnfast bench", parser_class=argparse.ArgumentParser):
    """Run the benchmark from the command line; returns 0. `nnfast bench` calls this with its own
    parser class (one-line errors)."""
    args = build_parser(prog, parser_class).parse_args(argv)
    if args.from_json:
        report = read_json(args.from_json)
    else:
        report = run(profile="quick" if args.quick else "full", rows=args.rows,
                     infer_rows=args.infer_rows, big_rows=args.big_rows, threads=args.threads,
                     repeats=args.repeats, gemm_size=args.gemm_size, skip=args.skip,
                     seed=args.seed, progress=None if args.quiet else sys.stderr)
    text = format_report(report)
    print(text, flush=True)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(text + "\n")
    if args.json:
        write_json(report, args.json)
        print(f"\nwrote {args.json}", file=sys.stderr)
    if args.plot:
        try:
            plot(report, args.plot)
            print(f"wrote {args.plot}", file=sys.stderr)
        except ImportError as exc:
            print(f"{prog}: cannot plot: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
