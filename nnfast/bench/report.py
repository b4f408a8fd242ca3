"""`nnfast bench`'s targets, tables, JSON and plot, computed from a report dict."""

import json
import math

import numpy as np

from .config import (BIG_NET, CONV_DTYPE, DTYPES, IMPLEMENTATIONS, N_CLASSES, N_INPUTS, PROFILES,
                     SCHEMA, SWEEP_BATCHES, SWEEP_BATCH_NET, SWEEP_WIDTHS, SWEEP_WIDTH_BATCH,
                     TARGET_CONFIG, TARGET_INFER, TARGET_TRAIN, THREAD_TARGETS, _resolve_options,
                     is_conv)
from .machine import format_kernel_set, format_machine


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
    if is_conv(sizes):
        return "ch.6 conv"
    return "[" + ", ".join(str(s) for s in sizes) + "]"


def _group(sizes):
    return "conv" if is_conv(sizes) else ("big" if tuple(sizes) == BIG_NET else "main")


def _time_ratio(name, mine, other, required, ok):
    """A target on mine's time / other's time (records, either may be missing)."""
    ratio = _best(mine) / _best(other) if _best(mine) and _best(other) else None
    return _target(name, ratio, required, ratio is not None and ok(ratio),
                   _why_missing(mine, other))


def _against_baselines(where, compiled, find, batch_size):
    """compiled faster than JAX and than torch nn+SGD; at batch <= 100, <= 0.8x JAX's time."""
    jax_limit = 0.8 if batch_size is not None and batch_size <= 100 else None
    targets = []
    for impl in ("jax", "torch_nn"):
        if impl == "jax" and jax_limit:
            required, ok = f"<= {jax_limit:g}", (lambda r: r <= jax_limit)
        else:
            required, ok = "< 1.0", (lambda r: r < 1.0)
        other = find(impl)
        label = other["label"] if other else IMPLEMENTATIONS[impl]
        targets.append(_time_ratio(f"{where}: compiled time / {label} time", compiled, other,
                                   required, ok))
    return targets


def _speed_targets(report):
    """Issue 13's speed targets at 1 thread: every TARGET_TRAIN row against JAX and torch nn+SGD
    and the FLOP bound; TARGET_INFER inference against JAX and torch nn."""
    targets = []
    for sizes, batch_size, dtype in TARGET_TRAIN:
        where = f"{_net(sizes)} b{batch_size} {dtype} 1 thr"
        group = _group(sizes)
        compiled = _find(report, "train", sizes, batch_size, dtype, 1, "compiled", group)
        targets += _against_baselines(where, compiled, lambda impl: _find(
            report, "train", sizes, batch_size, dtype, 1, impl, group), batch_size)
        limit = 2.0 if is_conv(sizes) or batch_size < 100 else 1.3
        value = compiled.get("x_bound") if _best(compiled) else None
        targets.append(_target(f"{where}: compiled / FLOP bound", value, f"<= {limit:.1f}",
                               value is not None and value <= limit, _why_missing(compiled)))
    for sizes in TARGET_INFER:
        for dtype in DTYPES:
            compiled = _find(report, "infer", sizes, None, dtype, 1, "compiled")
            where = f"infer {_net(sizes)} {dtype} 1 thr"
            targets += _against_baselines(where, compiled, lambda impl: _find(
                report, "infer", sizes, None, dtype, 1, impl), None)
    return targets


def _book_targets(report):
    """[784, 30, 10] b10 float64: >= 4x the reference, >= 25x the per-example loop."""
    sizes, batch, dtype = TARGET_CONFIG
    compiled = _find(report, "train", sizes, batch, dtype, 1, "compiled", "main")
    where = f"{_net(sizes)} b{batch} {dtype} 1 thr"
    return [_time_ratio(f"{where}: {IMPLEMENTATIONS[impl]} time / compiled time",
                        _find(report, "train", sizes, batch, dtype, 1, impl, "main"), compiled,
                        f">= {factor:g}x", lambda r, factor=factor: r >= factor)
            for impl, factor in (("reference", 4.0), ("per_example", 25.0))]


