"""The public API: shapes, dtypes, assignment, history, thread counts, and clear refusals."""

import io

import numpy as np
import pytest

import nnfast
from _helpers import make_classification

BACKENDS = ["cython", "numpy"]


@pytest.fixture(params=BACKENDS)
def net(request):
    return nnfast.Network([5, 4, 3], backend=request.param, seed=0)


@pytest.fixture
def data():
    return make_classification(30, 5, 3, seed=1)


def snapshot(net):
    return net.params.copy(), net.rng.bit_generator.state


def assert_unchanged(net, before):
    np.testing.assert_array_equal(net.params, before[0])
    assert net.rng.bit_generator.state == before[1]


# ---------------------------------------------------------------- construction

def test_shapes_and_initialisation():
    net = nnfast.Network([784, 30, 10], seed=0)
    assert [w.shape for w in net.weights] == [(30, 784), (10, 30)]
    assert [b.shape for b in net.biases] == [(30,), (10,)]
    assert net.backend == "cython" and net.dtype == np.float64
    # scaled_normal: weights ~ N(0, 1/n_in), biases ~ N(0, 1)
    assert abs(net.weights[0].std() * np.sqrt(784) - 1) < 0.05
    assert abs(net.biases[0].std() - 1) < 0.5
    big = nnfast.Network([784, 30, 10], init="normal", seed=0)
    assert abs(big.weights[0].std() - 1) < 0.05


def test_book_order_of_random_draws():
    """Biases of every layer first, then the weights (network2.default_weight_initializer)."""
    rng = np.random.default_rng(42)
    b0, b1 = rng.standard_normal(3), rng.standard_normal(2)
    w0, w1 = rng.standard_normal((3, 4)) / 2.0, rng.standard_normal((2, 3)) / np.sqrt(3)
    net = nnfast.Network([4, 3, 2], seed=42)
    for got, want in zip([*net.biases, *net.weights], [b0, b1, w0, w1]):
        np.testing.assert_array_equal(got, want)


def test_seed_reproducible_and_generator_accepted():
    a, b = nnfast.Network([3, 4, 2], seed=7), nnfast.Network([3, 4, 2], seed=7)
    np.testing.assert_array_equal(a.params, b.params)
    c = nnfast.Network([3, 4, 2], seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a.params, c.params)
    assert not np.array_equal(a.params, nnfast.Network([3, 4, 2], seed=8).params)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(sizes=[5]), ValueError, "at least an input and an output"),
    (dict(sizes=[5, 0, 2]), ValueError, ">= 1"),
    (dict(sizes=[5, 2.5]), TypeError, "integer"),
    (dict(sizes=5), TypeError, "list of layer widths"),
    (dict(activation="swish"), ValueError, "unknown activation"),
    (dict(activation=["sigmoid"]), ValueError, "one per layer"),
    (dict(cost="hinge-ish"), ValueError, "unknown cost"),
    (dict(cost="cross_entropy", activation="tanh"), ValueError, "needs a 'sigmoid' output"),
    (dict(init="zeros"), ValueError, "unknown init"),
    (dict(dtype="float16"), ValueError, "float32"),
    (dict(dtype="int64"), ValueError, "float32"),
    (dict(backend="torch"), ValueError, "unknown backend"),
    (dict(n_threads=0), ValueError, "must not be 0"),
    (dict(n_threads=1.5), TypeError, "integer"),
])
def test_constructor_refuses_bad_arguments(kwargs, error, match):
    args = dict(sizes=[5, 4, 3])
    args.update(kwargs)
    with pytest.raises(error, match=match):
        nnfast.Network(**args)


# ---------------------------------------------------------------- parameters

def test_weights_are_live_views_and_assignment_is_checked(net):
    W = np.arange(20, dtype=float).reshape(4, 5)
    net.weights[0] = W
    np.testing.assert_array_equal(net.weights[0], W)
    assert np.shares_memory(net.weights[0], net.params)
    net.weights[0][0, 0] = -1.0  # in-place edits reach the network
    assert net.feedforward(np.zeros((1, 5))).shape == (1, 3)
    assert net.params[0] == -1.0
    before = snapshot(net)
    with pytest.raises(ValueError, match="shape"):
        net.weights[0] = np.zeros((5, 4))
    with pytest.raises(ValueError, match="NaN"):
        net.biases[1] = [0.0, np.nan, 0.0]
    with pytest.raises(ValueError, match="need 2"):
        net.weights = [W]
    with pytest.raises(ValueError, match="shape"):  # second array bad: the first is not written
        net.weights = [np.ones((4, 5)), np.ones((2, 2))]
    assert_unchanged(net, before)


