"""Synthetic-world throughput, and sampled frame loading vs decoding every frame.

    python benchmarks/bench_media_synth.py [--items 100] [--clip PATH.mp4] [--repeats 3]

Prints:

* synthetic items per second for ``sightsound.synth.generate`` (default settings: 3 s clips,
  224x112 frames at 2 fps, wav + PNGs + mp4), and without the mp4;
* ``load_frames`` on one real 10 s clip at 2 fps (default: the first 1280x720 AVQA clip in
  ../shared/data/avqa_clips), fast (non-reference frames skipped) and exact, against the naive
  way: decode every frame and convert each to RGB, then keep those at 2 fps. Times are the
  median of ``--repeats`` runs; the ratio is naive / sampled.

Numbers depend on the machine and on what else runs on it; the ratios are the point.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def naive_frames(path: Path, fps: float, n: int):
    """Decode and convert every frame to RGB; keep the one on screen at each of the ``n`` times k/fps."""
    import av

    out, held = [], None
    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.video[0]):
            img = frame.to_image()  # every frame converted at full resolution: the cost measured
            while len(out) < n and frame.time > len(out) / fps + 1e-6:
                out.append(held if held is not None else img)
            held = img
    out += [held] * (n - len(out))  # the last frame stays on screen to the end
    return out


def bench_synth(items: int) -> None:
    from sightsound.config import SynthConfig
    from sightsound.synth import generate, voice

    for write_mp4 in (True, False):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = SynthConfig(num=items, seed=0, write_mp4=write_mp4)
            t0 = time.perf_counter()
            generate(tmp, cfg, progress=False)
            dt = time.perf_counter() - t0
        what = "wav + PNG + mp4" if write_mp4 else "wav + PNG"
        print(f"synth ({what}, voices: {voice.engine()}): {items} items in {dt:.2f} s = {items / dt:.1f} items/s")


def bench_frames(clip: Path, repeats: int) -> None:
    from sightsound.media import load_frames, probe_media

    info = probe_media(clip)
    print(f"clip: {clip.name} ({info['width']}x{info['height']}, {info['fps']:.2f} fps, {info['duration_s']:.1f} s)")
    t_fast, fast = _median_time(lambda: load_frames(clip, fps=2.0), repeats)
    t_naive, naive = _median_time(lambda: naive_frames(clip, 2.0, len(fast)), repeats)
    t_exact, exact = _median_time(lambda: load_frames(clip, fps=2.0, exact=True), repeats)
    t_small, small = _median_time(lambda: load_frames(clip, fps=2.0, max_pixels=360 * 420), repeats)
    assert len(naive) == len(fast) == len(exact) == len(small)
    import numpy as np

    same = all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(naive, exact))
    print(f"exact=True returns the naive frames pixel for pixel: {same}")
    print(f"decode + convert every frame : {t_naive:.3f} s  ({len(naive)} frames kept)")
    print(f"load_frames fps=2            : {t_fast:.3f} s  ratio {t_naive / t_fast:.1f}x")
    print(f"load_frames fps=2 exact=True : {t_exact:.3f} s  ratio {t_naive / t_exact:.1f}x")
    print(f"load_frames fps=2 max_pixels : {t_small:.3f} s  ratio {t_naive / t_small:.1f}x  ({small[0].size[0]}x{small[0].size[1]})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=100, help="synthetic items to generate")
    p.add_argument("--clip", type=Path, help="a real 10 s mp4 (default: a 1280x720 AVQA clip from ../shared)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    try:
        import torch

        torch.set_num_threads(1)  # not used here, but keep the machine quiet for neighbours
    except ImportError:  # pragma: no cover
        pass
    bench_synth(args.items)
    clip = args.clip
    if clip is None:
        from sightsound.media import probe_media

        clips = sorted((SHARED / "data" / "avqa_clips").glob("*.mp4"))
        clip = next((c for c in clips if probe_media(c)["width"] == 1280), clips[0] if clips else None)
    if clip is None:
        print(f"no real clip: {SHARED / 'data' / 'avqa_clips'} is absent; pass --clip PATH.mp4")
        return
    bench_frames(clip, args.repeats)


if __name__ == "__main__":
    main()
