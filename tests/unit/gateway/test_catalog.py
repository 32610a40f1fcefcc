"""Which model a request reaches: exact names always, a line's alias only when promoted."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.gateway.core.catalog import check_served, list_served_models, resolve_alias
from shared.contracts.errors import NotFoundError
from shared.infrastructure.registry import ModelCard, write_card
from shared.infrastructure.settings import Settings


def _entry(settings: Settings, name: str, created: str, promoted: bool) -> None:
    folder = settings.models_dir / name
    folder.mkdir(parents=True)
    write_card(folder, ModelCard(name=name, base_model="base", created=created, promoted=promoted))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(_env_file=None, data_dir=tmp_path, base_model="base")
    _entry(settings, "ft:base:acme:00000001", "2026-01-01T00:00:00+00:00", promoted=True)
    _entry(settings, "ft:base:acme:00000002", "2026-02-01T00:00:00+00:00", promoted=True)
    _entry(settings, "ft:base:acme:00000003", "2026-03-01T00:00:00+00:00", promoted=False)
    _entry(settings, "ft:base:other:00000004", "2026-04-01T00:00:00+00:00", promoted=False)
    return settings


def test_the_alias_names_the_newest_promoted_model_of_its_line(settings: Settings):
    assert resolve_alias(settings, "ft:base:acme") == "ft:base:acme:00000002"


def test_exact_names_are_served_promoted_or_not(settings: Settings):
    assert resolve_alias(settings, "ft:base:acme:00000003") == "ft:base:acme:00000003"
    check_served(settings, "ft:base:acme:00000003")
    assert resolve_alias(settings, "base") == "base"


def test_a_line_with_no_promoted_model_is_not_served_by_alias(settings: Settings):
    assert resolve_alias(settings, "ft:base:other") == "ft:base:other"
    with pytest.raises(NotFoundError):
        check_served(settings, resolve_alias(settings, "ft:base:other"))


def test_listing_says_which_models_are_promoted(settings: Settings):
    promoted = {m.id: m.extra.get("promoted") for m in list_served_models(settings)}
    assert promoted["ft:base:acme:00000003"] is False
    assert promoted["ft:base:acme:00000002"] is True
