"""Model layer: tiny offline models, the shared loader, the chat/input builder, configs/models.yaml."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sightsound.config import ModelsConfig, ModelSpec, load_recipe
from sightsound.models.chat import (
    assistant_labels,
    chat_template_messages,
    encode_batch,
    encode_chats,
    render_prompt,
)
from sightsound.models.loading import load_model, load_processor, resolve_architecture, resolve_dtype
from sightsound.models.tiny import ROLE_ARCH, build_tiny_model, mrope_section

REPO = Path(__file__).resolve().parents[1]


def _frames(k: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 255, (56, 112, 3), dtype=np.uint8)) for _ in range(k)]


def _audio(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * np.random.default_rng(seed).standard_normal(t.size)).astype(
        np.float32)


def _inputs(processor, arch: str):
    """Two prompts with the media the architecture takes, right-padded like a training batch."""
    n_img = 2 if arch != "qwen2_audio" else 0
    has_audio = arch != "qwen2_5_vl"
    chats = [chat_template_messages("Which object sounds first?", n_img, has_audio, assistant="<think> a dog </think>"),
             chat_template_messages("How many sounding objects are there?", n_img, has_audio)]
    frames = [_frames(n_img, 1), _frames(n_img, 2)] if n_img else None
    audios = [_audio(1.0, 1), _audio(2.0, 2)] if has_audio else None
    return encode_chats(processor, arch, chats, frames, audios, add_generation_prompt=False, padding_side="right")


# ------------------------------------------------------------------------------------------ tiny
def test_cli_builds_offline_deterministically(tmp_path, tiny_models_dir, monkeypatch):
    """`sightsound tiny-models` runs with every network connection refused; same seed, same bytes."""
    from sightsound.cli import main

    def no_network(*args, **kwargs):
        raise OSError("network access attempted during an offline build")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    assert main(["tiny-models", "--out", str(tmp_path / "a"), "--roles", "student", "teacher", "--seed", "0"]) == 0
    for role in ("student", "teacher"):
        built = tmp_path / "a" / role
        for name in ("config.json", "model.safetensors", "tokenizer.json", "processor_config.json",
                     "chat_template.jinja", "generation_config.json"):
            assert (built / name).read_bytes() == (tiny_models_dir / role / name).read_bytes(), (role, name)
        assert not list(built.glob("*.bin")), "weights must be safetensors only"
    assert main(["tiny-models", "--out", str(tmp_path / "b"), "--roles", "student", "--seed", "1"]) == 0
    assert (tmp_path / "b/student/model.safetensors").read_bytes() != (tmp_path / "a/student/model.safetensors").read_bytes()


@pytest.mark.parametrize("role", ["teacher", "student", "omni"])
def test_reload_gives_identical_logits(tmp_path, role):
    """The saved directory reloads (local files only) into the very model that was saved."""
    out, saved = build_tiny_model(role, tmp_path / role, seed=3, return_model=True)
    arch = ROLE_ARCH[role]
    cls = type(saved)
    reloaded = cls.from_pretrained(out, local_files_only=True, use_safetensors=True).eval()
    via_loader, processor = load_model(str(out))
    assert type(via_loader) is cls
    batch = _inputs(processor, arch)
    with torch.no_grad():
        want = saved(**batch).logits
        assert torch.equal(reloaded(**batch).logits, want)
        assert torch.equal(via_loader(**batch).logits, want)
    assert want.shape[:2] == batch["input_ids"].shape and torch.isfinite(want).all()


def test_tiny_configs_follow_the_measured_recipes(tiny_models_dir):
    teacher = json.loads((tiny_models_dir / "teacher/config.json").read_text())
    text = teacher["text_config"]
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    assert sum(text["rope_parameters"]["mrope_section"]) == head_dim // 2
    student = json.loads((tiny_models_dir / "student/config.json").read_text())
    proc = json.loads((tiny_models_dir / "student/processor_config.json").read_text())
    chunk = proc["feature_extractor"]["chunk_length"]
    assert student["audio_config"]["max_source_positions"] == 50 * chunk
    omni = json.loads((tiny_models_dir / "omni/config.json").read_text())
    assert "vision_start_token_id" in omni
    tok = json.loads((tiny_models_dir / "teacher/tokenizer_config.json").read_text())
    assert "image_token" not in tok  # else Qwen2.5-VL uses it instead of <|image_pad|>
    for role in ("teacher", "student", "omni"):
        gen = json.loads((tiny_models_dir / role / "generation_config.json").read_text())
        _, processor = load_model(str(tiny_models_dir / role))
        assert gen["eos_token_id"] == processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
        assert gen["pad_token_id"] == processor.tokenizer.convert_tokens_to_ids("<|endoftext|>")
    assert [mrope_section(d) for d in (16, 128)] == [[2, 3, 3], [16, 24, 24]]


def test_tokenizer_keeps_world_words_whole(tiny_models_dir):
    _, processor = load_model(str(tiny_models_dir / "student"))
    tok = processor.tokenizer
    for word in (" violin", " dog", " left", " offscreen", " answer"):
        assert len(tok(word, add_special_tokens=False)["input_ids"]) == 1, word
    ids = tok("<|im_start|>user\n<|audio_bos|><|AUDIO|><|audio_eos|>", add_special_tokens=False)["input_ids"]
    assert tok.convert_tokens_to_ids("<|AUDIO|>") in ids and len(ids) == 6
    assert tok.decode(tok("The correct answer is: B. cat")["input_ids"]) == "The correct answer is: B. cat"


def test_extra_words_and_sizes_for_mini_models(tmp_path):
    out = build_tiny_model("student", tmp_path / "s", seed=0, extra_words=["xylophonequack"] * 20,
                           hidden_size=96, num_hidden_layers=3)
    cfg = json.loads((out / "config.json").read_text())["text_config"]
    assert (cfg["hidden_size"], cfg["num_hidden_layers"]) == (96, 3)
    _, processor = load_model(str(out))
    assert len(processor.tokenizer(" xylophonequack", add_special_tokens=False)["input_ids"]) == 1
    with pytest.raises(ValueError, match="unknown tiny model role"):
        build_tiny_model("critic", tmp_path / "c")


# --------------------------------------------------------------------------------------- loading
def test_loader_decides_architecture_dtype_and_processor(tiny_models_dir):
    for role, arch in ROLE_ARCH.items():
        assert resolve_architecture(str(tiny_models_dir / role)) == arch
    assert resolve_dtype(ModelSpec(name_or_path="x")) == (torch.bfloat16 if torch.cuda.is_available() else torch.float32)
    model, processor = load_model(ModelSpec(name_or_path=str(tiny_models_dir / "teacher"), dtype="bfloat16"))
    assert model.dtype == torch.bfloat16 and not model.training
    if not torch.cuda.is_available():
        from transformers.utils import is_torchvision_available

        if not is_torchvision_available():  # frames go in as images
            assert processor.video_processor is None
            assert type(processor).__name__ == "Qwen2_5_VLProcessorFramesAsImages"
    model, _ = load_model(str(tiny_models_dir / "student"), for_training=True)
    assert model.training


def test_loader_errors_are_clear(tmp_path, tiny_models_dir):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match="model_type 'llama' is not a supported architecture"):
        load_model(str(tmp_path))
    with pytest.raises(ValueError, match="empty name_or_path"):
        load_model(ModelSpec())
    # an explicit architecture wins over config.json
    assert resolve_architecture(ModelSpec(name_or_path=str(tmp_path), architecture="qwen2_audio")) == "qwen2_audio"
    assert type(load_processor(str(tiny_models_dir / "omni"))).__name__.startswith("Qwen2_5OmniProcessor")


@pytest.mark.parametrize("role", ["teacher", "student", "omni"])
def test_a_loaded_processor_saves_and_reloads_the_same(tiny_models_dir, tmp_path, role):
    """Adapters and merged models carry their processor; VL/Omni ones must save without torchvision too."""
    processor = load_processor(str(tiny_models_dir / role))
    processor.save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text((tiny_models_dir / role / "config.json").read_text())
    again = load_processor(str(tmp_path))
    assert type(again).__name__ == type(processor).__name__
    assert again.tokenizer.get_vocab() == processor.tokenizer.get_vocab()
    assert again.chat_template == processor.chat_template
    for part in ("image_processor", "feature_extractor"):
        if hasattr(processor, part):
            assert getattr(again, part).to_dict() == getattr(processor, part).to_dict(), part
    if role != "student":
        saved = json.loads((tmp_path / "processor_config.json").read_text())
        assert saved["processor_class"] in ("Qwen2_5_VLProcessor", "Qwen2_5OmniProcessor")  # what stock loaders read
        assert "video_processor" in saved


# ------------------------------------------------------------------------------------------ chat
def test_messages_put_media_before_text():
    m = chat_template_messages("Q?", n_images=2, has_audio=True, assistant="A", system="S")
    assert [x["role"] for x in m] == ["system", "user", "assistant"]
    assert [c["type"] for c in m[1]["content"]] == ["image", "image", "audio", "text"]
    assert [c["type"] for c in chat_template_messages("Q", 3, video=True)[0]["content"]] == ["video", "text"]


def test_sft_style_audio_item_renders_the_audio_placeholder(tiny_models_dir):
    """The pinned SFT format ({"type": "audio", "path": ...}) must reach Qwen2-Audio's template."""
    _, processor = load_model(str(tiny_models_dir / "student"))
    messages = [{"role": "user", "content": [{"type": "audio", "path": "/x/a.wav"}, {"type": "text", "text": "Q?"}]}]
    prompt = render_prompt(processor, messages, add_generation_prompt=True)
    assert "<|audio_bos|><|AUDIO|><|audio_eos|>" in prompt and prompt.endswith("<|im_start|>assistant\n")
    assert messages[0]["content"][0] == {"type": "audio", "path": "/x/a.wav"}  # caller's data untouched


