"""`finerag feedback export --out FILE` writes the corrected answers as chat JSONL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from finerag.cli import main
from services.gateway.core.feedback_store import FeedbackStore, feedback_db_path
from shared.infrastructure.settings import get_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("FINERAG_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_export_writes_one_chat_example_per_corrected_completion(data_dir: Path):
    store = FeedbackStore(feedback_db_path(data_dir))
    prompt = [{"role": "user", "content": "Price?"}]
    store.record_completion("chatcmpl-a", model="m", messages=prompt, prompt=None, answer="?")
    store.record_feedback("chatcmpl-a", "down", correction="It costs $12 [1].")
    store.close()
    out = data_dir / "export" / "corrections.jsonl"
    assert main(["feedback", "export", "--out", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [{"messages": [*prompt, {"role": "assistant", "content": "It costs $12 [1]."}]}]


def test_export_without_a_store_says_so(data_dir: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["feedback", "export", "--out", str(data_dir / "x.jsonl")]) == 1
    assert "nothing was collected" in capsys.readouterr().out
