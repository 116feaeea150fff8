"""Typed configuration: one recipe (YAML) with a section per stage, overridable by dotted ``key=value``.

Every field has a default. Defaults the paper states are marked ``[paper]`` in the comments; the
ones it does not publish are ``[ours]`` (see docs in README, "Faithfulness"). Loading is strict: an
unknown key or a value of the wrong type raises :class:`ConfigError` naming the dotted key, because
a silently ignored typo in a training recipe costs a GPU-day.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from sightsound.prompts import StudentPromptStyle


class ConfigError(ValueError):
    """A recipe or override that does not fit the typed configuration."""


# --------------------------------------------------------------------------------------------- models
@dataclass
class ModelSpec:
    """Where a role's model lives and how to run it."""

    # HF id or local directory (hf/vllm backends), or the served model name (openai backend).
    name_or_path: str = ""
    backend: Literal["hf", "openai", "vllm"] = "hf"
    # "auto" reads config.json's model_type; set it explicitly for an API-served model.
    architecture: Literal["auto", "qwen2_5_vl", "qwen2_audio", "qwen2_5_omni_thinker"] = "auto"
    # "auto": bfloat16 on GPU, float32 on CPU.
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device_map: str | None = None
    attn_implementation: str | None = None  # None: transformers' default (sdpa where available)
    trust_remote_code: bool = False  # off unless a recipe turns it on
    # --- openai backend (any OpenAI-compatible chat-completions endpoint) ---
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"  # the *name* of the variable; the key itself is never stored
    max_concurrency: int = 8
    timeout_s: float = 120.0
    max_retries: int = 5
    backoff_base_s: float = 1.0  # first retry waits ~this long, doubling per attempt (with jitter)
    backoff_max_s: float = 60.0  # cap on one backoff wait (a longer Retry-After is still honoured)
    # How n samples are asked for: "native" = one call with n; "separate" = n calls (seed+k each);
    # "auto" = native, switching to separate once the endpoint rejects n > 1 (some audio models do).
    n_mode: Literal["auto", "native", "separate"] = "auto"
    image_format: Literal["png", "jpeg"] = "png"  # how frames travel as data URLs
    # At scale [ours]: client-side limits of one backend (one process; divide an account's limits by the
    # number of shard processes), honouring the server's Retry-After for every call, not only the refused one.
    rate_limit_rpm: int | None = None  # [ours] requests per minute (None: no cap)
    rate_limit_tpm: int | None = None  # [ours] tokens per minute, prompt estimate + max tokens x n (None: no cap)
    # [ours] sqlite file of answers keyed by (model, request content, sampling): a rerun after a crash or a
    # recipe change does not pay twice. Sampled requests without a seed are never cached (each is a new draw).
    cache_path: str | None = None
    # --- hf backend ---
    batch_size: int = 8  # requests per generate() call (each expands to n sequences)
    # Frames as one video (hf: needs torchvision, GPU machines; openai: one video_url part holding a
    # silent mp4) or as images; "auto": video where it works (openai: for a qwen2_5_vl endpoint only).
    frames_as: Literal["auto", "images", "video"] = "auto"
    video_fps: float = 2.0  # the rate the frames were sampled at (Qwen2.5-VL's temporal positions)
    # --- vllm backend ---
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None


@dataclass
class ModelsConfig:
    """Roles, not ids: recipes name the teacher, verifier and student once, here."""

    teacher: ModelSpec = field(default_factory=lambda: ModelSpec(name_or_path="Qwen/Qwen2.5-VL-32B-Instruct"))
    verifier: ModelSpec = field(
        default_factory=lambda: ModelSpec(
            name_or_path="gpt-4o-audio-preview", backend="openai", architecture="qwen2_audio"
        )
    )
    student: ModelSpec = field(default_factory=lambda: ModelSpec(name_or_path="Qwen/Qwen2-Audio-7B-Instruct"))


