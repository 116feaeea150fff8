"""SightSound: an open implementation of SightSound-R1 (arXiv 2509.15661).

Reasoning distilled from a vision-language teacher into an audio-language student on audio-visual
question answering data: teacher CoT with test-time scaling -> audio-grounded validation ->
LoRA SFT then GRPO of the student -> evaluation.
"""

__version__ = "0.1.0"
