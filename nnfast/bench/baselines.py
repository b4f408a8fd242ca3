"""What `nnfast bench` measures nnfast against: the book's per-example loop (our own code, always
available), PyTorch on the CPU and scikit-learn's MLPClassifier (optional: when one is not installed,
its factory raises `NotInstalled` and the harness reports a "not installed" row), and a large-GEMM
probe giving this machine's attainable GFLOP/s.

Every trainer implements the book's update (network2.py, L2, no momentum): per mini-batch of m rows,
``W <- (1 - eta*lmbda/n) W - (eta/m) sum grad_W`` and ``b <- b - (eta/m) sum grad_b``, with n the number
of training rows, sigmoid units and the cross-entropy cost summed over the output units. None of
these libraries is a dependency of nnfast: they are imported only when a baseline is asked for.
"""

import importlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np

from .. import _threads
from .config import book_initial_weights, one_hot


class NotInstalled(ImportError):
    """An optional baseline's library is absent: reported as a "not installed" row."""


def optional_import(name):
    """Import an optional library, or raise NotInstalled (never anything else on absence)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise NotInstalled(f"{name} not installed") from exc


# ------------------------------------------------------------------------ the book's per-example loop
def _sigmoid(z):
    with np.errstate(over="ignore"):  # exp(-z) -> inf for very negative z gives exactly 0
        return 1.0 / (1.0 + np.exp(-z))


class PerExampleNetwork:
    """The classic network.py / network2.py algorithm: each example of a mini-batch is pushed
    through the network on its own, as a (n_in, 1) column vector, its gradients are summed, then one
    step is taken. Sigmoid units; the cost is "cross_entropy" (delta = a - y) or "quadratic"
    (delta = (a - y) sigma'(z)). Float64 throughout, as in the book.

    weights[l] has shape (n_out, n_in), biases[l] shape (n_out,) (stored as columns); both are
    copied.
    """

    COSTS = ("cross_entropy", "quadratic")

    def __init__(self, weights, biases, cost="cross_entropy"):
        if cost not in self.COSTS:
            raise ValueError(f"cost must be one of {self.COSTS}, got {cost!r}")
        self.cost = cost
        self.weights = [np.array(w, dtype=np.float64) for w in weights]
        self.biases = [np.array(b, dtype=np.float64).reshape(-1, 1) for b in biases]

    @staticmethod
    def columns(X, labels, n_out):
        """The book's data layout: (x, y) pairs of column vectors. x are views of X's rows (no copy);
        y are shared one-hot columns."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        units = [np.eye(n_out)[:, [k]] for k in range(n_out)]
        return [X[i].reshape(-1, 1) for i in range(len(X))], [units[k] for k in labels]

    def feedforward(self, x):
        a = x
        for w, b in zip(self.weights, self.biases):
            a = _sigmoid(w @ a + b)
        return a

    def backprop(self, x, y):
        """Gradients of one example's cost: (nabla_w, nabla_b), the book's four equations."""
        activations = [x]
        a = x
        for w, b in zip(self.weights, self.biases):
            a = _sigmoid(w @ a + b)
            activations.append(a)
        delta = a - y
        if self.cost == "quadratic":
            delta = delta * a * (1 - a)
        nabla_w = [None] * len(self.weights)
        nabla_b = [None] * len(self.weights)
        nabla_b[-1] = delta
        nabla_w[-1] = delta @ activations[-2].T
        for l in range(2, len(self.weights) + 1):
            a_l = activations[-l]
            delta = (self.weights[-l + 1].T @ delta) * a_l * (1 - a_l)
            nabla_b[-l] = delta
            nabla_w[-l] = delta @ activations[-l - 1].T
        return nabla_w, nabla_b

    def update_mini_batch(self, batch, eta, lmbda, n):
        nabla_w = [np.zeros_like(w) for w in self.weights]
        nabla_b = [np.zeros_like(b) for b in self.biases]
        for x, y in batch:
            delta_w, delta_b = self.backprop(x, y)
            for l in range(len(nabla_w)):
                nabla_w[l] += delta_w[l]
                nabla_b[l] += delta_b[l]
        m = len(batch)
        decay = 1 - eta * lmbda / n
        self.weights = [decay * w - (eta / m) * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - (eta / m) * nb for b, nb in zip(self.biases, nabla_b)]

    def train_epoch(self, xs, ys, order, batch_size, eta, lmbda, n=None):
        """One epoch over the examples in `order` (consecutive mini-batches; the last may be
        shorter); n defaults to len(xs)."""
        n = len(xs) if n is None else n
        for start in range(0, len(order), batch_size):
            batch = [(xs[i], ys[i]) for i in order[start:start + batch_size]]
            self.update_mini_batch(batch, eta, lmbda, n)

    def parameters(self):
        """(weights, biases) as nnfast shapes them: (n_out, n_in) and (n_out,)."""
        return [w.copy() for w in self.weights], [b[:, 0].copy() for b in self.biases]


# ------------------------------------------------------------------------ PyTorch
def _torch():
    return optional_import("torch")


def _torch_dtype(torch, dtype):
    return {"float64": torch.float64, "float32": torch.float32}[np.dtype(dtype).name]


class _TorchBase:
    def __init__(self, sizes, X, labels, batch_size, eta, lmbda, dtype, threads, weights=None,
                 biases=None, seed=0):
        torch = self.torch = _torch()
        self.threads = int(threads)
        self.tdtype = _torch_dtype(torch, dtype)
        self.sizes = list(sizes)
        self.X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.dtype(dtype)))  # shares memory
        self.Y = torch.from_numpy(one_hot(labels, sizes[-1], dtype))
        self.n = len(X)
        self.batch_size, self.eta, self.lmbda = int(batch_size), float(eta), float(lmbda)
        if weights is None:  # the book's default initialisation, float64 then converted
            weights, biases = book_initial_weights(sizes, seed)
        self._initial = ([np.asarray(w, dtype=np.float64) for w in weights],
                         [np.asarray(b, dtype=np.float64) for b in biases])

    def _threads_context(self):
        return _torch_threads(self.torch, self.threads)

    def _tensor(self, array):
        return self.torch.tensor(np.asarray(array), dtype=self.tdtype)


