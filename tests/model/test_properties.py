"""Property-based tests (hypothesis): random shapes, dtypes, values, memory layouts, labels and
hyper-parameters thrown at every public entry point. Every outcome must be a result or a documented
exception (ValueError / TypeError; TrainingDiverged from fit; OSError from files), never a crash or
another exception, and a refused call must leave the network exactly as it was.

Reproducible: derandomized (the examples depend only on the code), no example database. Each test
runs MAX_EXAMPLES examples; NNFAST_HYPOTHESIS_EXAMPLES overrides the count (e.g. 5000 for a long
local run)."""

import copy
import math
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnfast
from nnfast import TrainingDiverged

MAX_EXAMPLES = int(os.environ.get("NNFAST_HYPOTHESIS_EXAMPLES", "250"))
SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
DOCUMENTED = (ValueError, TypeError)

DTYPES = st.sampled_from([np.int8, np.int64, np.uint8, np.float16, np.float32, np.float64, np.bool_,
                          object, np.complex128, "U4"])
SPECIAL = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e-300, 1e300, -1e300, 1e38, 7e4,
                           np.nan, np.inf, -np.inf, 2.0**62])
LAYOUTS = st.sampled_from(["C", "C", "F", "strided", "readonly", "list", "reversed"])


def mostly(valid, weird, odds=7):
    """`valid` `odds` times out of odds + 1, else one of `weird`: each example has a few bad
    arguments among good ones, so the checks of every argument get exercised, and some calls get
    through to the kernels."""
    return st.sampled_from([True] * odds + [False]).flatmap(
        lambda good: st.just(valid) if good else st.sampled_from(weird))


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # overflow / invalid-cast warnings on the way are expected
        return function(*args, **kwargs)


@st.composite
def arrays(draw, good_shape, integers=None):
    """An array-like: usually of the right shape, sometimes not; any dtype; a few special values;
    C, Fortran, strided, read-only, reversed or a nested list."""
    shape_kind = draw(st.sampled_from(["good"] * 4 + ["random", "empty"]))
    if shape_kind == "good":
        shape = tuple(good_shape)
    elif shape_kind == "empty":
        shape = (0,) + tuple(good_shape[1:])
    else:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if integers is not None:
        base = np.asarray(rng.integers(integers[0], integers[1], size=shape), dtype=np.float64)
    else:
        base = np.asarray(rng.random(shape) * draw(st.sampled_from([1.0, 4.0, 1e3])))
    flat = base.reshape(-1)
    if flat.size:
        for _ in range(draw(st.integers(0, 2))):
            flat[draw(st.integers(0, flat.size - 1))] = draw(SPECIAL)
    dtype = draw(st.sampled_from([np.float64, np.int64])) if integers is not None and draw(
        st.booleans()) else draw(DTYPES)
    try:
        array = quietly(base.astype, dtype)
    except (ValueError, OverflowError):
        array = base
    layout = draw(LAYOUTS)
    if layout == "F":
        array = np.asfortranarray(array)
    elif layout == "strided" and array.ndim:
        array = np.repeat(array, 2, axis=-1)[..., ::2]
    elif layout == "readonly" and array.ndim:
        array = array.copy()
        array.flags.writeable = False
    elif layout == "reversed" and array.ndim:
        array = array[::-1]
    elif layout == "list":
        array = array.tolist()
    return array


ARCHITECTURES = [
    dict(activation="sigmoid", cost="cross_entropy"),
    dict(activation="relu", output_activation="softmax", cost="log_likelihood"),
    dict(activation="tanh", output_activation="identity", cost="quadratic"),
    dict(activation="leaky_relu", output_activation="identity", cost="hinge"),
]


