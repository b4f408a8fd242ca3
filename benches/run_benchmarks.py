"""`nnfast bench` from a source checkout: the same harness (nnfast/bench/), the same options.

    python benches/run_benchmarks.py                       # the full run (a few minutes)
    python benches/run_benchmarks.py --quick               # under a minute
    python benches/run_benchmarks.py --json out.json --plot out.png
    python benches/run_benchmarks.py --help                # every option

It imports the nnfast that Python finds (an installed one, or the checkout with PYTHONPATH=.); when
none is importable it falls back to the checkout this file sits in. While the compiled extension is
being rebuilt an import can fail for a moment: it is retried a few times before giving up.
See benches/README.md for what is measured and how to read the output.
"""

import importlib
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _forget_nnfast():
    for name in [m for m in sys.modules if m == "nnfast" or m.startswith("nnfast.")]:
        del sys.modules[name]


def import_bench(attempts=10, wait=3.0):
    """nnfast.bench, with the compiled backend if at all possible (retrying during a rebuild)."""
    last_error = None
    for attempt in range(attempts):
        if attempt:
            time.sleep(wait)
            _forget_nnfast()
        try:
            bench = importlib.import_module("nnfast.bench")
        except ImportError as exc:
            last_error = exc
            if REPO not in sys.path and os.path.isdir(os.path.join(REPO, "nnfast")):
                sys.path.insert(0, REPO)  # not installed: use this checkout
            continue
        if importlib.import_module("nnfast._threads")._kernels is not None:
            return bench
        last_error = None  # imported without its compiled modules: maybe mid-rebuild, retry
    if last_error is not None:
        raise last_error
    return bench  # the numpy backend alone: compiled rows will say "error"


def main(argv=None):
    return import_bench().main(argv, prog="run_benchmarks.py")


if __name__ == "__main__":
    sys.exit(main())
