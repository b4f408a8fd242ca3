"""The layer-table engine (nnfast/reference/conv.py and nnfast._conv) with the dense stack's
features: optimizers, L1/L2, first/last/stop/signals, pooling strides, grad_output/grad_input,
batch norm, maxout and the BatchNorm layer. Each feature: compiled against the reference (float64
1e-10, float32 1e-4, >= 50 steps, 1 and 2 threads bitwise equal), finite differences on both
backends, and for dense-only stacks the dense engine (Network: nnfast/reference/sgd.py and
nnfast._train) as an independent oracle."""

import os
import signal
import threading

import numpy as np
import pytest

import nnfast
from nnfast._backend import NumpyBackend
from nnfast import AvgPool2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Network, Sequential
from nnfast.training.optimizers import get_optimizer
from nnfast.reference import conv as ref

_conv = pytest.importorskip("nnfast._conv")

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]


def _images(n, shape, n_classes, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.random((n, *shape)).astype(dtype)
    projection = rng.standard_normal((int(np.prod(shape)), n_classes))
    return X, np.argmax(X.reshape(n, -1) @ projection, axis=1)


def _conv_net():
    return [Conv2D(3, 3, activation="relu"), MaxPool2D(2), Flatten(), Dense(8, "tanh"),
            Dropout(0.3), Dense(3, "softmax")]


def _relative(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def _train_all(layers_fn, shape, X, y, n_threads=(1,), backends=("numpy", "cython"), **fit):
    nets = []
    for backend in backends:
        for t in (n_threads if backend == "cython" else (1,)):
            net = Sequential(layers_fn(), shape, backend=backend, seed=5, n_threads=t,
                             dtype=X.dtype.name)
            net.fit(X, y, **fit)
            nets.append(net)
    return nets


# ---------------------------------------------------------------- step 1: optimizers, L1/L2

@pytest.mark.parametrize("regularization", ["l2", "l1"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_optimizers_compiled_equal_reference_over_60_steps(optimizer, regularization):
    shape = (2, 8, 8)
    X, y = _images(40, shape, 3, seed=1)
    ref_net, one, two = _train_all(_conv_net, shape, X, y, n_threads=(1, 2), epochs=6,
                                   batch_size=4, eta=0.02, lmbda=1.5, optimizer=optimizer,
                                   regularization=regularization)
    assert ref_net.optimizer_steps == one.optimizer_steps == 60
    assert _relative(one.params, ref_net.params) < 1e-10
    np.testing.assert_array_equal(one.params, two.params)
    for s_ref, s_comp in zip(ref_net.optimizer_state, one.optimizer_state):
        assert len(s_ref) == len(s_comp) == (len(one.params) if len(s_ref) else 0)
        if len(s_ref):
            assert _relative(s_comp, s_ref) < 1e-9
    fresh = Sequential(_conv_net(), shape, seed=5)
    assert _relative(one.params, fresh.params) > 1e-3  # it trained


def test_optimizer_float32_matches_reference():
    shape = (2, 8, 8)
    X, y = _images(40, shape, 3, seed=2, dtype=np.float32)
    ref_net, comp = _train_all(_conv_net, shape, X, y, epochs=5, batch_size=4, eta=0.01,
                               lmbda=1.0, optimizer="adam", regularization="l1")
    np.testing.assert_allclose(comp.params, ref_net.params, rtol=1e-4, atol=1e-4)


def test_biases_are_not_decayed():
    """One compiled step against its definition: weights decayed (L2: lmbda/n W, L1: lmbda/n
    sign(W)), biases not."""
    shape = (1, 4, 4)
    X, y = _images(6, shape, 2, seed=3)
    layers = lambda: [Flatten(), Dense(2, "softmax")]  # noqa: E731
    for optimizer in ("sgd", "adam"):
        for regularization in ("l2", "l1"):
            net = Sequential(layers(), shape, seed=1)
            W0, b0 = net.weights[1].copy(), net.biases[1].copy()
            g = net.gradient(X, y)
            net.fit(X, y, epochs=1, batch_size=6, eta=0.5, lmbda=3.0, shuffle=False,
                    optimizer=optimizer, regularization=regularization)
            gw, gb = g[:W0.size].reshape(W0.shape) / 6, g[W0.size:] / 6
            if optimizer == "sgd":
                decay = (3.0 / 6) * (np.sign(W0) if regularization == "l1" else W0)
                np.testing.assert_allclose(net.weights[1], W0 - 0.5 * (gw + decay), rtol=1e-12)
                np.testing.assert_allclose(net.biases[1], b0 - 0.5 * gb, rtol=1e-12)
            else:  # Adam's first step moves every parameter by about eta * sign(g)
                np.testing.assert_allclose(net.biases[1], b0 - 0.5 * np.sign(gb), rtol=1e-6)


# ---------------------------------------------------------------- the dense engine as an oracle

def _dense_pair(sizes, activations, batch_norm=None, dropout=0.0, pieces=None, cost="log_likelihood",
                output="softmax", backend="cython", seed=2):
    """A Network and a Sequential of the same dense architecture with the same parameters."""
    hidden = len(sizes) - 2
    batch_norm = batch_norm or [False] * hidden
    net = Network(sizes, activation=activations, output_activation=output, cost=cost,
                  backend=backend, seed=seed, dropout=dropout, batch_norm=batch_norm)
    layers = []
    for l in range(hidden):
        layers.append(Dense(sizes[l + 1], net.activations[l], batch_norm=batch_norm[l]))
        if dropout:
            layers.append(Dropout(dropout))
    layers.append(Dense(sizes[-1], output))
    seq = Sequential(layers, (sizes[0],), cost=cost, backend=backend, seed=seed)
    seq._use_layer_engine()  # not the dense loop Network runs on: the two are held together
    assert seq.params.shape == net.params.shape
    seq.params[...] = net.params
    return net, seq


def _dense_epoch(net, seq, X, y, order, batch_size, eta, lmbda, regularization, optimizer, keep,
                 n_threads=1):
    optimizer = get_optimizer(optimizer)
    for model in (net, seq):
        model.optimizer = optimizer
        model._reset_optimizer_state()
    net.regularization = seq.regularization = regularization
    steps_net = net._backend.train_epoch(net, X, y, None, order, batch_size, eta, lmbda,
                                         regularization, keep, 0, len(order), n_threads)
    steps_seq = seq._backend.train_epoch(seq, X, y, None, order, batch_size, eta, lmbda,
                                         regularization, keep, 0, len(order), n_threads)
    assert steps_net == steps_seq


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("optimizer,regularization", [("sgd", "l2"), ("sgd", "l1"),
                                                      ("momentum", "l2"), ("adam", "l1"),
                                                      ("rmsprop", "l2")])
def test_dense_layer_table_equals_network(optimizer, regularization, backend):
    rng = np.random.default_rng(0)
    X = rng.random((100, 7))
    y = rng.integers(0, 3, 100)
    net, seq = _dense_pair([7, 6, 5, 3], ["tanh", "relu"], dropout=0.25, backend=backend)
    order = rng.permutation(100).astype(np.intp)
    keep = (rng.random((100, 11)) >= 0.25).astype(np.uint8)  # both hidden layers' masks, packed
    _dense_epoch(net, seq, X, y, order, 2, 0.05, 2.0, regularization, optimizer, keep)
    assert _relative(seq.params, net.params) < 1e-10
    assert _relative(seq.params, Network([7, 6, 5, 3], seed=2).params) > 1e-3


# ---------------------------------------------------------------- first/last/stop/signals

def _compiled_args(net, X, y):
    T = np.empty((0, net.n_outputs), dtype=net.dtype)
    return (net._spec, net._fparams, net.cost_function.code, X.reshape(len(X), -1), T,
            y.astype(np.intp))


def test_first_last_positions_compose_an_epoch():
    shape = (2, 8, 8)
    X, y = _images(30, shape, 3, seed=4)
    whole, halves = (Sequential(_conv_net()[:3] + [Dense(3, "softmax")], shape, seed=1)
                     for _ in range(2))
    order = np.random.default_rng(1).permutation(30).astype(np.intp)
    keep = np.empty((0, 0), dtype=np.uint8)
    hyper = np.array([0.9, 0.999, 1e-8])
    states = [np.zeros(len(whole.params)) for _ in range(4)]
    taken = _conv.train_epoch(whole.params, *_compiled_args(whole, X, y), order, 4, 0.05, 1.0, 30,
                              keep, 1, optimizer=5, hyper=hyper, state1=states[0],
                              state2=states[1])
    assert taken == 8
    first = _conv.train_epoch(halves.params, *_compiled_args(halves, X, y), order, 4, 0.05, 1.0,
                              30, keep, 1, optimizer=5, hyper=hyper, state1=states[2],
                              state2=states[3], first=0, last=12)
    second = _conv.train_epoch(halves.params, *_compiled_args(halves, X, y), order, 4, 0.05, 1.0,
                               30, keep, 1, optimizer=5, hyper=hyper, state1=states[2],
                               state2=states[3], first=12, step0=first)
    assert (first, second) == (3, 5)
    np.testing.assert_array_equal(halves.params, whole.params)
    with pytest.raises(ValueError, match="batch boundary"):
        _conv.train_epoch(halves.params, *_compiled_args(halves, X, y), order, 4, 0.05, 1.0, 30,
                          keep, 1, first=2)


def test_stop_flag_stops_before_the_next_batch():
    shape = (2, 8, 8)
    X, y = _images(20, shape, 3, seed=5)
    net = Sequential(_conv_net()[:3] + [Dense(3, "softmax")], shape, seed=1)
    before = net.params.copy()
    order = np.arange(20, dtype=np.intp)
    keep = np.empty((0, 0), dtype=np.uint8)
    stop = np.ones(1, dtype=np.uint8)
    assert _conv.train_epoch(net.params, *_compiled_args(net, X, y), order, 4, 0.05, 0.0, 20,
                             keep, 1, stop=stop) == 0
    np.testing.assert_array_equal(net.params, before)
    assert ref.train_epoch(net.built, net.weights, net.biases, net.cost_function,
                           X.reshape(20, -1), np.eye(3)[y], order, 4, 0.05, 0.0, 20,
                           stop=stop) == 0
    np.testing.assert_array_equal(net.params, before)


class _Interrupt(Exception):
    pass


def test_a_signal_handler_interrupts_between_batches():
    """A handler raising from PyErr_CheckSignals ends the loop at a batch boundary, with the
    batches done on the exception; the parameters are those of that many whole batches."""
    shape = (1, 24, 24)
    X, y = _images(500, shape, 3, seed=6)
    layers = lambda: [Conv2D(4, 5, activation="relu"), MaxPool2D(2), Flatten(),  # noqa: E731
                      Dense(3, "softmax")]
    net = Sequential(layers(), shape, seed=2)
    start = net.params.copy()
    order = np.tile(np.arange(500, dtype=np.intp), 120)  # 60000 batches of 1: seconds of work
    keep = np.empty((0, 0), dtype=np.uint8)

    def handler(signum, frame):
        raise _Interrupt()

    previous = signal.signal(signal.SIGUSR1, handler)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGUSR1))
    try:
        timer.start()
        with pytest.raises(_Interrupt) as info:
            _conv.train_epoch(net.params, *_compiled_args(net, X, y), order, 1, 0.001, 0.0, 500,
                              keep, 1)
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    done = info.value.nnfast_batches_done
    assert 0 < done < len(order)
    again = Sequential(layers(), shape, seed=2)
    np.testing.assert_array_equal(again.params, start)
    _conv.train_epoch(again.params, *_compiled_args(again, X, y), order, 1, 0.001, 0.0, 500, keep,
                      1, last=done)
    np.testing.assert_array_equal(again.params, net.params)


def test_hinge_cost_with_one_output_is_refused_everywhere():
    net = Sequential([Flatten(), Dense(1, "identity")], (1, 3, 3), cost="quadratic", seed=0)
    X = np.zeros((4, 9))
    T = np.zeros((4, 1))
    lab = np.empty(0, dtype=np.intp)
    hinge = nnfast.costs.get_cost("hinge").code
    order = np.arange(4, dtype=np.intp)
    calls = [
        lambda: _conv.train_epoch(net.params, net._spec, net._fparams, hinge, X, T, lab, order, 2,
                                  0.1, 0.0, 4, np.empty((0, 0), dtype=np.uint8), 1),
        lambda: _conv.gradient(net.params, net._spec, net._fparams, hinge, X, T, lab,
                               np.zeros_like(net.params), 1),
        lambda: _conv.evaluate(net.params, net._spec, net._fparams, hinge, X, T, lab, 4, 1),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="hinge"):
            call()


# ---------------------------------------------------------------- gradient checks (shared)

def _numeric_gradient_error(net, X, y, count=200, batch_stats=None):
    """nnfast.gradcheck over `count` random parameters (with batch norm the cost of the batch's
    own statistics, the one the gradient of a batch-normalised network is of)."""
    return nnfast.gradcheck(net, X, y, n_samples=count)


# ---------------------------------------------------------------- step 2: pooling strides

_convtwins = pytest.importorskip("nnfast._convtwins")

POOLS = [((2, 7, 7), 3, 2), ((1, 5, 6), 2, 1), ((3, 8, 9), 2, 3), ((2, 6, 6), 3, 3)]


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape,size,stride", POOLS)
def test_strided_pooling_kernels_match_the_reference(shape, size, stride, dtype, n_threads):
    rng = np.random.default_rng(3)
    m = 40  # enough work for the kernels' parallel path
    X = rng.standard_normal((m, *shape)).astype(dtype)
    X[0, 0, :3, :3] = 7.0  # ties inside overlapping windows: the first maximum wins
    out_shape = MaxPool2D(size, stride).build(shape).out_shape
    assert out_shape[1:] == ((shape[1] - size) // stride + 1, (shape[2] - size) // stride + 1)
    n_out = int(np.prod(out_shape))
    Y = np.empty((m, n_out), dtype=dtype)
    arg = np.empty((m, n_out), dtype=np.intp)
    _convtwins.maxpool_forward(X.reshape(m, -1), Y, arg, *shape, size, n_threads, stride)
    Yr, argr = ref.maxpool_forward(X, size, stride)
    np.testing.assert_array_equal(Y.reshape(Yr.shape), Yr)
    np.testing.assert_array_equal(arg.reshape(argr.shape), argr)
    dY = rng.standard_normal((m, n_out)).astype(dtype)
    dX = np.full((m, int(np.prod(shape))), np.nan, dtype=dtype)
    _convtwins.maxpool_backward(dY, arg, dX, n_threads)
    np.testing.assert_array_equal(dX.reshape(m, *shape),
                                  ref.maxpool_backward(dY.reshape(Yr.shape), argr, shape))
    _convtwins.avgpool_forward(X.reshape(m, -1), Y, *shape, size, n_threads, stride)
    tolerance = 1e-5 if dtype == np.float32 else 1e-13  # numpy sums 9 values in another order
    np.testing.assert_allclose(Y.reshape(Yr.shape), ref.avgpool_forward(X, size, stride),
                               rtol=tolerance, atol=tolerance)
    _convtwins.avgpool_backward(dY, dX, *shape, size, n_threads, stride)
    np.testing.assert_array_equal(dX.reshape(m, *shape),
                                  ref.avgpool_backward(dY.reshape(Yr.shape), size, shape, stride))


def test_overlapping_max_pool_by_hand():
    """3x3 image, 2x2 windows every pixel: the centre is the maximum of all four windows and
    receives the sum of their gradients."""
    X = np.array([[1., 2., 0.],
                  [3., 9., 4.],
                  [0., 5., 1.]]).reshape(1, 1, 3, 3)
    Y, arg = ref.maxpool_forward(X, 2, 1)
    np.testing.assert_array_equal(Y.reshape(2, 2), [[9., 9.], [9., 9.]])
    dX = ref.maxpool_backward(np.array([1., 2., 3., 4.]).reshape(1, 1, 2, 2), arg, (1, 3, 3))
    assert dX[0, 0, 1, 1] == 10 and np.count_nonzero(dX) == 1
    dA = ref.avgpool_backward(np.ones((1, 1, 2, 2)), 2, (1, 3, 3), 1)
    np.testing.assert_array_equal(dA.reshape(3, 3), np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4)
    Yc, argc, dXc = np.empty((1, 4)), np.empty((1, 4), dtype=np.intp), np.empty((1, 9))
    _convtwins.maxpool_forward(X.reshape(1, -1), Yc, argc, 1, 3, 3, 2, 1, 1)
    _convtwins.maxpool_backward(np.array([[1., 2., 3., 4.]]), argc, dXc)
    np.testing.assert_array_equal(dXc.reshape(dX.shape), dX)


def _strided_pools():
    return [Conv2D(3, 3, activation="tanh"), MaxPool2D(3, stride=2), AvgPool2D(2, stride=1),
            Flatten(), Dense(3, "softmax")]


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_strided_pooling_gradient_matches_finite_differences(backend):
    shape = (2, 11, 11)
    X, y = _images(5, shape, 3, seed=7)
    net = Sequential(_strided_pools(), shape, backend=backend, seed=3)
    assert [b.out_shape for b in net.built[1:3]] == [(3, 4, 4), (3, 3, 3)]
    assert _numeric_gradient_error(net, X, y) < 1e-6


def test_strided_pooling_training_equals_reference():
    shape = (2, 11, 11)
    X, y = _images(30, shape, 3, seed=8)
    ref_net, one, two = _train_all(_strided_pools, shape, X, y, n_threads=(1, 2), epochs=10,
                                   batch_size=5, eta=0.05, lmbda=0.5, optimizer="momentum")
    assert one.optimizer_steps == 60
    assert _relative(one.params, ref_net.params) < 1e-10
    np.testing.assert_array_equal(one.params, two.params)


def test_layer_table_refuses_a_pool_shape_that_does_not_match_its_stride():
    net = Sequential(_strided_pools(), (2, 11, 11), seed=0)
    spec = net._spec.copy()
    spec[1, 9] = 3  # the max-pool's stride: its output would be 3x3, the table says 4x4
    with pytest.raises(ValueError, match="pooled shape"):
        _conv.check_spec(spec, net._fparams, len(net.params))
    spec = net._spec.copy()
    spec[1, 9] = 0
    with pytest.raises(ValueError, match="stride"):
        _conv.check_spec(spec, net._fparams, len(net.params))


# ---------------------------------------------------------------- step 3: grad_output, grad_input

def _grad_output_case(output="softmax"):
    return lambda: [Conv2D(3, 3, activation="tanh"), AvgPool2D(2, stride=1), Flatten(),
                    Dense(6, "relu"), Dense(4, output)]


def _compiled_gradient(net, X, G=None, need_input=False, n_threads=1):
    grad = np.zeros_like(net.params)
    gin = np.zeros((len(X), net.n_inputs), dtype=net.dtype) if need_input else None
    empty_t = np.empty((0, net.n_outputs), dtype=net.dtype)
    _conv.gradient(net.params, net._spec, net._fparams, net.cost_function.code,
                   X.reshape(len(X), -1), empty_t, np.empty(0, dtype=np.intp), grad, n_threads,
                   grad_input=gin, grad_output=G, running=net.bn_running)
    return grad, gin


def _flat_reference_gradient(net, X, G, Y=None):
    nw, nb, nn, gin = ref.backprop(net.built, net.weights, net.biases, net.cost_function,
                                   X.reshape(len(X), -1), Y, norms=NumpyBackend._layer_norms(net), grad_output=G,
                                   need_input_gradient=True)
    grad = np.zeros_like(net.params)
    gw, gb = net.layer_views(grad)
    gg, gbeta = net.norm_views(grad)
    for l in range(len(nw)):
        if nw[l] is not None:
            gw[l][...], gb[l][...] = nw[l], nb[l]
        if nn[l] is not None:
            gg[l][...], gbeta[l][...] = nn[l]
    return grad, gin


@pytest.mark.parametrize("output", ["softmax", "tanh"])
def test_grad_output_and_grad_input_equal_the_reference(output):
    shape = (2, 7, 6)
    X, _ = _images(9, shape, 4, seed=9)
    net = Sequential(_grad_output_case(output)(), shape, cost="quadratic", seed=4)
    G = np.random.default_rng(1).standard_normal((9, 4))
    grad, gin = _compiled_gradient(net, X, G, need_input=True)
    grad_ref, gin_ref = _flat_reference_gradient(net, X, G)
    assert _relative(grad, grad_ref) < 1e-10
    assert _relative(gin, gin_ref) < 1e-10
    # the input's gradient alone, without grad_output: the cost's, and the same parameters' gradient
    y = np.random.default_rng(2).integers(0, 4, 9)
    grad_cost = net.gradient(X, y)
    Y = np.eye(4)[y]
    grad_ref2, gin_ref2 = _flat_reference_gradient(net, X, None, Y)
    grad2 = np.zeros_like(net.params)
    gin2 = np.zeros((9, net.n_inputs))
    _conv.gradient(net.params, net._spec, net._fparams, net.cost_function.code, X.reshape(9, -1),
                   np.empty((0, 4)), y.astype(np.intp), grad2, 1, grad_input=gin2)
    np.testing.assert_array_equal(grad2, grad_cost)
    assert _relative(grad2, grad_ref2) < 1e-10 and _relative(gin2, gin_ref2) < 1e-10


def test_grad_output_of_the_cost_is_the_cost_gradient():
    """log-likelihood with softmax: dC/da = -y/a; its Jacobian-vector product is a - y."""
    shape = (2, 7, 6)
    X, y = _images(8, shape, 4, seed=10)
    net = Sequential(_grad_output_case()(), shape, seed=6)
    A = net.feedforward(X)
    grad, _ = _compiled_gradient(net, X, -np.eye(4)[y] / A)
    assert _relative(grad, net.gradient(X, y)) < 1e-10


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_grad_input_matches_finite_differences(backend):
    """L = sum(G * outputs(X)): dL/dX by central differences of the network's forward pass."""
    shape = (2, 6, 6)
    X, _ = _images(3, shape, 4, seed=11)
    net = Sequential(_grad_output_case("sigmoid")(), shape, cost="quadratic", seed=7,
                     backend=backend)
    G = np.random.default_rng(3).standard_normal((3, 4))
    if backend == "cython":
        _, gin = _compiled_gradient(net, X, G, need_input=True)
    else:
        gin = _flat_reference_gradient(net, X, G)[1]
    flat = X.reshape(3, -1).copy()
    eps = 1e-5
    floor = 1e-3 * float(np.sqrt(np.mean(np.square(gin))))
    worst = 0.0
    for j in np.random.default_rng(4).choice(flat.shape[1], 40, replace=False):
        for i in range(3):
            saved = flat[i, j]
            flat[i, j] = saved + eps
            plus = np.sum(G * net.feedforward(flat))
            flat[i, j] = saved - eps
            minus = np.sum(G * net.feedforward(flat))
            flat[i, j] = saved
            numeric = (plus - minus) / (2 * eps)
            worst = max(worst, abs(gin[i, j] - numeric) / max(abs(gin[i, j]) + abs(numeric), floor))
    assert worst < 1e-6


def test_grad_input_over_slices_is_thread_independent():
    shape = (3, 30, 30)  # large images: a batch of 40 runs in several slices
    X, _ = _images(40, shape, 4, seed=12)
    net = Sequential([Conv2D(4, 3, activation="relu"), MaxPool2D(2), Flatten(),
                      Dense(4, "softmax")], shape, seed=8)
    G = np.random.default_rng(5).standard_normal((40, 4))
    one = _compiled_gradient(net, X, G, need_input=True, n_threads=1)
    two = _compiled_gradient(net, X, G, need_input=True, n_threads=2)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    grad_ref, gin_ref = _flat_reference_gradient(net, X, G)
    assert _relative(one[0], grad_ref) < 1e-10 and _relative(one[1], gin_ref) < 1e-10
    with pytest.raises(ValueError, match="grad_input"):
        _conv.gradient(net.params, net._spec, net._fparams, 2, X.reshape(40, -1),
                       np.empty((0, 4)), np.empty(0, dtype=np.intp), np.zeros_like(net.params), 1,
                       grad_input=np.zeros((39, net.n_inputs)), grad_output=G)
    with pytest.raises(ValueError, match="grad_output"):
        _conv.gradient(net.params, net._spec, net._fparams, 2, X.reshape(40, -1),
                       np.empty((0, 4)), np.empty(0, dtype=np.intp), np.zeros_like(net.params), 1,
                       grad_output=G[:, :3].copy())


# ---------------------------------------------------------------- step 4: batch norm on Dense/Conv2D

def _bn_conv():
    return [Conv2D(3, 3, activation="relu", batch_norm=True), MaxPool2D(2), Flatten(),
            Dense(6, "tanh", batch_norm=True, batch_norm_momentum=0.8), Dropout(0.2),
            Dense(3, "softmax")]


def _bn_conv_sigmoid():  # smooth everywhere, for finite differences
    return [Conv2D(3, 3, activation="sigmoid", batch_norm=True, batch_norm_eps=1e-3),
            AvgPool2D(2), Flatten(), Dense(5, "tanh", batch_norm=True), Dense(3, "softmax")]


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_batch_norm_gradient_matches_finite_differences(backend):
    shape = (2, 8, 8)
    X, y = _images(6, shape, 3, seed=13)
    net = Sequential(_bn_conv_sigmoid(), shape, backend=backend, seed=9)
    net.params[...] += np.random.default_rng(1).normal(0, 0.1, len(net.params))  # gamma != 1
    assert _numeric_gradient_error(net, X, y, batch_stats=True, count=300) < 1e-6
    grad = net.gradient(X, y)
    for l in (0, 3):  # the redundant biases: exactly 0
        assert not net.layer_views(grad)[1][l].any()


def _batch_cost(net, X, y):
    """The summed cost with batch norm in training mode (the batch's own statistics)."""
    return net._backend.evaluate(net, *net._data(X, y), 1, True)[0]


def test_batch_norm_gradients_of_both_backends_agree():
    shape = (2, 8, 8)
    X, y = _images(7, shape, 3, seed=14)
    ref_net, comp = (Sequential(_bn_conv(), shape, backend=b, seed=2) for b in ("numpy", "cython"))
    assert _relative(comp.gradient(X, y), ref_net.gradient(X, y)) < 1e-10
    assert _batch_cost(comp, X, y) == pytest.approx(_batch_cost(ref_net, X, y), rel=1e-12)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_batch_norm_training_equals_reference(optimizer):
    shape = (2, 8, 8)
    X, y = _images(36, shape, 3, seed=15)
    ref_net, one, two = _train_all(_bn_conv, shape, X, y, n_threads=(1, 2), epochs=10,
                                   batch_size=6, eta=0.05, lmbda=0.5, optimizer=optimizer)
    assert one.optimizer_steps == 60
    assert _relative(one.params, ref_net.params) < 1e-10
    assert _relative(one.bn_running, ref_net.bn_running) < 1e-10
    np.testing.assert_array_equal(one.params, two.params)
    np.testing.assert_array_equal(one.bn_running, two.bn_running)
    for net in (ref_net, one):
        for l in (0, 3):
            assert not net.biases[l].any()  # the bias stays 0
    assert not np.allclose(one.bn_running[:3], 0)  # the running means moved
    np.testing.assert_allclose(one.feedforward(X), ref_net.feedforward(X), rtol=1e-10,
                               atol=1e-12)  # inference: the running statistics
    assert one.cost(X, y) == pytest.approx(ref_net.cost(X, y), rel=1e-10)


def test_batch_norm_float32_matches_reference():
    shape = (2, 8, 8)
    X, y = _images(30, shape, 3, seed=16, dtype=np.float32)
    ref_net, comp = _train_all(_bn_conv, shape, X, y, epochs=4, batch_size=6, eta=0.05)
    np.testing.assert_allclose(comp.params, ref_net.params, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(comp.bn_running, ref_net.bn_running, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_batch_norm_dense_layer_table_equals_network(optimizer, backend):
    rng = np.random.default_rng(6)
    X = rng.random((60, 7))
    y = rng.integers(0, 3, 60)
    net, seq = _dense_pair([7, 6, 5, 3], ["relu", "sigmoid"], batch_norm=[True, True],
                           dropout=0.2, backend=backend)
    seq.bn_running[...] = net.bn_running
    order = rng.permutation(60).astype(np.intp)
    keep = (rng.random((60, 11)) >= 0.2).astype(np.uint8)
    _dense_epoch(net, seq, X, y, order, 4, 0.1, 1.0, "l2", optimizer, keep)
    assert _relative(seq.params, net.params) < 1e-10
    assert _relative(seq.bn_running, net.bn_running) < 1e-10
    Xt = rng.random((20, 7))
    np.testing.assert_allclose(seq.feedforward(Xt), net.feedforward(Xt), rtol=1e-10)


def test_layer_table_refuses_bad_batch_norm_columns():
    net = Sequential(_bn_conv(), (2, 8, 8), seed=0)
    n_params, n_running = len(net.params), len(net.bn_running)
    with pytest.raises(ValueError, match="running"):
        _conv.check_spec(net._spec, net._fparams, n_params, n_running - 1)
    bad = net._spec.copy()
    bad[3, 18] += 1  # gamma no longer right after the biases
    with pytest.raises(ValueError, match="follow the biases"):
        _conv.check_spec(bad, net._fparams, n_params, n_running)
    bad = net._spec.copy()
    bad[5, 17] = 1  # batch norm on the output layer
    with pytest.raises(ValueError, match="batch norm"):
        _conv.check_spec(bad, net._fparams, n_params, n_running)
    fbad = net._fparams.copy()
    fbad[0, 2] = 0.0
    with pytest.raises(ValueError, match="eps"):
        _conv.check_spec(net._spec, fbad, n_params, n_running)
    X, y = _images(4, (2, 8, 8), 3)
    with pytest.raises(ValueError, match="running"):  # inference needs the running statistics
        _conv.evaluate(net.params, net._spec, net._fparams, 2, X.reshape(4, -1),
                       np.empty((0, 3)), y.astype(np.intp), 4, 1)


# ---------------------------------------------------------------- step 5: maxout Dense

def _maxout_net():
    return [Conv2D(2, 3, activation="tanh"), MaxPool2D(2), Flatten(),
            Dense(5, nnfast.activations.maxout(3)), Dropout(0.2), Dense(4, nnfast.activations.maxout(2)),
            Dense(3, "softmax")]


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_maxout_gradient_matches_finite_differences(backend):
    shape = (2, 8, 8)
    X, y = _images(5, shape, 3, seed=17)
    net = Sequential(_maxout_net(), shape, backend=backend, seed=10)
    assert net.weights[3].shape == (15, 18) and net.biases[5].shape == (8,)
    assert _numeric_gradient_error(net, X, y, count=300) < 1e-6


def test_maxout_training_equals_reference():
    shape = (2, 8, 8)
    X, y = _images(30, shape, 3, seed=18)
    ref_net, one, two = _train_all(_maxout_net, shape, X, y, n_threads=(1, 2), epochs=12,
                                   batch_size=6, eta=0.05, lmbda=0.5, optimizer="nesterov",
                                   regularization="l1")
    assert one.optimizer_steps == 60
    assert _relative(one.params, ref_net.params) < 1e-10
    np.testing.assert_array_equal(one.params, two.params)
    np.testing.assert_allclose(one.feedforward(X), ref_net.feedforward(X), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_maxout_dense_layer_table_equals_network(backend):
    rng = np.random.default_rng(7)
    X = rng.random((60, 7))
    y = rng.integers(0, 3, 60)
    net, seq = _dense_pair([7, 6, 5, 3], [nnfast.activations.maxout(3), "relu"], dropout=0.1,
                           backend=backend)
    order = rng.permutation(60).astype(np.intp)
    keep = (rng.random((60, 11)) >= 0.1).astype(np.uint8)
    _dense_epoch(net, seq, X, y, order, 2, 0.05, 1.0, "l2", "adagrad", keep)
    assert _relative(seq.params, net.params) < 1e-10


def test_maxout_is_refused_where_it_cannot_go():
    with pytest.raises(ValueError, match="batch norm"):
        Dense(4, nnfast.activations.maxout(2), batch_norm=True)
    with pytest.raises(ValueError, match="elementwise"):
        Conv2D(2, 3, activation=nnfast.activations.maxout(2))
    for backend in ("numpy", "cython"):
        with pytest.raises(ValueError, match="hidden layers only"):
            Sequential([Flatten(), Dense(3, nnfast.activations.maxout(2))], (1, 3, 3),
                       cost="quadratic", backend=backend)
        with pytest.raises(ValueError, match="hidden layers only"):
            Sequential([Flatten(), Dense(3, "softmax", batch_norm=True)], (1, 3, 3),
                       backend=backend)
    net = Sequential(_maxout_net(), (2, 8, 8), seed=0)
    bad = net._spec.copy()
    bad[3, 16] = 1  # maxout activation without pieces
    with pytest.raises(ValueError, match="pieces"):
        _conv.check_spec(bad, net._fparams, len(net.params))
    bad = net._spec.copy()
    bad[6, 12], bad[6, 16] = 10, 2  # maxout on the output layer
    with pytest.raises(ValueError, match="maxout"):
        _conv.check_spec(bad, net._fparams, len(net.params))
    bad = net._spec.copy()
    bad[3, 16] = 4  # more pieces: W would need more rows than params holds
    with pytest.raises(ValueError, match="do not fit"):
        _conv.check_spec(bad, net._fparams, len(net.params))


# ---------------------------------------------------------------- step 6: the BatchNorm layer

def _batchnorm_layers():
    # (no bias right before a BatchNorm layer: its gradient would be rounding noise, which
    # RMSProp's normalised step turns into steps of size eta)
    return [Conv2D(3, 3, activation="softplus"), nnfast.BatchNorm("tanh", momentum=0.7),
            AvgPool2D(2), Flatten(), nnfast.BatchNorm(), Dense(5, "sigmoid"),
            nnfast.BatchNorm("softplus", eps=1e-3), Dense(3, "softmax")]


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_batchnorm_layer_gradient_matches_finite_differences(backend):
    shape = (2, 8, 8)
    X, y = _images(6, shape, 3, seed=19)
    net = Sequential(_batchnorm_layers(), shape, backend=backend, seed=11)
    assert [g is not None for g in net.bn_gamma] == [False, True, False, False, True, False,
                                                     True, False]
    assert net.weights[1] is None and net.bn_gamma[1].shape == (3,)
    assert net.bn_gamma[4].shape == (3 * 3 * 3,)  # flat input: per unit
    net.params[...] += np.random.default_rng(2).normal(0, 0.1, len(net.params))
    assert _numeric_gradient_error(net, X, y, batch_stats=True, count=300) < 1e-6


# RMSProp at eta 0.05 fits this data until the gradients are tiny; its normalised steps then
# amplify rounding differences (1e-14 after 12 steps, 1e-2 after 60): a smaller eta stays stable
@pytest.mark.parametrize("optimizer,eta", [("sgd", 0.05), ("rmsprop", 0.005)])
def test_batchnorm_layer_training_equals_reference(optimizer, eta):
    shape = (2, 8, 8)
    X, y = _images(30, shape, 3, seed=20)
    ref_net, one, two = _train_all(_batchnorm_layers, shape, X, y, n_threads=(1, 2), epochs=12,
                                   batch_size=6, eta=eta, lmbda=1.0, optimizer=optimizer)
    assert one.optimizer_steps == 60
    assert _relative(one.params, ref_net.params) < 1e-10
    assert _relative(one.bn_running, ref_net.bn_running) < 1e-10
    np.testing.assert_array_equal(one.params, two.params)
    np.testing.assert_array_equal(one.bn_running, two.bn_running)
    np.testing.assert_allclose(one.feedforward(X), ref_net.feedforward(X), rtol=1e-10,
                               atol=1e-12)
    fresh = Sequential(_batchnorm_layers(), shape, seed=5)
    assert not np.allclose(one.bn_gamma[1], fresh.bn_gamma[1])  # gamma learned


def test_batchnorm_layer_float32_matches_reference():
    shape = (2, 8, 8)
    X, y = _images(30, shape, 3, seed=21, dtype=np.float32)
    ref_net, comp = _train_all(_batchnorm_layers, shape, X, y, epochs=4, batch_size=6, eta=0.05)
    np.testing.assert_allclose(comp.params, ref_net.params, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_dense_then_batchnorm_layer_equals_network_batch_norm(backend):
    """Dense(identity) + BatchNorm(relu) is Network's batch-normalised relu layer: the same
    parameter layout (W, b, gamma, beta); the Dense bias's gradient is 0 up to rounding."""
    rng = np.random.default_rng(8)
    X = rng.random((60, 7))
    y = rng.integers(0, 3, 60)
    net = Network([7, 6, 3], activation="relu", output_activation="softmax",
                  cost="log_likelihood", batch_norm=True, backend=backend, seed=3)
    seq = Sequential([Dense(6, "identity"), nnfast.BatchNorm("relu"), Dense(3, "softmax")], (7,),
                     backend=backend, seed=3)
    seq.params[...] = net.params
    order = rng.permutation(60).astype(np.intp)
    _dense_epoch(net, seq, X, y, order, 4, 0.1, 1.0, "l2", "momentum", None)
    assert _relative(seq.params, net.params) < 1e-10
    assert _relative(seq.bn_running, net.bn_running) < 1e-10


def test_layer_table_refuses_a_batchnorm_layer_that_changes_the_shape():
    net = Sequential(_batchnorm_layers(), (2, 8, 8), seed=0)
    bad = net._spec.copy()
    bad[1, 17] = 0  # a batchnorm layer without its flag
    with pytest.raises(ValueError, match="batchnorm layer"):
        _conv.check_spec(bad, net._fparams, len(net.params), len(net.bn_running))
    bad = net._spec.copy()
    bad[1, 18] = len(net.params) - 1  # gamma, beta past the end of params
    with pytest.raises(ValueError, match="do not fit"):
        _conv.check_spec(bad, net._fparams, len(net.params), len(net.bn_running))
