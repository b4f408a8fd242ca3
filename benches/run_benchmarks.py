"""Time nnfast's compiled backend against the NumPy reference and print a Markdown table.

    python benches/run_benchmarks.py                    # full run (50,000 training rows)
    python benches/run_benchmarks.py --quick            # 10,000 training rows, fewer repeats
    python benches/run_benchmarks.py --json out.json    # also write every timing + machine info
    python benches/run_benchmarks.py --threads 1,2      # one row set per thread count

What is timed
-------------
* training: one epoch of mini-batch SGD, ``fit(X, y, epochs=1, batch_size=10, eta=0.5, lmbda=5.0,
  monitor=False)``; the time is ``history.seconds[0]`` (the training pass alone: no validation,
  no monitoring, no input conversion);
* inference: one ``feedforward(X)`` over the inference rows (wall clock of the call).

Both backends run in the same process, on the same data, with the same ``n_threads`` (which also
limits the BLAS threads). Each measurement follows one short warm-up and is the best (minimum) of
several repeats; the repeats of the two backends alternate, so background load hits both alike.

The data are synthetic and MNIST-shaped: uniform [0, 1) floats with 784 columns and labels 0..9,
generated once from a fixed seed (the float32 set is the float64 set rounded).

Everything here is importable: ``run(...)`` returns the results as a dict, ``format_table(...)``
renders them, ``machine_info()`` describes the machine, ``main(argv)`` is the command line.
"""

import argparse
import importlib
import io
import json
import os
import platform
import sys
import time

import numpy as np

SIZES = (784, 30, 10)
BATCH_SIZE = 10
ETA = 0.5
LMBDA = 5.0
DTYPES = ("float64", "float32")
BACKENDS = {"reference": "numpy", "compiled": "cython"}

FULL = {"rows": 50_000, "infer_rows": 10_000, "repeats_compiled": 7, "repeats_reference": 5,
        "repeats_infer": 10}
QUICK = {"rows": 10_000, "infer_rows": 10_000, "repeats_compiled": 3, "repeats_reference": 2,
         "repeats_infer": 5}
WARMUP_ROWS = 1_000


# ---------------------------------------------------------------------------------------- setup
def import_nnfast(attempts=10, wait=3.0):
    """Import nnfast with its compiled backend, retrying while the extension is being rebuilt.

    A rebuild in progress shows up as an ImportError, or as a package that imported without its
    compiled modules; both are retried. After the last attempt, whatever imported is returned (the
    caller decides whether the numpy backend alone is acceptable).
    """
    last_error = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(wait)
            for name in [m for m in sys.modules if m == "nnfast" or m.startswith("nnfast.")]:
                del sys.modules[name]
        try:
            nnfast = importlib.import_module("nnfast")
        except ImportError as exc:
            last_error = exc
            continue
        if "cython" in nnfast._config.config()["backends"]:
            return nnfast
        last_error = None
    if last_error is not None:
        raise last_error
    return nnfast


def make_data(rows, dtypes=DTYPES, n_inputs=SIZES[0], n_classes=SIZES[-1], seed=0):
    """MNIST-shaped synthetic data: {dtype: X (rows, n_inputs)}, labels (rows,) in 0..n_classes-1.

    One float64 draw from ``default_rng(seed)``; other dtypes are copies of it.
    """
    rng = np.random.default_rng(seed)
    base = rng.random((rows, n_inputs))
    labels = rng.integers(0, n_classes, size=rows, dtype=np.intp)
    inputs = {dtype: np.ascontiguousarray(base, dtype=dtype) for dtype in dtypes}
    return inputs, labels


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _physical_cores():
    """Distinct (physical id, core id) pairs in /proc/cpuinfo, or None when not available."""
    try:
        with open("/proc/cpuinfo") as handle:
            text = handle.read()
    except OSError:
        return None
    cores = set()
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        if "core id" in fields:
            cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores) or None


def machine_info(nnfast=None):
    """CPU model, core counts, platform and nnfast.show_config() (text and dict)."""
    nnfast = nnfast or import_nnfast()
    buffer = io.StringIO()
    nnfast.show_config(file=buffer)
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    return {
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": _physical_cores(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "nnfast_config": nnfast._config.config(),
        "show_config": buffer.getvalue().rstrip("\n"),
    }


def format_machine(info):
    physical = info["physical_cores"]
    cores = f"{info['logical_cpus']} logical CPUs"
    if physical:
        cores += f", {physical} physical cores"
    if info["usable_cpus"] != info["logical_cpus"]:
        cores += f", {info['usable_cpus']} usable by this process"
    return "\n".join([
        f"CPU      : {info['cpu_model']}",
        f"cores    : {cores}",
        f"platform : {info['platform']} (Python {info['python']}, NumPy {info['numpy']})",
        "",
        "nnfast.show_config():",
        "",
        "```",
        info["show_config"],
        "```",
    ])


# ---------------------------------------------------------------------------------------- timing
def _network(nnfast, backend, dtype, threads, sizes, seed):
    return nnfast.Network(list(sizes), dtype=dtype, backend=backend, seed=seed, n_threads=threads)


