import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from vaekit.data import download
from vaekit.data.download import fetch
from vaekit.data.idx import read_idx, write_idx
from vaekit.errors import VaekitError

FAST = dict(retries=2, timeout=5, progress=False, backoff=0)


class Server:
    """A local HTTP server: ``files`` maps a path to its body, ``drops`` to how many requests
    to cut short (a full Content-Length, half the body, then close), ``trickles`` to a pause in
    seconds between its body's bytes, ``redirects`` to where a 302 sends it, ``hits`` counts requests."""

    def __init__(self):
        self.files, self.drops, self.trickles, self.redirects, self.hits = {}, {}, {}, {}, {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.drops.get(self.path, 0) > 0:
                    server.drops[self.path] -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                if self.path in server.trickles:
                    for i in range(len(body)):
                        self.wfile.write(body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(server.trickles[self.path])
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True).start()


@pytest.fixture
def server():
    running = Server()
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()


@pytest.fixture
def idx_file(tmp_path):
    """The bytes of a small gzipped IDX file and their SHA-256."""
    source = tmp_path / "source" / "images.gz"
    source.parent.mkdir()
    write_idx(source, np.arange(5000, dtype=np.int32).reshape(50, 100))
    body = source.read_bytes()
    return body, hashlib.sha256(body).hexdigest()


def test_success(server, idx_file, tmp_path):
    body, sha = idx_file
    server.files["/a/images.gz"] = body
    dest = tmp_path / "cache" / "images.gz"
    assert fetch([server.url + "/a/images.gz"], dest, sha, **FAST) == str(dest)
    assert dest.read_bytes() == body
    assert read_idx(dest).shape == (50, 100)
    assert [p.name for p in dest.parent.iterdir()] == ["images.gz"]


def test_checksum_mismatch_leaves_nothing(server, idx_file, tmp_path):
    body, sha = idx_file
    server.files["/a/images.gz"] = body
    server.files["/b/images.gz"] = body
    dest = tmp_path / "cache" / "images.gz"
    wrong = "0" * 64
    with pytest.raises(VaekitError) as caught:
        fetch([server.url + "/a/images.gz", server.url + "/b/images.gz"], dest, wrong, **FAST)
    message = str(caught.value)
    assert message.startswith(f"{dest}: SHA-256 mismatch") and wrong in message and sha in message
    assert "\n" not in message
    assert list(dest.parent.iterdir()) == []
    assert server.hits == {"/a/images.gz": 1, "/b/images.gz": 1}  # no retry of the same bytes


def test_mismatch_keeps_an_existing_file(server, idx_file, tmp_path):
    body, sha = idx_file
    server.files["/a/images.gz"] = b"something else"
    dest = tmp_path / "cache" / "images.gz"
    dest.parent.mkdir()
    dest.write_bytes(b"old")
    with pytest.raises(VaekitError, match="mismatch"):
        fetch([server.url + "/a/images.gz"], dest, sha, **FAST)
    assert dest.read_bytes() == b"old"
    assert [p.name for p in dest.parent.iterdir()] == ["images.gz"]


def test_dropped_connection_is_retried(server, idx_file, tmp_path):
    body, sha = idx_file
    server.files["/a/images.gz"] = body
    server.drops["/a/images.gz"] = 1
    dest = tmp_path / "cache" / "images.gz"
    fetch([server.url + "/a/images.gz"], dest, sha, **FAST)
    assert dest.read_bytes() == body
    assert server.hits["/a/images.gz"] == 2


def test_dropped_connection_falls_over_to_mirror(server, idx_file, tmp_path):
    body, sha = idx_file
    server.files["/a/images.gz"] = server.files["/b/images.gz"] = body
    server.drops["/a/images.gz"] = 99
    dest = tmp_path / "cache" / "images.gz"
    fetch([server.url + "/a/images.gz", server.url + "/b/images.gz"], dest, sha, **FAST)
    assert dest.read_bytes() == body
    assert server.hits == {"/a/images.gz": 2, "/b/images.gz": 1}
    assert [p.name for p in dest.parent.iterdir()] == ["images.gz"]


def test_404_falls_over_to_mirror_at_once(server, idx_file, tmp_path):
    body, sha = idx_file
    server.files["/b/images.gz"] = body
    dest = tmp_path / "cache" / "images.gz"
    fetch([server.url + "/a/images.gz", server.url + "/b/images.gz"], dest, sha, **FAST)
    assert dest.read_bytes() == body
    assert server.hits == {"/a/images.gz": 1, "/b/images.gz": 1}


def test_every_source_failing(server, idx_file, tmp_path):
    _, sha = idx_file
    server.drops["/b/images.gz"] = 99
    server.files["/b/images.gz"] = b"x" * 1000
    dest = tmp_path / "cache" / "images.gz"
    with pytest.raises(VaekitError) as caught:
        fetch([server.url + "/a/images.gz", server.url + "/b/images.gz"], dest, sha, **FAST)
    message = str(caught.value)
    assert message.startswith(f"{dest}: download failed") and "404" in message
    assert "the connection closed after 500 of 1,000 bytes" in message
    assert list(dest.parent.iterdir()) == []


def test_a_failed_attempt_is_said_at_once(server, idx_file, tmp_path, caplog):
    body, sha = idx_file
    server.files["/a/images.gz"] = body
    server.drops["/a/images.gz"] = 1
    fetch([server.url + "/a/images.gz"], tmp_path / "images.gz", sha, **FAST)
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        f"downloading {server.url}/a/images.gz: attempt 1 of 2 failed (the connection closed after "
        f"{len(body) // 2:,} of {len(body):,} bytes); trying again"]


