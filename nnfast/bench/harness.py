"""``nnfast bench``, the measuring: how fast nnfast trains and infers on this machine, against its baselines.

    nnfast bench                          # the full run (50,000 rows per epoch; several minutes)
    nnfast bench --quick                  # 10,000 rows, fewer repeats, baselines at the targets only
    nnfast bench --json out.json          # also write every timing, the machine and the targets
    nnfast bench --plot out.png           # epoch time vs batch size and vs hidden width
    nnfast bench --kernel-sets [LIST]     # once per OpenBLAS kernel set (child processes), merged
    python -m nnfast.bench ...            # the same

What is measured, in one process and one run:

* one epoch of mini-batch SGD (sigmoid units, cross-entropy cost, eta 0.5 -- 0.1 for the big net --,
  lmbda 5.0, ``monitor=False``) of [784, 30, 10] and [784, 100, 10] at batch 10 and 100, float64 and
  float32, 1 and 2 threads, and of [784, 512, 512, 10] at batch 256; inference (``feedforward``) on
  10,000 rows; synthetic MNIST-shaped data (uniform [0, 1) pixels, labels 0-9, fixed seed);
* the book's chapter-6 conv net (config.CONV_NET: ReLU convolutions, softmax, log-likelihood, eta
  0.03, lmbda 0.1) at batch 10 and 64, float32, 1 and 2 threads: an epoch on a subset of the rows
  (2,000; 500 with --quick) scaled to 50,000 rows;
* implementations: nnfast's compiled backend, its NumPy reference backend, the book's per-example
  loop (``nnfast.bench.baselines.PerExampleNetwork``), PyTorch (nn + optim.SGD, and hand-written
  matmuls without autograd), JAX ("JAX jit scan": an epoch is one jitted ``lax.scan`` over the full
  batches plus one jitted step for a short last batch; float64 enabled) and scikit-learn's
  MLPClassifier when installed ("not installed" rows otherwise);
* a FLOP time bound: the exact FLOP count of an epoch (2 m n_in n_out per layer for the forward
  GEMM, the same for the weight gradient, the same for the backward delta of every layer but the
  first; elementwise work not counted) divided by the GFLOP/s a large GEMM attains here (the GEMM
  probe: scipy.linalg.blas dgemm/sgemm, the BLAS nnfast's kernels call, and at 1 thread also every
  GEMM entry point of nnfast's own that ``baselines.own_gemm_entry_points`` lists; the fastest
  sets the bound and is named);
* peak extra memory during ``fit`` (tracemalloc, and the RSS high-water mark where Linux offers it);
* how the epoch time grows with the rows and with the hidden width.

Every timing is the best of several repeats after a warm-up; within a group the implementations and
thread counts alternate (A B C A B C ...), so a burst of background load does not land on one of
them only. JAX runs in a child process (``python -m nnfast.bench.jax_child``, a JSON request on
stdin, its times on stdout) pinned with ``os.sched_setaffinity`` to 1 CPU (plus XLA_FLAGS turning
XLA's thread pools off) or 2, that regenerates the same data from the seed, compiles once and runs
its repeats back to back. Training times are the training pass alone: ``History.seconds`` for
nnfast, the batch loop for the baselines (the epoch's permutation is drawn before the clock starts;
scikit-learn's ``partial_fit`` is timed whole). The machine section names the CPU model and the
OpenBLAS kernel set (its core name, OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE); a "targets" section
(report.evaluate_targets) follows the table. With ``--kernel-sets`` this process measures nothing:
it runs the harness once per kernel set in a child with its own environment (nnfast.bench.kernel_sets)
and prints the merged report.
"""

import argparse
import gc
import os
import sys
import time
import tracemalloc

import numpy as np

