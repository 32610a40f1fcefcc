"""The OpenAI-compatible wire format of the gateway's responses (the requests are in
`protocol.py`).

Responses are OpenAI's objects plus FineRAG's extensions (`citations`, a model's `promoted`).
A field typed `... | MISSING` is left out of the JSON unless it was given.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import MISSING, BaseModel, Field

from services.gateway.core import rag
from services.gateway.core.generation import ModelInfo
from services.gateway.core.serving import Completion, Usage
from shared.models.generation.events import FinishReason


class CompletionUsage(BaseModel):
    """`usage`: the tokens of one completion."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, usage: Usage) -> CompletionUsage:
        """The wire form of the core's counts."""
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
        )


class Citation(BaseModel):
    """FineRAG: a source given to the model; the answer cites it as `[index]`."""

    index: int = Field(description="The `[n]` that cites this source in the answer, from 1.")
    chunk_id: str = Field(description="The retrieved chunk.")
    doc_id: str = Field(description="The document the chunk is from.")
    source: str = Field(description="Where the document came from (file name or URL).")
    section: str = Field(description="The chunk's heading path or page, else the title.")
    score: float = Field(description="The retrieval score (higher is closer).")

    @classmethod
    def of(cls, citation: rag.Citation) -> Citation:
        """The wire form of the RAG core's citation."""
        return cls.model_validate(citation.to_dict())


def citations_of(citations: list[rag.Citation]) -> list[Citation] | MISSING:
    """`citations`, or MISSING (the key is left out) when the answer used no sources."""
    return [Citation.of(c) for c in citations] if citations else MISSING


_CITATIONS = "FineRAG: the sources of a RAG answer; absent without `rag`."


class AgentStep(BaseModel):
    """FineRAG, agents: one step of an agent's run, as it happened."""

    name: str = Field(description="The graph's node: decompose, retrieve, extract, check, …")
    input: Any = Field(description="What the step worked on (text clipped to 2000 characters).")
    output: Any = Field(description="What it produced, or why it failed.")
    ok: bool = Field(description="False when the step failed (the run then abstains).")
    ms: float = Field(description="How long the step took.")


AgentStatus = Literal["answered", "abstained", "waiting", "handed_over"]
_STEPS = "FineRAG, agents only: every step of the run, in order."
_THREAD = "FineRAG, agents only: the conversation; send it back as `thread_id` to continue."
_STATUS = (
    "FineRAG, agents only: answered, abstained, waiting (the answer is a question to the "
    "customer; reply on the same thread) or handed_over (a person takes the case)."
)


class AssistantMessage(BaseModel):
    """The answer of a chat completion."""

    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    """The one choice of a chat completion."""

    index: int = 0
    message: AssistantMessage
    logprobs: None = None
    finish_reason: FinishReason


class ChatCompletion(BaseModel):
    """`chat.completion`: the answer of `POST /v1/chat/completions`."""

    id: str = Field(description="`chatcmpl-…`; `POST /v1/feedback` names the answer by it.")
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str = Field(description="The model that answered (an alias resolved).")
    choices: list[ChatChoice]
    usage: CompletionUsage
    citations: list[Citation] | MISSING = Field(MISSING, description=_CITATIONS)
    steps: list[AgentStep] | MISSING = Field(MISSING, description=_STEPS)
    thread_id: str | MISSING = Field(MISSING, description=_THREAD)
    agent_status: AgentStatus | MISSING = Field(MISSING, description=_STATUS)


class TextChoice(BaseModel):
    """The one choice of a text completion, or one piece of it when streamed."""

    index: int = 0
    text: str
    logprobs: None = None
    finish_reason: FinishReason | None = Field(
        description="Why generation stopped; null in a stream until its last piece."
    )


class TextCompletion(BaseModel):
    """`text_completion`: the answer of `POST /v1/completions`, and each chunk of its stream."""

    id: str = Field(description="`cmpl-…`; `POST /v1/feedback` names the answer by it.")
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[TextChoice] = Field(description="Empty in a stream's usage chunk.")
    citations: list[Citation] | MISSING = Field(MISSING, description=_CITATIONS)
    usage: CompletionUsage | MISSING | None = Field(
        MISSING,
        description="Always in a whole answer; in a stream, only with "
        "`stream_options.include_usage` (null until the last chunk).",
    )