# ----------------------------------------------------------------------------------------------- data
@dataclass
class SynthConfig:
    """The synthetic audio-visual world (sightsound.synth)."""

    num: int = 200
    seed: int = 0
    p_consistent: float = 0.7  # [ours] how often what is drawn matches what sounds
    duration_s: float = 3.0
    sample_rate: int = 16000
    fps: float = 2.0  # frames per second written as PNG and mp4
    width: int = 224
    height: int = 112
    max_sources: int = 4
    write_mp4: bool = True
    families: list[str] = field(default_factory=list)  # empty: all question families


@dataclass
class DataConfig:
    """Which records the pipeline distils on."""

    source: Literal["synthetic", "avqa", "jsonl"] = "synthetic"
    annotations: str | None = None  # AVQA train_qa.json, or a JSONL of records
    media_root: str | None = None
    limit: int | None = None  # first N records (debugging)


# -------------------------------------------------------------------------------------------- stage 1
@dataclass
class TeachConfig:
    """Step 1: the vision teacher's audio-focused CoT with test-time scaling."""

    n: int = 4  # [paper] samples per question
    require_label_match: bool = True  # [ours] also require the unanimous choice to equal the label
    temperature: float = 1.0  # [ours]
    top_p: float = 1.0  # [ours]
    max_new_tokens: int = 512  # [ours]
    fps: float = 2.0  # [ours] frames sampled from the silent video
    max_frames: int = 16  # [ours]
    max_pixels: int = 360 * 420  # [ours] per frame
    # One seed for every request: backends that seed per request (vLLM, OpenAI-compatible servers)
    # then give a record the same samples whatever batch it lands in; the hf backend batches only
    # requests with equal sampling parameters, so a per-record seed would stop it batching records.
    seed: int = 0
    batch_size: int = 4  # records per backend call (each asks for n samples)
    prompt: str = "teacher"  # template name in sightsound/prompts/
    # [ours] where the teacher's frames come from: "auto" = the record's extracted frames when it has
    # them (lossless PNGs, thinned to max_frames), else its video sampled at fps; or force one.
    frames_from: Literal["auto", "video", "frames"] = "auto"
    # [ours] Processes decoding frames ahead of the backend (0: one per CPU core). One decode takes
    # ~1 s per 10 s clip at 16 frames: on one thread a 32B teacher server would wait on it.
    decode_workers: int = 0


# -------------------------------------------------------------------------------------------- stage 2
@dataclass
class VerifyConfig:
    """Step 2: audio-grounded validation of the teacher's <think>."""

    samples: Literal["all", "first"] = "all"  # [ours] which consistent samples are fact-checked
    votes: int = 1  # [paper: 1] majority of k verifier samples
    temperature: float = 0.0  # greedy for one vote; sampling is used when votes > 1
    vote_temperature: float = 1.0  # [ours] sampling temperature of the k replies when votes > 1
    top_p: float = 1.0  # [ours]
    max_new_tokens: int = 8
    seed: int = 0
    batch_size: int = 8
    prompt: str = "verifier"
    # How a reply is read (sightsound.verdicts.RULES): strict [paper] = the whole reply must be Yes or
    # No; final [ours] = its last word decides (the SightSound-mini verifier writes a checklist first).
    verdict: Literal["strict", "final"] = "strict"


# -------------------------------------------------------------------------------------------- stage 3
@dataclass
class LoraSpec:
    r: int = 16  # [ours]
    alpha: int = 32  # [ours]
    dropout: float = 0.05  # [ours]
    # Language model only: a plain ["q_proj", ...] would also hit the audio encoder's attention.
    target_modules: str = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


# A training section's TRL_KEYS are fields of TRL's SFTConfig / GRPOConfig of the same name and meaning,
# passed through unchanged (sightsound.train.common.trl_config); its other keys are SightSound's own.

# The loss and scheduler names TRL 1.16 and transformers 5 accept (tests/test_train_config.py checks both),
# refused at load time: TRL reads loss_type only at the first loss, after the model and the first
# generations, and a scheduler name only once training starts.
LossType = Literal["grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo"]
SchedulerType = Literal["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                        "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "cosine_warmup_with_min_lr",
                        "warmup_stable_decay", "greedy"]


