"""Which kernel runs each GEMM shape: chosen by measurement on this machine, once, and cached.

The compiled loops multiply through one wrapper (src_cython/kernels/_matmul.pxd: matmul) that looks
the shape up in a table (src_cython/kernels/_gemm_table.h) and runs BLAS or one of our kernels. This
module fills that table. Before a compiled call, the backend announces the GEMM shapes the call
will run (`prepare`); each shape not yet known is timed on one thread with every kernel that can
compute it, the fastest wins, and the answer is kept:

- in memory, and in every compiled module's table (a shape's answer never changes in a process);
- in a JSON file per machine identity (CPU model, vector instruction set, the BLAS library and
  the kernel set it runs -- OpenBLAS's core name, $OPENBLAS_CORETYPE --, nnfast's kernel version):
  ``$NNFAST_CACHE_DIR``, else ``$XDG_CACHE_HOME/nnfast``, else ``~/.cache/nnfast``. A cache that
  cannot be read is measured again; one that cannot be written is kept in memory only.

Kernels differ in rounding only (another summation order). The answer depends on the shape, never
on the thread count, so results do not depend on the thread count; with one cache, the same seed
gives the same bits run after run. A first run on a new machine measures, so its bits may differ
from another machine's.

``NNFAST_GEMM`` (read at import) fixes the choice instead: ``measure`` (the default), ``blas``
(every GEMM on BLAS), ``own`` (our unpacked kernels wherever they compute the form, our packed
one elsewhere), ``packed`` (our packed kernel everywhere), ``rule`` (a fixed size rule: our
unpacked kernels for m*n*k in (1e6, 8e6], from AVX2 up, BLAS elsewhere). None of these measure or
touch the cache.
"""

import hashlib
import json
import os
import platform
import time
import warnings

import numpy as np

from . import _threads
from ._atomic import write_atomically
from ._version import __version__

try:
    from . import _conv, _kernels, _train
except ImportError:  # pragma: no cover - a broken install; the backend reports it
    _conv = _kernels = _train = None

KERNELS_VERSION = 2  # bump when a kernel's speed or rounding changes: caches are then remeasured
KERNELS = {"blas": 0, "own": 1, "packed": 2}  # the codes of _matmul.pxd (_kernels.GEMM_KERNELS)
MODES = {"measure": -1, "rule": -1, "blas": KERNELS["blas"], "own": KERNELS["own"],
         "packed": KERNELS["packed"]}
MEASURE_ROUNDS = 5         # rounds of calls per kernel, alternating, best round kept
MEASURE_ROUND_SECONDS = 2e-4  # calls per round: at least this long (timer resolution, noise)
MEASURE_BUDGET = 0.25      # seconds per shape at most (after two rounds)

_known = {}       # key -> {"kernel": name, "seconds": {name: best seconds per call}}
_registered = set()
_cache_loaded = False
_cache_status = "not used"


def _modules():
    return [module for module in (_train, _conv) if module is not None]


def mode():
    """The mode in force: NNFAST_GEMM, read at import (set_mode changes it, for tests)."""
    return _mode


def set_mode(name):
    """Switch the mode (tests and benchmarks): empties the compiled tables and the memory of this
    process; the cache file is left alone."""
    global _mode, _cache_loaded
    if name not in MODES:
        raise ValueError(f"NNFAST_GEMM must be one of {', '.join(MODES)}, got {name!r}")
    _mode = name
    _known.clear()
    _registered.clear()
    _cache_loaded = False
    for module in _modules():
        module.gemm_clear()
        module.gemm_fallback(MODES[name])


def set_own_isa(isa):
    """The instance of our kernels the loops run: -1 the best this CPU runs, 0 SSE2, 1 AVX2,
    2 AVX-512 (lowered to what the CPU runs). For tests and measurements."""
    for module in _modules():
        module.gemm_own_isa(isa)


# ------------------------------------------------------------------------------- identity, cache
def cpu_model():
    """The CPU's model name (/proc/cpuinfo), else what the platform module says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _scipy_blas():
    """threadpoolctl's record of the BLAS that scipy.linalg.cython_blas (so nnfast) calls."""
    libraries = _threads.blas_info()
    for library in libraries:  # scipy's wheels bundle theirs in scipy.libs (numpy's: numpy.libs)
        path = library.get("filepath", "").replace(os.sep, "/")
        if "/scipy.libs/" in path or "/scipy/" in path:
            return library
    return libraries[0] if libraries else {}