def _thread_targets(report):
    """Two threads: >= 1.8x one thread at batch >= 64 (THREAD_TARGETS); and no configuration slower
    at 2 threads than at 1 (2-thread time / 1-thread time <= 1.05)."""
    targets = []
    for sizes, batch_size in THREAD_TARGETS:
        for dtype in (CONV_DTYPE,) if is_conv(sizes) else DTYPES:
            one, two = (_find(report, "train", sizes, batch_size, dtype, t, "compiled",
                              _group(sizes)) for t in (1, 2))
            targets.append(_time_ratio(f"{_net(sizes)} b{batch_size} {dtype}: 2-thread speed-up",
                                       one, two, ">= 1.8x", lambda r: r >= 1.8))
    for r in report["results"]:
        if r["impl"] != "compiled" or r["threads"] != 2 or r["group"] == "scaling":
            continue
        one = _find(report, r["kind"], r["sizes"], r["batch_size"], r["dtype"], 1, "compiled",
                    r["group"])
        what = (f"train {_net(r['sizes'])} b{r['batch_size']}" if r["kind"] == "train"
                else f"infer {_net(r['sizes'])}")
        targets.append(_time_ratio(f"{what} {r['dtype']}: 2 thr time / 1 thr time", r, one,
                                   "<= 1.05", lambda v: v <= 1.05))
    return targets


def _memory_targets(report):
    targets = []
    for m in report.get("memory") or []:
        expected = "one float32 copy" if m["expected_copy_bytes"] else "no copy"
        limit = (m["expected_copy_bytes"] + m["allowance_bytes"]) / m["x_bytes"]
        targets.append(_target(
            f"fit memory, {m['x_dtype']} X on a float32 net ({expected} expected): peak extra / X",
            m["peak_over_x"], f"<= {limit:.3f}", m["pass"],
            f"{m['peak_extra_bytes'] / 2**20:.1f} MiB peak extra"))
    return targets


def _linearity_targets(report):
    scaling = report.get("scaling")
    targets = []
    for axis, unit in (("rows", "time per row"), ("width", "time per row*width")) if scaling else ():
        growth = scaling.get(f"{axis}_growth")
        targets.append(_target(f"linear in {axis}: {unit}, largest size / smallest", growth,
                               "<= 1.25", growth is not None and growth <= 1.25,
                               f"spread {scaling.get(f'{axis}_spread', float('nan')):.2f}"))
    return targets


