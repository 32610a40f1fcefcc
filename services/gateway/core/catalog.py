"""Which models the gateway serves: the base model and the registry's fine-tuned models.

Every registry entry is served when asked for by its exact name. A fine-tuned name without its
job id (`ft:BASE:SUFFIX`, the line of models a suffix names) is an alias of that line's newest
*promoted* entry: a model that failed its release gate never reaches a client that did not ask
for it by name.
"""

from __future__ import annotations

from datetime import datetime

from services.gateway.core.generation import ModelInfo
from shared.contracts.errors import InvalidRequestError, NotFoundError
from shared.infrastructure.registry import list_cards, read_card
from shared.infrastructure.settings import Settings


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


def resolve_alias(settings: Settings, model: str) -> str:
    """The concrete model a request names: itself, or the newest promoted model of its line."""
    if model == settings.base_model:
        return model
    cards = list_cards(settings.models_dir)
    if any(card.name == model for card in cards):
        return model
    line = [card for card in cards if card.promoted and card.name.startswith(model + ":")]
    return max(line, key=lambda card: card.created).name if line else model


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
