"""Epoch times of two nnfast installations in one run, alternating: the dense fast path and the
chapter-6 conv net, before and after a change.

    python benches/bench_before_after.py --old /path/to/old/venv/bin/python \
        --new /path/to/new/venv/bin/python [--rounds 5] [--mnist ../shared/data/mnist]

Each round runs one child process per installation (old, new, then new, old in the next round, so
neither always goes first); each child times a few epochs of every configuration with the compiled
backend on one thread and reports the median epoch (History.seconds: the training pass alone). The
table gives, per configuration, the median over rounds and the ratio new / old (below 1: faster).
"""

import argparse
import json
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
import numpy as np
import nnfast
from nnfast import Conv2D, Dense, Dropout, Flatten, MaxPool2D, Sequential
from nnfast.datasets import load_mnist

path = sys.argv[1]
(X, y), _, _ = load_mnist(path if path != "-" else None, dtype="float64")
results = {}

def median_epoch(net, X, y, batch_size, eta, epochs):
    net.fit(X, y, epochs=epochs, batch_size=batch_size, eta=eta, monitor=False)
    return float(np.median(net.history.seconds))

X64 = np.ascontiguousarray(X[:10000])
net = nnfast.Network([784, 30, 10], dtype="float64", seed=0, n_threads=1)
results["dense [784,30,10] b10 float64, 10k rows"] = median_epoch(net, X64, y[:10000], 10, 0.5, 5)

X32 = np.ascontiguousarray(X[:3000], dtype=np.float32)
for batch in (10, 64):
    net = Sequential([Conv2D(20, 5, activation="relu"), MaxPool2D(2),
                      Conv2D(40, 5, activation="relu"), MaxPool2D(2), Flatten(),
                      Dense(100, "relu"), Dropout(0.5), Dense(10, "softmax")],
                     (1, 28, 28), cost="log_likelihood", init="he", dtype="float32", seed=0,
                     n_threads=1)
    results[f"chapter-6 conv b{batch} float32, 3k rows"] = median_epoch(net, X32, y[:3000], batch,
                                                                         0.03, 3)
print(json.dumps(results))
"""


def run(python, mnist):
    out = subprocess.run([python, "-c", CHILD, mnist], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="the python of the installation before")
    parser.add_argument("--new", required=True, help="the python of the installation after")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mnist", default="-", help="MNIST folder (default: nnfast's own lookup)")
    args = parser.parse_args(argv)
    times = {"old": [], "new": []}
    for round_ in range(args.rounds):
        order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
        for which in order:
            times[which].append(run(getattr(args, which), args.mnist))
            print(f"round {round_ + 1} {which}: {times[which][-1]}", file=sys.stderr, flush=True)
    print("| configuration | before (s/epoch) | after (s/epoch) | after / before |")
    print("|---|---|---|---|")
    for key in times["old"][0]:
        old = statistics.median(t[key] for t in times["old"])
        new = statistics.median(t[key] for t in times["new"])
        print(f"| {key} | {old:.3f} | {new:.3f} | {new / old:.3f} |")


if __name__ == "__main__":
    main()
