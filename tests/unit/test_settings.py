"""Settings: one object, FINERAG_ prefix, every variable documented in .env.example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.infrastructure.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_embedded_defaults_need_no_variable(monkeypatch: pytest.MonkeyPatch):
    for name in list(__import__("os").environ):
        if name.startswith("FINERAG_"):
            monkeypatch.delenv(name)
    settings = Settings(_env_file=None)
    assert settings.qdrant_url is None
    assert settings.retrieval_url is None
    assert settings.api_keys == []
    assert settings.models_dir == settings.data_dir / "models"


def test_environment_overrides_with_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("FINERAG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FINERAG_API_KEYS", "k-one, k-two")
    monkeypatch.setenv("FINERAG_MAX_BODY_BYTES", "2048")
    settings = Settings(_env_file=None)
    assert settings.data_dir == tmp_path
    assert [k.key.get_secret_value() for k in settings.api_keys] == ["k-one", "k-two"]
    assert settings.max_body_bytes == 2048


def test_keys_are_never_printed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FINERAG_API_KEYS", "sk-very-secret")
    settings = Settings(_env_file=None)
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in str(settings.model_dump())


@pytest.mark.parametrize("value", ["changeme", "CHANGEME", "real-key,placeholder"])
def test_placeholder_keys_are_rejected(monkeypatch: pytest.MonkeyPatch, value: str):
    monkeypatch.setenv("FINERAG_API_KEYS", value)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(_env_file=None)


def test_bad_values_fail_with_the_field_name(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FINERAG_MAX_CONCURRENCY", "0")
    with pytest.raises(ValidationError, match="max_concurrency"):
        Settings(_env_file=None)


def test_env_example_lists_every_variable_and_nothing_else():
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*(FINERAG_[A-Z0-9_]+)=", text, flags=re.MULTILINE))
    expected = {f"FINERAG_{name.upper()}" for name in Settings.model_fields}
    assert listed == expected, (
        f"missing from .env.example: {sorted(expected - listed)}; "
        f"unknown there: {sorted(listed - expected)}"
    )


def test_every_setting_is_documented():
    undocumented = [n for n, f in Settings.model_fields.items() if not f.description]
    assert undocumented == []