@dataclass
class SFTSection:
    """LoRA SFT of the student on verified CoTs (or labels, for the baseline)."""

    TRL_KEYS: ClassVar[tuple[str, ...]] = (
        "learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
        "gradient_accumulation_steps", "lr_scheduler_type", "save_steps", "save_total_limit", "logging_steps", "seed")

    model: str = ""  # empty: models.student.name_or_path
    train_file: str = ""  # chat-messages JSONL from build-sft
    output_dir: str = ""
    lora: LoraSpec = field(default_factory=LoraSpec)
    use_lora: bool = True  # [paper] LoRA
    learning_rate: float = 1e-4  # [ours]
    num_train_epochs: float = 2.0  # [ours]
    max_steps: int = -1
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.03  # a share of the total steps, 0 <= warmup_ratio < 1
    lr_scheduler_type: SchedulerType = "cosine"
    max_length: int = 2048  # the collator's: it cuts the answer, never the audio (TRL's own is off)
    save_steps: int = 200
    save_total_limit: int = 2
    logging_steps: int = 10
    seed: int = 0
    merge: bool = False  # also write a merged plain model directory
    gradient_checkpointing: bool = False
    bf16: bool | None = None  # None: on GPU only
    # "as_is": train on the assistant turn of the set; "label_only": the paper's label-only baseline on
    # the same records, the assistant turn replaced by "<answer> The correct answer is: B. cat </answer>".
    target: Literal["as_is", "label_only"] = "as_is"
    resume: str = "auto"  # "auto": latest checkpoint in output_dir if any; "never"; or a checkpoint dir
    validate_audio: bool = True  # decode every clip before step 1 (a bad file stops the run, listing offenders)
    report_to: list[str] = field(default_factory=list)  # e.g. ["tensorboard"]; metrics.jsonl is always written


@dataclass
class GRPOSection:
    """GRPO of the student with format + accuracy rewards and a KL reference."""

    TRL_KEYS: ClassVar[tuple[str, ...]] = (
        "learning_rate", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
        "steps_per_generation", "num_generations", "num_iterations", "temperature", "top_p", "beta", "epsilon",
        "loss_type", "scale_rewards", "max_completion_length", "lr_scheduler_type", "max_grad_norm", "logging_steps",
        "log_completions", "save_steps", "save_total_limit", "seed")

    model: str = ""  # empty: models.student.name_or_path
    init_adapter: str | None = None  # the SFT adapter to start from (None: the pretrained student)
    init_mode: Literal["continue", "merge"] = "continue"  # [ours] train the SFT adapter, or merge it and add a new one
    train_file: str = ""  # prompt set with the distilled label
    output_dir: str = ""
    lora: LoraSpec = field(default_factory=LoraSpec)
    use_lora: bool = True
    reward_funcs: list[str] = field(default_factory=lambda: ["format", "accuracy"])  # [paper]
    reward_weights: list[float] = field(default_factory=lambda: [1.0, 1.0])  # [ours]
    num_generations: int = 8  # [ours, R1-AQA] group size
    temperature: float = 1.0  # [ours, R1-AQA]
    beta: float = 0.04  # [ours] KL coefficient to the frozen reference (the paper uses a KL reference)
    learning_rate: float = 1e-5  # [ours] R1-AQA's 1e-6 was full fine-tuning; a LoRA delta takes ~10x that
    max_steps: int = 1000  # [ours, R1-AQA]
    per_device_train_batch_size: int = 8  # completions per device batch (multiple of num_generations)
    gradient_accumulation_steps: int = 1
    num_iterations: int = 1
    max_prompt_length: int | None = None  # longer prompts are refused (never truncated: audio tokens would break)
    max_completion_length: int = 512
    save_steps: int = 100
    save_total_limit: int = 2
    logging_steps: int = 1
    seed: int = 0
    bf16: bool | None = None
    top_p: float = 1.0  # [ours]
    epsilon: float = 0.2  # [ours, TRL default] PPO-style clip range
    # [ours, TRL 1.16 default] dapo: token-level mean over the batch; grpo: per-sequence mean (R1-AQA).
    loss_type: LossType = "dapo"
    scale_rewards: Literal["group", "batch", "none"] = "group"  # [ours] std normalisation of advantages
    lr_scheduler_type: SchedulerType = "constant"  # [ours] (R1-AQA: linear decay)
    warmup_ratio: float = 0.0  # a share of the total steps, 0 <= warmup_ratio < 1
    max_grad_norm: float = 1.0
    gradient_checkpointing: bool = False
    steps_per_generation: int | None = None  # None: gradient_accumulation_steps (TRL's default)
    log_completions: bool = False  # print a sample of completions at each logging step
    merge: bool = False  # also write a merged plain model directory
    resume: str = "auto"  # "auto": latest checkpoint in output_dir if any; "never"; or a checkpoint dir
    validate_audio: bool = True  # decode every clip before step 1 (a bad file stops the run, listing offenders)
    report_to: list[str] = field(default_factory=list)  # e.g. ["tensorboard"]; metrics.jsonl is always written


