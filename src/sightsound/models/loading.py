"""Load a role's model and processor: the one place that decides class, processor, dtype, devices.

Works the same for a Hugging Face id (``Qwen/Qwen2-Audio-7B-Instruct``) and a local directory
(including the tiny models of :mod:`sightsound.models.tiny`):

- architecture: ``spec.architecture``, or ``model_type`` in ``config.json`` when it is ``"auto"``;
- dtype: ``spec.dtype``, where ``"auto"`` means bfloat16 on a GPU and float32 on CPU;
- device map: ``spec.device_map``, default ``"auto"`` on a GPU for inference, none on CPU or for
  training (the trainer places the model);
- attention: ``spec.attn_implementation`` (None: transformers' default, sdpa where available);
- ``trust_remote_code`` from the spec (off by default); weights from safetensors only.

The VL and Omni processors need a video processor whose class needs torchvision, which does not
work on CPU machines. Without torchvision the processor is built from its parts
with the PIL image processor and *no* video processor, and frames are passed as images.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

from sightsound.config import ModelSpec

log = logging.getLogger(__name__)


def silence_library_warnings() -> None:
    """Training passes transformers 5's names (activation_checkpointing); PEFT 0.21 (wrapping or loading
    an adapter) and TRL 1.16 still read the deprecated ``model.is_gradient_checkpointing`` inside, which
    would print a FutureWarning about code that is not ours on every training and adapter evaluation.

    Called on every model load, not once at import: a ``warnings.catch_warnings`` block around the
    first import (a test harness, a notebook cell) would otherwise take the filter away with it.
    """
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

# config.json model_type -> our architecture name. A full Qwen2.5-Omni checkpoint ("qwen2_5_omni")
# is loaded as its thinker: the text-generating part (the talker only speaks).
MODEL_TYPES = {
    "qwen2_5_vl": "qwen2_5_vl",
    "qwen2_audio": "qwen2_audio",
    "qwen2_5_omni_thinker": "qwen2_5_omni_thinker",
    "qwen2_5_omni": "qwen2_5_omni_thinker",
}
# Which inputs each architecture takes.
TAKES_IMAGES = {"qwen2_5_vl": True, "qwen2_audio": False, "qwen2_5_omni_thinker": True}
TAKES_AUDIO = {"qwen2_5_vl": False, "qwen2_audio": True, "qwen2_5_omni_thinker": True}


def as_spec(spec: ModelSpec | str) -> ModelSpec:
    return ModelSpec(name_or_path=spec) if isinstance(spec, str) else spec


def _is_local(name_or_path: str) -> bool:
    return Path(name_or_path).expanduser().is_dir()


def read_model_type(name_or_path: str, trust_remote_code: bool = False) -> str:
    """``model_type`` from a local ``config.json``, or from the hub's (cached or offline) config."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise FileNotFoundError(f"{path}: no config.json (not a Hugging Face model directory)")
        return json.loads(cfg_file.read_text(encoding="utf-8")).get("model_type", "")
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code).model_type


def resolve_architecture(spec: ModelSpec | str) -> str:
    spec = as_spec(spec)
    if spec.architecture != "auto":
        return spec.architecture
    model_type = read_model_type(spec.name_or_path, spec.trust_remote_code)
    if model_type not in MODEL_TYPES:
        raise ValueError(
            f"{spec.name_or_path}: model_type {model_type!r} is not a supported architecture "
            f"(supported: {', '.join(sorted(MODEL_TYPES))}); set architecture explicitly if it is compatible"
        )
    return MODEL_TYPES[model_type]


def resolve_dtype(spec: ModelSpec | str):
    import torch

    spec = as_spec(spec)
    if spec.dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return getattr(torch, spec.dtype)


def model_class(arch: str):
    import transformers

    return {
        "qwen2_5_vl": transformers.Qwen2_5_VLForConditionalGeneration,
        "qwen2_audio": transformers.Qwen2AudioForConditionalGeneration,
        "qwen2_5_omni_thinker": transformers.Qwen2_5OmniThinkerForConditionalGeneration,
    }[arch]


def torchvision_works() -> bool:
    from transformers.utils import is_torchvision_available

    return bool(is_torchvision_available())


