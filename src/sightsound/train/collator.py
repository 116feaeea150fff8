"""``AudioSFTCollator``: the SFT batch with the audio in it and the loss on the assistant turn only.

TRL 1.16's ``SFTTrainer`` has no audio path: with audio messages its batches carry the
``<|AUDIO|>`` placeholders but no ``input_features``, so the student would learn to answer without
listening. This collator runs the model's *processor* per batch instead (the trainer is told to skip
its own dataset preparation), so every training forward gets ``input_features`` and
``feature_attention_mask``.

Tokenisation mirrors inference: the prompt (chat template with the generation prompt, audio
expanded by the processor) and the assistant's text are tokenised separately and concatenated, just
as generation appends sampled tokens to the prompt ids. Labels are -100 on the prompt and padding;
the assistant's text and its end-of-turn token ``<|im_end|>`` are learned (so the student stops).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sightsound.models.chat import assistant_labels, encode_batch, render_prompt
from sightsound.train.audio import audio_paths, normalize_messages

IGNORE = -100


class AudioSFTCollator:
    def __init__(self, processor, load_audio: Callable[[str], np.ndarray], max_length: int | None = None,
                 end_of_turn: str = "<|im_end|>", arch: str = "qwen2_audio",
                 feature_dtype: torch.dtype = torch.float32):
        self.processor = processor
        self.feature_dtype = feature_dtype  # the audio encoder's weight dtype (bf16 on GPU)
        self.arch = arch
        self.tokenizer = processor.tokenizer
        self.load_audio = load_audio
        self.max_length = max_length
        self.end_of_turn = end_of_turn

    def split(self, messages: list[dict]) -> tuple[str, str, list[str]]:
        """(prompt text with generation prompt, assistant text up to its end-of-turn, audio paths)."""
        messages = normalize_messages(messages)
        if messages[-1]["role"] != "assistant":
            raise ValueError("the last message must be the assistant's")
        prompt = render_prompt(self.processor, messages[:-1], add_generation_prompt=True)
        full = render_prompt(self.processor, messages, add_generation_prompt=False)
        if not full.startswith(prompt):
            # A template that renders the history differently once an answer follows cannot be split.
            raise ValueError("the chat template's prompt is not a prefix of the full conversation")
        answer = full[len(prompt):]
        cut = answer.find(self.end_of_turn)
        if cut < 0:
            raise ValueError(f"the assistant turn does not end with {self.end_of_turn!r}")
        return prompt, answer[: cut + len(self.end_of_turn)], audio_paths(messages)

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        prompts, answers, audios = [], [], []
        for ex in examples:
            prompt, answer, paths = self.split(ex["messages"])
            if len(paths) != 1:
                raise ValueError(f"record {ex.get('id')!r}: expected one audio clip, found {len(paths)}")
            prompts.append(prompt)
            answers.append(answer)
            audios.append(self.load_audio(paths[0]))
        enc = encode_batch(self.processor, self.arch, prompts, None, audios, padding_side="right")
        answer_ids = self.tokenizer(answers, add_special_tokens=False)["input_ids"]
        pad_id = self.tokenizer.pad_token_id
        seqs = []
        for i, ex in enumerate(examples):
            p_ids = enc["input_ids"][i][enc["attention_mask"][i].bool()].tolist()
            a_ids = answer_ids[i]
            if self.max_length is not None and len(p_ids) + len(a_ids) > self.max_length:
                if len(p_ids) >= self.max_length:
                    raise ValueError(f"record {ex.get('id')!r}: the prompt alone has {len(p_ids)} tokens "
                                     f"(audio included), over max_length={self.max_length}")
                a_ids = a_ids[: self.max_length - len(p_ids)]  # cut the answer, never the audio
            seqs.append(p_ids + a_ids)
        width = max(len(s) for s in seqs)
        input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):  # right padding for training
            input_ids[i, : len(s)] = torch.tensor(s)
            attention[i, : len(s)] = 1
        # The prompt ends with the generation prompt (the assistant header): everything after it is learnt.
        labels = assistant_labels(self.processor, input_ids, attention, ignore_index=IGNORE)
        return {"input_ids": input_ids, "attention_mask": attention, "labels": labels,
                "input_features": enc["input_features"].to(self.feature_dtype), "feature_attention_mask": enc["feature_attention_mask"]}
