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

import contextlib
import json
import math
import numbers
import os
import struct
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Mapping

import numpy as np

from . import _threads
from ._backend import make_backend
from ._validation import check_dtype, check_float, check_sizes
from .activations import ACTIVATIONS, Activation, elu, leaky_relu, maxout
from .costs import COSTS, REGULARIZATIONS
from .layers import Dense, Dropout, layer_from_config
from .model import Sequential
from .network import Network
from .optimizers import OPTIMIZERS, get_optimizer

try:
    import lzma
except ImportError:  # pragma: no cover - Python built without lzma
    lzma = None

__all__ = ["save", "load", "load_book_json", "FORMAT_NAME", "FORMAT_VERSION", "STATE_PREFIX"]

FORMAT_NAME = "nnfast-model"
FORMAT_VERSION = 2
V1_FORMAT_NAME = "nnfast-network"  # version 1: Networks only, described by their sizes
STATE_PREFIX = "state/"  # archive key prefix of the extra state arrays

_MAX_METADATA_BYTES = 64 * 2**20  # far above any real metadata document; refuses absurd headers
_DEFLATE_MAX_RATIO = 1100  # deflate cannot expand more than ~1032:1
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
_ARRAY_KINDS = "biuf"  # bool, signed and unsigned integers, floats: nothing that needs pickle
_COMMON_KEYS = ("format", "format_version", "cost", "dtype", "backend", "n_threads", "lmbda",
                "regularization", "optimizer", "optimizer_steps", "arrays")
_V1_KEYS = _COMMON_KEYS[:2] + ("sizes", "activations", "dropout", "batch_norm", "batch_norm_eps",
                               "batch_norm_momentum") + _COMMON_KEYS[2:]
_V2_KEYS = _COMMON_KEYS[:2] + ("model", "input_shape", "layers") + _COMMON_KEYS[2:]
_MODELS = ("Network", "Sequential")
_BOOK_KEYS = ("sizes", "weights", "biases", "cost")
_BOOK_COSTS = {"CrossEntropyCost": "cross_entropy", "QuadraticCost": "quadratic"}

# What reading a damaged archive can raise from inside zipfile / numpy / json (a flipped bit can
# turn a member "encrypted" (RuntimeError), give it an unsupported compression (NotImplementedError),
# an LZMA stream (LZMAError), a bad header (ValueError, struct.error), a bad CRC (BadZipFile), ...).
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, KeyError,
                IndexError, ValueError, TypeError, struct.error, RuntimeError, OverflowError,
                MemoryError) + ((lzma.LZMAError,) if lzma is not None else ())


class _Invalid(Exception):
    """Internal: the file is not a valid model; `load` re-raises it as ValueError naming the file."""


@contextlib.contextmanager
def _reading(what):
    """Turn whatever a damaged archive makes zipfile / numpy / json raise into one _Invalid."""
    try:
        yield
    except _Invalid:
        raise
    except _READ_ERRORS as exc:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise _Invalid(f"not a readable nnfast model file: corrupted or truncated while reading "
                       f"{what} ({detail})") from None


# ---------------------------------------------------------------------------------------- save

