"""The systems of the paper's comparison, by name, in the order tables and figures show them.

``pretrained`` (the paper's student prompt); ``pretrained_r1_aqa_prompt`` (the same model asked with
R1-AQA's answer instruction); ``label_sft`` (SFT on the distilled labels, no reasoning);
``label_grpo`` (GRPO on the distilled labels from the pretrained student, with the paper's prompt and
rewards); ``r1_aqa`` (the R1-AQA recipe); ``cot_sft_unverified``
(SFT on consistent but unverified CoT: the ablation of Step 2); ``cot_sft`` (SFT on verified CoT);
``sightsound_r1`` (verified-CoT SFT, then GRPO). The pipeline trains and evaluates them; the
comparison orders its tables by them; neither needs the other for that.
"""

SYSTEMS = ("pretrained", "pretrained_r1_aqa_prompt", "label_sft", "label_grpo", "r1_aqa", "cot_sft_unverified",
           "cot_sft", "sightsound_r1")
UNTRAINED = ("pretrained", "pretrained_r1_aqa_prompt")  # the pretrained student, no adapter