@dataclass
class R1AQASection:
    """The R1-AQA baseline (system ``r1_aqa``; Li et al. 2025, xiaomi-research/r1-aqa): label-only GRPO
    with R1-AQA's own prompt, format reward, loss and schedule. Every other setting is ``grpo``'s, so it
    differs from ``label_grpo`` only where R1-AQA's recipe does."""

    # [ours] Labels on the verified records: "distilled" (the teacher's unanimous, fact-checked
    # choice, as the paper's label-only baselines) or "ground_truth" (what R1-AQA trained on).
    labels: Literal["distilled", "ground_truth"] = "distilled"
    prompt: Literal["r1_aqa", "paper"] = "r1_aqa"  # [R1-AQA] "... Output the final answer in <answer> </answer>."
    reward_funcs: list[str] = field(default_factory=lambda: ["answer_format", "accuracy"])  # [R1-AQA]
    reward_weights: list[float] = field(default_factory=lambda: [1.0, 1.0])  # [R1-AQA] unweighted sum
    loss_type: LossType = "grpo"  # [R1-AQA] per-sequence mean of token losses, then mean over sequences
    lr_scheduler_type: SchedulerType = "linear"  # [R1-AQA] the HF Trainer default: linear decay to 0
    max_completion_length: int = 256  # [R1-AQA]


# ------------------------------------------------------------------------------------------ evaluate
@dataclass
class EvalConfig:
    """Evaluation of a student (``sightsound eval``): greedy, batched, the benchmark's own scoring rule."""

    benchmarks: list[str] = field(default_factory=lambda: ["avqa", "mmau", "music-avqa"])
    mmau_task: str | None = "sound"  # [paper] MMAU test-mini, Sound (null: all three tasks)
    # Detected from the annotation file's content and recorded in every result (the revisions score
    # very differently); set it ("original", "v05.15.25" or a revision id) to assert what you expect.
    mmau_version: str | None = None
    mmar_modality: str | None = None  # MMAR "modality" filter (null: all 1,000 items)
    music_avqa_types: list[str] = field(default_factory=lambda: ["Audio"])  # [ours] the audio-answerable types
    # Annotation file and media folder per benchmark name (the command line's --annotations and
    # --media-root win over these).
    annotations: dict[str, str] = field(default_factory=dict)
    media_roots: dict[str, str] = field(default_factory=dict)
    # The student prompt of `sightsound eval` [paper: "<audio> (AVQA Question) ."]; "r1_aqa" adds
    # R1-AQA's "Please choose ... Output the final answer in <answer> </answer>." The pipeline
    # evaluates every system with the prompt it was trained with, whatever this says.
    prompt: StudentPromptStyle = "paper"
    batch_size: int = 8
    max_new_tokens: int = 512
    limit: int | None = None


