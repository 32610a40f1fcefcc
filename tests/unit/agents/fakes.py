"""A fake knowledge base and a scripted chat model for the agent graphs' unit tests."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from services.gateway.core.agents.steps import AgentTools
from shared.contracts.errors import ServiceUnavailableError
from shared.contracts.schemas import SearchHit, SearchRequest, SearchResponse

DOCS = {
    "products/nimbus.md": "Nimbus headphones. Model code: NB-200. Price: $149. Weight: 0.3 kg.",
    "products/orbit.md": "Orbit speaker. Model code: OR-310. Price: $1,249.50. Weight: 2.4 kg.",
    "troubleshooting/audio.md": "Error E-42 affects one headphones model: the NB-200.",
    "policies/returns.html": "Returning a product. Returns window: 37 days. Refunds in 5 days.",
    "policies/shipping.html": "Express shipping costs $25.",
}


class FakeRetrieval:
    """Ranks the documents by words shared with the query; `down=True` times out."""

    def __init__(self, docs: dict[str, str] | None = None, *, down: bool = False) -> None:
        self.docs = DOCS if docs is None else docs
        self.down = down
        self.queries: list[str] = []

    def search(self, kb: str, request: SearchRequest) -> SearchResponse:
        self.queries.append(request.query)
        if self.down:
            raise ServiceUnavailableError("retrieval service is unreachable: timed out")
        words = {w.strip("?.,").lower() for w in request.query.split()}

        def overlap(item: tuple[str, str]) -> int:
            return len(words & {w.strip("?.,:").lower() for w in item[1].split()})

        ranked = sorted(self.docs.items(), key=overlap, reverse=True)[: request.top_k]
        return SearchResponse(
            hits=[
                SearchHit(
                    chunk_id=f"{doc_id}#0", doc_id=doc_id, source=doc_id, text=text, score=1.0
                )
                for doc_id, text in ranked
            ]
        )


def tools_with(
    replies: Sequence[str], retrieval: FakeRetrieval | None = None, max_steps: int = 16
) -> AgentTools:
    """Agent tools whose model answers `replies` in order (the last one repeats)."""
    scripted = list(replies) or ["?"]
    chat = FakeListChatModel(responses=scripted + [scripted[-1]] * 50)
    return AgentTools(
        chat=chat,
        retrieval=retrieval or FakeRetrieval(),
        knowledge_base="acme",
        top_k=3,
        max_steps=max_steps,
    )
