"""The benchmark's configurations, profiles and FLOP counts (used by `nnfast.bench`)."""

import numpy as np

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

# the book's chapter-6 network (examples/mnist_conv.py), in `nnfast train --layers` notation: ReLU
# convolutions and dense layer, softmax output, log-likelihood cost; float32, trained on a subset of
# the rows and scaled to a CONV_EPOCH_ROWS-row epoch
CONV_NET = ("conv:20:5", "pool:2", "conv:40:5", "pool:2", "flatten", "dense:100", "dropout:0.5",
            "dense:10")
CONV_BATCHES, CONV_DTYPE = (10, 64), "float32"
CONV_ETA, CONV_LMBDA, CONV_EPOCH_ROWS = 0.03, 0.1, 50_000

# issue 13's speed targets, each at 1 thread: training (sizes, batch, dtype) and inference nets
TARGET_TRAIN = (((784, 30, 10), 10, "float64"), ((784, 30, 10), 10, "float32"),
                ((784, 100, 10), 10, "float32"), ((784, 100, 10), 100, "float32"),
                (BIG_NET, BIG_BATCH, "float64"), (BIG_NET, BIG_BATCH, "float32"),
                (CONV_NET, 10, CONV_DTYPE), (CONV_NET, 64, CONV_DTYPE))
TARGET_INFER = ((784, 100, 10), BIG_NET)
TARGET_CONFIG = ((784, 30, 10), 10, "float64")  # ... against the reference and the per-example loop
THREAD_TARGETS = ((BIG_NET, BIG_BATCH), (CONV_NET, 64))  # 2 threads >= 1.8x one thread

IMPLEMENTATIONS = {  # key -> the label the table shows
    "compiled": "nnfast compiled",
    "reference": "nnfast reference",
    "per_example": "per-example loop",
    "torch_nn": "torch nn+SGD",
    "torch_manual": "torch manual",
    "jax": "JAX jit scan",
    "sklearn": "sklearn MLP",
    "bound": "FLOP bound",
}
SKIPPABLE = ("reference", "per_example", "torch", "jax", "sklearn", "big", "conv", "inference",
             "sweeps", "scaling", "memory")
SKIP_NAME = {"torch_nn": "torch", "torch_manual": "torch"}  # implementation -> its --skip name

PROFILES = {
    "full": {"rows": 50_000, "big_rows": 10_000, "infer_rows": 10_000, "conv_rows": 2_000,
             "gemm_size": 2000,
             "repeats": {"compiled": 5, "reference": 3, "per_example": 2, "torch_nn": 2,
                         "torch_manual": 2, "jax": 3, "sklearn": 1, "infer": 10, "gemm": 3,
                         "scaling": 5},
             "budget": 4.0, "skip": ()},
    "quick": {"rows": 10_000, "big_rows": 5_000, "infer_rows": 10_000, "conv_rows": 500,
              "gemm_size": 2000,
              "repeats": {"compiled": 3, "reference": 2, "per_example": 1, "torch_nn": 1,
                          "torch_manual": 1, "jax": 2, "sklearn": 1, "infer": 5, "gemm": 2,
                          "scaling": 3},
              "budget": 1.0, "skip": ("sklearn",)},
}


# ------------------------------------------------------------------------------------ FLOPs, data
def conv_batch_flops(m):
    """GEMM FLOPs of one training step of the chapter-6 network (CONV_NET) on m rows: forward and
    weight gradient of every convolution and dense layer, the input gradient of all but the first
    convolution; pooling and elementwise work not counted."""
    conv1 = 2 * 20 * 25 * 24 * 24 * m  # forward; its weight gradient costs the same (no input grad)
    conv2 = 2 * 40 * 500 * 8 * 8 * m  # forward, weight gradient and input gradient: 3x
    dense1 = 2 * 640 * 100 * m
    dense2 = 2 * 100 * 10 * m
    return 2 * conv1 + 3 * conv2 + 3 * dense1 + 3 * dense2


def is_conv(sizes):
    return tuple(sizes) == CONV_NET


def batch_flops(sizes, m):
    """FLOPs of one training step on m rows (CONV_NET: conv_batch_flops): per layer 2 m n_in n_out for the forward GEMM, the same
    for the weight-gradient GEMM, and the same for the backward delta GEMM of every layer except the
    first (whose delta is never needed). Elementwise work is not counted."""
    if is_conv(sizes):
        return conv_batch_flops(m)
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


def one_hot(labels, n_classes, dtype):
    """Target rows: 1 at each row's label, 0 elsewhere."""
    Y = np.zeros((len(labels), n_classes), dtype=np.dtype(dtype))
    Y[np.arange(len(labels)), labels] = 1
    return Y


def book_initial_weights(sizes, seed):
    """The book's default initialisation in float64 from default_rng(seed): (weights (n_out, n_in)
    ~ N(0, 1/n_in), biases ~ N(0, 1))."""
    rng = np.random.default_rng(seed)
    biases = [rng.standard_normal(n_out) for n_out in sizes[1:]]
    weights = [rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return weights, biases


def _resolve_options(profile, rows, infer_rows, big_rows, repeats, gemm_size, skip, conv_rows=None):
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
    if conv_rows is not None:
        options["conv_rows"] = int(conv_rows)
    options["conv_rows"] = min(options["conv_rows"], options["rows"])
    if repeats is not None:
        options["repeats"] = {k: int(repeats) for k in options["repeats"]}
    if gemm_size is not None:
        options["gemm_size"] = int(gemm_size)
    options["skip"] = tuple(sorted(set(options["skip"]) | set(skip or ())))
    for name in options["skip"]:
        if name not in SKIPPABLE:
            raise ValueError(f"cannot skip {name!r}; choose from {', '.join(SKIPPABLE)}")
    for key in ("rows", "infer_rows", "big_rows", "conv_rows", "gemm_size"):
        if options[key] < 1:
            raise ValueError(f"{key.replace('_', '-')} must be at least 1, got {options[key]}")
    return options
