"""``nnfast train --layers``: the two forms of the option and the layer-spec syntax.

    --layers 784,30,10                        units per layer: an nnfast.Network, as always
    --layers conv:20:5,pool:2,flatten,dense:100,dense:10
                                              a layer spec: an nnfast.Sequential

`parse_layers` tells the forms apart and checks the syntax (no data needed); `LayerSpec.plan`
turns a spec into the layers and their built records for an input shape, with every check the
model would make, so that a mistake is one line before anything is allocated.
"""

import math
from dataclasses import dataclass, field

from .data import UsageError
from ..activations import get_activation
from ..costs import check_pairing, get_cost
from ..layers import AvgPool2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D

SPEC_HELP = """\
layer specs:
  --layers takes units per layer (784,30,10: an nnfast.Network, sigmoid units by default) or a
  layer spec: comma-separated layers after the input, each KIND[:ARG...] (an nnfast.Sequential):

  conv:FILTERS:KERNEL[:stride=S][:padding=valid|same][:act=NAME][:bn]
                   2-D convolution, FILTERS output channels, a KERNEL (K, or KHxKW) window;
                   default stride 1, padding valid, act relu (or --activation)
  pool:SIZE        max-pooling over non-overlapping SIZE x SIZE windows (also maxpool:SIZE)
  avgpool:SIZE     average pooling, the same windows
  flatten          images to flat rows: needed between the last conv/pool and the first dense
  dense:UNITS[:act=NAME][:bn]
                   fully connected; hidden layers default to relu (or --activation)
  dropout:P        inverted dropout of the previous layer's output, 0 <= P < 1
  :bn              batch-normalise the layer's pre-activations (--batch-norm: every conv and
                   hidden dense layer)

  The last layer is a dense layer with one unit per class (or 1 for two classes). Without act=
  it is softmax with --cost log_likelihood (sigmoid with cross_entropy for 1 unit); with --cost
  it is the activation that cost needs (cross_entropy: sigmoid, log_likelihood: softmax,
  quadratic: sigmoid, hinge: identity). With act= and no --cost, the cost follows it (softmax:
  log_likelihood, sigmoid: cross_entropy, any other: quadratic).

  The input: the data's rows. With conv or pool layers they are images of --input-shape C,H,W;
  by default one channel of a square (784 features: 1,28,28). --eta defaults to 0.1 with a spec.

  The book's chapter-6 network:
    nnfast train --layers conv:20:5,pool:2,conv:40:5,pool:2,flatten,dense:100,dropout:0.5,dense:10
"""

IMAGE_KINDS = ("conv", "pool", "maxpool", "avgpool")
# the output activation a cost needs when the spec names none, and the cost an output layer's
# activation pairs with when --cost is not given (any other activation: quadratic)
OUTPUT_FOR_COST = {"cross_entropy": "sigmoid", "log_likelihood": "softmax", "quadratic": "sigmoid",
                   "hinge": "identity"}
COST_FOR_OUTPUT = {"softmax": "log_likelihood", "sigmoid": "cross_entropy"}


def _whole(text, what):
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, got {text!r}") from None
    if value < 1:
        raise ValueError(f"{what} must be at least 1, got {value}")
    return value


def _kernel(text, what):
    parts = text.lower().split("x")
    if len(parts) > 2:
        raise ValueError(f"{what} must be K or KHxKW, got {text!r}")
    sizes = tuple(_whole(part, what) for part in parts)
    return sizes[0] if len(sizes) == 1 else sizes


def _probability(text, what):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (math.isfinite(value) and 0 <= value < 1):
        raise ValueError(f"{what} must be a number in [0, 1), got {text!r}")
    return value


def _padding(text, what):
    if text not in ("valid", "same"):
        raise ValueError(f"{what} must be valid or same, got {text!r}")
    return text


def _activation(text, what):
    get_activation(text)  # unknown names: the registry's message, with the choices
    return text


