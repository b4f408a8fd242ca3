"""Every activation, cost, initializer and regularizer: reference vs compiled, gradient checks, and a
small learning task each must solve."""

import numpy as np
import pytest

import nnfast
import nnfast.costs
from nnfast.activations import ACTIVATIONS, elu, leaky_relu
from nnfast.costs import COSTS
from nnfast.initializers import INITIALIZERS

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus"]



def _valid(cost, output):
    try:
        nnfast.costs.check_pairing(COSTS[cost], ACTIVATIONS[output])
        return True
    except ValueError:
        return False


# every (cost, differentiable output activation) pair the library accepts
ALL_PAIRS = [(cost, output) for cost in sorted(COSTS)
             for output in sorted(n for n, a in ACTIVATIONS.items()
                                  if a.differentiable and a.pieces == 1 and n == a.name)
             if _valid(cost, output)]
# a representative subset for the slower learning and equivalence tests
PAIRS = [("cross_entropy", "sigmoid"), ("log_likelihood", "softmax"), ("quadratic", "sigmoid"),
         ("quadratic", "softmax"), ("quadratic", "identity"), ("quadratic", "tanh"),
         ("hinge", "identity"), ("hinge", "tanh")]


def blobs(n=120, n_in=6, classes=3, seed=0):
    """Gaussian clusters: any of these networks can learn them."""
    rng = np.random.default_rng(seed)
    centers = 3 * rng.standard_normal((classes, n_in))
    y = rng.integers(0, classes, n)
    return centers[y] + rng.standard_normal((n, n_in)), y


def pair(sizes, dtype="float64", seed=1, **network):
    return [nnfast.Network(sizes, backend=b, dtype=dtype, seed=seed, **network) for b in ("numpy", "cython")]


def fit_both(nets, X, y, **fit):
    return [net.fit(X, y, **fit) for net in nets]


def assert_close(nets, rtol):
    reference, compiled = nets
    np.testing.assert_allclose(compiled.params, reference.params, rtol=rtol, atol=rtol * 1e-2)


STEPS = dict(epochs=13, batch_size=8)  # 64 rows -> 8 batches x 13 epochs = 104 steps


# ---------------------------------------------------------------- reference vs compiled

@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_hidden_activation_matches_reference(hidden):
    X, y = blobs(64)
    nets = pair([6, 7, 5, 3], activation=hidden, output_activation="sigmoid")
    fit_both(nets, X / 3, y, eta=0.05, lmbda=0.5, **STEPS)
    assert_close(nets, 1e-10)


@pytest.mark.parametrize("cost,output", PAIRS)
def test_every_cost_and_output_matches_reference(cost, output):
    X, y = blobs(64)
    nets = pair([6, 8, 3], activation="tanh", output_activation=output, cost=cost)
    hist = fit_both(nets, X / 3, y, eta=0.05, lmbda=0.5, validation_data=(X[:20] / 3, y[:20]), **STEPS)
    assert_close(nets, 1e-10)
    np.testing.assert_allclose(hist[1].train_cost, hist[0].train_cost, rtol=1e-10)
    np.testing.assert_allclose(hist[1].validation_cost, hist[0].validation_cost, rtol=1e-10)
    assert hist[1].train_accuracy == hist[0].train_accuracy


def test_costs_match_reference_with_dense_targets():
    rng = np.random.default_rng(2)
    X = rng.random((40, 5))
    soft = rng.random((40, 4))
    soft /= soft.sum(axis=1, keepdims=True)  # probability rows: log-likelihood's general form
    for cost, output, Y in (("log_likelihood", "softmax", soft), ("quadratic", "softmax", soft),
                            ("hinge", "identity", soft), ("quadratic", "identity", rng.standard_normal((40, 4)))):
        nets = pair([5, 6, 4], activation="sigmoid", output_activation=output, cost=cost)
        fit_both(nets, X, Y, epochs=15, batch_size=7, eta=0.1)
        assert_close(nets, 1e-10)


