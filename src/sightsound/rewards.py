"""GRPO rewards of Step 3: pure functions chosen by name from a registry.

Every reward has TRL's reward-function signature ``f(completions, solution, choices, **kw) -> list[float]``:
``completions`` are the sampled responses (plain strings, or TRL's conversational form
``[{"role": "assistant", "content": "..."}]``), and ``solution`` / ``choices`` are the prompt set's
columns (the distilled label index and the option texts), one entry per completion. TRL passes every
other dataset column as a keyword; rewards ignore what they do not need.

The paper names two rewards [paper]: ``format`` (a ``<think>…</think>`` then ``<answer>…</answer>``
response) and ``accuracy`` (the chosen option equals the distilled label). ``accuracy`` reads the
option exactly as evaluation does (:func:`sightsound.parsing.scored_text`: the last ``<answer>``
block, else the whole reply), so a plain-text reply naming the right option earns it and the format
is rewarded by ``format`` alone. ``answer_format`` is R1-AQA's format reward (the whole reply is one
``<answer>…</answer>``, no ``<think>``) for the faithful R1-AQA baseline (system ``r1_aqa``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sightsound.parsing import answer_format_ok, format_ok, parse_response

RewardFunc = Callable[..., list[float]]
REWARDS: dict[str, RewardFunc] = {}


def register(name: str) -> Callable[[RewardFunc], RewardFunc]:
    def deco(fn: RewardFunc) -> RewardFunc:
        if name in REWARDS:
            raise ValueError(f"reward {name!r} is registered twice")
        fn.__name__ = name  # TRL logs each reward under its function's name: rewards/<name>/mean
        REWARDS[name] = fn
        return fn

    return deco


def get_reward(name: str) -> RewardFunc:
    try:
        return REWARDS[name]
    except KeyError:
        raise KeyError(f"unknown reward {name!r}; known: {', '.join(sorted(REWARDS))}") from None


def completion_text(completion: Any) -> str:
    """The response text of one completion, plain or conversational (the last assistant turn's text)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, list) and completion:
        content = completion[-1].get("content", "") if isinstance(completion[-1], dict) else ""
        if isinstance(content, list):  # typed content blocks
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return content if isinstance(content, str) else ""
    return ""


def _broadcast(values: Any, n: int, name: str) -> list:
    """A per-completion column; a single value (an int label, one list of option texts) applies to all."""
    per_item = isinstance(values, (list, tuple)) and (name != "choices" or (values and isinstance(values[0], (list, tuple))))
    if not per_item:
        return [values] * n
    if len(values) != n:
        raise ValueError(f"reward column {name!r} has {len(values)} entries for {n} completions")
    return list(values)


@register("format")
def format_reward(completions: Sequence[Any], solution: Any = None, choices: Any = None, **kw: Any) -> list[float]:
    """1.0 iff the response is exactly one non-empty ``<think>`` block then one non-empty ``<answer>`` block."""
    return [1.0 if format_ok(completion_text(c)) else 0.0 for c in completions]


@register("answer_format")
def answer_format_reward(completions: Sequence[Any], solution: Any = None, choices: Any = None, **kw: Any) -> list[float]:
    """R1-AQA's format reward: 1.0 iff the whole reply is ``<answer>…</answer>`` (``re.fullmatch``)."""
    return [1.0 if answer_format_ok(completion_text(c)) else 0.0 for c in completions]


@register("accuracy")
def accuracy_reward(completions: Sequence[Any], solution: Any, choices: Any, **kw: Any) -> list[float]:
    """1.0 iff the option read from the reply (last ``<answer>`` block, else the whole reply) is ``solution``.

    An unparsable answer (empty, several options, no option) scores 0: the parser never guesses,
    so the policy cannot earn accuracy by listing every option. Missing tags cost nothing here —
    that is the format reward's business, and evaluation reads untagged replies the same way.
    """
    n = len(completions)
    sols = _broadcast(solution, n, "solution")
    chs = _broadcast(choices, n, "choices")
    out = []
    for c, sol, ch in zip(completions, sols, chs, strict=True):
        parsed = parse_response(completion_text(c), list(ch or []))
        out.append(1.0 if parsed.choice is not None and sol is not None and parsed.choice == int(sol) else 0.0)
    return out


def _named(fn: RewardFunc, name: str) -> RewardFunc:
    """``fn`` under its registry name (TRL logs ``rewards/<__name__>/mean``)."""
    if getattr(fn, "__name__", None) == name:
        return fn

    def named(*args: Any, **kw: Any) -> list[float]:
        return fn(*args, **kw)

    named.__name__ = named.__qualname__ = name
    named.__doc__ = fn.__doc__
    return named


def build_reward_funcs(names: Sequence[str], weights: Sequence[float] | None = None) -> tuple[list[RewardFunc], list[float]]:
    """Look rewards up by name and check the weights line up (one per reward)."""
    if not names:
        raise ValueError("at least one reward function is needed")
    funcs = [_named(get_reward(n), n) for n in names]
    weights = list(weights) if weights is not None else [1.0] * len(funcs)
    if len(weights) != len(funcs):
        raise ValueError(f"{len(funcs)} reward functions {list(names)} but {len(weights)} weights {weights}")
    return funcs, [float(w) for w in weights]
