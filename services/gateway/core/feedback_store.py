"""Every completion and the feedback on it, in SQLite (WAL, fsync before acknowledging).

A completion is stored with the messages the model saw, its answer and its citations, so
feedback refers to what was actually said. `synchronous=FULL` makes each commit reach the
disk before `record_*` returns: an acknowledged feedback survives a crash.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from shared.contracts.errors import NotFoundError
from shared.contracts.prompts import Message

Rating = Literal["up", "down"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,               -- chat or text
    prompt_json TEXT NOT NULL,        -- the messages (or prompt) the model saw
    answer TEXT NOT NULL,
    citations_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id TEXT PRIMARY KEY,
    completion_id TEXT NOT NULL REFERENCES completions(id),
    created REAL NOT NULL,
    rating TEXT NOT NULL,
    correction TEXT,
    comment TEXT
);
CREATE INDEX IF NOT EXISTS feedback_completion ON feedback(completion_id);
"""


def feedback_db_path(data_dir: Path) -> Path:
    """Where the store lives under FINERAG_DATA_DIR."""
    return data_dir / "feedback" / "feedback.sqlite3"


class FeedbackStore:
    """Completions and feedback; safe to share between request threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def record_completion(
        self,
        completion_id: str,
        *,
        model: str,
        messages: Sequence[Message] | None,
        prompt: str | None,
        answer: str,
        citations: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Store what the model was asked and what it said."""
        kind = "chat" if messages is not None else "text"
        asked = list(messages) if messages is not None else prompt
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    completion_id,
                    time.time(),
                    model,
                    kind,
                    json.dumps(asked, ensure_ascii=False),
                    answer,
                    json.dumps(list(citations), ensure_ascii=False),
                ),
            )

    def record_feedback(
        self,
        completion_id: str,
        rating: Rating,
        *,
        correction: str | None = None,
        comment: str | None = None,
    ) -> str:
        """Store feedback on a stored completion; returns its id once it is on disk."""
        feedback_id = f"fb-{uuid.uuid4().hex[:24]}"
        with self._lock:
            known = self._db.execute(
                "SELECT 1 FROM completions WHERE id = ?", (completion_id,)
            ).fetchone()
            if known is None:
                raise NotFoundError(
                    f"No completion {completion_id!r} is stored.",
                    param="completion_id",
                    code="completion_not_found",
                )
            self._db.execute(
                "INSERT INTO feedback VALUES (?, ?, ?, ?, ?, ?)",
                (feedback_id, completion_id, time.time(), rating, correction, comment),
            )
        return feedback_id

    def completion(self, completion_id: str) -> dict[str, Any] | None:
        """A stored completion with its feedback, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, model, kind, prompt_json, answer, citations_json FROM completions "
                "WHERE id = ?",
                (completion_id,),
            ).fetchone()
            if row is None:
                return None
            feedback = self._db.execute(
                "SELECT rating, correction, comment FROM feedback WHERE completion_id = ? "
                "ORDER BY created",
                (completion_id,),
            ).fetchall()
        return {
            "id": row[0],
            "model": row[1],
            "kind": row[2],
            "prompt": json.loads(row[3]),
            "answer": row[4],
            "citations": json.loads(row[5]),
            "feedback": [{"rating": r, "correction": c, "comment": m} for r, c, m in feedback],
        }

    def corrected_examples(self) -> Iterator[dict[str, Any]]:
        """Chat examples `{"messages": [...]}` whose answer is the latest correction given."""
        with self._lock:
            rows = self._db.execute(
                """
                SELECT c.prompt_json, f.correction FROM feedback f
                JOIN completions c ON c.id = f.completion_id
                WHERE c.kind = 'chat' AND f.correction IS NOT NULL AND f.correction != ''
                  AND f.created = (SELECT MAX(created) FROM feedback g
                                   WHERE g.completion_id = f.completion_id
                                     AND g.correction IS NOT NULL AND g.correction != '')
                ORDER BY c.created
                """
            ).fetchall()
        for prompt_json, correction in rows:
            messages = json.loads(prompt_json)
            yield {"messages": [*messages, {"role": "assistant", "content": correction}]}
