"""Build tiny models of the real architectures, fully offline (the library of ``sightsound tiny-models``).

Writes three ordinary Hugging Face model directories that load through exactly the same code as
the real checkpoints (:func:`sightsound.models.loading.load_model`):

    DIR/teacher  Qwen2_5_VLForConditionalGeneration            (the vision teacher)
    DIR/student  Qwen2AudioForConditionalGeneration            (the audio student / verifier)
    DIR/omni     Qwen2_5OmniThinkerForConditionalGeneration    (the omni option, audio + vision)

Each has safetensors weights, a processor, a byte-level BPE tokenizer trained here on a small
corpus (the paper's prompts, the answer format and the synthetic world's words) and wrapped as
``Qwen2Tokenizer`` with the Qwen special tokens, a chat template and a generation config whose
eos is ``<|im_end|>``. Everything is deterministic for a seed: same seed, same bytes.

The recipes are those measured to work on transformers 5.24: Whisper features with a
short ``chunk_length`` and ``max_source_positions = 50 * chunk_length``; M-RoPE sections summing to
head_dim / 2; the Omni thinker config given ``vision_start_token_id``; no ``image_token``
attribute on the VL tokenizer (Qwen2.5-VL would use it instead of ``<|image_pad|>``).

:func:`build_tiny_model` is the Python API (SightSound-mini builds 1-10 M-parameter versions with
a tokenizer trained on its own corpus by passing ``corpus``/``extra_words`` and sizes).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ROLES = ("teacher", "student", "omni")
ROLE_ARCH = {"teacher": "qwen2_5_vl", "student": "qwen2_audio", "omni": "qwen2_5_omni_thinker"}

# The Qwen2 family's special tokens (the real checkpoints share these strings) plus the Omni names.
QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>",
    "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
    "<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>",
]
OMNI_SPECIAL_TOKENS = ["<|vision_bos|>", "<|vision_eos|>", "<|IMAGE|>", "<|VIDEO|>"]
# Qwen2.5-Omni's named tokens (its processor reads them as tokenizer attributes).
OMNI_NAMED_TOKENS = {
    "audio_token": "<|AUDIO|>", "audio_bos_token": "<|audio_bos|>", "audio_eos_token": "<|audio_eos|>",
    "image_token": "<|IMAGE|>", "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>", "vision_eos_token": "<|vision_eos|>",
}

# Words the tokenizer should keep whole: the synthetic world's classes, slots, counts and the
# answer format. A generic corpus would split them ("vi o l in"), which costs tiny models dearly.
WORLD_WORDS = """
violin drum dog car bird piano guitar cat cow horse sheep chicken rooster duck frog lion
trumpet flute saxophone cello accordion bell clock siren train truck motorcycle airplane helicopter
baby man woman child crowd people speech laughing singing talking crying barking meowing engine
rain wind water thunder fire ocean stream applause footsteps knocking whistle
left middle right offscreen off-screen visible invisible silent audible loud quiet first last then
before after while during same different one two three four five six zero none no yes both
instrument animal vehicle voice ambience sound sounds sounding hear heard hearing listen see seen
object objects source sources start starts end ends begin begins onset louder quieter higher lower
pitch high low rhythm beat melody continuous intermittent short long repeated steady
"""

DEFAULT_CORPUS_LINES = [
    ("Watch this video and imagine what someone would hear if they could only listen to the audio "
     "without seeing the video. Generate pure audio-based reasoning to answer the following question."),
    "Provide your reasoning process in the following format: <think> </think> <answer> </answer>.",
    ("Given the original assistant's chain-of-thought, and the actual audio clip, verify that the <think> "
     "strictly matches true audio cues without irrelevant or hallucinated details. Output only 'Yes' or 'No'."),
    "Chain-of-thought: <think> I would hear a dog barking on the left first, then a violin. </think>",
    "<answer> The correct answer is: B. cat </answer>",
    "Available options: A. chicken B. Cat C. dog D. turkey",
    "Which object makes the sound? Which sounds first? How many sounding objects are there?",
    "Is the sound coming from the left, the middle or the right? What can you hear in this audio?",
    "I hear a drum, then a dog. I would hear a violin on the left first.",
    "You are a helpful assistant. system user assistant Audio 1: Picture 1: Video 1:",
    "Yes No yes no 0 1 2 3 4 5 6 7 8 9 10 A B C D E",
]


@dataclass(frozen=True)
class TinySizes:
    """Sizes of a tiny model. Defaults keep tests fast (hidden 64, 2 layers)."""

    vocab_size: int = 1024  # BPE merges target (special tokens come on top)
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 128
    max_position_embeddings: int = 4096
    # vision tower (teacher, omni)
    vision_depth: int = 2
    vision_hidden_size: int = 32
    vision_num_heads: int = 2
    vision_intermediate_size: int = 64
    min_pixels: int = 56 * 56
    max_pixels: int = 112 * 112  # per frame: at most 16 visual tokens after the 2x2 merge
    # audio tower (student, omni)
    audio_d_model: int = 32
    audio_layers: int = 2
    audio_heads: int = 2
    audio_ffn_dim: int = 64
    chunk_length: int = 4  # seconds of audio the processor pads/truncates to (real models: 30)


# ------------------------------------------------------------------------------------------ tokenizer
def corpus_lines(corpus: Iterable[str] | None = None, extra_words: Iterable[str] | None = None) -> list[str]:
    """The tokenizer's training text: the paper's prompts, the answer format, the synthetic world's
    own vocabulary (:func:`sightsound.synth.words.vocabulary`) and whatever the caller adds."""
    from sightsound.synth.words import vocabulary

    lines = list(DEFAULT_CORPUS_LINES) + [" ".join(WORLD_WORDS.split()), " ".join(vocabulary())]
    lines += [line for line in (corpus or []) if line.strip()]
    words = list(extra_words or [])
    if words:
        lines.append(" ".join(words))
    return lines


def build_tokenizer(
    role: str,
    corpus: Iterable[str] | None = None,
    extra_words: Iterable[str] | None = None,
    vocab_size: int = 1024,
):
    """A byte-level BPE trained here, wrapped as ``Qwen2Tokenizer`` with the Qwen special tokens.

    The BPE trainer is deterministic for a fixed corpus (ties broken by byte order), so the same
    inputs give the same vocabulary and merges.
    """
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    from transformers import AddedToken, Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    # Exactly the Qwen2 pre-tokenizer, so words split the way they do in the real models.
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=1, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[],
    )
    lines = corpus_lines(corpus, extra_words)
    # Repeat the words so each becomes one token; BPE merges by frequency.
    bpe.train_from_iterator(lines * 4, trainer=trainer)
    state = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = state["vocab"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]

    specials = QWEN_SPECIAL_TOKENS + (OMNI_SPECIAL_TOKENS if role == "omni" else [])
    next_id = len(vocab)
    for tok in specials:  # special tokens after the BPE vocabulary, as in the real models
        vocab[tok] = next_id
        next_id += 1
    kwargs: dict[str, Any] = {}
    if role == "omni":
        kwargs["extra_special_tokens"] = dict(OMNI_NAMED_TOKENS)
    tok = Qwen2Tokenizer(
        vocab=vocab, merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token=None, errors="replace", model_max_length=32768, **kwargs,
    )
    tok.add_special_tokens({"additional_special_tokens": [AddedToken(t, special=True, normalized=False)
                                                          for t in specials]})
    return tok


# ------------------------------------------------------------------------------------------ templates
# The real checkpoints' templates, minus the long default system prompts (tokens cost on CPU).
VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
AUDIO_CHAT_TEMPLATE = (  # Qwen2AudioProcessor.default_chat_template, verbatim
    "{% set audio_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if 'audio' in content or 'audio_url' in content %}{% set audio_count.value = audio_count.value + 1 %}"
    "Audio {{ audio_count.value }}: <|audio_bos|><|AUDIO|><|audio_eos|>\n"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
OMNI_CHAT_TEMPLATE = (
    "{% set audio_count = namespace(value=0) %}{% set image_count = namespace(value=0) %}"
    "{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif content['type'] == 'audio' or 'audio' in content or 'audio_url' in content %}"
    "{% set audio_count.value = audio_count.value + 1 %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}"
    "<|vision_bos|><|VIDEO|><|vision_eos|>{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


# ------------------------------------------------------------------------------------------- configs
def _text_config(tok, s: TinySizes, mrope: bool) -> dict[str, Any]:
    head_dim = s.hidden_size // s.num_attention_heads
    cfg: dict[str, Any] = {
        "vocab_size": len(tok), "hidden_size": s.hidden_size, "intermediate_size": s.intermediate_size,
        "num_hidden_layers": s.num_hidden_layers, "num_attention_heads": s.num_attention_heads,
        "num_key_value_heads": s.num_key_value_heads, "max_position_embeddings": s.max_position_embeddings,
        "max_window_layers": s.num_hidden_layers,
        "bos_token_id": tok.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tok.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tok.convert_tokens_to_ids("<|endoftext|>"),
    }
    if mrope:
        cfg["rope_parameters"] = {"rope_type": "default", "rope_theta": 1000000.0,
                                  "mrope_section": mrope_section(head_dim)}
    return cfg


def mrope_section(head_dim: int) -> list[int]:
    """(temporal, height, width) rotary sections summing to head_dim / 2 (real 128-dim heads: 16, 24, 24)."""
    half = head_dim // 2
    t = max(1, half // 4)
    h = (half - t) // 2
    return [t, h, half - t - h]


def _vision_kwargs(s: TinySizes) -> dict[str, Any]:
    return {"depth": s.vision_depth, "hidden_size": s.vision_hidden_size, "num_heads": s.vision_num_heads,
            "intermediate_size": s.vision_intermediate_size, "out_hidden_size": s.hidden_size,
            "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
            "fullatt_block_indexes": [s.vision_depth - 1]}


def _image_processor(s: TinySizes):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(min_pixels=s.min_pixels, max_pixels=s.max_pixels, patch_size=14,
                                    temporal_patch_size=2, merge_size=2)


def _feature_extractor(s: TinySizes):
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=s.chunk_length,
                                   hop_length=160, n_fft=400, padding_value=0.0, return_attention_mask=True)


def _build_teacher(tok, s: TinySizes):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = tok.convert_tokens_to_ids
    config = Qwen2_5_VLConfig(
        text_config=_text_config(tok, s, mrope=True), vision_config=_vision_kwargs(s),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
        tie_word_embeddings=False,
    )
    return Qwen2_5_VLForConditionalGeneration(config), {"image_processor": _image_processor(s)}, VL_CHAT_TEMPLATE


def _build_student(tok, s: TinySizes):
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration

    config = Qwen2AudioConfig(
        text_config={"model_type": "qwen2", **_text_config(tok, s, mrope=False)},
        audio_config={"d_model": s.audio_d_model, "encoder_layers": s.audio_layers,
                      "encoder_attention_heads": s.audio_heads, "encoder_ffn_dim": s.audio_ffn_dim,
                      "num_mel_bins": 128, "max_source_positions": 50 * s.chunk_length},
        audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"),
    )
    return Qwen2AudioForConditionalGeneration(config), {"feature_extractor": _feature_extractor(s)}, AUDIO_CHAT_TEMPLATE


def _build_omni(tok, s: TinySizes):
    from transformers import Qwen2_5OmniThinkerConfig, Qwen2_5OmniThinkerForConditionalGeneration

    ids = tok.convert_tokens_to_ids
    config = Qwen2_5OmniThinkerConfig(
        text_config=_text_config(tok, s, mrope=True),
        vision_config=_vision_kwargs(s),
        audio_config={"d_model": s.audio_d_model, "encoder_layers": s.audio_layers,
                      "encoder_attention_heads": s.audio_heads, "encoder_ffn_dim": s.audio_ffn_dim,
                      "num_mel_bins": 128, "max_source_positions": 50 * s.chunk_length,
                      "n_window": 50, "output_dim": s.hidden_size},
        audio_token_index=ids("<|AUDIO|>"), image_token_index=ids("<|IMAGE|>"),
        video_token_index=ids("<|VIDEO|>"), audio_start_token_id=ids("<|audio_bos|>"),
        audio_end_token_id=ids("<|audio_eos|>"), user_token_id=ids("user"),
        # transformers 5.24: get_rope_index reads it but the config class lacks it (real checkpoints carry it)
        vision_start_token_id=ids("<|vision_bos|>"),
    )
    procs = {"image_processor": _image_processor(s), "feature_extractor": _feature_extractor(s)}
    return Qwen2_5OmniThinkerForConditionalGeneration(config), procs, OMNI_CHAT_TEMPLATE


_BUILDERS = {"teacher": _build_teacher, "student": _build_student, "omni": _build_omni}


# -------------------------------------------------------------------------------------------- public
def build_tiny_model(
    role: str,
    out_dir: str | Path,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
    extra_words: Iterable[str] | None = None,
    return_model: bool = False,
    **sizes: Any,
):
    """Build one tiny model directory (``role`` in teacher|student|omni) and return its path.

    ``sizes`` override :class:`TinySizes` fields (e.g. ``hidden_size=256, num_hidden_layers=4``).
    With ``return_model`` it returns ``(path, model)``: the in-memory model that was saved (tests
    compare it with the reloaded one).
    """
    import torch

    if role not in _BUILDERS:
        raise ValueError(f"unknown tiny model role {role!r} (expected one of {', '.join(ROLES)})")
    s = replace(TinySizes(), **sizes)
    if s.hidden_size % s.num_attention_heads:
        raise ValueError(f"hidden_size {s.hidden_size} is not divisible by num_attention_heads {s.num_attention_heads}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tok = build_tokenizer(role, corpus, extra_words, s.vocab_size)
    torch.manual_seed(seed)  # weights are the only random part: same seed, same tensors
    model, procs, template = _BUILDERS[role](tok, s)
    model.eval()
    gen = model.generation_config
    gen.eos_token_id = tok.convert_tokens_to_ids("<|im_end|>")
    gen.pad_token_id = tok.convert_tokens_to_ids("<|endoftext|>")
    gen.bos_token_id = tok.convert_tokens_to_ids("<|endoftext|>")
    model.save_pretrained(out, safe_serialization=True)

    tok.padding_side = "left"  # generation pads on the left; training collators say so explicitly
    _save_processor(role, out, tok, procs, template)
    (out / "tiny_model.json").write_text(json.dumps(
        {"role": role, "architecture": ROLE_ARCH[role], "seed": seed, "sizes": s.__dict__,
         "num_parameters": sum(p.numel() for p in model.parameters())}, indent=2) + "\n")
    log.info("tiny %s (%s, %d params) -> %s", role, ROLE_ARCH[role], sum(p.numel() for p in model.parameters()), out)
    return (out, model) if return_model else out


def _save_processor(role: str, out: Path, tok, procs: dict[str, Any], template: str) -> None:
    """Write the processor files in transformers 5's layout (sub-processors nested in processor_config.json).

    VL/Omni: without a video processor (its class needs torchvision), see
    :func:`sightsound.models.loading.write_processor_files`.
    """
    if role == "student":  # no video: the stock processor saves itself
        from transformers import Qwen2AudioProcessor

        Qwen2AudioProcessor(procs["feature_extractor"], tok, chat_template=template).save_pretrained(out)
        return
    from sightsound.models.loading import write_processor_files

    write_processor_files(out, {"teacher": "Qwen2_5_VLProcessor", "omni": "Qwen2_5OmniProcessor"}[role], tok,
                          procs["image_processor"], template, procs.get("feature_extractor"))


def build_tiny_models(out_dir: str | Path, seed: int = 0, roles: Iterable[str] = ROLES, **kwargs: Any) -> dict[str, Path]:
    return {role: build_tiny_model(role, Path(out_dir) / role, seed=seed, **kwargs) for role in roles}
