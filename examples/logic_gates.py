"""Logic gates with single neurons (the book's chapter 1 and the seeds' notes), then XOR.

Run: python examples/logic_gates.py
"""

import numpy as np

import nnfast
from nnfast.perceptron import TRUTH_TABLES, gate_neuron, gate_perceptron, xor_network


def show(name, outputs):
    X, y = TRUTH_TABLES[name]
    rows = ", ".join(f"{tuple(x)}->{o}" for x, o in zip(X, outputs))
    print(f"  {name:5s} {rows}   {'ok' if list(outputs) == y else 'WRONG'}")


print("Hand-set perceptrons (output 1 if w.x + b > 0):")
for name in ("AND", "OR", "NAND", "NOT"):
    show(name, gate_perceptron(name).predict(TRUTH_TABLES[name][0]))

print("Hand-set sigmoid neurons with large weights, e.g. NOT: h(x) = sigmoid(10 - 20 x):")
for name in ("AND", "OR", "NAND", "NOT"):
    net = gate_neuron(name)
    out = net.feedforward(TRUTH_TABLES[name][0])[:, 0]
    show(name, list((out > 0.5).astype(int)))
    print(f"        outputs {np.round(out, 5).tolist()}")

print("Learned by the perceptron rule (mistakes per epoch until none):")
for name in ("AND", "OR", "NAND", "NOT"):
    X, y = TRUTH_TABLES[name]
    p = nnfast.Perceptron(len(X[0]))
    mistakes = p.fit(X, y, epochs=50)
    show(name, p.predict(X))
    print(f"        {mistakes}  ->  {p}")

X, y = TRUTH_TABLES["XOR"]
p = nnfast.Perceptron(2)
mistakes = p.fit(X, y, epochs=50)
print(f"XOR with one perceptron: still {mistakes[-1]} mistakes after {len(mistakes)} epochs (not separable)")
print("XOR from gates, AND(NAND(x), OR(x)), a two-layer network of step units:")
show("XOR", xor_network().predict(X))
net = nnfast.Network([2, 3, 1], seed=0)
net.fit(X, y, epochs=3000, batch_size=4, eta=2.0, monitor=False)
print("XOR learned by backprop with a hidden layer of 3 sigmoid neurons:")
show("XOR", net.predict(X))
