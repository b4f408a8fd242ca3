"""``nnfast train``: its options and what it runs."""

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .data import (HelpFormatter, UsageError, add_data_options, check_output_path, load_sets,
                        need_matplotlib, percent)
from .layerspec import SPEC_HELP, LayerSpec, parse_input_shape, parse_layers
from .._progress import ProgressBar, is_tty
from ..training import Callback
from ..training.schedules import Constant, HalveOnPlateau, InverseTime

BOOK_LMBDA, BOOK_TRAINING_ROWS = 5.0, 50000  # network2's MNIST runs: lmbda 5.0 over 50,000 rows
DEFAULT_HIDDEN = 100
# the plain form's defaults (a Network: the book's) and a layer spec's (a Sequential)
PLAIN_DEFAULTS = {"activation": "sigmoid", "cost": "cross_entropy", "eta": 0.5}
SPEC_DEFAULTS = {"activation": "relu", "eta": 0.1}
# Classes are inferred as the largest label + 1; a data set may leave some unused, but more classes
# than rows (and than this) means a column that does not hold class numbers.
MAX_CLASSES_ANY_ROWS = 1000
PARAMETER_COPIES = 3  # training holds the parameters, their gradient and optimizer state or update
_BAR_STEPS = 40  # progress bar redraws per epoch (each one a return from the compiled epoch loop)


def _list_or_one(convert):
    def parse(text):
        try:
            values = [convert(part.strip()) for part in text.split(",")]
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}") from None
        return values[0] if len(values) == 1 else values
    return parse


def add_parser(commands):
    train = commands.add_parser(
        "train", help="train a network and report its accuracy (default: on the bundled MNIST subset)",
        description="Train a network by mini-batch gradient descent and report its accuracy after\n"
                    "every epoch (a progress bar on a terminal, plain lines otherwise) and at the end.\n"
                    "By default: [784, 100, 10] sigmoid, cross-entropy, on the MNIST subset bundled\n"
                    "with nnfast, 10 epochs, under a minute. --layers also takes convolutional\n"
                    "networks: see 'layer specs' below.",
        epilog=SPEC_HELP, formatter_class=SpecHelpFormatter)
    net = train.add_argument_group("the network")
    net.add_argument("--layers", default=None, metavar="N,N,... or SPEC",
                     help="units per layer, input first and output last (default: the data's "
                          f"features, {DEFAULT_HIDDEN}, its classes: 784,{DEFAULT_HIDDEN},10 for "
                          "MNIST), or a layer spec such as conv:20:5,pool:2,flatten,dense:100,"
                          "dense:10 (see below)")
    net.add_argument("--input-shape", default=None, metavar="C,H,W",
                     help="with a layer spec: the shape of one example, channels, height and width "
                          "(default: one channel of a square image, 1,28,28 for 784 features)")
    net.add_argument("--activation", type=_list_or_one(str), default=None,
                     help="one activation for every layer, or a comma-separated one per layer "
                          "(sigmoid, tanh, relu, leaky_relu, elu, selu, softplus, identity, softmax, "
                          "maxout; default: sigmoid); with a layer spec, the one of the conv and "
                          "hidden dense layers without act= (default: relu)")
    net.add_argument("--cost", default=None,
                     help="cross_entropy (sigmoid output), log_likelihood (softmax output), "
                          "quadratic or hinge (default: cross_entropy; with a layer spec, the one "
                          "its output layer pairs with)")
    net.add_argument("--init", default="scaled_normal",
                     help="weight initialisation: scaled_normal, normal, uniform, xavier, he")
    net.add_argument("--dropout", type=_list_or_one(float), default=None, metavar="P",
                     help="dropout probability of every hidden layer, or one per hidden layer "
                          "(default: none; a layer spec has dropout:P layers instead)")
    net.add_argument("--batch-norm", action="store_true",
                     help="batch-normalise every hidden layer (with a layer spec: every conv and "
                          "hidden dense layer, as :bn does for one)")
    net.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                     help="of the parameters and the data (float32 is about twice as fast)")
    net.add_argument("--backend", choices=["cython", "numpy"], default="cython",
                     help="the compiled kernels, or the NumPy reference (same results, slower)")
    net.add_argument("--threads", type=int, default=None,
                     help="threads for the kernels and BLAS (-1: every processor; "
                          "default: the OpenMP default)")
    net.add_argument("--seed", type=int, default=0,
                     help="seed of the initial weights, the shuffles and the validation split")
    fit = train.add_argument_group("training")
    fit.add_argument("--epochs", type=int, default=10, help="passes over the training data")
    fit.add_argument("--batch-size", type=int, default=10, help="mini-batch size")
    fit.add_argument("--eta", type=float, default=None,
                     help=f"learning rate (default: {PLAIN_DEFAULTS['eta']}; with a layer spec "
                          f"{SPEC_DEFAULTS['eta']})")
    fit.add_argument("--lmbda", type=float, default=None,
                     help="regularisation; each step decays the weights by eta*lmbda/n, n the "
                          "number of training rows (default: the book's 5.0 scaled to n, "
                          "5.0 * n / 50000, the same decay per step as the book's MNIST runs)")
    fit.add_argument("--regularization", choices=["l2", "l1"], default="l2",
                     help="the weight penalty --lmbda scales")
    fit.add_argument("--optimizer", default="sgd",
                     help="sgd, momentum, nesterov, adagrad, rmsprop or adam (with their default "
                          "hyper-parameters; mind --eta: adam wants about 0.001)")
    fit.add_argument("--schedule", default="constant", metavar="SCHEDULE",
                     help="the learning rate per epoch: constant, inverse_time[:TAU] (eta tau / "
                          "max(epoch, tau), tau 10 by default) or halve_on_plateau[:PATIENCE] "
                          "(halve eta after PATIENCE epochs, 10 by default, without a better "
                          "validation accuracy; stop below eta/128; needs a validation set)")
    fit.add_argument("--early-stopping", type=int, default=None, metavar="N",
                     help="stop after N epochs without a better validation accuracy and keep the "
                          "best epoch's weights (needs a validation set)")
    data = train.add_argument_group("data")
    add_data_options(data)
    data.add_argument("--validation-split", type=float, default=None, metavar="FRACTION",
                      help="hold out this fraction of the training rows (shuffled by --seed; for "
                           "MNIST, of all 60,000 training images) as the validation set measured "
                           "after every epoch")
    out = train.add_argument_group("output")
    out.add_argument("--save", metavar="MODEL.npz", default=None,
                     help="save the trained network (for nnfast evaluate / predict / show-errors, "
                          "or nnfast.load)")
    out.add_argument("--plot", metavar="CURVES.png", default=None,
                     help="plot accuracy and cost per epoch into a PNG (needs matplotlib)")
    out.add_argument("--json", metavar="HISTORY.json", default=None,
                     help="write the per-epoch history as JSON (nnfast.History.load reads it)")
    out.add_argument("--quiet", action="store_true", help="print only the final accuracy")
    train.set_defaults(run=run)
    return train


class SpecHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The options' help as HelpFormatter; the description and the layer-spec syntax as written."""


def _architecture(args):
    """Parse --layers (``args.sizes`` for the plain form, ``args.spec`` for a layer spec) and
    --input-shape, refuse the options that do not apply to the form, and fill in the form's
    defaults for the options left out."""
    layers = None if args.layers is None else parse_layers(args.layers)
    args.spec = layers if isinstance(layers, LayerSpec) else None
    args.sizes = None if args.spec else layers
    if args.input_shape is not None:
        args.input_shape = parse_input_shape(args.input_shape)
    if args.spec is None:
        if args.input_shape is not None:
            raise UsageError("--input-shape goes with a layer spec (--layers conv:...); the plain "
                             "form N,N,... reads flat rows")
        defaults = PLAIN_DEFAULTS
    else:
        if args.dropout is not None:
            raise UsageError(f"--dropout goes with the plain form N,N,...; a layer spec has "
                             f"dropout:P layers (--layers {args.spec.text})")
        if isinstance(args.activation, list):
            raise UsageError("--activation takes one name with a layer spec (for its conv and "
                             "hidden dense layers); give one layer another with :act=NAME")
        defaults = SPEC_DEFAULTS
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def _check_options(args):
    _architecture(args)
    for option, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value < 1:
            raise UsageError(f"{option} must be at least 1, got {value}")
    if not (math.isfinite(args.eta) and args.eta > 0):
        raise UsageError(f"--eta must be a positive number, got {args.eta}")
    if args.lmbda is not None and not (math.isfinite(args.lmbda) and args.lmbda >= 0):
        raise UsageError(f"--lmbda must be a number >= 0, got {args.lmbda}")
    if args.validation_split is not None and not 0 < args.validation_split < 1:
        raise UsageError(f"--validation-split must be between 0 and 1, got {args.validation_split}")
    if args.early_stopping is not None and args.early_stopping < 1:
        raise UsageError(f"--early-stopping must be at least 1, got {args.early_stopping}")
    args.schedule_object = _schedule(args.schedule)  # checked before the data is read
    if args.sizes is not None:
        _check_parameter_memory(_dense_parameters(args.sizes), args.dtype,
                                f"--layers {args.layers}")
    if args.spec is not None and args.input_shape is not None:
        _plan_spec(args, args.input_shape)  # the layers' shapes and memory, before the data
    check_output_path(args.save, "--save")
    check_output_path(args.plot, "--plot")
    check_output_path(args.json, "--json")
    if args.plot:
        need_matplotlib("--plot")