def evaluate_targets(report):
    """Issue 13's targets (speed against JAX, PyTorch, the FLOP bound, the reference and the
    per-example loop; two threads) and the non-speed ones (threads never slow a configuration down,
    memory, linearity): each {"target", "measured", "required", "result" (PASS/FAIL/n/a), "note"}.
    A target whose measurement is missing (skipped, not installed, failed) is n/a, never PASS."""
    return (_speed_targets(report) + _book_targets(report) + _thread_targets(report)
            + _memory_targets(report) + _linearity_targets(report))


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
        timed = f" (timed on {r['timed_rows']:,})" if r.get("timed_rows") else ""
        return f"train {_net(r['sizes'])} b{r['batch_size']}, {r['rows']:,} rows{timed}"
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
    """Every source of the GEMM probe per dtype and thread count; "bound" marks the fastest, whose
    rate sets the FLOP bound."""
    rows = []
    for p in report["gemm_probe"]:
        for c in p.get("candidates") or [dict(p, source="BLAS")]:
            rows.append([p["dtype"], p["threads"], c["source"], f"{p['size']}^3",
                         f"{c['gflops']:.1f}", _seconds(c["best"]),
                         f"{p['flops'] / max(c['seconds']) / 1e9:.1f}", len(c["seconds"]),
                         "bound" if c["source"] == p.get("source", "BLAS") else ""])
    return _markdown(["dtype", "threads", "GEMM", "size", "GFLOP/s (best)", "best seconds",
                      "GFLOP/s (worst)", "calls", "sets the bound"], rows,
                     ["l", "r", "l", "r", "r", "r", "r", "r", "l"])


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
    if "runs" in report:  # merged over kernel sets
        return (reproduce_command(report["runs"][0]["report"]) + " --kernel-sets "
                + ",".join(report["requested_kernel_sets"]))
    p = report["parameters"]
    profile = report["profile"]
    implied = _resolve_options(profile, p["rows"] if p["rows"] != PROFILES[profile]["rows"] else None,
                               None, None, None, None, ())
    parts = ["nnfast bench"] + (["--quick"] if profile == "quick" else [])
    if p["rows"] != PROFILES[profile]["rows"]:
        parts.append(f"--rows {p['rows']}")
    for key in ("infer_rows", "big_rows", "conv_rows", "gemm_size"):
        if key in p and p[key] != implied[key]:
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
    the targets section (Markdown); for a report merged over kernel sets, format_merged."""
    if "runs" in report:
        return format_merged(report)
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
        "## GEMM probe (attainable GFLOP/s: scipy.linalg.blas, the BLAS nnfast calls, and at 1 "
        "thread nnfast's own GEMM kernels; at the start and the end of the run; the fastest source's "
        "best is the bound's rate)",
        "",
        format_probe(report),
    ]
    if report.get("gemm_kernels"):
        sections += ["", "## GEMM kernels chosen per shape (nnfast/_gemm.py: measured on this "
                     "machine, one thread, the fastest kept)", "", format_gemm_kernels(report)]
    if report.get("scaling"):
        sections += ["", "## Scaling", "", format_scaling(report)]
    if report.get("memory"):
        sections += ["", "## Memory (tracemalloc peak during fit, beyond the inputs)", "",
                     format_memory(report)]
    sections += ["", "## Targets", "", format_targets(report)]
    return "\n".join(sections)


def format_gemm_kernels(report):
    """The kernel of every GEMM shape the run's nnfast models ran, with each kernel's time."""
    info = report["gemm_kernels"]
    rows = []
    for r in info["shapes"]:
        seconds = r.get("seconds") or {}
        rows.append([r["form"], r["dtype"], f"{r['m']}x{r['n']}x{r['k']}", r["kernel"]]
                    + [f"{seconds[name] * 1e6:.2f}" if name in seconds else ""
                       for name in ("blas", "own", "packed")])
    head = f"mode {info['mode']} (NNFAST_GEMM), cache {info['cache']}"
    if not rows:
        return head + ": no shapes measured (a fixed choice)"
    return head + "\n\n" + _markdown(
        ["form", "dtype", "m x n x k", "kernel", "BLAS us", "own us", "packed us"], rows,
        ["l", "l", "r", "l", "r", "r", "r"])


# ------------------------------------------------------------------------------------ kernel sets
def format_kernel_set_table(merged):
    rows = []
    for s in merged["kernel_sets"]:
        info = s["kernel_set"] or {}
        rows.append([s["name"], format_kernel_set(info)]
                    + [str(s["targets"][k]) for k in ("PASS", "FAIL", "n/a")])
    return _markdown(["kernel set", "OpenBLAS architecture (how chosen)", "PASS", "FAIL", "n/a"],
                     rows, ["l", "l", "r", "r", "r"])


def format_targets_side_by_side(merged):
    """One row per target, one column per kernel set: "measured result"."""
    names, cells = [], {}
    for i, run in enumerate(merged["runs"]):
        for t in run["report"]["targets"]:
            if t["target"] not in cells:
                names.append(t["target"])
                cells[t["target"]] = [t["required"]] + [""] * len(merged["runs"])
            measured = "" if t["measured"] is None else f"{t['measured']:.2f} "
            cells[t["target"]][i + 1] = measured + t["result"]
    header = ["target", "required"] + [run["name"] for run in merged["runs"]]
    return _markdown(header, [[name] + cells[name] for name in names],
                     ["l", "l"] + ["r"] * len(merged["runs"]))


def _demoted(text):
    """A report's Markdown with every heading one level deeper."""
    return "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())


def format_merged(merged):
    """The merged report: the machine (each kernel set's OpenBLAS architecture), the targets per
    kernel set side by side, then each kernel set's own report."""
    first = merged["runs"][0]["report"]
    sections = [f"# nnfast bench: {len(merged['runs'])} kernel sets"
                + (" (quick)" if first["profile"] == "quick" else ""), "",
                format_machine(first["machine"]), "",
                "Kernel sets, each measured by its own child process, one after the other:", "",
                format_kernel_set_table(merged), "",
                f"Reproduce: `{reproduce_command(merged)}` ({merged['created']}).", "",
                "## Targets per kernel set", "", format_targets_side_by_side(merged)]
    for run in merged["runs"]:
        sections += ["", f"# Kernel set {run['name']}", "", _demoted(format_report(run["report"]))]
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
    if "runs" in report:  # merged over kernel sets: the first set's run
        report = report["runs"][0]["report"]
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
