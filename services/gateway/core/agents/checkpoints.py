"""Where agent conversations are kept between requests, so a paused case survives a restart.

Embedded (default): LangGraph's SqliteSaver in `data_dir/agents/checkpoints.sqlite`, on disk
beside the gateway's other state. Distributed: LangGraph's PostgresSaver on the Postgres named by
FINERAG_AGENT_CHECKPOINT_URL, so any gateway replica resumes any conversation. Not Redis: the
Redis here (7.0, no modules) lacks the RedisJSON and RediSearch modules that
`langgraph-checkpoint-redis` needs, and a home-made saver over plain Redis would be one more
thing to trust; Postgres is what a team running this would already operate.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from shared.infrastructure.settings import Settings

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_checkpointer(settings: Settings) -> tuple[Any, Any]:
    """The checkpointer for these settings and the connection to close with it.

    Raises:
        ValueError: FINERAG_AGENT_CHECKPOINT_URL is neither unset nor a Postgres URL.
        ImportError: a Postgres URL without the `agents-postgres` extra installed.
    """
    url = settings.agent_checkpoint_url
    if url:
        if not url.startswith(POSTGRES_SCHEMES):
            raise ValueError(
                "FINERAG_AGENT_CHECKPOINT_URL must be a postgresql:// URL (or unset for SQLite "
                "under FINERAG_DATA_DIR)"
            )
        return _postgres(url)
    from langgraph.checkpoint.sqlite import SqliteSaver

    settings.agents_dir.mkdir(parents=True, exist_ok=True)
    # One connection shared by the request threads; SqliteSaver serialises its use with a lock.
    connection = sqlite3.connect(
        settings.agents_dir / "checkpoints.sqlite", check_same_thread=False, timeout=30
    )
    connection.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(connection)
    saver.setup()
    return saver, connection


def _postgres(url: str) -> tuple[Any, Any]:
    try:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
    except ImportError as exc:
        raise ImportError(
            "agent checkpoints in Postgres need: pip install 'finerag[agents-postgres]'"
        ) from exc
    connection = psycopg.connect(url, autocommit=True, prepare_threshold=0, row_factory=dict_row)
    saver = PostgresSaver(connection)
    saver.setup()
    return saver, connection
