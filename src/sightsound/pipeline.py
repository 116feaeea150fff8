"""The whole SightSound-R1 pipeline into one run directory (the library of ``sightsound run``).

data -> teach -> verify -> build-sft -> train (each system) -> eval (each system x benchmark) ->
results, report. Every stage is fingerprinted (:mod:`sightsound.stages`): a rerun skips what is
done, resumes what was interrupted and redoes what changed.

Run-directory layout (stable; scripts and ``sightsound report`` rely on it)::

    RUN/recipe.yaml                    the resolved recipe
    RUN/manifest.json                  per stage: inputs, outputs, fingerprint, status, timing, packages
    RUN/logs/run.log
    RUN/data/train/data.jsonl          records distilled on (+ media for synthetic data)
    RUN/data/test/data.jsonl           held-out synthetic test records (when eval includes "synthetic")
    RUN/teach/traces.jsonl             Step 1 (+ .stats.json)
    RUN/verify/verified.jsonl          Step 2 (+ .stats.json)
    RUN/sft_data/{cot,label,cot_unverified,grpo,grpo_r1_aqa}.jsonl
    RUN/train/<system>/                adapters, checkpoints, metrics.jsonl
    RUN/eval/<system>/<benchmark>.json (+ .predictions.json; distill.* = the distillation records)
    RUN/results.json                   systems x benchmarks accuracies, stage yields, stage figures, versions
    RUN/report.md, RUN/plots/*.png (grpo_signal.png: GRPO's signal), RUN/report.html

Systems (the paper's comparison, :mod:`sightsound.systems`): each is trained as :data:`TRAINING` says
(``r1_aqa`` with R1-AQA's prompt, answer-only format reward, per-sequence loss, linear decay and 256
tokens: section ``r1_aqa``) and evaluated with the prompt it was trained with (:func:`eval_prompt`),
recorded in its results.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from sightsound.config import ConfigError, Recipe, to_dict
from sightsound.jsonl import (
    atomic_write_json,
    atomic_write_text,
    output_lock,
    read_json,
    read_jsonl,
)
from sightsound.runinfo import config_hash, package_versions, write_resolved_config
from sightsound.stages import PREV_SUFFIX, Stage, StageRunner, within
from sightsound.systems import SYSTEMS, UNTRAINED

log = logging.getLogger(__name__)

# system -> (trainer, training set, starts from)
TRAINING = {
    "label_sft": ("sft", "label", None),
    "cot_sft_unverified": ("sft", "cot_unverified", None),
    "cot_sft": ("sft", "cot", None),
    "label_grpo": ("grpo", "grpo", None),
    "r1_aqa": ("grpo", "grpo_r1_aqa", None),
    "sightsound_r1": ("grpo", "grpo", "cot_sft"),
}


def eval_prompt(recipe: Recipe, system: str) -> str:
    """The student prompt a system is evaluated with: the one it was trained with."""
    if system == "r1_aqa":
        return recipe.r1_aqa.prompt
    return "r1_aqa" if system == "pretrained_r1_aqa_prompt" else recipe.pipeline.student_prompt


@dataclasses.dataclass
class Layout:
    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data" / "train" / "data.jsonl"

    @property
    def test_data(self) -> Path:
        return self.root / "data" / "test" / "data.jsonl"

    @property
    def traces(self) -> Path:
        return self.root / "teach" / "traces.jsonl"

    @property
    def verified(self) -> Path:
        return self.root / "verify" / "verified.jsonl"

    def sft_set(self, name: str) -> Path:
        return self.root / "sft_data" / f"{name}.jsonl"

    def train(self, system: str) -> Path:
        return self.root / "train" / system

    def eval(self, system: str, bench: str) -> Path:
        return self.root / "eval" / system / f"{bench}.json"

    @property
    def results(self) -> Path:
        return self.root / "results.json"


def _check_systems(recipe: Recipe) -> list[str]:
    unknown = [s for s in recipe.systems if s not in SYSTEMS]
    if unknown:
        raise ConfigError(f"systems: unknown {unknown} (known: {', '.join(SYSTEMS)})")
    systems = list(dict.fromkeys(recipe.systems))
    if "sightsound_r1" in systems and "cot_sft" not in systems:
        systems.insert(systems.index("sightsound_r1"), "cot_sft")  # R1 starts from the CoT-SFT adapter
    return systems


# ------------------------------------------------------------------------------------------- stages
def model_config(spec) -> dict[str, Any]:
    """A model's part of a stage's fingerprint: its spec and its weights' content
    (:func:`~sightsound.runinfo.model_fingerprint`), so retrained weights at the same path redo the stage.

    A local model directory is identified by its content alone, not its path: the shipped mini
    models resolve to an absolute path inside the checkout, and a run resumed from another clone
    (or after moving the repository) must not redo every stage for the same weights.
    """
    from sightsound.runinfo import model_fingerprint

    if spec.backend == "openai":  # a served model: its name and endpoint are all a client can know
        return to_dict(spec)
    cfg = to_dict(spec) | {"weights": model_fingerprint(spec.name_or_path)}
    if Path(spec.name_or_path).is_dir():
        cfg.pop("name_or_path")
    return cfg


_RUN_PATH_KEYS = ("train_file", "output_dir", "init_adapter")  # the sft/grpo fields stage_recipe sets


def run_relative(cfg: dict[str, Any], root: Path) -> dict[str, Any]:
    """A stage's config with the paths inside its run directory written relative to it (``<run>/...``).

    A training section names its training set, output folder and starting adapter, all inside the run
    directory; their content is already in the fingerprint (the stage's inputs), and their spelling
    must not be: the same run reached as ``runs/x``, ``./runs/x``, ``/abs/runs/x`` or after moving the
    folder must find its finished stages up to date instead of redoing every training.
    """
    out = dict(cfg)
    for key in _RUN_PATH_KEYS:
        rel = within(out[key], root) if out.get(key) else None
        if rel is not None:  # a path outside the run directory is a user's: kept as given
            out[key] = "<run>/" + rel.as_posix()
    return out


def _data_stage(recipe: Recipe, L: Layout) -> Stage:
    src = recipe.data

    def fn() -> dict:
        if src.source == "synthetic":
            from sightsound.synth import generate

            generate(L.data.parent, recipe.synth, progress=recipe.pipeline.progress)
        else:
            from sightsound.artefacts import read_records, write_records
            from sightsound.data import load_benchmark

            if not src.annotations:
                raise ConfigError(f"data.annotations is required for data.source={src.source!r}")
            if src.source == "avqa":
                samples = list(load_benchmark("avqa", src.annotations, src.media_root))
            else:
                samples = read_records(src.annotations)
            samples = samples[: src.limit] if src.limit else samples
            missing = [s.id for s in samples if not s.audio or not (s.video or s.frames)]
            if missing:
                log.warning("%d records lack audio or video and will fail in teach/verify: %s", len(missing),
                            missing[:5])
            # Absolute: the loader found the clips relative to the working directory, later stages read
            # this file relative to itself (a relative media_root would fail every teach record).
            write_records(L.data, samples)
        return {"records": sum(1 for _ in read_jsonl(L.data))}

    cfg = {"data": to_dict(src), "synth": to_dict(recipe.synth) if src.source == "synthetic" else None}
    inputs = [Path(src.annotations)] if src.annotations else []
    return Stage("data", fn, [L.data], inputs, cfg)


def _test_data_stage(recipe: Recipe, L: Layout) -> Stage:
    pc = recipe.pipeline
    seed = pc.test_seed if pc.test_seed is not None else recipe.synth.seed + pc.test_seed_offset
    if seed == recipe.synth.seed:
        raise ConfigError(f"pipeline.test_seed {seed} equals synth.seed: the test split would repeat the training records")
    test_cfg = dataclasses.replace(recipe.synth, num=pc.test_num, seed=seed)

    def fn() -> dict:
        from sightsound.synth import generate

        generate(L.test_data.parent, test_cfg, progress=recipe.pipeline.progress)
        return {"records": sum(1 for _ in read_jsonl(L.test_data))}

    return Stage("test_data", fn, [L.test_data], [], {"synth": to_dict(test_cfg)})


def _teach_stage(recipe: Recipe, L: Layout, retry_errors: bool = True) -> Stage:
    def fn() -> dict:
        from sightsound.teacher import teach

        return _yields(teach(recipe, L.data, L.traces, progress=recipe.pipeline.progress, retry_errors=retry_errors))

    # How many processes decode frames does not change a trace: not part of the fingerprint.
    teach_cfg = {k: v for k, v in to_dict(recipe.teach).items() if k != "decode_workers"}
    cfg = {"teach": teach_cfg, "teacher": model_config(recipe.models.teacher)}
    return Stage("teach", fn, [L.traces], [L.data], cfg)


def _verify_stage(recipe: Recipe, L: Layout, retry_errors: bool = True) -> Stage:
    def fn() -> dict:
        from sightsound.synth.hallucination import write_truth_scores
        from sightsound.verify import verify

        stats = verify(recipe, L.traces, L.verified, data_path=L.data, progress=recipe.pipeline.progress,
                       retry_errors=retry_errors)
        # Step 2 knows no ground truth; on synthetic records the scene graphs score its verdicts.
        stats["hallucination"] = write_truth_scores(L.verified, L.traces, L.data)
        return _yields(stats)

    cfg = {"verify": to_dict(recipe.verify), "verifier": model_config(recipe.models.verifier)}
    return Stage("verify", fn, [L.verified], [L.traces, L.data], cfg)


def _sft_data_stage(recipe: Recipe, L: Layout) -> Stage:
    # Every set is built whatever the systems (a few seconds): the stage's config then does not depend
    # on which systems a run trains, so runs that share it (the experiment's seeds) share it whole.
    want_unverified = want_r1_aqa = True
    outputs = [L.sft_set("cot"), L.sft_set("label"), L.sft_set("grpo")]
    if want_unverified:
        outputs.append(L.sft_set("cot_unverified"))
    if want_r1_aqa:
        outputs.append(L.sft_set("grpo_r1_aqa"))

    def fn() -> dict:
        from sightsound.sft_data import build_sft

        style, prompt = recipe.pipeline.answer_style, recipe.pipeline.student_prompt
        out = {
            "cot": build_sft(L.data, L.sft_set("cot"), verified_path=L.verified, grpo_out=L.sft_set("grpo"),
                             answer_style=style, prompt_style=prompt),
            "label": build_sft(L.data, L.sft_set("label"), verified_path=L.verified, label_only=True,
                               answer_style=style, label_set=recipe.pipeline.label_set, prompt_style=prompt),
        }
        if want_unverified:
            out["cot_unverified"] = build_sft(L.data, L.sft_set("cot_unverified"), traces_path=L.traces,
                                              answer_style=style, prompt_style=prompt)
        stats = {f"{k}_examples": v["examples"] for k, v in out.items()} | {
            "grpo_prompts": out["cot"]["grpo_prompts"], "records": out["cot"]["records"]}
        if want_r1_aqa:  # the same verified records, R1-AQA's prompt, distilled or ground-truth labels
            r1 = build_sft(L.data, None, verified_path=L.verified, grpo_out=L.sft_set("grpo_r1_aqa"),
                           prompt_style=recipe.r1_aqa.prompt, labels=recipe.r1_aqa.labels)
            stats["grpo_r1_aqa_prompts"] = r1["grpo_prompts"]
        return stats

    cfg = {"unverified": want_unverified, "answer_style": recipe.pipeline.answer_style,
           "label_set": recipe.pipeline.label_set, "student_prompt": recipe.pipeline.student_prompt,
           "r1_aqa": {"prompt": recipe.r1_aqa.prompt, "labels": recipe.r1_aqa.labels} if want_r1_aqa else None}
    return Stage("sft_data", fn, outputs, [L.data, L.traces, L.verified], cfg)


def stage_recipe(recipe: Recipe, L: Layout, system: str) -> tuple[str, Recipe]:
    """(trainer, recipe) of a system's training stage: the run's recipe with the sft/grpo section
    pointed at the run's training set, output folder and starting adapter (``export-stage-config``
    writes exactly this, so a multi-GPU launch trains what ``run`` would). ``r1_aqa`` takes R1-AQA's
    recipe (section ``r1_aqa``) where it differs from ``label_grpo``'s."""
    trainer, set_name, start = TRAINING[system]
    train_file, out = L.sft_set(set_name), L.train(system)
    if trainer == "sft":
        return trainer, dataclasses.replace(recipe, sft=dataclasses.replace(
            recipe.sft, train_file=str(train_file), output_dir=str(out)))
    section = dataclasses.replace(recipe.grpo, train_file=str(train_file), output_dir=str(out),
                                  init_adapter=str(L.train(start) / "adapter") if start else None)
    if system == "r1_aqa":
        r1 = recipe.r1_aqa
        section = dataclasses.replace(section, reward_funcs=list(r1.reward_funcs),
                                      reward_weights=list(r1.reward_weights), loss_type=r1.loss_type,
                                      lr_scheduler_type=r1.lr_scheduler_type,
                                      max_completion_length=r1.max_completion_length)
    return trainer, dataclasses.replace(recipe, grpo=section)


