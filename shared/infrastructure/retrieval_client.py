"""How a core reaches retrieval: one interface, an HTTP implementation, and (in `finerag/`)
an in-process one for the embedded mode."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from pydantic import BaseModel, Field, SecretStr

from shared.contracts.errors import (
    ConflictError,
    FineRAGError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    UnsupportedMediaTypeError,
    UpstreamError,
)
from shared.contracts.names import check_kb_name
from shared.contracts.schemas import Chunk, SearchRequest, SearchResponse
from shared.infrastructure.settings import Settings

DEFAULT_RETRIEVAL_URL = "http://127.0.0.1:8001"


class DocumentInfo(BaseModel):
    """A document as the store holds it: its chunks, counted per version."""

    doc_id: str
    source: str = ""
    title: str = ""
    chunks: int = 0
    versions: dict[str, int] = Field(
        default_factory=dict, description="Chunk count per document version (content hash)."
    )


class RetrievalClient(Protocol):
    """What the ingestion core, the dataset builder and the gateway need from retrieval."""

    def upsert_chunks(
        self, kb: str, chunks: Sequence[Chunk], *, replace_documents: bool = False
    ) -> int:
        """Embed and store chunks in one write (creating the collection if needed).

        Readers see the write whole or not at all. With `replace_documents`, each document's
        other chunks go in the same step. Returns points written.
        """
        ...

    def delete_document(self, kb: str, doc_id: str, *, keep_version: str | None = None) -> int:
        """Remove a document's chunks (all versions, or all but `keep_version`)."""
        ...

    def search(self, kb: str, request: SearchRequest) -> SearchResponse:
        """Search one knowledge base."""
        ...

    def list_collections(self) -> list[dict[str, Any]]:
        """Knowledge bases with their point counts."""
        ...

    def list_documents(self, kb: str) -> list[DocumentInfo]:
        """The documents of a knowledge base (404 when it does not exist)."""
        ...

    def get_document(self, kb: str, doc_id: str) -> DocumentInfo | None:
        """One document's chunk counts per version; None when the KB or document is absent."""
        ...


_ERRORS_BY_STATUS: dict[int, type[FineRAGError]] = {
    400: InvalidRequestError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
}


def _raise_for_error(response: httpx.Response) -> None:
    """Turn an error answer of the retrieval service back into the domain error it was."""
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        message, code, param = str(error["message"]), error.get("code"), error.get("param")
    except (ValueError, KeyError, TypeError):
        message, code, param = response.text[:200] or response.reason_phrase, None, None
    if response.status_code >= 500:
        raise ServiceUnavailableError(
            f"retrieval service answered {response.status_code}: {message}"
        )
    error_class = _ERRORS_BY_STATUS.get(response.status_code, UpstreamError)
    raise error_class(message, code=code, param=param)


class HttpRetrievalClient:
    """The retrieval service over HTTP; connection failures and 5xx raise 503 errors."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        service_token: SecretStr | None = None,
    ) -> None:
        headers = (
            {"Authorization": f"Bearer {service_token.get_secret_value()}"} if service_token else {}
        )
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout_s, transport=transport, headers=headers
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpRetrievalClient:
        """The client of FINERAG_RETRIEVAL_URL (default: this host's port 8001), with the token."""
        return cls(
            settings.retrieval_url or DEFAULT_RETRIEVAL_URL,
            timeout_s=settings.retrieval_timeout_s,
            service_token=settings.service_token,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> HttpRetrievalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(
                f"retrieval service at {self._http.base_url} is unreachable: {exc}"
            ) from exc
        _raise_for_error(response)
        return response.json()

    def upsert_chunks(
        self, kb: str, chunks: Sequence[Chunk], *, replace_documents: bool = False
    ) -> int:
        """Embed and store chunks server-side in one write; returns points written."""
        body = {
            "chunks": [chunk.model_dump(mode="json") for chunk in chunks],
            "replace_documents": replace_documents,
        }
        return int(self._call("PUT", f"/v1/collections/{_kb(kb)}/chunks", json=body)["upserted"])

    def delete_document(self, kb: str, doc_id: str, *, keep_version: str | None = None) -> int:
        """Remove a document's chunks (all versions, or all but `keep_version`)."""
        params = {"keep_version": keep_version} if keep_version else None
        answer = self._call(
            "DELETE", f"/v1/collections/{_kb(kb)}/documents/{_quote(doc_id)}", params=params
        )
        return int(answer["deleted"])

    def search(self, kb: str, request: SearchRequest) -> SearchResponse:
        """Search one knowledge base."""
        answer = self._call(
            "POST", f"/v1/collections/{_kb(kb)}/search", json=request.model_dump(exclude_none=True)
        )
        return SearchResponse.model_validate(answer)

    def list_collections(self) -> list[dict[str, Any]]:
        """Knowledge bases with their point counts."""
        return list(self._call("GET", "/v1/collections")["data"])

    def list_documents(self, kb: str) -> list[DocumentInfo]:
        """The documents of a knowledge base."""
        answer = self._call("GET", f"/v1/collections/{_kb(kb)}/documents")
        return [DocumentInfo.model_validate(doc) for doc in answer["data"]]

    def get_document(self, kb: str, doc_id: str) -> DocumentInfo | None:
        """One document's chunk counts per version; None when absent."""
        try:
            answer = self._call("GET", f"/v1/collections/{_kb(kb)}/documents/{_quote(doc_id)}")
        except NotFoundError:
            return None
        return DocumentInfo.model_validate(answer)


def _kb(kb: str) -> str:
    """A knowledge-base name checked, then quoted as one path segment."""
    return quote(check_kb_name(kb), safe="")


def _quote(doc_id: str) -> str:
    """A doc id as one path segment (doc ids are relative paths and may hold slashes)."""
    return quote(doc_id, safe="")
