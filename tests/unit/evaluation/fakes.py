"""Stand-ins for the evaluation's unit tests: a scripted chat client and a word-overlap search."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from services.evaluation.chat_clients import ChatRequest, ChatResult
from shared.contracts.errors import NotFoundError
from shared.contracts.schemas import QACase, SearchHit, SearchRequest, SearchResponse

Script = Callable[[ChatRequest, str, bool], tuple[str, str]]


def asked_question(request: ChatRequest) -> tuple[str, bool]:
    """The question of a request and whether it came with sources (RAG)."""
    user = request.messages[-1]["content"]
    if "Question: " in user:
        return user.rsplit("Question: ", 1)[-1].split("\n\n")[0].strip(), True
    return user.strip(), False


class ScriptedChat:
    """Answers each request with `script(request, question, rag)` -> (text, finish_reason)."""

    def __init__(self, script: Script, models: Sequence[str] = ("tuned", "base")) -> None:
        self.script = script
        self.models = list(models)
        self.requests: list[ChatRequest] = []

    def check_models(self, models: Sequence[str]) -> None:
        for model in models:
            if model not in self.models:
                raise NotFoundError(f"The model {model!r} does not exist.", param="model")

    def complete(
        self, requests: Sequence[ChatRequest], on_done: Callable[[], None] | None = None
    ) -> list[ChatResult]:
        self.requests += requests
        results = []
        for request in requests:
            question, rag = asked_question(request)
            text, reason = self.script(request, question, rag)
            results.append(
                ChatResult(text, reason, "scripted failure" if reason == "error" else None)
            )
            if on_done is not None:
                on_done()
        return results

    def close(self) -> None:
        return None


class WordSearch:
    """A knowledge base of one chunk per document, ranked by shared words with the query."""

    def __init__(self, documents: dict[str, str], kb: str = "acme") -> None:
        self.documents = documents
        self.kb = kb
        self.searches: list[SearchRequest] = []

    def list_collections(self) -> list[dict[str, Any]]:
        return [{"name": self.kb, "points": len(self.documents)}]

    def search(self, kb: str, request: SearchRequest) -> SearchResponse:
        assert kb == self.kb
        self.searches.append(request)
        words = set(re.findall(r"\w+", request.query.lower()))
        ranked = sorted(
            self.documents.items(),
            key=lambda item: (-len(words & set(re.findall(r"\w+", item[1].lower()))), item[0]),
        )
        hits = [
            SearchHit(chunk_id=f"{doc}#0", doc_id=doc, source=doc, text=text, score=1.0 / rank)
            for rank, (doc, text) in enumerate(ranked[: request.top_k], start=1)
        ]
        return SearchResponse(hits=hits)


DOCUMENTS = {
    "products/aurora-x2.md": "The Aurora X2 air purifier costs $1,249. It is assembled in Sathfa.",
    "pricing.md": "The Viaxsto Plus plan costs $46.95 per month.",
    "troubleshooting/thermostats.md": "Error T-928 affects the Docun C4 smart thermostat.",
    "products/docun-c4.md": "The Docun C4 smart thermostat has a warranty of 27 months.",
    "policies/returns.md": "Returns are accepted within 30 days of delivery.",
}


def sample_cases() -> list[QACase]:
    """Five hand-made cases, one or more of each type, with variants."""
    follow_up = [
        {"role": "user", "content": "I have a question about the Aurora X2."},
        {"role": "assistant", "content": "Sure. What would you like to know?"},
    ]
    return [
        QACase(id="f1", question="How much does the Aurora X2 cost?", answer="$1,249",
               source_ids=["products/aurora-x2.md"], type="factual",
               variants=[{"kind": "typo", "question": "How much dose the Aurora X2 cost?"},
                         {"kind": "terse", "question": "aurora x2 price?"},
                         {"kind": "follow_up", "question": "How much does it cost?",
                          "turns": follow_up}]),
        QACase(id="f2", question="Where is the Aurora X2 assembled?", answer="Sathfa",
               source_ids=["products/aurora-x2.md"], type="factual",
               variants=[{"kind": "paraphrase", "question": "Which town builds the Aurora X2?"}]),
        QACase(id="u1", question="How loud is the Aurora X2 air purifier?", answer=None,
               type="unanswerable",
               variants=[{"kind": "terse", "question": "aurora x2 noise?"}]),
        QACase(id="m1", question="Error T-928 lists one smart thermostat. What is its warranty?",
               answer="27 months",
               source_ids=["troubleshooting/thermostats.md", "products/docun-c4.md"],
               type="multi_hop"),
        QACase(id="a1", question="What is the total price of the Viaxsto Plus plan for 6 months?",
               answer="$281.70", source_ids=["pricing.md"], type="arithmetic"),
    ]  # fmt: skip