# ------------------------------------------------------------------------------------------ pipeline
@dataclass
class PipelineConfig:
    """How ``sightsound run`` strings the stages together (all [ours])."""

    test_num: int = 100  # held-out synthetic test records (eval benchmark "synthetic")
    test_seed: int | None = None  # base seed of the test split; null: synth.seed + test_seed_offset
    test_seed_offset: int = 100_000  # keeps the default test split disjoint from the distillation split
    eval_distill_records: bool = True  # also evaluate pretrained and final students on the distilled records (report)
    silent_audio_control: bool = True  # run the silent-audio control for the pretrained and final systems
    shuffle_choices_seed: int | None = 1  # run the shuffled-options control with this seed (null: off)
    html_report: bool = True
    progress: bool = True
    # The SFT target's answer wording: "letter_text" = "The correct answer is: B. cat" [paper];
    # "text" = "The correct answer is: cat" [ours] for models too small to learn letters (SightSound-mini).
    answer_style: Literal["letter_text", "text"] = "letter_text"
    # The student prompt of every training set and of the systems trained on them (R1-AQA's aside):
    # "paper" = "<audio> (AVQA Question) ." [paper]; "plain" = the same without the figure's trailing
    # " ." [ours]: what SightSound-mini's students were pretrained on (a tiny model trained from
    # scratch does not shrug off a suffix it never saw: measured 45 -> 24 % for the pretrained student).
    student_prompt: Literal["paper", "plain"] = "paper"
    # [ours] The label-only baseline's set: "per_record" = one line per record whose CoT the
    # verifier kept (the CoT set's records, each once: a label repeated per kept sample adds identical
    # lines, not information); "per_sample" = mirror the CoT set line for line (a record with 3 kept
    # samples appears 3 times, the CoT set's weighting).
    label_set: Literal["per_record", "per_sample"] = "per_record"
    # Preflight (`sightsound run --preflight`, and before every run unless --no-preflight):
    preflight_missing_train: float = 0.05  # [ours] share of distillation clips that may be missing (YouTube clips vanish)
    preflight_missing_eval: float = 0.0  # [ours] a benchmark scored on fewer items is not the benchmark
    min_free_disk_gb: float = 10.0  # [ours] adapters, checkpoints and eval outputs of six systems
    preflight_timeout_s: float = 5.0  # [ours] per endpoint / hub request


# ------------------------------------------------------------------------------------------- limits
@dataclass
class LimitsConfig:
    """Bounds on inputs, checked before any model loads (all [ours]: the paper sets none).

    Benchmark questions are under 500 characters and options under 200; the bounds leave ample room
    and stop a runaway input (a 100,000-character question took a teacher to 22 GB) with one line.
    """

    max_question_chars: int = 4000  # [ours]
    max_choice_chars: int = 1000  # [ours]
    max_cot_chars: int = 20000  # [ours] a teacher <think> sent to the verifier (longer: not sent, verdict no)
    # [ours] Qwen2-Audio hears 30 s; a longer clip is cut to this (a WARNING, counted in the stats as
    # audio_truncated) or, with audio_policy: refuse, becomes that record's error entry.
    max_audio_s: float = 30.0
    audio_policy: Literal["truncate", "refuse"] = "truncate"