def save(net, path, include_state=True):
    """Write `net` to one ``.npz`` file at `path`, atomically.

    Parameters
    ----------
    net : nnfast.Sequential
        The model to save (any architecture; a Network too).
    path : str or os.PathLike
        The file to write, exactly as given: no ``.npz`` suffix is appended. An existing file is
        replaced.
    include_state : bool, default True
        Also store the training state: the random generator's state (so that training continues
        exactly as it would have without the round trip) and the arrays returned by
        ``net.state_arrays()`` when the network has that method. Without it the file holds the
        architecture and the parameters only, enough to predict.

    Raises
    ------
    TypeError
        If `net` is not an nnfast model or `path` is not a path.
    ValueError
        If the parameters (or a state array) hold NaN or infinite values, which `load` would
        refuse, or the network uses an activation or cost that is not one of nnfast's.
    OSError
        If the file cannot be written; `path` is then left as it was.

    Notes
    -----
    The archive is written to a temporary file in the target's directory, flushed and fsync'ed,
    then moved onto `path` with ``os.replace``: a reader sees the old file or the complete new one,
    never a partial one, and the temporary file is removed if anything fails. A symbolic link at
    `path` is replaced by the file, not written through. The new file gets the permission bits of
    the file it replaces (or the usual ``0o666 & ~umask``).
    """
    if not isinstance(net, Sequential):
        raise TypeError(f"save expects an nnfast model (Sequential or Network), got "
                        f"{type(net).__name__}")
    if not isinstance(include_state, (bool, np.bool_)):
        raise TypeError(f"include_state must be True or False, got {include_state!r}")
    target = os.fspath(path)
    if isinstance(target, bytes):
        target = os.fsdecode(target)

    arrays = {"params": _checked_params(net)}
    if len(net.bn_running):  # inference needs batch norm's running statistics: always saved
        arrays["bn_running"] = _checked_array(net.bn_running, net.dtype, "batch norm's running statistics")
    if include_state:
        arrays.update(_collect_state_arrays(net))
    metadata = _metadata(net, arrays, bool(include_state))
    document = json.dumps(metadata, allow_nan=False).encode("utf-8")
    arrays["metadata"] = np.frombuffer(document, dtype=np.uint8)
    _write_atomically(target, arrays)


def _checked_params(net):
    return _checked_array(net.params, net.dtype, "the network's parameters")


def _checked_array(array, dtype, what):
    array = np.asarray(array)
    if array.ndim != 1 or array.dtype != dtype:
        raise ValueError(f"{what} must be a 1-D {dtype.name} array, got shape {array.shape} "
                         f"and dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contain NaN or infinite values; refusing to save a model that "
                         "load() would reject")
    return array


def _collect_state_arrays(net):
    """The network's extra state arrays (``net.state_arrays()``), under their archive keys."""
    getter = getattr(net, "state_arrays", None)
    if getter is None:
        return {}
    state = getter()
    if not isinstance(state, Mapping):
        raise TypeError(f"net.state_arrays() must return a dict name -> array, got {type(state).__name__}")
    arrays = {}
    for name, value in state.items():
        if not isinstance(name, str) or not name or name.endswith(".npy"):
            raise ValueError(f"state array names must be non-empty strings not ending in '.npy', "
                             f"got {name!r}")
        array = np.asarray(value)
        if array.dtype.kind not in _ARRAY_KINDS:
            raise TypeError(f"state array {name!r} must hold numbers or booleans, got dtype {array.dtype}")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"state array {name!r} contains NaN or infinite values")
        arrays[STATE_PREFIX + name] = array
    return arrays


def _activation_record(act, position):
    """{name, param} of one activation, after checking that `_build_activation` rebuilds it."""
    record = {"name": act.name, "param": float(act.param)}
    try:
        rebuilt = _build_activation(record)
    except _Invalid:
        rebuilt = None
    if rebuilt is None or any(getattr(rebuilt, field) != getattr(act, field)
                              for field in ("name", "code", "param", "pieces", "rowwise",
                                            "differentiable")):
        raise ValueError(f"layer {position}'s activation {act!r} is not one of nnfast's activations "
                         "and cannot be saved")
    return record


def _layer_record(layer, position):
    """A layer's configuration as JSON values (activations as {name, param} records)."""
    record = {}
    for key, value in layer.get_config().items():
        if isinstance(value, Activation):
            value = _activation_record(value, position)
        elif isinstance(value, tuple):
            value = list(value)
        record[key] = value
    return record


