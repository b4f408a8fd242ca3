"""nnfast.io: save / load round trips, atomic writes, damaged files, and the book's network2 JSON."""

import io
import json
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

import nnfast
from nnfast import io as nnio
from nnfast.activations import elu, leaky_relu, maxout
from _helpers import make_classification, metadata_of, write_archive

BACKENDS = ["cython", "numpy"]
DTYPES = ["float64", "float32"]

# (sizes, activation per layer, cost, dropout): every activation kind, parametric ones included
ARCHITECTURES = {
    "sigmoid": ([4, 5, 3], ["sigmoid", "sigmoid"], "cross_entropy", 0.0),
    "leaky_elu_softmax": ([4, 6, 5, 3], [leaky_relu(0.2), elu(0.5), "softmax"], "log_likelihood",
                          [0.25, 0.0]),
    "maxout": ([4, 5, 3], [maxout(3), "identity"], "hinge", 0.3),
    "relu_selu_softplus_tanh": ([4, 5, 5, 4, 3], ["relu", "selu", "softplus", "tanh"], "quadratic",
                                [0.1, 0.2, 0.0]),
    "step": ([4, 5, 3], ["step", "sigmoid"], "quadratic", 0.0),  # not trainable: predicts only
}


def make_net(kind, dtype="float64", backend="cython", seed=3, **kwargs):
    sizes, activation, cost, dropout = ARCHITECTURES[kind]
    return nnfast.Network(sizes, activation=activation, cost=cost, dtype=dtype, backend=backend,
                          seed=seed, dropout=dropout, **kwargs)


def data_for(net, n=24, seed=1):
    return make_classification(n, net.sizes[0], net.sizes[-1], seed=seed)


def assert_same_network(a, b, backend=None):
    assert a.sizes == b.sizes
    assert [(x.name, x.param, x.pieces, x.code) for x in a.activations] == \
           [(x.name, x.param, x.pieces, x.code) for x in b.activations]
    assert a.cost_function is b.cost_function
    assert a.dtype == b.dtype and b.params.dtype == a.dtype
    assert a.dropout == b.dropout
    assert b.backend == (a.backend if backend is None else backend)
    assert a.n_threads == b.n_threads
    assert a.lmbda == b.lmbda and a.regularization == b.regularization
    assert a.params.tobytes() == b.params.tobytes()  # bit for bit
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa, wb)


