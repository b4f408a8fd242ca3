"""Input checks shared by every public entry point. Everything is checked before any kernel runs."""

import numbers
import math

import numpy as np

_FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}
MAX_LAYER_SIZE = 2**31 - 1


def check_dtype(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in _FLOAT_DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(name)


def check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_float(value, name, positive):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or (value <= 0 if positive else value < 0):
        raise ValueError(f"{name} must be {'positive' if positive else 'non-negative'} and finite, got {value}")
    return value


def check_sizes(sizes):
    try:
        sizes = list(sizes)
    except TypeError:
        raise TypeError(f"sizes must be a list of layer widths, got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output layer, got {sizes}")
    checked = [check_int(s, "every layer size", 1) for s in sizes]
    if max(checked) > MAX_LAYER_SIZE:
        raise ValueError(f"layer sizes must be at most {MAX_LAYER_SIZE} (the kernels' dimensions are C "
                         f"ints), got {max(checked)}")
    return checked


def _as_numeric_array(values, name):
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {array.dtype}")
    return array


def all_finite(array):
    """True when no element is NaN or infinite: one summing pass (a NaN or an infinity makes the
    sum non-finite), and the elementwise test only when the sum itself overflows."""
    if array.dtype.kind in "biu" or array.size == 0:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(array, axis=None)):
            return True
    return bool(np.isfinite(array).all())


def check_inputs(X, n_in, dtype, name="X", check_finite=True):
    """X as a C-contiguous (n, n_in) array of the network's dtype (copied only when needed).
    check_finite=False leaves the NaN/inf test to a caller that does it more cheaply."""
    array = _as_numeric_array(X, name)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (examples as rows, {n_in} columns), got shape {array.shape}"
                         + ("; use X.reshape(1, -1) for one example" if array.ndim == 1 else ""))
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 rows)")
    if array.shape[1] != n_in:
        raise ValueError(f"{name} has {array.shape[1]} columns but the network's input layer has {n_in}")
    array = np.ascontiguousarray(array, dtype=dtype)
    if check_finite and not all_finite(array):
        raise nonfinite_error(name, dtype)
    return array


def nonfinite_error(name, dtype):
    return ValueError(f"{name} contains NaN or infinite values (after conversion to {np.dtype(dtype).name})")


def check_targets(y, n_rows, n_out, dtype, name="y"):
    """(labels, targets): integer class labels (n,) -> (intp labels, None); target rows (n, n_out) ->
    (None, C-contiguous targets in dtype). Labels are in [0, n_out), or {0, 1} with one output unit."""
    array = _as_numeric_array(y, name)
    if array.ndim == 0 or array.shape[0] != n_rows:
        raise ValueError(f"{name} must have one entry per example ({n_rows}), got shape {array.shape}")
    if array.ndim == 1:
        n_classes = 2 if n_out == 1 else n_out
        if array.dtype.kind == "f":
            if not all_finite(array) or not np.array_equal(array, np.floor(array)):
                raise ValueError(f"{name} given as 1-D labels must hold whole numbers")
        bad = (array < 0) | (array >= n_classes)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"label {array[i]!r} at position {i} is outside [0, {n_classes}) "
                             f"for a network with {n_out} output unit(s)")
        return array.astype(np.intp), None
    if array.ndim == 2 and array.shape[1] == n_out:
        targets = np.ascontiguousarray(array, dtype=dtype)
        if not all_finite(targets):
            raise ValueError(f"{name} contains NaN or infinite values")
        return None, targets
    raise ValueError(f"{name} must be labels (n,) or target rows (n, {n_out}), got shape {array.shape}")


def check_fit_arguments(epochs, batch_size, eta, lmbda, shuffle, validation_data, check_pair):
    """The arguments every fit takes, checked: (epochs, batch_size, eta, lmbda, validation), where
    validation is None or check_pair(X_validation, y_validation) (which checks the pair's data)."""
    epochs = check_int(epochs, "epochs", 1)
    batch_size = check_int(batch_size, "batch_size", 1)
    eta = check_float(eta, "eta", positive=True)
    lmbda = check_float(lmbda, "lmbda", positive=False)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    validation = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (X_validation, y_validation)")
        validation = check_pair(*validation_data)
    return epochs, batch_size, eta, lmbda, validation


def check_data(X, y, n_in, n_out, dtype, what="", check_finite=True):
    """Both halves of a data set; returns (X, labels, targets)."""
    X = check_inputs(X, n_in, dtype, name=f"{what}X", check_finite=check_finite)
    labels, targets = check_targets(y, X.shape[0], n_out, dtype, name=f"{what}y")
    return X, labels, targets
