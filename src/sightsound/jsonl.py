"""Crash-safe JSONL artefacts: append-only writers that resume, and atomic small files.

Every stage writes through :class:`JsonlWriter`: it appends one JSON object a line, flushes and
fsyncs per batch, and on open it scans what is already there so a rerun skips finished ids. A
torn last line (the process was killed mid-write) is detected, reported and cut off, never kept
and never silently parsed around. Small summaries (stats, manifests) go through
:func:`atomic_write_json` (write to a temp file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Self

log = logging.getLogger(__name__)


class ArtefactError(ValueError):
    """A JSONL artefact that is corrupt in a way that is not a torn last line."""


class LockedError(ArtefactError):
    """Another live process holds the lock on an output (one writer per output)."""


def lock_path(path: str | Path, inside: bool = False) -> Path:
    """The lock file of an output: ``.NAME.lock`` beside it, or ``.lock`` inside it (a run directory).

    Beside, not inside, for a stage's output directory: a later stage fingerprints that directory's
    files, and the lock file's PID would change the fingerprint.
    """
    path = Path(path)
    return path / ".lock" if inside else path.with_name(f".{path.name}.lock")


# The names :func:`lock_path` gives, as glob patterns (for copies that must not carry a lock along).
LOCK_FILE_PATTERNS = (".*.lock", ".lock")


@contextlib.contextmanager
def output_lock(path: str | Path, what: str = "output", inside: bool = False) -> Iterator[Path]:
    """Hold an exclusive advisory lock on ``path`` (a file or directory) for the ``with`` block.

    A POSIX record lock (``fcntl.lockf``) on a lock file: a second process fails at once with
    :class:`LockedError` naming the holder's PID; the kernel drops the lock when its holder dies, so
    a lock left by a killed run never blocks (the file stays, the lock does not). Two writers on one
    JSONL would otherwise both append: duplicate ids that break every later stage. POSIX locks, not
    ``flock``: a ``flock`` is shared with forked children (teach's frame-decoding workers), which
    kept a SIGKILLed teach's output locked until they noticed and exited; a record lock belongs to
    the process alone. (It is also dropped when that process closes *any* descriptor of the lock
    file, so the same path is never locked twice in one process.)
    """
    lp = lock_path(path, inside)
    lp.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lp, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
            raise LockedError(f"{path}: {what} is in use by another sightsound process (pid {holder}); "
                              "wait for it to finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lp
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def read_jsonl(path: str | Path, with_lineno: bool = False, allow_torn_tail: bool = False) -> Iterator[Any]:
    """Yield objects from a JSONL file.

    A line that does not parse raises :class:`ArtefactError` naming the file and line, except a
    final line without a newline when ``allow_torn_tail`` is set (that one is skipped with a warning).
    """
    path = Path(path)
    with path.open("rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    last_complete = data.endswith(b"\n")
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        is_tail = i == len(lines) and not last_complete
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            if is_tail and allow_torn_tail:
                log.warning("%s: dropping torn last line %d (%d bytes)", path, i, len(raw))
                continue
            raise ArtefactError(f"{path}:{i}: not valid JSON ({e})") from None
        yield (i, obj) if with_lineno else obj


def repair_torn_tail(path: str | Path) -> int:
    """Cut a torn (newline-less, unparsable) last line off ``path``; return the bytes removed."""
    path = Path(path)
    if not path.exists():
        return 0
    with path.open("rb+") as f:
        data = f.read()
        if not data or data.endswith(b"\n"):
            return 0
        cut = data.rfind(b"\n") + 1  # 0 when the only line is torn
        tail = data[cut:]
        try:
            json.loads(tail.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
            log.warning("%s: removed a torn last line (%d bytes) left by an interrupted run", path, len(tail))
            return len(tail)
        # A complete object that only lacks its newline: finish the line.
        f.write(b"\n")
        f.flush()
        os.fsync(f.fileno())
        return 0


class JsonlWriter:
    """Append-only, resumable JSONL writer keyed by a record key.

    >>> with JsonlWriter("out.jsonl", key=lambda r: r["id"]) as w:   # doctest: +SKIP
    ...     todo = [r for r in records if r["id"] not in w.done]
    ...     w.write_many(results)

    ``done`` holds the keys already on disk. Writing a key twice raises (an idempotent stage never
    needs to), so a bug cannot silently duplicate training examples.
    """

    def __init__(self, path: str | Path, key: Callable[[dict], Any] = lambda r: r["id"], fsync: bool = True):
        self.path = Path(path)
        self.key = key
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_torn_tail(self.path)
        self.done: set[Any] = set()
        self.existing: list[dict] = []
        if self.path.exists():
            for row in read_jsonl(self.path):
                k = key(row)
                if k in self.done:
                    raise ArtefactError(f"{self.path}: key {k!r} appears twice")
                self.done.add(k)
                self.existing.append(row)
        self._f = self.path.open("ab")

    def write_many(self, rows: Iterable[dict]) -> None:
        buf = []
        for row in rows:
            k = self.key(row)
            if k in self.done:
                raise ArtefactError(f"{self.path}: refusing to write key {k!r} a second time")
            self.done.add(k)
            buf.append(_dumps(row).encode("utf-8") + b"\n")
        if not buf:
            return
        # One write call per batch: lines are never interleaved; a kill mid-write can still leave a
        # prefix of the batch with a torn last line, which the next open cuts off (repair_torn_tail).
        try:
            self._f.write(b"".join(buf))
            self._f.flush()
            if self.fsync:
                os.fsync(self._f.fileno())
        except OSError as e:  # disk full, file too large: the error must name the file it could not write
            raise OSError(e.errno, f"cannot write ({e.strerror})", str(self.path)) from None

    def write(self, row: dict) -> None:
        self.write_many([row])

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def atomic_write_bytes(path: str | Path, chunks: Iterable[bytes]) -> None:
    """Write a whole file at once, atomically: a temp file beside it, fsync, rename.

    Readers see the old file or the new one, never half of one; on any failure the temp file is
    removed and an OSError names ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # disk full, file too large: name the file, leave no half-written one
        Path(tmp).unlink(missing_ok=True)
        raise OSError(e.errno, f"cannot write ({e.strerror})", str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl_atomic(path: str | Path, rows: Iterable[dict]) -> None:
    """Write a whole JSONL file at once, atomically (for derived sets such as SFT data)."""
    atomic_write_bytes(path, (_dumps(row).encode("utf-8") + b"\n" for row in rows))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, [text.encode("utf-8")])


def atomic_write_json(path: str | Path, obj: Any, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=indent, default=str) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ArtefactError(f"{path}: not valid JSON ({e})") from None
