"""Messages -> chat-template prompt -> processor inputs, for the three architectures.

The one place that turns (text, frames, audio, optional assistant answer) into what a model eats.
Generation (the ``hf`` backend), the training collators (SFT, GRPO) and evaluation all call it,
so a prompt looks the same in every stage.

    messages = chat_template_messages(text, n_images=4, has_audio=False)
    prompt = render_prompt(processor, messages, add_generation_prompt=True)
    batch = encode_batch(processor, arch, [prompt], [frames], [None])

Media goes before the text in the user turn (the paper's ``<video> ...`` / ``<audio> ...``).
Frames are passed as images (one image placeholder per frame) unless ``video=True``, which needs
a processor with a video processor (torchvision, GPU machines).
Audio arrays are float32 mono at 16 kHz (:data:`SAMPLE_RATE`); :func:`to_16k` converts.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np

SAMPLE_RATE = 16000


def chat_template_messages(
    text: str,
    n_images: int = 0,
    has_audio: bool = False,
    assistant: str | None = None,
    system: str | None = None,
    video: bool = False,
) -> list[dict[str, Any]]:
    """A one-turn chat: [system], user (media first, then text), [assistant]."""
    content: list[dict[str, Any]] = []
    if video and n_images:
        content.append({"type": "video"})
    else:
        content += [{"type": "image"} for _ in range(n_images)]
    if has_audio:
        content.append({"type": "audio"})
    content.append({"type": "text", "text": text})
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append({"role": "user", "content": content})
    if assistant is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": assistant}]})
    return messages


def _normalize_content(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make media items visible to every real chat template.

    Qwen2-Audio's template tests ``'audio' in content`` (a *key*), so ``{"type": "audio", "path": p}``
    (the pinned SFT format) would silently render no audio placeholder. Give each media item the
    key its template looks for; the value is never read when rendering.
    """
    out = copy.deepcopy(messages)
    for message in out:
        if isinstance(message.get("content"), list):
            for item in message["content"]:
                kind = item.get("type")
                if kind in ("audio", "image", "video") and kind not in item:
                    item[kind] = item.get("path") or item.get("url") or f"<{kind}>"
    return out


def render_prompt(processor, messages: list[dict[str, Any]], add_generation_prompt: bool = True) -> str:
    """The chat-template text (placeholders not yet expanded; the processor expands them)."""
    return processor.apply_chat_template(_normalize_content(messages), tokenize=False,
                                         add_generation_prompt=add_generation_prompt)


def to_16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """float32 mono at 16 kHz (soxr; torchaudio does not work on these machines)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:  # (samples, channels) -> mono
        audio = audio.mean(axis=1) if audio.shape[1] <= 8 else audio.mean(axis=0)
    if sample_rate != SAMPLE_RATE:
        import soxr

        audio = soxr.resample(audio, sample_rate, SAMPLE_RATE).astype(np.float32)
    return audio


def encode_batch(
    processor,
    arch: str,
    prompts: Sequence[str],
    images_list: Sequence[Sequence[Any] | None] | None = None,
    audios_list: Sequence[np.ndarray | None] | None = None,
    padding_side: str = "left",
    video: bool = False,
    video_fps: float = 2.0,
    **processor_kwargs: Any,
):
    """Run the processor on a batch of rendered prompts with their frames and audio.

    ``images_list[i]`` holds the frames of prompt i (or None); ``audios_list[i]`` its 16 kHz audio
    (or None). Left padding for generation, right padding for training. Returns a ``BatchFeature``
    of tensors (``input_ids``, ``attention_mask``, and ``pixel_values``/``image_grid_thw`` or
    ``input_features``/``feature_attention_mask`` as the architecture needs). With ``video=True``
    each prompt's frames are one video sampled at ``video_fps`` (Qwen2.5-VL turns that rate into
    temporal positions; left unknown, transformers would assume 24 fps).
    """
    n = len(prompts)
    images_list = list(images_list) if images_list is not None else [None] * n
    audios_list = list(audios_list) if audios_list is not None else [None] * n
    if len(images_list) != n or len(audios_list) != n:
        raise ValueError(f"encode_batch: {n} prompts but {len(images_list)} image lists and {len(audios_list)} audios")
    kwargs: dict[str, Any] = {"text": list(prompts), "padding": True, "padding_side": padding_side,
                              "return_tensors": "pt", **processor_kwargs}
    frames = [list(imgs) for imgs in images_list if imgs]
    if frames:
        if arch == "qwen2_audio":
            raise ValueError("qwen2_audio takes no images or video")
        if video:
            kwargs["videos"] = frames
            kwargs["video_metadata"] = [{"fps": video_fps, "total_num_frames": len(f),
                                         "frames_indices": list(range(len(f)))} for f in frames]
        else:
            kwargs["images"] = [img.convert("RGB") if hasattr(img, "convert") else img
                                for imgs in frames for img in imgs]
    audios = [np.asarray(a, dtype=np.float32) for a in audios_list if a is not None]
    if audios:
        if arch == "qwen2_5_vl":
            raise ValueError("qwen2_5_vl takes no audio")
        kwargs["audio"] = audios
        kwargs["sampling_rate"] = SAMPLE_RATE
    return processor(**kwargs)


def encode_chats(
    processor,
    arch: str,
    chats: Sequence[list[dict[str, Any]]],
    images_list: Sequence[Sequence[Any] | None] | None = None,
    audios_list: Sequence[np.ndarray | None] | None = None,
    add_generation_prompt: bool = True,
    padding_side: str = "left",
    video: bool = False,
):
    """:func:`render_prompt` for each chat, then :func:`encode_batch`."""
    prompts = [render_prompt(processor, m, add_generation_prompt) for m in chats]
    return encode_batch(processor, arch, prompts, images_list, audios_list, padding_side, video=video)


def assistant_labels(processor, input_ids, attention_mask=None, ignore_index: int = -100):
    """Labels for SFT: the input ids with everything up to the *last* assistant header masked.

    Only the assistant's answer (and its closing ``<|im_end|>``) is learnt; prompt, media
    placeholders and padding are not. Works for left or right padding.
    """

    tok = processor.tokenizer if hasattr(processor, "tokenizer") else processor
    header = tok("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    labels = input_ids.clone()
    for row in range(input_ids.shape[0]):
        ids = input_ids[row].tolist()
        start = None
        for i in range(len(ids) - len(header), -1, -1):
            if ids[i:i + len(header)] == header:
                start = i + len(header)
                break
        if start is None:
            raise ValueError(f"row {row}: no assistant turn found to train on")
        labels[row, :start] = ignore_index
    if attention_mask is not None:
        labels[attention_mask == 0] = ignore_index
    pad_id = tok.pad_token_id
    if pad_id is not None and attention_mask is None:
        labels[input_ids == pad_id] = ignore_index
    return labels