def completion_response(
    completion: Completion, kind: Literal["chat", "text"]
) -> ChatCompletion | TextCompletion:
    """The whole answer as a `chat.completion` or a `text_completion`."""
    usage = CompletionUsage.of(completion.usage)
    citations = citations_of(completion.citations)
    if kind == "chat":
        return ChatCompletion(
            id=completion.id,
            created=completion.created,
            model=completion.model,
            choices=[
                ChatChoice(
                    message=AssistantMessage(content=completion.text),
                    finish_reason=completion.finish_reason,
                )
            ],
            usage=usage,
            citations=citations,
        )
    return TextCompletion(
        id=completion.id,
        created=completion.created,
        model=completion.model,
        choices=[TextChoice(text=completion.text, finish_reason=completion.finish_reason)],
        citations=citations,
        usage=usage,
    )


class ChunkDelta(BaseModel):
    """What a chunk adds to the answer: the role once, first, then the text piece by piece."""

    role: Literal["assistant"] | MISSING = MISSING
    content: str | MISSING = MISSING


class ChunkChoice(BaseModel):
    """The one choice of a chat completion chunk."""

    index: int = 0
    delta: ChunkDelta
    logprobs: None = None
    finish_reason: FinishReason | None = Field(description="Set in the last chunk with a choice.")


class ChatCompletionChunk(BaseModel):
    """`chat.completion.chunk`: one server-sent event of a streamed chat completion."""

    id: str = Field(description="The same in every chunk of one answer.")
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice] = Field(description="Empty in the usage chunk.")
    citations: list[Citation] | MISSING = Field(
        MISSING, description=f"{_CITATIONS} Sent in the first chunk."
    )
    usage: CompletionUsage | MISSING | None = Field(
        MISSING,
        description="Only with `stream_options.include_usage`: null until the last chunk.",
    )
    finerag_step: AgentStep | MISSING = Field(
        MISSING, description="FineRAG, agents only: a step of the run, sent as it finishes."
    )
    thread_id: str | MISSING = Field(MISSING, description=_THREAD)
    agent_status: AgentStatus | MISSING = Field(
        MISSING, description=f"{_STATUS} Sent in the chunk that finishes the answer."
    )


class Model(BaseModel):
    """`model`: one model the gateway serves."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="When the model was published (0 for the base).")
    owned_by: Literal["finerag"] = "finerag"
    root: str = Field(description="The base model it is built on (itself for the base).")
    parent: str | None = Field(description="The base of a fine-tuned model; null for the base.")
    promoted: bool | MISSING = Field(
        MISSING,
        description="FineRAG, fine-tuned models only: whether the release gate promoted it.",
    )

    @classmethod
    def of(cls, model: ModelInfo) -> Model:
        """The wire form of a served model (`promoted` from the registry's `extra`)."""
        promoted = model.extra.get("promoted")
        return cls(
            id=model.id,
            created=model.created,
            root=model.parent or model.id,
            parent=model.parent,
            promoted=promoted if isinstance(promoted, bool) else MISSING,
        )


class Feedback(BaseModel):
    """`feedback`: the receipt of `POST /v1/feedback`, once the rating is on disk."""

    id: str = Field(description="`fb-…`.")
    object: Literal["feedback"] = "feedback"
    completion_id: str = Field(description="The answer the feedback is about.")


class Health(BaseModel):
    """`GET /health`: the process answers."""

    status: Literal["ok"] = "ok"


class ReadyChecks(BaseModel):
    """What `/ready` tried."""

    model: Literal["ok"] = Field(description="A one-token generation worked.")
    retrieval: Literal["ok"] | MISSING = Field(
        MISSING, description="The retrieval service answered; absent when RAG is not configured."
    )


class Readiness(BaseModel):
    """`GET /ready`: the gateway can answer (errors are a 503 in the error shape)."""

    status: Literal["ready"] = "ready"
    checks: ReadyChecks
