"""Training examples -> cached tensors -> padded batches, for the tiny roles' pretraining.

An :class:`Example` is one chat turn pair: the user turn (frames or audio, then text) and the
assistant's target. Encoding goes through the project's chat layer
(:mod:`sightsound.models.chat`), so a training prompt is byte-for-byte the prompt the stages send
at inference time.

Features are computed once (the point of caching: a 10-minute CPU budget cannot afford running the
image processor or the mel filterbank every step). Several examples share one scene's media, so
media features are stored once per ``media_key``: the processor encodes the first example of a
scene; the others are tokenized with the same number of media placeholder tokens, which is exactly
what the processor does (checked against the processor on every scene's first example).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sightsound.models.chat import assistant_labels, chat_template_messages, encode_batch, render_prompt

# Which placeholder token the processor expands, per architecture.
PLACEHOLDER = {"qwen2_5_vl": "<|image_pad|>", "qwen2_audio": "<|AUDIO|>"}
MEDIA_KEYS = {"qwen2_5_vl": ("pixel_values", "image_grid_thw"),
              "qwen2_audio": ("input_features", "feature_attention_mask")}


@dataclass
class Example:
    text: str  # the user's text (prompt), media goes before it
    target: str  # the assistant turn to learn
    media_key: str  # examples with the same key share media (one scene)
    images: list | None = None  # PIL frames (teacher)
    audio: np.ndarray | None = None  # 16 kHz float32 mono (verifier, student)
    info: dict[str, Any] = field(default_factory=dict)  # what evaluation needs (label, task, ...)


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    media_key: str
    weights: list[float] | None = None  # per-token loss weights (only with a cache's ``focus``)


class FeatureCache:
    """Encoded examples plus one media feature set per scene.

    ``focus`` maps target words to a loss weight (every other target token weighs 1): the verifier's
    checklist is mostly ``no`` marks, so the rare marks that decide a verdict (``silent``, ``heard``)
    and the verdict itself can be given more of the loss (``sightsound pretrain --focus-weight``).
    """

    def __init__(self, processor, arch: str, focus: dict[str, float] | None = None):
        if arch not in PLACEHOLDER:
            raise ValueError(f"SightSound-mini trains qwen2_5_vl or qwen2_audio, not {arch!r}")
        self.processor, self.arch = processor, arch
        self.tok = processor.tokenizer
        self.placeholder = PLACEHOLDER[arch]
        self.placeholder_id = self.tok.convert_tokens_to_ids(self.placeholder)
        self.media: dict[str, dict[str, Any]] = {}  # key -> tensors (batch dim 1 for audio)
        self.tokens_per_item: dict[str, int] = {}  # key -> placeholder tokens per image / audio
        self.items: list[Encoded] = []
        self.focus = dict(focus or {})
        self._word_of: dict[int, str] = {}  # token id -> its word without the byte-level space mark
        # A focus word this tokenizer splits (a warm start keeps the vocabulary of a corpus that did not
        # hold it: " late" is "Ġl" + "ate" for the session-18 verifier) is found as its run of pieces.
        # (A word whose pieces include the whole word, " Yes" as "Ġ" + "Yes", is found as that piece.)
        pieces = {w: self.tok(" " + w, add_special_tokens=False)["input_ids"] for w in self.focus}
        self._split = [(ids, self.focus[w]) for w, ids in pieces.items() if w not in {self._word(i) for i in ids}]

    def _word(self, token_id: int) -> str:
        if token_id not in self._word_of:
            self._word_of[token_id] = self.tok.convert_ids_to_tokens(token_id).replace("\u0120", "").strip()
        return self._word_of[token_id]

    def _weights(self, labels: list[int]) -> list[float] | None:
        if not self.focus:
            return None
        out = [0.0 if t == -100 else self.focus.get(self._word(t), 1.0) for t in labels]
        for ids, weight in self._split:
            n = len(ids)
            for i in range(len(labels) - n + 1):
                if labels[i:i + n] == ids:
                    out[i:i + n] = [weight] * n
        return out

    def _render(self, ex: Example, with_target: bool = True) -> str:
        n_images = len(ex.images) if ex.images else 0
        messages = chat_template_messages(ex.text, n_images=n_images, has_audio=ex.audio is not None,
                                  assistant=ex.target if with_target else None)
        return render_prompt(self.processor, messages, add_generation_prompt=not with_target)

    def _encode_with_processor(self, ex: Example):
        return encode_batch(self.processor, self.arch, [self._render(ex)],
                            [ex.images] if ex.images else None,
                            [ex.audio] if ex.audio is not None else None, padding_side="right")

    def add(self, ex: Example) -> Encoded:
        import torch

        n_items = len(ex.images) if ex.images else (1 if ex.audio is not None else 0)
        if ex.media_key not in self.media:
            batch = self._encode_with_processor(ex)
            ids = batch["input_ids"][0]
            keys = MEDIA_KEYS[self.arch]
            media = {k: batch[k] for k in keys}
            if self.arch == "qwen2_5_vl":  # stored in half precision: frames are 8-bit to begin with
                media["pixel_values"] = media["pixel_values"].to(torch.float16)
            self.media[ex.media_key] = media
            count = int((ids == self.placeholder_id).sum())
            if n_items == 0 or count % n_items:
                raise ValueError(f"{ex.media_key}: {count} placeholder tokens for {n_items} media items")
            self.tokens_per_item[ex.media_key] = count // n_items
            input_ids = ids.tolist()
            labels = assistant_labels(self.processor, batch["input_ids"], batch["attention_mask"])[0].tolist()
        else:
            input_ids, labels = self._tokenize(ex, self.tokens_per_item[ex.media_key])
        enc = Encoded(input_ids, labels, ex.media_key, self._weights(labels))
        self.items.append(enc)
        return enc

    def _tokenize(self, ex: Example, per_item: int) -> tuple[list[int], list[int]]:
        """Text-only encoding with the media placeholders expanded as the processor would."""
        import torch

        text = self._render(ex).replace(self.placeholder, self.placeholder * per_item)
        ids = torch.tensor([self.tok(text, add_special_tokens=False)["input_ids"]])
        labels = assistant_labels(self.processor, ids)[0].tolist()
        return ids[0].tolist(), labels

    def check_consistency(self, ex: Example) -> None:
        """The shortcut tokenization equals the processor's (raises otherwise)."""
        batch = self._encode_with_processor(ex)
        per_item = self.tokens_per_item[ex.media_key]
        ids, _ = self._tokenize(ex, per_item)
        if batch["input_ids"][0].tolist() != ids:
            raise AssertionError(f"{ex.media_key}: cached tokenization differs from the processor's")

    def collate(self, items: list[Encoded]) -> dict[str, Any]:
        """Right-padded batch with the media features of each row's scene, in row order."""
        import torch

        width = max(len(e.input_ids) for e in items)
        pad = self.tok.pad_token_id
        ids = torch.full((len(items), width), pad, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        labels = torch.full((len(items), width), -100, dtype=torch.long)
        weights = torch.zeros((len(items), width)) if self.focus else None
        for r, e in enumerate(items):
            n = len(e.input_ids)
            ids[r, :n] = torch.tensor(e.input_ids)
            mask[r, :n] = 1
            labels[r, :n] = torch.tensor(e.labels)
            if weights is not None:
                weights[r, :n] = torch.tensor(e.weights)
        batch: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        if weights is not None:
            batch["loss_weights"] = weights
        media = [self.media[e.media_key] for e in items]
        for k in MEDIA_KEYS[self.arch]:
            t = torch.cat([m[k] for m in media], dim=0)
            batch[k] = t.float() if t.is_floating_point() else t
        return batch