def test_float32_end_to_end(data):
    X, y = data
    net = nnfast.Network([5, 4, 3], dtype="float32", seed=0)
    assert net.weights[0].dtype == np.float32
    net.fit(X, y, epochs=2, batch_size=7)  # float64 X is converted once
    assert net.params.dtype == np.float32
    assert net.feedforward(X).dtype == np.float32
    assert isinstance(net.cost(X, y), float)


# ---------------------------------------------------------------- fit, history, inference

def test_fit_history_and_continuation(net, data):
    X, y = data
    history = net.fit(X, y, epochs=3, batch_size=7, eta=0.5, lmbda=1.0, validation_data=(X[:10], y[:10]))
    assert history is net.history and len(history) == 3 and history.epoch == [1, 2, 3]
    for key in ("train_cost", "train_accuracy", "validation_cost", "validation_accuracy", "seconds"):
        assert len(getattr(history, key)) == 3
    assert all(0 <= a <= 1 for a in history.train_accuracy)
    assert history.train_cost[-1] == pytest.approx(net.cost(X, y))  # same definition, incl. L2
    assert history.validation_accuracy[-1] == net.accuracy(X[:10], y[:10])
    # calling fit again continues from the current weights
    params = net.params.copy()
    net.fit(X, y, epochs=1, monitor=False)
    assert not np.array_equal(params, net.params)
    assert net.history.train_cost == []


def test_monitor_off_and_verbose(net, data, capsys):
    X, y = data
    history = net.fit(X, y, epochs=2, monitor=False, verbose=True)
    assert history.train_cost == [] and history.validation_cost == []
    out = capsys.readouterr().out
    assert out.count("epoch") == 2


def test_predict_and_accuracy_semantics(net, data):
    X, y = data
    outputs = net.feedforward(X)
    np.testing.assert_array_equal(net.predict(X), np.argmax(outputs, axis=1))
    assert net.accuracy(X, y) == np.mean(net.predict(X) == y)
    one_hot = np.eye(3)[y]
    assert net.accuracy(X, one_hot) == net.accuracy(X, y)
    assert net.cost(X, one_hot) == pytest.approx(net.cost(X, y), rel=1e-12)


def test_cost_adds_the_l2_term(net, data):
    X, y = data
    squared = sum(float(np.sum(w ** 2)) for w in net.weights)
    assert net.cost(X, y, lmbda=4.0) == pytest.approx(net.cost(X, y, lmbda=0.0) + 0.5 * 4.0 / 30 * squared)
    net.fit(X, y, epochs=1, lmbda=2.0, monitor=False)
    assert net.cost(X, y) == pytest.approx(net.cost(X, y, lmbda=2.0))


def test_shuffle_false_is_deterministic_and_does_not_use_the_rng(data):
    X, y = data
    a, b = nnfast.Network([5, 4, 3], seed=0), nnfast.Network([5, 4, 3], seed=0)
    state = a.rng.bit_generator.state
    a.fit(X, y, epochs=2, shuffle=False)
    assert a.rng.bit_generator.state == state
    b.fit(X, y, epochs=2, shuffle=True)
    assert not np.array_equal(a.params, b.params)


def test_input_conversions(net):
    X = np.arange(15).reshape(3, 5)  # ints
    out = net.feedforward(X)
    np.testing.assert_array_equal(out, net.feedforward(X.astype(float)))
    np.testing.assert_array_equal(net.feedforward(np.asfortranarray(X.astype(float))), out)
    np.testing.assert_array_equal(net.feedforward(X.astype(float)[:, ::1]), out)
    wide = np.zeros((3, 10))
    wide[:, ::2] = X
    np.testing.assert_array_equal(net.feedforward(wide[:, ::2]), out)  # non-contiguous view
    readonly = X.astype(float)
    readonly.flags.writeable = False
    np.testing.assert_array_equal(net.feedforward(readonly), out)
    np.testing.assert_array_equal(net.feedforward(X.tolist()), out)


