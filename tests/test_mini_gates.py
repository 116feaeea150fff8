"""The shipped SightSound-mini student through a short distillation (tests of the stage gates).

``sightsound.mini.distill_check`` trains the student with the project's own CoT SFT on fixed
held-out records, samples it at the GRPO temperature, and runs a few GRPO steps from that adapter.
The shipped student records the figures in its ``pretrain_info.json`` (``distill_check``); this
re-measures them: the format rate (fluency) within 8 of 80 samples, and GRPO getting a signal
(non-zero reward variance in most groups).
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
                        sft_epochs=ref["sft_epochs"], grpo_steps=ref["grpo_steps"])
    assert got["sft_examples"] == ref["sft_examples"] and got["format_samples"] == ref["format_samples"]
    # CoT SFT learned something (loss fell) and the student writes the paper's format when sampled.
    assert got["sft_loss_last"] < got["sft_loss_first"]
    assert abs(got["format_rate"] - ref["format_rate"]) <= 0.1 + 1e-9, (got, ref)
    assert got["format_rate"] >= 0.8, got
    # GRPO from the SFT student has a signal: most groups' rewards are not all equal.
    assert got["zero_std_fraction"] is not None and got["zero_std_fraction"] <= 0.5, got
