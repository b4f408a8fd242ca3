"""The compiled entry points check their arguments before they release the GIL: a wrong call from
anywhere (not only from Network, which validates first) raises instead of reading out of bounds."""

import numpy as np
import pytest

from nnfast import _train

SIZES = np.array([4, 3, 2], dtype=np.intp)
CODES = np.array([1, 1], dtype=np.intc)
PARAMS = np.zeros(2)
PIECES = np.ones(2, dtype=np.intp)
NO_BN = np.zeros(2, dtype=np.intp)
BN_HYPER = np.array([1e-5, 0.9])
NO_RUNNING = np.zeros(0)
N_PARAMS = 3 * 4 + 3 + 2 * 3 + 2
NO_DROPOUT = dict(keep=np.empty((0, 0), dtype=np.uint8), keep_col=np.zeros(3, dtype=np.intp),
                  keep_scale=np.zeros(3))


def args(**overrides):
    a = dict(params=np.zeros(N_PARAMS), sizes=SIZES, activations=CODES, act_params=PARAMS,
             pieces=PIECES, batch_norm=NO_BN, bn_hyper=BN_HYPER, running=NO_RUNNING, cost=1,
             X=np.zeros((5, 4)), targets=np.empty((0, 2)), labels=np.zeros(5, dtype=np.intp),
             order=np.arange(5, dtype=np.intp), batch_size=2, eta=0.1, lmbda=0.0, n_train=5,
             regularization=0, **NO_DROPOUT, optimizer=0, hyper=np.zeros(3), state1=np.zeros(0),
             state2=np.zeros(0), step0=0, first=0, last=5, n_threads=1)
    a.update(overrides)
    return a


def train(**overrides):
    a = args(**overrides)
    _train.train_epoch(*a.values())


def test_valid_call_runs():
    a = args()
    _train.train_epoch(*a.values())
    assert np.any(a["params"] != 0)


@pytest.mark.parametrize("overrides,match", [
    (dict(params=np.zeros(N_PARAMS - 1)), "params has"),
    (dict(sizes=np.array([4], dtype=np.intp)), "layout"),
    (dict(sizes=np.array([4, 0, 2], dtype=np.intp)), "layer sizes"),
    (dict(activations=np.array([1], dtype=np.intc)), "layout"),
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
    (dict(act_params=np.zeros(1)), "layout"),
    (dict(activations=np.array([9, 1], dtype=np.intc)), "softmax is for the output layer"),
    (dict(keep_scale=np.array([0.0, 2.0, 0.0])), "keep must be"),
    (dict(keep_scale=np.array([2.0, 0.0, 0.0])), "hidden layers only"),
    (dict(keep_scale=np.array([0.0, 0.5, 0.0]), keep=np.ones((5, 3), dtype=np.uint8)), "hidden layers only"),
    (dict(keep_scale=np.array([0.0, 2.0, 0.0]), keep=np.ones((5, 2), dtype=np.uint8)), "keep must be"),
    (dict(keep_col=np.zeros(2, dtype=np.intp)), "one entry per layer"),
    (dict(pieces=np.array([2, 1], dtype=np.intp)), "maxout layers"),
    (dict(activations=np.array([10, 1], dtype=np.intc)), "maxout layers"),
    (dict(activations=np.array([1, 10], dtype=np.intc), pieces=np.array([1, 2], dtype=np.intp)), "hidden layers only"),
    (dict(pieces=np.ones(1, dtype=np.intp)), "layout"),
    (dict(optimizer=9), "optimizer"),
    (dict(batch_norm=np.array([1, 0], dtype=np.intp)), "params has"),
    (dict(batch_norm=np.array([1, 0], dtype=np.intp), params=np.zeros(N_PARAMS + 6)), "running statistics"),
    (dict(batch_norm=np.array([0, 1], dtype=np.intp), params=np.zeros(N_PARAMS + 4),
          running=np.zeros(4)), "hidden layers"),
    (dict(batch_norm=np.array([2, 0], dtype=np.intp)), "batch norm"),
    (dict(bn_hyper=np.array([0.0, 0.9])), "bn_hyper"),
    (dict(bn_hyper=np.array([1e-5, 1.0])), "bn_hyper"),
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
    params = np.zeros(N_PARAMS)
    with pytest.raises(ValueError):
        _train.feedforward(params, SIZES, CODES, PARAMS, PIECES, NO_BN, BN_HYPER, NO_RUNNING, np.zeros((3, 4)), np.zeros((3, 3)), 16, 1)
    with pytest.raises(ValueError):
        _train.feedforward(params, SIZES, CODES, PARAMS, PIECES, NO_BN, BN_HYPER, NO_RUNNING, np.zeros((3, 4)), np.zeros((3, 2)), 0, 1)
    with pytest.raises(ValueError, match="outside"):
        _train.evaluate(params, SIZES, CODES, PARAMS, PIECES, NO_BN, BN_HYPER, NO_RUNNING, 1, np.zeros((3, 4)), np.empty((0, 2)),
                        np.array([0, 5, 1], dtype=np.intp), 16, 1)
    with pytest.raises(ValueError, match="grad must"):
        _train.gradient(params, SIZES, CODES, PARAMS, PIECES, NO_BN, BN_HYPER, NO_RUNNING, 1, np.zeros((3, 4)), np.empty((0, 2)),
                        np.zeros(3, dtype=np.intp), np.zeros(N_PARAMS - 1), 1)
    out = np.empty((3, 2))
    _train.feedforward(params, SIZES, CODES, PARAMS, PIECES, NO_BN, BN_HYPER, NO_RUNNING, np.zeros((3, 4)), out, 2, 1)
    np.testing.assert_array_equal(out, 0.5)  # zero weights and biases: sigmoid(0) everywhere
