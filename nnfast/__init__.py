"""nnfast: the classic networks (the book's network.py / network2.py semantics; convolutional ones too)
as one model, a list of layers (`Sequential`; `Network(sizes)` builds one), trained by compiled
Cython kernels, with a NumPy reference backend that is the executable spec."""

from .activations import ACTIVATIONS
from .costs import COSTS
from .initializers import INITIALIZERS
from .layers import AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D
from .model import Sequential
from .network import Network
from .io import load, load_book_json
from .training import (Callback, History, StopTraining, TrainingDiverged,
                       TrainingInterrupted)
from .gradcheck import gradcheck
from .perceptron import Perceptron
from ._config import show_config
from ._version import __version__

__all__ = ["ACTIVATIONS", "COSTS", "INITIALIZERS", "AvgPool2D", "BatchNorm", "Callback", "Conv2D", "Dense", "Dropout",
           "Flatten", "History", "MaxPool2D", "Network", "Perceptron", "Sequential", "StopTraining",
           "TrainingDiverged", "TrainingInterrupted", "gradcheck", "load", "load_book_json",
           "show_config", "__version__"]