@st.composite
def conv_models(draw):
    """A small convolutional model: Conv2D (any stride, padding, batch norm), pooling (max or
    average, overlapping or not), maybe a BatchNorm layer, Flatten, Dropout, Dense layers."""
    channels, height, width = draw(st.integers(1, 2)), draw(st.integers(3, 7)), draw(st.integers(3, 7))
    kernel = draw(st.integers(1, min(3, height, width)))
    layers = [nnfast.Conv2D(draw(st.integers(1, 3)), kernel, stride=draw(st.integers(1, 2)),
                            padding=draw(st.sampled_from(["valid", "same"])),
                            activation=draw(st.sampled_from(["relu", "tanh", "sigmoid", "elu"])),
                            batch_norm=draw(st.booleans()))]
    if draw(st.booleans()):
        layers.append(draw(st.sampled_from([nnfast.MaxPool2D, nnfast.AvgPool2D]))(
            1, stride=draw(st.sampled_from([None, 1]))))
    if draw(st.booleans()):
        layers.append(nnfast.BatchNorm(activation=draw(st.sampled_from(["identity", "relu"]))))
    layers += [nnfast.Flatten(), nnfast.Dropout(draw(st.sampled_from([0.0, 0.3]))),
               nnfast.Dense(draw(st.integers(1, 5)), "tanh", batch_norm=draw(st.booleans()))]
    spec = dict(draw(st.sampled_from(ARCHITECTURES)))
    n_out = draw(st.integers(2, 4))
    output = spec.get("output_activation", spec["activation"])
    layers.append(nnfast.Dense(n_out, output))
    net = nnfast.Sequential(layers, (channels, height, width), cost=spec["cost"],
                            dtype=draw(st.sampled_from(["float32", "float64"])),
                            backend=draw(st.sampled_from(["cython", "numpy"])),
                            seed=draw(st.integers(0, 99)), n_threads=draw(st.sampled_from([1, 2])))
    if draw(st.booleans()):  # a trained model, with optimizer state
        X = np.random.default_rng(0).random((8, net.n_inputs))
        quietly(net.fit, X, np.arange(8) % n_out, epochs=1, batch_size=3,
                optimizer=draw(st.sampled_from(["sgd", "adam", "momentum"])))
    return net


@st.composite
def networks(draw):
    """A Network or (one time in two) a convolutional Sequential: every property holds for both."""
    if draw(st.booleans()):
        return draw(conv_models())
    n_in, hidden, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
    spec = dict(draw(st.sampled_from(ARCHITECTURES)))
    if spec["cost"] in ("log_likelihood", "hinge") and n_out == 1:
        n_out = 2
    net = nnfast.Network([n_in, hidden, n_out], **spec, dtype=draw(st.sampled_from(["float32", "float64"])),
                         backend=draw(st.sampled_from(["cython", "numpy"])), seed=draw(st.integers(0, 99)),
                         n_threads=draw(st.sampled_from([1, 2])),
                         batch_norm=draw(st.booleans()), dropout=draw(st.sampled_from([0.0, 0.3])))
    if draw(st.booleans()):  # a trained network, with optimizer state
        X = np.random.default_rng(0).random((8, n_in))
        quietly(net.fit, X, np.arange(8) % max(n_out, 2), epochs=1, batch_size=3,
                optimizer=draw(st.sampled_from(["sgd", "adam", "momentum"])))
    return net


def snapshot(net):
    return dict(params=net.params.copy(), running=net.bn_running.copy(),
                state=[s.copy() for s in net.optimizer_state], steps=net.optimizer_steps,
                optimizer=net.optimizer, lmbda=net.lmbda, regularization=net.regularization,
                history=net.history, rng=copy.deepcopy(net.rng.bit_generator.state),
                n_threads=net.n_threads)


def assert_unchanged(net, before):
    after = snapshot(net)
    for key in ("params", "running"):
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
        assert after[key].dtype == before[key].dtype
    assert len(after["state"]) == len(before["state"])
    for a, b in zip(after["state"], before["state"]):
        np.testing.assert_array_equal(a, b)
    for key in ("steps", "optimizer", "lmbda", "regularization", "n_threads"):
        assert after[key] == before[key], key
    assert after["history"] is before["history"]
    assert after["rng"] == before["rng"]


