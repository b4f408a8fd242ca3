"""Gradient checking: backpropagation against central finite differences of the cost."""

import math

import numpy as np

from . import _threads
from ._validation import check_float, check_int
from .model import Sequential


def gradcheck(net, X, y, eps=1e-4, n_samples=None, seed=0):
    """The largest relative error between the backpropagated gradient and central differences.

    For each checked parameter p, with b its backpropagated derivative and n the numeric one::

        n = (C(p + eps) - C(p - eps)) / (2 eps)
        error = |b - n| / max(|b| + |n|, floor),    floor = max(eps, epsilon(dtype) / eps)

    C is the summed cost of the rows of (X, y) (no regularisation, no dropout; batch norm in
    training mode, with the statistics of all the rows as one batch), computed by the network's
    own backend; epsilon(dtype) is the machine epsilon of the network's dtype (2.2e-16 for
    float64). The floor is a fixed absolute number, the same for every entry: derivatives larger
    than it are judged on their relative error, smaller ones on their absolute error divided by it.
    It is the step eps (the numeric derivative's own error, about eps^2 from truncation plus
    epsilon * |C| / eps from rounding, stays far below it), or, for an eps so small that rounding
    dominates, epsilon / eps, the rounding noise of the difference quotient of a cost of order one.
    So an entry whose true derivative is 0 reads 0 when backprop gives 0 (up to the numeric noise
    over the floor, epsilon * |C| / eps^2: about 2e-7 for a float64 cost of 10 with the default
    eps) and 1.0 when backprop gives anything of at least the floor: with the default eps, a wrong
    0.01 there reads 1.0 and a wrong 1e-6 reads 0.01. Every parameter is restored exactly
    afterwards.

    Parameters
    ----------
    net : nnfast.Sequential (any model: a Network, a conv net, ...)
        Either backend. Use float64 for a meaningful check (float32 cannot resolve small eps).
    X, y : the data (a handful of rows is enough).
    eps : float
        The finite-difference step (1e-4 balances truncation, about eps^2, against rounding), and
        the floor above.
    n_samples : int or None
        Check this many parameters, drawn without replacement by ``numpy.random.default_rng(seed)``
        (not the network's Generator); None: every parameter when there are at most 2000, else 2000.

    Returns
    -------
    float
        The maximum error over the checked parameters, between 0 and 1 (a correct backprop in
        float64 with the default eps gives less than 1e-6, mostly about 1e-8: the truncation
        error of the central difference).

    Raises
    ------
    TypeError, ValueError
        Bad arguments; also ValueError when the cost is not finite at p +- eps (eps far too large
        for the weights), rather than a meaningless error of NaN.
    RuntimeError
        Another thread is using the network (gradcheck writes its parameters while it runs).
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"gradcheck expects an nnfast.Network or another nnfast model "
                        f"(nnfast.Sequential), got {type(net).__name__}")
    with net._usage.using("gradcheck", write=True):
        eps = check_float(eps, "eps", positive=True)
        X, labels, targets = net._data(X, y)
        backprop = net.gradient(X, y)
        count = len(net.params)
        if n_samples is None:
            n_samples = min(count, 2000)
        n_samples = min(check_int(n_samples, "n_samples", 1), count)
        indices = (np.arange(count) if n_samples == count
                   else np.random.default_rng(seed).choice(count, n_samples, replace=False))
        n_threads = _threads.effective_n_threads(net.n_threads)
        # batch norm: the gradient is of the cost with the rows' own statistics
        batch_stats = any(layer.batch_norm for layer in net.built)

        def summed_cost():
            try:
                return net._backend.evaluate(net, X, labels, targets, n_threads, batch_stats)[0]
            except FloatingPointError:  # the compiled kernels refuse non-finite layer outputs
                return math.inf

        with net._blas_threads(n_threads):
            return _largest_error(net.params, backprop, summed_cost, indices, eps)


def _largest_error(params, backprop, summed_cost, indices, eps):
    """The largest error (as documented in `gradcheck`) of `backprop` against central differences
    of ``summed_cost()`` (the cost at the current `params`, a flat array changed in place and
    restored) over the entries `indices`."""
    floor = max(eps, float(np.finfo(params.dtype).eps) / eps)
    worst = 0.0
    for index in indices:
        saved = params[index]
        try:
            params[index] = saved + eps
            plus = summed_cost()
            params[index] = saved - eps
            minus = summed_cost()
        finally:
            params[index] = saved
        numeric = (plus - minus) / (2 * eps)
        if not math.isfinite(numeric):
            raise ValueError(f"the cost is not finite at parameter {index} +- eps (eps = {eps:g}); "
                             "use a small eps such as the default 1e-4")
        derivative = float(backprop[index])
        worst = max(worst, abs(derivative - numeric) / max(abs(derivative) + abs(numeric), floor))
    return worst