def _split(args, sets):
    """Apply --validation-split (for MNIST: of train + validation, all 60,000 training images)."""
    from ..datasets import train_validation_split

    X, y = sets.parts["train"]
    if "validation" in sets.parts:
        Xv, yv = sets.parts["validation"]
        X, y = np.concatenate([X, Xv]), np.concatenate([y, yv])
    try:
        train, validation = train_validation_split(X, y, args.validation_split, seed=args.seed)
    except ValueError as exc:
        raise UsageError(f"--validation-split: {exc}") from None
    sets.parts = {"train": train, "validation": validation,
                  **({"test": sets.parts["test"]} if "test" in sets.parts else {})}


def _physical_memory():
    """The machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _dense_parameters(sizes):
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def _schedule(text):
    """The schedule --schedule names: constant, inverse_time[:TAU], halve_on_plateau[:PATIENCE]."""
    name, _, argument = text.partition(":")
    try:
        if name == "constant" and not argument:
            return Constant()
        if name == "inverse_time":
            return InverseTime(float(argument) if argument else 10)
        if name == "halve_on_plateau":
            return HalveOnPlateau(int(argument) if argument else 10)
    except ValueError as exc:
        raise UsageError(f"--schedule {text}: {exc}") from None
    raise UsageError(f"--schedule {text}: choose constant, inverse_time[:TAU] or "
                     "halve_on_plateau[:PATIENCE]")


def _check_parameter_memory(count, dtype, what):
    """Refuse layers whose `count` parameters, a few copies of them, would not fit in the
    machine's memory (before anything is allocated, instead of a MemoryError or a machine brought
    to swapping). `what` names the layers: ``--layers 784,30,10``."""
    needed = count * np.dtype(dtype).itemsize
    memory = _physical_memory()
    if memory is not None and PARAMETER_COPIES * needed > memory:
        raise UsageError(
            f"{what}: {count:,} parameters take "
            f"{needed / 2**30:.1f} GiB of {dtype} and training holds about {PARAMETER_COPIES} "
            f"copies (weights, gradient, optimizer state), more than this machine's "
            f"{memory / 2**30:.1f} GiB of memory; use smaller layers")


def _classes(args, sets):
    """The data's number of classes (its largest label + 1), refused when absurd for its rows."""
    classes = sets.n_classes()
    rows = sum(len(y) for _, y in sets.parts.values())
    if classes > max(rows, MAX_CLASSES_ANY_ROWS):
        column = ""
        if Path(args.data).suffix.lower() == ".csv":
            column = f" in --label-column {0 if args.label_column is None else args.label_column}"
        raise UsageError(
            f"the labels of {sets.description}{column} go up to {classes - 1}: that would be "
            f"{classes} classes (0 to the largest label, one output unit each) for {rows} rows; "
            f"labels must be class numbers 0 to K-1 with K at most the number of rows (or "
            f"{MAX_CLASSES_ANY_ROWS}): is that the labels' column?")
    return classes


def _plan_spec(args, input_shape):
    """The layer spec's (layers, built records, cost) for this input shape, its parameters'
    memory checked."""
    layers, built, cost = args.spec.plan(input_shape, args.activation, args.batch_norm, args.cost)
    _check_parameter_memory(sum(record.n_params for record in built), args.dtype,
                            f"--layers {args.spec.text}")
    return layers, built, cost


def _check_outputs(text, units, classes, description):
    if units != classes and not (units == 1 and classes <= 2):
        raise UsageError(f"--layers {text}: the layers must end with {classes}, one output unit per "
                         f"class (the labels of {description} are 0 to {classes - 1})")


def _model(args, sets):
    """The network --layers describes, sized and checked against the data (nothing is allocated
    before every check has passed)."""
    from ..model import Sequential
    from ..network import Network

    width, classes = sets.n_features(), _classes(args, sets)
    settings = dict(init=args.init, dtype=args.dtype, backend=args.backend, seed=args.seed,
                    n_threads=args.threads)
    if args.spec is not None:
        shape = args.spec.input_shape(width, args.input_shape, sets.description)
        layers, built, cost = _plan_spec(args, shape)
        _check_outputs(args.spec.text, built[-1].n_out, classes, sets.description)
        return Sequential(layers, shape, cost=cost, **settings)
    if args.sizes is None:
        sizes = [width, DEFAULT_HIDDEN, classes]
        _check_parameter_memory(_dense_parameters(sizes), args.dtype, "the layers (default: "
                                f"features, {DEFAULT_HIDDEN}, classes) {','.join(map(str, sizes))}")
    else:
        sizes = args.sizes
        if sizes[0] != width:
            raise UsageError(f"--layers {args.layers}: the layers must start with {width}, the "
                             f"number of features per row of {sets.description}")
        _check_outputs(args.layers, sizes[-1], classes, sets.description)
    return Network(sizes, activation=args.activation, cost=args.cost, dropout=args.dropout or 0.0,
                   batch_norm=args.batch_norm, **settings)