def _metadata(net, arrays, include_state):
    cost = net.cost_function.name
    if COSTS.get(cost) is not net.cost_function:
        raise ValueError(f"the network's cost {net.cost_function!r} is not one of nnfast's and cannot "
                         "be saved")
    from . import __version__

    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "nnfast_version": __version__,
        "model": "Network" if isinstance(net, Network) else "Sequential",
        "input_shape": [int(s) for s in net.input_shape],
        "layers": [_layer_record(layer, l) for l, layer in enumerate(net.layers)],
        "cost": cost,
        "dtype": net.dtype.name,
        "backend": net.backend,
        "n_threads": None if net.n_threads is None else int(net.n_threads),
        "lmbda": float(net.lmbda),
        "regularization": net.regularization,
        "optimizer": ({"name": net.optimizer.name, "hyper": {k: float(v) for k, v in
                                                           vars(net.optimizer).items()}}
                      if include_state else None),
        "optimizer_steps": int(net.optimizer_steps) if include_state else 0,
        "include_state": include_state,
        "rng": _jsonable(net.rng.bit_generator.state) if include_state else None,
        "arrays": {key: {"shape": [int(n) for n in array.shape], "dtype": array.dtype.name}
                   for key, array in arrays.items()},
    }


def _jsonable(value):
    """A bit generator's state with its numpy arrays and scalars as plain lists and ints."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_atomically(target, arrays):
    """np.savez into a temporary file next to `target`, fsync, then os.replace onto `target`."""
    directory = os.path.dirname(os.path.abspath(target))
    mode = _new_file_mode(target)
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                                     dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), mode)
            # A file object: numpy writes exactly there and appends no ".npz" suffix.
            np.savez(handle, allow_pickle=False, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(directory)


def _new_file_mode(target):
    """The permission bits for the new file: the replaced file's, else 0o666 & ~umask."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask():
    try:  # Linux: read it without changing it (os.umask would, briefly, for every thread)
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); silently skipped where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------- load

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


def _sniff(handle):
    """The file's kind from its first bytes: "zip", "json", "empty" or "other" (rewinds it)."""
    head = handle.read(4096)
    handle.seek(0)
    if not head:
        return "empty"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # what numpy.load takes for an .npz
        return "zip"
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    if text.lstrip(b" \t\r\n").startswith(b"{"):
        return "json"
    return "other"


def _read_archive(handle, archive_size):
    """(spec, arrays): the checked metadata and every stored array, checked against it."""
    with _reading("the archive's directory"):
        npz = np.load(handle, allow_pickle=False)
    if not isinstance(npz, np.lib.npyio.NpzFile):  # pragma: no cover - _sniff saw a zip prefix
        raise _Invalid("not an nnfast model file (not an .npz archive)")
    with npz:
        with _reading("the archive's directory"):
            stored = set(npz.files)
        for key in ("metadata", "params"):
            if key not in stored:
                raise _Invalid(f"not an nnfast model file (the archive has no {key!r} entry)")

        shape, dtype = _array_header(npz, "metadata", archive_size)
        if dtype != np.uint8 or len(shape) != 1 or shape[0] > _MAX_METADATA_BYTES:
            raise _Invalid(f"not an nnfast model file ('metadata' is not a JSON document: "
                           f"shape {shape}, dtype {dtype})")
        with _reading("'metadata'"):
            document = npz["metadata"].tobytes()
        spec = _parse_metadata(_parse_json_bytes(document, None))

        described = set(spec["arrays"])
        entries = stored - {"metadata"}
        if described != entries:
            missing, extra = sorted(described - entries), sorted(entries - described)
            raise _Invalid("the archive's entries do not match its metadata"
                           + (f"; missing: {missing}" if missing else "")
                           + (f"; not described: {extra}" if extra else ""))
        for key in sorted(entries):
            shape, dtype = _array_header(npz, key, archive_size)
            expected = spec["arrays"][key]
            if list(shape) != expected["shape"] or dtype.name != expected["dtype"]:
                raise _Invalid(f"entry {key!r} has shape {list(shape)} and dtype {dtype.name}, but "
                               f"the metadata describes shape {expected['shape']} and dtype "
                               f"{expected['dtype']}")
        _check_params_description(spec)

        arrays = {}
        for key in sorted(entries):
            with _reading(repr(key)):
                array = npz[key]
            expected = spec["arrays"][key]
            if list(array.shape) != expected["shape"] or array.dtype.name != expected["dtype"]:
                raise _Invalid(f"entry {key!r} does not match its description")  # pragma: no cover
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise _Invalid(f"entry {key!r} contains NaN or infinite values")
            if not array.dtype.isnative:
                array = array.astype(array.dtype.newbyteorder("="))  # same values, native order
            arrays[key] = array
    return spec, arrays