# ---------------------------------------------------------------- refusals leave the network as it was

def _bad_fit_calls(X, y):
    return [
        (dict(X=X[:, :4]), ValueError, "columns"),
        (dict(X=X[0]), ValueError, "2-D"),
        (dict(X=X[:0], y=y[:0]), ValueError, "empty"),
        (dict(y=y[:-1]), ValueError, "one entry per example"),
        (dict(y=np.where(np.arange(30) == 3, 7, y)), ValueError, "outside"),
        (dict(y=-np.ones(30, dtype=int)), ValueError, "outside"),
        (dict(y=y + 0.5), ValueError, "whole numbers"),
        (dict(y=np.ones((30, 4))), ValueError, r"\(n, 3\)"),
        (dict(X=np.where(np.arange(150).reshape(30, 5) == 17, np.nan, X)), ValueError, "NaN"),
        (dict(X=np.where(np.arange(150).reshape(30, 5) == 17, np.inf, X)), ValueError, "NaN or infinite"),
        (dict(y=np.full((30, 3), np.nan)), ValueError, "NaN"),
        (dict(X=X.astype(complex)), TypeError, "real numbers"),
        (dict(X=np.array([["a"] * 5] * 30)), TypeError, "real numbers"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=2.0), TypeError, "batch_size"),
        (dict(epochs=0), ValueError, "epochs"),
        (dict(eta=0.0), ValueError, "eta"),
        (dict(eta=-1.0), ValueError, "eta"),
        (dict(eta=float("nan")), ValueError, "eta"),
        (dict(eta=float("inf")), ValueError, "eta"),
        (dict(lmbda=-1.0), ValueError, "lmbda"),
        (dict(shuffle="yes"), TypeError, "shuffle"),
        (dict(validation_data=(X,)), TypeError, "pair"),
        (dict(validation_data=(X[:, :3], y)), ValueError, "validation X"),
        (dict(validation_data=(X, y[:3])), ValueError, "validation y"),
    ]


@pytest.mark.parametrize("case", range(25))
def test_bad_fit_arguments_raise_and_leave_the_network_unchanged(net, data, case):
    X, y = data
    calls = _bad_fit_calls(X, y)
    assert len(calls) == 25
    overrides, error, match = calls[case]
    args = dict(X=X, y=y, epochs=2, batch_size=5, eta=0.5, lmbda=0.0)
    args.update(overrides)
    before = snapshot(net)
    history = net.history
    with pytest.raises(error, match=match):
        net.fit(args.pop("X"), args.pop("y"), **args)
    assert_unchanged(net, before)
    assert net.history is history


def test_bad_inference_input_raises(net, data):
    X, y = data
    before = snapshot(net)
    with pytest.raises(ValueError, match="columns"):
        net.feedforward(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="empty"):
        net.predict(np.zeros((0, 5)))
    with pytest.raises(ValueError, match="outside"):
        net.accuracy(X, y + 3)
    with pytest.raises(ValueError, match="lmbda"):
        net.cost(X, y, lmbda=-2)
    assert_unchanged(net, before)


def test_binary_labels_with_one_output_unit():
    net = nnfast.Network([2, 3, 1], seed=0)
    X = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert set(net.predict(X)) <= {0, 1}
    net.fit(X, [0, 1], epochs=1)
    with pytest.raises(ValueError, match=r"outside \[0, 2\)"):
        net.fit(X, [0, 2], epochs=1)


# ---------------------------------------------------------------- threads and configuration

def test_thread_count_semantics():
    from nnfast._threads import effective_n_threads

    procs = nnfast._threads._num_procs()
    assert effective_n_threads(1) == 1
    assert effective_n_threads(3) == 3
    assert effective_n_threads(-1) == procs
    assert effective_n_threads(-procs - 5) == 1
    assert effective_n_threads(None) >= 1
    with pytest.raises(ValueError):
        effective_n_threads(0)