def epoch_timer(nnfast, backend, X, labels, dtype, threads, sizes=SIZES, batch_size=BATCH_SIZE,
                warmup_rows=WARMUP_ROWS, seed=0):
    """A warmed-up network and a function that trains it one more epoch on (X, labels).

    The function returns (history.seconds[0], wall seconds of the fit call). history.seconds is
    the training pass alone, which is what the table reports. The warm-up is one epoch over the
    first `warmup_rows` rows. Every call trains the same network further: the work per epoch does
    not depend on the weights.
    """
    net = _network(nnfast, backend, dtype, threads, sizes, seed)
    fit = dict(epochs=1, batch_size=batch_size, eta=ETA, lmbda=LMBDA, monitor=False)
    warm = max(1, min(warmup_rows, len(X)))
    net.fit(X[:warm], labels[:warm], **fit)

    def one_epoch():
        started = time.perf_counter()
        history = net.fit(X, labels, **fit)
        return history.seconds[0], time.perf_counter() - started

    return one_epoch


def feedforward_timer(nnfast, backend, X, dtype, threads, sizes=SIZES, warmup_rows=WARMUP_ROWS,
                      seed=0):
    """A network, warmed up by one small feedforward, and a function timing net.feedforward(X)."""
    net = _network(nnfast, backend, dtype, threads, sizes, seed)
    net.feedforward(X[:max(1, min(warmup_rows, len(X)))])

    def one_pass():
        started = time.perf_counter()
        net.feedforward(X)
        elapsed = time.perf_counter() - started
        return elapsed, elapsed

    return one_pass


def interleaved_best(timers, repeats):
    """Call the timers in turn (A B A B ...), timer k `repeats[k]` times in all.

    Alternating spreads any background load over both backends instead of penalising whichever
    happened to run during it. Returns, per timer, {"best", "seconds", "wall_seconds"}.
    """
    measured = {role: ([], []) for role in timers}
    for round_ in range(max(repeats.values())):
        for role, timer in timers.items():
            if round_ < repeats[role]:
                seconds, wall = timer()
                measured[role][0].append(seconds)
                measured[role][1].append(wall)
    return {role: {"best": min(seconds), "seconds": seconds, "wall_seconds": wall}
            for role, (seconds, wall) in measured.items()}


def _parse_threads(value):
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        return [int(part) for part in value.split(",") if part.strip()]
    return [int(v) for v in value]


def run(rows=FULL["rows"], infer_rows=FULL["infer_rows"], threads=1, dtypes=DTYPES, sizes=SIZES,
        batch_size=BATCH_SIZE, repeats_compiled=FULL["repeats_compiled"],
        repeats_reference=FULL["repeats_reference"], repeats_infer=FULL["repeats_infer"],
        warmup_rows=WARMUP_ROWS, seed=0, nnfast=None, progress=None):
    """Run every measurement; returns {"parameters": ..., "results": [row, ...]}.

    `threads` is an int, a list of ints or a comma-separated string; every row is measured with
    both backends at that thread count. `progress`, if given, is called with one line of text
    before each measurement (the command line prints it to stderr).
    """
    nnfast = nnfast or import_nnfast()
    from nnfast import _threads

    thread_counts = _parse_threads(threads)
    sizes = tuple(int(s) for s in sizes)
    inputs, labels = make_data(max(rows, infer_rows), dtypes, sizes[0], sizes[-1], seed)
    say = progress or (lambda line: None)
    results = []
    for n_threads in thread_counts:
        effective = _threads.effective_n_threads(n_threads)
        for dtype in dtypes:
            X, y = inputs[dtype][:rows], labels[:rows]
            say(f"epoch       {dtype} threads={effective}: reference x{repeats_reference}, "
                f"compiled x{repeats_compiled}")
            timers = {role: epoch_timer(nnfast, backend, X, y, dtype, n_threads, sizes, batch_size,
                                        warmup_rows, seed)
                      for role, backend in BACKENDS.items()}
            row = {"kind": "train_epoch", "sizes": list(sizes), "batch_size": batch_size,
                   "rows": rows, "dtype": dtype, "n_threads": n_threads, "threads": effective}
            row.update(interleaved_best(timers, {"reference": repeats_reference,
                                                 "compiled": repeats_compiled}))
            results.append(_with_ratios(row))
        for dtype in dtypes:
            X = inputs[dtype][:infer_rows]
            say(f"feedforward {dtype} threads={effective}: x{repeats_infer} each")
            timers = {role: feedforward_timer(nnfast, backend, X, dtype, n_threads, sizes,
                                              warmup_rows, seed)
                      for role, backend in BACKENDS.items()}
            row = {"kind": "feedforward", "sizes": list(sizes), "rows": infer_rows, "dtype": dtype,
                   "n_threads": n_threads, "threads": effective}
            row.update(interleaved_best(timers, {"reference": repeats_infer,
                                                 "compiled": repeats_infer}))
            results.append(_with_ratios(row))
    parameters = {"rows": rows, "infer_rows": infer_rows, "threads": thread_counts,
                  "dtypes": list(dtypes), "sizes": list(sizes), "batch_size": batch_size,
                  "eta": ETA, "lmbda": LMBDA, "repeats_compiled": repeats_compiled,
                  "repeats_reference": repeats_reference, "repeats_infer": repeats_infer,
                  "warmup_rows": warmup_rows, "seed": seed}
    return {"parameters": parameters, "results": results}


