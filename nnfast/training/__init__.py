"""Training: the loop behind every model's `fit` (loop.py), callbacks, the History it records, the
optimizers and learning-rate schedules, the guards (divergence, Ctrl-C, one thread at a time) and
single steps for loops of your own (single_step.py)."""

from .guards import TrainingDiverged, TrainingInterrupted
from .history import History
from .callbacks import Callback, StopTraining, as_callbacks
from .loop import train

__all__ = ["Callback", "History", "StopTraining", "TrainingDiverged", "TrainingInterrupted",
           "as_callbacks", "train"]
