"""The MNIST download path, against a local HTTP server on 127.0.0.1 (a thread, port 0).

The server's URL prefix picks its behaviour: /ok/ serves the files, /corrupt/ serves one file whose
data has a changed byte (recompressed: valid gzip), /damaged/ one with a broken gzip stream, /short/
announces the full Content-Length but sends half the body and hangs up,
/missing/ answers 404. The core tests serve small idx files made here, with their checksums passed
in; the last tests serve a copy of the real files from ../shared/data/mnist with the standard
checksums (skipped when that folder is absent).
"""

import gzip
import re
import hashlib
import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from nnfast import datasets
from nnfast.datasets import MNIST_FILES, MNIST_SHA256, DownloadError, download_mnist, read_idx

MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
HAVE_MNIST = all((MNIST_DIR / name).is_file() for name in MNIST_FILES.values())
NAMES = list(MNIST_FILES.values())


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        _, mode, name = self.path.split("/", 2)
        file = Path(self.server.root) / name
        if mode == "missing" or not file.is_file():
            self.send_error(404)
            return
        body = file.read_bytes()
        if mode == "corrupt" and name == self.server.corrupt_name:  # valid gzip, one data byte off
            data = bytearray(gzip.decompress(body))
            data[len(data) // 2] ^= 0xFF
            body = gzip.compress(bytes(data), compresslevel=1)
        if mode == "damaged" and name == self.server.corrupt_name:  # a broken gzip stream
            body = body[:-12] + b"\x00" * 12
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "short":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture
def serve(monkeypatch):
    """serve(root) -> (base URL, server); the server stops after the test."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    servers = []

    def start(root, corrupt_name=NAMES[2]):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.root, server.requests, server.corrupt_name = str(root), [], corrupt_name
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def small_files(tmp_path):
    """Four small idx files with the standard names, and their sha256."""
    root = tmp_path / "server"
    root.mkdir()
    rng = np.random.default_rng(0)
    contents = {}
    for key, name in MNIST_FILES.items():
        n = 30 if key.startswith("train") else 12
        if key.endswith("images"):
            raw = b"\x00\x00\x08\x03" + n.to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
            raw += rng.integers(0, 256, size=n * 784, dtype=np.uint8).tobytes()
        else:
            raw = b"\x00\x00\x08\x01" + n.to_bytes(4, "big") + rng.integers(0, 10, n, np.uint8).tobytes()
        contents[name] = gzip.compress(raw)
        (root / name).write_bytes(contents[name])
    # The checksums are of the data (gunzipped), as MNIST_SHA256's.
    sha = {name: hashlib.sha256(gzip.decompress(data)).hexdigest() for name, data in contents.items()}
    return root, contents, sha


def test_download_success(serve, small_files, tmp_path, capsys):
    root, contents, sha = small_files
    url, server = serve(root)
    cache = tmp_path / "cache" / "nested"
    assert download_mnist(cache, mirrors=[url + "/ok/"], sha256=sha) == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES)  # no temporary files left
    for name in NAMES:
        assert (cache / name).read_bytes() == contents[name]
    assert read_idx(cache / MNIST_FILES["train_images"]).shape == (30, 784)
    err = capsys.readouterr().err  # not a terminal: one plain line per file, no bar
    assert "\r" not in err
    assert all(f"downloaded {name}" in err for name in NAMES)
    # Present files are not fetched again.
    server.requests.clear()
    download_mnist(cache, mirrors=[url + "/ok/"], sha256=sha, progress=False)
    assert server.requests == []
    assert capsys.readouterr().err == ""


def test_only_missing_files_are_fetched(serve, small_files, tmp_path):
    root, contents, sha = small_files
    url, server = serve(root)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / NAMES[0]).write_bytes(contents[NAMES[0]])
    (cache / NAMES[1].removesuffix(".gz")).write_bytes(gzip.decompress(contents[NAMES[1]]))
    download_mnist(cache, mirrors=[url + "/ok/"], sha256=sha, progress=False)
    assert sorted(server.requests) == sorted(f"/ok/{name}" for name in NAMES[2:])


def test_checksum_mismatch_caches_nothing(serve, small_files, tmp_path):
    root, _, sha = small_files
    url, _ = serve(root, corrupt_name=NAMES[2])  # the first two files arrive intact
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as info:
        download_mnist(cache, mirrors=[url + "/corrupt/"], sha256=sha, progress=False)
    message = str(info.value)
    assert f"{url}/corrupt/{NAMES[2]}: sha256 mismatch" in message
    assert sha[NAMES[2]] in message and "nothing was saved" in message
    assert list(cache.iterdir()) == []  # all or nothing: not even the two good files


def test_damaged_gzip_stream_caches_nothing(serve, small_files, tmp_path):
    root, _, sha = small_files
    url, _ = serve(root, corrupt_name=NAMES[1])
    with pytest.raises(DownloadError, match=f"{NAMES[1]}: not a valid gzip file"):
        download_mnist(tmp_path / "cache", mirrors=[url + "/damaged/"], sha256=sha, progress=False)
    assert list((tmp_path / "cache").iterdir()) == []


def test_checksum_is_of_the_data_not_of_the_gzip_bytes(serve, small_files, tmp_path):
    """A mirror that compressed the same idx bytes differently passes the check."""
    root, contents, sha = small_files
    for name, data in contents.items():
        (root / name).write_bytes(gzip.compress(gzip.decompress(data), compresslevel=1, mtime=12345))
        assert (root / name).read_bytes() != data
    url, _ = serve(root)
    download_mnist(tmp_path / "cache", mirrors=[url + "/ok/"], sha256=sha, progress=False)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(NAMES)


def test_interrupted_transfer_then_next_mirror(serve, small_files, tmp_path):
    root, contents, sha = small_files
    url, server = serve(root)
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match=r"transfer interrupted: received \d+ of \d+ bytes"):
        download_mnist(cache, mirrors=[url + "/short/"], sha256=sha, progress=False)
    assert list(cache.iterdir()) == []
    # The same failure on the first mirror falls through to the second.
    server.requests.clear()
    download_mnist(cache, mirrors=[url + "/short/", url + "/missing/", url + "/ok/"], sha256=sha,
                   progress=False)
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES)
    assert all((cache / name).read_bytes() == contents[name] for name in NAMES)
    assert server.requests[:3] == [f"/short/{NAMES[0]}", f"/missing/{NAMES[0]}", f"/ok/{NAMES[0]}"]
    assert server.requests[3:] == [f"/ok/{name}" for name in NAMES[1:]]  # the good mirror first


def test_interrupted_without_checksum_is_still_refused(serve, small_files, tmp_path):
    root, _, _ = small_files
    url, _ = serve(root)
    with pytest.raises(DownloadError, match="interrupted"):
        download_mnist(tmp_path / "c", mirrors=[url + "/short/"], sha256={}, progress=False)
    assert list((tmp_path / "c").iterdir()) == []


def test_offline_names_every_mirror(tmp_path):
    mirrors = [f"http://127.0.0.1:{_closed_port()}/a/", f"http://127.0.0.1:{_closed_port()}/b/"]
    with pytest.raises(DownloadError) as info:
        download_mnist(tmp_path / "cache", mirrors=mirrors, progress=False, timeout=5)
    message = str(info.value)
    assert isinstance(info.value, OSError)
    for mirror in mirrors:
        assert f"{mirror}{NAMES[0]}: connection refused" in message
    assert "offline?" in message and "NNFAST_MNIST_MIRRORS" in message
    assert list((tmp_path / "cache").iterdir()) == []


def test_http_error_is_reported(serve, small_files, tmp_path):
    url, _ = serve(small_files[0])
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_mnist(tmp_path / "c", mirrors=[url + "/missing/"], progress=False)


def test_mirror_list_from_environment(monkeypatch, serve, small_files, tmp_path):
    monkeypatch.delenv("NNFAST_MNIST_MIRRORS", raising=False)
    assert datasets.mnist_mirrors() == datasets.MNIST_MIRRORS
    monkeypatch.setenv("NNFAST_MNIST_MIRRORS", "http://a.example/x/, http://b.example/y/")
    assert datasets.mnist_mirrors() == ["http://a.example/x/", "http://b.example/y/"]
    root, contents, sha = small_files
    url, server = serve(root)
    monkeypatch.setenv("NNFAST_MNIST_MIRRORS", f"http://127.0.0.1:{_closed_port()}/ {url}/ok")
    download_mnist(tmp_path / "c", sha256=sha, progress=False)  # no trailing slash needed
    assert (tmp_path / "c" / NAMES[3]).read_bytes() == contents[NAMES[3]]


def test_bad_mirrors_are_refused(tmp_path):
    with pytest.raises(ValueError, match="http"):
        download_mnist(tmp_path, mirrors=["ftp://example.org/mnist/"])
    with pytest.raises(ValueError, match="empty"):
        download_mnist(tmp_path, mirrors=[])


def test_load_mnist_default_directory_offline(monkeypatch, tmp_path):
    """No path: the default directory, downloaded into when empty; offline that is one clear
    OSError naming the mirror, and an explicit directory is never downloaded into by default."""
    monkeypatch.setenv("NNFAST_DATA", str(tmp_path / "data"))
    mirror = f"http://127.0.0.1:{_closed_port()}/mnist/"
    monkeypatch.setenv("NNFAST_MNIST_MIRRORS", mirror)
    with pytest.raises(DownloadError, match="connection refused") as info:
        datasets.load_mnist()
    assert mirror in str(info.value)
    with pytest.raises(FileNotFoundError, match="lacks"):
        datasets.load_mnist(tmp_path / "data")


# ---------------------------------------------------------------- the real files
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason=f"real MNIST idx files not found in {MNIST_DIR}")


@pytest.fixture
def real_copy(tmp_path):
    root = tmp_path / "mirror"
    root.mkdir()
    for name in NAMES:
        shutil.copyfile(MNIST_DIR / name, root / name)
    return root


@pytest.mark.mnist
@needs_mnist
def test_standard_checksums_match_the_real_files():
    for name in NAMES:
        data = gzip.decompress((MNIST_DIR / name).read_bytes())
        assert hashlib.sha256(data).hexdigest() == MNIST_SHA256[name]


@pytest.mark.mnist
@needs_mnist
def test_load_mnist_downloads_the_real_files(monkeypatch, serve, real_copy, tmp_path):
    url, server = serve(real_copy)
    monkeypatch.setenv("NNFAST_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("NNFAST_MNIST_MIRRORS", f"{url}/short/,{url}/ok/")
    (X, y), (Xv, yv), (Xt, yt) = datasets.load_mnist()  # the standard checksums
    assert X.shape == (50_000, 784) and Xv.shape == (10_000, 784) and Xt.shape == (10_000, 784)
    np.testing.assert_array_equal(y[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(NAMES)
    server.requests.clear()
    datasets.load_mnist()  # cached: no request
    assert server.requests == []


@pytest.mark.mnist
@needs_mnist
def test_real_file_corrupted_on_the_mirror(serve, real_copy, tmp_path):
    url, _ = serve(real_copy, corrupt_name=NAMES[0])
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download_mnist(tmp_path / "cache", mirrors=[url + "/corrupt/"], progress=False)
    assert list((tmp_path / "cache").iterdir()) == []


def test_progress_bar_on_a_terminal(serve, small_files, tmp_path, monkeypatch):
    class Terminal(__import__("io").StringIO):
        def isatty(self):
            return True

    root, contents, sha = small_files
    url, _ = serve(root)
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    monkeypatch.setattr("nnfast._progress._REDRAW_SECONDS", 0.0)
    monkeypatch.setattr("nnfast.datasets.download._CHUNK", 4096)  # several updates per file
    download_mnist(tmp_path / "cache", mirrors=[url + "/ok/"], sha256=sha)
    text = screen.getvalue()
    size = len(contents[NAMES[0]])
    assert re.search(rf"\rdownloading {NAMES[0]} \[#{{30}}\] 100% [\d.]+ kB / [\d.]+ kB", text)
    assert re.search(rf"\rdownloading {NAMES[0]} \[#*\.+\] +\d+%", text)  # drawn part way too
    assert f"downloaded {NAMES[0]} ({size / 1e3:.1f} kB) from {url}/ok/" in text
