"""The model layer: one loader for real checkpoints and tiny offline models, one chat/input builder.

- :mod:`sightsound.models.loading`  ``load_model(spec)`` -> (model, processor) for the three architectures.
- :mod:`sightsound.models.chat`     messages -> chat-template prompt -> processor inputs, per architecture.
- :mod:`sightsound.models.tiny`     ``sightsound tiny-models``: tiny models of the real architectures, built offline.

Heavy imports (torch, transformers) happen inside the submodules, not here.
"""

ARCHITECTURES = ("qwen2_5_vl", "qwen2_audio", "qwen2_5_omni_thinker")
