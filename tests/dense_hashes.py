"""Hashes of the parameters after a few epochs of the dense fast path, per configuration, and the
fingerprint of the machine they were computed on (the own GEMM kernels' instruction set and the
BLAS decide the last bits). tests/test_dense_bits.py compares them with the stored ones;
`python tests/dense_hashes.py` prints them (to store them anew after a deliberate change)."""

import hashlib
import json
import platform

import numpy as np

import nnfast
from nnfast import _kernels

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
            assert net._dense is not None
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


if __name__ == "__main__":
    print(json.dumps({"fingerprint": fingerprint(), "hashes": hashes()}, indent=1))