from .. import _gemm, _threads
from .baselines import NotInstalled, gemm_probes, merge_probes
from .config import (BIG_BATCH, BIG_NET, CONV_BATCHES, CONV_DTYPE, CONV_EPOCH_ROWS, CONV_ETA,
                     CONV_LMBDA, CONV_NET, DTYPES, ETA, ETA_BIG, IMPLEMENTATIONS, LMBDA, N_CLASSES,
                     N_INPUTS, PROFILES, SCHEMA, SKIP_NAME, SKIPPABLE, SMALL_BATCHES, SMALL_NETS,
                     SWEEP_BATCHES, SWEEP_BATCH_NET, SWEEP_WIDTHS, SWEEP_WIDTH_BATCH, TARGET_CONFIG,
                     TARGET_INFER, TARGET_TRAIN, WARMUP_ROWS, _resolve_options, epoch_flops,
                     inference_flops, make_data)
from .kernel_sets import child_argv, default_kernel_sets, parse_kernel_sets, run_kernel_sets
from .machine import machine_info
from .report import _net, evaluate_targets, format_report, plot, read_json, write_json
from .timers import _eta, _infer_timer, _network, _train_timer, scaled


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
            timer = make_timer()
            record["note"] = getattr(timer, "note", record["note"])
            live.append((record, timer, repeats))
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


