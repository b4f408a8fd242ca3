"""Layer specifications for `nnfast.Sequential`: what each layer computes and the shapes it maps.

A layer spec holds its hyper-parameters only; `Sequential` calls ``layer.build(input_shape)`` once,
which checks the shape and returns a `Built` record (output shape, parameter shapes, padding).
Shapes are (channels, height, width) for images and (units,) for flat features; inside a network
every activation is stored as rows of a C-contiguous (n, prod(shape)) array, so (n, C, H, W) images
and flat rows hold the same memory.

Semantics (the NumPy reference in nnfast/reference/conv.py is the executable spec):

- ``Conv2D``: cross-correlation (no kernel flip), ``z[f, y, x] = b[f] + sum_{c,i,j} W[f, c, i, j]
  * x[c, y*s + i - pad_top, x*s + j - pad_left]`` (zero outside the image), then the activation.
  ``padding="valid"``: no padding, out = (H - k) // s + 1. ``padding="same"``: out = ceil(H / s),
  total padding max((out - 1) s + k - H, 0) with the smaller half at the top/left (TensorFlow's rule).
- ``MaxPool2D(size, stride=None)`` / ``AvgPool2D(size, stride=None)``: size x size windows every
  `stride` pixels (None: stride = size, non-overlapping); out = (H - size) // stride + 1, so
  trailing rows/columns that no window reaches are ignored (and get zero gradient). Max-pool's
  gradient goes to the first maximum of its window in row-major order; where windows overlap, an
  input receives the sum of the gradients of every window it is the maximum of (avg-pool: of
  every window it is in).
- ``Flatten()``: (C, H, W) -> (C*H*W,) in C order (a no-op on the stored rows).
- ``Dense(units, activation)``: z = W a + b with W of shape (units, n_in) on flat input; with
  ``activation=nnfast.activations.maxout(k)`` W has units*k rows and each unit outputs its largest
  piece (hidden layers only).
- ``batch_norm=True`` on Dense / Conv2D: the layer's z is normalised per unit / per channel over the
  batch (m rows / m*out_h*out_w positions) while training, with running statistics at inference;
  y = gamma * zhat + beta feeds the activation (nnfast/reference/batchnorm.py, as Network's).
  Parameters W, b, gamma, beta; the bias is redundant (gradient 0, stays 0). Hidden layers only.
- ``BatchNorm(activation)``: a layer of its own normalising its input per unit (flat input) or per
  channel (images), then the activation.
- ``Dropout(p)``: inverted dropout on its input (kept values scaled by 1/(1-p) while training,
  identity at inference); the masks come from the network's Generator.
"""

from dataclasses import dataclass

import numpy as np

from ._validation import check_float, check_int
from .activations import get_activation

PADDINGS = ("valid", "same")


@dataclass(frozen=True)
class Built:
    """A layer placed in a network: its input and output shapes and its parameters' shapes."""

    kind: str
    in_shape: tuple
    out_shape: tuple
    weight_shape: tuple = ()  # () for layers without parameters
    bias_shape: tuple = ()
    stride: int = 1
    pad_top: int = 0
    pad_left: int = 0
    activation: object = None
    p: float = 0.0  # dropout probability
    size: int = 0  # pooling: the window's side
    batch_norm: bool = False  # Dense/Conv2D with batch norm; always True for a BatchNorm layer
    bn_eps: float = 1e-5
    bn_momentum: float = 0.9

    @property
    def norm_units(self):
        """Units (channels) batch norm works on: 0 without batch norm."""
        if not self.batch_norm:
            return 0
        return self.in_shape[0] if self.kind == "batchnorm" else self.out_shape[0]

    @property
    def pieces(self):
        """Maxout pieces per unit (1 for every other activation)."""
        return self.activation.pieces if self.activation is not None else 1

    @property
    def n_in(self):
        return _product(self.in_shape)

    @property
    def n_out(self):
        return _product(self.out_shape)

    @property
    def n_weights(self):
        return _product(self.weight_shape) if self.weight_shape else 0

    @property
    def n_biases(self):
        return _product(self.bias_shape) if self.bias_shape else 0

    @property
    def n_norm(self):
        """Batch norm's parameters: gamma and beta, one each per unit (channel)."""
        return 2 * self.norm_units

    @property
    def n_params(self):
        return self.n_weights + self.n_biases + self.n_norm

    @property
    def fan_in(self):
        """Inputs per output unit (per filter position for convolutions)."""
        return _product(self.weight_shape[1:]) if self.weight_shape else 0


def _product(shape):
    out = 1
    for s in shape:
        out *= s
    return out


def _pair(value, name):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (height, width), got {value!r}")
        return (check_int(value[0], name, 1), check_int(value[1], name, 1))
    value = check_int(value, name, 1)
    return (value, value)


def _need_image(shape, what):
    if len(shape) != 3:
        raise ValueError(f"{what} needs image input (channels, height, width), got shape {shape}; "
                         "put it before Flatten/Dense")


