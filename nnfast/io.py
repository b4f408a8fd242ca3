"""Saving and loading models (any nnfast.Sequential, Network included).

A model is saved as one ``.npz`` archive (written by ``numpy.savez``, never with pickle) holding:

``params``
    The flat parameter vector (per layer with parameters: W row by row, then b, then gamma and
    beta for a batch-normalised layer), in the model's dtype.
``bn_running``
    Batch norm's running means and variances (present when a layer has batch norm; inference
    needs them, so they are saved with or without state).
``metadata``
    The UTF-8 bytes of a JSON document, stored as a uint8 array: the architecture as the list of
    layer configurations (``Layer.get_config()``), the cost and dtype, the backend and thread
    count, the regularisation of the last `fit`, the optimizer, the random generator's state and a
    description (shape and dtype) of every other array in the archive, which `load` checks before
    reading them.
``state/<name>``
    Extra training state the model exposes through ``state_arrays()`` (the optimizer's moments:
    ``state/optimizer1``, ``state/optimizer2``), restored by ``load_state_arrays``.

The metadata document (format version 2; shown indented, stored on one line)::

    {
      "format": "nnfast-model",
      "format_version": 2,
      "nnfast_version": "0.1.0",
      "model": "Sequential",
      "input_shape": [1, 28, 28],
      "layers": [
        {"kind": "Conv2D", "filters": 20, "kernel_size": [5, 5], "stride": 1, "padding": "valid",
         "activation": {"name": "relu", "param": 0.0}, "batch_norm": true,
         "batch_norm_eps": 1e-05, "batch_norm_momentum": 0.9},
        {"kind": "MaxPool2D", "size": 2},
        {"kind": "Flatten"},
        {"kind": "Dropout", "p": 0.5},
        {"kind": "Dense", "units": 10, "activation": {"name": "softmax", "param": 0.0},
         "batch_norm": false, "batch_norm_eps": 1e-05, "batch_norm_momentum": 0.9}
      ],
      "cost": "log_likelihood",
      "dtype": "float32",
      "backend": "cython",
      "n_threads": null,
      "lmbda": 0.0,
      "regularization": "l2",
      "optimizer": {"name": "adam", "hyper": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-08}},
      "optimizer_steps": 5000,
      "include_state": true,
      "rng": {"bit_generator": "PCG64", "state": {"state": ..., "inc": ...},
              "has_uint32": 0, "uinteger": 0},
      "arrays": {"params": {"shape": [23860], "dtype": "float32"}, ...}
    }

``model`` is ``"Network"`` for a model built by ``nnfast.Network(sizes, ...)`` (load gives a
Network back: its layers are Dense layers with Dropout after hidden ones) and ``"Sequential"``
otherwise. ``rng`` and ``optimizer`` are ``null`` (and ``optimizer_steps`` 0) when the file was
written with ``include_state=False``; the generator state's integers can exceed 64 bits (Python's
``json`` keeps them exact). An activation's ``param`` is the leaky ReLU slope, the ELU alpha or the
number of maxout pieces k, and 0 for the activations without a parameter.

Version 1 files (format ``"nnfast-network"``, written by nnfast before the one model: a Network
described by ``sizes``, ``activations``, ``dropout``, ``batch_norm``, ``batch_norm_eps`` and
``batch_norm_momentum`` instead of ``model``, ``input_shape`` and ``layers``) are still read.

`load` also reads the JSON files written by ``save()`` of the book's ``network2.py`` (see
`load_book_json`).
"""

import os
import warnings

import numpy as np

from . import _threads
from ._backend import make_backend
from ._format import (FORMAT_NAME, FORMAT_VERSION, STATE_PREFIX, V1_FORMAT_NAME, _Invalid,
                      _parse_json_bytes, _read_archive, _restore_generator, _sniff, save)
from ._validation import check_dtype, check_sizes
from .layers import Dense, Dropout
from .model import Sequential
from .network import Network
from .training.optimizers import OPTIMIZERS, get_optimizer

