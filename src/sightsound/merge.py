"""Join the shard outputs of ``teach`` or ``verify`` into one file, as one unsharded run would have written it.

:func:`merge_outputs` joins the shards' JSONL files (unique field ``id`` for teach traces, ``key``
for verify verdicts). It refuses a key that appears twice, shards made with different stage
settings (each shard's ``OUT.config.yaml`` names them, compared by the rule of
:mod:`sightsound.stage_io`: a merged file must be one run's output) and, given the data the shards
were made from, any id that no shard wrote (a gap means a shard died or was never run). The
merged file is written atomically, so a half-merged output never exists. :func:`write_merged_stats`
then gives it the stats file a single run writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sightsound.config import load_yaml
from sightsound.jsonl import ArtefactError, read_jsonl, write_jsonl_atomic
from sightsound.stage_io import OutputSettings, config_path


def _stage_settings(key: str) -> OutputSettings | None:
    """What defines a shard's rows, by the merge key: teach traces (``id``) or verify verdicts (``key``)."""
    if key == "id":
        from sightsound.teacher import OUTPUT_SETTINGS
    elif key == "key":
        from sightsound.verify import OUTPUT_SETTINGS
    else:
        return None
    return OUTPUT_SETTINGS


def check_same_recipe(inputs: Sequence[Path], key: str) -> None:
    """Refuse shards whose stage settings differ (different recipes: their rows are not one run)."""
    settings = _stage_settings(key)
    if settings is None:
        return
    first: tuple[Path, dict[str, Any]] | None = None
    for path in inputs:
        if not config_path(path).is_file():
            continue
        cfg = load_yaml(config_path(path)) or {}
        if first is None:
            first = (path, cfg)
            continue
        ref_path, ref = first
        diffs = settings.diffs(ref, cfg, sep="vs")
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


def write_merged_stats(out: str | Path, key: str) -> dict[str, Any] | None:
    """The stats file a single run writes, for a merged output; None when it is neither teach's nor verify's."""
    out = Path(out)
    if _is_teacher_traces(out):
        # From the traces alone, as teach computes them.
        from sightsound.teacher import write_stats

        return write_stats(out)
    if key == "key":
        from sightsound.verify import write_stats

        return write_stats(out)
    return None
