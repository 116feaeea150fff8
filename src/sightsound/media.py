"""Media I/O: audio as float32 16 kHz mono, video as a few RGB frames, one error type for bad files.

* :func:`load_audio` reads wav/flac/ogg with soundfile and the audio track of mp4/mkv/webm/mov with
  PyAV, mixes to mono and resamples with soxr (torchaudio does not work on this stack).
* :func:`load_frames` samples frames at ``fps`` from a video with PyAV, or reads a folder/list of
  image files. It never converts a frame it does not keep, decodes only the GOPs that hold a target
  time (seeking to their keyframes), and, when the source frame rate is well above ``fps``, lets the
  h264 decoder skip non-reference frames. Kept frames are scaled during the colour conversion (one
  swscale pass) instead of converting at full resolution and resizing in PIL.
* :func:`probe_media` / :func:`validate_media` check files before a long stage starts.

Every failure on a bad file (missing, empty, truncated, undecodable) is a :class:`MediaError`
naming the file and the reason, so a stage can report it in one line or skip the record.
"""

from __future__ import annotations

import bisect
import io
import logging
import math
import os
import struct
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from sightsound.errors import MediaError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# Suffixes read by soundfile (libsndfile); everything else goes through PyAV/FFmpeg.
SOUNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff", ".mp3"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
# Qwen2.5-VL's vision patch (14) x spatial merge (2): sides that are multiples of this are used as-is.
QWEN_FACTOR = 28
# A decoded stream shorter than its declared duration by more than this is called truncated.
_TRUNCATION_TOLERANCE_S = 0.25


# ----------------------------------------------------------------------------------------- helpers
def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "file not found")
    if not path.is_file():
        raise MediaError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty file (0 bytes)")
    try:  # an unreadable file (chmod 000) is that record's error, not a PermissionError that stops the stage
        os.close(os.open(path, os.O_RDONLY))
    except OSError as e:
        raise MediaError(path, f"cannot read ({e.strerror})") from None
    return path


def _open_container(path: Path):
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as e:  # InvalidDataError, "moov atom not found" (truncated mp4), ...
        raise MediaError(path, f"cannot open as media ({_ffmpeg_reason(e)})") from None


