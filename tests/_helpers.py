"""Data makers shared by the tests (tests/ is on sys.path, see pyproject.toml)."""

import numpy as np


def make_classification(n, n_in, n_out, seed=0, dtype=np.float64):
    """Rows in [0, 1) and integer labels that depend on them (so there is something to learn)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in)).astype(dtype)
    projection = rng.standard_normal((n_in, n_out))
    y = np.argmax(X @ projection + 0.1 * rng.standard_normal((n, n_out)), axis=1)
    return X, y
