"""How customers ask about each kind of fact, read once from `wording.yaml` next to this module.

The phrase tables are data; this module types them and checks them at import, so a malformed
entry fails with its name before any case is worded. The YAML's header documents the placeholders.
Order matters: the seeded RNG walks kinds and questions in the order the file lists them.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

WORDING_FILE = Path(__file__).with_name("wording.yaml")
PLACEHOLDERS = frozenset({"e", "t", "c", "k", "o"})  # subject, terse name, brand, step k / ordinal
MIN_QUESTIONS = 3  # so questions of one kind vary, and a paraphrase can differ from the question
_FIELDS = {"questions", "terse", "follow_up"}  # follow_up is optional
# libyaml's loader where built in (7 ms against 50): every `finerag` command imports this module.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Wording:
    """The ways to ask for one kind of fact."""

    questions: tuple[str, ...]
    terse: str
    follow_up: str | None = None  # asked after the subject was named in an earlier turn


def _template(where: str, text: object) -> str:
    """`text`, checked to be a format string that uses only known placeholders."""
    if not isinstance(text, str):
        raise ValueError(f"{WORDING_FILE.name}: {where} must be a string, got {text!r}")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ValueError(f"{WORDING_FILE.name}: {where} {text!r}: {exc}") from None
    if unknown := fields - PLACEHOLDERS:
        raise ValueError(
            f"{WORDING_FILE.name}: {where} {text!r} uses unknown placeholder(s) "
            f"{sorted(unknown)}; known: {sorted(PLACEHOLDERS)}"
        )
    return text


def _wording(where: str, entry: Any) -> Wording:
    """One table entry as a `Wording`; raises ValueError naming `where` if it is malformed."""
    if not isinstance(entry, dict) or not {"questions", "terse"} <= entry.keys() <= _FIELDS:
        raise ValueError(
            f"{WORDING_FILE.name}: {where} needs 'questions' and 'terse' "
            f"(and may have 'follow_up'), got {entry!r}"
        )
    questions = entry["questions"]
    if not isinstance(questions, list) or len(questions) < MIN_QUESTIONS:
        raise ValueError(
            f"{WORDING_FILE.name}: {where} needs a list of at least {MIN_QUESTIONS} questions, "
            f"got {questions!r}"
        )
    follow_up = entry.get("follow_up")
    return Wording(
        tuple(_template(f"{where}.questions[{i}]", q) for i, q in enumerate(questions)),
        _template(f"{where}.terse", entry["terse"]),
        None if follow_up is None else _template(f"{where}.follow_up", follow_up),
    )


def _by_kind(tables: dict[str, Any], section: str) -> dict[str, Wording]:
    """The section's wordings keyed by fact kind, in file order."""
    entries = tables.get(section)
    if not isinstance(entries, dict):
        raise ValueError(f"{WORDING_FILE.name}: '{section}' must map each fact kind to a wording")
    return {kind: _wording(f"{section}.{kind}", entry) for kind, entry in entries.items()}


def _listed(tables: dict[str, Any], section: str) -> tuple[Wording, ...]:
    """The section's wordings, in file order."""
    entries = tables.get(section)
    if not isinstance(entries, list):
        raise ValueError(f"{WORDING_FILE.name}: '{section}' must be a list of wordings")
    return tuple(_wording(f"{section}[{i}]", entry) for i, entry in enumerate(entries))


def _load() -> dict[str, Any]:
    """The YAML's sections by name."""
    text = WORDING_FILE.read_text(encoding="utf-8")
    tables = yaml.load(text, Loader=_LOADER)  # noqa: S506 - _LOADER is a safe loader
    if not isinstance(tables, dict):
        raise ValueError(f"{WORDING_FILE.name}: expected a mapping of sections, got {tables!r}")
    return tables


_TABLES = _load()  # read once, at import

PRODUCT_WORDINGS = _by_kind(_TABLES, "product")
OTHER_WORDINGS = _by_kind(_TABLES, "other")
# Company-wide facts: one subject (the company), so the wording carries the whole question.
POLICY_WORDINGS = _by_kind(_TABLES, "policy")

WORDINGS: dict[str, Wording] = {**PRODUCT_WORDINGS, **OTHER_WORDINGS, **POLICY_WORDINGS}
if len(WORDINGS) != len(PRODUCT_WORDINGS) + len(OTHER_WORDINGS) + len(POLICY_WORDINGS):
    _shared = (PRODUCT_WORDINGS.keys() & OTHER_WORDINGS.keys()) | (
        POLICY_WORDINGS.keys() & (PRODUCT_WORDINGS.keys() | OTHER_WORDINGS.keys())
    )
    raise ValueError(f"{WORDING_FILE.name}: fact kinds in more than one section: {sorted(_shared)}")

# Questions the knowledge base cannot answer: about real products, attributes never documented.
UNANSWERABLE_PRODUCT_WORDINGS = _by_kind(_TABLES, "unanswerable_product")
# Company questions the policies never settle.
UNANSWERABLE_POLICY_WORDINGS = _listed(_TABLES, "unanswerable_policy")
# Questions about products the company does not sell (names never mentioned in the KB).
UNANSWERABLE_GHOST_WORDINGS = _listed(_TABLES, "unanswerable_ghost")