def _ffmpeg_reason(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def smart_resize(height: int, width: int, factor: int = QWEN_FACTOR, min_pixels: int = QWEN_FACTOR * QWEN_FACTOR,
                 max_pixels: int | None = None) -> tuple[int, int]:
    """Sides that are multiples of ``factor``, keep the aspect ratio, and hold ``min..max_pixels`` pixels.

    The same rule as Qwen2.5-VL's image processor, so frames sized here pass through it unchanged.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"bad image size {width}x{height}")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if max_pixels is not None and h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
        # Very thin images: the factor floor on the short side can still overshoot; trim the long one.
        while h * w > max_pixels and max(h, w) > factor:
            if h >= w:
                h -= factor
            else:
                w -= factor
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def target_size(width: int, height: int, max_pixels: int | None, factor: int | None = QWEN_FACTOR) -> tuple[int, int]:
    """(width, height) a frame is delivered at: unchanged without ``max_pixels``; else fitted under it.

    With ``factor`` the sides are multiples of it (Qwen's rule); with ``factor=None`` the aspect is
    kept exactly and the frame is only shrunk, never enlarged.
    """
    if max_pixels is None:
        return width, height
    if factor:
        h, w = smart_resize(height, width, factor=factor, max_pixels=max_pixels)
        return w, h
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, int(width * scale)), max(1, int(height * scale))


def sample_times(duration_s: float, fps: float, max_frames: int | None = None) -> list[float]:
    """Times (s from the stream start) to sample: every ``1/fps`` s, thinned evenly to ``max_frames``."""
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    n = max(1, math.floor(duration_s * fps + 1e-6))
    times = [k / fps for k in range(n)]
    if max_frames is not None and max_frames > 0 and n > max_frames:
        idx = np.linspace(0, n - 1, max_frames).round().astype(int)
        times = [times[i] for i in idx]
    return times


# ------------------------------------------------------------------------------------------- audio
def load_audio(path: str | Path, sr: int = SAMPLE_RATE, max_s: float | None = None) -> np.ndarray:
    """Read a file's audio as float32 mono at ``sr`` Hz (channels averaged, soxr resampling).

    ``max_s`` keeps only the first seconds (wav/flac are then read only that far, not decoded whole).
    """
    path = _check_file(path)
    if path.suffix.lower() in SOUNDFILE_SUFFIXES:
        audio, file_sr = _read_soundfile(path, max_s)
    else:
        audio, file_sr = _read_av_audio(path)
    if audio.size == 0:
        raise MediaError(path, "no audio samples")
    if not np.all(np.isfinite(audio)):
        raise MediaError(path, "audio contains NaN or infinite samples")
    if max_s is not None:
        audio = audio[: round(max_s * file_sr)]
    if file_sr != sr:
        import soxr

        audio = soxr.resample(audio, file_sr, sr, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(audio, dtype=np.float32)


def load_audio_limited(path: str | Path, max_s: float, policy: str = "truncate",
                       sr: int = SAMPLE_RATE) -> tuple[np.ndarray, float | None]:
    """Audio no longer than ``max_s``: ``(audio, the clip's full length in seconds when it was cut, else None)``.

    The model hears only its window (Qwen2-Audio: 30 s), so a longer clip is cut there with a
    WARNING (the caller counts it in its stats), or, with ``policy="refuse"``, is a
    :class:`MediaError` (that record's error entry). A 10-minute wav is not decoded whole.
    """
    checked = _check_file(path)
    full = None
    if checked.suffix.lower() in SOUNDFILE_SUFFIXES:
        import soundfile as sf

        try:
            full = float(sf.info(str(checked)).duration)
        except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
            full = None  # load_audio names the problem
    if full is None or full > max_s:
        if policy == "refuse" and full is not None:
            raise MediaError(path, f"{full:.1f} s of audio, over limits.max_audio_s={max_s:g} (audio_policy: refuse)")
        audio = load_audio(path, sr, max_s=max_s if full is not None else None)
        if full is None:  # a container without a cheap duration: decoded, then measured
            full = len(audio) / sr
            if full > max_s and policy == "refuse":
                raise MediaError(path, f"{full:.1f} s of audio, over limits.max_audio_s={max_s:g} "
                                       "(audio_policy: refuse)")
            audio = audio[: round(max_s * sr)]
        if full > max_s:
            log.warning("%s: %.1f s of audio cut to limits.max_audio_s=%g s (the model's window)", path, full, max_s)
            return audio, full
        return audio, None
    return load_audio(path, sr), None


def _read_soundfile(path: Path, max_s: float | None = None) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if path.suffix.lower() == ".wav":
        reason = _wav_truncation(path)
        if reason:
            raise MediaError(path, reason)
    try:
        frames = -1
        if max_s is not None:
            frames = round(max_s * sf.info(str(path)).samplerate)
        data, file_sr = sf.read(str(path), frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise MediaError(path, f"cannot decode audio ({e})") from None
    return data.mean(axis=1, dtype=np.float32), int(file_sr)


def _wav_truncation(path: Path) -> str | None:
    """Reason a RIFF/WAVE file is broken or cut short, or None.

    libsndfile silently shortens a wav whose data chunk runs past the end of the file; a stage
    training on it would never know. Streams that leave the size unknown (0 or 0xFFFFFFFF) pass.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12:
            return f"truncated wav header ({size} bytes)"
        if head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
            return "not a RIFF/WAVE file"
        if head[:4] == b"RF64":
            return None  # 64-bit sizes live in a ds64 chunk; let libsndfile judge
        endian = "<" if head[:4] == b"RIFF" else ">"
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            cid, csize = struct.unpack(endian + "4sI", f.read(8))
            if cid == b"data":
                if csize in (0, 0xFFFFFFFF):
                    return None
                have = size - pos - 8
                if have < csize:
                    return f"truncated wav: data chunk declares {csize} bytes, file holds {have}"
                return None
            pos += 8 + csize + (csize & 1)
    return "wav has no data chunk"


def _read_av_audio(path: Path) -> tuple[np.ndarray, int]:
    import av

    container = _open_container(path)
    with container:
        if not container.streams.audio:
            raise MediaError(path, "no audio stream")
        stream = container.streams.audio[0]
        # Planar float at the native rate; the channel mix and resampling happen in numpy/soxr.
        resampler = av.AudioResampler(format="fltp")
        chunks: list[np.ndarray] = []
        file_sr = None
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    file_sr = out.sample_rate
                    chunks.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
        except av.FFmpegError as e:
            raise MediaError(path, f"audio decode failed, truncated or corrupt ({_ffmpeg_reason(e)})") from None
        if not chunks or file_sr is None:
            raise MediaError(path, "audio stream decodes to no samples")
        audio = np.concatenate(chunks)
        declared = _declared_duration(stream, container)
        got = audio.size / file_sr
        if declared is not None and got + _TRUNCATION_TOLERANCE_S < declared:
            raise MediaError(path, f"truncated audio: decoded {got:.2f} s of the declared {declared:.2f} s")
    return audio, int(file_sr)


def _declared_duration(stream, container) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


def save_wav(path: str | Path, audio: np.ndarray, sr: int = SAMPLE_RATE) -> Path:
    """Write mono (or [samples, channels]) audio as 16-bit PCM wav; values are clipped to [-1, 1]."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0)
    sf.write(str(path), audio, int(sr), subtype="PCM_16", format="WAV")
    return path


# ------------------------------------------------------------------------------------------ frames
def load_frames(path: str | Path | Sequence[str | Path], fps: float = 2.0, max_frames: int | None = None,
                max_pixels: int | None = None, factor: int | None = QWEN_FACTOR,
                exact: bool = False) -> list[Image.Image]:
    """Frames of a video sampled at ``fps`` (at most ``max_frames``, evenly thinned) as RGB PIL images.

    ``path`` is a video file, a folder of image frames (sorted by name) or a list of image paths;
    image frames are taken as already sampled and only thinned to ``max_frames``. With
    ``max_pixels`` each frame is resized, aspect kept, to fit (sides multiples of ``factor``).
    The frame for time t is the one on screen at t. ``exact=False`` allows, for sources of at least
    3x ``fps``, the nearest preceding *reference* frame (a few source frames earlier at most), which
    lets the decoder skip non-reference frames.
    """
    if isinstance(path, (list, tuple)):
        return _load_image_frames([Path(p) for p in path], max_frames, max_pixels, factor, where=None)
    p = Path(path)
    if p.is_dir():
        files = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise MediaError(p, "folder holds no image frames")
        return _load_image_frames(files, max_frames, max_pixels, factor, where=p)
    p = _check_file(p)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        return _load_image_frames([p], max_frames, max_pixels, factor, where=None)
    return _decode_video_frames(p, fps, max_frames, max_pixels, factor, exact)


def _load_image_frames(files: list[Path], max_frames, max_pixels, factor, where) -> list[Image.Image]:
    if not files:
        raise MediaError(where or "<frames>", "empty list of frames")
    if max_frames is not None and max_frames > 0 and len(files) > max_frames:
        idx = np.linspace(0, len(files) - 1, max_frames).round().astype(int)
        files = [files[i] for i in idx]
    out = []
    for f in files:
        f = _check_file(f)
        try:
            with Image.open(f) as im:
                im.load()
                img = im.convert("RGB")
        except (OSError, SyntaxError, ValueError) as e:  # PIL raises these on truncated/unknown images
            raise MediaError(f, f"cannot decode image ({e})") from None
        size = target_size(img.width, img.height, max_pixels, factor)
        if size != img.size:
            img = img.resize(size, Image.Resampling.BICUBIC)
        out.append(img)
    return out


def _scan_video(path: Path, container, stream) -> tuple[list[int], float, float, int]:
    """Demux (no decoding) the video stream: keyframe pts, start and end time (s), packet count."""
    import av

    tb = stream.time_base
    keyframes: list[int] = []
    first = last_end = None
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.pts is None or packet.size == 0:
                continue  # the flush packet at the end
            count += 1
            if packet.is_keyframe:
                keyframes.append(packet.pts)
            end = packet.pts + (packet.duration or 0)
            last_end = end if last_end is None else max(last_end, end)
            first = packet.pts if first is None else min(first, packet.pts)
    except av.FFmpegError as e:
        raise MediaError(path, f"video demux failed, truncated or corrupt ({_ffmpeg_reason(e)})") from None
    if count == 0:
        raise MediaError(path, "video stream holds no packets")
    declared = stream.frames
    if declared and count < 0.9 * declared - 1:
        raise MediaError(path, f"truncated video: {count} of the declared {declared} frames present")
    keyframes.sort()
    # Edit lists give negative pts to frames before the clip's start; the clip starts at >= 0.
    start = max(float(first * tb), 0.0) if stream.start_time is None else max(float(stream.start_time * tb), 0.0)
    return keyframes, start, float(last_end * tb), count


def _decode_video_frames(path: Path, fps, max_frames, max_pixels, factor, exact) -> list[Image.Image]:

    container = _open_container(path)
    with container:
        if not container.streams.video:
            raise MediaError(path, "no video stream")
        stream = container.streams.video[0]
        keyframes, start, end, _ = _scan_video(path, container, stream)
        tb = stream.time_base
        targets = [start + t for t in sample_times(max(end - start, 1e-3), fps, max_frames)]
        rate = stream.average_rate or stream.guessed_rate
        if not exact and rate is not None and float(rate) >= 3 * fps:
            # Skipping non-reference (B) frames halves h264 decode time; the kept frame is then at
            # most a few source frames before the target, far below the 1/fps sampling interval.
            stream.codec_context.skip_frame = "NONREF"
        stream.thread_type = "AUTO"
        chosen = _pick_frames(path, container, stream, keyframes, targets, tb)
        if not chosen:
            raise MediaError(path, "video decodes to no frames")
        width, height = chosen[0].width, chosen[0].height
        size = target_size(width, height, max_pixels, factor)
        images = []
        for frame in chosen:
            # Colour conversion and scaling in one swscale pass, at the output size only.
            images.append(frame.to_image(width=size[0], height=size[1], interpolation="AREA")
                          if size != (frame.width, frame.height) else frame.to_image())
    return images


def _pick_frames(path: Path, container, stream, keyframes: list[int], targets: list[float], tb: Fraction) -> list:
    """Decoded (not yet converted) frames on screen at each target time, decoding only the GOPs needed."""
    import av

    key_times = [float(k * tb) for k in keyframes]

    def gop(t: float) -> int:  # index of the last keyframe at or before t (0 if none)
        return max(bisect.bisect_right(key_times, t + 1e-9) - 1, 0)

    out: list = []
    decoder = None
    held = None  # the last decoded frame at or before the next target
    pos = None  # time of the last decoded frame
    sought = -1  # keyframe index of the last seek (never seek to the same one twice in a row)
    i = 0
    try:
        while i < len(targets):
            k = gop(targets[i])
            if decoder is None or (k != sought and pos is not None and key_times[k] > pos):
                # A keyframe lies between the decoder and the target: jump to it instead of decoding
                # the gap (frames before a keyframe never affect frames after it).
                container.seek(keyframes[k], stream=stream, backward=True, any_frame=False)
                decoder = container.decode(stream)
                held, pos, sought = None, None, k
            for frame in decoder:
                ft = frame.time
                if ft is None:
                    continue
                pos = ft
                # ``frame`` comes after every target before ft: those show the previous frame.
                while i < len(targets) and targets[i] < ft - 1e-6:
                    out.append(held if held is not None else frame)
                    i += 1
                held = frame
                if i >= len(targets):
                    break
                nk = gop(targets[i])
                if nk != sought and key_times[nk] > ft:
                    break  # the next target lies past a later keyframe: seek there
            else:  # end of stream: the last frame stays on screen
                if held is not None:
                    out.extend([held] * (len(targets) - i))
                i = len(targets)
    except av.FFmpegError as e:
        raise MediaError(path, f"video decode failed, truncated or corrupt ({_ffmpeg_reason(e)})") from None
    return out


# ---------------------------------------------------------------------------------------- validate
def probe_media(path: str | Path) -> dict:
    """Cheap facts about a media file (no full decode); raises MediaError when it cannot be read.

    Returns ``{"path", "kind": "audio"|"video"|"image", "duration_s", "sample_rate", "channels",
    "width", "height", "fps"}`` with None where a field does not apply.
    """
    path = _check_file(path)
    info = {"path": str(path), "kind": None, "duration_s": None, "sample_rate": None, "channels": None,
            "width": None, "height": None, "fps": None}
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        try:
            with Image.open(path) as im:
                info.update(kind="image", width=im.width, height=im.height)
        except (OSError, SyntaxError, ValueError) as e:
            raise MediaError(path, f"cannot read image ({e})") from None
        return info
    if suffix in SOUNDFILE_SUFFIXES:
        import soundfile as sf

        if suffix == ".wav" and (reason := _wav_truncation(path)):
            raise MediaError(path, reason)
        try:
            si = sf.info(str(path))
        except (sf.LibsndfileError, RuntimeError) as e:
            raise MediaError(path, f"cannot read audio header ({e})") from None
        if si.frames == 0:
            raise MediaError(path, "no audio samples")
        info.update(kind="audio", duration_s=si.frames / si.samplerate, sample_rate=si.samplerate,
                    channels=si.channels)
        return info
    container = _open_container(path)
    with container:
        if container.streams.video:
            v = container.streams.video[0]
            rate = v.average_rate or v.guessed_rate
            info.update(kind="video", width=v.codec_context.width, height=v.codec_context.height,
                        fps=float(rate) if rate else None, duration_s=_declared_duration(v, container))
        if container.streams.audio:
            a = container.streams.audio[0]
            info.update(sample_rate=a.codec_context.sample_rate, channels=a.codec_context.channels)
            if info["kind"] is None:
                info.update(kind="audio", duration_s=_declared_duration(a, container))
        if info["kind"] is None:
            raise MediaError(path, "no audio or video stream")
    return info


def validate_media(paths: Iterable[str | Path], decode: bool = True, audio: bool = True,
                   progress: bool = False) -> list[tuple[str, str]]:
    """Check many files; returns ``[(path, reason), ...]`` for the bad ones (empty list: all fine).

    With ``decode`` the audio is decoded in full (``audio=True``: what training will read), which
    also catches files truncated mid-stream; videos get a short frame decode besides.
    """
    paths = list(paths)
    if progress:
        from tqdm import tqdm

        paths = tqdm(paths, desc="validate media", unit="file")
    bad = []
    for p in paths:
        try:
            info = probe_media(p)
            if decode:
                if audio and (info["kind"] == "audio" or info["sample_rate"] is not None):
                    load_audio(p)
                elif audio and info["kind"] == "video":
                    raise MediaError(p, "no audio stream")
                if info["kind"] == "video":
                    load_frames(p, fps=1.0, max_frames=2, max_pixels=QWEN_FACTOR * QWEN_FACTOR * 16)
        except MediaError as e:
            bad.append((e.path, e.reason))
    return bad


# ------------------------------------------------------------------------------ silent video bytes
# x264 quality of the teacher's video: visually lossless at the teacher's frame sizes, and an order of
# magnitude smaller than the same frames as PNGs (the whole request travels as one JSON body).
SILENT_MP4_CRF = 18


def encode_silent_mp4(frames: Sequence[Image.Image], fps: float, crf: int = SILENT_MP4_CRF) -> bytes:
    """``frames`` (already sampled, in time order) as an h264 mp4 at ``fps``: one video stream, **no audio**.

    This is how the teacher's silent video travels to an OpenAI-compatible server (``video_url``):
    the container carries the sampling rate, so the server's video loader sees the frames at the times
    they were taken. No audio stream is ever added (the teacher must not hear); the frames are all
    there is to encode. Odd sides are padded by one replicated edge pixel (yuv420p needs even sides).
    Bit-exact flags and one encoder thread make the same frames give the same request body (the
    one exception seen: a CI run where 3 of 24 synthetic mp4s' bytes differed, ``synth/video.py``).
    """
    import av
    from av.codec.context import Flags

    if not frames:
        raise ValueError("no frames to encode")
    if not fps or fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    width, height = frames[0].size
    if any(f.size != (width, height) for f in frames):
        raise ValueError("all frames of one video must have the same size")
    even = (width + width % 2, height + height % 2)
    rate = Fraction(fps).limit_denominator(1001)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4", options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = even
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": str(int(crf)), "threads": "1"}
        stream.codec_context.flags |= Flags.bitexact
        for img in frames:
            img = img.convert("RGB")
            if img.size != even:
                pad = ((0, even[1] - height), (0, even[0] - width), (0, 0))
                img = Image.fromarray(np.pad(np.asarray(img), pad, mode="edge"))
            for pkt in stream.encode(av.VideoFrame.from_image(img)):
                out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    return buf.getvalue()


def decode_video_bytes(data: bytes, max_frames: int | None = None) -> tuple[list[Image.Image], float | None]:
    """Every frame of an in-memory video (mp4, webm, ...) as RGB images, and its frame rate (None if unknown).

    Only the video stream is decoded; an audio stream, if any, is never read. Raises ``ValueError``
    for bytes that are not a decodable video, or that hold more than ``max_frames`` frames.
    """
    import av

    try:
        container = av.open(io.BytesIO(data), metadata_errors="ignore")
    except av.FFmpegError as e:
        raise ValueError(f"not a decodable video ({_ffmpeg_reason(e)})") from None
    with container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        images: list[Image.Image] = []
        try:
            for frame in container.decode(stream):
                if max_frames is not None and len(images) >= max_frames:
                    raise ValueError(f"video holds more than {max_frames} frames")
                images.append(frame.to_image())
        except av.FFmpegError as e:
            raise ValueError(f"video decode failed ({_ffmpeg_reason(e)})") from None
    if not images:
        raise ValueError("video decodes to no frames")
    return images, (float(rate) if rate else None)
