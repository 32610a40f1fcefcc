"""`finerag serve`: each target is started by its own service, never on an open address without a
service token."""

from __future__ import annotations

import pytest

from finerag.cli import build_parser
from finerag.cli.serve import SERVE_TARGETS
from shared.contracts.errors import InvalidRequestError
from shared.infrastructure.fastapi_server import is_loopback, serve_fastapi
from shared.infrastructure.settings import Settings


def test_every_part_can_be_served():
    assert set(SERVE_TARGETS) == {
        "retrieval",
        "ingestion",
        "ingestion-worker",
        "gateway",
        "trainer",
    }


@pytest.mark.parametrize(
    ("target", "module"),
    [("retrieval", "services.retrieval.server"), ("ingestion", "services.ingestion.server")],
)
def test_a_target_is_started_by_its_service_with_the_address_given(monkeypatch, target, module):
    import importlib

    calls = []

    def fake_serve(*args):
        calls.append(args)
        return 0

    server = importlib.import_module(module)
    monkeypatch.setattr(server, "serve_fastapi", fake_serve)
    args = build_parser().parse_args(["serve", target, "--host", "127.0.0.2", "--port", "9123"])
    assert args.func(args) == 0
    factory, host, port, _settings = calls[0]
    assert factory == server.APP_FACTORY
    assert (host, port) == ("127.0.0.2", 9123)
    args = build_parser().parse_args(["serve", target])
    args.func(args)
    assert calls[1][2] == server.DEFAULT_PORT


def test_an_open_address_without_a_service_token_is_refused_before_anything_listens(monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("uvicorn must not start"))
    with pytest.raises(InvalidRequestError, match="FINERAG_SERVICE_TOKEN") as refused:
        serve_fastapi("x:y", "0.0.0.0", 8001, Settings(_env_file=None, service_token=None))
    assert refused.value.param == "host"


def test_loopback_addresses():
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.0.0.5")
    assert not is_loopback("example.com")
