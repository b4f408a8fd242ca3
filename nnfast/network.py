"""The feed-forward network: the book's network2 semantics on two interchangeable backends."""

from ._architecture import _resolve_activations, _resolve_batch_norm, _resolve_dropout
from .training.guards import UsageLock
from ._validation import check_float, check_sizes
from .costs import check_pairing, get_cost
from .layers import Dense, Dropout
from ._parameters import ParameterList
from .model import Sequential


class Network(Sequential):
    """A fully connected feed-forward network trained by mini-batch SGD with backpropagation: the
    one model (nnfast.Sequential) built from the book's list of layer sizes, with its semantics
    (the output and hidden layers are Dense layers, dropout a Dropout layer after a hidden one).

    Parameters
    ----------
    sizes : list of int
        Units per layer, input first: ``[784, 30, 10]``.
    activation : str, Activation, or a list of them
        One for every layer, or one per layer (``len(sizes) - 1``, output included), or one per
        hidden layer (``len(sizes) - 2``) with `output_activation`: see
        ``nnfast.activations.ACTIVATIONS``; parametric ones by their factories, e.g.
        ``nnfast.activations.leaky_relu(0.1)``.
    cost : str
        ``"cross_entropy"`` (sigmoid output; delta = a - y), ``"log_likelihood"`` (softmax output;
        delta = a - y), ``"quadratic"`` (any output; delta = (a - y) sigma'(z)) or ``"hinge"`` (the
        multiclass max-margin cost, elementwise output such as identity). See ``nnfast.costs``.
    init : str or callable
        ``"scaled_normal"`` (default), ``"normal"``, ``"uniform"``, ``"xavier"``/``"glorot"``,
        ``"he"``, or ``init(rng, n_in, n_out)``: see ``nnfast.initializers``.
    dtype : "float64" or "float32"
        Of the parameters, the buffers and the outputs.
    backend : "cython" or "numpy"
        The compiled kernels (default) or the NumPy reference; both give the same results.
    seed : None, int or numpy.random.Generator
        All randomness (initial weights, shuffles) comes from ``numpy.random.default_rng(seed)``.
    n_threads : None or int
        Threads for the compiled loops and for BLAS: None = the OpenMP default, -1 = every
        processor, k > 0 = k (at most 4096). Results do not depend on it.
    output_activation : str or Activation, optional
        The output layer's activation, when `activation` names the hidden layers' (e.g.
        ``activation="relu", output_activation="softmax"``).
    dropout : float or list of float
        Dropout probability p for every hidden layer, or one per hidden layer (0 = none). Inverted
        dropout: kept units are scaled by 1/(1-p) during training, so inference needs no rescale.
        The masks are drawn from the network's Generator in Python, after each epoch's shuffle.
    batch_norm : bool or list of bool
        Batch normalisation of every hidden layer's pre-activations, or one flag per hidden layer
        (not for maxout layers): zhat = (z - mean) / sqrt(var + eps) over the mini-batch while
        training, over running averages at inference; y = gamma * zhat + beta feeds the
        activation. gamma (starts at 1) and beta (at 0) are learned, never decayed; see
        ``net.bn_gamma``, ``net.bn_beta``, ``net.bn_running``. Such a layer's bias is redundant
        (the normalisation removes it): it starts at 0 and its gradient is exactly 0.
    batch_norm_eps, batch_norm_momentum : float
        eps, and the running averages' momentum (running <- momentum running + (1 - momentum) batch;
        the batch variance enters unbiased).

    Raises ValueError or TypeError for invalid arguments (layer sizes are at most 2**31 - 1), and
    MemoryError when the parameters do not fit in memory.

    Attributes
    ----------
    weights, biases : sequences of ndarray
        ``weights[l]`` has shape ``(sizes[l+1], sizes[l])``, ``biases[l]`` shape ``(sizes[l+1],)``
        (a maxout layer with k pieces: ``sizes[l+1] * k`` rows, unit j's pieces at j*k .. j*k+k-1).
    history : History or None
        The record of the last `fit`.

    Threads
    -------
    The compiled kernels run without the GIL, so different networks train in parallel from
    different Python threads (with the same results as one after the other). One network is never
    trained from two threads at once: while a thread runs `fit` (or assigns `weights`/`biases`),
    any other thread's call raises RuntimeError ("in use by another thread") and changes nothing;
    reading (predict, feedforward, cost, accuracy, gradient, save) from several threads at once is
    allowed. Writing into the arrays of `weights`/`biases` directly is not guarded.

    Fork: OpenMP runtimes do not survive fork() after multithreaded work (GNU OpenMP's child can
    hang in its next parallel region), so in a process forked after nnfast ran multithreaded,
    nnfast runs single-threaded (same results, one RuntimeWarning). For parallel worker processes
    use multiprocessing's 'spawn' or 'forkserver' start method. See RELIABILITY.md.
    """

    _default_eta = 0.5
    _default_monitor = True
    _save_kind = "Network"

    def __init__(self, sizes, activation="sigmoid", cost="cross_entropy", init="scaled_normal",
                 dtype="float64", backend="cython", seed=None, n_threads=None, *,
                 output_activation=None, dropout=0.0, batch_norm=False, batch_norm_eps=1e-5,
                 batch_norm_momentum=0.9):
        self._usage = UsageLock()  # see "Threads" above
        self.sizes = check_sizes(sizes)
        self.activations = _resolve_activations(activation, output_activation, len(self.sizes) - 1)
        cost_function = get_cost(cost)
        check_pairing(cost_function, self.activations[-1], self.sizes[-1])
        self.dropout = _resolve_dropout(dropout, len(self.sizes) - 2)
        self.batch_norm = _resolve_batch_norm(batch_norm, self.activations)
        self.batch_norm_eps = check_float(batch_norm_eps, "batch_norm_eps", positive=True)
        self.batch_norm_momentum = check_float(batch_norm_momentum, "batch_norm_momentum",
                                               positive=False)
        if self.batch_norm_momentum >= 1:
            raise ValueError(f"batch_norm_momentum must be in [0, 1), got {batch_norm_momentum}")
        layers = []
        for l, (units, act, normed) in enumerate(zip(self.sizes[1:], self.activations,
                                                     self.batch_norm)):
            layers.append(Dense(units, act, batch_norm=normed, batch_norm_eps=self.batch_norm_eps,
                                batch_norm_momentum=self.batch_norm_momentum))
            if l < len(self.dropout) and self.dropout[l] > 0:
                layers.append(Dropout(self.dropout[l]))
        built = []
        shape = (self.sizes[0],)
        for layer in layers:
            built.append(layer.build(shape))
            shape = built[-1].out_shape
        self._setup(layers, built, (self.sizes[0],), cost_function, init, dtype, backend, seed,
                    n_threads)
        self._weight_layers = [l for l, layer in enumerate(built) if layer.kind == "dense"]
        self._weights = ParameterList([self._weights[l] for l in self._weight_layers], "weights",
                                      self._usage)
        self._biases = ParameterList([self._biases[l] for l in self._weight_layers], "biases",
                                     self._usage)

    def __repr__(self):
        acts = ",".join(a.name for a in self.activations)
        drop = f", dropout={self.dropout}" if any(self.dropout) else ""
        norm = f", batch_norm={self.batch_norm[:-1]}" if any(self.batch_norm) else ""
        return (f"Network({self.sizes}, activation=[{acts}], cost={self.cost_function.name!r}{drop}"
                f"{norm}, dtype={self.dtype.name!r}, backend={self.backend!r})")

    def _weight_arrays(self, flat):
        """Per weight layer: (W, b, gamma, beta) views into `flat`."""
        arrays = self._layer_arrays(flat)
        return [arrays[l] for l in self._weight_layers]

    def layer_views(self, flat):
        """(weights, biases): per weight layer, views into `flat`, an array with the layout of
        `params`."""
        arrays = self._weight_arrays(flat)
        return [a[0] for a in arrays], [a[1] for a in arrays]

    def norm_views(self, flat):
        """(gammas, betas): per weight layer, views of batch norm's parameters in `flat` (None
        where a layer has no batch norm)."""
        arrays = self._weight_arrays(flat)
        return [a[2] for a in arrays], [a[3] for a in arrays]

    def running_views(self):
        """Per weight layer: (running mean, running variance) views of `bn_running`, or None."""
        views = self._running_views()
        return [views[l] for l in self._weight_layers]
