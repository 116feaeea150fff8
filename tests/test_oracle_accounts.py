"""scripts/oracle_accounts.py: the diagnostic's training sets keep the method's samples and tell the truth."""

import json
from pathlib import Path

from _scripts import load_script

from sightsound.artefacts import TeacherSample, read_records
from sightsound.config import SynthConfig, dump_yaml, load_recipe
from sightsound.mini.splits import SPLITS
from sightsound.mini.targets import teacher_cot
from sightsound.parsing import parse_response
from sightsound.pipeline import Layout
from sightsound.sft_data import build_sets
from sightsound.synth.generate import generate
from sightsound.synth.hallucination import judge
from sightsound.synth.vocab import all_classes

REPO = Path(__file__).resolve().parents[1]


def _think(row: dict) -> str:
    return row["messages"][-1]["content"][0]["text"].split("<think>")[1].split("</think>")[0].strip()


def test_oracle_sets_keep_the_kept_samples_and_replace_only_their_accounts(tmp_path):
    O = load_script("oracle_accounts")
    run = tmp_path / "run"
    L = Layout(run)
    recipe = load_recipe(REPO / "configs" / "demo.yaml")
    (run).mkdir()
    (run / "recipe.yaml").write_text(dump_yaml(recipe))
    generate(L.data.parent, SynthConfig(seed=SPLITS["distill"].seed, num=16, write_mp4=False), progress=False)
    records = {r.id: r for r in read_records(L.data)}
    scenes = {json.loads(line)["id"]: json.loads(line)["meta"]["scene"] for line in L.data.open()}
    # "Kept" samples as Step 2 leaves them: the teacher's vision account (often false), two per record.
    samples = [TeacherSample(f"{rid}#{i}", rid, teacher_cot(scenes[rid]), r.answer)
               for rid, r in list(records.items())[:10] if r.answer is not None for i in (0, 2)]
    rows, _, _ = build_sets(samples, records, answer_style=recipe.pipeline.answer_style,
                            prompt_style=recipe.pipeline.student_prompt)
    L.sft_set("cot").parent.mkdir(parents=True)
    L.sft_set("cot").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def true(think: str, rid: str) -> bool:
        return not judge(think, None, None, scenes[rid], all_classes()).hallucinated

    kept = O.training_set(run, "kept")
    # Same samples, prompts and answers; only the account changed, and every new one is true.
    assert [(r["id"], r["messages"][0], r["solution"]) for r in kept] == [(r["id"], r["messages"][0], r["solution"]) for r in rows]
    assert all(true(_think(r), r["record_id"]) for r in kept)
    assert not all(true(_think(r), r["record_id"]) for r in rows)  # the teacher's were not all true
    for row in kept:
        parsed = parse_response(row["messages"][-1]["content"][0]["text"], row["choices"], require_answer_tag=True)
        assert parsed.choice == row["solution"]

    labelled = [rid for rid, r in records.items() if r.answer is not None]
    cot_all, label_all = O.training_set(run, "all_cot"), O.training_set(run, "all_label")
    assert [r["record_id"] for r in cot_all] == [r["record_id"] for r in label_all] == labelled
    assert all(true(_think(r), r["record_id"]) for r in cot_all)
    assert all("<think>" not in r["messages"][-1]["content"][0]["text"] for r in label_all)
    assert [r["solution"] for r in label_all] == [records[rid].answer for rid in labelled]
    # The kept set's shape (records, repeats per record) over records drawn at random, with true accounts.
    rand = O.training_set(run, "random_cot")
    from collections import Counter

    assert sorted(Counter(r["record_id"] for r in rand).values()) == sorted(Counter(r["record_id"] for r in rows).values())
    assert all(true(_think(r), r["record_id"]) for r in rand) and rand == O.training_set(run, "random_cot")
