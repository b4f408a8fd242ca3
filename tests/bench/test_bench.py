"""The benchmark harness (nnfast.bench, nnfast.bench.baselines) at tiny sizes: the code paths only.

Nothing here asserts a time: timings are whatever the machine gives; the checks are on FLOP counts,
the baselines' arithmetic, the report's structure and the command line.
"""

import json
import sys

import numpy as np
import pytest

from nnfast import Network, bench
from nnfast.bench.baselines import NotInstalled, PerExampleNetwork, optional_import
from nnfast.cli import main as cli_main

REPORT_KEYS = {"schema", "created", "profile", "parameters", "machine", "gemm_probe", "gemm_kernels", "results",
               "scaling", "memory", "targets", "total_seconds"}
RECORD_KEYS = {"kind", "sizes", "batch_size", "rows", "dtype", "threads", "impl", "label", "group",
               "status", "note", "seconds", "best", "flops", "bound_seconds"}


def _hide(monkeypatch, *names):
    """Make `import name` fail as if the library were not installed."""
    for name in names:
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setitem(sys.modules, name, None)


# ------------------------------------------------------------------------------------ FLOPs
def test_flop_count_by_hand():
    # [784, 30, 10], batch 10. Layer 1: forward GEMM 2*10*784*30 = 470,400 and the same for the
    # weight gradient (no backward delta below the first layer); layer 2: 2*10*30*10 = 6,000 for
    # each of forward, weight gradient and backward delta.
    assert bench.batch_flops([784, 30, 10], 10) == 2 * 470_400 + 3 * 6_000 == 958_800
    assert bench.epoch_flops([784, 30, 10], 50_000, 10) == 5_000 * 958_800
    # a shorter last batch counts its own rows
    assert bench.epoch_flops([784, 30, 10], 25, 10) == 2 * 958_800 + 958_800 // 2
    assert bench.inference_flops([784, 30, 10], 1) == 2 * (784 * 30 + 30 * 10)
    # three layers: backward deltas for layers 2 and 3
    assert bench.batch_flops([4, 3, 2, 1], 1) == 2 * (2 * 12) + 3 * (2 * 6) + 3 * (2 * 2)


