"""``nnfast evaluate``, ``nnfast predict`` and ``nnfast show-errors``: using a saved model, a
Network or any Sequential (a convolutional one reads its images as flat rows)."""

import math
from pathlib import Path

import numpy as np

from .data import (HelpFormatter, UsageError, add_data_options, check_output_path, load_sets,
                        need_matplotlib, percent, read_model, scale_of)

_SPLITS = ["train", "validation", "test"]


def _model_options(parser):
    parser.add_argument("model", metavar="MODEL.npz",
                        help="a model saved by nnfast train --save, Network.save or "
                             "Sequential.save")
    parser.add_argument("--backend", choices=["cython", "numpy"], default=None,
                        help="run it on this backend (default: the one it was saved with)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for the kernels and BLAS (-1: every processor)")


def _split_option(parser):
    parser.add_argument("--split", choices=_SPLITS, default=None,
                        help="which part of the data (default: test when the data has one, else "
                             "the whole file)")


def add_parsers(commands):
    evaluate = commands.add_parser(
        "evaluate", help="accuracy and cost of a saved network on a data set",
        description="Print the accuracy and the mean cost of a saved network on a data set "
                    "(by default the test part of the bundled MNIST subset).",
        formatter_class=HelpFormatter)
    _model_options(evaluate)
    add_data_options(evaluate)
    _split_option(evaluate)
    evaluate.set_defaults(run=run_evaluate)

    predict = commands.add_parser(
        "predict", help="the predicted class of every row of a file",
        description="Print the predicted class of every example in INPUT, one per line, or write "
                    "them to --out. INPUT is a .npy array (one example of any shape, e.g. one "
                    "(28, 28) image; rows of examples; or images, e.g. (n, 28, 28)), an .npz (its features key, as --data files) or a "
                    ".csv of numbers (every column is a feature unless --label-column names one).",
        formatter_class=HelpFormatter)
    _model_options(predict)
    predict.add_argument("input", metavar="INPUT", help="the examples: .npy, .npz or .csv")
    predict.add_argument("--out", metavar="FILE", default=None,
                         help="write the classes there instead: .npy (int64 array), or text (one "
                              "per line) for any other name")
    predict.add_argument("--label-column", default=None, metavar="COLUMN",
                         help="a .csv INPUT's column to ignore (its labels)")
    predict.add_argument("--scale", default="auto", metavar="DIVISOR",
                         help="divide the features by this; 'auto': 256 for uint8 arrays (raw "
                              "pixels, as MNIST), 1 otherwise")
    predict.set_defaults(run=run_predict)

    errors = commands.add_parser(
        "show-errors", help="draw the examples a saved network gets wrong",
        description="Draw a grid of the misclassified images of a data set, each titled with the "
                    "predicted and the true class, into a PNG (needs matplotlib). The examples are "
                    "drawn as the model's images (C,H,W with 1 or 3 channels), or for a model of "
                    "flat rows as square images, such as MNIST's 28 x 28.",
        formatter_class=HelpFormatter)
    _model_options(errors)
    add_data_options(errors)
    _split_option(errors)
    errors.add_argument("--out", metavar="ERRORS.png", default="errors.png", help="the PNG to write")
    errors.add_argument("--count", type=int, default=36, help="draw at most this many errors")
    errors.set_defaults(run=run_show_errors)


def _data_part(args, net):
    sets = load_sets(args, net.dtype)
    split = args.split or ("test" if "test" in sets.parts else "train")
    if split not in sets.parts:
        raise UsageError(f"{sets.description} has no {split} part (it has "
                         f"{', '.join(sets.parts)})")
    X, y = sets.parts[split]
    where = sets.description if len(sets.parts) == 1 else f"the {split} part of {sets.description}"
    _check_width(net, X, where)
    if len(y) and y.max() >= max(net.n_outputs, 2):
        raise UsageError(f"{where} has labels up to {y.max()} but the model has only "
                         f"{net.n_outputs} output units (classes 0 to {net.n_outputs - 1})")
    return X, y, where


def _check_width(net, X, where, hint=""):
    if X.shape[1] != net.n_inputs:
        images = (f" ({'x'.join(map(str, net.input_shape))} images)"
                  if len(net.input_shape) == 3 else "")
        raise UsageError(f"{where} has {X.shape[1]} features per row but the model's input layer "
                         f"takes {net.n_inputs}{images}{hint}")


