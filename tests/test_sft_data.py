"""build-sft: the student's SFT / label-only / GRPO / unverified sets from verified samples."""

from __future__ import annotations

import json

import pytest
from verify_world import write_world

from sightsound.cli import main as cli_main
from sightsound.jsonl import read_json, read_jsonl
from sightsound.prompts import student_prompt
from sightsound.sft_data import build_sft, summary_path


def _verified_line(key, choice, think, kept=True, verdict="yes"):
    rid, idx = key.split("#")
    return {"key": key, "id": rid, "sample_index": int(idx), "verdict": verdict, "kept": kept,
            "replies": ["Yes" if kept else "No"], "verifier": {"model": "hand"}, "error": None,
            "think": think, "choice": choice, "label": None}


@pytest.fixture()
def world(tmp_path):
    paths = write_world(tmp_path)
    # One more record without audio, only for the refusal checks.
    with paths["data"].open("a") as f:
        f.write(json.dumps({"id": "r5", "question": "Silent?", "choices": ["yes", "no"], "answer": 0,
                            "audio": None, "meta": {}}) + "\n")
    lines = [
        _verified_line("r0#0", 1, "A dog barks twice on the left."),
        _verified_line("r0#1", 1, "A car engine hums while a dog barks.", kept=False, verdict="no"),
        _verified_line("r0#2", 1, "The dog barks two times."),
        _verified_line("r1#0", 1, "A violin plays first, then a drum beats twice."),
        _verified_line("r1#1", 1, "The drum starts before the violin.", kept=False, verdict="unparsable"),
        _verified_line("r4#0", 1, "A sheep bleats."),
        # Refused, each for its own reason:
        _verified_line("r2#0", 0, "A cat meows."),  # audio file missing on disk
        _verified_line("r5#0", 0, "Nothing to hear."),  # record without audio
        _verified_line("r4#2", 7, "A sheep bleats on the left."),  # label outside the 3 choices
        _verified_line("r1#2", 1, "   "),  # no reasoning
        _verified_line("ghost#0", 0, "A ghost wails."),  # not in the data
    ]
    verified = tmp_path / "verified.jsonl"
    verified.write_text("".join(json.dumps(x) + "\n" for x in lines))
    paths["verified"] = verified
    return paths


def test_cot_set_from_kept_samples_only(world, tmp_path):
    out = tmp_path / "sft.jsonl"
    summary = build_sft(world["data"], out, verified_path=world["verified"])
    rows = list(read_jsonl(out))
    assert [r["source_key"] for r in rows] == ["r0#0", "r0#2", "r1#0", "r4#0"]
    r = rows[0]
    audio = str((world["data_dir"] / "audio" / "r0.wav").resolve())
    assert r["audio"] == audio and r["id"] == "r0#0" and r["record_id"] == "r0" and r["solution"] == 1
    assert r["choices"] == ["car", "dog", "cat", "violin"] and r["question"] == "Which object makes the sound?"
    user, assistant = r["messages"]
    assert user == {"role": "user", "content": [
        {"type": "audio", "path": audio},
        {"type": "text", "text": student_prompt("Which object makes the sound?", ["car", "dog", "cat", "violin"])}]}
    assert user["content"][1]["text"].endswith("Available options: A. car B. dog C. cat D. violin .")  # [paper] " ."
    assert assistant == {"role": "assistant", "content": [{"type": "text", "text":
        "<think> A dog barks twice on the left. </think> <answer> The correct answer is: B. dog </answer>"}]}
    assert summary["examples"] == 4 and summary["records"] == 3
    assert summary["refused"] == {"audio_file_missing": 1, "empty_think": 1, "label_outside_choices": 1,
                                  "no_audio": 1, "not_in_data": 1}
    refused = {x["key"]: x["reason"] for x in read_json(summary_path(out))["refused_samples"]}
    assert refused == {"r2#0": "audio_file_missing", "r5#0": "no_audio", "r4#2": "label_outside_choices",
                       "r1#2": "empty_think", "ghost#0": "not_in_data"}


def test_label_only_differs_only_in_the_assistant_turn(world, tmp_path):
    cot, label = tmp_path / "cot.jsonl", tmp_path / "label.jsonl"
    build_sft(world["data"], cot, verified_path=world["verified"])
    build_sft(world["data"], label, verified_path=world["verified"], label_only=True, label_set="per_sample")
    a, b = list(read_jsonl(cot)), list(read_jsonl(label))
    assert len(a) == len(b) == 4
    for x, y in zip(a, b):
        assert {k: v for k, v in x.items() if k != "messages"} == {k: v for k, v in y.items() if k != "messages"}
        assert x["messages"][0] == y["messages"][0]
        assert x["messages"][1] != y["messages"][1]
        text = y["messages"][1]["content"][0]["text"]
        assert "<think>" not in text and text == f"<answer> The correct answer is: B. {x['choices'][1]} </answer>"


