"""The perceptron, the logic gates with single neurons, and XOR."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnfast
from nnfast.perceptron import TRUTH_TABLES, gate_neuron, gate_perceptron, xor_network

GATES = ["AND", "OR", "NAND", "NOT"]


@pytest.mark.parametrize("name", GATES)
def test_hand_set_perceptron_gates(name):
    X, y = TRUTH_TABLES[name]
    assert gate_perceptron(name).predict(X).tolist() == y


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("name", GATES)
def test_hand_set_sigmoid_neuron_gates(name, backend):
    X, y = TRUTH_TABLES[name]
    out = gate_neuron(name, backend).feedforward(X)[:, 0]
    np.testing.assert_allclose(out, y, atol=1e-4)  # sigmoid(+-10) is within 5e-5 of 0 / 1


def test_not_gate_is_the_seeds_neuron():
    """NOT: h(x) = g(10 - 20 x)."""
    net = gate_neuron("NOT")
    assert net.weights[0].tolist() == [[-20.0]] and net.biases[0].tolist() == [10.0]
    out = net.feedforward([[0.0], [1.0]])[:, 0]
    expected = 1 / (1 + np.exp(-np.array([10.0, -10.0])))
    np.testing.assert_allclose(out, expected, rtol=1e-14)


@pytest.mark.parametrize("name", GATES)
@pytest.mark.parametrize("shuffle", [False, True])
def test_perceptron_rule_learns_separable_gates(name, shuffle):
    X, y = TRUTH_TABLES[name]
    p = nnfast.Perceptron(len(X[0]))
    mistakes = p.fit(X, y, epochs=100, shuffle=shuffle, seed=1)
    assert mistakes[-1] == 0 and len(mistakes) < 100
    assert p.predict(X).tolist() == y


def test_perceptron_rule_by_hand():
    """Start at 0; AND's rows in order, eta 1: (0,0) 0 -> output 0 ok; (0,1): ok; (1,0): ok;
    (1,1): output 0, target 1 -> w = (1, 1), b = 1."""
    p = nnfast.Perceptron(2)
    p.fit([[0, 0], [0, 1], [1, 0], [1, 1]], [0, 0, 0, 1], epochs=1)
    assert p.weights.tolist() == [1.0, 1.0] and p.bias == 1.0


def test_xor_needs_a_hidden_layer():
    X, y = TRUTH_TABLES["XOR"]
    p = nnfast.Perceptron(2)
    mistakes = p.fit(X, y, epochs=200)
    assert len(mistakes) == 200 and min(mistakes) > 0  # never converges
    assert np.mean(p.predict(X) == y) <= 0.75
    for backend in ("cython", "numpy"):
        assert xor_network(backend).predict(X).tolist() == y


def test_step_networks_predict_but_refuse_backprop():
    net = xor_network()
    X, y = TRUTH_TABLES["XOR"]
    before = net.params.copy()
    with pytest.raises(ValueError, match="not differentiable"):
        net.fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="not differentiable"):
        nnfast.gradcheck(net, X, y)
    np.testing.assert_array_equal(net.params, before)


def test_perceptron_refuses_bad_input():
    with pytest.raises(ValueError):
        nnfast.Perceptron(2, weights=[1.0])
    p = nnfast.Perceptron(2)
    with pytest.raises(ValueError):
        p.fit([[0, 1]], [3])
    with pytest.raises(ValueError):
        p.predict([[0, 1, 2]])


def test_logic_gates_example_runs():
    example = Path(__file__).resolve().parents[2] / "examples" / "logic_gates.py"
    if not example.exists():
        pytest.skip("the examples folder is not next to the tests (installed tests only)")
    package_parent = str(Path(nnfast.__file__).resolve().parents[1])  # the nnfast these tests use
    env = dict(os.environ, PYTHONPATH=package_parent)
    out = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr
    assert "WRONG" not in out.stdout
    assert out.stdout.count(" ok") == 14
