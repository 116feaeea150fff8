"""Run by tests/test_train_distributed.py under ``accelerate launch`` (one copy per process).

It trains through the project's own entry points (:func:`sightsound.train.sft.train_sft`,
:func:`sightsound.train.grpo.train_grpo`) and writes what this rank saw to ``DUMP.rank<k>.json``:
every student forward (did it get mel features, their sum, grad mode, log-prob or generation), the
clips of the rows this rank trained on, and for GRPO each scored batch's local rewards and
advantages, so the test can check them against the gathered groups of all ranks.

    accelerate launch --config_file configs/accelerate/cpu_ddp.yaml tests/dist_train_driver.py \\
        --student STUDENT_DIR --plan PLAN.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch
from _train_helpers import recording_callback, text_hash_reward


def _recipe(stage: str, student: str, section: dict):
    from sightsound.config import load_recipe

    lora = section.pop("lora", None)
    overrides = [f"models.student.name_or_path={student}"]
    overrides += [f"{stage}.{k}={json.dumps(v) if isinstance(v, (list, bool)) or v is None else v}"
                  for k, v in section.items()]
    rec = load_recipe(None, overrides)
    if lora:
        cfg = getattr(rec, stage).lora
        cfg.r, cfg.alpha, cfg.dropout = lora["r"], lora["alpha"], lora["dropout"]
    return rec


def _record_grpo_batches(log: list[dict]) -> None:
    """Wrap the audio trainer's scoring step: which clips this rank scored, its rewards and advantages."""
    from sightsound.train.audio import audio_paths
    from sightsound.train.audio_grpo_trainer import AudioGRPOTrainer

    original = AudioGRPOTrainer._generate_and_score_completions

    def wrapped(self, inputs):
        batch = original(self, inputs)
        log.append({"ids": [x["id"] for x in inputs], "clips": [audio_paths(x["prompt"])[0] for x in inputs],
                    "advantages": batch["advantages"].tolist(),
                    "features_sum": batch["input_features"].float().abs().sum(dim=(1, 2)).tolist()})
        return batch

    AudioGRPOTrainer._generate_and_score_completions = wrapped


def _run(stage: str, student: str, section: dict, dump: str) -> None:
    rec = _recipe(stage, student, dict(section))
    record = recording_callback()
    batches: list[dict] = []
    rewards: list[dict] = []
    if stage == "sft":
        from sightsound.train.sft import train_sft

        result = train_sft(rec, callbacks=[record])
    else:
        from sightsound.rewards import REWARDS
        from sightsound.train.grpo import train_grpo

        def logged_reward(completions, **kw):
            values = text_hash_reward(completions, **kw)
            rewards.append({"ids": list(kw["id"]), "values": values})
            return values

        REWARDS["text_hash"] = logged_reward
        _record_grpo_batches(batches)
        result = train_grpo(rec, callbacks=[record])
    acc = result.trainer.accelerator
    wrapped = result.trainer.model_wrapped
    dump_data = {"rank": acc.process_index, "world_size": acc.num_processes, "global_step": result.global_step,
                 "distributed_type": str(acc.distributed_type), "wrapper": type(wrapped).__name__,
                 "fsdp_modules": sum("FSDP" in type(m).__name__ for m in wrapped.modules()),
                 "log_history": result.trainer.state.log_history,
                 "calls": record.recorder.calls if record.recorder else [], "batches": batches, "rewards": rewards}
    Path(f"{dump}.rank{acc.process_index}.json").write_text(json.dumps(dump_data))
    acc.wait_for_everyone()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--student", required=True)
    p.add_argument("--plan", required=True,
                   help="JSON list of runs, each {stage: sft|grpo, section: {recipe section overrides}, dump: PREFIX}, "
                        "done in order in the same processes (one start-up for several runs)")
    args = p.parse_args()
    torch.set_num_threads(1)
    for job in json.loads(Path(args.plan).read_text()):
        _run(job["stage"], args.student, job["section"], job["dump"])
    from sightsound.train.common import close_process_group

    close_process_group()  # as the CLI does: an open gloo group can abort the process at exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
