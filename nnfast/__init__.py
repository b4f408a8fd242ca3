"""nnfast: the classic feed-forward networks (the book's network.py / network2.py semantics), trained by
compiled Cython kernels, with a NumPy reference backend that is the executable spec."""

from importlib.metadata import PackageNotFoundError, version as _version

from .activations import ACTIVATIONS
from .costs import COSTS
from .history import History
from .initializers import INITIALIZERS
from .network import Network
from .layers import AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D
from .sequential import Sequential
from .io import load, load_book_json
from .training import Callback, StopTraining
from ._guards import TrainingDiverged, TrainingInterrupted
from .gradcheck import gradcheck
from .perceptron import Perceptron
from ._config import show_config

try:
    __version__ = _version("nnfast")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["ACTIVATIONS", "COSTS", "INITIALIZERS", "AvgPool2D", "BatchNorm", "Callback", "Conv2D", "Dense", "Dropout",
           "Flatten", "History", "MaxPool2D", "Network", "Perceptron", "Sequential", "StopTraining",
           "TrainingDiverged", "TrainingInterrupted", "gradcheck", "load", "load_book_json",
           "show_config", "__version__"]