def _train_stage(recipe: Recipe, L: Layout, system: str) -> Stage:
    trainer, set_name, start = TRAINING[system]
    train_file = L.sft_set(set_name)
    out = L.train(system)
    inputs = [train_file] + ([L.train(start) / "adapter"] if start else [])
    _, sub = stage_recipe(recipe, L, system)
    section = sub.sft if trainer == "sft" else sub.grpo

    def fn() -> dict:
        if sum(1 for _ in read_jsonl(train_file)) == 0:
            log.warning("%s: %s is empty (nothing survived the filters); %s is not trained", system, train_file, system)
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_json(out / "skipped.json", {"reason": f"no training examples in {train_file}"})
            return {"skipped": "no training examples"}
        if trainer == "sft":
            from sightsound.train.sft import train_sft

            res = train_sft(sub)
        else:
            from sightsound.train.grpo import train_grpo

            res = train_grpo(sub)
        return {"global_step": res.global_step, "adapter": str(res.adapter_dir) if res.adapter_dir else None}

    cfg = {trainer: run_relative(to_dict(section), L.root), "student": model_config(recipe.models.student)}
    return Stage(f"train/{system}", fn, [out], inputs, cfg)


@dataclasses.dataclass(frozen=True)
class StudentWeights:
    """What a system is evaluated with: the pretrained student, a trained adapter, or nothing yet."""

    pretrained: bool
    adapter: Path | None = None  # set when the system's training wrote its adapter

    @property
    def missing(self) -> bool:
        """A trained system whose adapter is not there (its training failed or has not run)."""
        return not self.pretrained and self.adapter is None


