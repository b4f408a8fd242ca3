"""The ``nnfast`` command line: ``nnfast train``, ``nnfast info`` and ``nnfast bench``.

Run ``nnfast --help`` (or ``python -m nnfast --help``) for the options. User mistakes (bad options,
missing data, values the API refuses) print one line ``nnfast: error: ...`` on stderr and exit with
status 2; they never show a traceback.
"""

import argparse
import math
import sys
import time

__all__ = ["main"]

PROG = "nnfast"
MNIST_PIXELS = 784
MNIST_CLASSES = 10
BOOK_LMBDA, BOOK_TRAINING_ROWS = 5.0, 50000  # network2's MNIST runs: lmbda 5.0 over 50,000 rows


class UsageError(Exception):
    """A mistake of the user's: reported as one ``nnfast: error: ...`` line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but every error is one line under the program's name (no usage block)."""

    def error(self, message):
        raise UsageError(message)


def _layers(text):
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers such as 784,30,10, got {text!r}") from None
    if len(sizes) < 2 or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(
            f"expected at least two positive layer sizes such as 784,30,10, got {text!r}")
    if sizes[0] != MNIST_PIXELS or sizes[-1] != MNIST_CLASSES:
        raise argparse.ArgumentTypeError(
            f"the layers must start with {MNIST_PIXELS} (the MNIST pixels) and end with {MNIST_CLASSES} "
            f"(the digit classes), got {text!r}")
    return sizes


def _activation(text):
    names = [part.strip() for part in text.split(",")]
    return names[0] if len(names) == 1 else names


def build_parser():
    """The argument parser of the ``nnfast`` command (exposed for documentation and tests)."""
    from . import __version__

    parser = _Parser(prog=PROG, description="Classic feed-forward neural networks on fast Cython kernels.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    train = commands.add_parser(
        "train", help="train a network on MNIST and report its accuracy",
        description="Train a network by mini-batch SGD on MNIST: by default on the subset bundled with "
                    "nnfast (10,000 training and 2,000 test images); with --data DIR on the full set "
                    "(50,000 train / 10,000 validation / 10,000 test) read from the idx files in DIR.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    train.add_argument("--layers", type=_layers, default=[784, 100, 10], metavar="N,N,...",
                       help="units per layer, input (784) first, output (10) last")
    train.add_argument("--activation", type=_activation, default="sigmoid",
                       help="one activation for every layer, or a comma-separated one per layer")
    train.add_argument("--cost", default="cross_entropy", help="cross_entropy or quadratic")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=10, help="mini-batch size")
    train.add_argument("--eta", type=float, default=0.5, help="learning rate")
    train.add_argument("--lmbda", type=float, default=None,
                       help="L2 regularisation; each step decays the weights by eta*lmbda/n, n the "
                            "number of training rows (default: the book's 5.0 scaled to n, "
                            "5.0 * n / 50000, the same decay per step as the book's MNIST runs)")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    train.add_argument("--threads", type=int, default=None,
                       help="threads for the kernels and BLAS (-1: every processor; "
                            "default: the OpenMP default)")
    train.add_argument("--seed", type=int, default=0, help="seed of the initial weights and the shuffles")
    train.add_argument("--backend", choices=["cython", "numpy"], default="cython")
    train.add_argument("--data", metavar="DIR", default=None,
                       help="directory with the four MNIST idx files: train on the full data set instead "
                            "of the bundled subset")
    train.add_argument("--quiet", action="store_true", help="print only the final accuracy")
    train.set_defaults(run=_train)

    info = commands.add_parser("info", help="show how nnfast was built and what it runs on",
                               description="Show the version, OpenMP, BLAS, dtypes and backends.")
    info.set_defaults(run=_info)

    # `nnfast bench ...` is handed to nnfast.bench.main by `main` before this parser runs; the entry
    # here only lists it in `nnfast --help`.
    commands.add_parser("bench", add_help=False,
                        help="time nnfast against its baselines (see nnfast bench --help)")
    return parser


def _percent(fraction):
    return f"{100 * fraction:.2f}%"


