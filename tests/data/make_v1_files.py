"""Writes the version-1 model files in this folder with nnfast 0.1.0 as of commit 3d6fee1 (the last
version that wrote format 1). Kept for the record: run it with that version installed."""

import numpy as np

import nnfast
from nnfast import io as nnio
from nnfast.activations import elu, leaky_relu


def blobs(n, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    return rng.random((n, n_in)), rng.integers(0, n_out, n)


# what tests/test_io.py's `saved` fixture trains
net = nnfast.Network([4, 6, 5, 3], activation=[leaky_relu(0.2), elu(0.5), "softmax"],
                     cost="log_likelihood", seed=3, dropout=[0.25, 0.0])
X, y = blobs(24, 4, 3, 1)
net.fit(X, y, epochs=2, batch_size=5, eta=0.1, lmbda=0.5, monitor=False)
nnio.save(net, "v1_leaky_elu_softmax.npz")

# batch norm and Adam, saved mid-training; then one more epoch, for the continuation
net = nnfast.Network([4, 6, 3], activation="relu", output_activation="softmax",
                     cost="log_likelihood", seed=5, batch_norm=True, dropout=0.2)
X, y = blobs(40, 4, 3, 2)
net.fit(X, y, epochs=2, batch_size=8, eta=0.01, optimizer="adam", monitor=False)
nnio.save(net, "v1_batchnorm_adam.npz")
net.fit(X, y, epochs=1, batch_size=8, eta=0.01, optimizer="adam", monitor=False)
np.save("v1_batchnorm_adam_next_epoch.npy", np.concatenate([net.params, net.bn_running]))
