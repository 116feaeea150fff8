"""Deterministic data sharding for multi-node runs, and ``sightsound merge`` to join shard outputs.

``--shard i/N`` (0-based ``i``) selects the records whose id hashes to ``i`` modulo ``N``. The
hash is of the id, not the position, so a shard's content does not change when records are
added, removed or reordered elsewhere in the file, and every node computes the same split
without coordination.

``sightsound merge --inputs A B ... --out OUT [--data DATA.jsonl]`` joins the shard outputs of
``teach`` (unique field ``id``) or ``verify`` (``--key key``). It refuses a key that appears twice,
shards made with different stage settings (each shard's ``OUT.config.yaml`` names them: a merged
file must be one run's output) and, given the data the shards were made from, any id that no
shard wrote (a gap means a shard died or was never run). The merged file is written atomically,
so a half-merged OUT never exists.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sightsound.config import ConfigError
from sightsound.jsonl import ArtefactError, read_jsonl, write_jsonl_atomic

log = logging.getLogger(__name__)
T = TypeVar("T")


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """``"i/N"`` -> ``(i, N)`` with ``0 <= i < N``; None/empty -> None (no sharding)."""
    if spec is None or spec == "":
        return None
    try:
        i_str, n_str = spec.split("/")
        i, n = int(i_str), int(n_str)
    except ValueError:
        raise ConfigError(f"--shard must look like i/N (e.g. 0/4), got {spec!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {spec!r}: need N >= 1 and 0 <= i < N (shards are numbered from 0)")
    return i, n


def stable_hash(key: str) -> int:
    """A process-independent 64-bit hash (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def shard_index(key: str, num_shards: int) -> int:
    return stable_hash(key) % num_shards


def select_shard(items: Iterable[T], shard: tuple[int, int] | str | None, key=lambda x: x.id) -> list[T]:
    """The items of shard ``(i, N)``, in their original order; all items when ``shard`` is None."""
    if isinstance(shard, str):
        shard = parse_shard(shard)
    items = list(items)
    if shard is None:
        return items
    i, n = shard
    return [x for x in items if shard_index(str(key(x)), n) == i]


# (key, stage section of the recipe, role whose model makes the rows): what defines a shard's output.
_STAGE_OF_KEY = {"id": ("teach", "teacher"), "key": ("verify", "verifier")}
# Settings that may differ between shards of one run: they change no row (mirrors the stages' resume check).
_FREE_SETTINGS = {"batch_size"}


def _output_settings(path: Path, key: str) -> dict[str, Any] | None:
    """The settings a shard's rows depend on, from its ``.config.yaml``; None when it has none."""
    from sightsound.config import load_yaml

    cfg_file = path.with_name(path.stem + ".config.yaml")
    if key not in _STAGE_OF_KEY or not cfg_file.is_file():
        return None
    stage, role = _STAGE_OF_KEY[key]
    cfg = load_yaml(cfg_file) or {}
    settings = {f"{stage}.{k}": v for k, v in (cfg.get(stage) or {}).items() if k not in _FREE_SETTINGS}
    settings[f"models.{role}.name_or_path"] = ((cfg.get("models") or {}).get(role) or {}).get("name_or_path")
    return settings


def check_same_recipe(inputs: Sequence[Path], key: str) -> None:
    """Refuse shards whose stage settings differ (different recipes: their rows are not one run)."""
    first: tuple[Path, dict[str, Any]] | None = None
    for path in inputs:
        settings = _output_settings(path, key)
        if settings is None:
            continue
        if first is None:
            first = (path, settings)
            continue
        ref_path, ref = first
        diffs = [f"{k}: {ref.get(k)!r} vs {settings.get(k)!r}" for k in sorted(set(ref) | set(settings))
                 if ref.get(k) != settings.get(k)]
        if diffs:
            shown = "; ".join(diffs[:3]) + (" ..." if len(diffs) > 3 else "")
            raise ArtefactError(f"merge: {path} and {ref_path} were made with different recipes ({shown}); "
                                "merge shards of one run only")


def merge_outputs(inputs: Sequence[str | Path], out: str | Path, key: str = "id",
                  data: str | Path | None = None, data_filter: str | None = None) -> dict[str, Any]:
    """Join JSONL shard outputs into ``out``; raise :class:`ArtefactError` on duplicates or gaps.

    ``key`` is the field that must be unique across all inputs (``id`` for teach traces, ``key``
    for verify verdicts). With ``data``, every ``id`` of that JSONL (only rows whose field
    ``data_filter`` is truthy, when given: e.g. the kept traces a verify run should cover) must
    appear as some row's ``id``; rows are then written in the data's order.
    """
    out = Path(out)
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise ArtefactError("merge: no --inputs given")
    if len({p.resolve() for p in inputs}) != len(inputs):
        raise ArtefactError("merge: the same input file is listed twice")
    if out.resolve() in {p.resolve() for p in inputs}:
        raise ArtefactError(f"merge: --out {out} is also an input; write the merge to a new file")
    for path in inputs:
        if not path.is_file():
            raise FileNotFoundError(f"merge: input {path} does not exist")
    check_same_recipe(inputs, key)
    rows: list[dict] = []
    seen: dict[Any, Path] = {}
    for path in inputs:
        # Strict read: a torn last line means that shard was interrupted; rerun it before merging.
        for lineno, row in read_jsonl(path, with_lineno=True):
            if not isinstance(row, dict) or key not in row:
                raise ArtefactError(f"{path}:{lineno}: row has no {key!r} field (is --key right?)")
            k = row[key]
            if k in seen:
                where = "twice in the same file" if seen[k] == path else f"also in {seen[k]}"
                raise ArtefactError(f"{path}:{lineno}: duplicate {key} {k!r} ({where})")
            seen[k] = path
            rows.append(row)
    stats: dict[str, Any] = {"inputs": len(inputs), "rows": len(rows)}
    if data is not None:
        expected = [r["id"] for r in read_jsonl(data) if data_filter is None or r.get(data_filter)]
        have = {row.get("id") for row in rows}
        missing = [i for i in expected if i not in have]
        if missing:
            shown = ", ".join(map(repr, missing[:5])) + (" ..." if len(missing) > 5 else "")
            raise ArtefactError(f"merge: {len(missing)} of {len(expected)} ids of {data} are in no input "
                                f"(a shard is missing or unfinished): {shown}")
        extra = have - set(expected)
        if extra:
            raise ArtefactError(f"merge: {len(extra)} ids are not in {data} (wrong data file?): "
                                f"{', '.join(map(repr, sorted(map(str, extra))[:5]))}")
        order = {rid: n for n, rid in enumerate(expected)}
        rows.sort(key=lambda r: order[r["id"]])  # stable: a record's several rows keep their order
        stats["expected_ids"] = len(expected)
    write_jsonl_atomic(out, rows)
    return stats


def _is_teacher_traces(path: Path) -> bool:
    first = next(iter(read_jsonl(path)), None)
    return isinstance(first, dict) and "samples" in first and "agreement" in first


# ------------------------------------------------------------------------------------------------ CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--inputs", nargs="+", required=True, metavar="FILE", help="shard outputs to join")
    parser.add_argument("--out", required=True, help="merged JSONL (written atomically)")
    parser.add_argument("--key", default="id", choices=["id", "key"],
                        help="field that must be unique: 'id' for teach traces, 'key' for verify verdicts")
    parser.add_argument("--data", help="the JSONL the shards were made from; every id in it must be covered")
    parser.add_argument("--data-filter", metavar="FIELD",
                        help="only ids of --data rows whose FIELD is true are expected (e.g. 'kept' for verify)")


def run(args: argparse.Namespace) -> int:
    stats = merge_outputs(args.inputs, args.out, key=args.key, data=args.data, data_filter=args.data_filter)
    out = Path(args.out)
    if stats["rows"] and _is_teacher_traces(out):
        # A merged teach output gets the same stats file a single run writes, from the traces alone.
        from sightsound.teacher import write_stats

        write_stats(out)
    elif stats["rows"] and args.key == "key":
        # A merged verify output gets its stats file too (truth scores from the traces' scene graphs
        # when --data names the traces, as it does for verify shards).
        from sightsound.synth.hallucination import write_truth_scores
        from sightsound.verify import write_stats as write_verify_stats

        write_verify_stats(out)
        write_truth_scores(out, traces_path=args.data)
    print(f"merged {stats['rows']} rows from {stats['inputs']} files into {out}")
    return 0
