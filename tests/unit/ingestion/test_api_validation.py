"""The ingestion API refuses bad uploads before queuing anything (no Redis or worker needed)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.ingestion.api.deps import IngestionContext
from services.ingestion.api.uploads import doc_id_from_filename
from services.ingestion.app import create_app
from shared.contracts.errors import InvalidRequestError
from shared.infrastructure.settings import Settings


class NoJobs:
    """Fails the test if a refused request reached the job store."""

    def create(self, *args: object) -> None:
        raise AssertionError("a refused upload must not create a job")


@pytest.fixture
def client(tmp_path) -> TestClient:
    settings = Settings(data_dir=tmp_path, max_upload_bytes=1000)
    app = create_app(settings)
    # No lifespan: the routes get a context whose job store must never be reached.
    app.state.context = IngestionContext(settings, NoJobs(), None, None)  # type: ignore[arg-type]
    return TestClient(app, raise_server_exceptions=False)


def post(client: TestClient, kb: str = "kb", **kwargs: object):
    return client.post(f"/v1/knowledge-bases/{kb}/documents", **kwargs)  # type: ignore[arg-type]


def test_unsupported_file_type_is_415_listing_supported_types(client):
    response = post(client, files=[("files", ("ok.md", b"# ok")), ("files", ("x.docx", b"..."))])
    assert response.status_code == 415
    message = response.json()["error"]["message"]
    assert "x.docx" in message
    assert all(suffix in message for suffix in (".md", ".txt", ".html", ".pdf", ".jsonl"))


def test_unsupported_content_type_is_415(client):
    response = post(client, content=b"hello", headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_upload_over_the_limit_is_413(client):
    response = post(client, files=[("files", ("big.txt", b"x" * 2000))])
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_bad_json_document_is_400_naming_the_field(client):
    response = post(client, json={"doc_id": "a", "text": ""})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "text"


def test_bad_kb_name_is_400(client):
    response = post(client, "bad.name", files=[("files", ("a.md", b"x"))])
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "kb"


def test_duplicate_file_names_are_400(client):
    response = post(client, files=[("files", ("a.md", b"x")), ("files", ("./a.md", b"y"))])
    assert response.status_code == 400


@pytest.mark.parametrize("name", ["", "..", "../secret.md", "a/../../b.md"])
def test_file_names_cannot_escape(name):
    with pytest.raises(InvalidRequestError):
        doc_id_from_filename(name)


def test_file_names_become_relative_doc_ids():
    assert doc_id_from_filename("/guides\\setup.md") == "guides/setup.md"
