"""Fingerprinted, resumable stages: the machinery under ``sightsound run``.

A stage is a function plus the files it reads, the files it writes and the part of the recipe that
shapes it. Its *fingerprint* hashes that config, the content of its inputs and the package
version. On a rerun:

* fingerprint matches and the manifest says ``complete`` and the outputs exist -> skipped;
* fingerprint matches but the stage was ``running`` (interrupted)              -> run again, and the
  stage itself resumes (JSONL writers skip done ids, trainers resume from their last checkpoint);
* fingerprint differs (config or inputs changed)                                -> outputs moved
  aside to ``<output>.prev`` (one generation kept; a WARNING says so) or, with ``overwrite``,
  removed; stage redone, and so every later stage whose inputs changed;
* the stage returned stats with ``errors > 0`` (records whose attempt failed: an endpoint down, a
  file unreadable) -> marked ``incomplete`` with the count, never ``complete``: a rerun runs it
  again and the stage retries only those entries (``retry_errors``; off: kept, stage skipped).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sightsound import __version__
from sightsound.runinfo import Manifest, file_fingerprint

log = logging.getLogger(__name__)


@dataclass
class Stage:
    name: str
    fn: Callable[[], dict | None]  # returns the stage's stats (kept in the manifest and results)
    outputs: list[Path]
    inputs: list[Path] = field(default_factory=list)
    config: Any = None  # JSON-able: the recipe slice that shapes this stage


def fingerprint(stage: Stage) -> str:
    h = hashlib.sha256()
    h.update(f"sightsound {__version__}\n".encode())
    h.update(json.dumps(stage.config, sort_keys=True, default=str).encode())
    for p in stage.inputs:
        h.update(f"\n{Path(p).name}:{file_fingerprint(p)}".encode())
    return h.hexdigest()[:16]


def within(path: str | Path, root: str | Path) -> Path | None:
    """``path`` relative to the directory ``root`` (both resolved), or None when it lies outside it."""
    try:
        return Path(path).resolve().relative_to(Path(root).resolve())
    except ValueError:
        return None


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


PREV_SUFFIX = ".prev"


def prev_path(path: Path) -> Path:
    """Where a replaced output is kept: ``traces.jsonl`` -> ``traces.jsonl.prev``, ``cot_sft/`` -> ``cot_sft.prev/``."""
    return path.with_name(path.name + PREV_SUFFIX)


def _move_aside(path: Path) -> Path:
    dest = prev_path(path)
    _remove(dest)  # one generation is kept: the run before this one
    path.rename(dest)
    return dest


def error_count(stats: dict | None) -> int:
    """How many error entries a stage's stats report (teach, verify and eval report ``errors``)."""
    n = (stats or {}).get("errors")
    return n if isinstance(n, int) and not isinstance(n, bool) else 0


class StageRunner:
    """Runs stages in a run directory; ``retry_errors`` reruns incomplete stages, ``overwrite`` removes
    (instead of moving aside) the outputs of a stage whose config or inputs changed."""

    def __init__(self, run_dir: str | Path, retry_errors: bool = True, overwrite: bool = False):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.manifest = Manifest(self.run_dir / "manifest.json")
        self.retry_errors = retry_errors
        self.overwrite = overwrite
        self.ran: list[str] = []
        self.skipped: list[str] = []
        self.incomplete: dict[str, int] = {}  # stage -> error entries left after this run

    def _rel(self, p: Path) -> str:
        rel = within(p, self.run_dir)
        return str(p) if rel is None else str(rel)

    def run(self, stage: Stage) -> dict:
        fp = fingerprint(stage)
        entry = self.manifest.get(stage.name)
        status = (entry or {}).get("status")
        same = bool(entry) and entry.get("fingerprint") == fp and all(Path(o).exists() for o in stage.outputs)
        if same and status == "complete":
            log.info("stage %s: up to date (fingerprint %s), skipped", stage.name, fp)
            self.skipped.append(stage.name)
            return entry.get("stats") or {}
        if same and status == "incomplete" and not self.retry_errors:
            log.warning("stage %s: %d error entries kept (--no-retry-errors); the stage stays incomplete",
                        stage.name, entry.get("errors", 0))
            self.skipped.append(stage.name)
            self.incomplete[stage.name] = entry.get("errors", 0)
            return entry.get("stats") or {}
        if entry and entry.get("fingerprint") != fp:
            self._replace_outputs(stage)
        elif status == "running":
            log.info("stage %s: resuming an interrupted run", stage.name)
        elif status == "incomplete":
            log.info("stage %s: retrying its %d error entries", stage.name, entry.get("errors", 0))
        self.manifest.start(stage.name, fp, [self._rel(p) for p in stage.inputs], [self._rel(p) for p in stage.outputs])
        stats = stage.fn() or {}
        errors = error_count(stats)
        self.manifest.complete(stage.name, {"stats": stats}, errors=errors)
        if errors:
            log.warning("stage %s: %d error entries; marked incomplete (a rerun retries them)", stage.name, errors)
            self.incomplete[stage.name] = errors
        self.ran.append(stage.name)
        return stats

    def _replace_outputs(self, stage: Stage) -> None:
        """A changed stage never destroys finished work silently: move it aside, or remove it on --overwrite."""
        existing = [Path(o) for o in stage.outputs if Path(o).exists()]
        if not existing:
            log.info("stage %s: inputs or config changed, redoing it", stage.name)
            return
        if self.overwrite:
            log.warning("stage %s: inputs or config changed; --overwrite: removing %s", stage.name,
                        ", ".join(self._rel(p) for p in existing))
            for p in existing:
                _remove(p)
            return
        moved = [self._rel(_move_aside(p)) for p in existing]
        log.warning("stage %s: inputs or config changed; its previous outputs were moved to %s", stage.name,
                    ", ".join(moved))
