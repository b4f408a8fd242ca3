"""What a model's parameters look like from Python: `ParameterList` (the checked views behind
`model.weights` / `model.biases`) and `DenseStack` (the description of a model that is a plain stack
of Dense layers, which runs on the dense loop)."""

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


class DenseStack:
    """The description of a model that is a plain stack of Dense layers (with Dropout between
    them): what the dense fast path (src_cython/engine/_train.pyx) and nnfast/reference/sgd.py take."""

    def __init__(self, sizes, activations, batch_norm, eps, momentum, dropout, weight_layers):
        self.sizes = sizes              # units per layer, input first
        self.activations = activations  # one per weight layer
        self.batch_norm = batch_norm    # one flag per weight layer (the output's False)
        self.eps, self.momentum = eps, momentum
        self.dropout = dropout          # p per hidden layer (0: none)
        self.weight_layers = weight_layers  # the model's index of each weight layer
        self.dropout_columns = np.zeros(len(sizes), dtype=np.intp)
        self.dropout_scales = np.zeros(len(sizes), dtype=np.float64)
        column = 0
        for l, p in enumerate(dropout, start=1):
            if p > 0:
                self.dropout_columns[l] = column
                self.dropout_scales[l] = 1.0 / (1.0 - p)
                column += sizes[l]

    @classmethod
    def of(cls, built, input_shape):
        """The stack `built` forms, or None when it is anything else."""
        if len(input_shape) != 1:
            return None
        sizes, activations, flags, dropout, weight_layers, settings = [input_shape[0]], [], [], [], [], set()
        pending_dropout = None
        for l, layer in enumerate(built):
            if layer.kind == "dense":
                if weight_layers:
                    dropout.append(pending_dropout or 0.0)
                elif pending_dropout is not None:
                    return None  # dropout of the inputs: the general engine's
                pending_dropout = None
                sizes.append(layer.out_shape[0])
                activations.append(layer.activation)
                flags.append(layer.batch_norm)
                weight_layers.append(l)
                if layer.batch_norm:
                    settings.add((layer.bn_eps, layer.bn_momentum))
            elif layer.kind == "dropout" and pending_dropout is None:
                pending_dropout = layer.p
            else:
                return None
        if pending_dropout is not None or len(settings) > 1 or not weight_layers:
            return None
        eps, momentum = settings.pop() if settings else (1e-5, 0.9)
        return cls(sizes, activations, flags, eps, momentum, dropout, weight_layers)