__all__ = ["save", "load", "load_book_json", "FORMAT_NAME", "FORMAT_VERSION", "V1_FORMAT_NAME",
           "STATE_PREFIX"]


_BOOK_KEYS = ("sizes", "weights", "biases", "cost")
_BOOK_COSTS = {"CrossEntropyCost": "cross_entropy", "QuadraticCost": "quadratic"}


def load(path, backend=None, n_threads=None, *, seed=None):
    """Read a model written by `save` (format version 2, or a version-1 Network file), or a JSON
    file written by the book's network2.py.

    Everything in the file is checked before it is used: the format name and version, the
    architecture (by the same validation as ``Network(...)``), that every stored array has the
    shape and dtype the metadata and the architecture call for, and that the values are finite.

    Parameters
    ----------
    path : str or os.PathLike
        An ``.npz`` file written by `save`, or a JSON file written by network2.py's ``save()``
        (handed to `load_book_json`).
    backend : None, "cython" or "numpy"
        The backend of the returned network; None keeps the saved one (``"cython"`` for book JSON).
    n_threads : None or int
        The thread count of the returned network; None keeps the saved one.
    seed : None, int or numpy.random.Generator
        Seeds the network's generator when the file holds no generator state (saved with
        ``include_state=False``, or book JSON); ignored otherwise.

    Returns
    -------
    Network or Sequential
        Equal to the saved one (a Network when it was built by ``Network(sizes, ...)``): the same
        layers, activations (with their parameters), cost, dtype, parameters bit for bit, ``lmbda`` and ``regularization`` of the last fit and, when
        saved, the generator state and the extra state arrays (through
        ``net.load_state_arrays(dict)`` when the network has that method; otherwise they are
        ignored with a warning).

    Raises
    ------
    ValueError
        ``f"{path}: ..."`` for anything wrong with the file: not an nnfast model file, truncated
        or corrupted, an unknown format version, an invalid architecture, arrays that do not match,
        NaN or infinite values. Also for an invalid `backend` or `n_threads`.
    FileNotFoundError, PermissionError, IsADirectoryError
        If the file cannot be opened.
    ImportError
        If the network's backend is "cython" and the compiled extension is not built (pass
        ``backend="numpy"``).
    """
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    if backend is not None:
        make_backend(backend)  # the caller's mistake: its own message, not blamed on the file
    n_threads = _threads.check_n_threads(n_threads)

    with open(name, "rb") as handle:
        kind = _sniff(handle)
        if kind == "json":
            data = _parse_json_bytes(handle.read(), name)
            if not (isinstance(data, dict) and all(key in data for key in _BOOK_KEYS)):
                raise ValueError(f"{name}: not an nnfast model file (a JSON document, but not a "
                                 "network saved by network2.py's save(), which has the keys "
                                 "'sizes', 'weights', 'biases' and 'cost')")
            return _network_from_book(data, name, "cython" if backend is None else backend,
                                      "float64", n_threads, seed)
        if kind == "empty":
            raise ValueError(f"{name}: not an nnfast model file (the file is empty)")
        if kind != "zip":
            raise ValueError(f"{name}: not an nnfast model file (neither an .npz archive written "
                             "by nnfast.io.save nor a network2.py JSON file)")
        try:
            archive_size = os.fstat(handle.fileno()).st_size
            spec, arrays = _read_archive(handle, archive_size)
            return _build_network(spec, arrays, name, backend, n_threads, seed)
        except _Invalid as exc:
            raise ValueError(f"{name}: {exc}") from None


def _build_model(spec, backend, n_threads):
    """The model the checked metadata describes (seeded with 0; the generator is restored later)."""
    common = {"dtype": spec["dtype"], "backend": spec["backend"] if backend is None else backend,
              "seed": 0, "n_threads": spec["n_threads"] if n_threads is None else n_threads}
    if spec["version"] == 1:
        return Network(spec["sizes"], activation=spec["activations"], cost=spec["cost"],
                       dropout=spec["dropout"], batch_norm=spec["batch_norm"],
                       batch_norm_eps=spec["batch_norm_eps"],
                       batch_norm_momentum=spec["batch_norm_momentum"], **common)
    if spec["model"] == "Sequential":
        return Sequential(spec["layers"], spec["input_shape"], cost=spec["cost"], **common)
    return _network_from_layers(spec["layers"], spec["input_shape"], spec["cost"], common)