def test_show_config_reports_the_build():
    buffer = io.StringIO()
    nnfast.show_config(file=buffer)
    text = buffer.getvalue()
    for expected in (nnfast.__version__, "built with OpenMP", "OpenMP threads", "BLAS", "float32, float64",
                     "vector kernels"):
        assert expected in text
    assert nnfast._kernels.simd_isa() in text
    assert "openblas" in text.lower() or "mkl" in text.lower() or "blis" in text.lower()


def test_all_finite_is_exact():
    from nnfast._validation import all_finite

    for dtype in (np.float32, np.float64):
        big = np.full((3, 4), np.finfo(dtype).max, dtype=dtype)  # finite, but the sum overflows
        assert all_finite(big)
        for bad in (np.nan, np.inf, -np.inf):
            a = np.zeros((3, 4), dtype=dtype)
            a[2, 1] = bad
            assert not all_finite(a)
            big_bad = big.copy()
            big_bad[0, 0] = bad
            assert not all_finite(big_bad)
        mixed = np.zeros(4, dtype=dtype)
        mixed[:2] = [np.inf, -np.inf]  # sums to NaN
        assert not all_finite(mixed)
    assert all_finite(np.arange(5)) and all_finite(np.zeros((0, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_inputs_are_refused_by_every_inference_call(backend, bad):
    net = nnfast.Network([5, 4, 3], backend=backend, seed=0)
    net.weights[0][:, 2] = 0.0  # an infinity meeting zero weights still shows (inf * 0 = NaN)
    X = np.random.default_rng(0).random((5000, 5))  # more than one compiled chunk
    for column in (1, 2):
        bad_X = X.copy()
        bad_X[4500, column] = bad
        y = np.zeros(5000, dtype=int)
        for call in (lambda: net.feedforward(bad_X), lambda: net.predict(bad_X),
                     lambda: net.accuracy(bad_X, y), lambda: net.cost(bad_X, y)):
            with pytest.raises(ValueError, match="X contains NaN or infinite"):
                call()


@pytest.mark.parametrize("backend", BACKENDS)
def test_nonfinite_weights_are_named_as_such(backend):
    net = nnfast.Network([5, 4, 3], backend=backend, seed=0)
    net.params[3] = np.nan  # behind the checked assignment, as a diverged training would
    X = np.ones((3, 5))
    if backend == "cython":
        with pytest.raises(FloatingPointError, match="parameters are not finite"):
            net.feedforward(X)
    else:  # the reference computes on and returns NaN outputs
        assert np.isnan(net.feedforward(X)).any()


def test_blas_threads_limits_and_restores():
    from threadpoolctl import threadpool_info

    from nnfast._threads import blas_threads

    def counts():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = counts()
    with blas_threads(1):
        assert set(counts()) == {1}
        with blas_threads(1):  # nested: nothing to change
            assert set(counts()) == {1}
        assert set(counts()) == {1}
    assert counts() == before
    try:
        with blas_threads(1):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert counts() == before


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("count", [0, 1, 7, 23551, 100003])
def test_aligned_zeros_starts_on_a_cache_line(dtype, count):
    from nnfast._aligned import aligned_zeros
    array = aligned_zeros(count, dtype)
    assert array.shape == (count,) and array.dtype == np.dtype(dtype)
    assert array.flags.c_contiguous and array.flags.writeable
    assert not array.any()
    if count:
        assert array.ctypes.data % 64 == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_parameters_stay_64_byte_aligned(dtype, tmp_path):
    # the compiled kernels' vector loads of W_0's rows are cheapest on cache-line boundaries
    rng = np.random.default_rng(3)
    X, y = rng.random((40, 16)), rng.integers(0, 3, 40)
    net = nnfast.Network([16, 5, 3], dtype=dtype, seed=0)
    assert net.params.ctypes.data % 64 == 0
    net.fit(X, y, epochs=2, batch_size=8, eta=0.1, validation_data=(X, y), early_stopping=1)
    assert net.params.ctypes.data % 64 == 0
    net.save(tmp_path / "net.npz")
    assert nnfast.load(tmp_path / "net.npz").params.ctypes.data % 64 == 0
