"""Data makers shared by the tests (tests/ is on sys.path, see pyproject.toml)."""

import json

import numpy as np


def make_classification(n, n_in, n_out, seed=0, dtype=np.float64):
    """Rows in [0, 1) and integer labels that depend on them (so there is something to learn)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_in)).astype(dtype)
    projection = rng.standard_normal((n_in, n_out))
    y = np.argmax(X @ projection + 0.1 * rng.standard_normal((n, n_out)), axis=1)
    return X, y


def cli_error(capsys, argv, quiet=False):
    """Run the nnfast command with argv, expecting a user error: exit status 2, one line
    ``nnfast: error: ...`` on stderr and no traceback (with quiet, nothing on stdout either).
    Returns that line."""
    import pytest

    from nnfast.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnfast: error: "), err
    assert "Traceback" not in err + out
    if quiet:
        assert out == ""
    return lines[0]


def metadata_of(path):
    """The JSON metadata document of a saved model file."""
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(archive["metadata"].tobytes().decode("utf-8"))


def write_archive(path, metadata, arrays):
    """An archive laid out like save()'s, from a metadata dict and arrays (for crafted files)."""
    document = json.dumps(metadata).encode("utf-8")
    with open(path, "wb") as handle:
        np.savez(handle, metadata=np.frombuffer(document, dtype=np.uint8), **arrays)