def _network_from_layers(layers, input_shape, cost, common):
    """The Network whose layers these are: Dense layers, a Dropout after some hidden ones."""
    dense = [layer for layer in layers if isinstance(layer, Dense)]
    if len(input_shape) != 1 or not dense or not isinstance(layers[-1], Dense):
        raise ValueError("a Network's layers are Dense layers (with Dropout after hidden ones)")
    dropout = []
    for layer, following in zip(layers, layers[1:] + [None]):
        if isinstance(layer, Dense) and layer is not layers[-1]:
            dropout.append(following.p if isinstance(following, Dropout) else 0.0)
    net = Network([input_shape[0]] + [layer.units for layer in dense],
                  activation=[layer.activation for layer in dense], cost=cost, dropout=dropout,
                  batch_norm=[layer.batch_norm for layer in dense[:-1]],
                  batch_norm_eps=dense[0].batch_norm_eps,
                  batch_norm_momentum=dense[0].batch_norm_momentum, **common)
    if [layer.get_config() for layer in net.layers] != [layer.get_config() for layer in layers]:
        raise ValueError("the layers are not those of a Network (Dense layers with the same batch "
                         "norm settings, a Dropout after some hidden ones); save it as a Sequential")
    return net


def _build_network(spec, arrays, name, backend, n_threads, seed):
    try:
        net = _build_model(spec, backend, n_threads)
        if spec["optimizer"] is not None:
            optimizer = OPTIMIZERS[spec["optimizer"]["name"]](**spec["optimizer"]["hyper"])
            net.optimizer = get_optimizer(optimizer)
            net._reset_optimizer_state()
            net.optimizer_steps = spec["optimizer_steps"]
    except (ValueError, TypeError, MemoryError) as exc:
        raise _Invalid(f"invalid model description: {exc}") from None
    params = arrays["params"]
    if params.shape != net.params.shape:
        raise _Invalid(f"'params' has {len(params)} values but the architecture has "
                       f"{len(net.params)}")
    running = arrays.get("bn_running", np.zeros(0, dtype=net.dtype))
    if running.shape != net.bn_running.shape or running.dtype != net.dtype:
        raise _Invalid(f"'bn_running' must be {net.bn_running.shape} {net.dtype.name} for this "
                       f"architecture, got {running.shape} {running.dtype}")
    if not np.isfinite(running).all():
        raise _Invalid("'bn_running' contains NaN or infinite values")
    net.params[...] = params
    net.bn_running[...] = running
    net.lmbda = spec["lmbda"]
    net.regularization = spec["regularization"]
    net.rng = (_restore_generator(spec["rng"]) if spec["rng"] is not None
               else np.random.default_rng(seed))

    state = {key[len(STATE_PREFIX):]: array for key, array in arrays.items()
             if key.startswith(STATE_PREFIX)}
    if state:
        restore = getattr(net, "load_state_arrays", None)
        if restore is None:
            warnings.warn(f"{name}: the file holds training state ({sorted(state)}) that this "
                          "version of nnfast cannot restore; it was ignored", UserWarning,
                          stacklevel=3)
        else:
            try:
                restore(state)
            except (ValueError, TypeError, KeyError) as exc:
                raise _Invalid(f"the saved state arrays do not fit the network: {exc}") from None
    return net