def student_weights(L: Layout, system: str) -> StudentWeights:
    if system in UNTRAINED:
        return StudentWeights(pretrained=True)
    adapter = L.train(system) / "adapter"
    return StudentWeights(pretrained=False, adapter=adapter if (adapter / "adapter_config.json").is_file() else None)


def _eval_stage(recipe: Recipe, L: Layout, system: str, bench: str, controls: bool) -> Stage:
    out = L.eval(system, bench)
    annotations = {"synthetic": L.test_data, "distill": L.data}.get(bench)
    name = "synthetic" if bench == "distill" else bench
    inputs = ([annotations] if annotations else []) + ([L.train(system)] if system not in UNTRAINED else [])
    prompt = eval_prompt(recipe, system)

    def fn() -> dict:
        from sightsound.evaluate.run import evaluate

        weights = student_weights(L, system)
        if weights.missing:
            log.warning("eval %s/%s: %s has no adapter (not trained); skipped", system, bench, system)
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(out, {"benchmark": bench, "system": system, "skipped": "system not trained",
                                    "accuracy": None, "n": 0})
            return {"skipped": "system not trained"}
        pc = recipe.pipeline
        adapter = str(weights.adapter) if weights.adapter else None  # None: the pretrained student
        res = evaluate(recipe, benchmark=name, out=out, adapter=adapter,
                       annotations=str(annotations) if annotations else None, system=system,
                       silent_audio=controls and pc.silent_audio_control,
                       shuffle_choices=pc.shuffle_choices_seed if controls else None, prompt=prompt)
        if bench == "distill":  # the report joins student answers to records by this name
            preds = out.with_name(out.stem + ".predictions.json")
            if not preds.exists():
                log.warning("eval %s/distill: no predictions file at %s", system, preds)
        # Items without a response are errors: the stage stays incomplete and a rerun retries them.
        return {"accuracy": res.get("accuracy"), "n": res.get("n"), "errors": res.get("errors") or 0}

    cfg = {"eval": to_dict(recipe.eval), "student": model_config(recipe.models.student), "controls": controls,
           "prompt": prompt,
           "pipeline": {"silent": recipe.pipeline.silent_audio_control, "shuffle": recipe.pipeline.shuffle_choices_seed}}
    # Everything eval writes beside the results (generations, predictions, controls) belongs to the stage,
    # so a changed config removes it too instead of tripping eval's own resume check.
    outputs = [out] + sorted(p for p in out.parent.glob(f"{bench}.*") if p != out and p.suffix != PREV_SUFFIX)
    return Stage(f"eval/{system}/{bench}", fn, outputs, inputs, cfg)


