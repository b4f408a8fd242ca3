"""``nnfast train``: its options and what it runs."""

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from ._cli_data import (HelpFormatter, UsageError, add_data_options, check_output_path, load_sets,
                        need_matplotlib, percent)
from ._progress import ProgressBar, is_tty
from .training import Callback

BOOK_LMBDA, BOOK_TRAINING_ROWS = 5.0, 50000  # network2's MNIST runs: lmbda 5.0 over 50,000 rows
DEFAULT_HIDDEN = 100
# Classes are inferred as the largest label + 1; a data set may leave some unused, but more classes
# than rows (and than this) means a column that does not hold class numbers.
MAX_CLASSES_ANY_ROWS = 1000
PARAMETER_COPIES = 3  # training holds the parameters, their gradient and optimizer state or update
_BAR_STEPS = 40  # progress bar redraws per epoch (each one a return from the compiled epoch loop)


def _layers(text):
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers such as 784,30,10, got {text!r}") from None
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"expected at least two positive layer sizes such as 784,30,10, got {text!r}")
    return sizes


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
        description="Train a network by mini-batch gradient descent and report its accuracy after "
                    "every epoch (a progress bar on a terminal, plain lines otherwise) and at the end. "
                    "By default: [784, 100, 10] sigmoid, cross-entropy, on the MNIST subset bundled "
                    "with nnfast, 10 epochs, under a minute.",
        formatter_class=HelpFormatter)
    net = train.add_argument_group("the network")
    net.add_argument("--layers", type=_layers, default=None, metavar="N,N,...",
                     help="units per layer, input first and output last (default: the data's "
                          f"features, {DEFAULT_HIDDEN}, its classes: 784,{DEFAULT_HIDDEN},10 for MNIST)")
    net.add_argument("--activation", type=_list_or_one(str), default="sigmoid",
                     help="one activation for every layer, or a comma-separated one per layer "
                          "(sigmoid, tanh, relu, leaky_relu, elu, selu, softplus, identity, softmax)")
    net.add_argument("--cost", default="cross_entropy",
                     help="cross_entropy (sigmoid output), log_likelihood (softmax output), "
                          "quadratic or hinge")
    net.add_argument("--init", default="scaled_normal",
                     help="weight initialisation: scaled_normal, normal, uniform, xavier, he")
    net.add_argument("--dropout", type=_list_or_one(float), default=0.0, metavar="P",
                     help="dropout probability of every hidden layer, or one per hidden layer")
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
    fit.add_argument("--eta", type=float, default=0.5, help="learning rate")
    fit.add_argument("--lmbda", type=float, default=None,
                     help="regularisation; each step decays the weights by eta*lmbda/n, n the "
                          "number of training rows (default: the book's 5.0 scaled to n, "
                          "5.0 * n / 50000, the same decay per step as the book's MNIST runs)")
    fit.add_argument("--regularization", choices=["l2", "l1"], default="l2",
                     help="the weight penalty --lmbda scales")
    fit.add_argument("--optimizer", default="sgd",
                     help="sgd, momentum, nesterov, adagrad, rmsprop or adam (with their default "
                          "hyper-parameters; mind --eta: adam wants about 0.001)")
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


def _check_options(args):
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
    if args.layers is not None:
        _check_parameter_memory(args.layers, args.dtype, "--layers")
    check_output_path(args.save, "--save")
    check_output_path(args.plot, "--plot")
    check_output_path(args.json, "--json")
    if args.plot:
        need_matplotlib("--plot")


def _split(args, sets):
    """Apply --validation-split (for MNIST: of train + validation, all 60,000 training images)."""
    from .datasets import train_validation_split

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


def _check_parameter_memory(sizes, dtype, what):
    """Refuse layers whose parameters, a few copies of them, would not fit in the machine's memory
    (before anything is allocated, instead of a MemoryError or a machine brought to swapping)."""
    count = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    needed = count * np.dtype(dtype).itemsize
    memory = _physical_memory()
    if memory is not None and PARAMETER_COPIES * needed > memory:
        raise UsageError(
            f"{what} {','.join(map(str, sizes))}: {count:,} parameters take "
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


def _sizes(args, sets):
    width, classes = sets.n_features(), _classes(args, sets)
    if args.layers is None:
        sizes = [width, DEFAULT_HIDDEN, classes]
        _check_parameter_memory(sizes, args.dtype, "the layers (default: features, "
                                f"{DEFAULT_HIDDEN}, classes)")
        return sizes
    sizes = args.layers
    text = ",".join(map(str, sizes))
    if sizes[0] != width:
        raise UsageError(f"--layers {text}: the layers must start with {width}, the number of "
                         f"features per row of {sets.description}")
    if sizes[-1] != classes and not (sizes[-1] == 1 and classes <= 2):
        raise UsageError(f"--layers {text}: the layers must end with {classes}, one output unit per "
                         f"class (the labels of {sets.description} are 0 to {classes - 1})")
    return sizes


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
    from .network import Network

    _check_options(args)  # everything the user chose is checked before data loading or output
    sets = load_sets(args, args.dtype)
    if args.validation_split is not None:
        _split(args, sets)
    sizes = _sizes(args, sets)
    net = Network(sizes, activation=args.activation, cost=args.cost, init=args.init,
                  dtype=args.dtype, backend=args.backend, seed=args.seed, n_threads=args.threads,
                  dropout=args.dropout)
    X, y = sets.parts["train"]
    watched_name = next((name for name in ("validation", "test") if name in sets.parts), None)
    watched = sets.parts.get(watched_name)
    if args.early_stopping is not None and watched_name != "validation":
        raise UsageError("--early-stopping needs a validation set: use --validation-split or a data "
                         "set that has one (mnist)")
    lmbda = BOOK_LMBDA * len(X) / BOOK_TRAINING_ROWS if args.lmbda is None else args.lmbda
    out = sys.stdout
    say = (lambda *a, **k: None) if args.quiet else print

    epochs = f"{args.epochs} epoch" + ("s" if args.epochs != 1 else "")
    say(f"{net}\ntraining on {sets.description} ({sets.counts()}): {epochs}, batch size "
        f"{args.batch_size}, eta {args.eta:g}, lmbda {lmbda:g}"
        + (f", optimizer {args.optimizer}" if args.optimizer != "sgd" else ""), flush=True)

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
                      early_stopping=args.early_stopping)
    elapsed = time.perf_counter() - started

    lines = []
    if history.stop_reason == "early_stopping":
        lines.append(f"early stopping: kept epoch {history.best_epoch}'s weights")
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
        history.plot(args.plot, title=f"{net.sizes} on {sets.description}",
                     validation_label=watched_name or "validation")
        lines.append(f"plotted the curves to {args.plot}")
    print("\n".join(lines), flush=True)
    return 0