class TorchNNTrainer(_TorchBase):
    """PyTorch the usual way: nn.Sequential of Linear + Sigmoid, autograd, optim.SGD.

    The loss is nn.BCELoss(reduction="sum") / m (the cross-entropy summed over the output units,
    averaged over the batch), so the step is eta/m times the summed per-example gradients; the
    weights get weight_decay = lmbda / n, the biases none (the book does not decay biases).
    """

    name = "torch nn+SGD"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        torch, nn = self.torch, self.torch.nn
        layers = []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.Sigmoid()]
        self.model = nn.Sequential(*layers).to(self.tdtype)
        self.linears = [layer for layer in self.model if isinstance(layer, nn.Linear)]
        with torch.no_grad():
            for layer, w, b in zip(self.linears, *self._initial):
                layer.weight.copy_(self._tensor(w))
                layer.bias.copy_(self._tensor(b))
        self.optimizer = _book_sgd(torch, [layer.weight for layer in self.linears],
                                   [layer.bias for layer in self.linears], self.eta, self.lmbda, self.n)
        self.loss = nn.BCELoss(reduction="sum")

    def train_epoch(self, order):
        _autograd_epoch(self, order, lambda index: self.loss(self.model(self.X[index]),
                                                             self.Y[index]) / len(index))

    def feedforward(self, X):
        with self._threads_context(), self.torch.no_grad():
            return self.model(X if isinstance(X, self.torch.Tensor) else self.torch.from_numpy(X))

    def parameters(self):
        return ([layer.weight.detach().numpy().copy() for layer in self.linears],
                [layer.bias.detach().numpy().copy() for layer in self.linears])


class TorchManualTrainer(_TorchBase):
    """PyTorch tensors without autograd: the same mini-batch backpropagation nnfast does, written
    with torch matmuls (addmm for z = a W^T + b, sigmoid, delta = a - y, then per layer
    grad_W = delta^T a, grad_b = sum delta, delta <- (delta W) a (1 - a), and the fused update
    W <- (1 - eta lmbda/n) W - (eta/m) grad_W)."""

    name = "torch manual"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.weights = [self._tensor(w).contiguous() for w in self._initial[0]]
        self.biases = [self._tensor(b).contiguous() for b in self._initial[1]]

    def train_epoch(self, order):
        torch = self.torch
        order = torch.from_numpy(np.asarray(order, dtype=np.int64))
        decay = 1 - self.eta * self.lmbda / self.n
        W, B = self.weights, self.biases
        with self._threads_context(), torch.no_grad():
            for start in range(0, len(order), self.batch_size):
                index = order[start:start + self.batch_size]
                m = len(index)
                a = torch.index_select(self.X, 0, index)
                activations = [a]
                for w, b in zip(W, B):
                    a = torch.sigmoid(torch.addmm(b, a, w.t()))
                    activations.append(a)
                delta = a - torch.index_select(self.Y, 0, index)
                for l in range(len(W) - 1, -1, -1):
                    grad_b = delta.sum(0)
                    below = None
                    if l > 0:
                        a_l = activations[l]
                        below = (delta @ W[l]) * a_l * (1 - a_l)
                    W[l].addmm_(delta.t(), activations[l], beta=decay, alpha=-self.eta / m)
                    B[l].add_(grad_b, alpha=-self.eta / m)
                    delta = below

    def feedforward(self, X):
        torch = self.torch
        a = X if isinstance(X, torch.Tensor) else torch.from_numpy(X)
        with self._threads_context(), torch.no_grad():
            for w, b in zip(self.weights, self.biases):
                a = torch.sigmoid(torch.addmm(b, a, w.t()))
        return a

    def parameters(self):
        return ([w.numpy().copy() for w in self.weights], [b.numpy().copy() for b in self.biases])


