"""The retrieval API's request validation and error shape (in-process, stand-in embedder)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.retrieval.app import create_app
from shared.infrastructure.settings import Settings


@pytest.fixture
def client(index, tmp_path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path), index=index)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.put(
            "/v1/collections/kb/chunks",
            json={
                "chunks": [
                    {
                        "id": "kb/a.md@v1#0",
                        "kb": "kb",
                        "doc_id": "guides/a.md",
                        "doc_version": "v1",
                        "source": "guides/a.md",
                        "text": "Filters are replaced every six months.",
                        "position": 0,
                    }
                ]
            },
        ).raise_for_status()
        yield test_client


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x" * 2001}, "query"),
        ({"query": "filters", "top_k": 0}, "top_k"),
        ({"query": "filters", "mode": "fuzzy"}, "mode"),
        ({"query": "filters", "colour": "red"}, "colour"),
        ({"query": "filters", "filter": {"secret": 1}}, "filter"),
    ],
)
def test_bad_search_requests_are_400_in_the_wire_shape(client, body, param):
    response = client.post("/v1/collections/kb/search", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_search_answers_hits_with_citation_fields(client):
    response = client.post("/v1/collections/kb/search", json={"query": "replace filters"})
    assert response.status_code == 200
    (hit,) = response.json()["hits"]
    assert hit["doc_id"] == "guides/a.md"
    assert set(hit) >= {"chunk_id", "doc_id", "source", "section", "text", "score"}


def test_documents_with_slashes_in_their_ids_are_addressable(client):
    response = client.get("/v1/collections/kb/documents/guides%2Fa.md")
    assert response.json()["versions"] == {"v1": 1}
    assert client.delete("/v1/collections/kb/documents/guides/a.md").json()["deleted"] == 1


def test_unknown_kb_and_route_are_404_and_request_id_is_echoed(client):
    response = client.post(
        "/v1/collections/nope/search", json={"query": "x"}, headers={"X-Request-ID": "req-test"}
    )
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "req-test"
    assert client.get("/v1/nothing").json()["error"]["type"] == "not_found_error"


def test_health_ready_and_metrics(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").status_code == 200
    client.post("/v1/collections/kb/search", json={"query": "filters"})
    assert 'finerag_retrieval_search_seconds_count{mode="hybrid"}' in client.get("/metrics").text