def load_book_json(path, backend="cython", dtype="float64", *, n_threads=None, seed=None):
    """Read a network saved by ``Network.save()`` of the book's network2.py.

    That file is the JSON object ``{"sizes": [...], "weights": [...], "biases": [...],
    "cost": "CrossEntropyCost" | "QuadraticCost"}`` with ``weights[l]`` nested lists of shape
    ``(sizes[l+1], sizes[l])`` and ``biases[l]`` of shape ``(sizes[l+1], 1)`` (column vectors).

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file.
    backend : "cython" or "numpy"
        The backend of the returned network.
    dtype : "float64" or "float32"
        The dtype of the returned network (float32 rounds the saved values).
    n_threads : None or int
        The thread count of the returned network.
    seed : None, int or numpy.random.Generator
        Seeds the network's generator (the file has no generator state).

    Returns
    -------
    Network
        A sigmoid network (every layer) with cost ``"cross_entropy"`` (CrossEntropyCost) or
        ``"quadratic"`` (QuadraticCost) and the file's weights and biases; its feedforward computes
        network2's ``feedforward`` row by row.

    Raises
    ------
    ValueError
        ``f"{path}: ..."`` if the file is not valid JSON, lacks one of the four keys, names another
        cost, or its weights and biases do not have the shapes `sizes` calls for or are not finite
        numbers.
    """
    name = os.fspath(path)
    if isinstance(name, bytes):
        name = os.fsdecode(name)
    with open(name, "rb") as handle:
        data = _parse_json_bytes(handle.read(), name)
    return _network_from_book(data, name, backend, dtype, n_threads, seed)


def _network_from_book(data, name, backend, dtype, n_threads, seed):
    dtype = check_dtype(dtype)  # the caller's arguments first, with their own messages
    make_backend(backend)
    n_threads = _threads.check_n_threads(n_threads)

    def invalid(message):
        return ValueError(f"{name}: not a valid network2.py JSON file: {message}")

    if not isinstance(data, dict):
        raise invalid("the document is not a JSON object")
    missing = [key for key in _BOOK_KEYS if key not in data]
    if missing:
        raise invalid(f"missing keys {missing}")
    cost = data["cost"]
    if cost not in _BOOK_COSTS:
        raise invalid(f"unknown cost {cost!r}; nnfast reads {sorted(_BOOK_COSTS)}")
    if not isinstance(data["sizes"], list):
        raise invalid(f"'sizes' must be a list of integers, got {data['sizes']!r}")
    try:
        sizes = check_sizes(data["sizes"])
    except (ValueError, TypeError) as exc:
        raise invalid(str(exc)) from None
    n_layers = len(sizes) - 1
    weights, biases = data["weights"], data["biases"]
    for key, value in (("weights", weights), ("biases", biases)):
        if not isinstance(value, list) or len(value) != n_layers:
            raise invalid(f"'{key}' must be a list of {n_layers} arrays (one per layer of {sizes})")
    checked_w, checked_b = [], []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = _book_array(weights[l], f"weights[{l}]", invalid)
        b = _book_array(biases[l], f"biases[{l}]", invalid)
        if w.shape != (n_out, n_in):
            raise invalid(f"weights[{l}] has shape {w.shape}, expected {(n_out, n_in)} for sizes {sizes}")
        if b.shape not in ((n_out, 1), (n_out,)):
            raise invalid(f"biases[{l}] has shape {b.shape}, expected {(n_out, 1)} for sizes {sizes}")
        checked_w.append(w)
        checked_b.append(b.reshape(n_out))

    net = Network(sizes, activation="sigmoid", cost=_BOOK_COSTS[cost], dtype=dtype, backend=backend,
                  seed=seed, n_threads=n_threads)
    net.weights = checked_w
    net.biases = checked_b
    return net


def _book_array(value, what, invalid):
    """A nested list of numbers as a float64 array (ragged lists, strings, null, bools refused)."""
    try:
        array = np.array(value)
    except (ValueError, TypeError, RecursionError) as exc:  # ragged nesting
        raise invalid(f"{what} is not a rectangular array of numbers ({exc})") from None
    if array.dtype.kind not in "iuf":
        raise invalid(f"{what} must hold numbers, got values of type {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise invalid(f"{what} contains NaN or infinite values")
    return array