class TorchConvTrainer:
    """The chapter-6 network (config.CONV_NET) the usual PyTorch way: nn.Sequential(Conv2d(1, 20, 5),
    ReLU, MaxPool2d(2), Conv2d(20, 40, 5), ReLU, MaxPool2d(2), Flatten, Linear(640, 100), ReLU,
    Dropout(0.5), Linear(100, 10)), nn.CrossEntropyLoss (softmax + log-likelihood, averaged over
    the batch), optim.SGD with weight decay lmbda/n on the weights only (the book's update); torch's
    own initialisation, seeded. X holds one flat 28 x 28 image per row."""

    name = "torch nn+SGD"

    def __init__(self, X, labels, batch_size, eta, lmbda, dtype, threads, seed=0):
        torch = self.torch = _torch()
        nn = torch.nn
        torch.manual_seed(seed)
        self.threads, self.batch_size = int(threads), int(batch_size)
        self.model = nn.Sequential(
            nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(20, 40, 5), nn.ReLU(),
            nn.MaxPool2d(2), nn.Flatten(), nn.Linear(640, 100), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(100, 10)).to(_torch_dtype(torch, dtype))
        named = list(self.model.named_parameters())
        self.optimizer = _book_sgd(torch, [p for name, p in named if name.endswith("weight")],
                                   [p for name, p in named if name.endswith("bias")], eta, lmbda,
                                   len(X))
        self.loss = nn.CrossEntropyLoss()
        images = np.ascontiguousarray(X, dtype=np.dtype(dtype)).reshape(-1, 1, 28, 28)
        self.images = torch.from_numpy(images)
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))

    def train_epoch(self, order):
        self.model.train()
        _autograd_epoch(self, order, lambda index: self.loss(self.model(self.images[index]),
                                                             self.labels[index]))


def _torch_threads(torch, threads):
    torch.set_num_threads(threads)
    return _threads.blas_threads(threads)


def _book_sgd(torch, weights, biases, eta, lmbda, n):
    """optim.SGD taking the book's step: weights decayed by eta*lmbda/n, biases not."""
    return torch.optim.SGD([{"params": weights, "weight_decay": lmbda / n},
                            {"params": biases, "weight_decay": 0.0}], lr=eta)


def _autograd_epoch(trainer, order, batch_loss):
    """One epoch of trainer.optimizer steps over consecutive batches of `order`; batch_loss(index)
    is the loss of the rows at `index` (a tensor)."""
    torch = trainer.torch
    order = torch.from_numpy(np.asarray(order, dtype=np.int64))
    with _torch_threads(torch, trainer.threads):
        for start in range(0, len(order), trainer.batch_size):
            index = order[start:start + trainer.batch_size]
            trainer.optimizer.zero_grad(set_to_none=True)
            batch_loss(index).backward()
            trainer.optimizer.step()


def torch_info():
    """Version, threads and BLAS of the installed torch, or None when it is not installed."""
    try:
        torch = _torch()
    except NotInstalled:
        return None
    info = {"version": torch.__version__, "num_threads": torch.get_num_threads()}
    try:
        build = torch.__config__.show()
        info["blas"] = "MKL" if "BLAS_INFO=mkl" in build else (
            "OpenBLAS" if "BLAS_INFO=open" in build else "see torch.__config__.show()")
        info["openmp"] = "USE_OPENMP=ON" in build
    except Exception as exc:  # the config text is informational only
        info["blas"] = f"unknown ({exc!r})"
    return info


