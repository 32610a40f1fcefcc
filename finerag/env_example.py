"""Write `.env.example` from the settings object, so the two cannot drift apart."""

from __future__ import annotations

from pydantic import SecretStr

from shared.infrastructure.settings import Settings


def render_env_example() -> str:
    """Every FINERAG_ variable with its description and default (optional ones commented out)."""
    lines = [
        "# FineRAG settings. Every variable is optional: the embedded defaults need none.",
        "# Copy to .env and uncomment what you change. Written by `finerag env-example`.",
        "",
    ]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            value = ",".join(
                v.get_secret_value() if isinstance(v, SecretStr) else str(v) for v in default
            )
        else:
            value = "" if default is None else str(default)
        lines.append(f"# {field.description}")
        lines.append(f"# FINERAG_{name.upper()}={value}")
        lines.append("")
    return "\n".join(lines)