def _array_header(npz, key, archive_size):
    """(shape, dtype) from the .npy header of archive entry `key`, checked against the entry's
    size before numpy allocates anything for it."""
    member = key + ".npy"
    with _reading(repr(key)):
        if member not in npz.zip.namelist():
            raise _Invalid(f"entry {key!r} is not a NumPy array")
        info = npz.zip.getinfo(member)
        with npz.zip.open(info) as stream:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise _Invalid(f"entry {key!r} has an unsupported .npy format version {version}")
            header_bytes = stream.tell()
    if dtype.hasobject or dtype.kind not in _ARRAY_KINDS or dtype.subdtype is not None:
        raise _Invalid(f"entry {key!r} has dtype {dtype}, which an nnfast model never holds")
    data_bytes = math.prod(shape) * dtype.itemsize
    if info.file_size != header_bytes + data_bytes:
        raise _Invalid(f"corrupted file: entry {key!r} claims shape {shape} ({data_bytes} bytes) "
                       f"but holds {info.file_size - header_bytes} bytes")
    if info.compress_type == zipfile.ZIP_STORED and info.file_size > archive_size:
        raise _Invalid(f"corrupted file: entry {key!r} claims more bytes than the file has")
    if (info.compress_type == zipfile.ZIP_DEFLATED
            and info.file_size > _DEFLATE_MAX_RATIO * max(info.compress_size, 1) + 1024):
        raise _Invalid(f"corrupted file: entry {key!r} claims more bytes than its compressed "
                       "data can hold")
    return tuple(int(n) for n in shape), dtype


def _parse_json_bytes(raw, name):
    """The JSON document in `raw` (UTF-8); ValueError naming the file (or _Invalid if name is None)."""
    try:
        text = raw.decode("utf-8-sig")
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        message = f"not an nnfast model file (invalid JSON: {type(exc).__name__}: {exc})"
        if name is None:
            raise _Invalid(message) from None
        raise ValueError(f"{name}: {message}") from None


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _parse_metadata(meta):
    """Check the metadata document's structure and types (version 1 or 2); the values are checked
    by the model's constructor later."""
    if not isinstance(meta, dict):
        raise _Invalid("not an nnfast model file (the metadata is not a JSON object)")
    if meta.get("format") not in (FORMAT_NAME, V1_FORMAT_NAME):
        raise _Invalid(f"not an nnfast model file (format {meta.get('format')!r}, expected "
                       f"{FORMAT_NAME!r} or {V1_FORMAT_NAME!r})")
    expected = 1 if meta["format"] == V1_FORMAT_NAME else FORMAT_VERSION
    version = meta.get("format_version")
    if not _is_int(version) or version != expected:
        newer = _is_int(version) and version > expected
        raise _Invalid(f"unsupported format version {version!r} of {meta['format']!r}"
                       + (" (written by a newer nnfast)" if newer else "")
                       + f"; this nnfast reads version {expected} of it")
    missing = [key for key in (_V1_KEYS if version == 1 else _V2_KEYS) if key not in meta]
    if missing:
        raise _Invalid(f"the metadata lacks {missing}")
    spec = _parse_common(meta)
    spec["version"] = version
    spec.update(_parse_v1_architecture(meta) if version == 1 else _parse_layers(meta))
    return spec


def _require(condition, what):
    if not condition:
        raise _Invalid(f"invalid metadata: {what}")