@dataclass(frozen=True)
class _Kind:
    arguments: tuple = ()  # (NAME, parse) in order
    options: dict = field(default_factory=dict)  # name=VALUE: parse
    flags: tuple = ()  # bare words

    def usage(self, kind):
        return ":".join([kind, *(name for name, _ in self.arguments)])


_LAYER_OPTIONS = {"act": _activation}
KINDS = {
    "conv": _Kind((("FILTERS", _whole), ("KERNEL", _kernel)),
                  {"stride": _whole, "padding": _padding, **_LAYER_OPTIONS}, ("bn",)),
    "pool": _Kind((("SIZE", _whole),)),
    "maxpool": _Kind((("SIZE", _whole),)),
    "avgpool": _Kind((("SIZE", _whole),)),
    "flatten": _Kind(),
    "dense": _Kind((("UNITS", _whole),), dict(_LAYER_OPTIONS), ("bn",)),
    "dropout": _Kind((("P", _probability),)),
}


@dataclass
class Item:
    """One layer of a spec as written: its text, kind and checked values by name."""

    text: str
    kind: str
    values: dict

    def make(self, activation, batch_norm):
        """The nnfast.layers object (activation: the name for conv/dense layers)."""
        values = self.values
        normed = values.get("bn", False) or batch_norm
        if self.kind == "conv":
            return Conv2D(values["FILTERS"], values["KERNEL"], stride=values.get("stride", 1),
                          padding=values.get("padding", "valid"), activation=activation,
                          batch_norm=normed)
        if self.kind == "dense":
            return Dense(values["UNITS"], activation, batch_norm=normed)
        if self.kind == "dropout":
            return Dropout(values["P"])
        if self.kind == "flatten":
            return Flatten()
        return (AvgPool2D if self.kind == "avgpool" else MaxPool2D)(values["SIZE"])


def _parse_item(text):
    if not text:
        raise ValueError("empty (two commas in a row, or one at an end?)")
    kind_text, *parts = text.split(":")
    kind = KINDS.get(kind_text)
    if kind is None:
        raise ValueError(f"unknown layer kind {kind_text!r}; choose one of {', '.join(KINDS)} "
                         "(or give whole numbers only: 784,30,10)")
    values, positional = {}, []
    for part in parts:
        name, equals, value = part.partition("=")
        if equals:
            if name not in kind.options:
                raise ValueError(_no_such_option(kind_text, kind, f"{name}="))
            if name in values:
                raise ValueError(f"{name}= is given twice")
            values[name] = kind.options[name](value, f"{name}=")
        elif part in kind.flags:
            values[part] = True
        else:
            positional.append(part)
    if len(positional) > len(kind.arguments) and (kind.options or kind.flags):
        raise ValueError(_no_such_option(kind_text, kind, positional[len(kind.arguments)]))
    if len(positional) != len(kind.arguments):
        raise ValueError(f"expected {kind.usage(kind_text)}" if kind.arguments
                         else f"{kind_text} takes no arguments")
    for (name, parse), value in zip(kind.arguments, positional):
        values[name] = parse(value, name)
    return Item(text, kind_text, values)


def _no_such_option(kind_text, kind, given):
    known = [f"{name}=" for name in kind.options] + list(kind.flags)
    return f"{kind_text} takes {', '.join(known)} after {kind.usage(kind_text)}, not {given!r}"


def parse_layers(text):
    """The --layers value: a list of sizes (the plain form, whole numbers only) or a LayerSpec.
    UsageError ``--layers TEXT: ...`` for anything malformed."""
    items = [item.strip() for item in text.split(",")]
    if all(_is_integer(item) for item in items):
        sizes = [int(item) for item in items]
        if len(sizes) < 2 or any(s < 1 for s in sizes):
            raise UsageError(f"--layers {text}: expected at least two positive layer sizes such "
                             "as 784,30,10")
        return sizes
    parsed = []
    for position, item in enumerate(items, start=1):
        if _is_integer(item):
            continue  # reported below, after the layers that may say what was meant
        try:
            parsed.append(_parse_item(item))
        except ValueError as exc:
            raise UsageError(f"--layers {text}: layer {position} {item!r}: {exc}") from None
    numbers = [item for item in items if _is_integer(item)]
    if numbers:
        raise UsageError(f"--layers {text}: {numbers[0]!r} is a bare number in a layer spec; write "
                         f"dense:{numbers[0]} (the input comes from the data), or give whole "
                         "numbers only for the plain form 784,30,10")
    if parsed[-1].kind != "dense":
        raise UsageError(f"--layers {text}: the last layer must be dense:UNITS, one unit per class "
                         f"(got {parsed[-1].text!r})")
    return LayerSpec(text, parsed)


