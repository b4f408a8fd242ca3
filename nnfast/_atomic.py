"""Writing a file atomically: a reader sees the old file or the complete new one, never a part.

A leaf module (it imports nothing of nnfast): the save format (nnfast/_format.py) and History.save
use it.
"""

import contextlib
import os
import tempfile


def write_atomically(target, write, binary=True):
    """Call ``write(handle)`` on a temporary file next to `target`, fsync it, then move it onto
    `target` with os.replace (and fsync the directory). The new file gets the permission bits of
    the file it replaces, or ``0o666 & ~umask``; a symbolic link at `target` is replaced, not
    written through. If anything fails, the temporary file is removed and `target` is untouched."""
    target = os.fspath(target)
    directory = os.path.dirname(os.path.abspath(target))
    mode = new_file_mode(target)
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                                     dir=directory)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as handle:
            if hasattr(os, "fchmod"):  # mkstemp makes it 0o600
                os.fchmod(handle.fileno(), mode)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_directory(directory)


def new_file_mode(target):
    """The permission bits for the new file: the replaced file's, else 0o666 & ~umask."""
    try:
        return os.stat(target).st_mode & 0o7777
    except OSError:
        return 0o666 & ~umask()


def umask():
    """The process's umask (on Linux read without changing it: os.umask would, briefly, for every
    thread)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_directory(directory):
    """Make a rename durable (POSIX); silently skipped where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
