"""Run-directory bookkeeping: the resolved config, package versions and a manifest of artefacts.

Results must name the package versions they were made with (peer projects saw MMAU move by points
across transformers versions), so every stage records :func:`package_versions`.
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from sightsound.config import dump_yaml, to_dict
from sightsound.jsonl import atomic_write_json, atomic_write_text, read_json

PACKAGES = ("sightsound", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "numpy", "av", "soundfile", "soxr", "openai", "vllm")


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def config_hash(cfg: Any) -> str:
    data = to_dict(cfg) if hasattr(cfg, "__dataclass_fields__") else cfg
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def write_resolved_config(cfg: Any, out_dir: str | Path, name: str = "resolved_config.yaml") -> Path:
    """Write the fully resolved config beside a command's outputs (never holds secrets: keys are env names)."""
    path = Path(out_dir) / name
    atomic_write_text(path, dump_yaml(cfg))
    return path


def file_sha256(path: str | Path) -> str:
    """The full sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_fingerprint(path: str | Path) -> str:
    """Content hash of a file (or, for a directory, of its files' names, sizes and mtimes)."""
    p = Path(path)
    if p.is_file():
        return file_sha256(p)[:16]
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(p.rglob("*")):
            if f.is_file():
                st = f.stat()
                h.update(f"{f.relative_to(p)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    else:
        h.update(b"<missing>")
    return h.hexdigest()[:16]


def _ends_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's first and last MiB (with its size, enough to tell two checkpoints apart fast)."""
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f:
        h.update(f.read(chunk))
        if size > 2 * chunk:
            f.seek(size - chunk)
            h.update(f.read(chunk))
        elif size > chunk:
            h.update(f.read())
    return h.hexdigest()


MODEL_FILE_SUFFIXES = (".safetensors", ".json", ".bin", ".model", ".txt", ".jinja")
# Records kept beside a model that no loader reads (SightSound-mini's training record is updated
# with new measurements without the model changing).
NOT_MODEL_FILES = frozenset({"pretrain_info.json", "README.md", "run_info.json"})


def model_fingerprint(name_or_path: str) -> str:
    """What a stage that uses a model depends on: a local model directory's *content* (each file's
    name, size and the hash of its first and last MiB), or a hub name as given.

    Content, not modification times, so a checkpoint replaced at the same path makes the stages that
    used it stale (a retrained mini student at ``assets/mini/student`` must not reuse old scores), while
    a fresh clone of the same files does not.
    """
    p = Path(name_or_path)
    if not p.is_dir():
        return str(name_or_path)
    h = hashlib.sha256()
    for f in sorted(p.rglob("*")):
        if f.is_file() and f.name not in NOT_MODEL_FILES and f.suffix in MODEL_FILE_SUFFIXES:
            h.update(f"{f.relative_to(p)}:{f.stat().st_size}:{_ends_sha256(f)}\n".encode())
    return h.hexdigest()[:16]


class Manifest:
    """``manifest.json`` in a run directory: per stage, its outputs, inputs, fingerprint, status and timing.

    A stage is first recorded as ``running`` with its fingerprint, then ``complete`` when it returns
    (``incomplete`` with ``errors`` when some of its entries are errors); so a rerun can tell
    "interrupted with this same config" (resume) from "done" (skip) from "done with errors" (retry
    them) from "done with another config" (stale: redo).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.data: dict[str, Any] = read_json(self.path) if self.path.exists() else {"artefacts": {}}

    def _save(self) -> None:
        atomic_write_json(self.path, self.data)

    def start(self, stage: str, fingerprint: str, inputs: list[str], outputs: list[str]) -> None:
        self.data["artefacts"][stage] = {
            "status": "running",
            "fingerprint": fingerprint,
            "inputs": inputs,
            "outputs": outputs,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "_t0": time.time(),
        }
        self._save()

    def complete(self, stage: str, extra: dict[str, Any] | None = None, errors: int = 0) -> None:
        """Record the end of a stage: ``complete``, or ``incomplete`` with the count of its error entries."""
        entry = self.data["artefacts"][stage]
        t0 = entry.pop("_t0", time.time())
        entry.pop("errors", None)
        if errors:
            entry["errors"] = errors
        entry.update(
            status="incomplete" if errors else "complete",
            ended=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            seconds=round(time.time() - t0, 3),
            packages=package_versions(),
            **(extra or {}),
        )
        self._save()

    def get(self, stage: str) -> dict[str, Any] | None:
        return self.data["artefacts"].get(stage)