# ------------------------------------------------------------------------------------ baselines
@pytest.mark.parametrize("cost", ["cross_entropy", "quadratic"])
def test_per_example_loop_matches_the_reference_backend(cost):
    rng = np.random.default_rng(5)
    sizes, n = [6, 5, 4, 3], 23
    X = rng.random((n, sizes[0]))
    labels = rng.integers(0, sizes[-1], n)
    net = Network(sizes, cost=cost, dtype="float64", backend="numpy", seed=3)
    loop = PerExampleNetwork(net.weights, net.biases, cost)
    xs, ys = PerExampleNetwork.columns(X, labels, sizes[-1])
    assert xs[0].shape == (6, 1) and ys[0].shape == (3, 1)
    for epoch in range(2):
        order = rng.permutation(n)
        # same example order: the network takes the rows in the given order (shuffle=False)
        net.fit(X[order], labels[order], epochs=1, batch_size=4, eta=0.7, lmbda=2.0, shuffle=False,
                monitor=False)
        loop.train_epoch(xs, ys, order, 4, 0.7, 2.0, n)
        weights, biases = loop.parameters()
        for ours, theirs in zip(weights + biases, list(net.weights) + list(net.biases)):
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(loop.feedforward(xs[0])[:, 0], net.feedforward(X[:1])[0],
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("trainer", ["TorchNNTrainer", "TorchManualTrainer"])
def test_torch_baselines_take_the_books_step(trainer):
    pytest.importorskip("torch")
    from nnfast.bench import baselines

    rng = np.random.default_rng(2)
    sizes, n = [6, 5, 3], 17
    X = rng.random((n, sizes[0]))
    labels = rng.integers(0, sizes[-1], n)
    net = Network(sizes, dtype="float64", backend="numpy", seed=4)
    model = getattr(baselines, trainer)(sizes, X, labels, 5, 0.5, 3.0, "float64", 1,
                                      weights=list(net.weights), biases=list(net.biases))
    order = rng.permutation(n)
    model.train_epoch(order)
    net.fit(X[order], labels[order], epochs=1, batch_size=5, eta=0.5, lmbda=3.0, shuffle=False,
            monitor=False)
    weights, biases = model.parameters()
    for ours, theirs in zip(weights + biases, list(net.weights) + list(net.biases)):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


def test_sklearn_baseline_runs_an_epoch():  # scikit-learn is in the test extra: never skipped
    from nnfast.bench.baselines import SklearnTrainer

    rng = np.random.default_rng(0)
    X, labels = rng.random((60, 8)), rng.integers(0, 3, 60)
    trainer = SklearnTrainer([8, 4, 3], X, labels, 10, 0.5, 5.0, "float32", 1, warmup_rows=20)
    trainer.train_epoch()
    model = trainer.model
    assert [c.shape for c in model.coefs_] == [(8, 4), (4, 3)]
    assert model.out_activation_ == "logistic"  # one-hot targets: sigmoid outputs, as the book's
    assert model.alpha == pytest.approx(5.0 * 10 / 60)  # sklearn's L2 per batch = lmbda/n per row


def test_optional_import_reports_not_installed(monkeypatch):
    _hide(monkeypatch, "torch")
    with pytest.raises(NotInstalled, match="torch not installed"):
        optional_import("torch")


def test_gemm_probe_shape_of_result():
    from nnfast.bench.baselines import gemm_probe

    probe = gemm_probe("float32", 1, size=32, repeats=2)
    assert probe["dtype"] == "float32" and probe["threads"] == 1 and probe["flops"] == 2 * 32 ** 3
    assert len(probe["seconds"]) == 2 and probe["gflops"] > 0


# ------------------------------------------------------------------------------------ the report
def test_report_structure(tiny_report):
    report = tiny_report
    assert REPORT_KEYS <= set(report)
    assert report["schema"] == bench.SCHEMA
    assert {(p["dtype"], p["threads"]) for p in report["gemm_probe"]} == {
        (d, t) for d in bench.DTYPES for t in (1, 2)}
    for record in report["results"]:
        assert RECORD_KEYS <= set(record), record
    measured = [r for r in report["results"] if r["impl"] != "bound"]
    assert all(r["status"] == "ok" and len(r["seconds"]) == 1 for r in measured)
    # every training configuration of the issue, at both thread counts, for both backends
    for sizes in bench.SMALL_NETS:
        for batch_size in bench.SMALL_BATCHES:
            for dtype in bench.DTYPES:
                for threads in (1, 2):
                    for impl in ("compiled", "reference", "bound"):
                        assert bench._find(report, "train", sizes, batch_size, dtype, threads, impl,
                                           "main"), (sizes, batch_size, dtype, threads, impl)
    assert bench._find(report, "train", bench.BIG_NET, 256, "float64", 2, "compiled", "big")
    assert bench._find(report, "infer", (784, 30, 10), None, "float32", 1, "reference")
    per_example = bench._find(report, "train", (784, 30, 10), 10, "float64", 1, "per_example")
    assert per_example["status"] == "ok"
    compiled = bench._find(report, "train", (784, 30, 10), 10, "float64", 1, "compiled", "main")
    assert compiled["flops"] == bench.epoch_flops([784, 30, 10], 200, 10)
    assert compiled["gflops"] == pytest.approx(compiled["flops"] / compiled["best"] / 1e9)
    assert per_example["compiled_speedup"] == pytest.approx(per_example["best"] / compiled["best"])
    two = bench._find(report, "train", (784, 30, 10), 10, "float64", 2, "compiled", "main")
    assert two["thread_speedup"] == pytest.approx(compiled["best"] / two["best"])
    # scaling and memory
    assert [p["rows"] for p in report["scaling"]["rows"]] == [20, 40, 200]
    assert [p["width"] for p in report["scaling"]["width"]] == [30, 100, 300]
    memory = {m["x_dtype"]: m for m in report["memory"]}
    assert memory["float64"]["expected_copy_bytes"] == 200 * 784 * 4
    assert memory["float32"]["expected_copy_bytes"] == 0
    assert all(m["peak_extra_bytes"] >= 0 for m in report["memory"])


def test_targets_section(tiny_report):
    targets = tiny_report["targets"]
    names = [t["target"] for t in targets]
    assert all(t["result"] in ("PASS", "FAIL", "n/a") for t in targets)
    assert any("nnfast reference time / compiled time" in n for n in names)
    assert any("per-example loop time / compiled time" in n for n in names)
    # every training row of issue 13 against JAX and torch (skipped here: n/a, never PASS) and the
    # FLOP bound; the inference rows against both
    for sizes, batch, dtype in bench.TARGET_TRAIN:
        where = f"{bench.report._net(sizes)} b{batch} {dtype} 1 thr"
        mine = {n: t for n, t in zip(names, targets) if n.startswith(where + ": compiled")}
        assert len(mine) == 3, where
        assert all(t["result"] == "n/a" for n, t in mine.items() if "JAX" in n or "torch" in n)
    assert sum("compiled / FLOP bound" in n for n in names) == len(bench.TARGET_TRAIN)
    assert sum(n.startswith("infer ") and "JAX" in n for n in names) == 2 * len(bench.DTYPES)
    jax_b10 = targets[names.index("[784, 30, 10] b10 float64 1 thr: compiled time / JAX jit scan "
                                  "time")]
    assert jax_b10["required"] == "<= 0.8" and jax_b10["result"] == "n/a"
    # every compiled configuration measured at 2 threads has a thread target
    n_two = sum(1 for r in tiny_report["results"] if r["impl"] == "compiled" and r["threads"] == 2
                and r["group"] != "scaling")
    assert sum("2 thr time / 1 thr time" in n for n in names) == n_two
    assert sum("2-thread speed-up" in n for n in names) == 3  # big net x 2 dtypes, conv b64
    assert sum(n.startswith("fit memory") for n in names) == 2
    assert any("linear in rows" in n for n in names) and any("linear in width" in n for n in names)


def test_format_report_and_json(tiny_report, tmp_path):
    text = bench.format_report(tiny_report)
    for heading in ("## Results", "## GEMM probe", "## GEMM kernels chosen", "## Scaling",
                    "## Memory", "## Targets"):
        assert heading in text
    # the kernel of every GEMM shape the run's models ran: [784, 30, 10] at batch 10 among them
    shapes = tiny_report["gemm_kernels"]["shapes"]
    assert {"form": "NT", "dtype": "float64", "m": 10, "n": 30, "k": 784} in [
        {key: row[key] for key in ("form", "dtype", "m", "n", "k")} for row in shapes]
    assert all(row["kernel"] in ("blas", "own", "packed") for row in shapes)
    assert "| NT   | float64 |   10x30x784 |" in text
    reproduce = "nnfast bench --quick --rows 200 --gemm-size 64 --repeats 1 --skip jax,torch"
    assert f"Reproduce: `{reproduce}`" in text and bench.reproduce_command(tiny_report) == reproduce
    table = bench.format_table(tiny_report).splitlines()
    assert table[0].startswith("| configuration") and set(table[1]) <= set("|-: ")
    assert len({len(line) for line in table}) == 1  # padded: every line equally long
    assert len(table) == 2 + sum(1 for r in tiny_report["results"] if r["group"] != "scaling")
    path = tmp_path / "out.json"
    bench.write_json(tiny_report, path)
    data = json.loads(path.read_text())
    assert REPORT_KEYS | {"reproduce", "text"} <= set(data)
    assert data["text"] == text
    # the saved report prints again as it was, without measuring
    assert bench.format_report(bench.read_json(path)) == text


def test_table_numbers_from_known_times():
    report = {"gemm_probe": [{"dtype": "float64", "threads": 1, "gflops": 50.0}], "results": []}
    for impl, seconds in (("compiled", 0.1), ("reference", 0.5)):
        record = bench._record("train", (784, 30, 10), 10, 50_000, "float64", 1, impl, "main")
        record.update(seconds=[seconds, seconds * 2], best=seconds)
        report["results"].append(record)
    missing = bench._record("train", (784, 30, 10), 10, 50_000, "float64", 1, "torch_nn", "main")
    missing.update(status="not installed", note="torch not installed")
    report["results"].append(missing)
    bench._derive(report)
    flops = 5_000 * 958_800
    compiled, reference, torch_row, bound = report["results"]
    assert compiled["gflops"] == pytest.approx(flops / 0.1 / 1e9)
    assert bound["impl"] == "bound" and bound["best"] == pytest.approx(flops / 50e9)
    assert compiled["x_bound"] == pytest.approx(0.1 / (flops / 50e9))
    assert reference["compiled_speedup"] == pytest.approx(5.0)
    lines = bench.format_table(report).splitlines()
    assert "|   500,000 |" in lines[2].replace("  ", " ") or "500,000" in lines[2]
    assert "5.00x" in lines[3]
    assert "not installed" in lines[4]
    targets = {t["target"]: t for t in bench.evaluate_targets(report)}
    ref_target = targets["[784, 30, 10] b10 float64 1 thr: nnfast reference time / compiled time"]
    assert ref_target["measured"] == pytest.approx(5.0) and ref_target["result"] == "PASS"
    torch_target = targets["[784, 30, 10] b10 float64 1 thr: compiled time / torch nn+SGD time"]
    assert torch_target["result"] == "n/a" and "not installed" in torch_target["note"]
    jax_target = targets["[784, 30, 10] b10 float64 1 thr: compiled time / JAX jit scan time"]
    assert jax_target["result"] == "n/a" and jax_target["note"] == "not measured"
    bound_target = targets["[784, 30, 10] b10 float64 1 thr: compiled / FLOP bound"]
    assert bound_target["measured"] == pytest.approx(compiled["x_bound"])
    assert bound_target["result"] == ("PASS" if compiled["x_bound"] <= 2.0 else "FAIL")


def test_machine_info():
    info = bench.machine_info(include_torch=False, include_sklearn=False)
    for key in ("cpu_model", "logical_cpus", "physical_cores", "usable_cpus", "platform", "blas",
                "openmp", "openmp_threads", "versions"):
        assert key in info
    assert {"python", "numpy", "scipy", "nnfast", "torch", "sklearn"} <= set(info["versions"])
    assert info["versions"]["numpy"] == np.__version__
    text = bench.format_machine(info)
    assert text.startswith("CPU") and "versions :" in text


def test_missing_torch_and_sklearn_are_not_installed_rows(monkeypatch):
    _hide(monkeypatch, "torch", "sklearn")
    report = bench.run(profile="full", threads=(1,), rows=200, gemm_size=64, repeats=1,
                       skip=("per_example", "jax", "big", "conv", "inference", "sweeps", "scaling",
                             "memory"))
    baseline_rows = [r for r in report["results"] if r["impl"] in ("torch_nn", "torch_manual",
                                                                   "sklearn")]
    assert len(baseline_rows) == 3 * len(bench.SMALL_NETS) * len(bench.SMALL_BATCHES) * 2
    assert all(r["status"] == "not installed" for r in baseline_rows)
    assert report["machine"]["versions"]["torch"] is None
    assert report["machine"]["versions"]["sklearn"] is None
    assert "not installed" in bench.format_table(report)
    torch_target = [t for t in report["targets"] if "torch" in t["target"]][0]
    assert torch_target["result"] == "n/a"


# ------------------------------------------------------------------------------------ command line
def test_cli_bench_quick(tmp_path, capsys):
    out_json, out_png = tmp_path / "bench.json", tmp_path / "bench.png"
    argv = ["bench", "--quick", "--rows", "200", "--gemm-size", "64", "--repeats", "1",
            "--skip", "torch,sklearn,big,inference,scaling,memory", "--threads", "1",
            "--json", str(out_json), "--quiet"]
    try:
        import matplotlib  # noqa: F401
        argv += ["--plot", str(out_png)]
    except ImportError:
        out_png = None
    assert cli_main(argv) == 0
    out = capsys.readouterr().out
    assert "## Results" in out and "## Targets" in out
    data = json.loads(out_json.read_text())
    assert data["parameters"]["rows"] == 200 and data["parameters"]["threads"] == [1]
    if out_png is not None:
        assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bench_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["bench", "--threads", "one"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("nnfast: error: ") and err.count("\n") == 1


def test_plot_without_matplotlib(monkeypatch, tiny_report, tmp_path):
    _hide(monkeypatch, "matplotlib")
    with pytest.raises(ImportError, match="needs matplotlib"):
        bench.plot(tiny_report, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# ------------------------------------------------------------------------------------ layout
def _imports_of(path, package):
    """The absolute names of the modules a source file of `package` imports, anywhere in it."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return names


def test_no_core_module_imports_the_bench_or_the_command_line():
    """The harness (nnfast/bench/) and the command line (nnfast/cli/) sit on top of the core: no
    other module of nnfast imports them; the command line dispatches `nnfast bench` and is the only
    one to import the harness, when that command runs."""
    import subprocess
    from pathlib import Path

    import nnfast

    root = Path(nnfast.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[0] in ("bench", "cli") or parts == ("__main__",):  # python -m nnfast: the CLI
            continue
        for name in _imports_of(path, ".".join(("nnfast",) + parts[:-1])):
            if name.startswith(("nnfast.bench", "nnfast.cli")):
                offenders.append(f"{path.relative_to(root)} imports {name}")
    assert offenders == []
    check = ("import sys, nnfast, nnfast.cli, nnfast.datasets, nnfast.io, nnfast.gradcheck; "
             "loaded = [m for m in sys.modules if m.startswith('nnfast.bench')]; print(loaded)")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
