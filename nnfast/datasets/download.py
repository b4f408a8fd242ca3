"""Fetching files over HTTP(S) with urllib: mirrors tried in turn, a sha256 check of every file's
data (decompressed when gzipped), temporary files moved into place only when every file arrived
intact (all or nothing)."""

import contextlib
import gzip
import hashlib
import http.client
import os
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

from .._progress import ProgressBar, megabytes

_CHUNK = 1 << 16


class DownloadError(OSError):
    """No mirror delivered a file intact (offline, refused, HTTP error, interrupted transfer, or a
    sha256 mismatch). The message names every mirror tried and why each failed."""


def check_mirrors(mirrors):
    """The mirror base URLs as a list of strings (each must be an http:// or https:// URL)."""
    if isinstance(mirrors, (str, bytes)):
        mirrors = [mirrors]
    checked = []
    for mirror in mirrors:
        if not isinstance(mirror, str):
            raise TypeError(f"mirrors must be URL strings, got {mirror!r}")
        scheme = urllib.parse.urlsplit(mirror).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"mirror {mirror!r} is not an http:// or https:// URL")
        checked.append(mirror if mirror.endswith("/") else mirror + "/")
    if not checked:
        raise ValueError("no mirror to download from (the mirror list is empty)")
    return checked


def _reason(exc):
    """A short human reason for a failed transfer."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
        if isinstance(exc, str):
            return exc
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"host not found ({exc.strerror or exc})"
    if isinstance(exc, http.client.IncompleteRead):
        return f"transfer interrupted after {len(exc.partial)} bytes"
    text = str(exc) or type(exc).__name__
    return getattr(exc, "strerror", None) or text


class _Failed(Exception):
    """One mirror's failure for one file (the reason is the message)."""


def content_sha256(path):
    """sha256 (hex) of a file's content, of its decompressed data when it is gzipped: the same for
    every gzip encoding of the same bytes (mirrors recompress the MNIST files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise _Failed(f"not a valid gzip file ({exc or type(exc).__name__})") from None
    return digest.hexdigest()


def _fetch(url, handle, timeout, label, progress):
    """Stream `url` into the open binary file `handle`, checking the length the server announced."""
    received = 0
    request = urllib.request.Request(url, headers={"User-Agent": "nnfast"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = ProgressBar(total, label) if progress else None
        try:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                handle.write(chunk)
                received += len(chunk)
                if bar:
                    bar.update(received, megabytes(received) + (f" / {megabytes(total)}" if total else ""))
        finally:
            if bar:
                bar.finish()
    if total is not None and received != total:
        raise _Failed(f"transfer interrupted: received {received} of {total} bytes")
    return received


def _verify(path, expected_sha256):
    if expected_sha256 is None:
        return
    actual = content_sha256(path)
    if actual != expected_sha256.lower():
        raise _Failed(f"sha256 mismatch: the data's is {actual}, expected {expected_sha256.lower()} "
                      "(corrupted, or not the standard file)")


def fetch_all(names, directory, mirrors, sha256, progress=True, timeout=30.0, say=None):
    """Download every file of `names` into `directory` from the first mirror that delivers it
    intact. Either all of them end up in `directory` (each moved there by os.replace from a
    temporary file in the same directory) or none does and DownloadError is raised."""
    mirrors = check_mirrors(mirrors)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    say = say or (lambda line: None)
    temporaries = {}
    try:
        for name in names:
            failures = []
            for mirror in mirrors:
                url = urllib.parse.urljoin(mirror, name)
                fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
                try:
                    with os.fdopen(fd, "wb") as handle:
                        size = _fetch(url, handle, timeout, f"downloading {name}", progress)
                        handle.flush()
                        os.fsync(handle.fileno())
                    _verify(temporary, sha256.get(name))
                except (_Failed, OSError, http.client.HTTPException, ValueError) as exc:
                    _remove(temporary)
                    failures.append(f"{url}: {_reason(exc)}")
                    if progress:
                        say(f"could not download {url} ({_reason(exc)})")
                    continue
                except BaseException:
                    _remove(temporary)
                    raise
                temporaries[name] = temporary
                if progress:
                    say(f"downloaded {name} ({megabytes(size)}) from {mirror}")
                mirrors.remove(mirror)  # the next files try the mirror that worked first
                mirrors.insert(0, mirror)
                break
            else:
                raise DownloadError(
                    f"could not download {name} from any of the {len(mirrors)} mirror(s): "
                    + "; ".join(failures)
                    + " (offline? set NNFAST_MNIST_MIRRORS to other mirrors, or put the files in "
                    + f"{directory} yourself); nothing was saved")
        for name, temporary in temporaries.items():
            os.replace(temporary, directory / name)
        temporaries.clear()
    finally:
        for temporary in temporaries.values():
            _remove(temporary)
    return [directory / name for name in names]


def _remove(path):
    with contextlib.suppress(OSError):
        os.unlink(path)