def outcome(function, *args, allowed=DOCUMENTED, **kwargs):
    """('ok', result) or ('refused', exception) for a documented exception; anything else fails."""
    name = getattr(function, "__name__", "call")
    try:
        result = quietly(function, *args, **kwargs)
    except allowed as exc:
        assert str(exc), f"{type(exc).__name__} without a message"
        event(f"{name}: {type(exc).__name__}")  # shown by --hypothesis-show-statistics
        return "refused", exc
    event(f"{name}: ok")
    return "ok", result


def labels_for(net):
    n_out = net.n_outputs
    return st.one_of(arrays((6,), integers=(-1, max(n_out, 2) + 1)), arrays((6,), integers=(0, max(n_out, 2))),
                     arrays((6, n_out)))


# ---------------------------------------------------------------------------------------- tests

WEIRD_SIZES = st.one_of(st.integers(-3, 7), st.sampled_from([2**31, 2**40, 10**20, 2.0, 3.5, True,
                                                             None, "4", np.int64(3), np.float64(2)]))


@SETTINGS
@given(sizes=st.one_of(st.lists(st.integers(1, 6), min_size=2, max_size=4),
                       st.lists(st.integers(1, 6), min_size=2, max_size=4),
                       st.lists(WEIRD_SIZES, min_size=0, max_size=4), st.sampled_from([None, 5, "34", (3, 2)])),
       activation=mostly("sigmoid", ["relu", "softmax", "maxout", "bogus", None, 3, ["relu"],
                                     nnfast.activations.leaky_relu(0.1)], odds=3),
       cost=mostly("cross_entropy", ["quadratic", "log_likelihood", "hinge", "bogus", None], odds=3),
       dtype=mostly("float64", ["float32", "float16", "int32", None, np.float64, "x"]),
       backend=mostly("cython", ["numpy", "torch", None]),
       seed=mostly(0, [None, -1, 1.5, "s", 2**70, np.random.default_rng(1)]),
       n_threads=mostly(1, [None, 2, 0, -1, -3, 4096, 4097, 2.0, True, "2"]),
       dropout=mostly(0.0, [0.5, 1.0, 1.5, -0.1, math.nan, [0.2], "0.1", None, True]),
       batch_norm=mostly(False, [True, [True], "yes", None, 1]),
       eps=mostly(1e-5, [0.0, -1.0, math.inf, math.nan, "e"]),
       momentum=mostly(0.9, [0.0, 1.0, -0.5, math.nan, None]))
def test_network_constructor(sizes, activation, cost, dtype, backend, seed, n_threads, dropout,
                             batch_norm, eps, momentum):
    kind, result = outcome(nnfast.Network, sizes, activation=activation, cost=cost, dtype=dtype,
                           backend=backend, seed=seed, n_threads=n_threads, dropout=dropout,
                           batch_norm=batch_norm, batch_norm_eps=eps, batch_norm_momentum=momentum)
    if kind == "ok":
        assert np.all(np.isfinite(result.params)) and result.params.dtype == result.dtype