# ------------------------------------------------------------------------ JAX, in a pinned child
# one thread: XLA's Eigen pool and its intra-op parallelism off (XLA_FLAGS alone still lets it use
# 1.5-2 cores, hence also the pinning to one CPU)
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def jax_version():
    """The installed jax's version, or None (without importing it)."""
    if importlib.util.find_spec("jax") is None:
        return None
    return importlib.metadata.version("jax")


def jax_cpus(threads, usable=None):
    """The CPUs a JAX child with `threads` threads is pinned to: the first `threads` usable ones."""
    usable = sorted(os.sched_getaffinity(0) if usable is None else usable)
    return usable[:max(1, int(threads))]


def jax_child_env(threads, environ):
    """The JAX child's environment: `environ` (not changed) on the CPU platform, with XLA's
    one-thread flags added at 1 thread."""
    env = dict(environ, JAX_PLATFORMS="cpu")
    if threads == 1:
        env["XLA_FLAGS"] = " ".join(f for f in (environ.get("XLA_FLAGS", ""), XLA_ONE_THREAD) if f)
    return env


def run_jax_child(request, timeout=1800):
    """Run one JAX measurement (nnfast.bench.jax_child) in a child process pinned to
    jax_cpus(request["threads"]); returns its result dict. Raises NotInstalled without jax and
    RuntimeError when the child fails."""
    if jax_version() is None:
        raise NotInstalled("jax not installed")
    request = dict(request, cpus=jax_cpus(request["threads"]))
    done = subprocess.run([sys.executable, "-m", "nnfast.bench.jax_child"],
                          input=json.dumps(request), capture_output=True, text=True,
                          env=jax_child_env(request["threads"], os.environ), timeout=timeout)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"JAX child exited with {done.returncode}: {why}")
    return json.loads(lines[-1])


# ------------------------------------------------------------------------ scikit-learn
class SklearnTrainer:
    """scikit-learn's MLPClassifier with the book's settings: logistic units, plain SGD (momentum 0,
    no Nesterov), constant learning rate eta, the given batch size. The targets are one-hot rows
    (a multilabel problem), so the output layer is logistic and the loss the binary cross-entropy
    summed over the units and averaged over the batch, as in the book. sklearn scales its L2 term by
    the batch size (the step decays W by eta*alpha/m), so alpha = lmbda * m / n gives the book's
    eta*lmbda/n. One epoch = one partial_fit call (sklearn shuffles the rows itself); BLAS is
    limited to `threads` (threadpoolctl) and sklearn's warnings are silenced."""

    name = "sklearn MLP"

    def __init__(self, sizes, X, labels, batch_size, eta, lmbda, dtype, threads, seed=0,
                 warmup_rows=200):
        neural = optional_import("sklearn.neural_network")
        self.threads = int(threads)
        self.X = np.ascontiguousarray(X, dtype=np.dtype(dtype))
        self.Y = one_hot(labels, sizes[-1], dtype)
        n = len(X)
        self.model = neural.MLPClassifier(
            hidden_layer_sizes=tuple(sizes[1:-1]), activation="logistic", solver="sgd",
            momentum=0.0, nesterovs_momentum=False, batch_size=int(batch_size),
            learning_rate="constant", learning_rate_init=float(eta),
            alpha=float(lmbda) * batch_size / n, shuffle=True, random_state=seed, max_iter=1,
            early_stopping=False)
        warm = max(1, min(warmup_rows, n))
        self._call(self.X[:warm], self.Y[:warm], classes=np.arange(sizes[-1]))

    def _call(self, X, Y, **kwargs):
        import warnings

        with warnings.catch_warnings(), _threads.blas_threads(self.threads):
            warnings.simplefilter("ignore")
            self.model.partial_fit(X, Y, **kwargs)

    def train_epoch(self, order=None):
        self._call(self.X, self.Y)


def sklearn_version():
    try:
        return optional_import("sklearn").__version__
    except NotInstalled:
        return None


# ------------------------------------------------------------------------ the GEMM probe
def _blas_gemm(dtype):
    """("BLAS dgemm"/"BLAS sgemm", call(a, b, c): c <- a @ b) by scipy.linalg.blas, the BLAS nnfast's
    kernels call, on Fortran-ordered matrices."""
    from scipy.linalg import blas

    name = {"float64": "dgemm", "float32": "sgemm"}[dtype.name]
    gemm = getattr(blas, name)
    return f"BLAS {name}", "F", lambda a, b, c: gemm(1.0, a, b, beta=0.0, c=c, overwrite_c=1)