@pytest.mark.parametrize("init", sorted(INITIALIZERS))
def test_every_initializer_matches_reference(init):
    X, y = blobs(64)
    nets = pair([6, 9, 3], init=init)
    np.testing.assert_array_equal(nets[0].params, nets[1].params)
    fit_both(nets, X / 3, y, eta=0.2, **STEPS)
    assert_close(nets, 1e-10)


@pytest.mark.parametrize("regularization", ["l2", "l1"])
@pytest.mark.parametrize("dropout", [0.0, 0.3, [0.5, 0.0]])
def test_regularizers_and_dropout_match_reference(regularization, dropout):
    X, y = blobs(64)
    nets = pair([6, 10, 8, 3], activation="relu", output_activation="softmax", cost="log_likelihood",
                dropout=dropout)
    fit_both(nets, X / 3, y, eta=0.05, lmbda=2.0, regularization=regularization, **STEPS)
    assert_close(nets, 1e-10)
    assert nets[0].rng.bit_generator.state == nets[1].rng.bit_generator.state


FLOAT32_CASES = ([(hidden, "log_likelihood", "softmax") for hidden in HIDDEN]
                 + [("tanh", cost, output) for cost, output in PAIRS])


@pytest.mark.parametrize("hidden,cost,output", FLOAT32_CASES)
def test_float32_matches_reference(hidden, cost, output):
    X, y = blobs(64)
    nets = pair([6, 8, 3], dtype="float32", activation=hidden, output_activation=output, cost=cost,
                dropout=0.2)
    fit_both(nets, (X / 3).astype(np.float32), y, eta=0.05, lmbda=1.0, **STEPS)
    assert nets[1].params.dtype == np.float32
    assert_close(nets, 1e-4)


# ---------------------------------------------------------------- gradient checks

@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradcheck_every_hidden_activation(backend, hidden):
    X, y = blobs(7)
    net = nnfast.Network([6, 5, 4, 3], activation=hidden, output_activation="softmax",
                         cost="log_likelihood", backend=backend, seed=3)
    assert nnfast.gradcheck(net, X / 3, y) < 1e-6


def test_every_valid_pair_is_listed():
    assert len(ALL_PAIRS) == 19  # quadratic x 9 outputs, hinge x 8, cross-entropy, log-likelihood
    assert ("cross_entropy", "sigmoid") in ALL_PAIRS and ("hinge", "softmax") not in ALL_PAIRS


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("cost,output", ALL_PAIRS)
def test_gradcheck_every_cost_and_output(backend, cost, output):
    X, y = blobs(7)
    net = nnfast.Network([6, 5, 3], activation="tanh", output_activation=output, cost=cost,
                         backend=backend, seed=4)
    assert nnfast.gradcheck(net, X / 3, y) < 1e-6


def test_gradcheck_samples_restores_and_detects_a_wrong_gradient(monkeypatch):
    X, y = blobs(9)
    net = nnfast.Network([6, 12, 3], seed=5)
    before = net.params.copy()
    assert nnfast.gradcheck(net, X, y, n_samples=20) < 1e-6
    np.testing.assert_array_equal(net.params, before)
    true_gradient = net.gradient
    monkeypatch.setattr(net, "gradient", lambda X, y: 1.01 * true_gradient(X, y))
    assert nnfast.gradcheck(net, X, y) > 1e-3
    np.testing.assert_array_equal(net.params, before)


