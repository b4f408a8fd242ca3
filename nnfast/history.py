"""What `Network.fit` records, one entry per epoch."""

from dataclasses import dataclass, field, asdict


@dataclass
class History:
    """Per-epoch training record. Lists are aligned: index i is epoch i + 1.

    train_cost / train_accuracy are measured after each epoch on the whole training set (when
    `monitor=True`), validation_* on `validation_data` (when given); costs include the L2 term as the
    book's `total_cost` does. `seconds` is the time of the training pass alone, `eval_seconds` that of
    the monitoring passes.
    """

    epoch: list = field(default_factory=list)
    train_cost: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    validation_cost: list = field(default_factory=list)
    validation_accuracy: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    eval_seconds: list = field(default_factory=list)

    def __len__(self):
        return len(self.epoch)

    def as_dict(self):
        return asdict(self)

    def last(self):
        """The last epoch's record as a dict (empty before the first epoch)."""
        return {k: v[-1] for k, v in self.as_dict().items() if v}
