"""Frames of the synthetic world drawn with Pillow, written as PNGs and as an h264 mp4 (PyAV).

Each drawn object sits at its slot; its class is its colour and its category's shape. While the
source behind a drawn object sounds, the frame shows an activity cue: a yellow outline around the
object and a white bar above it whose width follows the source's loudness. A drawn object that is
silent has no cue; a source heard off-screen is not drawn at all. The mp4 is silent on purpose:
the teacher reasons over the silent video, and the sound lives in the record's wav. PNGs carry no
timestamps, so the same scene gives the same bytes. The mp4 is lossless h264 (qp 0), so what it
decodes to is exactly the PNGs in yuv420p whatever the encoder decides on the way: its bytes were
identical across reruns in every local trial, yet one CI run (session 21) saw three of 24 mp4s
differ between two in-process runs; lossless keeps the pictures a function of the scene alone.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageDraw

from sightsound.synth.scene import cue_shown, frame_times
from sightsound.synth.vocab import CLASSES, SHAPES, SLOTS

BACKGROUND = (28, 30, 38)
GROUND = (48, 52, 60)
CUE = (255, 220, 0)
BAR = (250, 250, 250)


def _slot_x(slot: str, width: int) -> float:
    return width * (2 * SLOTS.index(slot) + 1) / (2 * len(SLOTS))


def loudness_level(gain_db: float) -> float:
    """Bar length in [0.15, 1] for a gain in dB (0 dB: full bar, -24 dB or less: a stub)."""
    return min(1.0, max(0.15, (gain_db + 24.0) / 24.0))


def _draw_object(d: ImageDraw.ImageDraw, name: str, cx: float, cy: float, s: float) -> tuple[float, float, float, float]:
    colour = CLASSES[name].colour
    shape = SHAPES[CLASSES[name].category]
    if shape == "square":
        box = (cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)
        d.rectangle(box, fill=colour)
    elif shape == "circle":
        box = (cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)
        d.ellipse(box, fill=colour)
    elif shape == "box":  # a vehicle: wide body on two wheels
        box = (cx - 0.7 * s, cy - 0.35 * s, cx + 0.7 * s, cy + 0.35 * s)
        d.rectangle((box[0], box[1], box[2], box[3] - 0.12 * s), fill=colour)
        for wx in (cx - 0.4 * s, cx + 0.4 * s):
            d.ellipse((wx - 0.14 * s, box[3] - 0.28 * s, wx + 0.14 * s, box[3]), fill=(15, 15, 15))
    elif shape == "person":  # head and a triangular body
        box = (cx - 0.35 * s, cy - s / 2, cx + 0.35 * s, cy + s / 2)
        d.ellipse((cx - 0.17 * s, cy - s / 2, cx + 0.17 * s, cy - 0.16 * s), fill=colour)
        d.polygon([(cx, cy - 0.16 * s), (cx - 0.35 * s, cy + s / 2), (cx + 0.35 * s, cy + s / 2)], fill=colour)
    else:  # cloud: three overlapping puffs
        box = (cx - 0.6 * s, cy - 0.35 * s, cx + 0.6 * s, cy + 0.35 * s)
        for dx, r in ((-0.3, 0.3), (0.0, 0.35), (0.3, 0.3)):
            d.ellipse((cx + dx * s - r * s, cy - r * s, cx + dx * s + r * s, cy + r * s), fill=colour)
    return box


def draw_frame(scene: dict, t: float, width: int, height: int) -> Image.Image:
    img = Image.new("RGB", (width, height), BACKGROUND)
    d = ImageDraw.Draw(img)
    d.rectangle((0, int(height * 0.86), width, height), fill=GROUND)
    s = min(width / len(SLOTS), height) * 0.5
    cy = height * 0.58
    for src in scene["sources"]:
        if not (src["visible"] and src["drawn"]):
            continue
        cx = _slot_x(src["slot"], width)
        box = _draw_object(d, src["drawn"], cx, cy, s)
        if cue_shown(src, t):
            d.rectangle((box[0] - 3, box[1] - 3, box[2] + 3, box[3] + 3), outline=CUE, width=2)
            half = (width / len(SLOTS) / 2 - 6) * loudness_level(src["gain_db"])
            top = max(2, int(height * 0.08))
            d.rectangle((cx - half, top, cx + half, top + max(3, int(height * 0.06))), fill=BAR)
    return img


def render_frames(scene: dict, fps: float, width: int, height: int) -> list[Image.Image]:
    return [draw_frame(scene, t, width, height) for t in frame_times(scene["duration_s"], fps)]


def write_pngs(frames: list[Image.Image], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, img in enumerate(frames):
        p = folder / f"{k:03d}.png"
        img.save(p, format="PNG", compress_level=6)  # Pillow writes no time chunk: bytes are stable
        paths.append(p)
    return paths


def write_mp4(frames: list[Image.Image], path: Path, fps: float) -> Path:
    """Lossless h264 (yuv420p, qp 0) mp4 through PyAV: decodes to exactly the frames' yuv420p.

    Bit-exact flags and one encoder thread keep the bytes stable too (no version string, no timing).
    Lossless costs nothing here: flat drawn shapes compress to ~3.6 kB per 6-frame clip, smaller than
    crf 18's ~4.1 kB, and encode in half the time.
    """
    import av
    from av.codec.context import Flags

    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w", format="mp4", options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = frames[0].width, frames[0].height
        stream.pix_fmt = "yuv420p"
        # qp 0 is x264's lossless mode; one thread keeps the bytes independent of the core count.
        stream.options = {"preset": "veryfast", "qp": "0", "threads": "1"}
        stream.codec_context.flags |= Flags.bitexact  # no encoder version string in the stream
        for img in frames:
            for pkt in stream.encode(av.VideoFrame.from_image(img)):
                out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    return path
