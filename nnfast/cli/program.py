"""The ``nnfast`` program: its argument parser (one subcommand per command module) and `main`,
which turns every failure into one ``nnfast: error: ...`` line."""

import argparse
import sys

from . import model, train
from .data import UsageError

PROG = "nnfast"


class _Parser(argparse.ArgumentParser):
    """argparse, but every error is one line under the program's name (no usage block)."""

    def error(self, message):
        raise UsageError(message)


def build_parser():
    """The argument parser of the ``nnfast`` command (exposed for documentation and tests)."""
    from .._version import __version__

    parser = _Parser(prog=PROG, description="Classic feed-forward neural networks on fast Cython "
                                            "kernels. Start with: nnfast train")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    train.add_parser(commands)
    model.add_parsers(commands)

    info = commands.add_parser("info", help="show how nnfast was built and what it runs on",
                               description="Show the version, OpenMP, the CPU, BLAS and its kernel "
                                           "set, the GEMM kernel chosen per shape, dtypes and "
                                           "backends.")
    info.add_argument("--gemm", action="store_true",
                      help="list the kernel chosen for every GEMM shape measured on this machine")
    info.set_defaults(run=_info)

    # `nnfast bench ...` is handed to nnfast.bench.main by `main` before this parser runs; the entry
    # here only lists it in `nnfast --help`.
    commands.add_parser("bench", add_help=False,
                        help="time nnfast against its baselines (see nnfast bench --help)")
    return parser


def _info(args):
    from .. import show_config

    show_config(gemm_shapes=args.gemm)
    return 0


def _bench(argv):
    """``nnfast bench``: nnfast.bench.main with this command's one-line errors."""
    from .. import bench

    return bench.main(argv, prog=f"{PROG} bench", parser_class=_Parser)


def main(argv=None):
    """Run the ``nnfast`` command with `argv` (default: ``sys.argv[1:]``).

    Returns 0 on success. A user mistake, or any other failure, prints one line
    ``nnfast: error: ...`` on stderr and raises ``SystemExit(2)``; ``--help`` and ``--version`` exit
    with status 0 as argparse does.
    """
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        if argv[:1] == ["bench"]:
            return _bench(argv[1:])
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (UsageError, ValueError, TypeError, OSError) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except Exception as exc:  # not a known mistake: still one line, with what went wrong
        what = "out of memory" if isinstance(exc, MemoryError) else type(exc).__name__
        print(f"{PROG}: error: {what}: {_one_line(exc)}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr, flush=True)
        raise SystemExit(130) from None


def _one_line(exc):
    return " ".join(str(exc).split()) or type(exc).__name__
