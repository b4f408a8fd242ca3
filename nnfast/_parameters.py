"""What a model's parameters look like from Python: `ParameterList` (the checked views behind
`model.weights` / `model.biases`), and which compiled loop runs a model (`runs_on_dense_loop`)."""

import numpy as np


class ParameterList:
    """`model.weights` / `model.biases`: views into the model's one parameter vector, one per layer
    (None for a layer without parameters).

    Reading gives the live array (in-place edits change the model); assigning ``weights[l] = A``
    checks A's shape and values, then copies it in, converted to the model's dtype, so the change
    reaches both backends. An assignment holds the model's usage lock like training does (refused
    while another thread uses the model).
    """

    def __init__(self, views, kind, usage):
        self._views = views
        self._kind = kind
        self._usage = usage

    def __len__(self):
        return len(self._views)

    def __getitem__(self, index):
        return self._views[index]

    def __iter__(self):
        return iter(self._views)

    def _checked(self, index, value):
        target = self._views[index]
        if target is None:
            if value is None:
                return None
            raise TypeError(f"layer {index} has no {self._kind}")
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{self._kind}[{index}] must hold real numbers, got dtype {array.dtype}")
        if array.shape != target.shape:
            raise ValueError(f"{self._kind}[{index}] must have shape {target.shape}, got {array.shape}")
        with np.errstate(over="ignore", invalid="ignore"):  # checked after the conversion:
            array = array.astype(target.dtype)             # 1e300 is inf in float32
        if not np.isfinite(array).all():
            raise ValueError(f"{self._kind}[{index}] contains NaN or infinite values (in "
                             f"{target.dtype.name})")
        return array

    def __setitem__(self, index, value):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"{self._kind} is indexed by layer number")
        index = range(len(self._views))[index]  # negative indices; IndexError outside
        with self._usage.using(f"{self._kind}[{index}] =", write=True):
            array = self._checked(index, value)
            if array is not None:
                self._views[index][...] = array

    def assign_all(self, values):
        values = list(values)
        if len(values) != len(self):
            raise ValueError(f"need {len(self)} {self._kind} arrays, got {len(values)}")
        checked = [self._checked(i, v) for i, v in enumerate(values)]  # all checks before any write
        for view, array in zip(self._views, checked):
            if view is not None:
                view[...] = array

    def __repr__(self):
        return f"<{len(self)} {self._kind}: " + ", ".join(
            "-" if v is None else str(v.shape) for v in self._views) + ">"


def runs_on_dense_loop(built, input_shape):
    """True when the layers are a plain stack of Dense layers on flat input, with at most one
    Dropout after each hidden one (every Network): the dense loop (src_cython/engine/_train.pyx,
    the fused update GEMMs) runs such a model; any other runs on the layer engine."""
    if len(input_shape) != 1 or built[-1].kind != "dense":
        return False
    previous = None
    for layer in built:
        if layer.kind not in ("dense", "dropout") or (layer.kind == "dropout"
                                                       and previous != "dense"):
            return False
        previous = layer.kind
    return True
