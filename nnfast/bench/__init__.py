"""The benchmark harness behind ``nnfast bench`` (and ``python -m nnfast.bench``), kept out of
the core: no module of nnfast imports it; the command line hands ``nnfast bench`` to `main`.

The modules: ``harness`` (what is measured, `run`, `main`; its docstring says how), ``config``
(configurations, profiles, FLOP counts, the synthetic data), ``timers`` (the timed calls),
``baselines`` (the per-example loop, PyTorch, scikit-learn, the JAX child's launcher, the GEMM
probe), ``jax_nets`` and ``jax_child`` (the JAX baselines and the pinned child process that times
them), ``machine`` (what is recorded about the machine, the BLAS kernel set), ``kernel_sets``
(``--kernel-sets``: one child run per OpenBLAS kernel set, merged) and ``report`` (targets, tables,
JSON, plot).
"""

from .config import (BIG_BATCH, BIG_NET, CONV_NET, DTYPES, IMPLEMENTATIONS, PROFILES, SCHEMA,
                     SMALL_BATCHES, SMALL_NETS, TARGET_INFER, TARGET_TRAIN, batch_flops,
                     conv_batch_flops, epoch_flops, inference_flops, make_data)
from .harness import _derive, _record, build_parser, main, measure_group, measure_memory, run
from .kernel_sets import (default_kernel_sets, kernel_set_env, merge_reports, plan_kernel_sets,
                          run_kernel_sets)
from .machine import format_machine, machine_info
from .report import (_find, evaluate_targets, format_report, format_table, format_targets, plot,
                     read_json, reproduce_command, write_json)

__all__ = ["main", "run", "format_report", "format_table", "format_targets", "evaluate_targets",
           "batch_flops", "epoch_flops", "inference_flops", "machine_info", "make_data", "plot"]