def _yields(stats: dict) -> dict:
    """The scalar part of a stage's stats (the manifest and results keep numbers, not breakdowns)."""
    return {k: v for k, v in (stats or {}).items() if isinstance(v, (int, float, str, type(None)))}


# ------------------------------------------------------------------------------------------ results
def collect_results(recipe: Recipe, L: Layout, systems: list[str], benches: list[str], stage_stats: dict) -> dict:
    from sightsound.evaluate.intervals import WILSON
    from sightsound.evaluate.results import EXTRACTION
    from sightsound.stage_figures import collect

    table: dict[str, dict[str, Any]] = {}
    for system in systems:
        for bench in benches:
            p = L.eval(system, bench)
            if not p.exists():
                continue
            r = read_json(p)
            table.setdefault(system, {})[bench] = {
                "accuracy": r.get("accuracy"), "ci95": r.get("ci95"), "n": r.get("n"), "skipped": r.get("skipped"),
                "choice_parsed": (r.get("choice_parsed") or {}).get("accuracy"),
                "format_rate": r.get("format_rate"), "answer_tag_rate": r.get("answer_tag_rate"),
                "prompt_style": r.get("prompt_style"),
                "version": r.get("version"),
                "controls": {k: v.get("accuracy") for k, v in (r.get("controls") or {}).items()},
                "breakdowns": {k: {g: (v or {}).get("accuracy") for g, v in groups.items()}
                               for k, groups in (r.get("breakdowns") or {}).items()
                               if k in ("evidence", "family", "question_type")},
            }
    return {
        "recipe": recipe.name,
        "config_hash": config_hash(recipe),
        "systems": table,
        "stages": stage_stats,
        # Whether each stage did its job (teacher by evidence, the filter against the truth, GRPO's signal).
        **collect(L.root, L.traces, L.verified,
                  {s: L.train(s) for s in systems if TRAINING.get(s, ("",))[0] == "grpo"}),
        "answer_parser": "sightsound.parsing.parse_response",
        "extraction": EXTRACTION,
        "interval": WILSON,
        "packages": package_versions(),
    }


