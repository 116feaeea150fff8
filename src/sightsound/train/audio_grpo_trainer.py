"""``AudioGRPOTrainer``: TRL's ``GRPOTrainer`` with the audio path it lacks (trl==1.16.0, pinned).

TRL 1.16 has a code path for images only. With Qwen2-Audio (or the Qwen2.5-Omni thinker) it
first fails in ``__init__`` (it reads ``config.image_token_id``); patched past that, it trains
*without error but wrongly*: the audio features reach ``generate()`` at most, while the policy,
old-policy and reference log-prob forwards see the ``<|AUDIO|>`` placeholders with no
``input_features`` — the GRPO loss never depends on the audio. This subclass fills exactly that gap:

1. ``__init__``: TRL suppresses the image placeholder during sampling ("a sampled image token would
   mismatch the image features"); for an audio model the same holds for ``<|AUDIO|>``, so that is the
   token suppressed.
2. ``_tokenize_prompts``: renders each prompt with the chat template and runs the *processor* with the
   prompt's audio (decoded once per file by :class:`sightsound.train.audio.AudioCache`), so prompt ids
   carry the expanded audio placeholders and generation receives ``input_features`` /
   ``feature_attention_mask``.
3. ``_generate_and_score_completions``: the same features are used for the old-policy and reference
   forwards of the batch being scored, and are returned in the batch dict. They are batch-first
   tensors (one clip per completion row), so they survive TRL's shuffle and split into micro-batches.
4. ``_compute_loss``: the policy forward gets its micro-batch's rows of the features.
5. ``_get_per_token_logps_and_entropies``: injects the matching row slice of the features into every
   chunked log-prob forward, and refuses to run an audio model on placeholders without features.

Everything else (advantages, clipping, KL, PEFT reference, gradient accumulation, ``num_iterations``,
logging, checkpointing) is TRL's own code. These methods are TRL internals, which is why ``trl`` is
pinned and ``tests/test_train_grpo.py`` proves with forward hooks that audio reaches every forward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from trl import GRPOTrainer

from sightsound.models.chat import encode_batch, render_prompt
from sightsound.train.audio import AudioCache, audio_paths, normalize_messages

AUDIO_KEYS = ("input_features", "feature_attention_mask")


@contextmanager
def _audio_token_as_image_token(model: Any, audio_token_id: int) -> Iterator[None]:
    """Let TRL's ``__init__`` read ``config.image_token_id`` on an audio model, then remove the alias again.

    TRL uses it for ``suppress_tokens``; for an audio model the token that must never be sampled is
    ``<|AUDIO|>``. The alias is removed afterwards so it is never saved into a checkpoint's config.
    """
    config = model.config
    added = getattr(config, "image_token_id", None) is None
    if added:
        config.image_token_id = audio_token_id
    try:
        yield
    finally:
        if added:
            try:
                delattr(config, "image_token_id")
            except AttributeError:
                config.image_token_id = None


class AudioGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose generation and every log-prob forward (policy, old, reference) see the audio.

    ``load_audio(path) -> np.float32 mono waveform`` at the feature extractor's sampling rate; by
    default an :class:`~sightsound.train.audio.AudioCache` (each file decoded once per run).
    """

    def __init__(self, *args: Any, load_audio: Callable[[str], np.ndarray] | None = None,
                 max_prompt_length: int | None = None, **kwargs: Any):
        model = kwargs.get("model", args[0] if args else None)
        processor = kwargs.get("processing_class")
        if processor is None or not hasattr(processor, "feature_extractor"):
            raise TypeError("AudioGRPOTrainer needs the model's audio processor as processing_class")
        if isinstance(model, str):
            raise TypeError("pass the loaded model (sightsound.train.common.load_student), not a name")
        if load_audio is None:
            load_audio = AudioCache(processor.feature_extractor.sampling_rate)
        self._load_audio = load_audio
        self._max_prompt_length = max_prompt_length
        from sightsound.models.loading import MODEL_TYPES

        self._arch = MODEL_TYPES.get(getattr(model.config, "model_type", ""), "qwen2_audio")
        self._audio_token_id = processor.tokenizer.convert_tokens_to_ids(processor.audio_token)
        self._scoring_audio: dict[str, torch.Tensor] | None = None  # features of the batch being scored
        with _audio_token_as_image_token(model, self._audio_token_id):
            super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------------------------ encoding
    def _encode_prompts(self, prompts: list[list[dict]]) -> tuple[list[list[int]], dict[str, torch.Tensor]]:
        """Chat template + processor with the audio: prompt ids (unpadded) and the audio features."""
        processor = self.processing_class
        texts, audios = [], []
        for prompt in prompts:
            prompt = normalize_messages(prompt)
            paths = audio_paths(prompt)
            if len(paths) != 1:
                # One clip per prompt keeps the features batch-first (row i = completion i), which is
                # what lets them ride through TRL's shuffle/split unchanged.
                raise ValueError(f"each GRPO prompt needs exactly one audio part, got {len(paths)}: {prompt!r}")
            audios.append(self._load_audio(paths[0]))
            texts.append(render_prompt(processor, prompt, add_generation_prompt=True))
        enc = encode_batch(processor, self._arch, texts, None, audios, padding_side="left")
        mask = enc["attention_mask"].bool()
        prompt_ids = [row[m].tolist() for row, m in zip(enc["input_ids"], mask, strict=True)]
        if self._max_prompt_length is not None:
            for ids, prompt in zip(prompt_ids, prompts, strict=True):
                if len(ids) > self._max_prompt_length:
                    # Never truncated: cutting into the audio placeholders would break the model's input.
                    raise ValueError(f"a prompt of {len(ids)} tokens (audio {audio_paths(prompt)[0]}) exceeds "
                                     f"max_prompt_length={self._max_prompt_length}")
        return prompt_ids, {k: enc[k] for k in AUDIO_KEYS}

    def _tokenize_prompts(self, prompts: list):
        prompt_ids, audio = self._encode_prompts(prompts)
        # Features in the weights' dtype: generate() runs outside autocast, and a bf16 encoder
        # refuses float32 mel frames.
        dtype = getattr(self.accelerator.unwrap_model(self.model), "dtype", torch.float32)
        audio["input_features"] = audio["input_features"].to(dtype)
        self._scoring_audio = {k: v.to(self.accelerator.device) for k, v in audio.items()}
        # Returned as TRL's "multimodal fields": its generate path passes tensors straight to generate().
        return prompt_ids, None, dict(self._scoring_audio)

    # ------------------------------------------------------------------------------------ scoring
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        self._scoring_audio = None
        try:
            # _tokenize_prompts (inside) sets _scoring_audio; the old/ref forwards below it read it.
            output = super()._generate_and_score_completions(inputs)
            if self._scoring_audio is None:
                raise RuntimeError("no audio features were computed for this batch (TRL code path changed?)")
            rows = output["completion_ids"].size(0)
            for key, value in self._scoring_audio.items():
                if value.size(0) != rows:
                    raise RuntimeError(f"{key} has {value.size(0)} rows for {rows} completions")
                output[key] = value
            return output
        finally:
            self._scoring_audio = None

    def _compute_loss(self, model, inputs):
        missing = [k for k in AUDIO_KEYS if k not in inputs]
        if missing:
            raise RuntimeError(f"GRPO batch lacks {missing}: the policy forward would not see the audio")
        with self._audio_for_forwards({k: inputs[k] for k in AUDIO_KEYS}):
            return super()._compute_loss(model, inputs)

    @contextmanager
    def _audio_for_forwards(self, audio: dict[str, torch.Tensor]) -> Iterator[None]:
        previous, self._scoring_audio = self._scoring_audio, audio
        try:
            yield
        finally:
            self._scoring_audio = previous

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                           batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                           **kwargs):
        audio = self._scoring_audio
        if audio is None:
            if bool((input_ids == self._audio_token_id).any()):
                raise RuntimeError("log-prob forward on <|AUDIO|> placeholders without input_features")
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss,
                **kwargs)
        if audio["input_features"].size(0) != input_ids.size(0):
            raise RuntimeError(f"{audio['input_features'].size(0)} audio rows for {input_ids.size(0)} sequences")
        # TRL chunks the rows into forwards of `batch_size`; do the chunking here so that each call of
        # TRL's method sees one chunk, and bind that chunk's audio rows to the model call.
        batch_size = batch_size or input_ids.size(0)
        logps, entropies, aux = [], [], []
        for start in range(0, input_ids.size(0), batch_size):
            rows = slice(start, min(start + batch_size, input_ids.size(0)))
            bound = _WithAudio(model, {k: v[rows] for k, v in audio.items()})
            lp, ent, ax = super()._get_per_token_logps_and_entropies(
                bound, input_ids[rows], attention_mask[rows], logits_to_keep, None, compute_entropy,
                compute_aux_loss, **kwargs)
            logps.append(lp)
            entropies.append(ent)
            aux.append(ax)
        return (torch.cat(logps, dim=0),
                torch.cat(entropies, dim=0) if compute_entropy else None,
                torch.stack(aux).mean() if compute_aux_loss else None)


class _WithAudio:
    """A model call with audio features bound: ``bound(**kw) == model(**kw, **audio)``."""

    def __init__(self, model: Any, audio: dict[str, torch.Tensor]):
        self.model = model
        self.audio = audio

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs, **self.audio)
