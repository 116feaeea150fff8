"""Stage I/O: how the generating stages (teach, verify, eval) write their JSONL output and resume it.

Each of them turns units of work (a record, a teacher sample, a benchmark item) into one JSON line
each, in batches, through :class:`~sightsound.jsonl.JsonlWriter`:

* **Sidecars.** ``OUT.jsonl`` has ``OUT.config.yaml`` (the resolved recipe it was made with) and
  ``OUT.stats.json`` (recomputed from the whole file) beside it: :func:`config_path`, :func:`stats_path`.
* **Resume check** (:func:`check_resume`, :class:`OutputSettings`). A rerun appends to ``OUT`` only
  when the settings that shape its lines are those of the old run; otherwise a mixed file would
  pass for one run, so it is refused naming each difference. Settings that change only speed
  (batch sizes, decoding workers) may differ. A setting the old ``OUT.config.yaml`` does not record
  was added to the recipe after that output was written; it reads as its **default**, because a
  new setting's default is the behaviour the code had before the setting existed. So the old output
  resumes when the setting is left at its default, and is refused when it is set to anything else
  (the old lines were not made that way). A recorded setting the recipe no longer has is ignored:
  there is nothing left to compare it with. ``merge`` compares shards with the same rule.
  The sidecar also records the model's **weights** (``weights.<role>``:
  :func:`~sightsound.runinfo.model_fingerprint`, a local directory's content), so a checkpoint
  retrained at the same path is not resumed into the old lines, while the same checkpoint under
  another path (another clone) is the same model; a sidecar written before weights were recorded
  cannot tell, and is compared on its settings and the model's path.
* **Error lines.** A line that records a failed attempt (an unreadable file, an endpoint that gave
  up) is not an answer: by default a rerun drops such lines first (:func:`drop_error_rows`) and does
  those units again; ``--no-retry-errors`` keeps them.
* **The loop** (:func:`write_batches`): generate a batch, append its lines with one write and one
  fsync, advance the progress bar. A kill loses at most the batch in flight; the writer's ``done``
  keys tell a rerun where to start.

``eval``'s generations file differs in one point: each line carries a ``run_key`` (a hash of the
model's identity, the adapter's content and the settings) instead of a config sidecar, because
what shapes an answer there (the adapter's weights, the benchmark's annotation file) is not all
in the recipe; a line of another ``run_key`` is refused the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sightsound.config import ConfigError, Recipe, load_yaml, to_dict
from sightsound.jsonl import JsonlWriter, read_jsonl, repair_torn_tail, write_jsonl_atomic
from sightsound.runinfo import write_resolved_config

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------- paths
def stats_path(out_path: str | Path) -> Path:
    """``OUT.jsonl`` -> ``OUT.stats.json``."""
    out = Path(out_path)
    return out.with_name(out.stem + ".stats.json")


def config_path(out_path: str | Path) -> Path:
    """``OUT.jsonl`` -> ``OUT.config.yaml``."""
    out = Path(out_path)
    return out.with_name(out.stem + ".config.yaml")


# ------------------------------------------------------------------------------------------ resume
@dataclass(frozen=True)
class OutputSettings:
    """The part of a recipe that shapes a stage's lines: its section (less ``speed_only``) and its model."""

    section: str  # the recipe section: "teach", "verify"
    role: str  # models.<role> makes the lines
    model_keys: tuple[str, ...] = ("name_or_path",)
    speed_only: frozenset[str] = field(default_factory=frozenset)

    def of(self, cfg: dict[str, Any]) -> dict[str, tuple[Any, bool]]:
        """Dotted setting -> (value, recorded) from a resolved recipe dict; unrecorded ones read as the default."""
        defaults = to_dict(Recipe())
        given = {self.section: cfg.get(self.section) or {},
                 f"models.{self.role}": ((cfg.get("models") or {}).get(self.role)) or {}}
        wanted = {self.section: [k for k in defaults[self.section] if k not in self.speed_only],
                  f"models.{self.role}": list(self.model_keys)}
        out = {}
        for prefix, keys in wanted.items():
            default = defaults[self.section] if prefix == self.section else defaults["models"][self.role]
            for k in keys:
                out[f"{prefix}.{k}"] = (given[prefix][k], True) if k in given[prefix] else (default[k], False)
        return out

    def diffs(self, old: dict[str, Any], new: dict[str, Any], sep: str = "->") -> list[str]:
        """``"key: old -> new"`` for every setting that differs between two sidecars (resolved recipe
        dicts, with the ``weights`` :meth:`sidecar` adds where they have it)."""
        before, now = self.of(old), self.of(new)
        w_old, w_new = ((d.get("weights") or {}).get(self.role) for d in (old, new))
        # Where both record the weights, they identify the model (a local directory by its content, a
        # hub name by itself): the same checkpoint in another clone's path is the same model.
        by_weights = w_old is not None and w_new is not None
        path_key = f"models.{self.role}.name_or_path"
        out = [f"{k}: {v!r}{'' if recorded else ' (not recorded: the default)'} {sep} {now[k][0]!r}"
               for k, (v, recorded) in before.items() if v != now[k][0] and not (by_weights and k == path_key)]
        if by_weights and w_old != w_new:
            p_old, p_new = before[path_key][0], now[path_key][0]
            out.append(f"{path_key}: {p_old!r} {sep} {p_new!r} (weights {w_old} {sep} {w_new})" if p_old != p_new
                       else f"weights.{self.role} (the model's content at {p_new!r}): {w_old} {sep} {w_new}")
        return out

    def sidecar(self, recipe: Recipe) -> dict[str, Any]:
        """What ``OUT.config.yaml`` holds: the resolved recipe and the fingerprint of the model's weights."""
        from sightsound.runinfo import model_fingerprint

        cfg = to_dict(recipe)
        return cfg | {"weights": {self.role: model_fingerprint(cfg["models"][self.role]["name_or_path"])}}


