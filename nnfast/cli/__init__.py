"""The ``nnfast`` command line: ``train``, ``evaluate``, ``predict``, ``show-errors``, ``info`` and
``bench``.

Run ``nnfast --help`` (or ``python -m nnfast --help``) for the commands and ``nnfast COMMAND --help``
for their options. User mistakes (bad options, missing or malformed files, data that does not fit
the network, values the API refuses, layers or labels too large for the machine's memory) print
one line ``nnfast: error: ...`` on stderr and exit with status 2; they never show a traceback. Any
other failure of a command (a MemoryError, a bug) prints one line too, naming the exception's type,
and exits with status 2; an interrupt (Ctrl-C) prints ``nnfast: interrupted`` and exits with 130.

The modules: ``program`` (the parser and `main`), ``train`` (``nnfast train``), ``layerspec``
(its ``--layers`` syntax), ``model`` (``evaluate``, ``predict``, ``show-errors``: using a saved
model), ``data`` (the ``--data`` sources, reading a model, output paths, `UsageError`).
``nnfast bench`` is handed to `nnfast.bench` (the benchmark harness, outside the core).
"""

from .data import UsageError
from .program import build_parser, main

__all__ = ["main", "build_parser", "UsageError"]
