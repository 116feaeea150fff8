"""Fingerprinted, resumable stages: the machinery under ``sightsound run``.

A stage is a function plus the files it reads, the files it writes and the part of the recipe that
shapes it. Its *fingerprint* hashes that config, the content of its inputs and the package
version. On a rerun:

* fingerprint matches and the manifest says ``complete`` and the outputs exist -> skipped;
* fingerprint matches but the stage was ``running`` (interrupted)              -> run again, and the
  stage itself resumes (JSONL writers skip done ids, trainers resume from their last checkpoint);
* fingerprint differs (config or inputs changed)                                -> outputs removed,
  stage redone, and so every later stage whose inputs changed.
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


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


class StageRunner:
    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.manifest = Manifest(self.run_dir / "manifest.json")
        self.ran: list[str] = []
        self.skipped: list[str] = []

    def _rel(self, p: Path) -> str:
        try:
            return str(Path(p).resolve().relative_to(self.run_dir.resolve()))
        except ValueError:
            return str(p)

    def run(self, stage: Stage) -> dict:
        fp = fingerprint(stage)
        entry = self.manifest.get(stage.name)
        if entry and entry.get("fingerprint") == fp and entry.get("status") == "complete" and all(
            Path(o).exists() for o in stage.outputs
        ):
            log.info("stage %s: up to date (fingerprint %s), skipped", stage.name, fp)
            self.skipped.append(stage.name)
            return entry.get("stats") or {}
        if entry and entry.get("fingerprint") != fp:
            log.info("stage %s: inputs or config changed, redoing it", stage.name)
            for o in stage.outputs:
                _remove(Path(o))
        elif entry and entry.get("status") == "running":
            log.info("stage %s: resuming an interrupted run", stage.name)
        self.manifest.start(stage.name, fp, [self._rel(p) for p in stage.inputs], [self._rel(p) for p in stage.outputs])
        stats = stage.fn() or {}
        self.manifest.complete(stage.name, {"stats": stats})
        self.ran.append(stage.name)
        return stats
