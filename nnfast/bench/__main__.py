"""``python -m nnfast.bench``: the same as ``nnfast bench``."""

import sys

from .harness import main

if __name__ == "__main__":
    sys.exit(main())
