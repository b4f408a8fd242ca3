"""The JAX baselines of `nnfast bench`: the dense network (sigmoid units, cross-entropy) and the
chapter-6 convolutional network, trained by the book's SGD step (weights decayed by eta*lmbda/n,
biases not, eta/m times the batch's summed gradients). One training epoch is ONE jitted
``jax.lax.scan`` over the full mini-batches, then one jitted step for a shorter last batch.

This module imports jax: only the benchmark's child process (nnfast.bench.jax_child) and the tests
import it. Parameters are lists of (W, b) with W (n_out, n_in) as nnfast holds them (convolution
kernels (C_out, C_in, kh, kw)).
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

DROPOUT = 0.5  # the chapter-6 net's dropout probability, after its dense ReLU layer


# ------------------------------------------------------------------------------------ the nets
def dense_logits(params, x):
    for w, b in params[:-1]:
        x = jax.nn.sigmoid(x @ w.T + b)
    w, b = params[-1]
    return x @ w.T + b


def dense_predict(params, x):
    return jax.nn.sigmoid(dense_logits(params, x))


def dense_loss(params, x, y, key=None):
    """The cross-entropy summed over the output units and the rows, written on the logits z (its
    gradient in z is sigmoid(z) - y: the book's output delta)."""
    z = dense_logits(params, x)
    return jnp.sum(jax.nn.softplus(z) - y * z)


def _conv_relu(a, kernel, bias):
    z = lax.conv_general_dilated(a, kernel, (1, 1), "VALID",
                                 dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return jax.nn.relu(z + bias[None, :, None, None])


def _max_pool(a):
    return lax.reduce_window(a, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2),
                             "VALID")


def conv_loss(params, x, y, key):
    """The chapter-6 net's log-likelihood summed over the rows: conv 20@5x5 ReLU, max-pool 2, conv
    40@5x5 ReLU, max-pool 2, dense 100 ReLU, inverted dropout (mask from `key`), dense 10 softmax."""
    (k1, c1), (k2, c2), (w1, b1), (w2, b2) = params
    a = _max_pool(_conv_relu(x.reshape(-1, 1, 28, 28), k1, c1))
    a = _max_pool(_conv_relu(a, k2, c2))
    a = jax.nn.relu(a.reshape(a.shape[0], -1) @ w1.T + b1)
    keep = jax.random.bernoulli(key, 1.0 - DROPOUT, a.shape)
    a = jnp.where(keep, a / (1.0 - DROPOUT), 0)
    return -jnp.sum(y * jax.nn.log_softmax(a @ w2.T + b2))


LOSSES = {"dense": dense_loss, "conv": conv_loss}


def conv_initial_params(dtype, seed):
    """He-normal kernels and weights, zero biases (default_rng(seed))."""
    rng = np.random.default_rng(seed)
    shapes = (((20, 1, 5, 5), 25), ((40, 20, 5, 5), 500), ((100, 640), 640), ((10, 100), 100))
    return [((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype),
             np.zeros(shape[0], dtype=dtype)) for shape, fan_in in shapes]


# ------------------------------------------------------------------------------------ training
def sgd_step(loss, eta, lmbda, n):
    """step(params, X, Y, index, key): the book's update on the rows X[index], Y[index]."""
    decay = 1.0 - eta * lmbda / n

    def step(params, X, Y, index, key):
        scale = eta / index.shape[0]
        grads = jax.grad(loss)(params, X[index], Y[index], key)
        return [(decay * w - scale * gw, b - scale * gb)
                for (w, b), (gw, gb) in zip(params, grads)]

    return step


def epoch_functions(net, eta, lmbda, n):
    """(epoch, step), jitted: epoch(params, X, Y, batches, keys) is one lax.scan of the step over
    the rows of `batches` (k, m) (keys: one dropout key per batch, or None); step(params, X, Y,
    index, key) takes one mini-batch (the shorter last one)."""
    step = sgd_step(LOSSES[net], eta, lmbda, n)

    def epoch(params, X, Y, batches, keys):
        def body(carry, xs):
            return step(carry, X, Y, *xs), None

        return lax.scan(body, params, (batches, keys))[0]

    return jax.jit(epoch), jax.jit(step)


class Trainer:
    """One network's training state: the parameters, the data on the device, the jitted epoch.

    prepare(order) makes the epoch's index arrays (and dropout keys) on the device, before the
    clock starts; run(prepared) trains one epoch and waits for the result."""

    def __init__(self, net, params, X, Y, batch_size, eta, lmbda, seed=0):
        self.params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in params]
        self.X, self.Y = jnp.asarray(X), jnp.asarray(Y)
        self.epoch, self.step = epoch_functions(net, eta, lmbda, len(X))
        self.batch_size = int(batch_size)
        self.key = jax.random.PRNGKey(seed) if net == "conv" else None

    def _keys(self, count):
        if self.key is None:
            return [None] * count
        self.key, sub = jax.random.split(self.key)
        return list(jax.random.split(sub, count))

    def prepare(self, order):
        order = np.asarray(order, dtype=np.int64)
        full = len(order) // self.batch_size * self.batch_size
        batches, rest = order[:full].reshape(-1, self.batch_size), order[full:]
        keys = self._keys(2)
        if keys[0] is not None:
            keys[0] = jax.random.split(keys[0], len(batches))
        return jax.block_until_ready((jnp.asarray(batches), jnp.asarray(rest), keys[0], keys[1]))

    def run(self, prepared):
        batches, rest, keys, rest_key = prepared
        params = self.params
        if batches.shape[0]:
            params = self.epoch(params, self.X, self.Y, batches, keys)
        if rest.shape[0]:
            params = self.step(params, self.X, self.Y, rest, rest_key)
        self.params = jax.block_until_ready(params)

    def train_epoch(self, order):
        self.run(self.prepare(order))

    def parameters(self):
        """(weights, biases) as NumPy arrays."""
        return [np.asarray(w) for w, _ in self.params], [np.asarray(b) for _, b in self.params]