# ----------------------------------------------------------------------------------------------- recipe
@dataclass
class Recipe:
    """A whole SightSound-R1 run: every stage reads its own section."""

    name: str = "sightsound"
    output_dir: str = "runs/sightsound"
    seed: int = 0
    models: ModelsConfig = field(default_factory=ModelsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    teach: TeachConfig = field(default_factory=TeachConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    sft: SFTSection = field(default_factory=SFTSection)
    grpo: GRPOSection = field(default_factory=GRPOSection)
    r1_aqa: R1AQASection = field(default_factory=R1AQASection)
    eval: EvalConfig = field(default_factory=EvalConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    # Systems the pipeline trains and evaluates (paper's comparison). Names: pretrained,
    # pretrained_r1_aqa_prompt, label_sft, label_grpo, r1_aqa, cot_sft_unverified, cot_sft, sightsound_r1.
    systems: list[str] = field(default_factory=lambda: ["pretrained", "label_sft", "label_grpo", "cot_sft", "sightsound_r1"])


# ------------------------------------------------------------------------------------------ machinery
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it (ints widen to floats)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: expected one of {list(args)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        (item_tp,) = args or (Any,)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        _, val_tp = args or (str, Any)
        return {str(k): _coerce(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping for section {tp.__name__}, got {value!r}")
        return from_dict(tp, value, prefix=key)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected bool, got {type(value).__name__} {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected int, got {type(value).__name__} {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "3e-3" (no dot) as a string; it is plainly a float
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected float, got {type(value).__name__} {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected str, got {type(value).__name__} {value!r}")
    raise ConfigError(f"{key}: unsupported annotation {tp!r}")


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys and wrong types raise ConfigError."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in (data or {}).items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ConfigError(f"unknown config key '{dotted}' (known in this section: {', '.join(sorted(names))})")
        kwargs[key] = _coerce(value, hints[key], dotted)
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings (values parsed as YAML scalars/lists) to a nested mapping."""
    data = dict(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"override {key}: cannot parse value {raw!r}: {e}") from None
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        node[parts[-1]] = value
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


# Keys a stage's ``OUT.config.yaml`` records beside the recipe (the model's weights fingerprint,
# :mod:`sightsound.stage_io`): a record of the run, not a setting, so reading that file back as a
# recipe drops them.
RECORD_ONLY_KEYS = ("weights",)


def load_recipe(path: str | Path | None = None, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe YAML (or the defaults) and apply dotted overrides; strict about keys and types."""
    data = load_yaml(path) if path else {}
    data = {k: v for k, v in (data or {}).items() if k not in RECORD_ONLY_KEYS}
    data = apply_overrides(data, overrides or [])
    recipe = from_dict(Recipe, data)
    check_settings(recipe)
    return recipe


def check_settings(recipe: Recipe) -> None:
    """Sampling, generation and limit settings that no model could honour, refused before any model loads.

    Without this, ``teach.temperature=-1`` loaded the teacher, then wrote an error entry per record.
    """
    import math

    def need(ok: bool, key: str, value: Any, rule: str) -> None:
        if not ok:
            raise ConfigError(f"{key}: {value!r} is not allowed ({rule})")

    def finite(x: float) -> bool:
        return isinstance(x, (int, float)) and math.isfinite(x)

    for sec, temps in (("teach", ("temperature",)), ("verify", ("temperature", "vote_temperature")),
                       ("grpo", ("temperature",))):
        cfg = getattr(recipe, sec)
        for t in temps:
            v = getattr(cfg, t)
            need(finite(v) and v >= 0, f"{sec}.{t}", v, "a finite number >= 0")
        need(finite(cfg.top_p) and 0 < cfg.top_p <= 1, f"{sec}.top_p", cfg.top_p, "0 < top_p <= 1")
    for key, v in (("teach.max_new_tokens", recipe.teach.max_new_tokens), ("teach.n", recipe.teach.n),
                   ("verify.max_new_tokens", recipe.verify.max_new_tokens), ("verify.votes", recipe.verify.votes),
                   ("eval.max_new_tokens", recipe.eval.max_new_tokens), ("eval.batch_size", recipe.eval.batch_size),
                   ("grpo.max_completion_length", recipe.grpo.max_completion_length),
                   ("grpo.num_generations", recipe.grpo.num_generations),
                   ("limits.max_question_chars", recipe.limits.max_question_chars),
                   ("limits.max_choice_chars", recipe.limits.max_choice_chars),
                   ("limits.max_cot_chars", recipe.limits.max_cot_chars)):
        need(v >= 1, key, v, "must be >= 1")
    need(recipe.eval.limit is None or recipe.eval.limit >= 1, "eval.limit", recipe.eval.limit, "must be >= 1 or null")
    need(recipe.data.limit is None or recipe.data.limit >= 1, "data.limit", recipe.data.limit, "must be >= 1 or null")
    need(finite(recipe.limits.max_audio_s) and recipe.limits.max_audio_s > 0, "limits.max_audio_s",
         recipe.limits.max_audio_s, "a finite number of seconds > 0")
    for sec in ("sft", "grpo"):  # transformers reads a warmup of 1 or more as a number of steps
        v = getattr(recipe, sec).warmup_ratio
        need(finite(v) and 0 <= v < 1, f"{sec}.warmup_ratio", v, "a share of the total steps: 0 <= warmup_ratio < 1")


def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg) if dataclasses.is_dataclass(cfg) else cfg, sort_keys=False, allow_unicode=True)