def _with_ratios(row):
    compiled, reference = row["compiled"]["best"], row["reference"]["best"]
    row["examples_per_second_compiled"] = row["rows"] / compiled if compiled > 0 else float("inf")
    row["examples_per_second_reference"] = row["rows"] / reference if reference > 0 else float("inf")
    row["speedup"] = reference / compiled if compiled > 0 else float("inf")
    return row


# ---------------------------------------------------------------------------------------- output
def _seconds(value):
    if value >= 10:
        return f"{value:.2f}"
    return f"{value:.4f}" if value >= 1e-3 else f"{value:.2e}"


def _configuration(row):
    sizes = ", ".join(str(s) for s in row["sizes"])
    if row["kind"] == "train_epoch":
        return f"train 1 epoch [{sizes}], batch {row['batch_size']}, {row['rows']:,} rows"
    return f"feedforward [{sizes}], {row['rows']:,} rows"


def format_table(report):
    """The results as a Markdown table (plus a one-line legend)."""
    header = ["configuration", "dtype", "threads", "reference s/epoch", "compiled s/epoch",
              "examples/s compiled", "speed-up (ref / compiled)"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * 4) + "|"]
    for row in report["results"]:
        cells = [_configuration(row), row["dtype"], str(row["threads"]),
                 _seconds(row["reference"]["best"]), _seconds(row["compiled"]["best"]),
                 f"{row['examples_per_second_compiled']:,.0f}", f"{row['speedup']:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    p = report["parameters"]
    lines.append("")
    lines.append(f"Best of {p['repeats_reference']} (reference, numpy backend) / "
                 f"{p['repeats_compiled']} (compiled, cython backend) epochs and of "
                 f"{p['repeats_infer']} feedforward calls, after one warm-up; the backends' repeats "
                 "alternate. "
                 "For feedforward rows the seconds are per call over all rows, not per epoch.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['rows']:,} training rows and fewer repeats (under a minute)")
    parser.add_argument("--json", metavar="PATH", help="also write all results and the machine info")
    parser.add_argument("--threads", default="1",
                        help="n_threads for both backends (and BLAS); a comma list measures each "
                             "(default 1)")
    parser.add_argument("--epochs-rows", type=int, metavar="N",
                        help=f"training rows timed per epoch (default {FULL['rows']:,}, "
                             f"--quick {QUICK['rows']:,})")
    parser.add_argument("--infer-rows", type=int, metavar="N",
                        help=f"rows per feedforward call (default {FULL['infer_rows']:,})")
    parser.add_argument("--rows", type=int, metavar="N",
                        help="override both --epochs-rows and --infer-rows (e.g. tiny smoke runs)")
    parser.add_argument("--repeats", type=int, metavar="K",
                        help="repeats for every measurement (overrides the defaults)")
    parser.add_argument("--dtypes", default=",".join(DTYPES), help="comma list (default: both)")
    parser.add_argument("--seed", type=int, default=0, help="data and weight seed (default 0)")
    args = parser.parse_args(argv)

    preset = dict(QUICK if args.quick else FULL)
    if args.epochs_rows is not None:
        preset["rows"] = args.epochs_rows
    if args.infer_rows is not None:
        preset["infer_rows"] = args.infer_rows
    if args.rows is not None:
        preset["rows"] = preset["infer_rows"] = args.rows
    if args.repeats is not None:
        for key in ("repeats_compiled", "repeats_reference", "repeats_infer"):
            preset[key] = args.repeats
    for key in ("rows", "infer_rows", "repeats_compiled", "repeats_reference", "repeats_infer"):
        if preset[key] < 1:
            parser.error(f"{key.replace('_', '-')} must be at least 1")
    dtypes = tuple(d.strip() for d in args.dtypes.split(",") if d.strip())
    try:
        threads = _parse_threads(args.threads)
    except ValueError:
        parser.error(f"--threads: expected integers, got {args.threads!r}")
    if not threads or 0 in threads:
        parser.error("--threads: give k > 0, or -1 for every processor")

    nnfast = import_nnfast()
    if "cython" not in nnfast._config.config()["backends"]:
        print("nnfast's compiled extension is not importable: nothing to compare", file=sys.stderr)
        return 1
    info = machine_info(nnfast)
    started = time.perf_counter()
    report = run(threads=threads, dtypes=dtypes, seed=args.seed, nnfast=nnfast,
                 progress=lambda line: print("  timing " + line, file=sys.stderr, flush=True),
                 **preset)
    report["total_seconds"] = time.perf_counter() - started
    report["machine"] = info

    print(format_machine(info))
    print()
    print(format_table(report))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
            handle.write("\n")
        print(f"\nwrote {args.json}", file=sys.stderr)
    print(f"\n(total {report['total_seconds']:.1f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
