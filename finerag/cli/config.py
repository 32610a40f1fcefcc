"""`finerag env-example`: print every setting with its description and default."""

from __future__ import annotations

import argparse
from typing import Any

from finerag.env_example import render_env_example


def register(subparsers: Any) -> None:
    """Add `finerag env-example`."""
    cmd = subparsers.add_parser(
        "env-example", help="print .env.example (every FINERAG_ variable, documented)"
    )
    cmd.set_defaults(func=_env_example)


def _env_example(_args: argparse.Namespace) -> int:
    print(render_env_example(), end="")
    return 0