def _parse_common(meta):
    """What every version's metadata holds besides the architecture."""
    _require(isinstance(meta["cost"], str), "'cost' must be a string")
    _require(isinstance(meta["dtype"], str), "'dtype' must be a string")
    optimizer = meta["optimizer"]
    _require(optimizer is None or (isinstance(optimizer, dict) and set(optimizer) == {"name", "hyper"}
                                   and optimizer["name"] in OPTIMIZERS
                                   and isinstance(optimizer["hyper"], dict)
                                   and all(_is_number(v) for v in optimizer["hyper"].values())),
             f"'optimizer' must be null or {{name: one of {sorted(OPTIMIZERS)}, hyper: {{...}}}}")
    _require(_is_int(meta["optimizer_steps"]) and meta["optimizer_steps"] >= 0,
             "'optimizer_steps' must be a non-negative integer")
    _require(isinstance(meta["backend"], str), "'backend' must be a string")
    _require(meta["n_threads"] is None or _is_int(meta["n_threads"]),
             "'n_threads' must be null or an integer")
    _require(_is_number(meta["lmbda"]), "'lmbda' must be a number")
    _require(meta["regularization"] in REGULARIZATIONS,
             f"'regularization' must be one of {REGULARIZATIONS}, got {meta['regularization']!r}")
    rng = meta.get("rng")
    _require(rng is None or (isinstance(rng, dict) and rng.get("bit_generator") in _BIT_GENERATORS),
             f"'rng' must be null or the state of one of {_BIT_GENERATORS}")
    arrays = meta["arrays"]
    _require(isinstance(arrays, dict), "'arrays' must be an object")
    for key, description in arrays.items():
        _require(key in ("params", "bn_running")
                 or (key.startswith(STATE_PREFIX) and len(key) > len(STATE_PREFIX)),
                 f"unknown archive entry {key!r}")
        _require(isinstance(description, dict) and set(description) == {"shape", "dtype"}
                 and isinstance(description["shape"], list)
                 and all(_is_int(n) and n >= 0 for n in description["shape"])
                 and isinstance(description["dtype"], str),
                 f"the description of {key!r} must be {{shape: [int, ...], dtype: str}}")
    _require("params" in arrays, "'arrays' does not describe 'params'")
    try:
        dtype = check_dtype(meta["dtype"])
        lmbda = check_float(meta["lmbda"], "lmbda", positive=False)
    except (ValueError, TypeError) as exc:
        raise _Invalid(f"invalid metadata: {exc}") from None
    return {
        "cost": meta["cost"],
        "dtype": dtype,
        "optimizer": optimizer,
        "optimizer_steps": meta["optimizer_steps"],
        "backend": meta["backend"],
        "n_threads": meta["n_threads"],
        "lmbda": lmbda,
        "regularization": meta["regularization"],
        "rng": rng,
        "arrays": arrays,
    }


def _parse_v1_architecture(meta):
    """Version 1: a Network's sizes, activations, dropout and batch norm."""
    sizes, activations, dropout = meta["sizes"], meta["activations"], meta["dropout"]
    _require(isinstance(sizes, list) and all(_is_int(s) for s in sizes),
             f"'sizes' must be a list of integers, got {sizes!r}")
    _require(isinstance(activations, list)
             and all(isinstance(a, dict) and set(a) == {"name", "param"} for a in activations),
             "'activations' must be a list of {name, param} objects")
    _require(isinstance(dropout, list) and all(_is_number(p) for p in dropout),
             "'dropout' must be a list of numbers")
    _require(isinstance(meta["batch_norm"], list)
             and all(isinstance(f, bool) for f in meta["batch_norm"]),
             "'batch_norm' must be a list of true/false")
    _require(_is_number(meta["batch_norm_eps"]) and _is_number(meta["batch_norm_momentum"]),
             "'batch_norm_eps' and 'batch_norm_momentum' must be numbers")
    return {
        "sizes": sizes,
        "activations": [_build_activation(a) for a in activations],
        "dropout": dropout,
        "batch_norm": meta["batch_norm"],
        "batch_norm_eps": meta["batch_norm_eps"],
        "batch_norm_momentum": meta["batch_norm_momentum"],
    }


