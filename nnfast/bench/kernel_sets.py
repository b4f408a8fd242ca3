"""``nnfast bench --kernel-sets [LIST]``: the same run under several OpenBLAS kernel sets, each in a
child process, merged into one report.

A kernel set is named by a word: ``env`` (the environment as given), ``native`` (OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE removed, as ``env -u`` would: OpenBLAS picks the kernels for this CPU) or any other
word (OPENBLAS_CORETYPE set to it, e.g. ``Haswell``; OPENBLAS_L2_SIZE as given). Without a list (or with
``--both-kernel-sets``): ``env`` and ``native``, and ``Haswell`` too when those two are the same
environment (the variables unset), so two distinct kernel sets are always measured. Sets whose
environments are identical run once, under the joined name ("env = native").

This process never changes its own environment: each child gets its own (``env=``), runs the
ordinary harness (``python -m nnfast.bench ... --json FILE``) and the report files are merged
(report.format_merged prints them: the targets per kernel set side by side, the machine section
naming each set's OpenBLAS architecture, then each set's whole report).
"""

import os
import subprocess
import sys
import tempfile
import time

from .config import SCHEMA
from .machine import KERNEL_SET_VARIABLES
from .report import read_json

ENV, NATIVE, FALLBACK = "env", "native", "Haswell"


def kernel_set_env(name, environ):
    """The environment (a new dict) of a child measuring kernel set `name` (see the module)."""
    env = dict(environ)
    if name == NATIVE:
        for variable in KERNEL_SET_VARIABLES:
            env.pop(variable, None)
    elif name != ENV:
        env["OPENBLAS_CORETYPE"] = name
    return env


def default_kernel_sets(environ):
    """env and native, and Haswell when the kernel-set variables are unset (env == native)."""
    same = not any(variable in environ for variable in KERNEL_SET_VARIABLES)
    return [ENV, NATIVE] + ([FALLBACK] if same else [])


def parse_kernel_sets(text):
    """"env,native,Haswell" -> ["env", "native", "Haswell"] (no empty or repeated names)."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"expected distinct kernel-set names such as env,native,Haswell, "
                         f"got {text!r}")
    return names


def plan_kernel_sets(names, environ):
    """[(name, env)] in order, one per distinct environment (identical ones share a joined name)."""
    plan = []
    for name in names:
        env = kernel_set_env(name, environ)
        same = [i for i, (_, other) in enumerate(plan) if other == env]
        if same:
            plan[same[0]] = (f"{plan[same[0]][0]} = {name}", env)
        else:
            plan.append((name, env))
    return plan


def child_argv(args):
    """The harness options of a `nnfast bench` command line to hand to each child (the outputs and
    --kernel-sets stay with the parent)."""
    argv = ["--quick"] if args.quick else []
    for dest in ("rows", "infer_rows", "big_rows", "conv_rows", "repeats", "gemm_size", "seed"):
        if getattr(args, dest) is not None:
            argv += [f"--{dest.replace('_', '-')}", str(getattr(args, dest))]
    argv += ["--threads", ",".join(str(t) for t in args.threads)]
    argv += ["--skip", ",".join(args.skip)] if args.skip else []
    return argv + (["--quiet"] if args.quiet else [])


def run_kernel_sets(names, argv, environ=None, say=print):
    """Run the harness with `argv` once per distinct kernel set, each in a child process with its
    own environment; returns the merged report. A failed child raises RuntimeError."""
    environ = dict(os.environ if environ is None else environ)
    runs = []
    with tempfile.TemporaryDirectory(prefix="nnfast-bench-") as folder:
        for i, (name, env) in enumerate(plan_kernel_sets(names, environ)):
            path = os.path.join(folder, f"kernel-set-{i}.json")
            say(f"kernel set {name}: " + (" ".join(f"{v}={env[v]}" for v in KERNEL_SET_VARIABLES
                                                   if v in env) or "kernel-set variables unset"))
            done = subprocess.run([sys.executable, "-m", "nnfast.bench", *argv, "--json", path],
                                  env=env, stdout=subprocess.DEVNULL)
            if done.returncode != 0:
                raise RuntimeError(f"the kernel set {name} run exited with {done.returncode}")
            runs.append((name, read_json(path)))
    return merge_reports(runs, names)


def merge_reports(runs, requested):
    """One report of [(kernel-set name, report)]: "runs" (each name and report) and "kernel_sets"
    (each name, its machine's kernel set and its targets' counts)."""
    sets = []
    for name, report in runs:
        results = [t["result"] for t in report["targets"]]
        sets.append({"name": name, "kernel_set": report["machine"].get("kernel_set"),
                     "targets": {k: results.count(k) for k in ("PASS", "FAIL", "n/a")}})
    return {"schema": SCHEMA, "created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "requested_kernel_sets": list(requested), "kernel_sets": sets,
            "runs": [{"name": name, "report": report} for name, report in runs]}