@pytest.mark.parametrize("role", ["teacher", "student", "omni"])
def test_encode_batch_left_pads_and_expands_placeholders(tiny_models_dir, role):
    arch = ROLE_ARCH[role]
    _, processor = load_model(str(tiny_models_dir / role))
    n_img = 0 if arch == "qwen2_audio" else 2
    has_audio = arch != "qwen2_5_vl"
    prompts = [render_prompt(processor, chat_template_messages(t, n_img, has_audio)) for t in ("Q?", "A much longer question here?")]
    batch = encode_batch(processor, arch, prompts, [_frames(n_img)] * 2 if n_img else None,
                         [_audio(1.0), _audio(3.0)] if has_audio else None, padding_side="left")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert mask[:, -1].all() and not mask[0, 0] and mask[1, 0]  # left padding: the shorter row starts padded
    assert (ids[0][mask[0] == 0] == processor.tokenizer.pad_token_id).all()
    if n_img:
        assert batch["image_grid_thw"].shape[0] == 2 * n_img
    if has_audio:
        assert batch["input_features"].shape[:2] == (2, 128)
        assert (ids == processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")).sum() > 2
    with pytest.raises(ValueError, match="prompts but"):
        encode_batch(processor, arch, prompts, [None], None)


def test_assistant_labels_mask_the_prompt(tiny_models_dir):
    _, processor = load_model(str(tiny_models_dir / "student"))
    chats = [chat_template_messages("Q?", 0, True, assistant="<answer> yes </answer>"),
             chat_template_messages("A longer question?", 0, True, assistant="no")]
    batch = encode_chats(processor, "qwen2_audio", chats, None, [_audio(1.0), _audio(1.0)],
                         add_generation_prompt=False, padding_side="right")
    labels = assistant_labels(processor, batch["input_ids"], batch["attention_mask"])
    tok = processor.tokenizer
    first = tok.decode(labels[0][labels[0] != -100])
    assert first.startswith("<answer> yes </answer><|im_end|>")
    assert tok.decode(labels[1][labels[1] != -100]).startswith("no<|im_end|>")
    with pytest.raises(ValueError, match="no assistant turn"):
        assistant_labels(processor, batch["input_ids"][:, :5])


# ----------------------------------------------------------------------------------- models.yaml
def test_models_yaml_names_the_papers_checkpoints():
    recipe = load_recipe(REPO / "configs" / "models.yaml")
    defaults = ModelsConfig()
    assert recipe.models == defaults
    assert recipe.models.teacher.name_or_path == "Qwen/Qwen2.5-VL-32B-Instruct"
    assert recipe.models.student.name_or_path == "Qwen/Qwen2-Audio-7B-Instruct"
    assert recipe.models.verifier.name_or_path == "gpt-4o-audio-preview"


def test_full_omni_checkpoint_loads_as_its_thinker(tmp_path, tiny_models_dir):
    """A Qwen2.5-Omni checkpoint (model_type qwen2_5_omni) is loaded as its thinker, weights intact."""
    import shutil

    from transformers import AutoConfig, Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration

    src = tiny_models_dir / "omni"
    thinker_cfg = AutoConfig.from_pretrained(src, local_files_only=True)
    torch.manual_seed(0)
    # enable_audio_output=False: the talker is not built (its default size is the real 7B's)
    full = Qwen2_5OmniForConditionalGeneration(Qwen2_5OmniConfig(thinker_config=thinker_cfg.to_dict(),
                                                                 enable_audio_output=False)).eval()
    out = tmp_path / "omni_full"
    full.save_pretrained(out)
    for name in ("tokenizer.json", "tokenizer_config.json", "processor_config.json", "chat_template.jinja",
                 "generation_config.json"):
        shutil.copy(src / name, out / name)
    assert json.loads((out / "config.json").read_text())["model_type"] == "qwen2_5_omni"
    model, processor = load_model(str(out))
    assert type(model).__name__ == "Qwen2_5OmniThinkerForConditionalGeneration"
    batch = _inputs(processor, "qwen2_5_omni_thinker")
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, full.thinker(**batch).logits)