@SETTINGS
@given(data=st.data())
def test_inference_entry_points(data):
    """feedforward / predict / cost / accuracy / gradient / gradcheck: a result of the right shape,
    or a documented refusal; the network never changes (these only read it)."""
    net = data.draw(networks())
    n_in, n_out = net.n_inputs, net.n_outputs
    X = data.draw(arrays((6, n_in)))
    y = data.draw(labels_for(net))
    before = snapshot(net)
    call = data.draw(st.sampled_from(["feedforward", "predict", "cost", "accuracy", "gradient",
                                      "gradcheck"]))
    if call == "feedforward":
        kind, result = outcome(net.feedforward, X)
        if kind == "ok":
            assert result.shape == (np.shape(X)[0], n_out) and result.dtype == net.dtype
            assert np.all(np.isfinite(result)) or net.built[-1].activation.name == "identity"
    elif call == "predict":
        kind, result = outcome(net.predict, X)
        if kind == "ok":
            assert result.shape == (np.shape(X)[0],)
            assert np.all((0 <= result) & (result < max(n_out, 2)))
    elif call == "cost":
        lmbda = data.draw(st.sampled_from([None, 0.0, 0.5, -1.0, math.nan, math.inf, "1", True]))
        regularization = data.draw(st.sampled_from([None, "l2", "l1", "l0", 2]))
        kind, result = outcome(net.cost, X, y, lmbda=lmbda, regularization=regularization)
        if kind == "ok":
            assert isinstance(result, float) and not math.isnan(result)
    elif call == "accuracy":
        kind, result = outcome(net.accuracy, X, y)
        if kind == "ok":
            assert 0.0 <= result <= 1.0
    elif call == "gradient":
        kind, result = outcome(net.gradient, X, y)
        if kind == "ok":
            assert result.shape == net.params.shape
    else:
        eps = data.draw(st.sampled_from([1e-4, 1e-2, 0.0, -1e-4, math.nan, 1e300, "e"]))
        n_samples = data.draw(st.sampled_from([None, 1, 3, 0, -1, 10**9, 2.5]))
        seed = data.draw(st.sampled_from([0, 1, -1, None, "s"]))
        kind, result = outcome(nnfast.gradcheck, net, X, y, eps=eps, n_samples=n_samples, seed=seed)
        if kind == "ok":
            assert 0.0 <= result <= 1.0
    assert_unchanged(net, before)


@SETTINGS
@given(data=st.data())
def test_fit_with_absurd_arguments(data):
    """fit: a History with finite parameters; or a refusal that leaves the network exactly as it
    was; or TrainingDiverged, after which the parameters are finite (the last finished epoch)."""
    net = data.draw(networks())
    n_in = net.n_inputs
    good = data.draw(st.booleans())  # half the examples with clean data, to reach training
    X = np.random.default_rng(1).random((6, n_in)) if good else data.draw(arrays((6, n_in)))
    y = np.arange(6) % max(net.n_outputs, 2) if good else data.draw(labels_for(net))
    kwargs = dict(
        epochs=data.draw(mostly(2, [1, 3, 0, -1, 2.0, True, np.int32(2), None])),
        batch_size=data.draw(mostly(4, [1, 10, 0, -1, 10**30, 2.5, True, np.int64(3)])),
        eta=data.draw(mostly(0.5, [1e-3, 0.0, -1.0, math.nan, math.inf, 1e6, 1e300, 1e-300,
                                   "0.1", None, True, np.float32(0.1)])),
        lmbda=data.draw(mostly(0.0, [0.1, -1.0, math.nan, math.inf, 1e300])),
        shuffle=data.draw(mostly(True, [False, "yes", None, np.bool_(False)])),
        regularization=data.draw(mostly("l2", ["l1", "l3", None])),
        optimizer=data.draw(mostly("sgd", ["adam", "momentum", "nesterov", "adagrad", "rmsprop",
                                           "bogus", 3], odds=3)),
        schedule=data.draw(mostly(None, ["constant", "bogus", 5, lambda e, eta0, h: math.nan,
                                         lambda e, eta0, h: "0.1", lambda e, eta0, h: -eta0])),
        early_stopping=data.draw(mostly(None, [1, 0, -1, 2.5])),
        callbacks=data.draw(mostly(None, [[], 5, [5], [lambda n, h: None]])),
        monitor=data.draw(st.booleans()),
    )
    validation = data.draw(mostly("none", ["same", "same", "weird", "short", "string"], odds=3))
    if validation == "same":
        kwargs["validation_data"] = (X, y)
    elif validation == "weird":
        kwargs["validation_data"] = (data.draw(arrays((3, n_in))), data.draw(labels_for(net)))
    elif validation == "short":
        kwargs["validation_data"] = (X,)
    elif validation == "string":
        kwargs["validation_data"] = "data"
    before = snapshot(net)
    kind, result = outcome(net.fit, X, y, allowed=DOCUMENTED + (TrainingDiverged,), **kwargs)
    if kind == "ok":
        assert np.all(np.isfinite(net.params)) and np.all(np.isfinite(net.bn_running))
        assert result is net.history and len(result.epoch) >= 1
    elif isinstance(result, TrainingDiverged):
        assert np.all(np.isfinite(net.params)) and result.history is net.history
        assert "smaller learning rate" in str(result)
    else:
        assert_unchanged(net, before)