def _is_integer(text):
    return text.lstrip("+-").isdigit()


def parse_input_shape(text):
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise UsageError(f"--input-shape must be C,H,W (channels, height, width: three whole "
                         f"numbers such as 1,28,28), got {text!r}")
    return shape


class LayerSpec:
    """A parsed layer spec: `text` as given, `items` in order (the last one dense)."""

    def __init__(self, text, items):
        self.text, self.items = text, items

    @property
    def has_images(self):
        return any(item.kind in IMAGE_KINDS for item in self.items)

    def error(self, message):
        return UsageError(f"--layers {self.text}: {message}")

    def input_shape(self, width, given, where):
        """The shape of one example: `given` (--input-shape), or for conv/pool layers one channel
        of a square image, or flat rows."""
        if given is not None:
            if math.prod(given) != width:
                raise UsageError(f"--input-shape {','.join(map(str, given))} holds "
                                 f"{math.prod(given)} values but {where} has {width} features "
                                 "per row")
            return given
        if not self.has_images:
            return (width,)
        side = math.isqrt(width)
        if side * side != width:
            raise self.error(f"conv and pool layers take images, and the {width} features per "
                             f"row of {where} are not a square image: give --input-shape C,H,W")
        return (1, side, side)

    def output_and_cost(self, cost):
        """(output activation, cost name) from the last layer's act= and --cost (either may be
        None)."""
        last = self.items[-1]
        activation = last.values.get("act")
        if activation is None:
            if cost is None:
                one = last.values["UNITS"] == 1
                return ("sigmoid", "cross_entropy") if one else ("softmax", "log_likelihood")
            cost_function = get_cost(cost)
            return OUTPUT_FOR_COST.get(cost_function.name,
                                       cost_function.requires_output or "identity"), cost
        return activation, cost or COST_FOR_OUTPUT.get(get_activation(activation).name, "quadratic")

    def plan(self, input_shape, hidden_activation, batch_norm, cost):
        """(layers, built records, cost name) for this input shape, with every check of the
        model's constructor, and nothing allocated."""
        output_activation, cost = self.output_and_cost(cost)
        layers, built, shape = [], [], tuple(input_shape)
        for position, item in enumerate(self.items, start=1):
            last = position == len(self.items)
            where = f"layer {position} {item.text!r}"
            if item.kind in IMAGE_KINDS and len(shape) != 3:
                raise self.error(f"{where} needs images (channels, height, width), but its input "
                                 f"is flat ({shape[0]} features): conv and pool layers come before "
                                 "flatten and dense")
            if item.kind == "dense" and len(shape) != 1:
                raise self.error(f"{where} needs flat input, but its input is "
                                 f"{'x'.join(map(str, shape))} images: put flatten before it")
            activation = (output_activation if last
                          else item.values.get("act", hidden_activation))
            try:
                layer = item.make(activation, batch_norm and not last)
                record = layer.build(shape)
            except (ValueError, TypeError) as exc:
                raise self.error(f"{where}: {exc}") from None
            if record.activation is not None and record.activation.rowwise and not last:
                raise self.error(f"{where}: {record.activation.name} is for the output layer only")
            layers.append(layer)
            built.append(record)
            shape = record.out_shape
        if built[-1].pieces > 1:
            raise self.error("maxout is a hidden-layer type; give the last layer another act=")
        try:
            check_pairing(get_cost(cost), built[-1].activation, built[-1].n_out)
        except ValueError as exc:
            raise self.error(str(exc)) from None
        return layers, built, cost
