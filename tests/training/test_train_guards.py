"""The compiled entry points check their arguments before they release the GIL: a wrong call from
anywhere (not only from Network, which validates first) raises instead of reading out of bounds.
The dense loop takes the layer engine's table (spec, fparams): here the one of Network([4, 3, 2])
(with a Dropout row after the hidden layer where the case needs one), edited per case."""

import numpy as np
import pytest

import nnfast
from nnfast import _conv, _train
from nnfast._backend import layer_table

COLUMNS, FCOLUMNS, KINDS = _conv.TABLE_COLUMNS, _conv.FPARAM_NAMES, _conv.KINDS
N_PARAMS = 3 * 4 + 3 + 2 * 3 + 2
NO_KEEP = np.empty((0, 0), dtype=np.uint8)


def table(dropout=0.0, edits=(), fedits=()):
    """(spec, fparams) of Network([4, 3, 2]) (sigmoid, dropout after the hidden layer), with
    edits (row, column name, value) to spec and fedits to fparams."""
    spec, fparams = layer_table(nnfast.Network([4, 3, 2], dropout=dropout, backend="cython"))
    spec, fparams = spec.copy(), fparams.copy()
    for row, column, value in edits:
        spec[row, COLUMNS[column]] = value
    for row, column, value in fedits:
        fparams[row, FCOLUMNS[column]] = value
    return spec, fparams


SPEC, FPARAMS = table()
DROP_SPEC, DROP_FPARAMS = table(dropout=0.5)


def args(**overrides):
    a = dict(params=np.zeros(N_PARAMS), spec=SPEC, fparams=FPARAMS, running=np.zeros(0), cost=1,
             X=np.zeros((5, 4)), targets=np.empty((0, 2)), labels=np.zeros(5, dtype=np.intp),
             order=np.arange(5, dtype=np.intp), batch_size=2, eta=0.1, lmbda=0.0, n_train=5,
             keep=NO_KEEP, n_threads=1, regularization=0, optimizer=0, hyper=np.zeros(3),
             state1=None, state2=None, step0=0, first=0, last=5)
    a.update(overrides)
    return a


def train(**overrides):
    _train.train_epoch(**args(**overrides))


def test_valid_call_runs():
    a = args()
    _train.train_epoch(**a)
    assert np.any(a["params"] != 0)


def test_valid_call_with_dropout_runs():
    a = args(spec=DROP_SPEC, fparams=DROP_FPARAMS, keep=np.ones((5, 3), dtype=np.uint8))
    _train.train_epoch(**a)
    assert np.any(a["params"] != 0)


def _with(edits=(), fedits=(), dropout=0.0):
    spec, fparams = table(dropout, edits, fedits)
    return dict(spec=spec, fparams=fparams)


def _input_dropout(row):
    """A Dropout row on the 4 inputs, from the one on the hidden layer's 3 units."""
    row = row.copy()
    row[COLUMNS["c"]] = row[COLUMNS["f"]] = 4
    return row


