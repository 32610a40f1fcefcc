"""RAG: retrieve for the user's question and build the grounded prompt with citations."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from services.gateway.core.context_budget import fit_sources
from services.gateway.core.kb_prompts import KnowledgeBasePrompts
from shared.contracts.errors import InvalidRequestError, ServiceUnavailableError
from shared.contracts.prompts import Message, Source, grounded_messages
from shared.contracts.schemas import MAX_QUERY_CHARS, SearchHit, SearchMode, SearchRequest
from shared.infrastructure.retrieval_client import RetrievalClient


@dataclass(frozen=True)
class RagOptions:
    """The `rag` field of a request."""

    knowledge_base: str
    top_k: int = 4
    mode: SearchMode = "hybrid"
    step_by_step: bool | None = None  # None: the knowledge base's default


@dataclass(frozen=True)
class Citation:
    """A source given to the model; `index` is its `[n]` in the answer."""

    index: int
    chunk_id: str
    doc_id: str
    source: str
    section: str
    score: float

    def to_dict(self) -> dict[str, object]:
        """The wire form."""
        return asdict(self)


@dataclass(frozen=True)
class GroundedPrompt:
    """The messages the model sees and the sources they number."""

    messages: list[Message]
    citations: list[Citation]


def _prompt_renderer(
    messages: Sequence[Message], options: RagOptions, kb_prompts: KnowledgeBasePrompts
) -> Callable[[Sequence[Source]], list[Message]]:
    """The grounded prompt as a function of its sources, so the budget can try fewer of them."""
    question = messages[-1]["content"]
    system = [m["content"] for m in messages if m["role"] == "system"]
    history = [m for m in messages[:-1] if m["role"] in ("user", "assistant")]
    config = kb_prompts.for_kb(options.knowledge_base)
    step_by_step = config.step_by_step if options.step_by_step is None else options.step_by_step
    few_shot = config.examples()

    def render(sources: Sequence[Source]) -> list[Message]:
        return grounded_messages(
            question,
            sources,
            system_prompt="\n\n".join(system) or config.system_prompt,
            history=history,
            few_shot=few_shot,
            step_by_step=step_by_step,
        )

    return render


def _ranked_sources(
    retrieval: RetrievalClient, question: str, options: RagOptions
) -> list[tuple[SearchHit, Source]]:
    """The hits for the question, best first, each beside the source the prompt shows for it."""
    query = question.strip()[:MAX_QUERY_CHARS] or question
    hits = retrieval.search(
        options.knowledge_base, SearchRequest(query=query, top_k=options.top_k, mode=options.mode)
    ).hits
    return [
        (hit, Source(text=hit.text, doc_id=hit.doc_id, title=hit.title, section=hit.section))
        for hit in hits
    ]


def _citations(kept: Sequence[tuple[SearchHit, Source]]) -> list[Citation]:
    """The kept hits numbered from 1 in prompt order, the `[n]` the model cites them by."""
    return [
        Citation(i, hit.chunk_id, hit.doc_id, hit.source, hit.section or hit.title, hit.score)
        for i, (hit, _) in enumerate(kept, start=1)
    ]


def build_grounded_prompt(
    messages: Sequence[Message],
    options: RagOptions,
    *,
    retrieval: RetrievalClient | None,
    kb_prompts: KnowledgeBasePrompts,
    count_tokens: Callable[[Sequence[Message]], int],
    max_tokens: int,
    context_window: int,
) -> GroundedPrompt:
    """Search the knowledge base for the last user message and fit the hits into the context.

    The caller's system message (if any) replaces the knowledge base's system prompt; earlier
    user and assistant turns are kept verbatim as history. Hits are numbered best first and the
    lowest-ranked are dropped when the context is short.

    Raises:
        InvalidRequestError: the last message is not the user's, or the messages do not fit.
        ServiceUnavailableError: no retrieval service is configured, or it is down.
    """
    if retrieval is None:
        raise ServiceUnavailableError(
            "RAG is not available: this gateway has no retrieval service (FINERAG_RETRIEVAL_URL).",
            code="rag_not_configured",
            param="rag",
        )
    if not messages or messages[-1]["role"] != "user":
        raise InvalidRequestError(
            "With rag, the last message must be the user's question.", param="messages"
        )
    render = _prompt_renderer(messages, options, kb_prompts)
    ranked = _ranked_sources(retrieval, messages[-1]["content"], options)
    kept = fit_sources(
        ranked,
        lambda subset: count_tokens(render([source for _, source in subset])),
        max_tokens=max_tokens,
        context_window=context_window,
    )
    return GroundedPrompt(render([source for _, source in kept]), _citations(kept))
