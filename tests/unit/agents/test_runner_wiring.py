"""How a run is wired: ChatOpenAI on the gateway's own API, and where checkpoints live."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from services.gateway.core.agents.checkpoints import open_checkpointer
from services.gateway.core.agents.runner import AgentRequest, AgentService
from shared.infrastructure.settings import Settings
from tests.unit.agents.fakes import FakeRetrieval
from tests.unit.gateway.fakes import ScriptedBackend


def _service(tmp_path: Path, **settings) -> AgentService:
    config = Settings(_env_file=None, data_dir=tmp_path, base_model="base", **settings)
    return AgentService(config, ScriptedBackend(), retrieval=FakeRetrieval(), checkpointer=None)


def _prepared(service: AgentService, model: str = "agent:research@tuned"):
    request = AgentRequest(
        model=model,
        messages=[{"role": "user", "content": "Q?"}],
        knowledge_base="acme",
        thread_id=None,
        gateway_url="http://127.0.0.1:8000/",
        api_key="caller-key",
        request_id="req-1",
    )
    return service.prepare(request)


def test_model_steps_use_chatopenai_on_the_gateway_with_the_callers_key(tmp_path: Path):
    service = _service(tmp_path, agent_step_max_tokens=77)
    prepared = _prepared(service)
    chat = service._chat_model(prepared)
    assert prepared.inner_model == "tuned"
    assert chat.model_name == "tuned"
    assert chat.openai_api_base == "http://127.0.0.1:8000/v1"
    assert chat.openai_api_key.get_secret_value() == "caller-key"
    assert chat.max_tokens == 77
    assert chat.temperature == 0
    assert chat.max_retries == 0
    assert chat.default_headers == {"X-Request-ID": "req-1"}


def test_a_configured_url_and_key_win(tmp_path: Path):
    service = _service(
        tmp_path, agent_gateway_url="http://127.0.0.2:9000/v1", agent_api_key=SecretStr("svc")
    )
    chat = service._chat_model(_prepared(service, "agent:calculate"))
    assert chat.openai_api_base == "http://127.0.0.2:9000/v1"
    assert chat.openai_api_key.get_secret_value() == "svc"
    assert chat.model_name == "base"  # no @model: the base model


def test_checkpoints_are_sqlite_under_the_data_dir_by_default(tmp_path: Path):
    saver, connection = open_checkpointer(Settings(_env_file=None, data_dir=tmp_path))
    try:
        assert type(saver).__name__ == "SqliteSaver"
        assert (tmp_path / "agents" / "checkpoints.sqlite").is_file()
    finally:
        connection.close()


def test_a_checkpoint_url_must_be_postgres(tmp_path: Path):
    settings = Settings(
        _env_file=None, data_dir=tmp_path, agent_checkpoint_url="redis://127.0.0.1:6379/0"
    )
    with pytest.raises(ValueError, match="postgresql://"):
        open_checkpointer(settings)