def write_markdown(results: dict, L: Layout) -> Path:
    """``report.md``: the systems x benchmarks table, stage yields, stage figures and the plots."""
    from sightsound.evaluate.compare import compare, format_ci, paired_markdown
    from sightsound.stage_figures import markdown as stage_figures_markdown

    lines = [f"# SightSound run `{results['recipe']}`", ""]
    systems = results["systems"]
    benches = sorted({b for s in systems.values() for b in s})
    if systems:
        lines += ["## Student accuracy (%)", "",
                  ("Official rule of each benchmark on the extracted text (last `<answer>` block, else the whole "
                   "reply), Wilson 95% interval in brackets, controls in parentheses; prompt = the one the system "
                   "was trained with."), "",
                  "| system | prompt | " + " | ".join(benches) + " | format / answer tags |",
                  "|---|---|" + "---|" * len(benches) + "---|"]
        for name, per in systems.items():
            cells = [next((r.get("prompt_style") for r in per.values() if r.get("prompt_style")), None) or "—"]
            for b in benches:
                r = per.get(b) or {}
                acc = r.get("accuracy")
                ci = r.get("ci95")
                cell = "—" if acc is None else f"{100 * acc:.1f}" + format_ci(ci)
                ctrl = r.get("controls") or {}
                if ctrl:
                    cell += " (" + ", ".join(f"{k} {100 * v:.1f}" for k, v in ctrl.items() if v is not None) + ")"
                cells.append(cell)
            # How often replies were in the paper's <think><answer> format / had an <answer> block at all.
            rates = [(r.get("format_rate"), r.get("answer_tag_rate")) for b, r in per.items()
                     if b != "distill" and r.get("format_rate") is not None]
            cells.append(f"{100 * rates[0][0]:.0f}% / {100 * (rates[0][1] or 0):.0f}%" if rates else "—")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Stage yields", "", "| stage | figure | value |", "|---|---|---|"]
    for stage, stats in results["stages"].items():
        for k, v in (stats or {}).items():
            if isinstance(v, float):
                v = f"{v:.3f}"
            lines.append(f"| {stage} | {k} | {v} |")
    lines += [""] + stage_figures_markdown(results)
    # "distill" re-scores the distillation records themselves (for the report), not a benchmark: no plot.
    paths = [L.eval(s, b) for s, per in systems.items() for b in per
             if b != "distill" and L.eval(s, b).exists() and per[b].get("accuracy") is not None]
    plots = L.root / "plots"
    if paths:
        cmp = compare(paths, plots, names=[p.parent.name for p in paths])
        lines += [""] + paired_markdown(cmp["paired"])
        lines += ["", "## Plots", ""] + [f"![{Path(c).stem}](plots/{Path(c).name})" for c in cmp["charts"]]
    pk = results["packages"]
    lines += ["", f"Packages: {', '.join(f'{k} {v}' for k, v in pk.items() if v)}.",
              "Answer parser: `sightsound.parsing.parse_response`."]
    path = L.root / "report.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


