"""The model file format (version 2, and reading version 1): writing a model's archive, and reading
an archive back into a checked description of the model (no model is built here: nnfast/io.py
builds it). See nnfast/io.py for the format itself.

It imports no model class, so that a model's `save` needs no import of nnfast.io (which imports the
models): the modules form no cycle.
"""

import contextlib
import json
import math
import numbers
import os
import struct
import zipfile
import zlib
from collections.abc import Mapping

import numpy as np

from ._atomic import write_atomically
from ._validation import check_dtype, check_float
from ._version import __version__
from .activations import ACTIVATIONS, Activation, elu, leaky_relu, maxout
from .costs import COSTS, REGULARIZATIONS
from .layers import layer_from_config
from .training.optimizers import OPTIMIZERS

try:
    import lzma
except ImportError:  # pragma: no cover - Python built without lzma
    lzma = None

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
    if getattr(type(net), "_save_kind", None) not in _MODELS:
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
    # a file object: numpy writes exactly there and appends no ".npz" suffix
    write_atomically(target, lambda handle: np.savez(handle, allow_pickle=False, **arrays))


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
    cost = net.cost_function.name if net.cost_function is not None else None
    if cost is not None and COSTS.get(cost) is not net.cost_function:
        raise ValueError(f"the network's cost {net.cost_function!r} is not one of nnfast's and cannot "
                         "be saved")
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "nnfast_version": __version__,
        "model": net._save_kind,
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
    _require(isinstance(meta["cost"], str) or (meta["cost"] is None and meta.get("format_version") != 1),
             "'cost' must be a string (or null: a model without a cost)")
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
