"""The NumPy reference backend: the executable specification of what nnfast computes.

Short, readable, vectorised over the mini-batch. `backend="cython"` must give the same numbers
(tests/test_equivalence.py holds the two together).
"""

from .batchnorm import Norm
from .sgd import backprop, evaluate, feedforward, one_hot, train_epoch, update_mini_batch

__all__ = ["Norm", "backprop", "evaluate", "feedforward", "one_hot", "train_epoch", "update_mini_batch"]
