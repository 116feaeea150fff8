"""The paper's prompts, verbatim (from its Figure 1), as template files beside this module.

``teacher.txt``  Step 1, after the ``<video>``: ``{question}`` is the AVQA question with its options.
``verifier.txt`` Step 2, after the ``<audio>``: the fact-check instruction; the chain-of-thought
                 under test is appended by :func:`verifier_prompt`.
The student prompt is ``<audio> (AVQA Question)``: just the question with its options.

The media placeholder itself (``<video>``/``<audio>``) is not part of the text: backends put the
frames or audio first in the user turn, which is what the placeholder denotes.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@cache
def load_template(name: str) -> str:
    try:
        return resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise FileNotFoundError(f"no prompt template named {name!r} in sightsound/prompts/") from None


def format_options(choices: list[str]) -> str:
    """``Available options: A. chicken B. Cat C. dog D. turkey`` (the figure's style)."""
    return "Available options: " + " ".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def question_with_options(question: str, choices: list[str]) -> str:
    """The paper's "(AVQA Question)": the question text followed by its options."""
    question = question.strip()
    return f"{question} {format_options(choices)}" if choices else question


def teacher_prompt(question: str, choices: list[str], template: str = "teacher") -> str:
    return load_template(template).format(question=question_with_options(question, choices))


def student_prompt(question: str, choices: list[str]) -> str:
    return question_with_options(question, choices)


def verifier_prompt(think: str, template: str = "verifier") -> str:
    """The fact-check instruction followed by the teacher's reasoning under test.

    The figure shows the instruction and says the verifier is *given* the chain-of-thought; where it
    goes is not published. [ours] The reasoning is appended in its own ``<think>`` block, so the
    instruction's reference to "the <think>" points at it.
    """
    return f"{load_template(template)}\nChain-of-thought: <think>{think.strip()}</think>"
