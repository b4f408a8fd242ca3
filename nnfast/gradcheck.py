"""Gradient checking: backpropagation against central finite differences of the cost."""

import math

import numpy as np

from . import _threads
from ._validation import check_data, check_float, check_int


def gradcheck(net, X, y, eps=1e-4, n_samples=None, seed=0):
    """The largest relative error between the backpropagated gradient and central differences.

    For each checked parameter p: numeric = (C(p + eps) - C(p - eps)) / (2 eps), with C the summed
    cost of the rows of (X, y) (no regularisation, no dropout; batch norm in training mode, with the
    statistics of all the rows as one batch), computed by the network's own backend; relative error = |backprop - numeric| / max(|backprop| + |numeric|, 1e-6): the floor
    judges gradients near 0 on their absolute error, since rounding in C limits the numeric one to
    about 1e-11 there. Every parameter is restored exactly afterwards.

    Parameters
    ----------
    net : Network
        Either backend. Use float64 for a meaningful check (float32 cannot resolve small eps).
    X, y : the data (a handful of rows is enough).
    eps : float
        The finite-difference step (1e-4 balances truncation, about eps^2, against rounding).
    n_samples : int or None
        Check this many parameters, drawn without replacement by ``numpy.random.default_rng(seed)``
        (not the network's Generator); None: every parameter when there are at most 2000, else 2000.

    Returns
    -------
    float
        The maximum relative error (a correct backprop in float64 gives about 1e-7 or less).

    Raises
    ------
    TypeError, ValueError
        Bad arguments; also ValueError when the cost is not finite at p +- eps (eps far too large
        for the weights), rather than a meaningless error of NaN.
    RuntimeError
        Another thread is using the network (gradcheck writes its parameters while it runs).
    """
    from .network import Network

    if not isinstance(net, Network):
        raise TypeError(f"gradcheck expects an nnfast.Network, got {type(net).__name__}")
    with net._usage.using("gradcheck", write=True):
        return _gradcheck(net, X, y, eps, n_samples, seed)


def _gradcheck(net, X, y, eps, n_samples, seed):
    eps = check_float(eps, "eps", positive=True)
    X, labels, targets = check_data(X, y, net.sizes[0], net.sizes[-1], net.dtype)
    analytic = net.gradient(X, y)
    count = len(net.params)
    if n_samples is None:
        n_samples = min(count, 2000)
    n_samples = min(check_int(n_samples, "n_samples", 1), count)
    indices = (np.arange(count) if n_samples == count
               else np.random.default_rng(seed).choice(count, n_samples, replace=False))
    n_threads = _threads.effective_n_threads(net.n_threads)
    params = net.params
    batch_stats = any(net.batch_norm)  # batch norm: the cost the gradient is of uses the rows' statistics
    # gradients far below the typical one are judged on their absolute error: the numeric
    # derivative of a parameter with no effect is rounding noise, about 1e-16 |C| / eps
    floor = max(1e-3 * float(np.sqrt(np.mean(np.square(analytic, dtype=np.float64)))), 1e-10)
    worst = 0.0
    with net._blas_threads(n_threads):
        for index in indices:
            saved = params[index]
            try:
                params[index] = saved + eps
                plus = net._backend.evaluate(net, X, labels, targets, n_threads, batch_stats)[0]
                params[index] = saved - eps
                minus = net._backend.evaluate(net, X, labels, targets, n_threads, batch_stats)[0]
            except FloatingPointError:  # the compiled kernels refuse non-finite layer outputs
                plus = minus = math.inf
            finally:
                params[index] = saved
            numeric = (plus - minus) / (2 * eps)
            if not math.isfinite(numeric):
                raise ValueError(f"the cost is not finite at parameter {index} +- eps (eps = {eps:g}); "
                                 "use a small eps such as the default 1e-4")
            error = abs(float(analytic[index]) - numeric) / max(abs(float(analytic[index])) + abs(numeric), floor)
            worst = max(worst, error)
    return worst