def run(profile="full", rows=None, infer_rows=None, big_rows=None, threads=(1, 2), repeats=None,
        gemm_size=None, skip=(), seed=0, progress=None, conv_rows=None):
    """Run every measurement; returns the report (a JSON-ready dict).

    profile: "full" or "quick" (see PROFILES); rows, infer_rows, big_rows, conv_rows, repeats,
    gemm_size override it; threads: the thread counts to measure (the baselines run at the first, or at 1
    when 1 is among them); skip: names from SKIPPABLE; progress: a stream for one line per group.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {sorted(PROFILES)}, got {profile!r}")
    options = _resolve_options(profile, rows, infer_rows, big_rows, repeats, gemm_size, skip,
                               conv_rows)
    threads = sorted({_threads.effective_n_threads(t) for t in threads})
    if not threads:
        raise ValueError("need at least one thread count")
    base_threads = 1 if 1 in threads else threads[0]
    skip, reps = set(options["skip"]), options["repeats"]
    say = _progress(progress)
    started = time.perf_counter()
    n_rows = options["rows"]
    data_rows = max(n_rows, options["infer_rows"], options["big_rows"])
    say(f"machine info; data: {data_rows:,} rows")
    machine = machine_info(include_torch="torch" not in skip,
                           include_sklearn="sklearn" not in skip)
    inputs, labels = make_data(data_rows, seed)
    quick = profile == "quick"
    results = []

    # 1. the GEMM probe: attainable GFLOP/s per dtype and thread count
    # (run again at the end; the bound uses the best of both)
    say(f"GEMM probe: {options['gemm_size']}^3, {', '.join(DTYPES)}, threads "
        + ",".join(str(t) for t in threads))
    probe = gemm_probes(DTYPES, threads, options["gemm_size"], reps["gemm"], seed)

    child = {"data_rows": data_rows, "budget": options["budget"]}

    def wanted(*impls):
        return [i for i in impls if SKIP_NAME.get(i, i) not in skip]

    def baselines_here(sizes, batch_size, dtype):
        chosen = []
        if (tuple(sizes), batch_size, dtype) in TARGET_TRAIN or not quick:
            chosen += ["torch_nn"] + ([] if quick else ["torch_manual"]) + ["jax"]
        chosen += [] if quick else ["sklearn"]
        chosen += ["per_example"] if (tuple(sizes), batch_size, dtype) == TARGET_CONFIG else []
        return wanted(*chosen)

    def train_group(sizes, batch_size, dtype, rows, group, impls_all_threads, impls_base,
                    timed_rows=None):
        """Time one training configuration; with timed_rows, each epoch on that many rows is
        scaled to `rows`."""
        timed_rows = timed_rows or rows
        X, y = inputs[dtype][:timed_rows], labels[:timed_rows]
        entries = [(impl, t) for impl in impls_all_threads for t in threads]
        entries += [(impl, base_threads) for impl in impls_base]
        say(f"train {_net(sizes)} batch {batch_size} {dtype}, {timed_rows:,} rows: "
            + ", ".join(f"{IMPLEMENTATIONS[i]}@{t}" for i, t in entries))
        group_entries = []
        for impl, t in entries:
            record = _record("train", sizes, batch_size, rows, dtype, t, impl, group)
            rep = reps.get(impl, reps["compiled"])
            make = (lambda impl=impl, t=t, rep=rep: _train_timer(
                impl, X, y, sizes, batch_size, dtype, t, seed, dict(child, repeats=rep)))
            if timed_rows != rows:
                record["timed_rows"] = timed_rows
                make = (lambda make=make: scaled(make(), rows / timed_rows))
            group_entries.append((record, make, rep))
        results.extend(measure_group(group_entries, say, options["budget"]))

    nnfast_impls = wanted("compiled", "reference")
    # the baselines at every thread count in a full run; at the base thread count only (for the
    # targets) in a quick one
    full_nn = [] if quick else wanted("torch_nn", "jax")
    quick_nn = wanted("torch_nn", "jax") if quick else []

    def infer_group(sizes, dtype, impls_all_threads, impls_base):
        X = inputs[dtype][:options["infer_rows"]]
        say(f"inference {_net(sizes)} {dtype}, {len(X):,} rows")
        entries = [(impl, t) for impl in impls_all_threads for t in threads]
        entries += [(impl, base_threads) for impl in impls_base]
        group_entries = []
        for impl, t in entries:
            record = _record("infer", sizes, None, len(X), dtype, t, impl, "inference")
            if impl == "torch_nn":
                record["label"] = "torch nn"  # the same model, forward only
            rep = reps["infer"] if impl != "torch_nn" else max(1, reps["infer"] // 2)
            group_entries.append((record, lambda impl=impl, t=t, rep=rep: _infer_timer(
                impl, X, labels[:len(X)], sizes, dtype, t, seed, dict(child, repeats=rep)), rep))
        results.extend(measure_group(group_entries, say, options["budget"]))

    # 2. the main configurations
    for sizes in SMALL_NETS:
        for batch_size in SMALL_BATCHES:
            for dtype in DTYPES:
                train_group(sizes, batch_size, dtype, n_rows, "main", nnfast_impls,
                            baselines_here(sizes, batch_size, dtype))

    # 3. the big network: every implementation at every thread count (quick: the baselines at 1)
    if "big" not in skip:
        for dtype in DTYPES:
            train_group(BIG_NET, BIG_BATCH, dtype, options["big_rows"], "big",
                        nnfast_impls + ([] if quick else wanted("torch_manual")) + full_nn,
                        quick_nn)

    # 4. the chapter-6 conv net: a subset of the rows, scaled to a 50,000-row epoch
    if "conv" not in skip:
        for batch_size in CONV_BATCHES:
            train_group(CONV_NET, batch_size, CONV_DTYPE, CONV_EPOCH_ROWS, "conv",
                        ["compiled"] + full_nn, quick_nn, timed_rows=options["conv_rows"])

    # 5. inference
    if "inference" not in skip:
        for sizes in SMALL_NETS + (BIG_NET,):
            for dtype in DTYPES:
                infer_group(sizes, dtype, nnfast_impls + full_nn,
                            quick_nn if sizes in TARGET_INFER else [])

    # 6. the plot's extra points: batch 32 and 256 of [784, 100, 10], width 300 at batch 10
    if "sweeps" not in skip:
        extra = [(SWEEP_BATCH_NET, b) for b in SWEEP_BATCHES if b not in SMALL_BATCHES]
        extra += [((N_INPUTS, h, N_CLASSES), SWEEP_WIDTH_BATCH) for h in SWEEP_WIDTHS
                  if (N_INPUTS, h, N_CLASSES) not in SMALL_NETS]
        for sizes, batch_size in extra:
            train_group(sizes, batch_size, "float64", n_rows, "sweep", [],
                        nnfast_impls + ([] if quick else wanted("torch_nn")))

    # 7. scaling: epoch time vs rows and vs hidden width (compiled, float64, base threads)
    scaling = None
    if "scaling" not in skip:
        scaling = _measure_scaling(inputs, labels, n_rows, base_threads, reps["scaling"], seed,
                                   say, options["budget"])

    # 8. memory
    memory = None
    if "memory" not in skip:
        say(f"memory: fit of {n_rows:,} rows, 3 epochs, float32 network, float64 and float32 X")
        try:
            memory = measure_memory(inputs, labels, n_rows, seed)
        except Exception as exc:  # e.g. no compiled extension: report, keep the timings
            say(f"  ! memory: {type(exc).__name__}: {exc}")

    say("GEMM probe again")
    probe = merge_probes(probe, gemm_probes(DTYPES, threads, options["gemm_size"], reps["gemm"],
                                            seed))

    report = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "profile": profile,
        "parameters": {"rows": n_rows, "infer_rows": options["infer_rows"],
                       "big_rows": options["big_rows"], "conv_rows": options["conv_rows"],
                       "conv_epoch_rows": CONV_EPOCH_ROWS, "threads": threads,
                       "base_threads": base_threads, "repeats": reps,
                       "budget_seconds": options["budget"],
                       "gemm_size": options["gemm_size"], "skip": sorted(skip), "seed": seed,
                       "eta": ETA, "eta_big": ETA_BIG, "lmbda": LMBDA, "conv_eta": CONV_ETA,
                       "conv_lmbda": CONV_LMBDA,
                       "activation": "sigmoid", "cost": "cross_entropy",
                       "data": "uniform [0, 1) pixels, labels 0-9, numpy default_rng(seed)"},
        "machine": machine,
        "gemm_probe": probe,
        "gemm_kernels": {"mode": _gemm.mode(), "cache": _gemm.cache_status(),
                         "shapes": _gemm.describe()},
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
    parser.add_argument("--conv-rows", type=_positive, help="rows timed per epoch of the chapter-6 "
                        "conv net, scaled to 50,000 (2,000; 500 with --quick)")
    parser.add_argument("--threads", type=_thread_list, default=[1, 2], metavar="K[,K...]",
                        help="thread counts to measure (default 1,2)")
    parser.add_argument("--repeats", type=_positive, help="repeats of every measurement "
                        "(overrides the defaults)")
    parser.add_argument("--gemm-size", type=_positive, help="matrix size of the GEMM probe (2000)")
    parser.add_argument("--skip", type=_skip_list, default=[], metavar="LIST",
                        help=f"comma-separated parts to leave out: {', '.join(SKIPPABLE)}")
    parser.add_argument("--seed", type=int, default=0, help="data and initial-weight seed")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--kernel-sets", nargs="?", const="", metavar="LIST",
                        help="run everything once per OpenBLAS kernel set, each in a child process, "
                        "and merge the reports: env (as given), native (OPENBLAS_CORETYPE and "
                        "OPENBLAS_L2_SIZE removed), or a core name for OPENBLAS_CORETYPE (e.g. "
                        "env,native,Haswell); without LIST: env and native, plus Haswell when "
                        "those are the same")
    parser.add_argument("--both-kernel-sets", action="store_true",
                        help="the same as --kernel-sets without a list")
    parser.add_argument("--from-json", metavar="PATH", help="measure nothing: print (and plot) the "
                        "report of an earlier run saved with --json")
    return parser


def _kernel_sets_report(args, parser):
    """--kernel-sets / --both-kernel-sets: the merged report of one child run per kernel set."""
    try:
        names = (parse_kernel_sets(args.kernel_sets) if args.kernel_sets
                 else default_kernel_sets(os.environ))
    except ValueError as exc:
        parser.error(f"--kernel-sets: {exc}")
    say = _progress(None if args.quiet else sys.stderr)
    return run_kernel_sets(names, child_argv(args), say=say)


def main(argv=None, prog="nnfast bench", parser_class=argparse.ArgumentParser):
    """Run the benchmark from the command line; returns 0. `nnfast bench` calls this with its own
    parser class (one-line errors)."""
    parser = build_parser(prog, parser_class)
    args = parser.parse_args(argv)
    if args.from_json:
        report = read_json(args.from_json)
    elif args.kernel_sets is not None or args.both_kernel_sets:
        report = _kernel_sets_report(args, parser)
    else:
        report = run(profile="quick" if args.quick else "full", rows=args.rows,
                     infer_rows=args.infer_rows, big_rows=args.big_rows,
                     conv_rows=args.conv_rows, threads=args.threads,
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