def test_a_destination_that_cannot_be_written_fails_at_once(server, idx_file, tmp_path, monkeypatch):
    """No space or no permission where the file goes: asking the sources again cannot help."""
    import contextlib
    import errno

    body, sha = idx_file
    server.files["/a/images.gz"] = server.files["/b/images.gz"] = body

    class Full:
        def write(self, chunk):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download, "atomic_file", lambda dest: contextlib.nullcontext(Full()))
    dest = tmp_path / "images.gz"
    with pytest.raises(VaekitError) as caught:
        fetch([server.url + "/a/images.gz", server.url + "/b/images.gz"], dest, sha, **FAST)
    assert str(caught.value) == (f"{dest}: cannot write the download (No space left on device); free some space, "
                                 "or set VAEKIT_DATA to a folder you can write to")
    assert server.hits == {"/a/images.gz": 1}


def test_offline_refuses(server, idx_file, tmp_path):
    body, sha = idx_file
    server.files["/a/images.gz"] = body
    dest = tmp_path / "cache" / "images.gz"
    with pytest.raises(VaekitError, match="offline") as caught:
        fetch([server.url + "/a/images.gz"], dest, sha, offline=True)
    assert str(caught.value).startswith(f"{dest}: ") and server.url in str(caught.value)
    assert server.hits == {} and not dest.parent.exists()


def test_interrupt_leaves_nothing(server, idx_file, tmp_path, monkeypatch):
    body, sha = idx_file
    server.files["/a/images.gz"] = body

    class Interrupting:
        """A progress bar whose first update is a Ctrl-C."""

        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

        def update(self, n):
            raise KeyboardInterrupt

    monkeypatch.setattr(download, "tqdm", Interrupting)
    dest = tmp_path / "cache" / "images.gz"
    with pytest.raises(KeyboardInterrupt):
        fetch([server.url + "/a/images.gz"], dest, sha, **FAST)
    assert list(dest.parent.iterdir()) == []


def test_a_source_that_trickles_is_given_up(server, idx_file, tmp_path):
    """Each byte comes before the socket times out, so only the rate can tell that it will never end."""
    body, sha = idx_file
    server.files["/a/images.gz"] = server.files["/b/images.gz"] = body
    server.trickles["/a/images.gz"] = 0.02  # 50 bytes/s
    start = time.monotonic()
    fetch([server.url + "/a/images.gz", server.url + "/b/images.gz"], tmp_path / "images.gz", sha,
          **{**FAST, "timeout": 0.5, "retries": 1})
    assert (tmp_path / "images.gz").read_bytes() == body and time.monotonic() - start < 5
    assert server.hits == {"/a/images.gz": 1, "/b/images.gz": 1}


def test_a_redirect_loop_is_one_line(server, tmp_path):
    """urllib's message for it spans three lines ("...infinite loop.\\nThe last 30x error message was:\\nFound")."""
    server.redirects["/loop"] = "/loop"
    with pytest.raises(VaekitError) as e:
        fetch([server.url + "/loop"], tmp_path / "f.gz", "0" * 64, **FAST)
    assert "\n" not in str(e.value) and "infinite loop. The last 30x error message was: Found" in str(e.value)


def test_a_folder_where_the_file_goes_is_named_as_such(server, idx_file, tmp_path):
    """It said "free some space" for a folder in the file's place."""
    body, sha = idx_file
    server.files["/images.gz"] = body
    (tmp_path / "images.gz").mkdir()
    with pytest.raises(VaekitError, match=r"images.gz: cannot write the download \(.*\); move that folder away"):
        fetch([server.url + "/images.gz"], tmp_path / "images.gz", sha, **FAST)
