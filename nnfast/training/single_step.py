"""Single steps through a model from Python, for training loops of your own (a GAN trains its
generator through its discriminator): the gradient with respect to the inputs, backward from a
gradient of the outputs, and one optimizer step on one batch. The model's methods
(`input_gradient`, `backward`, `train_on_batch`) call these; every check comes first, so a refused
call leaves the model as it was.
"""

import numpy as np

from . import guards as _guards
from .. import _threads
from .._architecture import _check_differentiable, _check_regularization
from .._validation import check_float, check_int, nonfinite_error
from ..reference.conv import apply_gradients
from .optimizers import get_optimizer


def check_grad_output(model, grad_output, n_rows):
    """grad_output as a C-contiguous (n_rows, outputs) array of the model's dtype."""
    array = np.asarray(grad_output)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"grad_output must hold real numbers, got dtype {array.dtype}")
    if array.shape != (n_rows, model.n_outputs):
        raise ValueError(f"grad_output must be ({n_rows}, {model.n_outputs}) (one row of "
                         f"dL/d(outputs) per example), got shape {array.shape}")
    array = np.ascontiguousarray(array, dtype=model.dtype)
    if not np.isfinite(array).all():
        raise nonfinite_error("grad_output", model.dtype)
    return array


def input_gradient(model, X, y):
    """dC/dX of the summed cost (see Sequential.input_gradient)."""
    model._need_cost("input_gradient")
    _check_differentiable(model._activations)
    X, labels, targets = model._data(X, y)
    n_threads = _threads.effective_n_threads(model.n_threads)
    with model._blas_threads(n_threads):
        return model._backend.backward(model, X, labels, targets, None, n_threads)[1]


def backward(model, X, grad_output):
    """(gradient of the parameters, gradient of the inputs) of L = sum(grad_output * outputs)."""
    _check_differentiable(model._activations)
    X = model._inputs(X)
    grad_output = check_grad_output(model, grad_output, len(X))
    n_threads = _threads.effective_n_threads(model.n_threads)
    with model._blas_threads(n_threads):
        return model._backend.backward(model, X, None, None, grad_output, n_threads)


def train_on_batch(model, X, y, grad_output, eta, lmbda, regularization, optimizer, n_train):
    """One step on the rows of X as one mini-batch (see Sequential.train_on_batch)."""
    _check_differentiable(model._activations)
    regularization = _check_regularization(regularization)
    eta = check_float(eta, "eta", positive=True)
    lmbda = check_float(lmbda, "lmbda", positive=False)
    optimizer = model.optimizer if optimizer is None else get_optimizer(optimizer)
    if (y is None) == (grad_output is None):
        raise TypeError("give either y (targets: the model's cost) or grad_output (dL/d(outputs))")
    if y is not None:
        model._need_cost("train_on_batch with targets")
        X, labels, targets = model._data(X, y)
    else:
        X = model._inputs(X)
        grad_output = check_grad_output(model, grad_output, len(X))
    m = len(X)
    n_train = m if n_train is None else check_int(n_train, "n_train", 1)
    # every check is done: from here on the model changes
    if optimizer != model.optimizer:
        model.optimizer = optimizer
        model._reset_optimizer_state()
    snapshot = _guards.Snapshot(model)
    snapshot.take(model)
    n_threads = _threads.effective_n_threads(model.n_threads)
    with model._blas_threads(n_threads):
        if y is not None:
            keep = model._draw_dropout_masks(m)
            order = np.arange(m, dtype=np.intp)
            model.optimizer_steps += model._backend.train_epoch(
                model, X, labels, targets, order, m, eta, lmbda, regularization, keep, 0, m,
                n_threads, None, n_train=n_train)
        else:
            grad = model._backend.backward(model, X, None, None, grad_output, n_threads)[0]
            model.optimizer_steps += 1
            apply_gradient(model, grad, m, eta, lmbda, n_train, regularization)
    if not _guards.state_finite(model):
        snapshot.restore(model)
        raise _guards.TrainingDiverged(
            f"train_on_batch diverged: the parameters became NaN or infinite; the model keeps "
            f"those it had before the step. Try a smaller learning rate (eta was {eta:g}).",
            eta=eta)
    model.lmbda, model.regularization = lmbda, regularization


def apply_gradient(model, grad, m, eta, lmbda, n_train, regularization):
    """One step of the model's optimizer from the summed gradient `grad` (the layout of params)
    of m examples, by the reference's update (nnfast/reference/conv.py: apply_gradients), the
    rule the training loops follow."""
    apply_gradients(model._layer_arrays(model.params), model._layer_arrays(grad), m, eta, lmbda,
                    n_train, regularization, model.optimizer, model._optimizer_state_views(),
                    model.optimizer_steps)
