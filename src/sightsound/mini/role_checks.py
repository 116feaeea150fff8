"""Held-out accuracy of a SightSound-mini role on its own pretraining task.

``evaluate_role(role, model_dir, split)`` loads the saved checkpoint through the normal loading
code and the ``hf`` backend (greedy), on a fixed small split (default ``pretrain_check``, whose
seed no training set uses), and scores:

- teacher: answer accuracy (option text parsed by :func:`sightsound.parsing.parse_response`)
  against the label on questions where vision suffices (evidence ``visual`` or ``both``);
  chance = mean of 1 / number of options. Also: accuracy by evidence type, agreement with the
  vision answer, exact match of the reasoning.
- verifier: accuracy of the verdict (:func:`sightsound.verdicts.parse_verdict`, rule ``final``: the
  reply's last word, after its checklist) on true and false accounts; chance = the majority
  label's share. Also: how often the checklist is exact, and how often the verdict follows the
  checklist the model wrote itself (Yes iff every class reads ``yes`` or ``no``). With
  ``margins=True`` also threshold-free figures (:func:`verifier_margins`): the AUC of the logit
  margin ``Yes - No`` where the verdict is decided (after the model's own checklist), overall and
  true accounts against each kind of false one.
  ``listening_auc`` (true accounts against another clip's true account, the same kind of text
  where only the audio tells them apart) says whether the verifier hears at all: 0.5 = deaf.
- student: exact sound listing (the first sentence, "I hear a drum, then a dog.") against the
  audio truth; chance = share of the most common listing (always answering it). Also: accuracy of
  the answer-only replies to questions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sightsound.mini import roles as R
from sightsound.mini import targets as T
from sightsound.mini.targets import reply_without_verdict


def _generate(model_dir: Path, examples, max_new_tokens: int, progress: bool) -> list[str]:
    from sightsound.backends.base import GenerationRequest, SamplingParams
    from sightsound.backends.hf import HFBackend
    from sightsound.config import ModelSpec

    # float32 on CPU everywhere: the recorded accuracy must reproduce on any machine.
    spec = ModelSpec(name_or_path=str(model_dir), batch_size=16, dtype="float32", device_map="cpu")
    backend = HFBackend(spec, progress=progress)
    requests = [GenerationRequest(id=f"{i}", text=ex.text, images=ex.images, audio=ex.audio,
                                  sampling=SamplingParams(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=0))
                for i, ex in enumerate(examples)]
    results = backend.generate(requests)
    texts = []
    for r in results:
        if r.error:
            raise RuntimeError(f"generation failed for example {r.request_id}: {r.error}")
        texts.append(r.generations[0].text)
    return texts


def _rate(hits: list[bool]) -> float | None:
    return sum(hits) / len(hits) if hits else None


def first_sentence(text: str) -> str:
    text = (text or "").strip()
    cut = text.find(".")
    return text[: cut + 1] if cut >= 0 else text


def score_teacher(examples, texts) -> dict[str, Any]:
    from sightsound.parsing import parse_response

    by_ev: dict[str, list[bool]] = defaultdict(list)
    suff, chance, vision_agree, cot_exact, parsed = [], [], [], [], []
    for ex, text in zip(examples, texts):
        info = ex.info
        p = parse_response(text, info["choices"], require_answer_tag=True)  # as the teach stage reads it
        correct = p.choice == info["answer"]
        by_ev[info["evidence"]].append(correct)
        if info["evidence"] in ("visual", "both"):
            suff.append(correct)
            chance.append(1 / len(info["choices"]))
        vision_agree.append(p.choice == info["vision_answer"])
        cot_exact.append((p.think or "").strip() == info["cot"])
        parsed.append(p.ok)
    return {"metric": "answer accuracy where vision suffices (evidence visual|both)", "accuracy": _rate(suff),
            "chance": sum(chance) / len(chance) if chance else None, "n": len(suff),
            "accuracy_by_evidence": {k: _rate(v) for k, v in sorted(by_ev.items())},
            "n_by_evidence": {k: len(v) for k, v in sorted(by_ev.items())},
            "vision_answer_agreement": _rate(vision_agree), "cot_exact": _rate(cot_exact),
            "parse_ok": _rate(parsed), "n_all": len(examples)}


def score_verifier(examples, texts) -> dict[str, Any]:
    from sightsound.verdicts import parse_verdict

    hits, by_kind, exact, follows, listing = [], defaultdict(list), [], [], []
    labels = Counter(ex.info["label"] for ex in examples)
    unparsable = 0
    for ex, text in zip(examples, texts):
        verdict = parse_verdict(text, R.VERDICT_RULE)
        unparsable += verdict not in ("yes", "no")
        ok = verdict == ex.info["label"].lower()
        hits.append(ok)
        by_kind[ex.info["kind"]].append(ok)
        checklist = T.reply_checklist(text)
        exact.append(checklist == ex.info["checklist"])
        agrees = T.checklist_agrees(ex.info["cot"], checklist)
        follows.append(verdict == ("yes" if agrees else "no"))
        if ex.info.get("listing") is not None:  # the ``listed`` format opens with the sounds heard
            listing.append(T.split_listing(text)[0] == ex.info["listing"])
    # Step 2's own figures: precision and recall of "No" (discard) against false accounts.
    said_no = [parse_verdict(t, R.VERDICT_RULE) == "no" for t in texts]
    false = [ex.info["label"] == "No" for ex in examples]
    return {"metric": "Yes/No accuracy", "verdict_rule": R.VERDICT_RULE, "accuracy": _rate(hits),
            "discard_precision": _rate([f for f, n in zip(false, said_no) if n]),
            "discard_recall": _rate([n for f, n in zip(false, said_no) if f]),
            "chance": max(labels.values()) / len(examples) if examples else None, "n": len(examples),
            "labels": dict(labels),
            "accuracy_by_label": {y: _rate([h for h, ex in zip(hits, examples) if ex.info["label"] == y])
                                  for y in sorted(labels)},
            "accuracy_by_kind": {k: _rate(v) for k, v in sorted(by_kind.items())},
            "checklist_exact": _rate(exact), "verdict_follows_checklist": _rate(follows),
            **({"listing_exact": _rate(listing)} if listing else {}), "unparsable": unparsable}


def score_student(examples, texts) -> dict[str, Any]:
    from sightsound.parsing import parse_response

    listing, describe, qa = [], [], []
    truths = Counter(ex.info["listing"] for ex in examples if ex.info["kind"] == "listing")
    for ex, text in zip(examples, texts):
        if ex.info["kind"] == "listing":
            listing.append(first_sentence(text) == ex.info["listing"])
        elif ex.info["kind"] == "describe":
            describe.append(text.strip() == ex.info["description"])
        else:
            qa.append(parse_response(text, ex.info["choices"]).choice == ex.info["answer"])
    n = sum(truths.values())
    return {"metric": "exact sound listing", "accuracy": _rate(listing),
            "chance": max(truths.values()) / n if n else None, "n": len(listing),
            "description_exact": _rate(describe), "description_n": len(describe),
            "qa_accuracy": _rate(qa), "qa_n": len(qa)}


SCORERS = {"teacher": score_teacher, "verifier": score_verifier, "student": score_student}


def evaluate_role(role: str, model_dir: str | Path, split: str = "pretrain_check", num: int | None = None,
                  seed: int = 0, progress: bool = False, return_texts: bool = False,
                  margins: bool = False, order_mark: str | None = None) -> dict[str, Any]:
    """Score a saved role on the first ``num`` records of ``split`` (greedy; deterministic).

    ``margins`` adds the verifier's threshold-free figures (:func:`verifier_margins`). ``order_mark``:
    how the verifier's checklist carries the order of sounds (None: as its ``pretrain_info.json``
    records; its true checklists, and so ``checklist_exact``, are then in its own reply format).
    """
    from sightsound.mini.world import split_records

    spec = R.role_spec(role)
    if order_mark is None:
        order_mark = reply_order_mark(model_dir) if role == "verifier" else "none"
    records, base = split_records(split, num, progress=progress)
    examples = R.examples_for(role, records, seed, base=base, order_mark=order_mark)
    texts = _generate(Path(model_dir), examples, spec.max_new_tokens, progress)
    out = SCORERS[role](examples, texts)
    if margins and role == "verifier":  # decided after the model's own checklist
        out["margins"] = verifier_margins(model_dir, examples, [reply_without_verdict(t) for t in texts])
    out.update({"split": split, "records": len(records)})
    if return_texts:
        out["texts"] = texts
    return out


def reply_order_mark(model_dir: str | Path) -> str:
    """How a verifier's checklist carries the order of sounds (``pretrain --order-mark``; "none"
    for a checkpoint trained before the option or without it)."""
    import json

    info = Path(model_dir) / "pretrain_info.json"
    return (json.loads(info.read_text(encoding="utf-8")).get("order_mark") if info.is_file() else None) or "none"


def auc(pos: list[float], neg: list[float]) -> float | None:
    """P(a positive scores above a negative), ties half: the Mann-Whitney AUC."""
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


TRUE_KINDS = ("truth", "teacher_true")  # true accounts (foreign_true is rare and left out)


def logit_margins(model_dir: str | Path, examples, prefixes: list[str] | None = None,
                  batch_size: int = 32) -> list[float]:
    """The logit margin ``Yes - No`` where the verifier's verdict is decided, per example (one forward each).

    Without ``prefixes`` that is the reply's first token; with them (the checklist the model wrote
    before its verdict, :func:`reply_without_verdict`) the token after ``prefix``. The two
    verdicts' first tokens are compared (after a checklist " Yes" begins with a bare space token,
    " No" is one token: the margin is the model's choice between the two continuations).
    """
    import dataclasses

    import torch

    from sightsound.config import ModelSpec
    from sightsound.mini.features import FeatureCache
    from sightsound.models.loading import load_model

    model, processor = load_model(ModelSpec(name_or_path=str(model_dir), dtype="float32", device_map="cpu"))
    model.eval()
    tok = processor.tokenizer
    cache = FeatureCache(processor, R.role_spec("verifier").arch)
    # first token of each verdict, as the reply's first word ("") or after a checklist (" ")
    verdict_ids = {sep: tuple(tok(sep + word, add_special_tokens=False).input_ids[0] for word in ("Yes", "No"))
                   for sep in ("", " ")}
    offsets, pairs = [], []
    for k, ex in enumerate(examples):
        prefix = prefixes[k] if prefixes is not None else ""
        sep = " " if prefix else ""
        # the target marks where the verdict is predicted; its logits past that point are not used
        cache.add(dataclasses.replace(ex, target=f"{prefix}{sep}Yes"))
        offsets.append(len(tok(prefix, add_special_tokens=False).input_ids) if prefix else 0)
        pairs.append(verdict_ids[sep])
    margins: list[float] = []
    with torch.no_grad():
        for start in range(0, len(cache.items), batch_size):
            items = cache.items[start:start + batch_size]
            batch = cache.collate(items)
            labels = batch.pop("labels")
            logits = model(**batch).logits
            for row in range(len(items)):
                k = start + row
                pos = int((labels[row] != -100).nonzero()[0]) - 1 + offsets[k]  # predicts the verdict
                yes, no = pairs[k]
                margins.append(float(logits[row, pos, yes] - logits[row, pos, no]))
    return margins


def verifier_margins(model_dir: str | Path, examples, prefixes: list[str] | None = None) -> dict[str, Any]:
    """AUC of the verifier's logit margin ``Yes - No`` (:func:`logit_margins`) on labelled accounts.

    Accuracy depends on where the model puts its threshold (a verifier that leans "No" scores the
    majority share whatever it hears); the AUC does not.
    """
    margins = logit_margins(model_dir, examples, prefixes)
    by_kind: dict[str, list[float]] = defaultdict(list)
    for ex, m in zip(examples, margins):
        by_kind[ex.info["kind"]].append(m)
    true = [m for k in TRUE_KINDS for m in by_kind.get(k, [])]
    pos = [m for ex, m in zip(examples, margins) if ex.info["label"] == "Yes"]
    neg = [m for ex, m in zip(examples, margins) if ex.info["label"] == "No"]
    return {"auc": auc(pos, neg), "listening_auc": auc(by_kind.get("truth", []), by_kind.get("foreign_false", [])),
            "auc_true_vs": {k: auc(true, v) for k, v in sorted(by_kind.items())
                            if k not in TRUE_KINDS and k != "foreign_true"},
            "mean_margin_by_kind": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())}}


REFERENCE_RECORDS = 24  # small enough for the test suite, large enough to be above chance with margin


def reference_check(role: str, model_dir: str | Path, records: int = REFERENCE_RECORDS,
                    order_mark: str | None = None) -> dict[str, Any]:
    """The accuracy the tests re-measure on a shipped checkpoint (first ``records`` held-out records)."""
    got = evaluate_role(role, model_dir, split="pretrain_check", num=records, margins=role == "verifier",
                        order_mark=order_mark)
    out = {"split": "pretrain_check", "records": records, "n": got["n"], "accuracy": got["accuracy"],
           "chance": got["chance"]}
    # The figures the stage gates read, re-measured by the tests on the same slice.
    if role == "teacher":
        out["accuracy_by_evidence"], out["n_by_evidence"] = got["accuracy_by_evidence"], got["n_by_evidence"]
    elif role == "verifier":
        out.update({k: got[k] for k in ("labels", "discard_precision", "discard_recall")})
        out["auc"] = got["margins"]["auc"]
    elif role == "student":
        out["description_exact"], out["description_n"] = got.get("description_exact"), got.get("description_n")
    return out


def record_evaluation(role: str, model_dir: str | Path, progress: bool = True) -> dict[str, Any]:
    """Re-measure a checkpoint here and write the numbers into its ``pretrain_info.json``.

    Used when a checkpoint was trained on another machine: the recorded accuracies are then the
    ones this machine's torch reproduces (the tests compare against ``reference_check``).
    """
    import json

    import torch
    import transformers

    path = Path(model_dir) / "pretrain_info.json"
    info = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"role": role}
    info["heldout"] = evaluate_role(role, model_dir, split="pretrain_check", progress=progress, margins=True)
    info["reference_check"] = reference_check(role, model_dir)
    info["evaluated_with"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


if __name__ == "__main__":  # python -m sightsound.mini.role_checks ROLE MODEL_DIR
    import sys

    out = record_evaluation(sys.argv[1], sys.argv[2])
    print({k: out[k] for k in ("heldout", "reference_check")})