@pytest.fixture
def saved(tmp_path):
    """A trained network and the file it was saved to."""
    net = make_net("leaky_elu_softmax")
    X, y = data_for(net)
    net.fit(X, y, epochs=2, batch_size=5, eta=0.1, lmbda=0.5, monitor=False)
    path = tmp_path / "model.npz"
    nnio.save(net, path)
    return net, path


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", sorted(ARCHITECTURES))
def test_round_trip_every_activation_dtype_backend(tmp_path, kind, dtype, backend):
    net = make_net(kind, dtype=dtype, backend=backend, n_threads=2)
    X, y = data_for(net)
    if kind != "step":
        net.fit(X, y, epochs=2, batch_size=7, eta=0.05, lmbda=0.3, regularization="l1",
                monitor=False)
    path = tmp_path / f"{kind}.npz"
    nnio.save(net, path)
    loaded = nnio.load(path)
    assert_same_network(net, loaded)
    assert loaded.rng.bit_generator.state == net.rng.bit_generator.state
    out = net.feedforward(X)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(loaded.feedforward(X), out)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_parametric_activations_keep_their_parameters(tmp_path):
    net = make_net("leaky_elu_softmax")
    path = tmp_path / "m.npz"
    nnio.save(net, path)
    loaded = nnio.load(path)
    assert [(a.name, a.param) for a in loaded.activations] == \
           [("leaky_relu", 0.2), ("elu", 0.5), ("softmax", 0.0)]
    net = make_net("maxout")
    nnio.save(net, path)
    loaded = nnio.load(path)
    assert loaded.activations[0].pieces == 3
    assert loaded.weights[0].shape == (5 * 3, 4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_continues_identically_after_load(tmp_path, backend):
    """The generator state is restored: the next epochs' shuffles and dropout masks are the same."""
    net = make_net("leaky_elu_softmax", backend=backend)
    X, y = data_for(net, n=40)
    net.fit(X, y, epochs=2, batch_size=6, eta=0.1, lmbda=0.2, monitor=False)
    path = tmp_path / "checkpoint.npz"
    nnio.save(net, path)
    loaded = nnio.load(path)

    net.fit(X, y, epochs=3, batch_size=6, eta=0.1, lmbda=0.2, monitor=False)
    loaded.fit(X, y, epochs=3, batch_size=6, eta=0.1, lmbda=0.2, monitor=False)
    assert loaded.params.tobytes() == net.params.tobytes()
    assert loaded.rng.bit_generator.state == net.rng.bit_generator.state


def test_other_bit_generators_round_trip(tmp_path):
    for name in ("MT19937", "Philox", "SFC64", "PCG64DXSM"):
        rng = np.random.Generator(getattr(np.random, name)(11))
        net = nnfast.Network([3, 4, 2], seed=rng)
        net.rng.random(5)  # leave it mid-stream
        path = tmp_path / f"{name}.npz"
        nnio.save(net, path)
        loaded = nnio.load(path)
        assert type(loaded.rng.bit_generator).__name__ == name
        np.testing.assert_array_equal(loaded.rng.random(10), net.rng.random(10))


def test_backend_and_threads_can_be_overridden(saved):
    net, path = saved
    loaded = nnio.load(path, backend="numpy", n_threads=1)
    assert loaded.backend == "numpy" and loaded.n_threads == 1
    X, _ = data_for(net)
    np.testing.assert_allclose(loaded.feedforward(X), net.feedforward(X), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="backend"):
        nnio.load(path, backend="fortran")
    with pytest.raises(ValueError, match="n_threads"):
        nnio.load(path, n_threads=0)


def test_without_state_still_predicts_the_same(tmp_path, saved):
    net, _ = saved
    path = tmp_path / "weights-only.npz"
    nnio.save(net, path, include_state=False)
    meta = metadata_of(path)
    assert meta["rng"] is None and meta["include_state"] is False
    loaded = nnio.load(path)
    assert_same_network(net, loaded)
    X, _ = data_for(net)
    np.testing.assert_array_equal(loaded.feedforward(X), net.feedforward(X))
    # no saved generator: `seed` decides it
    a, b = nnio.load(path, seed=5), nnio.load(path, seed=5)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert a.rng.bit_generator.state == np.random.default_rng(5).bit_generator.state


def test_metadata_layout(saved):
    net, path = saved
    meta = metadata_of(path)
    assert meta["format"] == "nnfast-model" and meta["format_version"] == 2
    assert meta["nnfast_version"] == nnfast.__version__
    assert meta["model"] == "Network" and meta["input_shape"] == [4]
    norm = {"batch_norm": False, "batch_norm_eps": 1e-5, "batch_norm_momentum": 0.9}
    assert meta["layers"] == [
        {"kind": "Dense", "units": 6, "activation": {"name": "leaky_relu", "param": 0.2}, **norm},
        {"kind": "Dropout", "p": 0.25},
        {"kind": "Dense", "units": 5, "activation": {"name": "elu", "param": 0.5}, **norm},
        {"kind": "Dense", "units": 3, "activation": {"name": "softmax", "param": 0.0}, **norm}]
    assert meta["cost"] == "log_likelihood" and meta["dtype"] == "float64"
    assert "sizes" not in meta and "dropout" not in meta
    assert meta["backend"] == "cython" and meta["n_threads"] is None
    assert meta["lmbda"] == 0.5 and meta["regularization"] == "l2"
    assert meta["rng"] == net.rng.bit_generator.state
    assert meta["arrays"] == {"params": {"shape": [len(net.params)], "dtype": "float64"}}


def test_file_is_a_plain_npz_without_pickle(saved):
    _, path = saved
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["metadata.npy", "params.npy"]
    with np.load(path, allow_pickle=False) as archive:  # would raise on any pickled entry
        assert sorted(archive.files) == ["metadata", "params"]
        assert archive["params"].dtype == np.float64 and archive["metadata"].dtype == np.uint8
        assert not archive["params"].dtype.hasobject


def test_exact_path_is_written_and_pathlike_accepted(tmp_path):
    net = nnfast.Network([3, 4, 2], seed=0)
    nnio.save(net, tmp_path / "model.bin")  # pathlib
    nnio.save(net, str(tmp_path / "other"))  # str, no suffix at all
    assert sorted(os.listdir(tmp_path)) == ["model.bin", "other"]
    for name in ("model.bin", "other"):
        assert nnio.load(str(tmp_path / name)).params.tobytes() == net.params.tobytes()


def test_save_replaces_and_keeps_permissions(tmp_path):
    path = tmp_path / "m.npz"
    nnio.save(nnfast.Network([3, 4, 2], seed=0), path)
    os.chmod(path, 0o640)
    second = nnfast.Network([3, 5, 2], seed=1)
    nnio.save(second, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert nnio.load(path).sizes == [3, 5, 2]
    assert os.listdir(tmp_path) == ["m.npz"]


# ---------------------------------------------------------------- atomic write

def _failing_savez(after_bytes):
    def savez(file, *args, **kwargs):
        file.write(b"PK\x03\x04" + b"\0" * after_bytes)  # a partial archive
        file.flush()
        raise OSError(28, "No space left on device (simulated)")
    return savez


def test_failed_write_leaves_old_file_untouched(tmp_path, monkeypatch, saved):
    _, old_path = saved
    path = tmp_path / "model.npz"
    assert path == old_path
    before = path.read_bytes()
    monkeypatch.setattr(np, "savez", _failing_savez(1000))
    with pytest.raises(OSError, match="simulated"):
        nnio.save(nnfast.Network([3, 4, 2], seed=0), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    monkeypatch.undo()
    assert nnio.load(path).sizes == [4, 6, 5, 3]


def test_failed_write_of_a_new_file_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez", _failing_savez(10))
    with pytest.raises(OSError):
        nnio.save(nnfast.Network([3, 4, 2], seed=0), tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    def interrupted(file, *args, **kwargs):
        file.write(b"PK")
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        nnio.save(nnfast.Network([3, 4, 2], seed=0), tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


def test_save_refusals(tmp_path):
    net = nnfast.Network([3, 4, 2], seed=0)
    with pytest.raises(TypeError, match="Network"):
        nnio.save("not a network", tmp_path / "x.npz")
    with pytest.raises(TypeError, match="include_state"):
        nnio.save(net, tmp_path / "x.npz", include_state="yes")
    net.params[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        nnio.save(net, tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError):
        nnio.save(nnfast.Network([3, 4, 2], seed=0), tmp_path / "missing-dir" / "x.npz")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- extra state arrays

@pytest.fixture
def stateful_network(monkeypatch):
    """Give Network the state hooks the optimizer / batch-norm work will add."""
    def state_arrays(self):
        return getattr(self, "_test_state", {})

    def load_state_arrays(self, arrays):
        for name, array in arrays.items():
            if name == "velocity" and array.shape != self.params.shape:
                raise ValueError(f"velocity must have shape {self.params.shape}")
        self._test_state = dict(arrays)

    monkeypatch.setattr(nnfast.Network, "state_arrays", state_arrays, raising=False)
    monkeypatch.setattr(nnfast.Network, "load_state_arrays", load_state_arrays, raising=False)
    net = nnfast.Network([3, 4, 2], seed=0)
    net._test_state = {"velocity": np.linspace(-1, 1, len(net.params)),
                       "bn/0/mean": np.arange(8, dtype=np.float32).reshape(2, 4),
                       "step": np.array(17, dtype=np.int64)}
    return net


def test_state_arrays_round_trip(tmp_path, stateful_network):
    net = stateful_network
    path = tmp_path / "m.npz"
    nnio.save(net, path)
    meta = metadata_of(path)
    assert meta["arrays"]["state/bn/0/mean"] == {"shape": [2, 4], "dtype": "float32"}
    assert meta["arrays"]["state/step"] == {"shape": [], "dtype": "int64"}
    loaded = nnio.load(path)
    assert sorted(loaded._test_state) == ["bn/0/mean", "step", "velocity"]
    for name, array in net._test_state.items():
        got = loaded._test_state[name]
        assert got.dtype == array.dtype and got.shape == array.shape
        np.testing.assert_array_equal(got, array)

    nnio.save(net, path, include_state=False)
    assert sorted(metadata_of(path)["arrays"]) == ["params"]
    assert not hasattr(nnio.load(path), "_test_state")


def test_state_arrays_that_do_not_fit_are_refused(tmp_path, stateful_network):
    net = stateful_network
    net._test_state = {"velocity": np.zeros(3)}
    path = tmp_path / "m.npz"
    nnio.save(net, path)
    with pytest.raises(ValueError, match=r"m\.npz: .*velocity must have shape"):
        nnio.load(path)
    net._test_state = {"bad": np.array([np.inf])}
    with pytest.raises(ValueError, match="NaN or infinite"):
        nnio.save(net, path)
    net._test_state = {"names": np.array(["a", "b"])}
    with pytest.raises(TypeError, match="numbers"):
        nnio.save(net, path)


def test_state_without_a_loader_is_ignored_with_a_warning(tmp_path, stateful_network,
                                                          monkeypatch):
    path = tmp_path / "m.npz"
    nnio.save(stateful_network, path)
    monkeypatch.delattr(nnfast.Network, "load_state_arrays")
    monkeypatch.delattr(nnfast.Sequential, "load_state_arrays")  # what Network inherits
    with pytest.warns(UserWarning, match="cannot restore"):
        loaded = nnio.load(path)
    assert loaded.params.tobytes() == stateful_network.params.tobytes()


# ---------------------------------------------------------------- damaged and foreign files

def assert_refused(path, match=None):
    with pytest.raises(ValueError) as info:
        nnio.load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    if match is not None:
        assert match in message, message
    return message


def test_truncated_files_are_refused(tmp_path, saved):
    _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for length in sorted({0, 1, 3, 4, 10, 30, 64, 100, 200, len(data) // 3, len(data) // 2,
                          len(data) - 200, len(data) - 100, len(data) - 22, len(data) - 1}):
        cut.write_bytes(data[:length])
        assert_refused(cut)


def test_flipped_bytes_never_crash(tmp_path, saved):
    """Fuzz: every damaged copy is refused with a ValueError or, when the damage is harmless (a
    timestamp, say), loads the very same network."""
    net, path = saved
    data = path.read_bytes()
    rng = np.random.default_rng(2024)
    bad = tmp_path / "mutated.npz"
    outcomes = {"refused": 0, "loaded": 0}
    for _ in range(60):
        mutated = bytearray(data)
        for position in rng.integers(4, len(data) - 4, size=rng.integers(1, 5)):
            mutated[position] ^= 1 << int(rng.integers(0, 8))
        bad.write_bytes(bytes(mutated))
        try:
            loaded = nnio.load(bad)
        except ValueError as exc:
            assert str(exc).startswith(f"{bad}: ")
            outcomes["refused"] += 1
        else:
            assert_same_network(net, loaded)
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 0


def test_random_byte_overwrites_never_crash(tmp_path, saved):
    net, path = saved
    data = path.read_bytes()
    rng = np.random.default_rng(7)
    bad = tmp_path / "overwritten.npz"
    for _ in range(40):
        mutated = bytearray(data)
        start = int(rng.integers(0, len(data) - 16))
        mutated[start:start + 16] = rng.integers(0, 256, size=16, dtype=np.uint8).tobytes()
        bad.write_bytes(bytes(mutated))
        try:
            loaded = nnio.load(bad)
        except ValueError:
            continue
        assert_same_network(net, loaded)


def test_foreign_files_are_refused(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    assert_refused(empty, "empty")
    text = tmp_path / "notes.txt"
    text.write_text("these are not the weights you are looking for\n")
    assert_refused(text, "not an nnfast model file")
    noise = tmp_path / "noise.bin"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert_refused(noise, "not an nnfast model file")
    npy = tmp_path / "array.npy"
    np.save(npy, np.arange(5.0))
    assert_refused(npy, "not an nnfast model file")
    other_json = tmp_path / "config.json"
    other_json.write_text('{"learning_rate": 0.1}')
    assert_refused(other_json, "not an nnfast model file")
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"sizes": [2, 1], "weights": [[[0.1, ')
    assert_refused(bad_json, "invalid JSON")
    empty_zip = tmp_path / "empty.zip"
    zipfile.ZipFile(empty_zip, "w").close()
    assert_refused(empty_zip, "no 'metadata' entry")
    with pytest.raises(FileNotFoundError):
        nnio.load(tmp_path / "does-not-exist.npz")


def test_zip_without_metadata(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, params=np.zeros(10))
    assert_refused(path, "no 'metadata' entry")
    np.savez(path, metadata=np.frombuffer(b"{}", dtype=np.uint8))
    assert_refused(path, "no 'params' entry")


def test_pickled_entries_are_never_unpickled(tmp_path, saved):
    net, path = saved
    meta = metadata_of(path)
    crafted = tmp_path / "pickle.npz"
    document = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(crafted, "wb") as handle:
        np.savez(handle, metadata=document, params=np.array([object()] * 3))
    assert_refused(crafted)


V1_FILE = Path(__file__).parents[1] / "data" / "v1_leaky_elu_softmax.npz"


@pytest.fixture
def parts():
    """(metadata dict, params) of a valid version-1 file (the `saved` network, written by nnfast
    before format version 2), for crafting broken ones. tests/test_io_models.py crafts broken
    version-2 files."""
    with np.load(V1_FILE, allow_pickle=False) as archive:
        return metadata_of(V1_FILE), archive["params"].copy()


def test_metadata_that_does_not_match_the_arrays(tmp_path, parts):
    meta, params = parts
    path = tmp_path / "crafted.npz"

    wrong_shape = json.loads(json.dumps(meta))
    wrong_shape["arrays"]["params"]["shape"] = [len(params) + 1]
    write_archive(path, wrong_shape, {"params": params})
    assert_refused(path, "'params' has shape")

    wrong_dtype = json.loads(json.dumps(meta))
    wrong_dtype["arrays"]["params"]["dtype"] = "float32"
    write_archive(path, wrong_dtype, {"params": params})
    assert_refused(path, "dtype")

    # consistent with itself but not with the architecture
    short = json.loads(json.dumps(meta))
    short["arrays"]["params"]["shape"] = [len(params) - 3]
    write_archive(path, short, {"params": params[:-3]})
    assert_refused(path, "needs")

    other_sizes = json.loads(json.dumps(meta))
    other_sizes["sizes"] = [4, 6, 4, 3]  # fewer parameters than stored
    write_archive(path, other_sizes, {"params": params})
    assert_refused(path, "'params' has")

    undescribed = json.loads(json.dumps(meta))
    write_archive(path, undescribed, {"params": params, "extra": np.zeros(2)})
    assert_refused(path, "not described")

    missing = json.loads(json.dumps(meta))
    missing["arrays"]["state/velocity"] = {"shape": [3], "dtype": "float64"}
    write_archive(path, missing, {"params": params})
    assert_refused(path, "missing")

    float32_params = json.loads(json.dumps(meta))
    float32_params["arrays"]["params"]["dtype"] = "float32"
    write_archive(path, float32_params, {"params": params.astype(np.float32)})
    assert_refused(path, "1-D float64")


def test_invalid_values_in_metadata(tmp_path, parts):
    meta, params = parts
    path = tmp_path / "crafted.npz"
    cases = [
        ("format", "something-else", "not an nnfast model file"),
        ("format_version", 2, "newer nnfast"),
        ("format_version", "1", "unsupported format version"),
        ("sizes", [4, 6, "5", 3], "'sizes'"),
        ("sizes", [4, 6, 0, 3], "invalid model description"),
        ("activations", [{"name": "swish", "param": 0.0}] * 3, "unknown activation"),
        ("activations", [{"name": "leaky_relu", "param": -1.0}, {"name": "elu", "param": 0.5},
                         {"name": "softmax", "param": 0.0}], "slope"),
        ("activations", [{"name": "relu", "param": 2.0}, {"name": "elu", "param": 0.5},
                         {"name": "softmax", "param": 0.0}], "takes no parameter"),
        ("cost", "cross_entropy", "invalid model description"),  # needs a sigmoid output
        ("cost", "mse", "unknown cost"),
        ("dtype", "float16", "dtype"),
        ("dropout", [1.5, 0.0], "dropout"),
        ("dropout", [0.1], "dropout"),
        ("backend", "fortran", "backend"),
        ("n_threads", 0, "n_threads"),
        ("lmbda", -1.0, "lmbda"),
        ("regularization", "l3", "regularization"),
        ("rng", {"bit_generator": "os.system", "state": {}}, "'rng'"),
        ("rng", {"bit_generator": "PCG64", "state": {"state": -5, "inc": "x"}}, "generator state"),
        ("arrays", {"params": {"shape": [len(params)], "dtype": "float64"},
                    "../evil": {"shape": [1], "dtype": "float64"}}, "unknown archive entry"),
    ]
    for key, value, expected in cases:
        broken = json.loads(json.dumps(meta))
        broken[key] = value
        write_archive(path, broken, {"params": params})
        assert_refused(path, expected)
    lacking = json.loads(json.dumps(meta))
    del lacking["cost"]
    write_archive(path, lacking, {"params": params})
    assert_refused(path, "lacks ['cost']")
    for document in (b"not json", b"\xff\xfe\x00", b"[1, 2, 3]", b"[" * 100000):
        with open(path, "wb") as handle:
            np.savez(handle, metadata=np.frombuffer(document, dtype=np.uint8), params=params)
        assert_refused(path)


def test_non_finite_parameters_are_refused(tmp_path, parts):
    meta, params = parts
    path = tmp_path / "nan.npz"
    params[3] = np.inf
    write_archive(path, meta, {"params": params})
    assert_refused(path, "NaN or infinite")


def test_huge_claimed_shapes_are_refused_before_allocating(tmp_path, parts):
    meta, params = parts
    path = tmp_path / "huge.npz"
    # an architecture needing ~10^18 parameters, and a header claiming as many
    meta["sizes"] = [10**9, 10**9, 3]
    meta["activations"] = [{"name": "relu", "param": 0.0}, {"name": "softmax", "param": 0.0}]
    meta["dropout"] = [0.0]
    write_archive(path, meta, {"params": params})
    assert_refused(path)
    # a .npy header claiming 10^15 values (8 PB) in an otherwise well-formed archive (right CRCs):
    # refused from the header and the entry's size, before numpy allocates anything
    def npy_bytes(array):
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, allow_pickle=False)
        return buffer.getvalue()

    small = f"'shape': ({len(params)},), }}".encode()
    big = b"'shape': (1000000000000000,), }"
    raw = npy_bytes(params)
    padded = small + b" " * (len(big) - len(small))
    assert raw.count(padded) == 1
    document = np.frombuffer(json.dumps(parts[0]).encode(), dtype=np.uint8)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.npy", npy_bytes(document))
        archive.writestr("params.npy", raw.replace(padded, big))
    assert_refused(path, "claims shape (1000000000000000,)")


def test_big_endian_arrays_load_with_the_same_values(tmp_path, parts):
    meta, params = parts
    path = tmp_path / "big-endian.npz"
    write_archive(path, meta, {"params": params.astype(">f8")})
    loaded = nnio.load(path)
    assert loaded.params.tobytes() == params.tobytes()


# ---------------------------------------------------------------- the book's network2 JSON

def network2_save(path, sizes, weights, biases, cost="CrossEntropyCost"):
    """What network2.Network.save() writes: column-vector biases, the cost class's name."""
    data = {"sizes": sizes,
            "weights": [w.tolist() for w in weights],
            "biases": [b.tolist() for b in biases],
            "cost": str(cost)}
    with open(path, "w") as f:
        json.dump(data, f)


def book_parameters(sizes, seed=0):
    rng = np.random.default_rng(seed)
    biases = [rng.standard_normal((y, 1)) for y in sizes[1:]]
    weights = [rng.standard_normal((y, x)) / np.sqrt(x) for x, y in zip(sizes[:-1], sizes[1:])]
    return weights, biases


def book_feedforward(weights, biases, x):
    """network2.Network.feedforward on one column vector."""
    a = x.reshape(-1, 1)
    for w, b in zip(weights, biases):
        a = 1.0 / (1.0 + np.exp(-(np.dot(w, a) + b)))
    return a.ravel()


@pytest.mark.parametrize("backend", BACKENDS)
def test_book_json_loads_and_computes_network2_feedforward(tmp_path, backend):
    sizes = [5, 4, 3]
    weights, biases = book_parameters(sizes)
    path = tmp_path / "net.json"
    network2_save(path, sizes, weights, biases)
    X = np.random.default_rng(1).random((6, 5))
    expected = np.array([book_feedforward(weights, biases, x) for x in X])
    for net in (nnio.load_book_json(path, backend=backend), nnio.load(path, backend=backend)):
        assert net.sizes == sizes and net.backend == backend
        assert [a.name for a in net.activations] == ["sigmoid", "sigmoid"]
        assert net.cost_function.name == "cross_entropy"
        for got, want in zip(net.weights, weights):
            np.testing.assert_array_equal(got, want)  # JSON floats round-trip exactly
        for got, want in zip(net.biases, biases):
            np.testing.assert_array_equal(got, want.ravel())
        np.testing.assert_allclose(net.feedforward(X), expected, rtol=1e-12, atol=1e-15)


def test_book_json_quadratic_cost_and_float32(tmp_path):
    sizes = [3, 2]
    weights, biases = book_parameters(sizes, seed=4)
    path = tmp_path / "quad.json"
    network2_save(path, sizes, weights, biases, cost="QuadraticCost")
    net = nnio.load_book_json(path, dtype="float32")
    assert net.cost_function.name == "quadratic" and net.dtype == np.float32
    x = np.array([[0.2, -0.4, 0.9]])
    np.testing.assert_allclose(net.feedforward(x)[0], book_feedforward(weights, biases, x[0]),
                               rtol=1e-5)


def test_book_json_refusals(tmp_path):
    sizes = [3, 2, 2]
    weights, biases = book_parameters(sizes)
    path = tmp_path / "bad.json"

    def refused(match, **changes):
        data = {"sizes": sizes, "weights": [w.tolist() for w in weights],
                "biases": [b.tolist() for b in biases], "cost": "CrossEntropyCost"}
        data.update(changes)
        path.write_text(json.dumps(data))
        for reader in (nnio.load_book_json, nnio.load):
            with pytest.raises(ValueError, match=match) as info:
                reader(path)
            assert str(info.value).startswith(f"{path}: ")

    refused("unknown cost", cost="LogLikelihoodCost")
    refused(r"weights\[0\] has shape", weights=[weights[0].T.tolist(), weights[1].tolist()])
    refused(r"biases\[1\] has shape", biases=[biases[0].tolist(), [[0.0]] * 3])
    refused("list of 2 arrays", weights=[weights[0].tolist()])
    refused("rectangular", weights=[[[1.0, 2.0, 3.0], [1.0]], weights[1].tolist()])
    refused("must hold numbers", weights=[[["a", "b", "c"]] * 2, weights[1].tolist()])
    refused("NaN", weights=[[[float("nan")] * 3] * 2, weights[1].tolist()])
    refused("every layer size", sizes=[3, 0, 2])
    path.write_text('{"sizes": [3, 2], "weights": []}')
    with pytest.raises(ValueError, match="missing keys"):
        nnio.load_book_json(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a JSON object"):
        nnio.load_book_json(path)
    path.write_text("{ not json")
    with pytest.raises(ValueError, match="invalid JSON"):
        nnio.load_book_json(path)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("optimizer", ["adam", "nesterov", "sgd"])
def test_batch_norm_and_optimizer_state_round_trip(tmp_path, backend, optimizer):
    """Batch norm's running statistics and the optimizer's state survive save/load: training
    continues bit for bit as if nothing had happened."""
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 5)), rng.integers(0, 3, 60)
    net = nnfast.Network([5, 6, 4, 3], activation="relu", output_activation="softmax",
                         cost="log_likelihood", batch_norm=[True, False], dropout=0.2,
                         backend=backend, seed=1)
    net.fit(X, y, epochs=2, batch_size=8, eta=0.01, optimizer=optimizer)
    path = tmp_path / "net.npz"
    net.save(path)
    loaded = nnfast.load(path)
    assert loaded.batch_norm == net.batch_norm and loaded.optimizer == net.optimizer
    assert loaded.optimizer_steps == net.optimizer_steps
    np.testing.assert_array_equal(loaded.bn_running, net.bn_running)
    np.testing.assert_array_equal(loaded.feedforward(X), net.feedforward(X))
    net.fit(X, y, epochs=2, batch_size=8, eta=0.01, optimizer=optimizer)
    loaded.fit(X, y, epochs=2, batch_size=8, eta=0.01, optimizer=optimizer)
    np.testing.assert_array_equal(loaded.params, net.params)
    np.testing.assert_array_equal(loaded.bn_running, net.bn_running)
    light = tmp_path / "light.npz"
    net.save(light, include_state=False)  # running statistics are kept: inference needs them
    np.testing.assert_array_equal(nnfast.load(light).feedforward(X), net.feedforward(X))
    assert nnfast.load(light).optimizer.name == "sgd"
