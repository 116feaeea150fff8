"""Finding a benchmark clip's audio and video files under a media root.

Benchmarks ship annotations and media separately, and people unpack the media in different ways.
A clip named ``stem`` is looked for in the root itself and in the usual sub-folders
(``audio/``, ``audios/``, ``wav/``, ``video/``, ``videos/``, ...), with the usual extensions. Audio
prefers a separate audio file (already decoded, often pre-resampled) and falls back to the video's
own audio track, which :func:`sightsound.media.load_audio` reads through PyAV.

The folder listing of each candidate directory is read once and cached, so resolving 17k AVQA
clips costs a few directory scans, not 17k × layouts ``stat`` calls.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

AUDIO_EXTS = (".wav", ".flac", ".mp3", ".ogg", ".m4a")
VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov")
AUDIO_DIRS = ("", "audio", "audios", "wav", "wavs", "audio_wav", "raw_audio")
VIDEO_DIRS = ("", "video", "videos", "mp4", "clips", "raw_videos")


@lru_cache(maxsize=256)
def _listing(directory: str) -> frozenset[str]:
    p = Path(directory)
    try:
        return frozenset(x.name for x in p.iterdir() if x.is_file())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return frozenset()


def _find(root: Path, stem: str, dirs: tuple[str, ...], exts: tuple[str, ...]) -> str | None:
    for sub in dirs:
        d = root / sub if sub else root
        names = _listing(str(d))
        if not names:
            continue
        for ext in exts:
            if stem + ext in names:
                return str(d / (stem + ext))
    return None


def find_clip(media_root: str | Path | None, stem: str) -> tuple[str | None, str | None]:
    """``(audio_path, video_path)`` for a clip ``stem`` under ``media_root`` (``None`` where absent).

    When only a video is found, the audio path is the video itself (its audio track is the audio).
    """
    if media_root is None:
        return None, None
    root = Path(media_root)
    video = _find(root, stem, VIDEO_DIRS, VIDEO_EXTS)
    audio = _find(root, stem, AUDIO_DIRS, AUDIO_EXTS) or video
    return audio, video


def resolve_relative(path: str, media_root: str | Path | None, annotations: Path) -> str:
    """A path written in an annotation file (``./test-mini-audios/x.wav``), made absolute.

    Relative paths are taken against ``media_root`` when given (the folder the benchmark's media was
    unpacked into), else against the annotation file's folder, the layout of the official releases.
    A ``media_root`` that is the audio folder itself also works: when ``root/<path>`` does not exist
    but ``root/<file name>`` does, the latter is taken.
    """
    p = Path(path)
    if p.is_absolute():
        return str(p)
    base = Path(media_root) if media_root is not None else annotations.resolve().parent
    full = base / p
    if media_root is not None and not full.exists() and p.name in _listing(str(base)):
        full = base / p.name
    return os.path.normpath(full)


def clear_cache() -> None:
    """Forget cached folder listings (tests that create media after a lookup call this)."""
    _listing.cache_clear()