def test_label_only_default_has_each_record_once(world, tmp_path):
    """The default label-only set: the CoT set's records, each once (no identical lines from one record)."""
    cot, label = tmp_path / "cot.jsonl", tmp_path / "label.jsonl"
    build_sft(world["data"], cot, verified_path=world["verified"])
    summary = build_sft(world["data"], label, verified_path=world["verified"], label_only=True)
    rows = list(read_jsonl(label))
    assert [r["record_id"] for r in rows] == ["r0", "r1", "r4"]  # r0 has two kept samples in the CoT set
    assert {r["record_id"] for r in read_jsonl(cot)} == {r["record_id"] for r in rows}
    assert len({json.dumps(r["messages"]) for r in rows}) == len(rows)
    assert summary["label_set"] == "per_record" and summary["examples"] == 3


def test_grpo_prompt_set_carries_the_distilled_label(world, tmp_path):
    grpo = tmp_path / "grpo.jsonl"
    summary = build_sft(world["data"], tmp_path / "sft.jsonl", verified_path=world["verified"], grpo_out=grpo)
    rows = list(read_jsonl(grpo))
    assert [r["id"] for r in rows] == ["r0", "r1", "r4"]  # one prompt per record
    assert summary["grpo_prompts"] == 3
    for r in rows:
        assert set(r) == {"id", "prompt", "audio", "question", "choices", "solution", "labels", "prompt_style"}
        assert r["labels"] == "distilled" and r["prompt_style"] == "paper"
        assert len(r["prompt"]) == 1 and r["prompt"][0]["role"] == "user"
        assert r["solution"] == 1


def test_conflicting_distilled_labels_leave_the_grpo_set(world, tmp_path):
    lines = [_verified_line("r4#0", 1, "A sheep bleats."), _verified_line("r4#2", 0, "A cow moos.")]
    verified = tmp_path / "conflict.jsonl"
    verified.write_text("".join(json.dumps(x) + "\n" for x in lines))
    s = build_sft(world["data"], tmp_path / "s.jsonl", verified_path=verified, grpo_out=tmp_path / "g.jsonl")
    assert list(read_jsonl(tmp_path / "g.jsonl")) == []
    assert s["refused"] == {"conflicting_labels": 1}


def test_unverified_set_takes_every_consistent_sample_of_kept_traces(world, tmp_path):
    out = tmp_path / "unverified.jsonl"
    s = build_sft(world["data"], out, traces_path=world["traces"])
    keys = [r["source_key"] for r in read_jsonl(out)]
    # r2's audio is missing (refused x3), r3 was not kept, r5 has no trace.
    assert keys == ["r0#0", "r0#1", "r0#2", "r1#0", "r1#1", "r1#2", "r4#0", "r4#1", "r4#2"]
    assert s["source"] == "unverified_traces" and s["refused"] == {"audio_file_missing": 3}


def test_cli_and_datasets_load(world, tmp_path):
    from datasets import load_dataset

    out, grpo = tmp_path / "sft.jsonl", tmp_path / "grpo.jsonl"
    rc = cli_main(["build-sft", "--verified", str(world["verified"]), "--data", str(world["data"]),
                   "--out", str(out), "--grpo-out", str(grpo)])
    assert rc == 0
    ds = load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "hf_cache"))
    assert len(ds) == 4 and {"messages", "audio", "solution", "source_key"} <= set(ds.column_names)
    assert ds[0]["messages"][0]["content"][0]["type"] == "audio"
    assert ds[0]["messages"][0]["content"][0]["path"].endswith("r0.wav")
    gds = load_dataset("json", data_files=str(grpo), split="train", cache_dir=str(tmp_path / "hf_cache"))
    assert gds["solution"] == [1, 1, 1]


def test_the_training_stage_reads_the_sets(world, tmp_path):
    """The SFT / GRPO readers of the training stage accept what build-sft writes (ids unique per line)."""
    from sightsound.train.data import load_grpo_rows, load_sft_rows

    sft, label, grpo = tmp_path / "sft.jsonl", tmp_path / "label.jsonl", tmp_path / "grpo.jsonl"
    build_sft(world["data"], sft, verified_path=world["verified"], grpo_out=grpo)
    build_sft(world["data"], label, verified_path=world["verified"], label_only=True, label_set="per_sample")
    rows = load_sft_rows(sft)
    assert [r["id"] for r in rows] == ["r0#0", "r0#2", "r1#0", "r4#0"]
    # The trainer's own label-only rewrite of the CoT set gives exactly what --label-only wrote.
    assert [r["messages"] for r in load_sft_rows(sft, target="label_only")] == [r["messages"] for r in load_sft_rows(label)]
    assert [(r["id"], r["solution"]) for r in load_grpo_rows(grpo)] == [("r0", 1), ("r1", 1), ("r4", 1)]


def test_cli_builds_the_unverified_set_from_traces(world, tmp_path, capsys):
    out = tmp_path / "unverified.jsonl"
    rc = cli_main(["build-sft", "--traces", str(world["traces"]), "--data", str(world["data"]), "--out", str(out)])
    assert rc == 0 and len(list(read_jsonl(out))) == 9
    assert "9 examples from 3 records" in capsys.readouterr().out
    assert read_json(summary_path(out))["source"] == "unverified_traces"


