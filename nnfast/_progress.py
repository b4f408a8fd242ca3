"""A small text progress bar: redrawn in place on a terminal, silent otherwise (the caller prints
plain lines instead). Used by the MNIST download and by ``nnfast train``."""

import sys
import time

_REDRAW_SECONDS = 0.1


def is_tty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class ProgressBar:
    """``label [#########.........]  45%  detail`` on one line of `stream`, redrawn with ``\\r``.

    `update(done, detail)` sets the progress (done out of `total`); `finish(line)` erases the bar and
    prints `line` (or nothing) in its place. On a stream that is not a terminal nothing is drawn:
    only `finish` prints its line.
    """

    def __init__(self, total, label="", stream=None, width=30, tty=None):
        self.stream = sys.stderr if stream is None else stream
        self.tty = is_tty(self.stream) if tty is None else tty
        self.total = max(int(total or 0), 0)
        self.label = label
        self.width = width
        self._drawn = 0  # characters of the bar on screen
        self._last = -1.0

    def update(self, done, detail="", force=False):
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._last < _REDRAW_SECONDS:
            return
        self._last = now
        if self.total:
            fraction = min(max(done / self.total, 0.0), 1.0)
            filled = int(round(fraction * self.width))
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {100 * fraction:3.0f}%"
        else:  # unknown total: no bar, just the detail
            bar = ""
        text = " ".join(part for part in (self.label, bar, detail) if part)
        self._write("\r" + text + " " * max(self._drawn - len(text), 0))
        self._drawn = len(text)

    def finish(self, line=None):
        if self.tty and self._drawn:
            self._write("\r" + " " * self._drawn + "\r")
            self._drawn = 0
        if line is not None:
            self._write(line + "\n")

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()


def megabytes(n):
    """A byte count for people: '9.7 MB', '28.9 kB'."""
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"