# -------------------------------------------------------------------------------------------- main
def _attach_log(run_dir: Path) -> logging.Handler:
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    h = logging.FileHandler(run_dir / "logs" / "run.log", encoding="utf-8")
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(h)
    return h


def eval_plan(recipe: Recipe, systems: list[str]) -> list[tuple[str, str, bool]]:
    """(system, benchmark, with controls) of every eval stage, in run order.

    Public: the experiment's shared phase plans its eval stages with it, so that they are the full
    run's stages (same controls, same fingerprints) by construction."""
    benches = list(dict.fromkeys(recipe.eval.benchmarks))
    eval_benches = benches + (["distill"] if recipe.pipeline.eval_distill_records else [])
    if not systems:  # ``systems=[]``: the distillation stages only (data, traces, verdicts, sets)
        return []
    final = systems[-1]
    return [(system, bench, bench != "distill" and system in ("pretrained", final))
            for system in systems for bench in eval_benches
            # the report shows the distilled records' answers before and after training only
            if not (bench == "distill" and system not in ("pretrained", final))]


def stage_names(recipe: Recipe) -> list[str]:
    """Every stage ``run`` would run for this recipe, in order (the preflight's plan)."""
    systems = _check_systems(recipe)
    names = ["data"] + (["test_data"] if "synthetic" in recipe.eval.benchmarks else [])
    names += ["teach", "verify", "sft_data"] + [f"train/{s}" for s in systems if s in TRAINING]
    return names + [f"eval/{s}/{b}" for s, b, _ in eval_plan(recipe, systems)]


