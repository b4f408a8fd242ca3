"""What `Network.fit` records, one entry per epoch."""

import json
from dataclasses import asdict, dataclass, field

from .._atomic import write_atomically


@dataclass
class History:
    """Per-epoch training record. Lists are aligned: index i is epoch i + 1.

    train_cost / train_accuracy are measured after each epoch on the whole training set (when
    `monitor=True`), validation_* on `validation_data` (when given); costs include the
    regularisation term as the book's `total_cost` does. `eta` is each epoch's learning rate,
    `seconds` the time of the training pass alone, `eval_seconds` that of the monitoring passes.
    `stop_reason` says why training ended early ("early_stopping", "schedule", "callback"), and
    `best_epoch` which epoch's weights early stopping kept.
    """

    epoch: list = field(default_factory=list)
    eta: list = field(default_factory=list)
    train_cost: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    validation_cost: list = field(default_factory=list)
    validation_accuracy: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    eval_seconds: list = field(default_factory=list)
    stop_reason: str = None
    best_epoch: int = None

    def __len__(self):
        return len(self.epoch)

    def as_dict(self):
        return asdict(self)

    def last(self):
        """The last epoch's record as a dict (empty before the first epoch)."""
        return {k: v[-1] for k, v in self.as_dict().items() if isinstance(v, list) and v}

    def epoch_line(self):
        last = self.last()
        parts = [f"epoch {last['epoch']:3d}", f"eta {last['eta']:.4g}", f"{last['seconds']:.2f}s"]
        if "train_cost" in last:
            parts.append(f"train cost {last['train_cost']:.4f} acc {last['train_accuracy']:.4f}")
        if "validation_cost" in last:
            parts.append(f"validation cost {last['validation_cost']:.4f} "
                         f"acc {last['validation_accuracy']:.4f}")
        return "  ".join(parts)

    def save(self, path):
        """Write the history as JSON (atomically: a temporary file, then a rename)."""
        write_atomically(path, lambda f: json.dump(self.as_dict(), f, indent=1), binary=False)

    @classmethod
    def load(cls, path):
        """A History from a file written by `save`."""
        with open(path) as f:
            data = json.load(f)
        names = set(cls.__dataclass_fields__)
        if not isinstance(data, dict) or not set(data) <= names:
            raise ValueError(f"{path}: not an nnfast history file")
        return cls(**data)

    def plot(self, path, title=None, validation_label="validation"):
        """Training and validation accuracy and cost per epoch, in one PNG (needs matplotlib:
        ``pip install nnfast[plot]``). `validation_label` names the curves of `validation_data` in
        the legend (e.g. "test" when that is what was measured)."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            from matplotlib.ticker import MaxNLocator
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install 'nnfast[plot]'") from None
        figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        for axis, kind in ((left, "accuracy"), (right, "cost")):
            for split in ("train", "validation"):
                values = getattr(self, f"{split}_{kind}")
                if values:
                    label = validation_label if split == "validation" else split
                    axis.plot(self.epoch[:len(values)], values, marker="o", markersize=3, label=label)
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
            axis.set_xlabel("epoch")
            axis.set_ylabel(kind)
            axis.grid(alpha=0.3)
            axis.legend()
        figure.suptitle(title or "nnfast training history")
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
