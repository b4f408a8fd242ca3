"""Hashes of what the dense fast path computes after a few epochs, per configuration (parameters,
running statistics, outputs, gradient, cost, accuracy), and the fingerprint of the machine they
were computed on (our GEMM kernels' instruction set and the BLAS decide the last bits): a check
that a refactoring of the compiled loops changes no bit.

    python tools/dense_hashes.py            # print them (JSON)
    python tools/dense_hashes.py --check    # compare with tools/dense_hashes.json (exit 1 if any
                                            # differs; says so when the machine is another one)

tools/dense_hashes.json holds them from the code before the dense loop took the layer table
(issue 12), computed on an AMD EPYC (Zen 4, AVX-512), scipy 1.17.1. tests/kernels/test_dense_bits.py
runs the same configurations for 1 and 2 threads.

The GEMM kernels are the fixed size rule's (NNFAST_GEMM=rule, set here unless the environment says
otherwise), as when the hashes were stored: measured choices differ between machines."""

import hashlib
import json
import os
import platform

import numpy as np

os.environ.setdefault("NNFAST_GEMM", "rule")  # before nnfast reads it

import nnfast  # noqa: E402
from nnfast import _kernels  # noqa: E402

CONFIGS = {
    # name: (Network kwargs, fit kwargs)
    "sgd-l2": (dict(sizes=[20, 16, 5]), dict(lmbda=0.5)),
    "sgd-l1-f32": (dict(sizes=[20, 16, 5], dtype="float32"), dict(lmbda=0.5, regularization="l1")),
    "adam-dropout": (dict(sizes=[20, 24, 16, 5], activation="relu", output_activation="softmax",
                          cost="log_likelihood", dropout=[0.3, 0.2]),
                     dict(optimizer="adam", eta=0.01)),
    "momentum-batchnorm": (dict(sizes=[20, 16, 12, 5], activation="relu",
                                output_activation="softmax", cost="log_likelihood",
                                batch_norm=True), dict(optimizer="momentum", eta=0.05)),
    "sgd-maxout-dropout-f32": (dict(sizes=[20, 16, 5], activation=nnfast.activations.maxout(3), dtype="float32",
                                    output_activation="softmax", cost="log_likelihood",
                                    dropout=0.25), dict(eta=0.1, lmbda=0.1)),
    "sgd-own-gemm": (dict(sizes=[64, 100, 10], output_activation="softmax",
                          cost="log_likelihood"), dict(batch_size=200, eta=0.5)),
    "rmsprop-bn-f32": (dict(sizes=[20, 16, 5], activation="tanh", batch_norm=True, output_activation="sigmoid",
                            dtype="float32"), dict(optimizer="rmsprop", eta=0.01)),
}


def fingerprint():
    """The machine, the kernels' instruction set, scipy's version (its BLAS runs the others) and
    whether the build is a debugging one (-O1: the vector kernels round differently)."""
    import scipy
    build = " debug-build" if _kernels.debug_build() else ""
    return f"{platform.machine()} isa={_kernels.simd_isa()} scipy={scipy.__version__}{build}"


def hashes(n_threads_list=(1, 2)):
    rng = np.random.default_rng(0)
    out = {}
    for name, (net_kwargs, fit_kwargs) in CONFIGS.items():
        n_in, n_out = net_kwargs["sizes"][0], net_kwargs["sizes"][-1]
        X = rng.standard_normal((600, n_in))
        y = rng.integers(0, n_out, 600)
        for threads in n_threads_list:
            net = nnfast.Network(seed=1, n_threads=threads, **net_kwargs)
            assert net._dense_loop
            fit = dict(epochs=3, batch_size=10, eta=0.2)
            fit.update(fit_kwargs)
            net.fit(X.astype(net.dtype), y, monitor=False, **fit)
            probe = X[:37].astype(net.dtype)
            blob = (net.params.tobytes() + net.running.tobytes()
                    + net.feedforward(probe).tobytes() + net.gradient(probe, y[:37]).tobytes()
                    + np.float64(net.cost(probe, y[:37])).tobytes()
                    + np.int64(net.accuracy(probe, y[:37])).tobytes())
            digest = hashlib.sha256(blob).hexdigest()[:16]
            out[f"{name}/t{threads}"] = digest
        rng = np.random.default_rng(len(out))
    return out


def main(argv):
    if "--check" not in argv:
        print(json.dumps({"fingerprint": fingerprint(), "hashes": hashes()}, indent=1))
        return 0
    from pathlib import Path

    stored = json.loads((Path(__file__).parent / "dense_hashes.json").read_text())
    if stored["fingerprint"] != fingerprint():
        print(f"stored for {stored['fingerprint']}, this machine is {fingerprint()}: not comparable")
        return 2
    differ = sorted(k for k, v in hashes().items() if stored["hashes"].get(k) != v)
    print("the same bits" if not differ else f"different bits: {differ}")
    return 1 if differ else 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