def test_cli_needs_exactly_one_source(world, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli_main(["build-sft", "--verified", str(world["verified"]), "--traces", str(world["traces"]),
                  "--data", str(world["data"]), "--out", str(tmp_path / "x.jsonl")])
    # A verified file from an older verify (no think/choice) is a clear one-line error.
    bad = tmp_path / "old.jsonl"
    bad.write_text(json.dumps({"key": "r0#0", "id": "r0", "kept": True}) + "\n")
    rc = cli_main(["build-sft", "--verified", str(bad), "--data", str(world["data"]), "--out", str(tmp_path / "y.jsonl")])
    assert rc == 2 and "lacks 'think'/'choice'" in capsys.readouterr().err


@pytest.mark.slow  # builds the session's tiny models when run alone (~20 s)
def test_messages_render_through_the_student_template_with_audio_expanded(world, tmp_path, tiny_models_dir):
    """The set as datasets loads it -> chat template -> processor: audio features and placeholders line up."""
    from datasets import load_dataset

    from sightsound.media import load_audio
    from sightsound.models.chat import encode_chats, render_prompt
    from sightsound.models.loading import load_processor

    cot, label = tmp_path / "cot.jsonl", tmp_path / "label.jsonl"
    build_sft(world["data"], cot, verified_path=world["verified"])
    build_sft(world["data"], label, verified_path=world["verified"], label_only=True, label_set="per_sample")
    processor = load_processor(str(tiny_models_dir / "student"))
    audio_id = processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    cache = str(tmp_path / "hf_cache")
    ds_cot = load_dataset("json", data_files=str(cot), split="train", cache_dir=cache)
    ds_label = load_dataset("json", data_files=str(label), split="train", cache_dir=cache)
    for row_c, row_l in zip(ds_cot, ds_label):
        text_c = render_prompt(processor, row_c["messages"], add_generation_prompt=False)
        text_l = render_prompt(processor, row_l["messages"], add_generation_prompt=False)
        assert text_c.count("<|AUDIO|>") == 1 and "<|audio_bos|>" in text_c
        assert row_c["messages"][0]["content"][1]["text"] in text_c
        assert "<think> " in text_c and "<think>" not in text_l
        # Identical up to the assistant's reply: the label-only set differs only in the target.
        head = "<|im_start|>assistant\n"
        assert text_c.split(head)[0] == text_l.split(head)[0]
        audio = load_audio(row_c["audio"])
        batch = encode_chats(processor, "qwen2_audio", [row_c["messages"]], audios_list=[audio],
                             add_generation_prompt=False, padding_side="right")
        n_placeholders = int((batch["input_ids"] == audio_id).sum())
        # Expanded: one placeholder per audio-encoder output frame of this clip, not one token.
        frames = int(batch["feature_attention_mask"].sum())
        assert n_placeholders == (((frames - 1) // 2 + 1) - 2) // 2 + 1 and n_placeholders > 1
        assert batch["input_features"].shape[0] == 1


def test_answer_styles_parse_to_the_same_choice():
    from sightsound.parsing import parse_response
    from sightsound.sft_data import target_text

    choices = ["dog", "cat", "car", "bird"]
    paper = target_text("I hear meowing.", choices, 1)
    text = target_text("I hear meowing.", choices, 1, answer_style="text")
    assert paper.endswith("<answer> The correct answer is: B. cat </answer>")
    assert text.endswith("<answer> The correct answer is: cat </answer>")
    assert parse_response(paper, choices).choice == parse_response(text, choices).choice == 1


def test_r1_aqa_prompt_set_same_records_distilled_or_ground_truth(world, tmp_path):
    """The R1-AQA baseline's GRPO set: the verified set's records, R1-AQA's prompt, either label."""
    from sightsound.prompts import r1_aqa_prompt

    paper = tmp_path / "grpo.jsonl"
    build_sft(world["data"], tmp_path / "cot.jsonl", verified_path=world["verified"], grpo_out=paper)
    for labels in ("distilled", "ground_truth"):
        out = tmp_path / f"r1_{labels}.jsonl"
        s = build_sft(world["data"], None, verified_path=world["verified"], grpo_out=out, prompt_style="r1_aqa",
                      labels=labels)
        rows, ref = list(read_jsonl(out)), list(read_jsonl(paper))
        assert [r["id"] for r in rows] == [r["id"] for r in ref] and s["labels"] == labels
        for r in rows:
            text = r["prompt"][0]["content"][1]["text"]
            assert text == r1_aqa_prompt(r["question"], r["choices"])
            assert text.endswith("Output the final answer in <answer> </answer>.") and str(r["choices"]) in text
        records = {r["id"]: r for r in read_jsonl(world["data"])}
        want = [x["solution"] for x in ref] if labels == "distilled" else [records[r["id"]]["answer"] for r in rows]
        assert [r["solution"] for r in rows] == want
    assert (tmp_path / "r1_ground_truth.summary.json").is_file()
