"""Which models the gateway serves: the base model and the registry's fine-tuned models."""

from __future__ import annotations

from datetime import datetime

from services.gateway.core.generation import ModelInfo
from shared.errors import InvalidRequestError, NotFoundError
from shared.registry import list_cards, read_card
from shared.settings import Settings


def list_served_models(settings: Settings) -> list[ModelInfo]:
    """The base under FINERAG_BASE_MODEL first, then every registry entry under its name."""
    base = settings.base_model
    models = [ModelInfo(id=base)]
    for card in list_cards(settings.models_dir):
        models.append(
            ModelInfo(
                id=card.name,
                created=_epoch(card.created),
                parent=base,
                extra={"promoted": card.promoted},
            )
        )
    return models


def check_served(settings: Settings, model: str) -> None:
    """NotFoundError unless `model` is the base or a registry entry."""
    if model == settings.base_model:
        return
    try:
        read_card(settings.models_dir, model)
    except InvalidRequestError:  # not even a valid registry name
        raise NotFoundError(
            f"The model {model!r} does not exist.", param="model", code="model_not_found"
        ) from None


def _epoch(iso: str) -> int:
    try:
        return int(datetime.fromisoformat(iso).timestamp())
    except ValueError:
        return 0
