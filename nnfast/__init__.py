"""nnfast: the classic feed-forward networks (the book's network.py / network2.py semantics), trained by
compiled Cython kernels, with a NumPy reference backend that is the executable spec."""

from .activations import ACTIVATIONS
from .costs import COSTS
from .training.history import History
from .initializers import INITIALIZERS
from .network import Network
from .layers import AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D
from .sequential import Sequential
from .io import load, load_book_json
from .training import Callback, StopTraining
from .training.guards import TrainingDiverged, TrainingInterrupted
from .gradcheck import gradcheck
from .perceptron import Perceptron
from ._config import show_config
from ._version import __version__

__all__ = ["ACTIVATIONS", "COSTS", "INITIALIZERS", "AvgPool2D", "BatchNorm", "Callback", "Conv2D", "Dense", "Dropout",
           "Flatten", "History", "MaxPool2D", "Network", "Perceptron", "Sequential", "StopTraining",
           "TrainingDiverged", "TrainingInterrupted", "gradcheck", "load", "load_book_json",
           "show_config", "__version__"]
