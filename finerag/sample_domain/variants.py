"""Customer-style rewordings of a question: typos, a paraphrase, a terse form, a follow-up.

Each case gets its own RNG seeded by the case id, so a case's variants stay the same when other
cases are added or reordered. Typos only touch lowercase words: codes, numbers and names are
left intact, because a typo there would change which product is meant, and a variant must keep
the case's answer.
"""

from __future__ import annotations

import random
from typing import Any

from finerag.sample_domain.wording import Wording

KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
OPENERS = (
    "I have a question about {e}.",
    "Can you help me with {e}?",
    "I need some information on {e}.",
)
REPLIES = (
    "Of course. What would you like to know about {e}?",
    "Sure, happy to help with {e}. What do you need to know?",
    "Certainly. What is your question about {e}?",
)


def _neighbours(letter: str) -> str:
    """Keys next to `letter` on a QWERTY keyboard (same row, and the rows above and below)."""
    for row_index, row in enumerate(KEYBOARD):
        col = row.find(letter)
        if col < 0:
            continue
        near = row[max(col - 1, 0) : col] + row[col + 1 : col + 2]
        for other in (row_index - 1, row_index + 1):
            if 0 <= other < len(KEYBOARD):
                near += KEYBOARD[other][max(col - 1, 0) : col + 1]
        return near
    return ""


def _misspell(word: str, rng: random.Random) -> str:
    """One realistic slip: hit a neighbouring key, swap two letters, drop or double one."""
    i = rng.randrange(1, len(word) - 1)  # first letters are rarely mistyped
    slips = [
        word[:i] + rng.choice(_neighbours(word[i]) or word[i]) + word[i + 1 :],
        word[:i] + word[i + 1] + word[i] + word[i + 2 :],
        word[:i] + word[i + 1 :],
        word[:i] + word[i] + word[i:],
    ]
    rng.shuffle(slips)
    return next((slip for slip in slips if slip != word), word[:i] + word[i + 1 :])


def add_typos(question: str, rng: random.Random) -> str:
    """The question with 1-3 misspelled lowercase words (fewer if it has fewer such words)."""
    words = question.split(" ")
    candidates = [i for i, w in enumerate(words) if w.isalpha() and w.islower() and len(w) >= 4]
    if not candidates:  # nothing safe to misspell: a dropped final "?" is the typo
        return question.rstrip("?")
    for i in sorted(rng.sample(candidates, min(len(candidates), rng.randint(1, 3)))):
        words[i] = _misspell(words[i], rng)
    return " ".join(words)


def customer_variants(
    wording: Wording,
    fields: dict[str, str],
    asked: int,
    rng: random.Random,
    follow_up: bool,
) -> list[dict[str, Any]]:
    """The variants of the question asked with wording `asked`, each with the same answer.

    Args:
        wording: the ways this kind of fact is asked.
        fields: placeholder values (subject, brand, extras).
        asked: index of the wording the case's own question uses; the paraphrase avoids it.
        rng: the case's own RNG.
        follow_up: whether to add a two-turn follow-up (needs `wording.follow_up`).
    """
    question = wording.questions[asked].format(**fields)
    others = [i for i in range(len(wording.questions)) if i != asked]
    variants: list[dict[str, Any]] = [
        {"kind": "typo", "question": add_typos(question, rng)},
        {"kind": "paraphrase", "question": wording.questions[rng.choice(others)].format(**fields)},
        {"kind": "terse", "question": wording.terse.format(**fields).lower()},
    ]
    if follow_up and wording.follow_up is not None:
        turns = [
            {"role": "user", "content": rng.choice(OPENERS).format(**fields)},
            {"role": "assistant", "content": rng.choice(REPLIES).format(**fields)},
        ]
        variants.append(
            {"kind": "follow_up", "turns": turns, "question": wording.follow_up.format(**fields)}
        )
    return variants
