"""Shared by the kill tests: kill a stage mid-run as a preemption does; wait for processes to be gone."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path


def kill_after_lines(proc: subprocess.Popen, out: Path, lines: int, timeout_s: float) -> int:
    """SIGKILL ``proc`` once ``out`` holds ``lines`` complete lines; returns how many it held at the kill.

    Fails when the process ended first (it was too fast to be killed mid-run), with its stderr.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= lines:
            break
        time.sleep(0.01)
    if proc.poll() is not None:
        err = proc.communicate()[1] or ""
        err = err.decode(errors="replace") if isinstance(err, bytes) else err
        raise AssertionError(f"{proc.args[3]} ended before it could be killed: {err[-2000:]}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return out.read_bytes().count(b"\n")


def tear(out: Path, half_line: bytes) -> None:
    """Append half a line, as a kill in the middle of a write leaves."""
    with out.open("ab") as f:
        f.write(half_line)


def alive(pid: int) -> bool:
    """Running, not a zombie (an orphan is reaped by whoever adopts it, which may be slow to). Linux /proc."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def still_alive(pids: list[int], timeout_s: float) -> list[int]:
    """Those of ``pids`` still running after up to ``timeout_s`` (returns as soon as none is)."""
    deadline = time.monotonic() + timeout_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if alive(p)]