# ----------------------------------------------------------------------------------------- processor
def _frames_processor_class(base):
    """``base`` (a VL/Omni processor class) that accepts a missing video processor.

    transformers 5.24 type-checks every sub-processor and refuses ``video_processor=None``; with no
    torchvision there is no video processor class to give it. Frames then go in as images.
    """

    class FramesAsImages(base):  # type: ignore[misc, valid-type]
        def check_argument_for_proper_class(self, argument_name, argument):
            if argument_name == "video_processor" and argument is None:
                return None
            return super().check_argument_for_proper_class(argument_name, argument)

        def save_pretrained(self, save_directory, *args, **kwargs):
            """The stock save fails on the missing video processor; Trainer checkpoints, adapters and
            merged models call this, so it writes the files :func:`load_processor` (and, where
            torchvision works, the stock ``AutoProcessor``) reads."""
            if self.video_processor is not None:
                return super().save_pretrained(save_directory, *args, **kwargs)
            write_processor_files(save_directory, base.__name__, self.tokenizer, self.image_processor,
                                  self.chat_template, getattr(self, "feature_extractor", None))
            return []

    FramesAsImages.__name__ = FramesAsImages.__qualname__ = f"{base.__name__}FramesAsImages"
    return FramesAsImages


def write_processor_files(out: str | Path, processor_class: str, tokenizer, image_processor, template: str,
                          feature_extractor=None) -> None:
    """A VL/Omni processor directory in transformers 5's layout, written without a video processor.

    The stock processors need a video processor, whose class needs torchvision (absent on CPU
    machines), both to save and to load. Its config is plain JSON, so it is written by hand from the
    image processor's values: where torchvision works the stock ``AutoProcessor`` loads the
    directory as usual, and :func:`load_processor` loads it without torchvision.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    config: dict[str, Any] = {"processor_class": processor_class}
    ip = image_processor.to_dict()
    config["image_processor"] = ip
    video = {k: v for k, v in ip.items() if k != "image_processor_type"}
    video.update({"video_processor_type": "Qwen2VLVideoProcessor", "fps": 2.0, "do_sample_frames": False})
    config["video_processor"] = video
    if feature_extractor is not None:
        config["feature_extractor"] = feature_extractor.to_dict()
    (out / "processor_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (out / "chat_template.jinja").write_text(template)


def _chat_template(path: str, tokenizer) -> str | None:
    """The processor's chat template: ``chat_template.jinja`` (v5), ``chat_template.json`` (v4), or the tokenizer's."""
    from huggingface_hub import try_to_load_from_cache

    def find(filename: str) -> Path | None:
        local = Path(path).expanduser() / filename
        if local.is_file():
            return local
        cached = try_to_load_from_cache(path, filename)
        return Path(cached) if isinstance(cached, str) else None

    if (jinja := find("chat_template.jinja")) is not None:
        return jinja.read_text(encoding="utf-8")
    if (legacy := find("chat_template.json")) is not None:
        return json.loads(legacy.read_text(encoding="utf-8")).get("chat_template")
    return getattr(tokenizer, "chat_template", None)


def load_processor(spec: ModelSpec | str, arch: str | None = None):
    """The architecture's processor; for VL/Omni without torchvision, one with no video processor."""
    from transformers import AutoProcessor, AutoTokenizer

    spec = as_spec(spec)
    arch = arch or resolve_architecture(spec)
    path = spec.name_or_path
    kwargs: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if _is_local(path):
        kwargs["local_files_only"] = True
    if arch == "qwen2_audio" or torchvision_works():
        return AutoProcessor.from_pretrained(path, **kwargs)

    from transformers import Qwen2_5_VLProcessor, Qwen2_5OmniProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(path, **kwargs)
    template = _chat_template(path, tokenizer)
    if arch == "qwen2_5_vl":
        cls = _frames_processor_class(Qwen2_5_VLProcessor)
        return cls(image_processor=image_processor, tokenizer=tokenizer, video_processor=None, chat_template=template)
    if arch == "qwen2_5_omni_thinker":
        from transformers import WhisperFeatureExtractor

        feature_extractor = WhisperFeatureExtractor.from_pretrained(path, **kwargs)
        cls = _frames_processor_class(Qwen2_5OmniProcessor)
        return cls(image_processor=image_processor, video_processor=None, feature_extractor=feature_extractor,
                   tokenizer=tokenizer, chat_template=template)
    raise ValueError(f"unknown architecture {arch!r}")


