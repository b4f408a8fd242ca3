"""nnfast.Sequential: the compiled backend against the NumPy reference, gradient checks of every layer
on both backends, refused input, determinism across thread counts, and MNIST."""

import numpy as np
import pytest

import nnfast

from nnfast import AvgPool2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Network, Sequential

pytest.importorskip("nnfast._conv")


def _images(n, shape, n_classes, seed=0, dtype=np.float64):
    """Random images whose label depends on them (something to learn)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, *shape)).astype(dtype)
    projection = rng.standard_normal((int(np.prod(shape)), n_classes))
    y = np.argmax(X.reshape(n, -1) @ projection, axis=1)
    return X, y


def _pair(layers_fn, shape, **kw):
    return [Sequential(layers_fn(), shape, backend=backend, seed=7, **kw)
            for backend in ("numpy", "cython")]


def _chapter6_small():
    return [Conv2D(4, 3, activation="relu"), MaxPool2D(2), Conv2D(6, 3, padding="same",
            activation="tanh"), MaxPool2D(2), Flatten(), Dense(12, "relu"), Dropout(0.5),
            Dense(3, "softmax")]


def _mixed():
    return [Conv2D(3, (3, 2), stride=2, padding="same", activation="sigmoid"), AvgPool2D(2),
            Dropout(0.2), Flatten(), Dense(5, "leaky_relu"), Dense(3, "softmax")]


# ---------------------------------------------------------------- reference vs compiled

@pytest.mark.parametrize("layers_fn,shape", [(_chapter6_small, (2, 11, 10)), (_mixed, (3, 9, 7))])
def test_compiled_equals_reference_after_60_sgd_steps_float64(layers_fn, shape):
    X, y = _images(57, shape, 3, seed=1)
    ref, comp = _pair(layers_fn, shape)
    np.testing.assert_array_equal(ref.params, comp.params)
    for net in (ref, comp):  # 57 rows, batch 5: 12 steps per epoch (the last of 2 rows), 5 epochs
        net.fit(X, y, epochs=5, batch_size=5, eta=0.05, lmbda=2.0, monitor=True)
    scale = np.abs(ref.params).max()
    assert np.abs(ref.params - comp.params).max() <= 1e-10 * scale
    assert ref.history.train_cost == pytest.approx(comp.history.train_cost, rel=1e-10)
    np.testing.assert_allclose(comp.feedforward(X), ref.feedforward(X), rtol=1e-10, atol=1e-13)
    assert not np.array_equal(ref.params, Sequential(layers_fn(), shape, seed=7).params)  # it moved


def test_compiled_equals_reference_float32():
    shape = (2, 11, 10)
    X, y = _images(40, shape, 3, seed=2, dtype=np.float32)
    ref, comp = _pair(_chapter6_small, shape, dtype="float32")
    for net in (ref, comp):
        net.fit(X, y, epochs=2, batch_size=8, eta=0.05, lmbda=1.0)
    np.testing.assert_allclose(comp.params, ref.params, rtol=1e-4, atol=1e-4)


def test_images_and_flat_rows_are_the_same_input():
    shape = (2, 11, 10)
    X, y = _images(9, shape, 3)
    net = Sequential(_chapter6_small(), shape, seed=0)
    np.testing.assert_array_equal(net.feedforward(X), net.feedforward(X.reshape(9, -1)))
    assert net.predict(X).shape == (9,)
    assert 0 <= net.accuracy(X, y) <= 1


def test_dense_only_sequential_trains_like_network():
    """Sequential of Dense layers = Network with the same weights (no shuffle, so no randomness)."""
    rng = np.random.default_rng(3)
    X, y = rng.random((30, 6)), rng.integers(0, 4, 30)
    seq = Sequential([Dense(5, "sigmoid"), Dense(4, "sigmoid")], (6,), cost="cross_entropy", seed=1)
    net = Network([6, 5, 4], seed=1)
    net.weights = [w for w in seq.weights]
    net.biases = [b for b in seq.biases]
    seq.fit(X, y, epochs=3, batch_size=7, eta=0.5, lmbda=1.0, shuffle=False)
    net.fit(X, y, epochs=3, batch_size=7, eta=0.5, lmbda=1.0, shuffle=False, monitor=False)
    for a, b in zip(seq.weights, net.weights):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- gradient checks

GRADIENT_CASES = [
    # conv stride 1 valid, max-pool, channels > 1
    ((2, 7, 7), lambda: [Conv2D(3, 3, activation="tanh"), MaxPool2D(2), Flatten(),
                         Dense(3, "softmax")]),
    # stride 2, same padding, odd sizes, avg-pool, two convolutions
    ((3, 9, 7), lambda: [Conv2D(2, 3, stride=2, padding="same", activation="sigmoid"),
                         Conv2D(3, (2, 3), padding="same", activation="tanh"), AvgPool2D(2),
                         Flatten(), Dense(4, "tanh"), Dense(3, "softmax")]),
    # stride 2 valid, even kernel with same padding, max-pool of 3 with a cropped border
    ((1, 10, 11), lambda: [Conv2D(2, 4, padding="same", activation="softplus"),
                           Conv2D(3, 3, stride=2, activation="elu"), MaxPool2D(3), Flatten(),
                           Dense(2, "sigmoid")]),
]


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("case", range(len(GRADIENT_CASES)))
def test_gradient_matches_finite_differences(case, backend):
    shape, layers_fn = GRADIENT_CASES[case]
    n_out = layers_fn()[-1].units
    X, y = _images(4, shape, n_out, seed=case)
    cost = "cross_entropy" if n_out == 2 else "log_likelihood"
    net = Sequential(layers_fn(), shape, cost=cost, backend=backend, seed=case)
    assert nnfast.gradcheck(net, X, y, n_samples=250) < 1e-6


def test_both_backends_give_the_same_gradient():
    shape, layers_fn = GRADIENT_CASES[1]
    X, y = _images(6, shape, 3)
    ref, comp = _pair(layers_fn, shape)
    np.testing.assert_allclose(comp.gradient(X, y), ref.gradient(X, y), rtol=1e-10, atol=1e-13)


# ---------------------------------------------------------------- refused input

def test_layers_refuse_impossible_shapes():
    with pytest.raises(ValueError, match="larger than its input"):
        Sequential([Conv2D(2, 5), Flatten(), Dense(2, "softmax")], (1, 4, 4))
    with pytest.raises(ValueError, match="larger than its input"):
        Sequential([MaxPool2D(5), Flatten(), Dense(2, "softmax")], (1, 4, 4))
    with pytest.raises(ValueError, match="Flatten"):
        Sequential([Conv2D(2, 3), Dense(2, "softmax")], (1, 4, 4))
    with pytest.raises(ValueError, match="image input"):
        Sequential([Flatten(), Conv2D(2, 3), Dense(2, "softmax")], (1, 4, 4))
    with pytest.raises(ValueError, match="last layer must be Dense"):
        Sequential([Conv2D(2, 3)], (1, 4, 4))
    with pytest.raises(ValueError, match="output layer only"):
        Sequential([Flatten(), Dense(3, "softmax"), Dense(2, "softmax")], (1, 4, 4))
    with pytest.raises(ValueError, match="needs a 'softmax'"):
        Sequential([Flatten(), Dense(2, "sigmoid")], (1, 4, 4), cost="log_likelihood")
    with pytest.raises(ValueError, match="padding"):
        Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="elementwise"):
        Conv2D(2, 3, activation="softmax")
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(1.0)
    with pytest.raises(TypeError, match="integer"):
        Conv2D(2.5, 3)
    with pytest.raises(ValueError, match="input_shape"):
        Sequential([Dense(2, "softmax")], (1, 4))
    with pytest.raises(ValueError, match="backend"):
        Sequential([Flatten(), Dense(2, "softmax")], (1, 4, 4), backend="gpu")


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_bad_data_is_refused_and_leaves_the_parameters_unchanged(backend):
    shape = (2, 11, 10)
    X, y = _images(12, shape, 3)
    net = Sequential(_chapter6_small(), shape, backend=backend, seed=0)
    before = net.params.copy()
    rng_state = net.rng.bit_generator.state
    bad_calls = [
        (ValueError, "got shape", lambda: net.fit(X[:, :, :10], y)),
        (ValueError, "got shape", lambda: net.fit(X.reshape(12, -1)[:, 1:], y)),
        (ValueError, "outside", lambda: net.fit(X, y + 5)),
        (ValueError, "one entry per example", lambda: net.fit(X, y[:5])),
        (ValueError, "NaN", lambda: net.fit(np.where(X > 0.99, np.nan, X), y)),
        (TypeError, "real numbers", lambda: net.fit(X.astype(str), y)),
        (ValueError, "eta", lambda: net.fit(X, y, eta=-1)),
        (TypeError, "batch_size", lambda: net.fit(X, y, batch_size=2.5)),
        (ValueError, "validation X", lambda: net.fit(X, y, validation_data=(X[:, :1], y))),
        (ValueError, "got shape", lambda: net.feedforward(X[0])),
        (ValueError, "empty", lambda: net.predict(X[:0])),
    ]
    for error, message, call in bad_calls:
        with pytest.raises(error, match=message):
            call()
    np.testing.assert_array_equal(net.params, before)
    assert net.rng.bit_generator.state == rng_state
    assert net.history is None


def test_compiled_entry_points_check_the_layer_table():
    from nnfast import _conv

    net = Sequential(_chapter6_small(), (2, 11, 10), seed=0)
    spec = net._spec.copy()
    spec[1, 1] += 1  # the pool's input no longer matches the convolution's output
    with pytest.raises(ValueError, match="input size"):
        _conv.check_spec(spec, net._fparams, len(net.params))
    with pytest.raises(ValueError, match="do not fit"):
        _conv.check_spec(net._spec, net._fparams, len(net.params) - 1)


# ---------------------------------------------------------------- determinism

def test_same_seed_same_weights_for_one_and_two_threads():
    """Batches of 64 run as 10 slices (2 threads: in parallel); evaluation runs its chunks in
    parallel; the same bits either way."""
    shape = (8, 14, 14)
    X, y = _images(96, shape, 4, seed=5)

    def layers():
        return [Conv2D(16, 3, activation="relu"), MaxPool2D(2), Conv2D(8, 3, padding="same",
                activation="relu"), AvgPool2D(2), Flatten(), Dense(20, "relu"), Dropout(0.3),
                Dense(4, "softmax")]

    results = []
    for n_threads in (1, 2, 2):
        net = Sequential(layers(), shape, seed=11, n_threads=n_threads)
        net.fit(X, y, epochs=2, batch_size=64, eta=0.05, lmbda=0.5)
        results.append((net.params.copy(), net.feedforward(X), net.cost(X, y), net.accuracy(X, y)))
    for params, outputs, cost, accuracy in results[1:]:
        np.testing.assert_array_equal(params, results[0][0])
        np.testing.assert_array_equal(outputs, results[0][1])
        assert (cost, accuracy) == results[0][2:]


# ---------------------------------------------------------------- MNIST

@pytest.mark.mnist
def test_small_conv_net_learns_mnist(mnist_dir):
    from nnfast.datasets import load_mnist

    (X, y), _, (Xt, yt) = load_mnist(mnist_dir, dtype="float32")
    net = Sequential([Conv2D(8, 5, activation="relu"), MaxPool2D(2), Flatten(),
                      Dense(30, "relu"), Dense(10, "softmax")], (1, 28, 28), init="he",
                     dtype="float32", seed=0)
    net.fit(X[:3000].reshape(-1, 1, 28, 28), y[:3000], epochs=2, batch_size=10, eta=0.05)
    assert net.accuracy(Xt[:2000], yt[:2000]) > 0.85  # chance is 0.1


def test_target_rows_train_like_labels():
    shape = (2, 11, 10)
    X, y = _images(20, shape, 3, seed=4)
    nets = [Sequential(_chapter6_small(), shape, seed=3) for _ in range(2)]
    nets[0].fit(X, y, epochs=2, batch_size=6, eta=0.05, lmbda=1.0)
    nets[1].fit(X, np.eye(3)[y], epochs=2, batch_size=6, eta=0.05, lmbda=1.0)
    np.testing.assert_array_equal(nets[0].params, nets[1].params)
    assert nets[0].cost(X, y) == nets[1].cost(X, np.eye(3)[y])


def test_bench_conv_script_runs(capsys):
    """benches/bench_conv.py on a handful of rows prints its table (PyTorch only when importable)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benches" / "bench_conv.py"
    spec = importlib.util.spec_from_file_location("bench_conv", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(["--rows", "30", "--reference-rows", "10", "--repeats", "1", "--batch-sizes", "10"])
    out = capsys.readouterr().out
    assert "nnfast compiled" in out and "nnfast numpy ref" in out and "FLOP bound" in out
    assert bench.layer_flops(1) == 2 * 576_000 + 3 * 2_560_000 + 3 * 128_000 + 3 * 2_000


def test_batches_cut_in_slices_still_equal_the_reference():
    """A batch larger than the compiled slice (about 512 KB of im2col columns: 50 rows here) goes
    through in several slices whose gradients are added: the same step as the reference's."""
    shape = (2, 11, 10)
    X, y = _images(450, shape, 3, seed=6)
    ref, comp = _pair(_chapter6_small, shape)
    np.testing.assert_allclose(comp.gradient(X, y), ref.gradient(X, y), rtol=1e-10, atol=1e-11)
    for net in (ref, comp):  # batches of 440 (8 slices of 55) and 10
        net.fit(X, y, epochs=3, batch_size=440, eta=0.1, lmbda=1.0)
    assert np.abs(ref.params - comp.params).max() <= 1e-10 * np.abs(ref.params).max()


def test_many_slices_run_one_after_the_other_with_the_same_bits():
    """Large images make the slices 4 rows long; a batch of 72 is then 18 slices, more than run in
    parallel (16), so they run in turn with each kernel's loop over images parallel instead."""
    shape = (4, 45, 45)
    X, y = _images(80, shape, 2, seed=8)

    def layers():
        return [Conv2D(2, 3, activation="tanh"), MaxPool2D(3), Flatten(), Dense(2, "softmax")]

    nets = [Sequential(layers(), shape, seed=4, n_threads=t) for t in (1, 2)]
    for net in nets:
        net.fit(X, y, epochs=1, batch_size=72, eta=0.1, lmbda=0.5)
    np.testing.assert_array_equal(nets[0].params, nets[1].params)
    assert nets[0].cost(X, y) == nets[1].cost(X, y)
    ref = Sequential(layers(), shape, seed=4, backend="numpy")
    ref.fit(X, y, epochs=1, batch_size=72, eta=0.1, lmbda=0.5)
    assert np.abs(ref.params - nets[0].params).max() <= 1e-10 * np.abs(ref.params).max()
