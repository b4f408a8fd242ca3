"""nnfast.io format version 2: any model (conv nets included) saves and loads as its layer list,
continues training bit for bit, refuses damaged layer lists; version-1 files still load."""

import json
from pathlib import Path

import numpy as np
import pytest

import nnfast
from nnfast import _format, io as nnio
from nnfast.activations import elu, leaky_relu
from _helpers import metadata_of, write_archive
from nnfast.layers import AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D

DATA = Path(__file__).parents[1] / "data"
BACKENDS = ["cython", "numpy"]


def records(model):
    return [_format._layer_record(layer, l) for l, layer in enumerate(model.layers)]


def blobs(n, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    return rng.random((n, n_in)), rng.integers(0, n_out, n)


def conv_net(backend="cython", dtype="float64", seed=2):
    layers = [Conv2D(3, 3, activation="tanh"), MaxPool2D(2), Conv2D(2, 2, padding="same"),
              AvgPool2D(1), Flatten(), Dropout(0.3), Dense(5, leaky_relu(0.1)),
              Dense(3, "softmax")]
    return nnfast.Sequential(layers, (2, 8, 7), backend=backend, dtype=dtype, seed=seed)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_conv_net_saved_mid_training_continues_bit_for_bit(tmp_path, backend, dtype):
    X, y = blobs(30, 2 * 8 * 7, 3, 0)
    net = conv_net(backend, dtype)
    net.fit(X, y, epochs=2, batch_size=7, eta=0.05, lmbda=0.2)
    path = tmp_path / "conv.npz"
    net.save(path)
    loaded = nnio.load(path)
    assert type(loaded) is nnfast.Sequential
    assert records(loaded) == records(net)
    assert loaded.input_shape == net.input_shape and loaded.dtype == net.dtype
    assert loaded.params.tobytes() == net.params.tobytes()
    assert loaded.lmbda == net.lmbda and loaded.backend == backend
    np.testing.assert_array_equal(loaded.feedforward(X), net.feedforward(X))
    # the generator and every other state: the next epochs are the same bits
    net.fit(X, y, epochs=2, batch_size=7, eta=0.05, lmbda=0.2)
    loaded.fit(X, y, epochs=2, batch_size=7, eta=0.05, lmbda=0.2)
    assert loaded.params.tobytes() == net.params.tobytes()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_conv_net_with_adam_and_batch_norm_continues_bit_for_bit(tmp_path, backend):
    """Saved mid-training: the parameters, Adam's moments and step count, the running statistics
    and the generator come back, so the next epochs are the same bits."""
    X, y = blobs(40, 2 * 8 * 7, 3, 3)
    layers = [Conv2D(3, 3, batch_norm=True), MaxPool2D(2, stride=1), BatchNorm("relu"),
              Flatten(), Dropout(0.2), Dense(6, "tanh", batch_norm=True), Dense(3, "softmax")]
    net = nnfast.Sequential(layers, (2, 8, 7), backend=backend, seed=4, n_threads=2)
    net.fit(X, y, epochs=2, batch_size=8, eta=0.01, optimizer="adam", lmbda=0.1)
    path = tmp_path / "bn-adam.npz"
    net.save(path)
    loaded = nnio.load(path)
    assert loaded.optimizer == net.optimizer and loaded.optimizer_steps == 10
    assert loaded.running.tobytes() == net.running.tobytes()
    for model in (net, loaded):
        model.fit(X, y, epochs=2, batch_size=8, eta=0.01, optimizer="adam", lmbda=0.1)
    assert loaded.params.tobytes() == net.params.tobytes()
    assert loaded.running.tobytes() == net.running.tobytes()
    for a, b in zip(loaded.optimizer_state, net.optimizer_state):
        assert a.tobytes() == b.tobytes()


def test_a_network_comes_back_as_a_network_with_its_layers(tmp_path):
    net = nnfast.Network([4, 6, 5, 3], activation=[leaky_relu(0.2), elu(0.5), "softmax"],
                         cost="log_likelihood", dropout=[0.25, 0.0], batch_norm=[True, False],
                         batch_norm_eps=1e-4, seed=1)
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = nnio.load(path)
    assert type(loaded) is nnfast.Network
    assert loaded.sizes == net.sizes and loaded.dropout == net.dropout
    assert loaded.batch_norm == net.batch_norm and loaded.batch_norm_eps == 1e-4
    assert loaded.params.tobytes() == net.params.tobytes()


def test_version_1_file_loads_as_the_network_it_was():
    """Written by nnfast before format 2 (tests/data/make_v1_files.py): the `saved` network of
    tests/test_io.py, which today's code trains to the same parameters."""
    loaded = nnio.load(DATA / "v1_leaky_elu_softmax.npz")
    assert type(loaded) is nnfast.Network
    net = nnfast.Network([4, 6, 5, 3], activation=[leaky_relu(0.2), elu(0.5), "softmax"],
                         cost="log_likelihood", seed=3, dropout=[0.25, 0.0])
    X, y = blobs(24, 4, 3, 1)
    net.fit(X, y, epochs=2, batch_size=5, eta=0.1, lmbda=0.5, monitor=False)
    assert loaded.sizes == net.sizes and loaded.dropout == net.dropout
    assert loaded.lmbda == 0.5
    np.testing.assert_allclose(loaded.params, net.params, rtol=1e-12, atol=1e-15)
    assert loaded.rng.bit_generator.state == net.rng.bit_generator.state


@pytest.mark.parametrize("backend", BACKENDS)
def test_version_1_file_with_batch_norm_and_adam_continues(backend):
    """Saved mid-training with Adam state and running statistics by the old code, which then
    trained one more epoch: today's code continues to the same numbers."""
    loaded = nnio.load(DATA / "v1_batchnorm_adam.npz", backend=backend)
    assert loaded.optimizer.name == "adam" and loaded.optimizer_steps == 10
    X, y = blobs(40, 4, 3, 2)
    loaded.fit(X, y, epochs=1, batch_size=8, eta=0.01, optimizer="adam", monitor=False)
    expected = np.load(DATA / "v1_batchnorm_adam_next_epoch.npy")
    np.testing.assert_allclose(np.concatenate([loaded.params, loaded.bn_running]), expected,
                               rtol=1e-10, atol=1e-13)


@pytest.fixture
def conv_parts(tmp_path):
    net = conv_net()
    path = tmp_path / "conv.npz"
    net.save(path)
    return metadata_of(path), net.params.copy()


def assert_refused(path, match=None):
    with pytest.raises(ValueError, match=match) as info:
        nnio.load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("change, expected", [
    (lambda m: m["layers"].__setitem__(0, {"kind": "Conv3D"}), "unknown layer kind"),
    (lambda m: m["layers"][0].update(filters=0), "filters"),
    (lambda m: m["layers"][0].update(filters="3"), "filters"),
    (lambda m: m["layers"][0].update(padding="full"), "padding"),
    (lambda m: m["layers"][0].update(activation={"name": "swish", "param": 0.0}),
     "unknown activation"),
    (lambda m: m["layers"][0].update(activation="relu"), "activation"),
    (lambda m: m["layers"][0].update(extra=1), "takes no argument"),
    (lambda m: m["layers"][1].update(size=100), "larger than its input"),
    (lambda m: m["layers"][5].update(p=1.5), "dropout probability"),
    (lambda m: m["layers"].pop(4), "Flatten"),
    (lambda m: m["layers"].append({"kind": "Flatten"}), "last layer must be Dense"),
    (lambda m: m["layers"][6].update(units=6), "'params' has"),
    (lambda m: m["layers"][6].update(units=10**12), "'params' has"),
    (lambda m: m.update(layers=[]), "non-empty list"),
    (lambda m: m.update(input_shape=[2, 8]), "needs image input"),
    (lambda m: m.update(input_shape=[2, 8, "7"]), "'input_shape'"),
    (lambda m: m.update(model="Keras"), "'model'"),
    (lambda m: m.update(model="Network"), "Network"),
    (lambda m: m.update(format_version=3), "newer nnfast"),
    (lambda m: m.update(format_version=1), "unsupported format version"),
    (lambda m: m.pop("layers"), "lacks \\['layers'\\]"),
])
def test_damaged_layer_lists_are_refused(tmp_path, conv_parts, change, expected):
    meta, params = conv_parts
    broken = json.loads(json.dumps(meta))
    change(broken)
    path = tmp_path / "broken.npz"
    write_archive(path, broken, {"params": params})
    assert_refused(path, expected)


def test_save_refuses_what_is_not_a_model(tmp_path):
    with pytest.raises(TypeError, match="nnfast model"):
        nnio.save([1, 2], tmp_path / "x.npz")
