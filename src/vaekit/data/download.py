"""Download a file from a list of sources, verified by SHA-256, never leaving half a file."""

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.request

from tqdm import tqdm

from ..errors import VaekitError
from ..fileio import atomic_file

log = logging.getLogger(__name__)

_CHUNK = 1 << 16
_MIN_RATE = 1024  # bytes per second, over each ``timeout`` seconds of an attempt: slower is a stalled source


class _Unreachable(Exception):
    """The source failed (no answer, an HTTP error, a connection cut short): another attempt may do better."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


class _ChecksumMismatch(Exception):
    """The bytes arrived whole but are not the expected ones."""

    def __init__(self, got: str):
        super().__init__(got)
        self.got = got


def fetch(
    url_list: list[str],
    dest_path: str | os.PathLike,
    sha256: str,
    *,
    offline: bool = False,
    retries: int = 3,
    timeout: float = 30,
    progress: bool = True,
    backoff: float = 1.0,
) -> str:
    """Download a file to ``dest_path`` from the first source that delivers the right bytes.

    The file is streamed to a temporary file in the destination folder and renamed into
    place only once its SHA-256 matches, so ``dest_path`` is either absent, untouched, or
    complete and verified, whatever goes wrong (HTTP error, dropped connection, Ctrl-C).

    Parameters
    ----------
    url_list : list of str
        Addresses of the same file, tried in order: the official one first, then mirrors.
    dest_path : str or os.PathLike
        Where to put the file; missing folders are created.
    sha256 : str
        Expected SHA-256 of the file, in hex.
    offline : bool
        If True, do not touch the network: fail with advice on where to put the file.
    retries : int
        Attempts per address; an HTTP 4xx or a checksum mismatch moves on at once.
    timeout : float
        Seconds to wait for the server before an attempt fails; an attempt that brings less than 1 KB/s
        over that long fails too (a trickle never times out a socket).
    progress : bool
        Show a progress bar (only when stderr is a terminal).
    backoff : float
        Seconds to wait before the second attempt on an address, doubled for each next one.

    Returns
    -------
    str
        ``dest_path``.

    Raises
    ------
    VaekitError
        If offline, if the file cannot be written where it goes (no space, no permission: at once,
        not after every source), or if no source delivered a file with the expected SHA-256.
    """
    dest = os.fspath(dest_path)
    if offline:
        raise VaekitError(
            f"{dest}: file is missing and downloads are forbidden (offline); download it from "
            f"{url_list[0]} and put it there, or allow downloads"
        )
    try:
        os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    except OSError as error:
        raise VaekitError(
            f"{dest}: cannot create the folder ({error}); choose a writable place"
        ) from None
    failures, mismatches = {}, []  # failures: the last error of each address
    for url in url_list:
        for attempt in range(retries):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                with atomic_file(dest) as out:
                    got = _stream(url, out, timeout, progress, os.path.basename(dest))
                    if got != sha256:
                        raise _ChecksumMismatch(got)
                return dest
            except _ChecksumMismatch as error:
                mismatches.append(f"{error.got} from {url}")
                break  # the same address would send the same bytes again
            except _Unreachable as unreachable:
                error = failures[url] = unreachable.error
                if isinstance(error, urllib.error.HTTPError):
                    error.close()  # it holds the connection open
                    if error.code < 500:
                        break  # a 404 or 403 will not heal by asking again
                if attempt + 1 < retries:
                    log.warning("downloading %s: attempt %d of %d failed (%s); trying again", url, attempt + 1,
                                retries, error)
            except OSError as error:  # writing here failed: no other source or attempt can mend that
                advice = ("move that folder away, or set VAEKIT_DATA to another folder" if os.path.isdir(dest) else
                          "free some space, or set VAEKIT_DATA to a folder you can write to")
                raise VaekitError(f"{dest}: cannot write the download ({error.strerror or error}); {advice}") from None
    if mismatches:
        raise VaekitError(
            f"{dest}: SHA-256 mismatch, expected {sha256}, got {'; '.join(mismatches)}; "
            "a source serves a different file: retry later or put a verified copy there"
        )
    errors = "; ".join(f"{url}: {' '.join(str(error).split())}" for url, error in failures.items())  # one line
    raise VaekitError(
        f"{dest}: download failed from every source ({errors}); "
        "check the network, or download the file by hand and put it there"
    )


def _stream(url: str, out, timeout: float, progress: bool, label: str) -> str:
    """Copy the body at ``url`` into ``out``; return its SHA-256 in hex. What the source does wrong
    raises _Unreachable; what writing ``out`` does wrong, OSError."""
    request = urllib.request.Request(url, headers={"User-Agent": "vaekit"})
    digest = hashlib.sha256()
    received = 0
    try:  # OSError here: URLError, HTTPError, timeouts and resets
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            # disable=None lets tqdm turn itself off when stderr is not a terminal.
            disable = None if progress else True
            window_start, window_bytes = time.monotonic(), 0
            with tqdm(total=total, desc=label, unit="B", unit_scale=True, disable=disable) as bar:
                while chunk := response.read1(_CHUNK):  # what has come, not a full chunk: the rate check runs
                    try:
                        out.write(chunk)
                    except OSError as error:
                        raise _WriteFailed(error) from None
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                    window_bytes += len(chunk)
                    if (seconds := time.monotonic() - window_start) >= timeout:
                        if window_bytes < _MIN_RATE * seconds:
                            raise _Unreachable(ConnectionError(f"stalled: {window_bytes:,} bytes in {seconds:.0f} s"))
                        window_start, window_bytes = time.monotonic(), 0
    except (OSError, http.client.HTTPException) as error:
        raise _Unreachable(error) from None
    except _WriteFailed as failed:
        raise failed.error from None
    # http.client returns a short body silently when the server closes the connection early.
    if total is not None and received != total:
        raise _Unreachable(ConnectionError(f"the connection closed after {received:,} of {total:,} bytes"))
    return digest.hexdigest()


class _WriteFailed(Exception):
    """Carries a local write's OSError past the handler of the network's."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error
