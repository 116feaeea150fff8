"""The SightSound-mini verifier's confidence on a verified file: would a threshold beat its last word?

For every checked sample of ``VERIFIED`` (a ``sightsound verify`` output over records of the synthetic
world, ``DATA``), the logit margin ``Yes - No`` where the verifier's verdict is decided, after the
checklist it wrote (:func:`sightsound.mini.role_checks.logit_margins`), is scored against the
scene-graph truth the verify stage is scored with (:func:`sightsound.synth.hallucination.judge`).
Prints the discard precision / recall, the hallucination rate after over before and the recall per
kind for the shipped rule (the last word) and for margin thresholds, then per number of sounds the
account names: the margin AUC (true vs hallucinated), how often the verifier's checklist is exact and
how often it marks every class the clip holds as heard (``yes``/``heard``: what it hears).
Read-only; about 20 s for 700 samples on 2 cores.

    python scripts/verifier_margins.py VAL/verified.jsonl VAL/data.jsonl [--verifier assets/mini/verifier]

Used on the validation split only (``assets/mini/README.md``, "Session 16"); never to choose on the
distillation or test split.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from pathlib import Path

from sightsound.artefacts import index_records
from sightsound.jsonl import read_jsonl
from sightsound.media import load_audio
from sightsound.mini.features import Example
from sightsound.mini.role_checks import auc, logit_margins, reply_order_mark, reply_without_verdict
from sightsound.mini.targets import CHECK_WORDS, FIRST_MARK, LATE_MARK, checklist_marks, verifier_checklist
from sightsound.prompts import verifier_prompt
from sightsound.synth.hallucination import judge, score
from sightsound.synth.vocab import all_classes
from sightsound.verdicts import ERROR

KINDS = ("inaudible", "count", "order")
HEARD = {CHECK_WORDS[(named, True)] for named in (True, False)} | {FIRST_MARK, LATE_MARK}  # the marks of a class in the audio


def scores(discard: list[bool], hallucinated: list[bool], kinds: list[set[str]]) -> str:
    """One rule's line: the verify stage's scores (:func:`sightsound.synth.hallucination.score`)."""
    got = score(zip(discard, hallucinated))
    per_kind = []
    for kind in KINDS:
        idx = [i for i, k in enumerate(kinds) if kind in k]
        per_kind.append(f"{sum(discard[i] for i in idx) / len(idx):.2f}" if idx else "—")
    ratio = (got["hallucination_rate_after"] or 0.0) / got["hallucination_rate_before"]
    return (f"precision {got['precision'] or 0:.2f}  recall {got['recall'] or 0:.2f}  after/before {ratio:.2f}  "
            f"{' / '.join(per_kind)}  kept {got['samples'] - got['discarded']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("verified", type=Path)
    ap.add_argument("data", type=Path)
    ap.add_argument("--verifier", default="assets/mini/verifier")
    ap.add_argument("--thresholds", type=float, nargs="*", default=[0.0, 0.5, 1.0, 2.0])
    args = ap.parse_args()

    records = index_records(args.data)  # media paths resolved; an invalid record is its RecordError
    rows = [r for r in read_jsonl(args.verified) if r["verdict"] != ERROR and r.get("replies")]
    vocab, audio = all_classes(), {}
    order_mark = reply_order_mark(args.verifier)  # the true checklist in the verifier's own format
    examples, prefixes, hallucinated, kinds, lengths, exact, hears_all = [], [], [], [], [], [], []
    for row in rows:
        rec = records[row["id"]]
        if isinstance(rec, Exception):
            raise SystemExit(f"{args.verified}: {row['key']}: {rec}")
        if row["id"] not in audio:
            audio[row["id"]] = load_audio(rec.audio)
        examples.append(Example(text=verifier_prompt(row["think"]), target="", media_key=row["id"], audio=audio[row["id"]]))
        prefixes.append(reply_without_verdict(row["replies"][0]))
        label = rec.answer if rec.answer is not None else row.get("label")
        truth = judge(row.get("think"), row.get("choice"), label, rec.meta["scene"], vocab)
        hallucinated.append(truth.hallucinated)
        kinds.append({r.split(":", 1)[0] for r in truth.reasons})
        truth_marks = verifier_checklist(row["think"], rec.meta["scene"], order_mark)
        exact.append(truth_marks == prefixes[-1])
        got = dict(checklist_marks(prefixes[-1]))
        hears_all.append(all(got.get(c) in HEARD for c, w in checklist_marks(truth_marks) if w in HEARD))
        m = re.search(r"hear (\w+) sounds?", row.get("think") or "")
        lengths.append(m.group(1) if m else "?")
    margins = logit_margins(args.verifier, examples, prefixes)

    print(f"{len(rows)} samples, {sum(hallucinated)} hallucinated; recall per kind: {' / '.join(KINDS)}")
    print(f"{'last word':>12}: " + scores([not r["kept"] for r in rows], hallucinated, kinds))
    for t in args.thresholds:
        print(f"{'margin >= ' + str(t):>12}: " + scores([m < t for m in margins], hallucinated, kinds))
    by_length: dict[str, list[list]] = defaultdict(lambda: [[], [], [], []])
    for m, h, n, e, a in zip(margins, hallucinated, lengths, exact, hears_all):
        group = by_length[n]
        group[h].append(m)
        group[2].append(e)
        group[3].append(a)
    for n, (true, false, e, a) in sorted(by_length.items()):
        area = auc(true, false)
        print(f"accounts of {n} sound(s): {len(true)} true, {len(false)} hallucinated, margin AUC "
              f"{'—' if area is None else f'{area:.2f}'}, kept at margin >= 1: {sum(m >= 1 for m in true)} true; "
              f"checklist exact {sum(e) / len(e):.2f}, every sound of the clip heard {sum(a) / len(a):.2f}")


if __name__ == "__main__":
    main()
