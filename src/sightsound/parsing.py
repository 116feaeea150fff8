"""Parsing model responses: ``<think>``, ``<answer>`` and the chosen option.

One parser serves the teacher's consistency filter, the GRPO accuracy reward and evaluation, so
"which option did the model pick" means the same thing everywhere. It never guesses: a response
whose answer names no option, or names more than one, is a parse failure with a status saying why.

**The text that is read** (:func:`scored_text`) is the content of the reply's last
``<answer>…</answer>`` block when it has one, else the whole reply — the rule of R1-AQA's own MMAU
script, and the only one fair to a model that answers in plain text (the pretrained Qwen2-Audio
does). Whether the tags were there is reported apart (``Parsed.tagged``, ``format_ok``); only an
empty reply is "no answer". The teacher's consistency filter asks for the tags
(``require_answer_tag=True``): a teacher sample is a training CoT only in the paper's format.

Accepted answer forms, for choices ``["chicken", "cat", ...]``:
``B``, ``(B)``, ``[B]``, ``B.``, ``B)``, ``B. cat``, ``**B**``, ``The correct answer is: B. cat``,
``cat``, ``The correct answer is: cat``, ``It is a cat.`` (exactly one option's text appears as
whole words). Several letters (``B, C``, ``A or D``) are ambiguous, not the first of them.
"""

from __future__ import annotations

import re
import string
from dataclasses import asdict, dataclass

from sightsound.prompts import LETTERS

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_FORMAT = re.compile(r"^\s*<think>(?:(?!</?think>|</?answer>).)+</think>\s*<answer>(?:(?!</?think>|</?answer>).)+</answer>\s*$",
                     re.DOTALL)
# ``\b`` after the keyword: "Answers vary" or "Optional" must not lose their first word.
_PREFIX = re.compile(r"^\s*(?:the\s+)?(?:correct\s+|final\s+)?(?:answer|option|choice)\b\s*(?:is\b)?\s*[:\-]?\s*",
                     re.IGNORECASE)
# Markdown emphasis, code ticks and quotes around a whole answer ("**B**", "`B`", '"cat"') carry no meaning.
_WRAP = "*_`\"'\u201c\u201d\u2018\u2019 \t\r\n"
# Several letters and nothing else ("B, C", "A or D", "(A)/(B)"): the model named more than one option.
_MULTI_LETTER = re.compile(r"^[(\[]?([A-Za-z])[)\]]?\.?(?:\s*(?:,|/|&|\band\b|\bor\b)\s*[(\[]?([A-Za-z])[)\]]?\.?)+$",
                           re.IGNORECASE)
# A letter needs a delimiter ("(B)", "B.", "B:", "B)") or must stand alone, so prose such as
# "A dog barks" is not read as option A.
_LETTER = re.compile(r"^(?:[(\[]([A-Za-z])[)\]]\s*(.*)|([A-Za-z])(?:[.:)\]]\s*(.*))?)$", re.DOTALL)
_PUNCT = str.maketrans({c: " " for c in string.punctuation})

# Statuses
OK = "ok"
NO_ANSWER = "no_answer"  # an empty reply (or, where tags are required, no <answer>…</answer> block)
EMPTY = "empty_answer"
AMBIGUOUS = "ambiguous"  # several options named, or a letter contradicting the text after it
NO_MATCH = "no_match"  # the answer names no option


@dataclass
class Parsed:
    think: str | None
    answer: str | None
    choice: int | None
    status: str
    tagged: bool = False  # the reply has an <answer>…</answer> block (what was read is its content)

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_dict(self) -> dict:
        return asdict(self)


def normalize(text: str) -> str:
    """Lower case, punctuation and underscores to spaces, whitespace collapsed."""
    return " ".join(text.lower().replace("_", " ").translate(_PUNCT).split())


def extract_think(text: str) -> str | None:
    m = _THINK.search(text or "")
    return m.group(1).strip() if m else None


def extract_answer(text: str) -> str | None:
    """The content of the last ``<answer>`` block (a model that corrects itself means the last one)."""
    found = _ANSWER.findall(text or "")
    return found[-1].strip() if found else None


def scored_text(text: str | None) -> str | None:
    """What is read and scored for a reply: its last ``<answer>`` block's content, else the whole reply.

    ``None`` only for an empty (or non-string) reply: "missing" means no reply, never "no tags".
    """
    if not isinstance(text, str) or not text.strip():
        return None
    answer = extract_answer(text)
    return answer if answer is not None else text.strip()


