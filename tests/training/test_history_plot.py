"""History.plot: what is drawn (read back from the matplotlib figure) and the missing-matplotlib
message."""

import sys

import pytest

from nnfast import History


def history():
    return History(epoch=[1, 2, 3], eta=[0.5] * 3, train_cost=[0.6, 0.4, 0.3],
                   train_accuracy=[0.8, 0.9, 0.95], validation_cost=[0.7, 0.6, 0.55],
                   validation_accuracy=[0.75, 0.85, 0.88], seconds=[0.1] * 3, eval_seconds=[0.01] * 3)


def test_plot_draws_both_curves_of_both_measures(monkeypatch, tmp_path):
    from matplotlib.figure import Figure

    drawn = []
    savefig = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (drawn.append(self), savefig(self, *a, **k)))
    path = tmp_path / "curves.png"
    history().plot(path, title="my run", validation_label="test")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    (figure,) = drawn
    assert figure._suptitle.get_text() == "my run"
    accuracy, cost = figure.axes
    for axis, name, train, watched in ((accuracy, "accuracy", [0.8, 0.9, 0.95], [0.75, 0.85, 0.88]),
                                       (cost, "cost", [0.6, 0.4, 0.3], [0.7, 0.6, 0.55])):
        assert axis.get_xlabel() == "epoch" and axis.get_ylabel() == name
        assert [text.get_text() for text in axis.get_legend().get_texts()] == ["train", "test"]
        assert [line.get_xdata().tolist() for line in axis.lines] == [[1, 2, 3], [1, 2, 3]]
        assert [line.get_ydata().tolist() for line in axis.lines] == [train, watched]
        ticks = [t for t in axis.get_xticks() if 1 <= t <= 3]
        assert ticks and all(float(t).is_integer() for t in ticks)  # whole epochs only


def test_plot_without_validation_has_one_curve(monkeypatch, tmp_path):
    from matplotlib.figure import Figure

    drawn = []
    savefig = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **k: (drawn.append(self), savefig(self, *a, **k)))
    only_train = History(epoch=[1, 2], eta=[0.5] * 2, train_cost=[0.5, 0.4], train_accuracy=[0.8, 0.9])
    only_train.plot(tmp_path / "c.png")
    assert [len(axis.lines) for axis in drawn[0].axes] == [1, 1]


def test_plot_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'nnfast\[plot\]'"):
        history().plot(tmp_path / "c.png")
    assert list(tmp_path.iterdir()) == []