@SETTINGS
@given(data=st.data())
def test_parameter_assignment(data):
    net = data.draw(networks())
    before = snapshot(net)
    layer = data.draw(st.sampled_from([l for l, w in enumerate(net.weights) if w is not None]))
    shape = net.weights[layer].shape
    value = data.draw(arrays(shape))
    how = data.draw(st.sampled_from(["item", "all", "index"]))
    if how == "item":
        kind, _ = outcome(net.weights.__setitem__, layer, value)
    elif how == "index":
        kind, _ = outcome(net.biases.__setitem__, data.draw(st.sampled_from([1.5, "0", None])), value)
    else:
        values = [None if w is None else w.copy() for w in net.weights]
        values[layer] = value
        kind, _ = outcome(setattr, net, "weights", values)
    if kind == "ok":
        np.testing.assert_array_equal(net.weights[layer], np.asarray(value, dtype=net.dtype))
        assert np.all(np.isfinite(net.params))
    else:
        assert_unchanged(net, before)


@SETTINGS
@given(data=st.data())
def test_save_and_load(data, tmp_path_factory):
    """A valid network round-trips bit for bit; bad arguments and bad files are refused clearly."""
    net = data.draw(networks())
    folder = tmp_path_factory.mktemp("models")
    target = data.draw(st.sampled_from(["file", "bytes-path", "directory", "missing-folder", None, 5]))
    path = {"file": folder / "net.npz", "bytes-path": os.fsencode(folder / "net.npz"),
            "directory": folder, "missing-folder": folder / "no" / "net.npz"}.get(target, target)
    include_state = data.draw(st.sampled_from([True, False, "yes", None]))
    before = snapshot(net)
    kind, _ = outcome(net.save, path, include_state=include_state, allowed=DOCUMENTED + (OSError,))
    assert_unchanged(net, before)
    if kind == "refused":
        return
    backend = data.draw(st.sampled_from([None, "numpy", "cython", "bogus"]))
    kind, loaded = outcome(nnfast.load, path, backend=backend, allowed=DOCUMENTED + (OSError,))
    if backend == "bogus":
        assert kind == "refused"
        return
    assert kind == "ok"
    np.testing.assert_array_equal(loaded.params, net.params)
    np.testing.assert_array_equal(loaded.bn_running, net.bn_running)
    X = np.random.default_rng(2).random((5, net.n_inputs))
    if loaded.backend == net.backend:
        np.testing.assert_array_equal(loaded.feedforward(X), net.feedforward(X))
    else:
        np.testing.assert_allclose(loaded.feedforward(X), net.feedforward(X), rtol=1e-4, atol=1e-6)


@SETTINGS
@given(data=st.binary(min_size=0, max_size=300), prefix=st.sampled_from([b"", b"PK\x03\x04", b"{", b"\x93NUMPY"]))
def test_load_of_arbitrary_bytes(data, prefix, tmp_path_factory):
    path = tmp_path_factory.mktemp("junk") / "junk.npz"
    path.write_bytes(prefix + data)
    kind, result = outcome(nnfast.load, path)
    assert kind == "refused" and isinstance(result, ValueError)