def _all_failed(name: str, stats: dict, total_key: str, path: Path, endpoint: str | None) -> str | None:
    """A failure line when every line of a stage's output is an error (the stage produced nothing)."""
    total, errors = stats.get(total_key) or 0, stats.get("errors") or 0
    if not total or errors < total:
        return None
    first = next((r.get("error") for r in read_jsonl(path) if r.get("error")), None)
    where = f" ({endpoint})" if endpoint else ""
    return f"{name}: all {total} {total_key} failed{where}; first error: {first}"


def preflight(recipe: Recipe, run_dir: str | Path | None = None):
    """:func:`sightsound.preflight.run_preflight` for this recipe's stages (complete ones are not rechecked)."""
    from sightsound.preflight import run_preflight
    from sightsound.runinfo import Manifest

    root = Path(run_dir or recipe.output_dir)
    done: set[str] = set()
    if (root / "manifest.json").is_file():
        done = {k for k, v in Manifest(root / "manifest.json").data.get("artefacts", {}).items()
                if v.get("status") == "complete"}
    return run_preflight(recipe, root, _check_systems(recipe), stage_names(recipe), done)



# The sections that say which run a directory holds: another value means another run, not a changed stage.
_IDENTITY = ("name", "data")


def _identity(cfg: dict) -> dict:
    ident = {k: cfg.get(k) for k in _IDENTITY}
    if (cfg.get("data") or {}).get("source", "synthetic") == "synthetic":
        ident["synth"] = cfg.get("synth")
    return ident


def check_run_directory(recipe: Recipe, root: Path, overwrite: bool = False) -> None:
    """Refuse to point a recipe at a run directory that holds a run of another recipe.

    "Another recipe" = another name, data source or synthetic world (:data:`_IDENTITY`): its stages
    would replace every artefact there. A changed stage setting (``teach.n``) is the same run, and
    :class:`~sightsound.stages.StageRunner` moves that stage's outputs aside instead.
    """
    from sightsound.config import load_yaml

    old_file = root / "recipe.yaml"
    if overwrite or not old_file.is_file():
        return
    before, now = _identity(load_yaml(old_file)), _identity(to_dict(recipe))
    diffs = []
    for key, new in now.items():
        old = before.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            # Keys one side lacks come from another version of this code: nothing to compare.
            diffs += [f"{key}.{k}: {old[k]!r} -> {v!r}" for k, v in new.items() if k in old and old[k] != v]
        elif old is not None and old != new:
            diffs.append(f"{key}: {old!r} -> {new!r}")
    if diffs:
        raise ConfigError(f"{root} holds a run of another recipe ({'; '.join(diffs[:4])}"
                          f"{'; ...' if len(diffs) > 4 else ''}); choose another --out, or pass --overwrite "
                          "to replace it")