def _load(args):
    """(train, watched, held_out, description): the named data sets `train` uses.

    `watched` is measured after every epoch (fit's validation_data); `held_out`, when not None, only
    once at the end.
    """
    from . import datasets

    if args.data is None:
        train, test = datasets.load_bundled_mnist(dtype=args.dtype)
        return ("train", train), ("test", test), None, "the bundled MNIST subset"
    try:
        train, validation, test = datasets.load_mnist(args.data, dtype=args.dtype)
    except OSError as exc:  # FileNotFoundError names the directory and the files it needs
        raise UsageError(str(exc)) from None
    return ("train", train), ("validation", validation), ("test", test), f"MNIST from {args.data}"


def _check_training_options(args):
    for option, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value < 1:
            raise UsageError(f"{option} must be at least 1, got {value}")
    if not (math.isfinite(args.eta) and args.eta > 0):
        raise UsageError(f"--eta must be a positive number, got {args.eta}")
    if args.lmbda is not None and not (math.isfinite(args.lmbda) and args.lmbda >= 0):
        raise UsageError(f"--lmbda must be a number >= 0, got {args.lmbda}")


def _final_line(name, accuracy, n):
    return f"final {name} accuracy: {_percent(accuracy)} ({round(accuracy * n)}/{n})"


def _train(args):
    from .network import Network

    # Everything the user chose is checked before any output or data loading.
    _check_training_options(args)
    net = Network(args.layers, activation=args.activation, cost=args.cost, dtype=args.dtype,
                  backend=args.backend, seed=args.seed, n_threads=args.threads)
    (_, (X, y)), (watched_name, watched), held_out, description = _load(args)
    if args.lmbda is None:
        args.lmbda = BOOK_LMBDA * len(X) / BOOK_TRAINING_ROWS
    say = (lambda *a, **k: None) if args.quiet else print

    counts = ", ".join(f"{len(part[1][1])} {part[0]}"
                       for part in (("train", (X, y)), (watched_name, watched), held_out) if part)
    epochs = f"{args.epochs} epoch" + ("s" if args.epochs != 1 else "")
    say(f"{net}\ntraining on {description} ({counts}): {epochs}, batch size {args.batch_size}, "
        f"eta {args.eta:g}, lmbda {args.lmbda:g}", flush=True)

    def report(net, history):  # after every epoch, while fit runs
        record = history.last()
        say(f"epoch {record['epoch']:3d}/{args.epochs}  "
            f"{record['seconds'] + record['eval_seconds']:6.2f}s  "
            f"train acc {_percent(record['train_accuracy'])}  "
            f"{watched_name} acc {_percent(record['validation_accuracy'])}", flush=True)

    started = time.perf_counter()
    history = net.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, eta=args.eta,
                      lmbda=args.lmbda, validation_data=watched, monitor=True, callbacks=[report])
    elapsed = time.perf_counter() - started

    lines = [_final_line(watched_name, history.validation_accuracy[-1], len(watched[1]))]
    if held_out is not None:
        name, (X_held, y_held) = held_out
        lines.append(_final_line(name, net.accuracy(X_held, y_held), len(y_held)))
    lines[-1] += f"  [{elapsed:.1f}s, of which training {sum(history.seconds):.1f}s]"
    print("\n".join(lines), flush=True)
    return 0


def _info(args):
    from . import show_config

    show_config()
    return 0


def _bench(argv):
    """``nnfast bench``: nnfast.bench.main with this command's one-line errors."""
    from . import bench

    return bench.main(argv, prog=f"{PROG} bench", parser_class=_Parser)


def main(argv=None):
    """Run the ``nnfast`` command with `argv` (default: ``sys.argv[1:]``).

    Returns 0 on success. A user mistake prints one line ``nnfast: error: ...`` on stderr and raises
    ``SystemExit(2)``; ``--help`` and ``--version`` exit with status 0 as argparse does.
    """
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        if argv[:1] == ["bench"]:
            return _bench(argv[1:])
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (UsageError, ValueError, TypeError) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        raise SystemExit(130) from None


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__
