"""The feedback store: completions, feedback on them, and the corrected-answer export."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.gateway.core.feedback_store import FeedbackStore
from shared.contracts.errors import NotFoundError

PROMPT = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q?"}]


def test_feedback_refers_to_a_stored_completion_and_survives_reopening(tmp_path: Path):
    path = tmp_path / "fb.sqlite3"
    store = FeedbackStore(path)
    store.record_completion(
        "chatcmpl-1", model="m", messages=PROMPT, prompt=None, answer="A", citations=[{"index": 1}]
    )
    store.record_feedback("chatcmpl-1", "down", correction="first fix")
    store.record_feedback("chatcmpl-1", "down", correction="better fix", comment="typo")
    store.record_feedback("chatcmpl-1", "up")
    with pytest.raises(NotFoundError):
        store.record_feedback("chatcmpl-missing", "up")
    store.close()

    reopened = FeedbackStore(path)
    stored = reopened.completion("chatcmpl-1")
    assert stored is not None
    assert stored["answer"] == "A"
    assert stored["citations"] == [{"index": 1}]
    assert [f["rating"] for f in stored["feedback"]] == ["down", "down", "up"]
    assert list(reopened.corrected_examples()) == [
        {"messages": [*PROMPT, {"role": "assistant", "content": "better fix"}]}
    ]


def test_text_completions_and_uncorrected_feedback_are_not_exported(tmp_path: Path):
    store = FeedbackStore(tmp_path / "fb.sqlite3")
    store.record_completion("cmpl-1", model="m", messages=None, prompt="P", answer="A")
    store.record_feedback("cmpl-1", "down", correction="fix")
    store.record_completion("chatcmpl-2", model="m", messages=PROMPT, prompt=None, answer="A")
    store.record_feedback("chatcmpl-2", "up", comment="nice")
    assert list(store.corrected_examples()) == []