def identity():
    """What the measurements depend on: the machine, the BLAS and its kernel set, our kernels."""
    blas = _scipy_blas()
    return {"cpu": cpu_model(), "machine": platform.machine(),
            "isa": _kernels.simd_isa() if _kernels else "none",
            "blas": f"{blas.get('internal_api', '?')} {blas.get('version', '?')}",
            "blas_kernels": blas.get("architecture") or "?",
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", ""),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE", ""),
            "nnfast": __version__, "kernels_version": KERNELS_VERSION}


def cache_path():
    """The cache file of this machine identity."""
    root = os.environ.get("NNFAST_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "nnfast")
    digest = hashlib.sha256(json.dumps(identity(), sort_keys=True).encode()).hexdigest()[:16]
    return os.path.join(root, f"gemm-{digest}.json")


def _key_text(key):
    ta, tb, itemsize, m, n, k = key
    return f"{'NT'[ta]}{'NT'[tb]} {'f32' if itemsize == 4 else 'f64'} {m}x{n}x{k}"


def _parse_key(text):
    form, dtype, dims = text.split()
    m, n, k = (int(d) for d in dims.split("x"))
    if form[0] not in "NT" or form[1] not in "NT" or dtype not in ("f32", "f64") or min(m, n, k) < 1:
        raise ValueError(text)
    return ("NT".index(form[0]), "NT".index(form[1]), 4 if dtype == "f32" else 8, m, n, k)


def _load_cache():
    global _cache_loaded, _cache_status
    _cache_loaded = True
    path = cache_path()
    try:
        with open(path) as f:
            data = json.load(f)
        entries = data["kernels"] if data.get("identity") == identity() else {}
        for text, entry in entries.items():
            if entry["kernel"] in KERNELS:
                _known.setdefault(_parse_key(text), entry)
        _cache_status = f"{path} ({len(entries)} shapes)"
    except FileNotFoundError:
        _cache_status = f"{path} (new)"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        _cache_status = f"{path} (unreadable, measured again: {type(exc).__name__})"


def _save_cache():
    """Merge this process's answers into the cache file (another process may have added some)."""
    global _cache_status
    path = cache_path()
    entries = {}
    try:
        with open(path) as f:
            data = json.load(f)
        if data.get("identity") == identity():
            entries = dict(data["kernels"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    entries.update({_key_text(key): entry for key, entry in _known.items()})
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        text = json.dumps({"identity": identity(), "kernels": entries}, indent=1, sort_keys=True)
        write_atomically(path, lambda handle: handle.write(text), binary=False)
        _cache_status = f"{path} ({len(entries)} shapes)"
    except OSError as exc:
        _cache_status = f"{path} (not writable: {exc.strerror}; kept in memory)"


def cache_status():
    return _cache_status


def summary():
    """The mode, the cache (loaded now if it was not) and how many shapes each kernel has."""
    if _mode == "measure" and not _cache_loaded and _modules():
        _load_cache()
    counts = {}
    for entry in _known.values():
        counts[entry["kernel"]] = counts.get(entry["kernel"], 0) + 1
    return {"mode": _mode, "cache": _cache_status if _mode == "measure" else "not used",
            "kernels": dict(sorted(counts.items()))}


# ------------------------------------------------------------------------------------ measuring
def candidates(key):
    """The kernels that compute this GEMM form (measured with alpha 1, beta 0)."""
    ta, tb = key[0], key[1]
    names = ["blas"]
    if not tb or not ta:
        names.append("own")
    return names + ["packed"]


def measure(key):
    """{kernel: best seconds per call} of C <- op(A) op(B) for this key, one thread, each kernel
    in rounds that alternate between the kernels."""
    ta, tb, itemsize, m, n, k = key
    dtype = np.float32 if itemsize == 4 else np.float64
    rng = np.random.default_rng(0)
    A = rng.random((k, m) if ta else (m, k)).astype(dtype)
    B = rng.random((n, k) if tb else (k, n)).astype(dtype)
    C = np.zeros((m, n), dtype=dtype)
    names = candidates(key)
    best = dict.fromkeys(names, np.inf)
    calls = {}
    with _threads.blas_threads(1):
        for name in names:  # warm up; calls per round from one call's time
            once = _kernels.time_gemm(KERNELS[name], ta, tb, A, B, C, 1)
            calls[name] = max(1, int(MEASURE_ROUND_SECONDS / max(once, 1e-9)))
        started = time.perf_counter()
        for round_ in range(MEASURE_ROUNDS):
            for name in names:
                seconds = _kernels.time_gemm(KERNELS[name], ta, tb, A, B, C, calls[name])
                best[name] = min(best[name], seconds / calls[name])
            if round_ >= 1 and time.perf_counter() - started > MEASURE_BUDGET:
                break
    return best


def _choose(key):
    seconds = measure(key)
    return {"kernel": min(seconds, key=seconds.get), "seconds": seconds}


# ------------------------------------------------------------------------------ shapes of models
def layer_shapes(layer, m, transposed=None):
    """The (ta, tb, m, n, k) of the GEMMs a layer's passes make on m rows: forward, weight
    gradient, input gradient. transposed="first"/"next": only the forward GEMM of the dense loop's
    inference path, which keeps the activations (units, rows) (its first layer reads X's rows)."""
    if layer.kind == "dense":
        rows, n_in = layer.weight_shape
        if transposed:
            return [(0, 1 if transposed == "first" else 0, rows, m, n_in)]
        return [(0, 1, m, rows, n_in), (1, 0, rows, n_in, m), (0, 0, m, n_in, rows)]
    if layer.kind == "conv":
        filters, depth = layer.weight_shape[0], layer.fan_in
        positions = m * layer.out_shape[1] * layer.out_shape[2]
        return [(0, 0, filters, positions, depth), (0, 1, filters, depth, positions),
                (1, 0, depth, positions, filters)]
    return []


def prepare(net, rows, transposed_inference=False):
    """Make sure every GEMM shape of `net`'s layers on each row count in `rows` has its kernel in
    the compiled tables (measuring what is new, in mode "measure"). transposed_inference: the
    shapes of the dense loop's inference path instead."""
    if _mode != "measure" or not _modules():
        return
    itemsize = np.dtype(net.dtype).itemsize
    keys = []
    position = "first"
    for layer in net.built:
        transposed = position if transposed_inference else None
        for m in set(rows):
            if m >= 1:
                keys.extend((ta, tb, itemsize, a, b, c)
                            for ta, tb, a, b, c in layer_shapes(layer, int(m), transposed))
        if layer.kind == "dense":
            position = "next"
    register(keys)


def register(keys):
    """The kernel of each key (ta, tb, itemsize, m, n, k): known, cached or measured, then put in
    every compiled module's table."""
    new = [key for key in dict.fromkeys(keys) if key not in _registered]
    if not new:
        return
    if not _cache_loaded:
        _load_cache()
    measured = False
    for key in new:
        if key not in _known:
            _known[key] = _choose(key)
            measured = True
    if measured:
        _save_cache()
    table = np.array([key + (KERNELS[_known[key]["kernel"]],) for key in new], dtype=np.int64)
    for module in _modules():
        module.gemm_register(table)
    _registered.update(new)


def describe():
    """One dict per shape this process knows: form, dtype, m, n, k, the kernel, seconds per call
    of each kernel measured (for `nnfast info` and the benchmark reports)."""
    rows = []
    for key, entry in sorted(_known.items()):
        ta, tb, itemsize, m, n, k = key
        rows.append({"form": "NT"[ta] + "NT"[tb], "dtype": "float32" if itemsize == 4 else "float64",
                     "m": m, "n": n, "k": k, "kernel": entry["kernel"],
                     "seconds": dict(entry.get("seconds", {}))})
    return rows


def misses():
    """GEMMs run on shapes nobody registered, over the compiled modules (the tests keep it 0)."""
    return sum(module.gemm_table_stats()[1] for module in _modules())


_mode = os.environ.get("NNFAST_GEMM", "measure") or "measure"
if _mode not in MODES:
    warnings.warn(f"NNFAST_GEMM={_mode!r} is not one of {', '.join(MODES)}: measuring instead",
                  RuntimeWarning, stacklevel=2)
    _mode = "measure"
for _module in _modules():
    _module.gemm_fallback(MODES[_mode])
