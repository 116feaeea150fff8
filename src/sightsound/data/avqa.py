"""AVQA (Yang et al., MM 2022): ``train_qa.json`` / ``val_qa.json``, four options, 0-based answer.

Record: ``id, video_name, video_id, question_text, multi_choice, answer, question_relation,
question_type``. ``video_name`` is the VGGSound clip name, ``<YouTube id>_<start second, 6 digits>``;
YouTube ids may themselves contain ``_``, so the name is split on the *last* one. The clip's files
are looked up under the media root by ``video_name`` (see :mod:`sightsound.data.clips`).
"""

from __future__ import annotations

from pathlib import Path

from sightsound.data.base import Collector, MalformedRecord, require_choices, require_str
from sightsound.data.clips import find_clip
from sightsound.schema import Sample

NAME = "avqa"


def split_video_name(video_name: str) -> tuple[str, int]:
    """``"0-00uubiDNU_000210"`` -> ``("0-00uubiDNU", 210)``; split on the last ``_``."""
    youtube_id, sep, start = video_name.rpartition("_")
    if not sep or not youtube_id or not start.isdigit():
        raise MalformedRecord(f"video_name {video_name!r} is not '<YouTube id>_<start second>'")
    return youtube_id, int(start)


def convert(raw: dict, media_root: str | Path | None) -> Sample:
    if "id" not in raw:
        raise MalformedRecord("missing field 'id'")
    video_name = require_str(raw, "video_name")
    youtube_id, start_s = split_video_name(video_name)
    choices = require_choices(raw, "multi_choice")
    answer = raw.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise MalformedRecord(f"answer must be a 0-based int index, got {answer!r}")
    if not 0 <= answer < len(choices):
        raise MalformedRecord(f"answer {answer} is outside its {len(choices)} options")
    audio, video = find_clip(media_root, video_name)
    return Sample(
        id=str(raw["id"]),
        question=require_str(raw, "question_text"),
        choices=choices,
        answer=answer,
        audio=audio,
        video=video,
        question_type=str(raw.get("question_type", "")),
        source=NAME,
        meta={**raw, "youtube_id": youtube_id, "start_s": start_s},
    )


def load(path: Path, media_root: str | Path | None, collector: Collector, items: list) -> None:
    for i, raw in enumerate(items):
        collector.add(f"index {i}", raw, lambda r: convert(r, media_root))