def _parse_layers(meta):
    """Version 2: the model class, the input shape and the layers, built from their configs."""
    _require(meta["model"] in _MODELS, f"'model' must be one of {_MODELS}, got {meta['model']!r}")
    shape = meta["input_shape"]
    _require(isinstance(shape, list) and all(_is_int(s) for s in shape),
             f"'input_shape' must be a list of integers, got {shape!r}")
    records = meta["layers"]
    _require(isinstance(records, list) and records and all(isinstance(r, dict) for r in records),
             "'layers' must be a non-empty list of layer objects")
    return {"model": meta["model"], "input_shape": shape,
            "layers": [_build_layer(record, l) for l, record in enumerate(records)]}


def _build_layer(record, position):
    """The layer a saved record describes: its activation rebuilt, lists made tuples, and every
    value checked by the layer's own constructor."""
    arguments = {}
    for key, value in record.items():
        if key == "activation":
            if not isinstance(value, dict) or set(value) != {"name", "param"}:
                raise _Invalid(f"layer {position}: the activation must be a {{name, param}} object")
            value = _build_activation(value)
        elif isinstance(value, list):
            value = tuple(value)
        arguments[key] = value
    try:
        return layer_from_config(arguments)
    except (ValueError, TypeError) as exc:
        raise _Invalid(f"invalid model description: layer {position}: {exc}") from None


def _build_activation(record):
    """The Activation a {name, param} record stands for (parametric ones by their factories)."""
    name, param = record.get("name"), record.get("param")
    if not isinstance(name, str) or not _is_number(param) or not math.isfinite(param):
        raise _Invalid(f"invalid activation record {record!r}")
    try:
        if name == "leaky_relu":
            return leaky_relu(param)
        if name == "elu":
            return elu(param)
        if name == "maxout":
            if param != int(param):
                raise ValueError(f"maxout needs a whole number of pieces, got {param}")
            return maxout(int(param))
    except (ValueError, TypeError) as exc:
        raise _Invalid(f"activation {name!r}: {exc}") from None
    act = ACTIVATIONS.get(name)
    if not isinstance(act, Activation):
        raise _Invalid(f"unknown activation {name!r}")
    if param != act.param:
        raise _Invalid(f"activation {name!r} takes no parameter, got {param}")
    return act


def _check_params_description(spec):
    """`params` must be 1-D in the model's dtype, and as long as the architecture's parameters
    (checked before the model, which allocates them, is built)."""
    description = spec["arrays"]["params"]
    if len(description["shape"]) != 1 or description["dtype"] != spec["dtype"].name:
        raise _Invalid(f"'params' must be a 1-D {spec['dtype'].name} array, got shape "
                       f"{description['shape']} and dtype {description['dtype']}")
    stored = description["shape"][0]
    if spec["version"] == 1:
        sizes, acts = spec["sizes"], spec["activations"]
        needed = sum(max(n_out, 0) * act.pieces * (max(n_in, 0) + 1)
                     for n_in, n_out, act in zip(sizes[:-1], sizes[1:], acts))
        if needed > stored:
            raise _Invalid(f"'params' has {stored} values but the architecture {sizes} needs "
                           f"{needed}")
        return
    needed, shape = 0, tuple(spec["input_shape"])
    try:
        for layer in spec["layers"]:
            built = layer.build(shape)
            needed += built.n_params
            shape = built.out_shape
    except (ValueError, TypeError) as exc:
        raise _Invalid(f"invalid model description: {exc}") from None
    if needed != stored:
        raise _Invalid(f"'params' has {stored} values but the layers need {needed}")


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


def _restore_generator(state):
    """A numpy Generator whose bit generator is in exactly the saved state."""
    bit_generator = getattr(np.random, state["bit_generator"])(0)
    try:
        bit_generator.state = state
        exact = _jsonable(bit_generator.state) == state
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise _Invalid(f"invalid random generator state: {type(exc).__name__}: {exc}") from None
    if not exact:
        raise _Invalid("invalid random generator state (it does not restore exactly)")
    return np.random.Generator(bit_generator)


# ---------------------------------------------------------------------------------------- book JSON

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
