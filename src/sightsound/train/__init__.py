"""Step 3 of SightSound-R1: LoRA SFT, then GRPO, of the audio student, with the audio in the loss.

- :mod:`sightsound.train.sft`     ``train_sft``: TRL ``SFTTrainer`` + :class:`~sightsound.train.collator.AudioSFTCollator`.
- :mod:`sightsound.train.grpo`    ``train_grpo``: TRL ``GRPOTrainer`` via
  :class:`~sightsound.train.audio_grpo_trainer.AudioGRPOTrainer` (audio in generation and in every
  policy / old-policy / reference log-prob forward).
- :mod:`sightsound.train.data`    the pinned SFT and GRPO sets; :mod:`sightsound.train.audio` decode-once
  cache and up-front validation; :mod:`sightsound.train.common` run folder, model, LoRA, TRL's config
  from the recipe's section, resume, metrics, saving.
- Rewards live in :mod:`sightsound.rewards` (registry by name); the commands ``sightsound sft`` and
  ``sightsound grpo`` in :mod:`sightsound.commands`.

Heavy imports (torch, transformers, trl) happen inside the functions.
"""
