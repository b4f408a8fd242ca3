"""Train on your own data: a CSV file (label in a column) or an .npz (X and y), with a validation
split, as `nnfast train --data FILE --validation-split 0.2` does.

Run: python examples/custom_data.py [EPOCHS]   (default 30; or NNFAST_EXAMPLE_EPOCHS)
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

import nnfast
from nnfast.datasets import load_data, train_validation_split

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("NNFAST_EXAMPLE_EPOCHS", 30))

# Three classes of points in 2-D, written as a CSV with a header and the label in the last column.
rng = np.random.default_rng(0)
centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
labels = rng.integers(0, 3, 600)
points = centres[labels] + rng.normal(size=(600, 2))
folder = Path(tempfile.mkdtemp())
csv = folder / "points.csv"
np.savetxt(csv, np.column_stack([points, labels]), delimiter=",", header="x,y,class", comments="",
           fmt=["%.5f", "%.5f", "%d"])

X, y = load_data(csv, label_column="class")             # or label_column=-1 (the last column)
(X, y), (X_val, y_val) = train_validation_split(X, y, 0.2, seed=0)
print(f"{csv.name}: {len(X)} training and {len(X_val)} validation rows of {X.shape[1]} features")

net = nnfast.Network([2, 16, 3], activation="relu", output_activation="softmax",
                     cost="log_likelihood", init="he", dtype="float32", seed=0)
history = net.fit(X, y, epochs=epochs, batch_size=20, eta=0.1, validation_data=(X_val, y_val))
print(f"validation accuracy after {epochs} epoch(s): {history.validation_accuracy[-1]:.3f}")

np.savez(folder / "points.npz", X=X_val, y=y_val)         # the same through an .npz
X_npz, y_npz = load_data(folder / "points.npz")
print(f"points.npz: accuracy {net.accuracy(X_npz, y_npz):.3f}")
print(f"predicted classes of (0, 0), (3, 0), (0, 3): {net.predict(centres).tolist()}")
shutil.rmtree(folder)
