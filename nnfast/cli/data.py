"""What the ``nnfast`` commands share: the ``--data`` sources, reading a model, output paths."""

import argparse
import os
from pathlib import Path

import numpy as np

from ..datasets.files import SUFFIXES


class UsageError(Exception):
    """A mistake of the user's: reported as one ``nnfast: error: ...`` line, exit status 2."""


class HelpFormatter(argparse.HelpFormatter):
    """Adds "(default: X)" to an option's help, unless the help already speaks of its default or
    there is none to show."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (not action.option_strings or "default" in text
                or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)".lstrip()


DATA_HELP = ("'bundled' (the MNIST subset shipped with nnfast: 10,000 train / 2,000 test), 'mnist' "
             "(the full MNIST from $NNFAST_DATA or ~/.cache/nnfast, downloaded there when absent: "
             "50,000 train / 10,000 validation / 10,000 test), a directory holding the four MNIST "
             "idx files, or a file: .npz (keys X and y, or features and labels, or x_train/y_train "
             "and x_test/y_test), .csv (one example per line, the label in --label-column), or .npy "
             "features with --labels FILE")


def add_data_options(parser, default="bundled", labels=True):
    parser.add_argument("--data", default=default, metavar="SOURCE", help=DATA_HELP)
    if labels:
        parser.add_argument("--labels", metavar="FILE", default=None,
                            help="with a .npy --data file: the labels (.npy, or text with one per line)")
        parser.add_argument("--label-column", default=None, metavar="COLUMN",
                            help="with a .csv --data file: the labels' column, a position (0 first, "
                                 "-1 last) or a header name (default: 0, the first)")
    parser.add_argument("--scale", default="auto", metavar="DIVISOR",
                        help="divide the features of a --data file by this; 'auto': 256 for uint8 "
                             "arrays (raw pixels, as MNIST), 1 otherwise (use 256 for a CSV of 0-255 "
                             "pixels)")


def scale_of(args):
    if args.scale == "auto":
        return "auto"
    try:
        value = float(args.scale)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise UsageError(f"--scale must be 'auto' or a positive number, got {args.scale!r}")
    return value


class DataSets:
    """The named parts of one --data source: ``parts`` maps 'train' / 'validation' / 'test' to
    (X, y), in that order; ``description`` says where they came from."""

    def __init__(self, parts, description):
        self.parts = {name: parts[name] for name in ("train", "validation", "test") if name in parts}
        self.description = description

    def counts(self):
        return ", ".join(f"{len(y)} {name}" for name, (_, y) in self.parts.items())

    def n_features(self):
        return next(iter(self.parts.values()))[0].shape[1]

    def n_classes(self):
        return int(max(y.max() for _, y in self.parts.values() if len(y))) + 1


def _is_file_source(source):
    return Path(source).suffix.lower() in SUFFIXES or Path(source).is_file()


def load_sets(args, dtype):
    """The DataSets named by ``args.data`` (UsageError for what the user got wrong)."""
    from .. import datasets

    source = args.data
    if scale_of(args) != "auto" and not _is_file_source(source):
        raise UsageError(f"--scale applies to --data files only; MNIST ({source}) is always read "
                         "as pixel / 256")
    try:
        if not _is_file_source(source) and (getattr(args, "labels", None) is not None
                                            or getattr(args, "label_column", None) is not None):
            raise ValueError(f"--labels and --label-column apply to --data files, not {source}")
        if source == "bundled":
            train, test = datasets.load_bundled_mnist(dtype=dtype)
            return DataSets({"train": train, "test": test}, "the bundled MNIST subset")
        if source == "mnist":
            train, validation, test = datasets.load_mnist(dtype=dtype)
            return DataSets({"train": train, "validation": validation, "test": test},
                            f"MNIST from {datasets.default_data_dir()}")
        if not _is_file_source(source):
            train, validation, test = datasets.load_mnist(source, dtype=dtype)
            return DataSets({"train": train, "validation": validation, "test": test},
                            f"MNIST from {source}")
        return _file_sets(args, source, dtype)
    except (OSError, ValueError) as exc:  # missing files, failed downloads, malformed data
        raise UsageError(str(exc)) from None


def _file_sets(args, source, dtype):
    from .. import datasets
    from ..datasets.files import npz_splits

    scale = scale_of(args)
    labels = getattr(args, "labels", None)
    label_column = getattr(args, "label_column", None)
    suffix = Path(source).suffix.lower()
    if label_column is not None and suffix != ".csv":
        raise ValueError(f"--label-column applies to .csv data files, not {source}")
    if labels is not None and suffix != ".npy":
        raise ValueError(f"--labels applies to .npy data files (features only), not {source}")
    label_column = 0 if label_column is None else label_column
    if Path(source).suffix.lower() == ".npz" and Path(source).is_file():
        splits = [s for s in npz_splits(source) if s in ("train", "validation", "test")]
        if splits:
            parts = {split: datasets.load_data(source, dtype=dtype, scale=scale, split=split)
                     for split in splits}
            if "train" not in parts:
                raise ValueError(f"{source}: has {', '.join(splits)} splits but no x_train / y_train")
            return DataSets(parts, source)
    X, y = datasets.load_data(source, dtype=dtype, label_column=label_column, labels=labels,
                              scale=scale)
    return DataSets({"train": (X, y)}, source)


def read_model(path, backend=None, threads=None):
    from .. import load

    if not Path(path).is_file():
        raise UsageError(f"model file {path!r} not found" if not Path(path).exists()
                         else f"{path!r} is not a file")
    try:
        return load(path, backend=backend, n_threads=threads)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def check_output_path(path, option):
    """Refuse an output path whose directory does not exist, before any long computation."""
    if path is None:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"{option} {path}: the directory {directory} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a directory; give a file name")


def need_matplotlib(what):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"{what} needs matplotlib, which is not installed: "
                         "pip install 'nnfast[plot]' (or pip install matplotlib)") from None


def percent(fraction):
    return f"{100 * fraction:.2f}%"