def check_resume(out: str | Path, recipe: Recipe, settings: OutputSettings) -> None:
    """Refuse to append to ``out`` when it was made with other settings (see the module docstring)."""
    out = Path(out)
    cfg_file = config_path(out)
    if not (out.exists() and out.stat().st_size and cfg_file.exists()):
        return
    diffs = settings.diffs(load_yaml(cfg_file), settings.sidecar(recipe))
    if diffs:
        raise ConfigError(f"{out} was started with other {settings.role} settings ({'; '.join(diffs)}); "
                          "resume with the same settings or write to a new --out")


# ------------------------------------------------------------------------------------------- errors
def drop_error_rows(path: str | Path, is_error: Callable[[dict], bool]) -> int:
    """Remove error lines from a stage's JSONL so a rerun retries those units; returns how many."""
    path = Path(path)
    if not path.exists():
        return 0
    repair_torn_tail(path)
    rows = list(read_jsonl(path))
    keep = [r for r in rows if not is_error(r)]
    if len(keep) != len(rows):
        write_jsonl_atomic(path, keep)
    return len(rows) - len(keep)


def start_output(out: str | Path, recipe: Recipe, settings: OutputSettings, is_error: Callable[[dict], bool],
                 retry_errors: bool) -> None:
    """Before a run appends to ``out``: the resume check, the retry of error lines, the config sidecar."""
    out = Path(out)
    check_resume(out, recipe, settings)
    if retry_errors and (dropped := drop_error_rows(out, is_error)):
        log.info("%s: dropped %d error lines to retry them", out, dropped)
    write_resolved_config(settings.sidecar(recipe), out.parent, name=config_path(out).name)


# --------------------------------------------------------------------------------------------- loop
def write_batches(writer: JsonlWriter, batches: Iterable[Any], make_rows: Callable[[Any], list[dict]], *,
                  total: int, desc: str, unit: str, progress: bool = True,
                  keep: Callable[[dict], bool] = lambda row: True,
                  postfix: Callable[[list[dict]], dict[str, Any]] | None = None) -> int:
    """Make each batch's rows and append them to ``writer``; returns how many rows were made.

    One write and one fsync per batch; no row is held after its batch (a teach run may hold
    millions). Rows that ``keep`` refuses (eval's failed items) are made but not written, so a rerun
    tries them again. ``postfix(rows)`` of a batch gives the progress bar's counters.
    """
    from tqdm import tqdm

    made = 0
    with tqdm(total=total, desc=desc, unit=unit, disable=not progress, dynamic_ncols=True) as bar:
        for batch in batches:
            rows = make_rows(batch)
            writer.write_many([r for r in rows if keep(r)])
            made += len(rows)
            bar.update(len(rows))
            if postfix is not None:
                bar.set_postfix(**postfix(rows))
    return made
