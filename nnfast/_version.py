"""nnfast's version, from the installed package's metadata (a leaf module)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nnfast")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
