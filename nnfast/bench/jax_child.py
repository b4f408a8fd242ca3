"""``python -m nnfast.bench.jax_child``: one JAX measurement of `nnfast bench`, in its own process.

Reads one JSON request on stdin, writes one JSON line on stdout. The request (made by
nnfast.bench.baselines.run_jax_child): "task" ("train" or "infer"), "net" ("dense" or "conv"),
"sizes", "batch_size", "dtype", "threads", "cpus" (the CPUs to pin to), "rows", "data_rows" and
"seed" (the data: config.make_data(data_rows, seed), its first `rows` rows, as the parent has them),
"eta", "lmbda", "repeats", "budget" (seconds; stop after 2 repeats once spent, as the parent does).
The result: "seconds" (every timed repeat), "best", "warmup_seconds" (the first call: compile and
one run), "cpus", "xla_flags", "jax".

The process pins itself to its CPUs before jax is imported, so every thread XLA starts inherits the
mask (the parent adds XLA's one-thread flags to the environment at 1 thread). float64 is enabled in
JAX (float32 arrays stay float32). Training: the initial weights are the book's default draw
(config.book_initial_weights; He-normal for the conv net), each epoch's permutation is drawn before
the clock starts, and the clock covers the epoch's scan and the short last batch until the
parameters are ready. Inference: one jitted forward pass of the rows.
"""

import json
import os
import sys
import time


def _data(request):
    from .config import N_CLASSES, make_data, one_hot

    dtype, rows = request["dtype"], request["rows"]
    inputs, labels = make_data(request["data_rows"], request["seed"], dtypes=(dtype,))
    return inputs[dtype][:rows], one_hot(labels[:rows], N_CLASSES, dtype)


def _initial_params(request):
    from . import jax_nets
    from .config import book_initial_weights

    dtype, seed = request["dtype"], request["seed"]
    if request["net"] == "conv":
        return jax_nets.conv_initial_params(dtype, seed)
    weights, biases = book_initial_weights(request["sizes"], seed)
    return [(w.astype(dtype), b.astype(dtype)) for w, b in zip(weights, biases)]


def _timed(prepare, run, repeats, budget):
    """A warm-up call (the compile), then up to `repeats` timed ones; prepare() runs before each
    clock starts and its result goes to run()."""
    seconds, warmup = [], None
    for round_ in range(repeats + 1):
        prepared = prepare()
        started = time.perf_counter()
        run(prepared)
        elapsed = time.perf_counter() - started
        if round_ == 0:
            warmup = elapsed
            continue
        seconds.append(elapsed)
        if budget is not None and len(seconds) >= 2 and sum(seconds) >= budget:
            break
    return {"seconds": seconds, "best": min(seconds), "warmup_seconds": warmup}


def measure(request):
    import jax
    import numpy as np

    from . import jax_nets

    X, Y = _data(request)
    params = _initial_params(request)
    repeats, budget = request["repeats"], request.get("budget")
    if request["task"] == "infer":
        predict = jax.jit(jax_nets.dense_predict)
        params = [(jax.numpy.asarray(w), jax.numpy.asarray(b)) for w, b in params]
        X = jax.device_put(X)
        return _timed(lambda: None, lambda _: predict(params, X).block_until_ready(), repeats,
                      budget)
    trainer = jax_nets.Trainer(request["net"], params, X, Y, request["batch_size"], request["eta"],
                               request["lmbda"], request["seed"])
    rng = np.random.default_rng(request["seed"])
    return _timed(lambda: trainer.prepare(rng.permutation(len(X))), trainer.run, repeats, budget)


def main():
    request = json.loads(sys.stdin.read())
    os.sched_setaffinity(0, set(request["cpus"]))  # before jax starts a thread
    import jax

    jax.config.update("jax_enable_x64", True)
    result = measure(request)
    result.update(cpus=sorted(os.sched_getaffinity(0)), xla_flags=os.environ.get("XLA_FLAGS", ""),
                  jax=jax.__version__)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