@pytest.mark.parametrize("overrides,match", [
    (dict(params=np.zeros(N_PARAMS - 1)), "do not fit in params"),
    (dict(spec=SPEC[:0], fparams=FPARAMS[:0]), "spec must be"),
    (_with([(0, "f", 0)]), "shapes must be"),
    (dict(fparams=FPARAMS[:1]), "spec must be"),
    (dict(X=np.zeros((5, 3))), "X must be"),
    (dict(X=np.zeros((0, 4)), labels=np.zeros(0, dtype=np.intp), order=np.zeros(0, dtype=np.intp)), "X must be"),
    (dict(labels=np.array([0, 1, 2, 0, 1], dtype=np.intp)), "outside"),
    (dict(labels=np.array([0, 1, -1, 0, 1], dtype=np.intp)), "outside"),
    (dict(labels=np.zeros(4, dtype=np.intp)), "one entry per row"),
    (dict(labels=np.zeros(0, dtype=np.intp), targets=np.zeros((5, 3))), "targets must be"),
    (dict(order=np.arange(4, dtype=np.intp)), "permutation"),
    (dict(order=np.array([0, 1, 2, 3, 5], dtype=np.intp)), "not a row"),
    (dict(order=np.array([0, 1, 2, 3, -1], dtype=np.intp)), "not a row"),
    (dict(batch_size=0), ">= 1"),
    (dict(n_threads=0), ">= 1"),
    (dict(regularization=7), "regularization"),
    (_with([(0, "act", 9)]), "softmax is for the last"),
    (_with([(0, "kind", KINDS["conv"])]), "dense loop runs Dense layers"),
    (dict(spec=np.insert(DROP_SPEC, 1, DROP_SPEC[1], axis=0),
          fparams=np.insert(DROP_FPARAMS, 1, DROP_FPARAMS[1], axis=0)), "dense loop drops"),
    (dict(spec=np.insert(DROP_SPEC, 0, _input_dropout(DROP_SPEC[1]), axis=0),
          fparams=np.insert(DROP_FPARAMS, 0, DROP_FPARAMS[1], axis=0)), "dense loop drops"),
    (dict(**_with(dropout=0.5), keep=np.ones((5, 2), dtype=np.uint8)), "mask columns"),
    (dict(**_with(dropout=0.5), keep=np.ones((4, 3), dtype=np.uint8)), "one row per position"),
    (dict(**_with(fedits=[(1, "drop_scale", 0.5)], dropout=0.5),
          keep=np.ones((5, 3), dtype=np.uint8)), "scale"),
    (_with([(0, "pieces", 2)]), "maxout layers"),
    (_with([(0, "act", 10)]), "maxout layers"),
    (_with([(1, "act", 10), (1, "pieces", 2)]), "maxout is for hidden"),
    (dict(optimizer=9), "optimizer"),
    (_with([(0, "bn", 1)]), "must follow the biases"),
    (dict(**_with([(0, "bn", 1), (0, "g_off", 12 + 3)]), params=np.zeros(N_PARAMS + 6)),
     "running statistics"),
    (dict(**_with([(1, "bn", 1), (1, "g_off", N_PARAMS)]), params=np.zeros(N_PARAMS + 4),
          running=np.zeros(4)), "batch norm is for hidden"),
    (_with([(0, "bn", 2)]), "batch norm"),
    (dict(**_with([(0, "bn", 1), (0, "g_off", 12 + 3)], [(0, "bn_eps", 0.0)]),
          params=np.zeros(N_PARAMS + 6), running=np.zeros(6)), "eps > 0"),
    (dict(**_with([(0, "bn", 1), (0, "g_off", 12 + 3)], [(0, "bn_eps", 1e-5),
                                                         (0, "bn_momentum", 1.0)]),
          params=np.zeros(N_PARAMS + 6), running=np.zeros(6)), "momentum"),
    (dict(optimizer=5), "state arrays"),
    (dict(optimizer=1, state1=np.zeros(N_PARAMS - 1)), "state arrays"),
    (dict(hyper=np.zeros(2)), "hyper"),
    (dict(step0=-1), "step0"),
    (dict(first=1), "batch boundary"),
    (dict(last=6), "batch boundary"),
    (dict(first=4, last=2), "batch boundary"),
])
def test_bad_train_epoch_arguments_raise(overrides, match):
    params = args(**overrides)["params"]
    before = params.copy()
    with pytest.raises(ValueError, match=match):
        train(**overrides)
    np.testing.assert_array_equal(params, before)


def test_mixed_dtypes_are_refused():
    with pytest.raises((TypeError, ValueError)):
        train(X=np.zeros((5, 4), dtype=np.float32))


def test_feedforward_and_evaluate_check_shapes():
    params, running = np.zeros(N_PARAMS), np.zeros(0)
    with pytest.raises(ValueError):
        _train.feedforward(params, SPEC, FPARAMS, running, np.zeros((3, 4)), np.zeros((3, 3)), 16, 1)
    with pytest.raises(ValueError):
        _train.feedforward(params, SPEC, FPARAMS, running, np.zeros((3, 4)), np.zeros((3, 2)), 0, 1)
    with pytest.raises(ValueError, match="outside"):
        _train.evaluate(params, SPEC, FPARAMS, running, 1, np.zeros((3, 4)), np.empty((0, 2)),
                        np.array([0, 5, 1], dtype=np.intp), 16, 1)
    with pytest.raises(ValueError, match="grad must"):
        _train.gradient(params, SPEC, FPARAMS, running, 1, np.zeros((3, 4)), np.empty((0, 2)),
                        np.zeros(3, dtype=np.intp), np.zeros(N_PARAMS - 1), 1)
    spec, fparams = table(edits=[(0, "kind", KINDS["conv"])])
    for call in (lambda: _train.feedforward(params, spec, fparams, running, np.zeros((3, 4)),
                                            np.zeros((3, 2)), 2, 1),
                 lambda: _train.evaluate(params, spec, fparams, running, 1, np.zeros((3, 4)),
                                         np.empty((0, 2)), np.zeros(3, dtype=np.intp), 2, 1)):
        with pytest.raises(ValueError, match="dense loop runs"):
            call()
    out = np.empty((3, 2))
    _train.feedforward(params, SPEC, FPARAMS, running, np.zeros((3, 4)), out, 2, 1)
    np.testing.assert_array_equal(out, 0.5)  # zero weights and biases: sigmoid(0) everywhere