def format_ok(text: str) -> bool:
    """Exactly the paper's format: one ``<think>…</think>`` then one ``<answer>…</answer>``, both non-empty."""
    if not isinstance(text, str) or not _FORMAT.match(text):
        return False
    return bool(extract_think(text)) and bool(extract_answer(text))


_ANSWER_ONLY = re.compile(r"<answer>.*?</answer>", re.DOTALL)


def answer_format_ok(text: str) -> bool:
    """R1-AQA's format: the whole reply is ``<answer>…</answer>`` (``re.fullmatch``, no ``<think>``).

    Reproduced as R1-AQA's ``format_reward`` writes it (no stripping), for the faithful R1-AQA baseline.
    """
    return isinstance(text, str) and _ANSWER_ONLY.fullmatch(text) is not None


def _mentions(norm_answer: str, choices_norm: list[str]) -> list[int]:
    """Indices of options whose normalized text occurs as whole words in the answer.

    An option that is a sub-phrase of another mentioned option ("dog" inside "hot dog") is not
    counted separately, so the longer, more specific option wins.
    """
    padded = f" {norm_answer} "
    hits = [i for i, c in enumerate(choices_norm) if c and f" {c} " in padded]
    return [i for i in hits if not any(j != i and choices_norm[i] != choices_norm[j]
                                       and f" {choices_norm[i]} " in f" {choices_norm[j]} " for j in hits)]


def choice_from_answer(answer: str, choices: list[str]) -> tuple[int | None, str]:
    """Map an answer string to an option index, or ``(None, status)``."""
    answer = (answer or "").strip()
    if not answer:
        return None, EMPTY
    answer = answer.strip(_WRAP) or answer
    body = _PREFIX.sub("", answer, count=1).strip(_WRAP) or answer
    choices_norm = [normalize(c) for c in choices]
    norm = normalize(body)
    # Exact option text first: "A" could be an option's text, and text beats letter then.
    exact = [i for i, c in enumerate(choices_norm) if c and c == norm]
    if len({choices_norm[i] for i in exact}) == 1 and exact:
        return exact[0], OK
    multi = _MULTI_LETTER.match(body)
    if multi and len({ch.upper() for ch in re.findall(r"\b[A-Za-z]\b", body)} & set(LETTERS[: len(choices)])) > 1:
        return None, AMBIGUOUS
    m = _LETTER.match(body)
    if m:
        letter, rest = (m.group(1) or m.group(3)), normalize(m.group(2) or m.group(4) or "")
        if letter.upper() in LETTERS[: len(choices)]:
            letter_idx = LETTERS.index(letter.upper())
            # "B" alone or "B. cat": the letter; "B. dog" where dog is another option: ambiguous.
            others = [i for i in _mentions(rest, choices_norm) if choices_norm[i] != choices_norm[letter_idx]]
            if others:
                return None, AMBIGUOUS
            return letter_idx, OK
    hits = _mentions(norm, choices_norm)
    distinct = sorted({choices_norm[i] for i in hits})
    if len(distinct) == 1:
        return hits[0], OK
    if len(distinct) > 1:
        return None, AMBIGUOUS
    return None, NO_MATCH


def parse_response(text: str, choices: list[str], *, require_answer_tag: bool = False) -> Parsed:
    """Parse a full response; never raises on any string.

    The option is read from :func:`scored_text` (the last ``<answer>`` block, else the whole reply).
    With ``require_answer_tag`` a reply without an ``<answer>`` block is ``NO_ANSWER`` instead.
    """
    text = text if isinstance(text, str) else ""
    think = extract_think(text)
    answer = extract_answer(text)
    tagged = answer is not None
    read = answer if tagged else (text.strip() or None)  # scored_text, without a second search
    if read is None or (require_answer_tag and not tagged):
        return Parsed(think, answer, None, NO_ANSWER, tagged)
    choice, status = choice_from_answer(read, choices)
    return Parsed(think, answer, choice, status, tagged)


ANSWER_STYLES = ("letter_text", "text")


def answer_line(choices: list[str], index: int, style: str = "letter_text") -> str:
    """The answer wording: ``The correct answer is: B. cat`` (the paper's, ``letter_text``), or
    ``The correct answer is: cat`` (``text``: for models too small to learn letters among shuffled
    options, see SightSound-mini; the parser reads both the same way)."""
    if style == "text":
        return f"The correct answer is: {choices[index]}"
    if style != "letter_text":
        raise ValueError(f"unknown answer style {style!r} (expected one of {ANSWER_STYLES})")
    return f"The correct answer is: {LETTERS[index]}. {choices[index]}"