def own_gemm_entry_points():
    """Our GEMM entry points, one thread each: [(name, call(a, b, c))] on C-ordered square matrices
    (c <- a @ b.T or a @ b: the same FLOPs). THE list of our kernels the FLOP bound tries: every name
    here that nnfast._kernels has (a kernel added later joins with one line; a missing one is
    skipped)."""
    try:
        from .. import _kernels
    except ImportError:
        return []
    isa = _kernels.simd_isa()
    wrappers = (
        ("own_gemm_nt", lambda f: lambda a, b, c: f(a, b, c, isa)),
        ("own_gemm_xn", lambda f: lambda a, b, c: f(False, 1.0, a, b, 0.0, c, isa)),
        ("own_gemm", lambda f: lambda a, b, c: f(False, False, 1.0, a, b, 0.0, c, isa)),
    )
    return [(name, wrap(getattr(_kernels, name))) for name, wrap in wrappers
            if hasattr(_kernels, name)]


def _probe_cases(dtypes, thread_counts, size, seed):
    """Every (dtype, threads, source) to time: BLAS at every thread count, our GEMMs at 1 thread."""
    rng = np.random.default_rng(seed)
    base_a, base_b = rng.random((size, size)), rng.random((size, size))
    cases = []
    for dtype in map(np.dtype, dtypes):
        calls = [(threads, _blas_gemm(dtype)) for threads in thread_counts]
        calls += [(1, (name, "C", call)) for name, call in own_gemm_entry_points()
                  if 1 in thread_counts]
        for threads, (source, order, call) in calls:
            a, b = (np.array(m, dtype=dtype, order=order) for m in (base_a, base_b))
            c = np.zeros((size, size), dtype=dtype, order=order)
            cases.append({"dtype": dtype.name, "threads": int(threads), "source": source,
                          "seconds": [], "run": lambda call=call, a=a, b=b, c=c: call(a, b, c)})
    return cases


def _summarize(cases, size):
    """One probe record per (dtype, threads): the fastest source's rate ("gflops", "source"), BLAS's
    ("blas_gflops") and every source's ("candidates")."""
    flops = 2.0 * size ** 3
    groups = {}
    for case in cases:
        best = min(case["seconds"])
        groups.setdefault((case["dtype"], case["threads"]), []).append(
            {"source": case["source"], "seconds": list(case["seconds"]), "best": best,
             "gflops": flops / best / 1e9})
    records = []
    for (dtype, threads), candidates in groups.items():
        top = max(candidates, key=lambda c: c["gflops"])
        blas = [c["gflops"] for c in candidates if c["source"].startswith("BLAS")]
        records.append({"dtype": dtype, "threads": threads, "size": int(size), "flops": flops,
                        "source": top["source"], "seconds": top["seconds"], "best": top["best"],
                        "gflops": top["gflops"], "blas_gflops": blas[0] if blas else None,
                        "candidates": candidates})
    return records


def gemm_probe(dtype, threads, size=2000, repeats=3, seed=0):
    """Attainable GFLOP/s on one size x size x size GEMM (2 size^3 FLOPs) in `dtype` with
    `threads` threads: the best of `repeats` calls after a warm-up, the fastest of BLAS and (at 1
    thread) our own GEMM entry points. Returns a dict."""
    return gemm_probes([dtype], [threads], size, repeats, seed)[0]


def gemm_probes(dtypes, thread_counts, size=2000, repeats=3, seed=0):
    """gemm_probe for every (dtype, threads), the calls alternating between them and their sources
    round by round (so a burst of background load does not spoil one of them only)."""
    cases = _probe_cases(dtypes, thread_counts, size, seed)
    for round_ in range(repeats + 1):  # round 0 is the warm-up: pages, threads, caches
        for case in cases:
            with _threads.blas_threads(case["threads"]):
                started = time.perf_counter()
                case["run"]()
                elapsed = time.perf_counter() - started
            if round_:
                case["seconds"].append(elapsed)
    return _summarize(cases, size)


def merge_probes(first, again):
    """Two probe runs as one: every source's calls of both, the records summarised again."""
    cases = []
    for one, two in zip(first, again):
        for c1, c2 in zip(one["candidates"], two["candidates"]):
            cases.append({"dtype": one["dtype"], "threads": one["threads"], "source": c1["source"],
                          "seconds": c1["seconds"] + c2["seconds"]})
    return _summarize(cases, first[0]["size"]) if first else []
