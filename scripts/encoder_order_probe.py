"""Does a SightSound-mini audio model's *encoder* know when each sound starts? A linear probe says.

The verifier misses the teacher's order errors (an account naming a sound heard later first). This
script asks whether that order is already lost in the audio encoder or only in the language model
that reads it: for each model directory (Qwen2-Audio architecture), the audio tower's output frames
(40 ms each) of pretraining-split clips train one linear probe (which classes sound in this frame,
multi-label), read on held-out ``pretrain_check`` clips. Printed per model: frame accuracy, recall
of sounding frames, false-alarm rate, and onset order from the probe — in held-out clips with two
heard classes whose onsets differ by more than :data:`~sightsound.mini.targets.ORDER_TOLERANCE_S`,
is the class the probe hears first the one heard first (chance: half).

    python scripts/encoder_order_probe.py assets/mini/verifier assets/mini/student [--train 300]

About 20 s per model on 2 cores. Read-only; pretraining splits only (never distillation or test).
Session 21's reading (``assets/mini/README.md``): the shipped verifier's encoder gives onset order in
82 of 84 clips, the student's in 74, so the verifier's order misses are its language model's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sightsound.mini import targets as T
from sightsound.synth.scene import sounding_at


def frame_labels(scene: dict, n_frames: int, classes: list[str]) -> tuple[np.ndarray, list[float]]:
    """Which classes sound at the centre of each of ``n_frames`` equal frames of the clip: (frames, classes) 0/1."""
    duration = float(scene["duration_s"])
    times = [(i + 0.5) * duration / n_frames for i in range(n_frames)]
    index = {c: k for k, c in enumerate(classes)}
    y = np.zeros((n_frames, len(classes)), np.float32)
    for src in scene["sources"]:
        for i, t in enumerate(times):
            if sounding_at(src, t):
                y[i, index[src["name"]]] = 1.0
    return y, times


def two_class_order_clip(scene: dict) -> tuple[str, str] | None:
    """(heard first, heard later) for a clip of exactly two heard sources of two classes whose onsets
    differ by more than the order tolerance; None otherwise."""
    heard = T.heard_sounds(scene)
    if len(heard) != 2 or heard[0]["name"] == heard[1]["name"]:
        return None
    if heard[1]["onset_s"] - heard[0]["onset_s"] <= T.ORDER_TOLERANCE_S:
        return None
    return heard[0]["name"], heard[1]["name"]


def probe_first(probs: np.ndarray, times: list[float], pair: tuple[str, str], classes: list[str]) -> str:
    """The class of ``pair`` the probe hears first: its first frame above 0.5 (never heard: last)."""
    def onset(c: str) -> float:
        hit = np.nonzero(probs[:, classes.index(c)] > 0.5)[0]
        return times[hit[0]] if hit.size else float("inf")

    return min(pair, key=onset)


def encode(model_dir: Path, split: str, num: int, threads: int):
    """Encoder frames, frame labels, times and scenes of ``num`` records of ``split``."""
    import torch
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

    from sightsound.mini.roles import load_media
    from sightsound.mini.world import split_records

    torch.set_num_threads(threads)
    processor = AutoProcessor.from_pretrained(model_dir)
    model = Qwen2AudioForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
    records, base = split_records(split, num, progress=False)
    classes = sorted(T.CLASS_NAMES)
    out = []
    for r in records:
        _, audio = load_media("verifier", r, base)  # the clip as the verify stage loads it
        feats = processor.feature_extractor(audio, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            frames = model.model.audio_tower(feats["input_features"]).last_hidden_state[0].numpy()
        y, times = frame_labels(r["meta"]["scene"], frames.shape[0], classes)
        out.append((frames, y, times, r["meta"]["scene"]))
    return out, classes


def fit_probe(x: np.ndarray, y: np.ndarray, steps: int = 400, seed: int = 0):
    """A standardised linear multi-label probe (Adam on the logistic loss); returns ``predict(frames) -> probs``."""
    import torch

    torch.manual_seed(seed)
    xt, yt = torch.tensor(x), torch.tensor(y)
    mu, sd = xt.mean(0), xt.std(0) + 1e-5
    lin = torch.nn.Linear(xt.shape[1], yt.shape[1])
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(lin((xt - mu) / sd), yt).backward()
        opt.step()

    def predict(frames: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(lin((torch.tensor(frames) - mu) / sd)).numpy()

    return predict


def probe_model(model_dir: Path, train: int, check: int, threads: int) -> dict:
    train_set, classes = encode(model_dir, "pretrain", train, threads)
    check_set, _ = encode(model_dir, "pretrain_check", check, threads)
    predict = fit_probe(np.concatenate([f for f, *_ in train_set]), np.concatenate([y for _, y, *_ in train_set]))
    probs = [predict(f) for f, *_ in check_set]
    p, y = np.concatenate(probs) > 0.5, np.concatenate([y for _, y, *_ in check_set]) > 0.5
    right = clips = 0
    for pr, (_, _, times, scene) in zip(probs, check_set):
        pair = two_class_order_clip(scene)
        if pair is not None:
            clips += 1
            right += probe_first(pr, times, pair, classes) == pair[0]
    return {"frame_accuracy": float((p == y).mean()), "sounding_recall": float((p & y).sum() / max(1, y.sum())),
            "false_alarm": float((p & ~y).sum() / max(1, (~y).sum())), "order_right": right, "order_clips": clips}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="Qwen2-Audio model directories")
    ap.add_argument("--train", type=int, default=300, help="pretraining-split clips the probe is fitted on")
    ap.add_argument("--check", type=int, default=200, help="held-out pretrain_check clips it is read on")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    print("| model | frame accuracy | sounding recall | false alarm | onset order from the probe |")
    print("|---|---|---|---|---|")
    for m in args.models:
        r = probe_model(m, args.train, args.check, args.threads)
        print(f"| {m} | {r['frame_accuracy']:.3f} | {r['sounding_recall']:.3f} | {r['false_alarm']:.3f} "
              f"| {r['order_right']} of {r['order_clips']} |")


if __name__ == "__main__":
    main()