def test_compiled_gradient_equals_reference_gradient():
    X, y = blobs(11)
    nets = pair([6, 9, 7, 3], activation="elu", output_activation="softmax", cost="log_likelihood")
    np.testing.assert_allclose(nets[1].gradient(X, y), nets[0].gradient(X, y), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------- they learn

@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_hidden_activation_learns(hidden):
    X, y = blobs(150, seed=6)
    net = nnfast.Network([6, 16, 3], activation=hidden, output_activation="softmax",
                         cost="log_likelihood", seed=0)
    history = net.fit(X / 3, y, epochs=40, batch_size=10, eta=0.05)
    assert history.train_cost[-1] < history.train_cost[0] / 3
    assert net.accuracy(X / 3, y) >= 0.95


@pytest.mark.parametrize("cost,output", PAIRS)
def test_every_cost_learns(cost, output):
    X, y = blobs(150, seed=7)
    net = nnfast.Network([6, 16, 3], activation="tanh", output_activation=output, cost=cost, seed=0)
    history = net.fit(X / 3, y, epochs=60, batch_size=10, eta=0.05)
    assert history.train_cost[-1] < history.train_cost[0] / 2
    assert net.accuracy(X / 3, y) >= 0.95


@pytest.mark.parametrize("init", sorted(INITIALIZERS) + ["callable"])
def test_every_initializer_learns(init):
    X, y = blobs(150, seed=8)
    if init == "callable":
        init = lambda rng, n_in, n_out: 0.3 * rng.standard_normal((n_out, n_in))  # noqa: E731
    net = nnfast.Network([6, 16, 3], activation="relu", output_activation="softmax",
                         cost="log_likelihood", init=init, seed=0)
    net.fit(X / 3, y, epochs=40, batch_size=10, eta=0.05)
    assert net.accuracy(X / 3, y) >= 0.95


@pytest.mark.parametrize("regularization,dropout", [("l2", 0.0), ("l1", 0.0), ("l2", 0.3)])
def test_every_regularizer_learns(regularization, dropout):
    X, y = blobs(150, seed=9)
    net = nnfast.Network([6, 32, 3], activation="relu", output_activation="softmax",
                         cost="log_likelihood", dropout=dropout, seed=0)
    net.fit(X / 3, y, epochs=60, batch_size=10, eta=0.05, lmbda=1.0, regularization=regularization)
    assert net.accuracy(X / 3, y) >= 0.95


# ---------------------------------------------------------------- semantics

def test_l2_and_l1_shrink_the_weights_as_the_book_says():
    X, y = blobs(60, seed=10)
    sums = {}
    for regularization in ("l2", "l1"):
        for lmbda in (0.0, 20.0):
            net = nnfast.Network([6, 10, 3], seed=0)
            net.fit(X / 3, y, epochs=30, batch_size=10, eta=0.1, lmbda=lmbda, regularization=regularization)
            weights = np.concatenate([w.ravel() for w in net.weights])
            sums[regularization, lmbda] = (np.sum(weights ** 2), np.sum(np.abs(weights)))
    assert sums["l2", 20.0][0] < sums["l2", 0.0][0] / 2  # L2 shrinks the squared norm
    assert sums["l1", 20.0][1] < sums["l1", 0.0][1] / 2  # L1 shrinks the absolute norm


def test_l1_step_by_hand():
    """W <- W - (eta*lmbda/n) sign(W) - (eta/m) grad, with grad from backprop (here: lmbda only)."""
    net = nnfast.Network([2, 1], activation="identity", cost="quadratic", seed=0)
    net.weights = [[[0.5, -0.25]]]
    net.biases = [[0.0]]
    X, Y = np.array([[0.0, 0.0]]), np.array([[0.0]])  # zero input and error: the gradient is 0
    net.fit(X, Y, epochs=1, batch_size=1, eta=0.5, lmbda=0.2, regularization="l1", shuffle=False)
    np.testing.assert_array_equal(net.weights[0], [[0.5 - 0.1, -0.25 + 0.1]])
    assert net.cost(X, Y) == pytest.approx(0.2 * (0.4 + 0.15))


def test_dropout_masks_come_from_the_network_generator():
    X, y = blobs(30)
    net = nnfast.Network([6, 5, 4, 3], dropout=[0.5, 0.25], seed=7)
    net.fit(X, y, epochs=2, batch_size=10, monitor=False)
    rng = np.random.default_rng(7)
    nnfast.Network([6, 5, 4, 3], seed=rng)  # same initial draws
    for _ in range(2):  # per epoch: permutation, then one uniform per unit of each dropped layer
        rng.permutation(30)
        rng.random((30, 5))
        rng.random((30, 4))
    assert net.rng.bit_generator.state == rng.bit_generator.state


def test_dropout_is_off_at_inference_and_p0_is_no_dropout():
    X, y = blobs(40)
    with_dropout = nnfast.Network([6, 8, 3], dropout=0.5, seed=2)
    plain = nnfast.Network([6, 8, 3], seed=2)
    np.testing.assert_array_equal(with_dropout.feedforward(X), plain.feedforward(X))
    zero = nnfast.Network([6, 8, 3], dropout=0.0, seed=2)
    plain.fit(X, y, epochs=3)
    zero.fit(X, y, epochs=3)
    np.testing.assert_array_equal(zero.params, plain.params)
    first = with_dropout.feedforward(X)
    np.testing.assert_array_equal(with_dropout.feedforward(X), first)  # deterministic


@pytest.mark.parametrize("backend", ["numpy", "cython"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", [n for n in HIDDEN + ["step"]])
def test_activations_are_stable_for_huge_inputs(backend, dtype, name):
    net = nnfast.Network([1, 3, 2], activation=name, output_activation="softmax",
                         cost="log_likelihood", backend=backend, dtype=dtype, seed=0)
    net.weights = [[[1e4], [-1e4], [0.0]], [[1.0, -1.0, 0.5], [-1.0, 1.0, 0.5]]]
    X = np.array([[1.0], [-1.0], [0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = net.feedforward(X)
        cost = net.cost(X, [0, 1, 1])
    assert np.all(np.isfinite(out)) and np.isfinite(cost)
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize("cost,output,hidden,match", [
    ("log_likelihood", "sigmoid", "sigmoid", "needs a 'softmax' output"),
    ("cross_entropy", "softmax", "sigmoid", "needs a 'sigmoid' output"),
    ("cross_entropy", "relu", "sigmoid", "needs a 'sigmoid' output"),
    ("hinge", "softmax", "sigmoid", "does not work with a 'softmax'"),
    ("quadratic", "sigmoid", "softmax", "output layer only"),
])
def test_invalid_pairings_are_refused(cost, output, hidden, match):
    with pytest.raises(ValueError, match=match):
        nnfast.Network([4, 3, 2], activation=hidden, output_activation=output, cost=cost)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(dropout=1.0), ValueError, r"\[0, 1\)"),
    (dict(dropout=-0.1), ValueError, r"\[0, 1\)"),
    (dict(dropout=[0.1]), ValueError, "one per hidden layer"),
    (dict(dropout="half"), TypeError, "numbers"),
    (dict(activation=["relu"], output_activation="sigmoid"), ValueError, "one per hidden layer"),
    (dict(activation=["relu", "relu"]), ValueError, "one per layer"),
    (dict(init=lambda rng, n_in, n_out: np.zeros((2, 2))), ValueError, "init: .*shape"),
])
def test_bad_component_arguments(kwargs, error, match):
    args = dict(sizes=[4, 3, 3, 2])
    args.update(kwargs)
    with pytest.raises(error, match=match):
        nnfast.Network(**args)


def test_parametric_activation_factories():
    assert leaky_relu(0.2).param == 0.2 and elu(0.5).param == 0.5
    with pytest.raises(ValueError, match="positive"):
        leaky_relu(0)
    with pytest.raises(ValueError, match="positive"):
        elu(float("nan"))
    X, y = blobs(40)
    nets = pair([6, 5, 3], activation=[leaky_relu(0.3), "sigmoid"])
    fit_both(nets, X / 3, y, epochs=5, batch_size=4, eta=0.1)
    assert_close(nets, 1e-10)
    assert repr(nets[0]).startswith("Network([6, 5, 3], activation=[leaky_relu,sigmoid]")


def test_regularization_name_is_checked():
    X, y = blobs(20)
    net = nnfast.Network([6, 3], seed=0)
    before = net.params.copy()
    with pytest.raises(ValueError, match="regularization"):
        net.fit(X, y, epochs=1, regularization="l3")
    np.testing.assert_array_equal(net.params, before)


def test_registries_list_what_the_seeds_name():
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus", "identity",
                 "step", "softmax"):
        assert name in ACTIVATIONS
    assert set(COSTS) == {"quadratic", "cross_entropy", "log_likelihood", "hinge"}
    assert {"normal", "scaled_normal", "uniform", "xavier", "glorot", "he"} <= set(INITIALIZERS)


def test_uniform_and_he_initializers_have_the_documented_spread():
    net = nnfast.Network([400, 200, 10], init="uniform", seed=0)
    eps = np.sqrt(6) / np.sqrt(600)
    assert np.abs(net.weights[0]).max() <= eps and np.abs(net.weights[0]).max() > 0.99 * eps
    assert np.all(net.biases[0] == 0)
    he = nnfast.Network([400, 200, 10], init="he", seed=0)
    assert he.weights[0].std() == pytest.approx(np.sqrt(2 / 400), rel=0.03)
    xavier = nnfast.Network([400, 200, 10], init="xavier", seed=0)
    assert xavier.weights[0].std() == pytest.approx(np.sqrt(2 / 600), rel=0.03)


# ---------------------------------------------------------------- maxout

def test_maxout_layer_shapes_and_forward():
    from nnfast.activations import maxout

    net = nnfast.Network([4, 3, 2], activation=[maxout(3), "sigmoid"], seed=0)
    assert net.weights[0].shape == (9, 4) and net.biases[0].shape == (9,)
    assert net.weights[1].shape == (2, 3)
    X = np.random.default_rng(0).standard_normal((5, 4))
    pieces = X @ net.weights[0].T + net.biases[0]
    hidden = pieces.reshape(5, 3, 3).max(axis=2)
    expected = 1 / (1 + np.exp(-(hidden @ net.weights[1].T + net.biases[1])))
    np.testing.assert_allclose(net.feedforward(X), expected, rtol=1e-12)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_maxout_matches_reference(dropout):
    from nnfast.activations import maxout

    X, y = blobs(64)
    nets = pair([6, 5, 4, 3], activation=[maxout(2), maxout(3)], output_activation="softmax",
                cost="log_likelihood", dropout=dropout)
    fit_both(nets, X / 3, y, eta=0.05, lmbda=1.0, validation_data=(X[:9] / 3, y[:9]), **STEPS)
    assert_close(nets, 1e-10)
    np.testing.assert_allclose(nets[1].feedforward(X), nets[0].feedforward(X), rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "cython"])
def test_gradcheck_maxout(backend):
    from nnfast.activations import maxout

    X, y = blobs(7)
    net = nnfast.Network([6, 4, 5, 3], activation=[maxout(2), maxout(4)], output_activation="softmax",
                         cost="log_likelihood", backend=backend, seed=3)
    assert nnfast.gradcheck(net, X / 3, y) < 1e-6


def test_maxout_learns():
    X, y = blobs(150, seed=6)
    net = nnfast.Network([6, 8, 3], activation="maxout", output_activation="softmax",
                         cost="log_likelihood", seed=0)
    net.fit(X / 3, y, epochs=40, batch_size=10, eta=0.05)
    assert net.accuracy(X / 3, y) >= 0.95


def test_maxout_is_hidden_only():
    from nnfast.activations import maxout

    with pytest.raises(ValueError, match="hidden-layer"):
        nnfast.Network([4, 3], activation="maxout", cost="quadratic")
    with pytest.raises(ValueError, match="pieces"):
        maxout(1)
