"""``sightsound eval`` end to end with the tiny student on synthetic data and on the real AVQA clips:
results, official-format predictions that round-trip through ``score``, the two controls, resume,
LoRA adapters and ``compare``.

The untrained tiny student answers garbage (every item a missing prediction). A second tiny
student is taught, by a few plain-PyTorch SFT steps, to answer "A" to anything: a maximally
position-biased model. Its scores are known in advance (the share of items whose answer is the
first option), and the shuffled-choice control must move them exactly as the permutation says.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sightsound.cli import main
from sightsound.config import ConfigError, load_recipe
from sightsound.evaluate.run import evaluate, output_paths
from sightsound.jsonl import ArtefactError, read_jsonl

OVERRIDES = ["eval.max_new_tokens=12", "eval.batch_size=4"]
NUM = 10
SHUFFLE_SEED = 5


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    assert main(["tiny-models", "--out", str(out), "--roles", "student"]) == 0
    return out / "student"


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    assert main(["synth", "--out", str(out), "--num", str(NUM), "--seed", "3"]) == 0
    return out / "data.jsonl"


BIASED_ANSWER = "<think>I hear it.</think> <answer>A</answer>"


REAL_K = 6
REAL_FILES = [("mmau", "mmau-test-mini.json"), ("mmar", "mmar-meta.jsonl")]


def _real_items(name: str | None = None, media_root: Path | None = None) -> list:
    """The first REAL_K items of the real MMAU (Sound) / MMAR files, as ``eval --limit`` selects them."""
    from conftest import SHARED_DIR

    from sightsound.data import load_benchmark, select

    out = []
    for bench, filename in REAL_FILES:
        path = SHARED_DIR / "data" / "benchmarks" / filename
        if (name is None or name == bench) and path.is_file():
            b = load_benchmark(bench, path, media_root)
            out += list(select(b, mmau_task="sound" if bench == "mmau" else None, limit=REAL_K))
    return out


@pytest.fixture(scope="module")
def biased_student(student, synth_set, tmp_path_factory) -> Path:
    """The tiny student after a few SFT steps on one fixed answer, "A", whatever the question and audio."""
    import torch

    from sightsound.data import load_benchmark
    from sightsound.media import load_audio
    from sightsound.models.chat import assistant_labels, chat_template_messages, encode_chats
    from sightsound.models.loading import load_model
    from sightsound.prompts import student_prompt

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only contend on a shared 2-core machine
    try:
        torch.manual_seed(0)
        model, processor = load_model(str(student), for_training=True)
        samples = list(load_benchmark("synthetic", synth_set))
        prompts = [student_prompt(s.question, s.choices) for s in samples]
        audios = [load_audio(s.audio) for s in samples]
        # Half the items once more with silence, so the answer does not depend on the audio at all.
        prompts += prompts[: NUM // 2]
        audios += [np.zeros_like(a) for a in audios[: NUM // 2]]
        # Prompts it has never seen must get "A" too: the same items with their options permuted (the
        # shuffled control), and the real MMAU / MMAR items the official-scorer test asks (words foreign
        # to this tokenizer: long sequences, so they form their own batch instead of padding every row).
        rng = np.random.default_rng(0)
        for i, s in enumerate(samples):
            prompts.append(student_prompt(s.question, [s.choices[j] for j in rng.permutation(len(s.choices))]))
            audios.append(audios[i])
        real = _real_items()
        # Each real item over silence and over noise like the official-scorer test's stand-in audio:
        # trained on silence alone, the answer to that noise drifted from "A" with the packages of
        # 2026-12-02 (4 of 6 MMAU items).
        real_prompts = [student_prompt(s.question, s.choices) for s in real]
        real_audios = [np.zeros(16000, dtype=np.float32) for _ in real]
        real_audios += [(0.1 * rng.standard_normal(16000)).astype(np.float32) for _ in real]
        groups = [(prompts, audios), (real_prompts * 2, real_audios)]
        batches = []
        for ps, auds in groups:
            if not ps:
                continue
            chats = [chat_template_messages(p, has_audio=True, assistant=BIASED_ANSWER) for p in ps]
            batch = encode_chats(processor, "qwen2_audio", chats, audios_list=auds, add_generation_prompt=False,
                                 padding_side="right")
            batches.append((batch, assistant_labels(processor, batch["input_ids"], batch["attention_mask"])))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
        for _ in range(400):
            losses = [model(**batch, labels=labels).loss for batch, labels in batches]
            opt.zero_grad()
            sum(losses).backward()
            opt.step()
            worst = max(x.item() for x in losses)
            if worst < 0.002:  # well below: greedy decoding must give "A" on unseen prompts too
                break
        assert worst < 0.002
        out = tmp_path_factory.mktemp("biased") / "student"
        model.save_pretrained(out, safe_serialization=True)
        processor.save_pretrained(out)
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def synth_run(biased_student, synth_set, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "synthetic.json"
    assert main(["eval", "--benchmark", "synthetic", "--annotations", str(synth_set), "--model", str(biased_student),
                 "--out", str(out), "--silent-audio", "--shuffle-choices", str(SHUFFLE_SEED),
                 # batch 1: this tiny model, overfit at lr 1e-2, is not robust to left padding (batching
                 # is tested in test_hf_backend); here its answers must be exactly "A".
                 "--system", "pretrained", "eval.max_new_tokens=24", "eval.batch_size=1"]) == 0
    return out


def _read(path) -> dict | list:
    return json.loads(Path(path).read_text(encoding="utf-8"))


class CountingBackend:
    """Passes requests to the real backend and counts them (to see what a resumed run regenerates)."""

    def __init__(self, inner):
        self.inner, self.requests = inner, []
        self.name = inner.name

    def generate(self, requests):
        self.requests += [r.id for r in requests]
        return self.inner.generate(requests)

    def describe(self):
        return self.inner.describe()


# ---------------------------------------------------------------------------------------- results
@pytest.mark.slow
def test_eval_writes_results_and_predictions(synth_run, synth_set, biased_student):
    res = _read(synth_run)
    records = list(read_jsonl(synth_set))
    assert res["benchmark"] == "synthetic" and res["control"] is None and res["system"] == "pretrained"
    assert res["n"] == len(records) == NUM
    # The model answers "A" to everything: right exactly where the answer is the first option.
    first = sum(r["answer"] == 0 for r in records)
    assert 0 < first < NUM
    assert res["correct"] == first and res["accuracy"] == pytest.approx(first / NUM)
    assert res["missing_predictions"] == 0 and res["unparsable"] == 0
    for key in ("missing_predictions", "unparsable", "unparsable_rate", "config_hash", "answer_parser",
                "packages", "model", "adapter", "split", "generation", "annotations", "load"):
        assert key in res, key
    assert res["packages"]["transformers"] == "5.24.0" and res["packages"]["peft"]
    assert res["model"]["architecture"] == "qwen2_audio" and res["model"]["name_or_path"] == str(biased_student)
    assert res["adapter"] is None and res["generation"]["greedy"] is True
    assert res["errors"] == 0 and res["load"]["skipped"] == 0
    bd = res["breakdowns"]
    assert {"family", "evidence", "vision_implies"} <= set(bd)
    assert sum(v["n"] for v in bd["family"].values()) == NUM
    assert sum(v["n"] for v in bd["evidence"].values()) == NUM
    fams = {r["meta"]["family"] for r in records}
    assert set(bd["family"]) == fams

    preds = _read(output_paths(synth_run)["predictions"])
    assert [p["id"] for p in preds] == [r["id"] for r in records]
    for p, r in zip(preds, records):
        assert p["question"] == r["question"] and p["choices"] == r["choices"]
        assert p["answer"] == r["choices"][r["answer"]] and p["answer_index"] == r["answer"]
        assert r["question"] in p["prompt"] and all(c in p["prompt"] for c in r["choices"])
        assert p["response"].strip() == BIASED_ANSWER
        assert p["parsed_choice"] == 0 and p["model_prediction"] == "A"  # the extracted text, verbatim
        assert p["prompt_style"] == "paper" and p["prompt"].endswith(" .")
        assert p["correct"] is (r["answer"] == 0)
        assert p["family"] == r["meta"]["family"]  # the benchmark's own fields travel along
    assert sum(p["correct"] for p in preds) == res["correct"]
    gens = list(read_jsonl(output_paths(synth_run)["generations"]))
    assert len(gens) == NUM and all(g["finish_reason"] in ("stop", "length") for g in gens)
    assert output_paths(synth_run)["config"].is_file()


@pytest.mark.slow
def test_predictions_round_trip_through_score(synth_run, synth_set, tmp_path):
    res = _read(synth_run)
    for control in (None, "silent_audio", f"shuffle_choices_{SHUFFLE_SEED}"):
        paths = output_paths(synth_run, control)
        ref = _read(paths["results"])
        out = tmp_path / f"{control}.json"
        assert main(["score", "--benchmark", "synthetic", "--annotations", str(synth_set),
                     "--predictions", str(paths["predictions"]), "--out", str(out)]) == 0
        scored = _read(out)
        for key in ("n", "correct", "accuracy", "missing_predictions", "unparsable", "breakdowns"):
            assert scored[key] == ref[key], (control, key)
    assert res["controls"]["silent_audio"]["accuracy"] == _read(output_paths(synth_run, "silent_audio")["results"])["accuracy"]


@pytest.mark.slow
def test_controls_are_run_and_reported(synth_run, synth_set):
    res = _read(synth_run)
    name = f"shuffle_choices_{SHUFFLE_SEED}"
    assert set(res["controls"]) == {"silent_audio", name}
    for cname, c in res["controls"].items():
        cres = _read(c["results"])
        assert cres["control"] == cname and cres["n"] == res["n"]
        assert c["delta"] == pytest.approx(cres["accuracy"] - res["accuracy"])
    records = {r["id"]: r for r in read_jsonl(synth_set)}
    shuffled = _read(output_paths(synth_run, name)["predictions"])
    moved = 0
    for p in shuffled:
        r = records[p["id"]]
        assert sorted(p["choices"]) == sorted(r["choices"]) and p["control"] == name
        assert p["answer"] == r["choices"][r["answer"]] == p["choices"][p["answer_index"]]
        assert p["choice_permutation"] == [r["choices"].index(c) for c in p["choices"]] or \
            len(set(r["choices"])) < len(r["choices"])
        assert all(f"{chr(65 + i)}. {c}" in p["prompt"] for i, c in enumerate(p["choices"]))
        moved += p["choices"] != r["choices"]
        assert p["parsed_choice"] == 0 and p["correct"] is (p["answer_index"] == 0), p
    assert moved >= NUM // 2  # the options really were permuted
    # Position bias shows: the score follows where the answers landed, not what was heard.
    assert res["controls"][name]["correct"] == sum(p["answer_index"] == 0 for p in shuffled)
    silent = _read(output_paths(synth_run, "silent_audio")["predictions"])
    assert all(p["control"] == "silent_audio" for p in silent)
    # This model ignores the audio, so silence changes nothing: the control says so.
    assert res["controls"]["silent_audio"]["correct"] == res["correct"]
    assert res["controls"]["silent_audio"]["delta"] == 0


@pytest.mark.slow
def test_silent_audio_reaches_the_model_as_silence(student, synth_set, tmp_path):
    """Hook the real audio encoder: the main pass feeds varying features, the control a constant."""
    from sightsound.backends.hf import HFBackend

    recipe = load_recipe(None, OVERRIDES)
    backend = HFBackend(recipe.models.student.__class__(name_or_path=str(student)), progress=False)
    seen = []
    tower = next(m for name, m in backend.model.named_modules() if name.endswith("audio_tower"))
    handle = tower.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.append((args[0] if args else kwargs["input_features"]).detach().clone()),
        with_kwargs=True)
    try:
        evaluate(recipe, benchmark="synthetic", annotations=str(synth_set), model=str(student), limit=4,
                 out=tmp_path / "r.json", silent_audio=True, backend=backend)
    finally:
        handle.remove()
    rows = [f for batch in seen for f in batch]
    assert len(rows) == 8  # 4 items, main pass then the silent pass (the encoder runs once per item)
    stds = [float(f.std()) for f in rows]
    assert all(s > 1e-3 for s in stds[:4]), stds
    assert all(s < 1e-6 for s in stds[4:]), stds


# ---------------------------------------------------------------------------------------- resume
@pytest.mark.slow
def test_rerun_resumes_from_the_generations_file(student, synth_set, tmp_path):
    from sightsound.backends.hf import HFBackend
    from sightsound.config import ModelSpec

    recipe = load_recipe(None, OVERRIDES)
    backend = CountingBackend(HFBackend(ModelSpec(name_or_path=str(student)), progress=False))
    out = tmp_path / "r.json"
    first = evaluate(recipe, benchmark="synthetic", annotations=str(synth_set), model=str(student), limit=6,
                     out=out, backend=backend)
    first_preds = _read(output_paths(out)["predictions"])
    assert len(backend.requests) == 6
    gens = output_paths(out)["generations"]
    lines = gens.read_text().splitlines(keepends=True)
    gens.write_text("".join(lines[:4]) + lines[4][: len(lines[4]) // 2])  # as if killed mid-write
    backend.requests.clear()
    again = evaluate(recipe, benchmark="synthetic", annotations=str(synth_set), model=str(student), limit=6,
                     out=out, backend=backend)
    assert backend.requests == [json.loads(x)["id"] for x in lines[4:6]]  # only the lost two
    again_preds = _read(output_paths(out)["predictions"])
    assert again_preds[:4] == first_preds[:4]  # reused verbatim from the file
    assert again["n"] == first["n"] == 6 and [p["id"] for p in again_preds] == [p["id"] for p in first_preds]
    # Different settings must not silently reuse those responses.
    other = load_recipe(None, ["eval.max_new_tokens=5", "eval.batch_size=4"])
    with pytest.raises(ArtefactError, match="different model or settings"):
        evaluate(other, benchmark="synthetic", annotations=str(synth_set), model=str(student), limit=6,
                 out=out, backend=backend)


# --------------------------------------------------------------------------------------- adapters
@pytest.mark.slow
def test_eval_with_a_lora_adapter(student, synth_set, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    from sightsound.models.loading import load_model

    model, _ = load_model(str(student))
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=load_recipe().sft.lora.target_modules))
    torch.manual_seed(0)
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)  # a fresh LoRA is a no-op (B = 0); make this one change the model
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    recipe = load_recipe(None, OVERRIDES)
    base = evaluate(recipe, benchmark="synthetic", annotations=str(synth_set), model=str(student), limit=4,
                    out=tmp_path / "base.json")
    tuned = evaluate(recipe, benchmark="synthetic", annotations=str(synth_set), model=str(student), limit=4,
                     adapter=str(adapter), out=tmp_path / "tuned.json", system="label_sft")
    assert base["adapter"] is None and tuned["adapter"]["path"] == str(adapter)
    assert tuned["adapter"]["fingerprint"] and tuned["system"] == "label_sft"
    a = [p["response"] for p in _read(tmp_path / "base.predictions.json")]
    b = [p["response"] for p in _read(tmp_path / "tuned.predictions.json")]
    assert a != b  # the adapter is really applied
    with pytest.raises(FileNotFoundError, match="not a PEFT adapter"):
        evaluate(recipe, benchmark="synthetic", annotations=str(synth_set), model=str(student), limit=1,
                 adapter=str(tmp_path), out=tmp_path / "x.json")


# ----------------------------------------------------------------------------------- real AVQA clips
@pytest.mark.slow
def test_eval_on_avqa_format_with_the_real_clips(shared_dir, student, tmp_path):
    clips = shared_dir / "data" / "avqa_clips"
    names = sorted(p.stem for p in clips.glob("*.mp4"))[:4]
    records = [{"id": i, "video_name": n, "video_id": i, "question_text": "What is making the sound?",
                "multi_choice": ["dog", "cat", "car", "man"], "answer": i % 4, "question_relation": "View",
                "question_type": "Which"} for i, n in enumerate(names)]
    ann = tmp_path / "val_qa.json"
    ann.write_text(json.dumps(records))
    out = tmp_path / "avqa.json"
    assert main(["eval", "--benchmark", "avqa", "--annotations", str(ann), "--media-root", str(clips),
                 "--model", str(student), "--out", str(out), "--shuffle-choices", "1", *OVERRIDES]) == 0
    res = _read(out)
    assert res["n"] == 4 and res["errors"] == 0 and res["split"] == "val"
    assert set(res["breakdowns"]) >= {"question_type", "question_relation"}
    assert list(res["controls"]) == ["shuffle_choices_1"]
    # Wrong media root: every clip missing -> one clear error, not a run of empty predictions.
    assert main(["eval", "--benchmark", "avqa", "--annotations", str(ann), "--media-root", str(tmp_path),
                 "--model", str(student), "--out", str(tmp_path / "x.json")]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("name, filename", [("mmau", "mmau-test-mini.json"), ("mmar", "mmar-meta.jsonl")])
def test_eval_on_real_mmau_mmar_files_is_read_by_the_official_loops(shared_dir, biased_student, tmp_path,
                                                                    name, filename):
    """The real annotation files, a few items with stand-in audio, the "A"-answering student:
    the official rule scores its bare letters 0, choice_parsed reads them, and the official loop
    (its key, its skip rule) reads the predictions file eval writes with the same numbers."""
    import soundfile as sf
    from official_scorers import mmar_official, mmau_official

    ann = shared_dir / "data" / "benchmarks" / filename
    media = tmp_path / "media"
    k = REAL_K
    chosen = _real_items(name, media)
    rng = np.random.default_rng(0)
    for s in chosen:
        Path(s.audio).parent.mkdir(parents=True, exist_ok=True)
        sf.write(s.audio, (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
    out = tmp_path / f"{name}.json"
    assert main(["eval", "--benchmark", name, "--annotations", str(ann), "--media-root", str(media),
                 "--model", str(biased_student), "--out", str(out), "--limit", str(k),
                 *(["--mmau-version", "v05.15.25"] if name == "mmau" else []),
                 "eval.max_new_tokens=24", "eval.batch_size=1"]) == 0
    res = _read(out)
    assert res["n"] == k and res["missing_predictions"] == 0 and res["errors"] == 0
    first = sum(s.answer == 0 for s in chosen)
    letters = sum(s.answer_text.strip().upper() == "A" for s in chosen)
    assert res["correct"] == letters  # "<answer>A</answer>": 0 under the official rule
    assert res["choice_parsed"]["correct"] == first and res["ci95"] and res["choice_parsed"]["ci95"]
    assert res["format_rate"] == 1.0 and res["prompt_style"] == "paper"
    if name == "mmau":
        assert res["version_detail"]["revision"] == "v05.15.25-2025-08-09"
    preds = output_paths(out)["predictions"]
    official = (mmau_official if name == "mmau" else mmar_official)(preds)
    assert official["total"] == k and official["correct"] == res["correct"]
    key = "model_output" if name == "mmau" else "answer_prediction"
    assert all(p[key] == p["model_prediction"] == "A" for p in _read(preds))


def test_eval_bad_arguments(tmp_path, capsys):
    assert main(["eval", "--benchmark", "imagenet", "--annotations", "x.json", "--out", str(tmp_path / "r.json")]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="eval.annotations.mmau"):
        evaluate(load_recipe(), benchmark="mmau", out=tmp_path / "r.json")


# ---------------------------------------------------------------------------------------- compare
@pytest.mark.slow
def test_compare_table_and_charts(synth_run, tmp_path, capsys):
    from PIL import Image

    other = tmp_path / "sightsound_r1" / "synthetic.json"
    other.parent.mkdir()
    res = _read(synth_run)
    res.update(system="sightsound_r1", accuracy=0.75, correct=int(0.75 * res["n"]))
    res["breakdowns"]["family"] = {k: {**v, "accuracy": 1.0} for k, v in res["breakdowns"]["family"].items()}
    other.write_text(json.dumps(res))
    out = tmp_path / "cmp"
    assert main(["compare", str(synth_run), str(other), "--out", str(out)]) == 0
    printed = capsys.readouterr().out  # the table with intervals and the paired differences, on the terminal
    assert "## Paired differences against the baselines" in printed and "| synthetic | SightSound-R1 | Pretrained |" \
        in printed and "[+0.0, +0.0]" in printed and " [" in printed.split("| SightSound-R1 |")[1]
    md = (out / "compare.md").read_text()
    lines = md.splitlines()
    pre = next(i for i, line in enumerate(lines) if line.startswith("| Pretrained"))
    r1 = next(i for i, line in enumerate(lines) if line.startswith("| SightSound-R1"))
    assert pre < r1  # the paper's system order
    assert "| SightSound-R1 | 75.0 [" in md  # with its Wilson interval
    assert "## Paired differences against the baselines" in md
    assert "silent_audio" in md and f"shuffle_choices_{SHUFFLE_SEED}" in md
    assert "## synthetic: by family" in md and "## synthetic: by evidence" in md
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "overall.png" in pngs and "synthetic_family.png" in pngs
    for p in out.glob("*.png"):
        with Image.open(p) as im:
            assert im.format == "PNG" and im.width > 100
    summary = _read(out / "compare.json")
    assert summary["systems"]["sightsound_r1"]["synthetic"]["accuracy"] == 0.75
    assert summary["systems"]["pretrained"]["synthetic"]["ci95"]
    # The copy's per-item verdicts are the pretrained file's (its predictions path): a zero difference.
    [pair] = [r for r in summary["paired"] if r["benchmark"] == "synthetic"]
    assert pair["system"] == "sightsound_r1" and pair["baseline"] == "pretrained"
    assert pair["difference"] == 0 and pair["mcnemar_p"] == 1.0 and pair["n"] == NUM
    # Two results for one system and benchmark are refused, not silently merged.
    shutil.copy(other, tmp_path / "dup.json")
    assert main(["compare", str(other), str(tmp_path / "dup.json"), "--out", str(out)]) == 2
