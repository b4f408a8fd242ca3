"""nnfast.book: the API of the book's network.py, network2.py and mnist_loader.py, run by nnfast.

Three kinds of checks: the facade against `nnfast.Network` driven directly (same seed, so the same
initial weights and batch order: bit-for-bit), the facade against the book's algorithm written out
here example by example in NumPy (to rounding), and the book's formats (data, printing, JSON).
"""

import gzip
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import nnfast
from nnfast.book import mnist_loader, network, network2
from nnfast.datasets import MNIST_FILES, load_mnist
from nnfast.initializers import scaled_normal

MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
HAVE_MNIST = all((MNIST_DIR / name).is_file() for name in MNIST_FILES.values())
NO_MNIST = f"real MNIST not found in {MNIST_DIR} (the shared data folder is absent)"
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason=NO_MNIST)


# ------------------------------------------------------------------------------------- helpers

def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def book_backprop(weights, biases, x, y, delta):
    """The book's backprop for one example, written out (columns; delta(z, a, y) of the cost)."""
    activations, zs = [x], []
    for w, b in zip(weights, biases):
        zs.append(w @ activations[-1] + b)
        activations.append(sigmoid(zs[-1]))
    d = delta(zs[-1], activations[-1], y)
    nabla_b, nabla_w = [None] * len(weights), [None] * len(weights)
    for l in reversed(range(len(weights))):
        nabla_b[l] = d
        nabla_w[l] = d @ activations[l].T
        if l > 0:
            s = sigmoid(zs[l - 1])
            d = (weights[l].T @ d) * s * (1 - s)
    return nabla_b, nabla_w


def book_sgd(weights, biases, data, orders, batch, eta, lmbda, delta):
    """The book's mini-batch SGD, one example at a time, visiting the rows in the given orders."""
    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]
    n = len(data)
    for order in orders:
        for k in range(0, n, batch):
            batch_rows = order[k:k + batch]
            sum_b = [np.zeros_like(b) for b in biases]
            sum_w = [np.zeros_like(w) for w in weights]
            for i in batch_rows:
                nb, nw = book_backprop(weights, biases, data[i][0], data[i][1], delta)
                sum_b = [s + g for s, g in zip(sum_b, nb)]
                sum_w = [s + g for s, g in zip(sum_w, nw)]
            m = len(batch_rows)
            weights = [(1 - eta * lmbda / n) * w - (eta / m) * g for w, g in zip(weights, sum_w)]
            biases = [b - (eta / m) * g for b, g in zip(biases, sum_b)]
    return weights, biases


def book_total_cost(weights, biases, data, lmbda, fn, n_out):
    """The book's total_cost on (x, label) data."""
    total = 0.0
    for x, label in data:
        a = x
        for w, b in zip(weights, biases):
            a = sigmoid(w @ a + b)
        total += fn(a, np.eye(n_out)[:, [label]]) / len(data)
    return total + 0.5 * (lmbda / len(data)) * sum(np.sum(w * w) for w in weights)


