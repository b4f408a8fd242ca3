"""The JAX baseline, the chapter-6 conv baselines, the GEMM probe's sources and --kernel-sets, at
tiny sizes. Nothing here asserts a time."""

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nnfast import Network, bench
from nnfast.bench import baselines, kernel_sets
from nnfast.bench.config import one_hot


# ------------------------------------------------------------------------------------ JAX
def test_jax_epoch_takes_the_books_steps():
    """One epoch of the JAX baseline (one lax.scan over the full batches, then the short last
    batch) gives the NumPy reference backend's weights, float64, same start and batch order."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from nnfast.bench import jax_nets

    rng = np.random.default_rng(2)
    sizes, n = [6, 5, 4, 3], 17  # 3 full batches of 5 and one of 2
    X = rng.random((n, sizes[0]))
    labels = rng.integers(0, sizes[-1], n)
    net = Network(sizes, dtype="float64", backend="numpy", seed=4)
    trainer = jax_nets.Trainer("dense", list(zip(net.weights, net.biases)), X,
                               one_hot(labels, sizes[-1], "float64"), 5, 0.5, 3.0)
    assert trainer.params[0][0].dtype == np.float64
    for _ in range(2):
        order = rng.permutation(n)
        trainer.train_epoch(order)
        net.fit(X[order], labels[order], epochs=1, batch_size=5, eta=0.5, lmbda=3.0,
                shuffle=False, monitor=False)
        weights, biases = trainer.parameters()
        for ours, theirs in zip(weights + biases, list(net.weights) + list(net.biases)):
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=0)
    predicted = jax_nets.dense_predict(trainer.params, X[:3])
    np.testing.assert_allclose(np.asarray(predicted), net.feedforward(X[:3]), rtol=1e-10)


def test_jax_conv_epoch_runs_in_float32():
    from nnfast.bench import jax_nets

    rng = np.random.default_rng(0)
    X = rng.random((13, 784)).astype(np.float32)
    params = jax_nets.conv_initial_params("float32", 0)
    trainer = jax_nets.Trainer("conv", params, X, one_hot(rng.integers(0, 10, 13), 10, "float32"),
                               5, 0.03, 0.1)
    trainer.train_epoch(rng.permutation(13))
    weights, biases = trainer.parameters()
    assert [w.shape for w in weights] == [(20, 1, 5, 5), (40, 20, 5, 5), (100, 640), (10, 100)]
    assert all(w.dtype == np.float32 and np.isfinite(w).all() for w in weights + biases)
    assert not np.array_equal(weights[0], params[0][0])  # it learned


def test_jax_child_environment_and_cpus():
    environ = {"XLA_FLAGS": "--xla_dump_to=/tmp/x", "PATH": "/bin"}
    one = baselines.jax_child_env(1, environ)
    assert one["XLA_FLAGS"] == "--xla_dump_to=/tmp/x " + baselines.XLA_ONE_THREAD
    assert one["JAX_PLATFORMS"] == "cpu" and one["PATH"] == "/bin"
    two = baselines.jax_child_env(2, environ)
    assert two["XLA_FLAGS"] == "--xla_dump_to=/tmp/x"  # as given: no one-thread flags
    assert environ == {"XLA_FLAGS": "--xla_dump_to=/tmp/x", "PATH": "/bin"}  # not changed
    assert "XLA_FLAGS" not in baselines.jax_child_env(2, {})
    assert baselines.jax_cpus(1, {3, 1, 2}) == [1]
    assert baselines.jax_cpus(2, {3, 1, 2}) == [1, 2]


def test_jax_child_runs_pinned_to_one_cpu():
    request = {"task": "train", "net": "dense", "sizes": [784, 30, 10], "batch_size": 10,
               "dtype": "float64", "threads": 1, "rows": 95, "data_rows": 120, "seed": 0,
               "eta": 0.5, "lmbda": 5.0, "repeats": 2, "budget": None}
    result = baselines.run_jax_child(request)
    assert result["cpus"] == baselines.jax_cpus(1)
    assert baselines.XLA_ONE_THREAD in result["xla_flags"]
    assert len(result["seconds"]) == 2 and result["best"] == min(result["seconds"]) > 0
    timer = bench.timers.jax_timer(dict(request, task="infer", repeats=1))
    assert timer() > 0 and "pinned to CPU" in timer.note


# ------------------------------------------------------------------------------------ conv net
def test_conv_flops_and_torch_conv_trainer():
    assert bench.conv_batch_flops(1) == 2 * 576_000 + 3 * 2_560_000 + 3 * 128_000 + 3 * 2_000
    assert bench.epoch_flops(bench.CONV_NET, 25, 10) == 2.5 * bench.conv_batch_flops(10)
    pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    trainer = baselines.TorchConvTrainer(rng.random((12, 784)), rng.integers(0, 10, 12), 5, 0.03,
                                         0.1, "float32", 1)
    before = trainer.model[0].weight.detach().clone()
    trainer.train_epoch(rng.permutation(12))
    assert not np.array_equal(before.numpy(), trainer.model[0].weight.detach().numpy())


def test_conv_rows_in_the_report(tiny_report):
    for threads in (1, 2):
        for batch in bench.config.CONV_BATCHES:
            r = bench._find(tiny_report, "train", bench.CONV_NET, batch, "float32", threads,
                            "compiled", "conv")
            assert r["status"] == "ok" and r["rows"] == 50_000 and r["timed_rows"] == 200
            assert r["flops"] == bench.epoch_flops(bench.CONV_NET, 50_000, batch)
    assert "train ch.6 conv b10, 50,000 rows (timed on 200)" in bench.format_table(tiny_report)


# ------------------------------------------------------------------------------------ GEMM probe
def test_gemm_probe_tries_our_entry_points(monkeypatch):
    names = [name for name, _ in baselines.own_gemm_entry_points()]
    assert names == ["own_gemm_nt", "own_gemm_xn", "own_gemm"]
    probe = baselines.gemm_probe("float64", 1, size=48, repeats=1)
    sources = [c["source"] for c in probe["candidates"]]
    assert sources == ["BLAS dgemm"] + names
    assert probe["gflops"] == max(c["gflops"] for c in probe["candidates"])
    assert probe["source"] in sources and probe["blas_gflops"] == probe["candidates"][0]["gflops"]
    # at 2 threads only BLAS; a missing entry point is skipped
    assert [c["source"] for c in baselines.gemm_probe("float32", 2, 32, 1)["candidates"]] == [
        "BLAS sgemm"]
    from nnfast import _kernels

    monkeypatch.delattr(_kernels, "own_gemm_nt")
    assert [name for name, _ in baselines.own_gemm_entry_points()] == ["own_gemm_xn", "own_gemm"]


def test_merged_probes_keep_every_call():
    first = baselines.gemm_probes(["float32"], [1], 32, 1)
    again = baselines.gemm_probes(["float32"], [1], 32, 2)
    merged = baselines.merge_probes(first, again)
    assert all(len(c["seconds"]) == 3 for c in merged[0]["candidates"])
    assert merged[0]["best"] == min(min(c["seconds"]) for c in merged[0]["candidates"]
                                    if c["source"] == merged[0]["source"])


# ------------------------------------------------------------------------------------ kernel sets
def test_machine_records_the_kernel_set():
    blas = [{"internal_api": "openblas", "architecture": "Zen", "filepath": "/x/numpy.libs/a.so"},
            {"internal_api": "openblas", "architecture": "Haswell", "filepath": "/x/scipy.libs/b.so"}]
    info = bench.machine.kernel_set(blas, {"OPENBLAS_CORETYPE": "Haswell"})
    assert info == {"architecture": "Haswell", "OPENBLAS_CORETYPE": "Haswell",
                    "OPENBLAS_L2_SIZE": None}
    assert bench.machine.format_kernel_set(info) == "Haswell (OPENBLAS_CORETYPE=Haswell)"
    here = bench.machine_info(include_torch=False, include_sklearn=False)
    assert here["kernel_set"]["architecture"]  # threadpoolctl names the OpenBLAS core
    assert "kernels  : OpenBLAS kernel set" in bench.format_machine(here)


def test_kernel_set_environments():
    given = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "1000000", "PATH": "/bin"}
    assert kernel_sets.kernel_set_env("env", given) == given
    assert kernel_sets.kernel_set_env("native", given) == {"PATH": "/bin"}
    assert kernel_sets.kernel_set_env("Zen", given) == {"OPENBLAS_CORETYPE": "Zen",
                                                         "OPENBLAS_L2_SIZE": "1000000",
                                                         "PATH": "/bin"}
    assert given["OPENBLAS_CORETYPE"] == "Haswell"  # the input is not changed
    assert kernel_sets.default_kernel_sets(given) == ["env", "native"]
    assert kernel_sets.default_kernel_sets({"PATH": "/bin"}) == ["env", "native", "Haswell"]
    plan = kernel_sets.plan_kernel_sets(["env", "native", "Haswell"], {"PATH": "/bin"})
    assert [name for name, _ in plan] == ["env = native", "Haswell"]
    assert [name for name, _ in kernel_sets.plan_kernel_sets(["env", "native"], given)] == [
        "env", "native"]
    assert kernel_sets.parse_kernel_sets("env, SkylakeX") == ["env", "SkylakeX"]
    with pytest.raises(ValueError):
        kernel_sets.parse_kernel_sets("env,env")


def _fake_run(report, architecture, coretype, result):
    fake = copy.deepcopy(report)
    fake["machine"]["kernel_set"] = {"architecture": architecture, "OPENBLAS_CORETYPE": coretype,
                                     "OPENBLAS_L2_SIZE": None}
    for target in fake["targets"]:
        target["result"] = result
    return fake


def test_merged_report_from_two_json_files(tiny_report, tmp_path):
    runs = []
    for name, arch, coretype, result in (("env", "SkylakeX", None, "PASS"),
                                         ("Haswell", "Haswell", "Haswell", "FAIL")):
        path = tmp_path / f"{name}.json"
        bench.write_json(_fake_run(tiny_report, arch, coretype, result), path)
        runs.append((name, bench.read_json(path)))
    merged = kernel_sets.merge_reports(runs, ["env", "Haswell"])
    n = len(tiny_report["targets"])
    assert [s["targets"] for s in merged["kernel_sets"]] == [
        {"PASS": n, "FAIL": 0, "n/a": 0}, {"PASS": 0, "FAIL": n, "n/a": 0}]
    text = bench.format_report(merged)
    assert "SkylakeX (OPENBLAS_CORETYPE unset: OpenBLAS's choice)" in text
    assert "Haswell (OPENBLAS_CORETYPE=Haswell)" in text
    side = bench.report.format_targets_side_by_side(merged).splitlines()
    assert [cell.strip() for cell in side[0].split("|")[1:-1]] == ["target", "required", "env",
                                                                    "Haswell"]
    assert len(side) == 2 + n and all("PASS" in line and "FAIL" in line for line in side[2:])
    assert "# Kernel set Haswell" in text and "### Targets" in text
    assert bench.reproduce_command(merged).endswith("--kernel-sets env,Haswell")
    path = tmp_path / "merged.json"
    bench.write_json(merged, path)
    assert bench.format_report(bench.read_json(path)) == text


def test_kernel_sets_command_runs_one_child_per_set(tmp_path):
    out = tmp_path / "merged.json"
    argv = [sys.executable, "-m", "nnfast", "bench", "--quick", "--rows", "120", "--gemm-size",
            "32", "--repeats", "1", "--threads", "1", "--quiet", "--kernel-sets", "native,Haswell",
            "--skip", "reference,per_example,torch,jax,sklearn,big,conv,inference,sweeps,scaling,"
            "memory", "--json", str(out)]
    env = dict(os.environ, OPENBLAS_CORETYPE="Zen")  # the parent's own: handed to no child here
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    merged = json.loads(out.read_text())
    assert [s["name"] for s in merged["kernel_sets"]] == ["native", "Haswell"]
    natives, haswell = (s["kernel_set"] for s in merged["kernel_sets"])
    assert natives["OPENBLAS_CORETYPE"] is None and haswell["OPENBLAS_CORETYPE"] == "Haswell"
    assert haswell["architecture"] == "Haswell"
    assert "## Targets per kernel set" in done.stdout
