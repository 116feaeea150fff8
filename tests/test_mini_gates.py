"""The shipped SightSound-mini student through a short distillation (tests of the stage gates).

``sightsound.mini.distill_check`` trains the student with the project's own CoT SFT on fixed
held-out records, samples it at the GRPO temperature on questions it was not trained on, and runs a
few GRPO steps from that adapter. The shipped student records the figures in its
``pretrain_info.json`` (``distill_check``); this re-measures them on this machine: the SFT loss, the
format rate within 10 of 100 samples, and GRPO getting a signal from an SFT student (non-zero reward
variance in most groups).
"""

import json

import pytest

from sightsound.mini.checkpoints import shipped_dir


@pytest.mark.slow
def test_short_distillation_from_the_shipped_student(tmp_path, monkeypatch):
    from sightsound.mini.distill_check import distill_check

    path = shipped_dir("student")
    if path is None:
        pytest.skip("no shipped student checkpoint in assets/mini")
    monkeypatch.setenv("SIGHTSOUND_CACHE", str(tmp_path / "cache"))
    ref = json.loads((path / "pretrain_info.json").read_text())["distill_check"]
    got = distill_check(path, tmp_path / "work", records=ref["records"], seed=ref["seed"],
                        sft_records=ref["sft_records"], sft_epochs=ref["sft_epochs"], grpo_steps=ref["grpo_steps"])
    assert got["sft_examples"] == ref["sft_examples"] and got["format_samples"] == ref["format_samples"]
    # CoT SFT learns (the loss falls as recorded, one-thread floats may differ a little between CPUs).
    assert got["sft_loss_last"] < got["sft_loss_first"] - 3.0
    assert got["sft_loss_last"] == pytest.approx(ref["sft_loss_last"], abs=0.2), (got, ref)
    # The format rate of its samples at the GRPO temperature is what the record says (within 10 of 100).
    assert abs(got["format_rate"] - ref["format_rate"]) <= 0.1 + 1e-9, (got, ref)
    # GRPO from the SFT student has a signal: most groups' rewards are not all equal.
    assert got["zero_std_fraction"] is not None and got["zero_std_fraction"] <= 0.5, got