def synthetic(n, n_in=6, n_out=3, seed=0):
    """Book-format data: training pairs (x column, one-hot column) and test pairs (x, label)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in))
    labels = np.argmax(X @ rng.standard_normal((n_in, n_out)), axis=1)
    training = [(x.reshape(-1, 1), np.eye(n_out)[:, [k]]) for x, k in zip(X, labels)]
    test = [(x.reshape(-1, 1), int(k)) for x, k in zip(X, labels)]
    return training, test, X, labels


@pytest.fixture(scope="module")
def book_mnist():
    if not HAVE_MNIST:
        pytest.skip(NO_MNIST)
    return mnist_loader.load_data_wrapper(MNIST_DIR)


@pytest.fixture(scope="module")
def mnist_arrays():
    if not HAVE_MNIST:
        pytest.skip(NO_MNIST)
    return load_mnist(MNIST_DIR)


# ------------------------------------------------------------- the facade against nnfast, on MNIST

@pytest.mark.mnist
@needs_mnist
def test_network_matches_nnfast_on_mnist(book_mnist, mnist_arrays, capsys):
    training, _, test = book_mnist
    (X, y), _, (X_test, y_test) = mnist_arrays
    net = network.Network([784, 30, 10], seed=11)
    initial = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    net.SGD(training[:1000], 2, 10, 3.0, test_data=test[:200])
    printed = capsys.readouterr().out

    direct = nnfast.Network([784, 30, 10], cost="quadratic", init="normal", seed=11)
    for mine, theirs in zip(initial[0] + initial[1], list(direct.weights) + list(direct.biases)):
        assert np.array_equal(mine.ravel(), theirs.ravel())  # same seed: same initial weights
    history = direct.fit(X[:1000], y[:1000], epochs=2, batch_size=10, eta=3.0,
                         validation_data=(X_test[:200], y_test[:200]), monitor=False)
    for mine, theirs in zip(net.weights, direct.weights):
        assert np.array_equal(mine, theirs)
    for mine, theirs in zip(net.biases, direct.biases):
        assert mine.shape == (theirs.size, 1) and np.array_equal(mine[:, 0], theirs)
    counts = [round(a * 200) for a in history.validation_accuracy]
    assert printed == f"Epoch 0: {counts[0]} / 200\nEpoch 1: {counts[1]} / 200\n"
    assert net.evaluate(test[:200]) == counts[1]
    assert counts[1] > 50  # it learned something (chance: about 20 of 200)


@pytest.mark.mnist
@needs_mnist
def test_network2_matches_nnfast_on_mnist(book_mnist, mnist_arrays, capsys):
    training, validation, _ = book_mnist
    (X, y), (X_val, y_val), _ = mnist_arrays
    net = network2.Network([784, 30, 10], seed=5)
    lists = net.SGD(training[:1000], 2, 10, 0.5, lmbda=5.0, evaluation_data=validation[:200],
                    monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
                    monitor_training_cost=True, monitor_training_accuracy=True)
    printed = capsys.readouterr().out

    direct = nnfast.Network([784, 30, 10], cost="cross_entropy", init="scaled_normal", seed=5)
    h = direct.fit(X[:1000], y[:1000], epochs=2, batch_size=10, eta=0.5, lmbda=5.0,
                   validation_data=(X_val[:200], y_val[:200]), monitor=True)
    for mine, theirs in zip(net.weights, direct.weights):
        assert np.array_equal(mine, theirs)
    for mine, theirs in zip(net.biases, direct.biases):
        assert np.array_equal(mine[:, 0], theirs)
    expected = (h.validation_cost, [round(a * 200) for a in h.validation_accuracy],
                h.train_cost, [round(a * 1000) for a in h.train_accuracy])
    assert lists == expected
    assert all(type(v) is int for v in lists[1] + lists[3])
    assert all(type(v) is float for v in lists[0] + lists[2])
    lines = []
    for j in range(2):
        lines += [f"Epoch {j} training complete",
                  f"Cost on training data: {expected[2][j]}",
                  f"Accuracy on training data: {expected[3][j]} / 1000",
                  f"Cost on evaluation data: {expected[0][j]}",
                  f"Accuracy on evaluation data: {expected[1][j]} / 200", ""]
    assert printed == "\n".join(lines) + "\n"
    # the monitors are the book's definitions, measured again on the final network
    assert net.accuracy(validation[:200]) == lists[1][-1]
    assert net.accuracy(training[:1000], convert=True) == lists[3][-1]
    assert net.total_cost(training[:1000], 5.0) == pytest.approx(lists[2][-1], rel=1e-12)
    assert net.total_cost(validation[:200], 5.0, convert=True) == pytest.approx(lists[0][-1],
                                                                                rel=1e-12)
    assert lists[1][-1] > 140


# ------------------------------------------------------ the facade against the book's algorithm

@pytest.mark.parametrize("cost, lmbda", [(network2.CrossEntropyCost, 3.0),
                                         (network2.QuadraticCost, 0.0)])
def test_network2_is_the_books_algorithm(cost, lmbda):
    training, test, _, _ = synthetic(23)  # 23 rows, batches of 5: the last one has 3
    seed, sizes, epochs = 4, [6, 5, 3], 2
    rng = np.random.default_rng(seed)  # the Generator's draws replayed: initial values, orders
    weights, biases = scaled_normal(rng, [(5, 6), (3, 5)])
    orders = [rng.permutation(23) for _ in range(epochs)]

    net = network2.Network(sizes, cost=cost, seed=seed, backend="numpy")
    for mine, drawn in zip(net.weights + net.biases, weights + biases):
        assert np.array_equal(mine.ravel(), drawn.ravel())
    lists = net.SGD(training, epochs, 5, 0.8, lmbda=lmbda, evaluation_data=test,
                    monitor_evaluation_cost=True)
    book_w, book_b = book_sgd(weights, [b.reshape(-1, 1) for b in biases], training, orders, 5,
                              0.8, lmbda, cost.delta)
    for mine, theirs in zip(net.weights + net.biases, book_w + book_b):
        np.testing.assert_allclose(mine, theirs, rtol=1e-11, atol=1e-13)
    assert lists[0][-1] == pytest.approx(book_total_cost(book_w, book_b, test, lmbda, cost.fn, 3),
                                         rel=1e-11)


def test_network_is_the_books_algorithm_on_both_backends():
    training, test, _, _ = synthetic(17, seed=1)
    results = []
    for backend in ("cython", "numpy"):
        net = network.Network([6, 4, 3], seed=9, backend=backend)
        rng = np.random.default_rng(9)
        start_b = [rng.standard_normal((4, 1)), rng.standard_normal((3, 1))]  # biases first,
        start_w = [rng.standard_normal((4, 6)), rng.standard_normal((3, 4))]  # then weights
        orders = [rng.permutation(17) for _ in range(3)]
        for mine, drawn in zip(net.weights + net.biases, start_w + start_b):
            assert np.array_equal(mine, drawn)
        net.SGD(training, 3, 4, 2.0)
        book_w, book_b = book_sgd(start_w, start_b, training, orders, 4, 2.0, 0.0,
                                  network2.QuadraticCost.delta)
        for mine, theirs in zip(net.weights + net.biases, book_w + book_b):
            np.testing.assert_allclose(mine, theirs, rtol=1e-11, atol=1e-13)
        results.append(net.weights + net.biases)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_backprop_and_update_mini_batch_are_the_books():
    training, _, _, _ = synthetic(7, seed=2)
    net = network2.Network([6, 5, 3], seed=0)
    weights, biases = [w.copy() for w in net.weights], [b.copy() for b in net.biases]
    nabla_b, nabla_w = net.backprop(*training[0])
    book_b, book_w = book_backprop(weights, biases, *training[0], network2.CrossEntropyCost.delta)
    for mine, theirs in zip(nabla_b + nabla_w, book_b + book_w):
        assert mine.shape == theirs.shape
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-15)
    net.update_mini_batch(training, 0.5, 2.0, 70)  # one step; weight decay with n = 70, not 7
    grads = [book_backprop(weights, biases, x, y, network2.CrossEntropyCost.delta)
             for x, y in training]
    sum_b = [sum(g[0][l] for g in grads) for l in range(2)]
    sum_w = [sum(g[1][l] for g in grads) for l in range(2)]
    expected_w = [(1 - 0.5 * 2.0 / 70) * w - (0.5 / 7) * g for w, g in zip(weights, sum_w)]
    expected_b = [b - (0.5 / 7) * g for b, g in zip(biases, sum_b)]
    for mine, theirs in zip(net.weights + net.biases, expected_w + expected_b):
        np.testing.assert_allclose(mine, theirs, rtol=1e-11, atol=1e-14)
    assert network.Network([2, 1]).cost_derivative(np.array([[0.75]]), np.array([[1.0]])) == -0.25


# ------------------------------------------------------------------------------ network.py

def test_network_attributes_and_initial_statistics():
    net = network.Network([400, 200, 10], seed=0)
    assert net.sizes == [400, 200, 10] and net.num_layers == 3
    assert [w.shape for w in net.weights] == [(200, 400), (10, 200)]
    assert [b.shape for b in net.biases] == [(200, 1), (10, 1)]
    assert abs(net.weights[0].std() - 1) < 0.02 and abs(net.weights[0].mean()) < 0.02
    again = network.Network([400, 200, 10], seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(net.weights + net.biases,
                                                     again.weights + again.biases))
    assert "Network([400, 200, 10]" in repr(net)


def test_feedforward_on_columns():
    net = network.Network([3, 4, 2], seed=1)
    x = np.array([[0.5], [-1.0], [2.0]])
    expected = sigmoid(net.weights[1] @ sigmoid(net.weights[0] @ x + net.biases[0]) + net.biases[1])
    out = net.feedforward(x)
    assert out.shape == (2, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-13)
    block = np.hstack([x, 2 * x, -x])  # (n_in, k) columns, as the book's broadcasting allows
    np.testing.assert_allclose(net.feedforward(block)[:, [1]], net.feedforward(2 * x), rtol=1e-13)
    with pytest.raises(ValueError, match=r"shape \(3, 1\).*got shape \(3,\).*reshape"):
        net.feedforward(x.ravel())
    with pytest.raises(ValueError, match="shape"):
        net.feedforward(np.ones((4, 1)))


def test_evaluate_counts_with_hand_set_weights():
    net = network.Network([2, 2], seed=0)
    net.weights = [np.array([[10.0, 0.0], [0.0, 10.0]])]  # output j is largest where x_j is
    net.biases = [np.zeros((2, 1))]
    xs = [np.array([[a], [b]]) for a, b in [(0.9, 0.1), (0.2, 0.7), (0.6, 0.5), (0.1, 0.3)]]
    labels = [0, 1, 1, 0]  # right, right, wrong, wrong
    assert net.evaluate(list(zip(xs, labels))) == 2
    assert net.evaluate(list(zip(xs, [0, 1, 0, 1]))) == 4
    assert net.evaluate(zip(xs, np.array([1, 0, 1, 0]))) == 0  # numpy int labels, a zip
    assert net.evaluate([]) == 0
    net.biases[0][:] = [[0.0], [100.0]]  # an in-place edit takes effect: now always 1
    assert net.evaluate(list(zip(xs, labels))) == 2
    assert net.evaluate(list(zip(xs, [1, 1, 1, 1]))) == 4


def test_sgd_prints_with_and_without_test_data(capsys):
    training, test, _, _ = synthetic(30)
    net = network.Network([6, 5, 3], seed=3)
    net.SGD(training, 3, 10, 3.0)
    assert capsys.readouterr().out == "Epoch 0 complete\nEpoch 1 complete\nEpoch 2 complete\n"
    net.SGD(training, 2, 10, 3.0, test_data=test)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Epoch 0", "Epoch 1"]
    assert lines[-1] == f"Epoch 1: {net.evaluate(test)} / 30"
    net.SGD(training, 1, 10, 3.0, test_data=[])  # empty: the book's `if test_data` is false
    assert capsys.readouterr().out == "Epoch 0 complete\n"
    net.SGD(training, 0, 10, 3.0)
    assert capsys.readouterr().out == ""


def test_weights_sync_both_ways():
    training, _, X, labels = synthetic(40)
    net = network.Network([6, 5, 3], seed=2)
    chosen_w = [np.full((5, 6), 0.1), np.linspace(-1, 1, 15).reshape(3, 5)]
    chosen_b = [np.zeros((5, 1)), np.ones((3, 1))]
    net.weights, net.biases = chosen_w, chosen_b  # assigned before SGD: training starts here
    before = net.weights[0]
    net.SGD(training, 2, 8, 1.0)
    direct = nnfast.Network([6, 5, 3], cost="quadratic", init="normal", seed=2)
    direct.weights = chosen_w
    direct.biases = [b.ravel() for b in chosen_b]
    direct.fit(X, labels, epochs=2, batch_size=8, eta=1.0, monitor=False)
    for mine, theirs in zip(net.weights, direct.weights):
        assert np.array_equal(mine, theirs)
    assert np.array_equal(before, np.full((5, 6), 0.1))  # as in the book: new arrays, old ones kept
    assert net.weights[0] is not before


# ------------------------------------------------------------------------------ network2.py

@pytest.mark.parametrize("flag, index, line", [
    ("monitor_evaluation_cost", 0, "Cost on evaluation data: {}"),
    ("monitor_evaluation_accuracy", 1, "Accuracy on evaluation data: {} / 25"),
    ("monitor_training_cost", 2, "Cost on training data: {}"),
    ("monitor_training_accuracy", 3, "Accuracy on training data: {} / 50"),
])
def test_each_monitor_flag(flag, index, line, capsys):
    training, test, _, _ = synthetic(50)
    evaluation = test[:25]
    net = network2.Network([6, 5, 3], seed=8)
    lists = net.SGD(training, 2, 10, 0.5, lmbda=1.0, evaluation_data=evaluation, **{flag: True})
    assert [len(values) for values in lists] == [2 if i == index else 0 for i in range(4)]
    values = lists[index]
    printed = capsys.readouterr().out
    assert printed == "".join(f"Epoch {j} training complete\n{line.format(v)}\n\n"
                              for j, v in enumerate(values))
    final = {0: net.total_cost(evaluation, 1.0, convert=True), 1: net.accuracy(evaluation),
             2: net.total_cost(training, 1.0), 3: net.accuracy(training, convert=True)}[index]
    assert values[-1] == pytest.approx(final, rel=1e-12)
    assert isinstance(values[-1], int if index in (1, 3) else float)


def test_sgd_without_monitors_and_its_checks(capsys):
    training, test, _, _ = synthetic(20)
    net = network2.Network([6, 5, 3], seed=8)
    assert net.SGD(training, 2, 10, 0.5) == ([], [], [], [])
    assert capsys.readouterr().out == "Epoch 0 training complete\n\nEpoch 1 training complete\n\n"
    with pytest.raises(ValueError, match="need evaluation_data"):
        net.SGD(training, 1, 10, 0.5, monitor_evaluation_accuracy=True)
    with pytest.raises(ValueError, match="empty"):
        net.SGD(training, 1, 10, 0.5, evaluation_data=[], monitor_evaluation_cost=True)
    with pytest.raises(ValueError, match="lmbda"):
        net.SGD(training, 1, 10, 0.5, lmbda=-1.0)
    assert capsys.readouterr().out == ""  # refused before any epoch ran


def test_cost_classes_against_hand_values():
    a, y, z = np.array([[0.2], [0.9]]), np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]])
    assert network2.QuadraticCost.fn(a, y) == pytest.approx(0.5 * (0.04 + 0.01), rel=1e-14)
    s1 = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(network2.QuadraticCost.delta(z, a, y),
                               [[0.2 * 0.25], [-0.1 * s1 * (1 - s1)]], rtol=1e-14)
    expected = -np.log(0.8) - np.log(0.9)
    assert network2.CrossEntropyCost.fn(a, y) == pytest.approx(expected, rel=1e-14)
    np.testing.assert_allclose(network2.CrossEntropyCost.delta(z, a, y), [[0.2], [-0.1]],
                               rtol=1e-15)
    # the book's nan_to_num: a saturated right unit costs 0, a saturated wrong one the largest float
    assert network2.CrossEntropyCost.fn(np.array([[1.0]]), np.array([[1.0]])) == 0.0
    assert network2.CrossEntropyCost.fn(np.array([[1.0]]), np.array([[0.0]])) == np.finfo(float).max
    np.testing.assert_array_equal(network2.vectorized_result(3), np.eye(10)[:, [3]])


def test_cost_choice_reassignment_and_custom_costs():
    training, test, _, _ = synthetic(12)
    net = network2.Network([6, 4, 3], seed=1)
    weights = [w.copy() for w in net.weights]
    biases = [b.copy() for b in net.biases]
    for cost in (network2.CrossEntropyCost, network2.QuadraticCost):
        net.cost = cost  # takes effect at the next call, as in the book
        expected = book_total_cost(weights, biases, test, 2.0, cost.fn, 3)
        assert net.total_cost(test, 2.0, convert=True) == pytest.approx(expected, rel=1e-12)

    class MyCost(network2.CrossEntropyCost):
        @staticmethod
        def fn(a, y):
            return 0.0

    with pytest.raises(ValueError, match="QuadraticCost or CrossEntropyCost"):
        network2.Network([6, 3], cost=MyCost)
    net.cost = MyCost
    with pytest.raises(ValueError, match="QuadraticCost or CrossEntropyCost"):
        net.accuracy(test)

    class Renamed(network2.QuadraticCost):  # an unmodified subclass runs as its parent
        pass

    assert network2.Network([6, 3], cost=Renamed, seed=0).total_cost(training, 0.0) > 0


def test_default_and_large_weight_initializers():
    net = network2.Network([400, 200, 10], seed=0)
    default_std = [w.std() for w in net.weights]
    np.testing.assert_allclose(default_std, [1 / np.sqrt(400), 1 / np.sqrt(200)], rtol=0.03)
    direct = nnfast.Network([400, 200, 10], init="scaled_normal", seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(net.weights, direct.weights))
    net.large_weight_initializer()
    assert abs(net.weights[0].std() - 1) < 0.02 and abs(net.weights[1].std() - 1) < 0.05
    assert abs(np.concatenate(net.biases).std() - 1) < 0.2
    assert [b.shape for b in net.biases] == [(200, 1), (10, 1)]
    net.default_weight_initializer()  # draws again: new values, the default spread
    assert abs(net.weights[0].std() - 1 / 20) < 0.0015
    assert not np.array_equal(net.weights[0], direct.weights[0])


def test_save_and_load_in_the_books_json(tmp_path):
    net = network2.Network([4, 3, 2], cost=network2.QuadraticCost, seed=6)
    path = tmp_path / "net.json"
    net.save(path)
    data = json.loads(path.read_text())
    assert sorted(data) == ["biases", "cost", "sizes", "weights"]
    assert data["sizes"] == [4, 3, 2] and data["cost"] == "QuadraticCost"
    assert np.array(data["weights"][0]).shape == (3, 4)
    assert np.array(data["biases"][1]).shape == (2, 1)  # columns, as the book's tolist() gives
    loaded = network2.load(path)
    assert loaded.cost is network2.QuadraticCost and loaded.sizes == [4, 3, 2]
    for a, b in zip(net.weights + net.biases, loaded.weights + loaded.biases):
        assert a.shape == b.shape and np.array_equal(a, b)  # JSON floats round-trip exactly
    x = np.linspace(0, 1, 4).reshape(4, 1)
    assert np.array_equal(net.feedforward(x), loaded.feedforward(x))

    book_file = tmp_path / "book.json"  # written by hand in the book's format
    book_file.write_text(json.dumps({"sizes": [2, 1], "weights": [[[1.0, -2.0]]],
                                     "biases": [[[0.5]]], "cost": "CrossEntropyCost"}))
    book_net = network2.load(book_file, backend="numpy")
    assert book_net.cost is network2.CrossEntropyCost
    assert book_net.feedforward(np.array([[1.0], [1.0]]))[0, 0] == pytest.approx(sigmoid(-0.5))

    book_file.write_text(json.dumps({"sizes": [2, 1], "weights": [[[1.0, -2.0]]],
                                     "biases": [[[0.5]]], "cost": "LogLikelihoodCost"}))
    with pytest.raises(ValueError, match="unknown cost"):
        network2.load(book_file)
    book_file.write_text(json.dumps({"sizes": [2, 1], "weights": [[[1.0, -2.0, 3.0]]],
                                     "biases": [[[0.5]]], "cost": "QuadraticCost"}))
    with pytest.raises(ValueError, match=r"weights\[0\] must have shape \(1, 2\)"):
        network2.load(book_file)


# ------------------------------------------------------------------------------ data formats

def test_zip_objects_are_accepted_once():
    training, test, _, _ = synthetic(30)
    listed = network.Network([6, 5, 3], seed=4)
    listed.SGD(training, 2, 10, 3.0, test_data=test)
    zipped = network.Network([6, 5, 3], seed=4)
    train_zip = zip([x for x, _ in training], [y for _, y in training])
    zipped.SGD(train_zip, 2, 10, 3.0, test_data=zip([x for x, _ in test], [k for _, k in test]))
    for a, b in zip(listed.weights + listed.biases, zipped.weights + zipped.biases):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="empty.*zip object"):
        zipped.SGD(train_zip, 1, 10, 3.0)  # used up by the first call
    assert network2.Network([6, 5, 3], seed=0).accuracy(iter(test)) >= 0


def test_wrong_shapes_give_clear_errors(capsys):
    training, test, _, _ = synthetic(10)
    net = network2.Network([6, 5, 3], seed=0)
    flat_x = [(x.ravel(), y) for x, y in training]
    with pytest.raises(ValueError, match=r"training_data\[0\]: x must be a column vector of "
                                         r"shape \(6, 1\).*got shape \(6,\)"):
        net.SGD(flat_x, 1, 5, 0.5)
    with pytest.raises(ValueError, match=r"training_data\[0\]: y is the integer label"):
        net.SGD(test, 1, 5, 0.5)  # labels where training needs target columns
    with pytest.raises(ValueError, match=r"training_data\[2\]: y must be a column vector of "
                                         r"shape \(3, 1\)"):
        net.SGD(training[:2] + [(training[2][0], np.ones((4, 1)))], 1, 5, 0.5)
    with pytest.raises(ValueError, match=r"evaluation_data\[0\]: y must be an integer label"):
        net.SGD(training, 1, 5, 0.5, evaluation_data=training, monitor_evaluation_accuracy=True)
    with pytest.raises(ValueError, match="label 7 is outside"):
        net.accuracy([(test[0][0], 7)])
    with pytest.raises(ValueError, match=r"data\[0\] must be an \(x, y\) pair"):
        net.accuracy([test[0][0]])
    with pytest.raises(TypeError, match="list of"):
        net.SGD(None, 1, 5, 0.5)
    with pytest.raises(ValueError, match="x must be a column"):
        network.Network([6, 3]).evaluate([(np.ones((7, 1)), 0)])
    net.biases = [np.zeros(5), np.zeros((3, 1))]  # the book's biases are (n, 1) columns
    with pytest.raises(ValueError, match=r"biases\[0\] must be a column vector of shape \(5, 1\)"):
        net.feedforward(test[0][0])
    net.biases = [np.zeros((5, 1))]
    with pytest.raises(ValueError, match="biases must hold 2 arrays"):
        net.feedforward(test[0][0])
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------------------ mnist_loader

@pytest.mark.mnist
@needs_mnist
def test_load_data_and_wrapper_formats(book_mnist, mnist_arrays):
    loaded = mnist_loader.load_data(MNIST_DIR)
    for (X, y), (X2, y2), n in zip(loaded, mnist_arrays, (50_000, 10_000, 10_000)):
        assert X.shape == (n, 784) and X.dtype == np.float32 and y.shape == (n,)
        assert y.dtype == np.int64 and np.array_equal(X, X2) and np.array_equal(y, y2)
    training, validation, test = book_mnist
    assert [type(d) for d in book_mnist] == [list, list, list]
    assert [len(d) for d in book_mnist] == [50_000, 10_000, 10_000]
    x, y = training[123]
    assert x.shape == (784, 1) and x.dtype == np.float32 and y.shape == (10, 1)
    assert np.array_equal(x[:, 0], loaded[0][0][123])
    assert np.array_equal(y, mnist_loader.vectorized_result(loaded[0][1][123]))
    x, label = test[45]
    assert x.shape == (784, 1) and isinstance(label, np.integer) and label == loaded[2][1][45]
    assert validation[-1][1] == loaded[1][1][-1]


@pytest.mark.mnist
@needs_mnist
def test_load_data_equals_the_books_pickle():
    pickled = MNIST_DIR / "mnist.pkl.gz"
    if not pickled.is_file():
        pytest.skip(f"{pickled} is absent")
    with gzip.open(pickled, "rb") as f:  # the project's own data file: what the book's loader reads
        book = pickle.load(f, encoding="latin1")
    for (X, y), (X_book, y_book) in zip(mnist_loader.load_data(MNIST_DIR), book):
        assert np.array_equal(X, X_book) and np.array_equal(y, y_book)


@pytest.mark.mnist
@needs_mnist
def test_loader_default_directory_and_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("NNFAST_DATA", str(MNIST_DIR))
    assert len(mnist_loader.load_data()[2][0]) == 10_000
    monkeypatch.setenv("NNFAST_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="NNFAST_DATA"):
        mnist_loader.load_data_wrapper(download=False)
    # By default the missing files are downloaded there (here from a mirror that refuses).
    with pytest.raises(OSError, match="connection refused") as info:
        mnist_loader.load_data_wrapper()
    assert str(tmp_path / "nowhere") in str(info.value)
    with pytest.raises(ValueError, match="is a file"):
        mnist_loader.load_data(MNIST_DIR / "mnist.pkl.gz")


def test_loader_errors_name_both_accepted_forms(tmp_path):
    """The loader reads a directory with the four idx files or the book's mnist.pkl.gz (through
    the restricted unpickler); its errors must say so, not that no pickle is read."""
    from nnfast.datasets import BOOK_PICKLE, MNIST_FILES

    with pytest.raises(FileNotFoundError) as info:
        mnist_loader.load_data(tmp_path)  # an empty directory (nothing downloaded for a given path)
    message = str(info.value)
    assert str(tmp_path) in message and BOOK_PICKLE in message
    assert all(name in message for name in MNIST_FILES.values())
    pickled = tmp_path / BOOK_PICKLE
    pickled.write_bytes(b"")
    with pytest.raises(ValueError, match="is a file") as info:
        mnist_loader.load_data_wrapper(pickled)
    message = str(info.value)
    assert f"the book's {BOOK_PICKLE}" in message and "does not read" not in message
    assert all(name in message for name in MNIST_FILES.values())
