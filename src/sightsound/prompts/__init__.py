"""The paper's prompts, verbatim (from its Figure 1), as template files beside this module.

``teacher.txt``  Step 1, after the ``<video>``: ``{question}`` is the AVQA question with its options.
``verifier.txt`` Step 2, after the ``<audio>``: the fact-check instruction; the chain-of-thought
                 under test is appended by :func:`verifier_prompt`.
The student prompt is ``<audio> (AVQA Question) .`` [paper, Fig. 1, trailing " ." included]: the
question with its options. ``r1_aqa`` is R1-AQA's student prompt (for the R1-AQA baseline and the
pretrained student's second reading): ``{question} Please choose the answer from the following
options: ['a', 'b']. Output the final answer in <answer> </answer>.``

The media placeholder itself (``<video>``/``<audio>``) is not part of the text: backends put the
frames or audio first in the user turn, which is what the placeholder denotes.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

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
    """The paper's student prompt: ``(AVQA Question) .`` — the figure writes the trailing " ." too."""
    return f"{question_with_options(question, choices)} ."


def r1_aqa_prompt(question: str, choices: list[str]) -> str:
    """R1-AQA's prompt (xiaomi-research/r1-aqa, ``src/dataset/dataset.py``), options as a Python list.

    Its AVQA training loader rewrites "video" to "audio" in the question (the model only hears);
    done here in training and evaluation alike, so the system is evaluated with the prompt it was
    trained with. Open questions (no options) get the answer instruction only.
    """
    question = question.strip().replace("video", "audio")
    choice_str = f" Please choose the answer from the following options: {list(choices)}." if choices else ""
    return f"{question}{choice_str} Output the final answer in <answer> </answer>."


# The student prompt styles: this module is their one list (the recipe's ``eval.prompt`` type, the
# builders and the descriptions recorded in results all come from here).
StudentPromptStyle = Literal["paper", "plain", "r1_aqa"]
STUDENT_PROMPTS = {"paper": student_prompt, "plain": question_with_options, "r1_aqa": r1_aqa_prompt}
STUDENT_PROMPT_DESCRIPTIONS = {
    "paper": "[paper] <audio> (AVQA Question) . = question + ' Available options: A. .. B. ..' + ' .'",
    "plain": "[ours] <audio> question + ' Available options: A. .. B. ..' (the paper's without its trailing ' .')",
    "r1_aqa": "[R1-AQA] <audio> question + \" Please choose the answer from the following options: ['..', '..']. "
              "Output the final answer in <answer> </answer>.\"",
}


def build_student_prompt(style: str, question: str, choices: list[str]) -> str:
    """The student prompt of a named style: ``paper``, ``plain`` (the paper's without its trailing " .",
    what SightSound-mini's students were pretrained on) or ``r1_aqa``."""
    try:
        return STUDENT_PROMPTS[style](question, choices)
    except KeyError:
        raise ValueError(f"unknown student prompt style {style!r} (known: {', '.join(STUDENT_PROMPTS)})") from None


def verifier_prompt(think: str, template: str = "verifier") -> str:
    """The fact-check instruction followed by the teacher's reasoning under test.

    The figure shows the instruction and says the verifier is *given* the chain-of-thought; where it
    goes is not published. [ours] The reasoning is appended in its own ``<think>`` block, so the
    instruction's reference to "the <think>" points at it.
    """
    return f"{load_template(template)}\nChain-of-thought: <think>{think.strip()}</think>"