def run_evaluate(args):
    net = read_model(args.model, args.backend, args.threads)
    X, y, where = _data_part(args, net)
    accuracy = net.accuracy(X, y)
    cost = net.cost(X, y, lmbda=0.0)
    print(f"{args.model}: {net}")
    print(f"{where}: {len(y)} examples")
    print(f"accuracy: {percent(accuracy)} ({round(accuracy * len(y))}/{len(y)})")
    print(f"cost: {cost:.4f} (mean {net.cost_function.name} per example, without regularisation)")
    return 0


def run_predict(args):
    from ..datasets import load_features

    net = read_model(args.model, args.backend, args.threads)
    check_output_path(args.out, "--out")
    try:
        X = load_features(args.input, dtype=net.dtype, scale=scale_of(args),
                          label_column=args.label_column)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if X.shape[1] != net.n_inputs and X.size == net.n_inputs:
        X = X.reshape(1, -1)  # one example of any shape: a (28, 28) image is one image, not 28 rows
    hint = ""
    if Path(args.input).suffix.lower() == ".csv" and (
            X.shape[1] == net.n_inputs + 1 and args.label_column is None):
        hint = " (one too many: if a column holds labels, name it with --label-column)"
    _check_width(net, X, args.input, hint)
    classes = net.predict(X).astype(np.int64)
    if args.out is None:
        print("\n".join(map(str, classes.tolist())))
    elif args.out.lower().endswith(".npy"):
        np.save(args.out, classes)
    else:
        Path(args.out).write_text("".join(f"{c}\n" for c in classes.tolist()))
    if args.out is not None:
        print(f"wrote {len(classes)} predicted classes to {args.out}")
    return 0


def run_show_errors(args):
    if args.count < 1:
        raise UsageError(f"--count must be at least 1, got {args.count}")
    check_output_path(args.out, "--out")
    need_matplotlib("show-errors")
    net = read_model(args.model, args.backend, args.threads)
    X, y, where = _data_part(args, net)
    shape = _image_shape(net, where)
    predicted = net.predict(X)
    wrong = np.flatnonzero(predicted != y)
    print(f"{where}: {len(wrong)} of {len(y)} examples misclassified "
          f"(accuracy {percent(1 - len(wrong) / len(y))})")
    if len(wrong) == 0:
        print(f"nothing to draw; {args.out} not written")
        return 0
    shown = wrong[:args.count]
    draw_errors(_images(X[shown], shape), predicted[shown], y[shown], args.out,
                title=f"{len(wrong)} of {len(y)} misclassified ({where}); first {len(shown)} shown")
    print(f"drew {len(shown)} of them into {args.out}")
    return 0


def _image_shape(net, where):
    """One example as an image: the model's (C, H, W) with 1 or 3 channels, or for a model of
    flat rows one channel of a square."""
    if len(net.input_shape) == 3:
        if net.input_shape[0] not in (1, 3):
            raise UsageError(f"show-errors draws grey or colour images (1 or 3 channels); the "
                             f"model's are {'x'.join(map(str, net.input_shape))}")
        return net.input_shape
    width = net.n_inputs
    side = math.isqrt(width)
    if side * side != width:
        raise UsageError(f"show-errors draws square images; {where} has {width} features per "
                         "row, which is not a square number")
    return (1, side, side)


def _images(rows, shape):
    """Rows as images for imshow: (n, H, W) grey, or (n, H, W, 3) colour scaled into [0, 1]."""
    images = rows.reshape(-1, *shape).transpose(0, 2, 3, 1)
    if shape[0] == 1:
        return images[..., 0]
    low, high = float(images.min()), float(images.max())
    return (images - low) / max(high - low, 1e-12)


def draw_errors(images, predicted, true, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    columns = min(n, 8)
    rows = -(-n // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(max(1.5 * columns, 6), 1.75 * rows + 0.6),
                                squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.set_axis_off()
        if index < n:
            axis.imshow(images[index], cmap="gray_r", vmin=0, vmax=max(float(images.max()), 1e-12))
            axis.set_title(f"pred {predicted[index]}  true {true[index]}", fontsize=9,
                           color="firebrick")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