class _EpochBar(Callback):
    """The progress bar of the running epoch, on a terminal (redrawn every few batches)."""

    def __init__(self, n_rows, batch_size, epochs, stream):
        self.n_batches = -(-n_rows // batch_size)
        self.every_batches = max(1, -(-self.n_batches // _BAR_STEPS))
        self.epochs = epochs
        self.bar = ProgressBar(self.n_batches, stream=stream, tty=True)

    def on_batches(self, net, history, epoch, batches_done):
        self.bar.label = f"epoch {epoch:3d}/{self.epochs}"
        self.bar.update(batches_done, f"{batches_done}/{self.n_batches} batches")

    def on_epoch_end(self, net, history):
        self.bar.finish()  # the epoch's line takes its place


def run(args):
    _check_options(args)  # everything the user chose is checked before data loading or output
    sets = load_sets(args, args.dtype)
    if args.validation_split is not None:
        _split(args, sets)
    net = _model(args, sets)
    X, y = sets.parts["train"]
    watched_name = next((name for name in ("validation", "test") if name in sets.parts), None)
    watched = sets.parts.get(watched_name)
    if args.early_stopping is not None and watched_name != "validation":
        raise UsageError("--early-stopping needs a validation set: use --validation-split or a data "
                         "set that has one (mnist)")
    schedule = args.schedule_object
    if getattr(schedule, "needs_validation", False) and watched_name != "validation":
        raise UsageError(f"--schedule {args.schedule} needs a validation set: use "
                         "--validation-split or a data set that has one (mnist)")
    lmbda = BOOK_LMBDA * len(X) / BOOK_TRAINING_ROWS if args.lmbda is None else args.lmbda
    out = sys.stdout
    say = (lambda *a, **k: None) if args.quiet else print

    epochs = f"{args.epochs} epoch" + ("s" if args.epochs != 1 else "")
    say(f"{net}\ntraining on {sets.description} ({sets.counts()}): {epochs}, batch size "
        f"{args.batch_size}, eta {args.eta:g}, lmbda {lmbda:g}"
        + (f", optimizer {args.optimizer}" if args.optimizer != "sgd" else "")
        + (f", schedule {args.schedule}" if args.schedule != "constant" else ""), flush=True)

    def report(net, history):  # after every epoch, while fit runs
        record = history.last()
        line = (f"epoch {record['epoch']:3d}/{args.epochs}  "
                f"{record['seconds'] + record['eval_seconds']:6.2f}s  "
                f"train acc {percent(record['train_accuracy'])}")
        if watched_name:
            line += f"  {watched_name} acc {percent(record['validation_accuracy'])}"
        say(line, flush=True)

    callbacks = [report]
    if not args.quiet and is_tty(out):
        callbacks.insert(0, _EpochBar(len(X), args.batch_size, args.epochs, out))
    started = time.perf_counter()
    history = net.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, eta=args.eta,
                      lmbda=lmbda, validation_data=watched, monitor=True, callbacks=callbacks,
                      optimizer=args.optimizer, regularization=args.regularization,
                      early_stopping=args.early_stopping, schedule=schedule)
    elapsed = time.perf_counter() - started

    lines = []
    if history.stop_reason == "early_stopping":
        lines.append(f"early stopping: kept epoch {history.best_epoch}'s weights")
    elif history.stop_reason == "schedule":
        lines.append("the schedule stopped training (eta fell below its 1/128)")
    final = [("train", (X, y))] if watched_name is None else []
    final += [(name, sets.parts[name]) for name in ("validation", "test") if name in sets.parts]
    for name, (X_part, y_part) in final:
        accuracy = net.accuracy(X_part, y_part)
        lines.append(f"final {name} accuracy: {percent(accuracy)} "
                     f"({round(accuracy * len(y_part))}/{len(y_part)})")
    lines[-1] += f"  [{elapsed:.1f}s, of which training {sum(history.seconds):.1f}s]"
    if args.save:
        net.save(args.save)
        lines.append(f"saved the network to {args.save}")
    if args.json:
        history.save(args.json)
        lines.append(f"saved the history to {args.json}")
    if args.plot:
        layers = args.spec.text if args.spec is not None else net.sizes
        history.plot(args.plot, title=f"{layers} on {sets.description}",
                     validation_label=watched_name or "validation")
        lines.append(f"plotted the curves to {args.plot}")
    print("\n".join(lines), flush=True)
    return 0
