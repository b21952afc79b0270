"""Atomic file writes (a crash or a kill leaves the old file or the new one, never half of one), and
the signal handling around them: Ctrl-C and SIGTERM held, ignored or defaulted for a block."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import math
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # reading the umask means setting it: put it straight back
STALE_S = 600  # a temporary file nobody wrote to for this long was left by a killed process


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike):
    """Yield a binary file beside ``path``; flush + fsync + rename it into place only if the block succeeds."""
    path = Path(path)
    _remove_stale(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _about(path, e) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; a run folder's files should read like any other
        with os.fdopen(fd, "wb") as f:
            try:
                yield f
                f.flush()
                os.fsync(f.fileno())
            except OSError as e:  # a full disk, said with the file's name (numpy says "N requested and M written")
                if e.errno not in (errno.ENOSPC, errno.EDQUOT) and not str(e).endswith("written"):
                    raise
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
        try:
            os.replace(tmp, path)
        except OSError as e:
            raise _about(path, e) from None
    except BaseException:  # KeyboardInterrupt too: never leave half a file behind
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def signals_held():
    """Hold Ctrl-C and SIGTERM until the block ends, then deliver one of them (SIGTERM first) to the
    handler that was there before; not if the block failed, since its error stops the program anyway.

    Signals reach the main thread only; elsewhere the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: set[int] = set()
    previous = {s: signal.signal(s, lambda number, frame: held.add(number)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except BaseException:
        held.clear()
        raise
    finally:
        _put_back(previous)
        if held:
            signal.raise_signal(signal.SIGTERM if signal.SIGTERM in held else signal.SIGINT)


@contextlib.contextmanager
def signals_set(disposition):
    """Ctrl-C and SIGTERM get ``disposition`` (``signal.SIG_IGN``, ``signal.SIG_DFL``) inside the block, then
    their handlers back (as ``signals_held`` does). Signals reach the main thread only; elsewhere the block
    runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, disposition) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        _put_back(previous)


def _put_back(previous: dict) -> None:
    """Restore the handlers ``signal.signal`` returned; one set outside Python (None) cannot be put
    back, so the default one takes its place (not ``SIG_IGN``, which would leave Ctrl-C dead)."""
    for s, handler in previous.items():
        signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def _remove_stale(path: Path) -> None:
    """Delete the temporary files of ``path`` that a killed writer left (a live one keeps writing to its own)."""
    now = time.time()
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if now - tmp.stat().st_mtime > STALE_S:
                tmp.unlink()
        except OSError:  # gone meanwhile, or not ours to delete: it does no harm
            pass


def _about(path: Path, error: OSError) -> OSError:
    """The same error, naming the file the caller asked for rather than the temporary one."""
    return type(error)(error.errno, error.strerror, str(path))


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_file(path) as f:
        f.write(data.encode() if isinstance(data, str) else data)


def json_text(obj, indent: int | None = None) -> str:
    """``obj`` as strict JSON, which jq, JavaScript and every JSON reader parse: a NaN or infinite float
    (a diverged run's loss, the PSNR of a perfect reconstruction) is written as null, never as
    Python's bare NaN or Infinity."""
    def strict(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: strict(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [strict(v) for v in value]
        return value

    return json.dumps(strict(obj), indent=indent, allow_nan=False)


def write_json(path: Path, obj) -> None:
    atomic_write(path, json_text(obj, indent=2) + "\n")