def run_pipeline(recipe: Recipe, run_dir: str | Path | None = None, retry_errors: bool = True,
                 overwrite: bool = False) -> dict:
    """Run (or resume) every stage the recipe asks for; returns ``results.json``'s content.

    The run directory is locked for the whole run (a second ``run``/``demo`` on it is refused at
    once); a directory holding another recipe's run is refused unless ``overwrite``;
    ``retry_errors`` retries the error entries of incomplete stages. ``results["failures"]`` names
    each stage that produced only errors, each system that was not trained and each benchmark that
    failed (``sightsound run`` then exits 1); a teach or verify stage that failed outright stops the
    run: everything after it would be built from nothing.
    """
    L = Layout(Path(run_dir or recipe.output_dir))
    L.root.mkdir(parents=True, exist_ok=True)
    systems = _check_systems(recipe)
    with output_lock(L.root, "run directory", inside=True):
        check_run_directory(recipe, L.root, overwrite)
        return _run_locked(recipe, L, systems, retry_errors, overwrite)


def _run_locked(recipe: Recipe, L: Layout, systems: list[str], retry_errors: bool, overwrite: bool) -> dict:
    benches = list(dict.fromkeys(recipe.eval.benchmarks))
    handler = _attach_log(L.root)
    t0 = time.time()
    failures: list[str] = []

    def guarded(stage: Stage) -> dict:
        # One system or benchmark that breaks must not hide the others: record it, go on, exit 1.
        try:
            return runner.run(stage)
        except Exception as e:
            log.exception("stage %s failed", stage.name)
            failures.append(f"{stage.name}: {type(e).__name__}: {e}")
            return {"failed": str(e)}

    try:
        write_resolved_config(recipe, L.root, name="recipe.yaml")
        runner = StageRunner(L.root, retry_errors=retry_errors, overwrite=overwrite)
        stats: dict[str, Any] = {}
        stats["data"] = runner.run(_data_stage(recipe, L))
        if "synthetic" in benches:
            stats["test_data"] = runner.run(_test_data_stage(recipe, L))
        stats["teach"] = runner.run(_teach_stage(recipe, L, retry_errors))
        m = recipe.models
        failed = _all_failed("teach", stats["teach"], "records", L.traces,
                             f"models.teacher {m.teacher.base_url or m.teacher.name_or_path}")
        if not failed:
            stats["verify"] = runner.run(_verify_stage(recipe, L, retry_errors))
            failed = _all_failed("verify", stats["verify"], "lines", L.verified,
                                 f"models.verifier {m.verifier.base_url or m.verifier.name_or_path}")
        if failed:
            failures.append(failed)
        else:
            stats["sft_data"] = runner.run(_sft_data_stage(recipe, L))
            for system in systems:
                if system in TRAINING:
                    st = stats[f"train/{system}"] = guarded(_train_stage(recipe, L, system))
                    if st.get("skipped"):
                        t, v = stats["teach"], stats["verify"]
                        failures.append(f"train/{system}: not trained ({st['skipped']}: teach kept {t.get('kept')} "
                                        f"of {t.get('records')} records, {t.get('parse_failures')} of "
                                        f"{t.get('samples')} samples unparsable; verify kept {v.get('kept')} "
                                        f"of {v.get('checked')} checked)")
            for system, bench, controls in eval_plan(recipe, systems):
                st = guarded(_eval_stage(recipe, L, system, bench, controls))
                if "failed" not in st and not st.get("skipped") and not st.get("n"):
                    failures.append(f"eval/{system}/{bench}: no item was scored")
        eval_benches = benches + (["distill"] if recipe.pipeline.eval_distill_records else [])
        results = collect_results(recipe, L, systems, eval_benches, stats)
        results["seconds"] = round(time.time() - t0, 1)
        results["stages_skipped"] = runner.skipped
        results["failures"] = failures
        results["stages_incomplete"] = runner.incomplete
        atomic_write_json(L.results, results)
        write_markdown(results, L)
        if recipe.pipeline.html_report:
            from sightsound.report import build_report

            build_report(L.root)
        return results
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