class Layer:
    """Base class of the layer specs. `config_fields` name the constructor arguments that
    `get_config` records and `layer_from_config` passes back (the save format, the command line)."""

    config_fields = ()

    def build(self, in_shape):  # pragma: no cover - every layer overrides it
        raise NotImplementedError

    def get_config(self):
        """{"kind": class name, argument: value, ...}: ``layer_from_config`` rebuilds the layer."""
        return {"kind": type(self).__name__,
                **{name: getattr(self, name) for name in self.config_fields}}


class Conv2D(Layer):
    """A 2-D convolution (cross-correlation) over (channels, height, width) input.

    Parameters
    ----------
    filters : int
        Output channels F. The weights have shape (F, C, kh, kw), the biases (F,).
    kernel_size : int or (int, int)
    stride : int
        The same step vertically and horizontally.
    padding : "valid" or "same"
        See the module docstring for the exact sizes.
    activation : str or Activation
        An elementwise activation (not softmax/maxout); default "relu".
    batch_norm : bool
        Normalise z per channel over the batch (see the module docstring); parameters W, b, gamma,
        beta (gamma starts at 1, beta and b at 0).
    batch_norm_eps, batch_norm_momentum : float
        eps > 0; the running averages' momentum in [0, 1).
    """

    config_fields = ("filters", "kernel_size", "stride", "padding", "activation", "batch_norm",
                     "batch_norm_eps", "batch_norm_momentum")

    def __init__(self, filters, kernel_size, stride=1, padding="valid", activation="relu",
                 batch_norm=False, batch_norm_eps=1e-5, batch_norm_momentum=0.9):
        self.filters = check_int(filters, "filters", 1)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = check_int(stride, "stride", 1)
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
        self.padding = padding
        self.activation = _elementwise(activation, "Conv2D")
        self.batch_norm, self.batch_norm_eps, self.batch_norm_momentum = _norm_settings(
            batch_norm, batch_norm_eps, batch_norm_momentum)

    def build(self, in_shape):
        _need_image(in_shape, "Conv2D")
        channels, height, width = in_shape
        kh, kw = self.kernel_size
        s = self.stride
        if self.padding == "valid":
            if kh > height or kw > width:
                raise ValueError(f"Conv2D kernel {kh}x{kw} is larger than its input {height}x{width} "
                                 "(use padding='same' or a smaller kernel)")
            out_h, out_w, top, left = (height - kh) // s + 1, (width - kw) // s + 1, 0, 0
        else:
            out_h, out_w = -(-height // s), -(-width // s)
            top = max((out_h - 1) * s + kh - height, 0) // 2
            left = max((out_w - 1) * s + kw - width, 0) // 2
        return Built("conv", tuple(in_shape), (self.filters, out_h, out_w),
                     (self.filters, channels, kh, kw), (self.filters,), s, top, left,
                     self.activation, batch_norm=self.batch_norm, bn_eps=self.batch_norm_eps,
                     bn_momentum=self.batch_norm_momentum)

    def __repr__(self):
        return (f"Conv2D({self.filters}, {self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding!r}, activation={self.activation.name!r}"
                + (", batch_norm=True" if self.batch_norm else "") + ")")


class _Pool(Layer):
    kind = ""
    config_fields = ("size", "stride")

    def __init__(self, size, stride=None):
        self.size = check_int(size, "pool size", 1)
        self.stride = self.size if stride is None else check_int(stride, "pool stride", 1)

    def build(self, in_shape):
        _need_image(in_shape, type(self).__name__)
        channels, height, width = in_shape
        if self.size > height or self.size > width:
            raise ValueError(f"{type(self).__name__}({self.size}) is larger than its input "
                             f"{height}x{width}")
        out_h = (height - self.size) // self.stride + 1
        out_w = (width - self.size) // self.stride + 1
        return Built(self.kind, tuple(in_shape), (channels, out_h, out_w), stride=self.stride,
                     size=self.size)

    def __repr__(self):
        stride = f", stride={self.stride}" if self.stride != self.size else ""
        return f"{type(self).__name__}({self.size}{stride})"


class MaxPool2D(_Pool):
    """Max over size x size windows every `stride` pixels (None: stride = size, non-overlapping);
    backprop sends each window's gradient to its first maximum (row-major order), summed where
    windows overlap."""

    kind = "maxpool"


class AvgPool2D(_Pool):
    """Mean over size x size windows every `stride` pixels (None: stride = size)."""

    kind = "avgpool"


class Flatten(Layer):
    """(C, H, W) -> (C*H*W,) in C order."""

    def build(self, in_shape):
        return Built("flatten", tuple(in_shape), (_product(in_shape),))

    def __repr__(self):
        return "Flatten()"


class Dense(Layer):
    """A fully connected layer: a = sigma(W x + b), W of shape (units, n_in).

    Parameters
    ----------
    units : int
    activation : str or Activation
        Elementwise, "softmax" for the output layer, or ``nnfast.activations.maxout(k)`` for a
        hidden layer (W then has units*k rows, unit j's pieces at rows j*k .. j*k+k-1). Default
        "sigmoid" (the book's).
    batch_norm : bool
        Normalise z per unit over the batch (hidden layers, not maxout); parameters W, b, gamma,
        beta (gamma starts at 1, beta and b at 0).
    batch_norm_eps, batch_norm_momentum : float
        eps > 0; the running averages' momentum in [0, 1).
    """

    config_fields = ("units", "activation", "batch_norm", "batch_norm_eps", "batch_norm_momentum")

    def __init__(self, units, activation="sigmoid", batch_norm=False, batch_norm_eps=1e-5,
                 batch_norm_momentum=0.9):
        self.units = check_int(units, "units", 1)
        self.activation = get_activation(activation)
        self.batch_norm, self.batch_norm_eps, self.batch_norm_momentum = _norm_settings(
            batch_norm, batch_norm_eps, batch_norm_momentum)
        if self.batch_norm and self.activation.pieces > 1:
            raise ValueError("batch norm is not available on maxout layers")

    def build(self, in_shape):
        if len(in_shape) != 1:
            raise ValueError(f"Dense needs flat input; put Flatten() before it (got shape {in_shape})")
        rows = self.units * self.activation.pieces
        return Built("dense", tuple(in_shape), (self.units,), (rows, in_shape[0]), (rows,),
                     activation=self.activation, batch_norm=self.batch_norm,
                     bn_eps=self.batch_norm_eps, bn_momentum=self.batch_norm_momentum)

    def __repr__(self):
        return (f"Dense({self.units}, activation={self.activation.name!r}"
                + (", batch_norm=True" if self.batch_norm else "") + ")")


class Dropout(Layer):
    """Inverted dropout of the previous layer's output with probability p (0 <= p < 1)."""

    config_fields = ("p",)

    def __init__(self, p):
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise TypeError(f"dropout probability must be a number, got {p!r}")
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = float(p)

    def build(self, in_shape):
        return Built("dropout", tuple(in_shape), tuple(in_shape), p=self.p)

    def __repr__(self):
        return f"Dropout({self.p})"


class BatchNorm(Layer):
    """Batch normalisation as a layer: its input normalised per unit (flat input) or per channel
    (image input) over the batch, y = gamma * zhat + beta, then the (elementwise) activation.
    Semantics of nnfast/reference/batchnorm.py: batch statistics while training (moving the running
    ones, the variance unbiased), running statistics at inference.

    Its parameters are gamma (starts at 1) then beta (starts at 0), one per unit / channel, never
    decayed; it has no weights or biases (in the compiled layer table they sit at the gamma
    offset, S_GOFF, as a Dense layer's batch norm parameters do).
    """

    config_fields = ("activation", "eps", "momentum")

    def __init__(self, activation="identity", eps=1e-5, momentum=0.9):
        self.activation = _elementwise(activation, "BatchNorm")
        _, self.eps, self.momentum = _norm_settings(True, eps, momentum)

    def build(self, in_shape):
        return Built("batchnorm", tuple(in_shape), tuple(in_shape), activation=self.activation,
                     batch_norm=True, bn_eps=self.eps, bn_momentum=self.momentum)

    def __repr__(self):
        return f"BatchNorm(activation={self.activation.name!r})"


def _norm_settings(batch_norm, eps, momentum):
    if not isinstance(batch_norm, (bool, np.bool_)):
        raise TypeError(f"batch_norm must be True or False, got {batch_norm!r}")
    eps = check_float(eps, "batch_norm_eps", positive=True)
    momentum = check_float(momentum, "batch_norm_momentum", positive=False)
    if momentum >= 1:
        raise ValueError(f"batch_norm_momentum must be in [0, 1), got {momentum}")
    return bool(batch_norm), eps, momentum


def _elementwise(activation, where):
    act = get_activation(activation)
    if act.rowwise or act.pieces > 1:
        raise ValueError(f"{where} needs an elementwise activation, got {act.name!r}")
    return act


LAYER_CLASSES = {cls.__name__: cls for cls in (Conv2D, MaxPool2D, AvgPool2D, Flatten, Dense, Dropout,
                                                BatchNorm)}


def layer_from_config(config):
    """The layer a `Layer.get_config()` dict describes (checked by the layer's constructor)."""
    if not isinstance(config, dict) or config.get("kind") not in LAYER_CLASSES:
        kind = config.get("kind") if isinstance(config, dict) else config
        raise ValueError(f"unknown layer kind {kind!r}; choose one of {sorted(LAYER_CLASSES)}")
    cls = LAYER_CLASSES[config["kind"]]
    arguments = {key: value for key, value in config.items() if key != "kind"}
    unknown = set(arguments) - set(cls.config_fields)
    if unknown:
        raise ValueError(f"{config['kind']} takes no argument {sorted(unknown)}")
    return cls(**arguments)


LAYER_KINDS = {"conv": 0, "maxpool": 1, "avgpool": 2, "flatten": 3, "dense": 4, "dropout": 5,
               "batchnorm": 6}