# --------------------------------------------------------------------------------------------- model
def looks_like_path(name_or_path: str) -> bool:
    """A local path, not a hub id: hub ids are ``name`` or ``org/name``; paths start with / . ~ or go deeper."""
    return name_or_path.startswith(("/", ".", "~")) or name_or_path.count("/") >= 2 or "\\" in name_or_path


def load_model(spec: ModelSpec | str, for_training: bool = False):
    """Load ``(model, processor)`` for a role's :class:`ModelSpec` (or a bare id/path).

    Whatever goes wrong (a missing directory, a corrupt ``config.json``, truncated or ``.bin``-only
    weights) is raised as one :class:`~sightsound.errors.ModelLoadError` line naming the model and
    the reason, before anything else of the stage runs.
    """
    from sightsound.errors import ModelLoadError

    silence_library_warnings()
    spec = as_spec(spec)
    if not spec.name_or_path:
        raise ValueError("model spec has an empty name_or_path")
    name = spec.name_or_path
    if looks_like_path(name) and not Path(name).expanduser().exists():
        # Else transformers reads it as a hub id and fails with "Repo id must be in the form ...".
        raise ModelLoadError(f"{name}: model directory not found")
    try:
        return _load_model(spec, for_training)
    except (ModelLoadError, FileNotFoundError):  # already one line naming the model
        raise
    except Exception as e:  # every loading failure becomes one line; the trace goes to DEBUG
        log.debug("loading %s failed", name, exc_info=True)
        first = (str(e).strip().splitlines() or [""])[0][:300]
        raise ModelLoadError(f"{name}: cannot load the model ({type(e).__name__}: {first})") from None


def _load_model(spec: ModelSpec, for_training: bool):
    import torch

    arch = resolve_architecture(spec)
    dtype = resolve_dtype(spec)
    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "trust_remote_code": spec.trust_remote_code,
        "use_safetensors": True,  # never unpickle weights
    }
    if _is_local(spec.name_or_path):
        kwargs["local_files_only"] = True
    if spec.attn_implementation:
        kwargs["attn_implementation"] = spec.attn_implementation
    device_map = spec.device_map
    if device_map is None and torch.cuda.is_available() and not for_training:
        device_map = "auto"
    if device_map is not None:
        kwargs["device_map"] = device_map

    model_type = read_model_type(spec.name_or_path, spec.trust_remote_code)
    if model_type == "qwen2_5_omni":
        # A full Omni checkpoint (thinker + speech talker): load only the thinker's weights. The
        # full class would also build the talker and unpickle its speaker file (spk_dict.pt).
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(spec.name_or_path, trust_remote_code=spec.trust_remote_code,
                                            **({"local_files_only": True} if "local_files_only" in kwargs else {}))
        model, info = model_class(arch).from_pretrained(spec.name_or_path, config=config.thinker_config,
                                                        output_loading_info=True, **kwargs)
        if info.get("missing_keys"):
            raise ValueError(f"{spec.name_or_path}: thinker weights missing from the Omni checkpoint: "
                             f"{sorted(info['missing_keys'])[:5]} ...")
    else:
        model = model_class(arch).from_pretrained(spec.name_or_path, **kwargs)
    model.train(for_training)
    processor = load_processor(spec, arch)
    log.info("loaded %s (%s, %s) on %s", spec.name_or_path, arch, str(dtype).replace("torch.", ""),
             getattr(model, "device", "?"))
    return model, processor


def describe_model(spec: ModelSpec | str, model=None) -> dict[str, Any]:
    """Identity recorded in artefacts: path, architecture, dtype, revision. Never secrets."""
    spec = as_spec(spec)
    out: dict[str, Any] = {"name_or_path": spec.name_or_path, "architecture": resolve_architecture(spec)}
    if model is not None:
        out["dtype"] = str(model.dtype).replace("torch.", "")
        out["model_class"] = type(model).__name__
        out["num_parameters"] = int(sum(p.numel() for p in model.parameters()))
        revision = getattr(model.config, "_commit_hash", None)
        if revision:
            out["revision"] = revision
    return out
