"""The OpenAI-compatible wire format of the gateway's own routes: requests and responses.

Fields clients send that FineRAG does not use are ignored, as OpenAI's own SDKs add new ones
over time; a field of the wrong type or out of range is a 400 naming it.

Responses are OpenAI's objects plus FineRAG's extensions (`citations`, a model's `promoted`).
A field typed `... | MISSING` is left out of the JSON unless it was given. The fine-tuning
API's bodies are in `shared.schemas` (the CLI reads them too); errors have one shape,
`shared.errors.error_body`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import MISSING, BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.gateway.core import rag
from services.gateway.core.generation import ModelInfo
from services.gateway.core.rag import RagOptions
from services.gateway.core.serving import Completion, CompletionRequest, Usage
from shared.errors import InvalidRequestError
from shared.generation.events import FinishReason
from shared.names import KnowledgeBaseName
from shared.schemas import SearchMode

MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 512
# Any seed a 64-bit generator takes (as torch's manual_seed does); larger is a 400.
SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(BaseModel):
    """One part of a message's content array (only text is served)."""

    type: Literal["text"]
    text: str


class ChatMessage(_Request):
    """A chat message."""

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = Field(None, max_length=64)

    def text(self) -> str:
        """The content as one string."""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Request):
    """`stream_options`."""

    include_usage: bool = False


class RagRequest(_Request):
    """`rag`: answer from a knowledge base (the openai SDK sends it with `extra_body`)."""

    model_config = ConfigDict(extra="forbid")

    knowledge_base: KnowledgeBaseName
    top_k: int = Field(4, ge=1, le=50)
    mode: SearchMode = "hybrid"
    step_by_step: bool | None = None


class _SamplingRequest(_Request):
    model: str = Field(min_length=1, max_length=512)
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    n: int = Field(1, ge=1, le=1, description="Only one choice per request is served.")
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=SEED_MIN, le=SEED_MAX)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(None, max_length=256)

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        values = [value] if isinstance(value, str) else value or []
        if len(values) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences")
        if any(len(v) > MAX_STOP_CHARS for v in values):
            raise ValueError(f"a stop sequence is at most {MAX_STOP_CHARS} characters")
        return value

    def stops(self) -> tuple[str, ...]:
        """`stop` as a tuple of non-empty strings."""
        if self.stop is None:
            return ()
        values = [self.stop] if isinstance(self.stop, str) else self.stop
        return tuple(v for v in values if v)

    @property
    def include_usage(self) -> bool:
        """Whether a streamed answer ends with a usage chunk."""
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_SamplingRequest):
    """`POST /v1/chat/completions`."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    rag: RagRequest | None = None

    def to_core(self) -> CompletionRequest:
        """The serving core's request."""
        messages = [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
            for m in self.messages
        ]
        rag = None
        if self.rag is not None:
            rag = RagOptions(
                knowledge_base=self.rag.knowledge_base,
                top_k=self.rag.top_k,
                mode=self.rag.mode,
                step_by_step=self.rag.step_by_step,
            )
        return CompletionRequest(
            kind="chat",
            model=self.model,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            stop=self.stops(),
            messages=messages,
            rag=rag,
        )


class CompletionRequestBody(_SamplingRequest):
    """`POST /v1/completions` (one prompt string per request)."""

    prompt: str | list[str]

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("send one prompt per request")
        return value

    def to_core(self) -> CompletionRequest:
        """The serving core's request."""
        prompt = self.prompt if isinstance(self.prompt, str) else self.prompt[0]
        return CompletionRequest(
            kind="text",
            model=self.model,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            stop=self.stops(),
            prompt=prompt,
        )


class FeedbackRequest(_Request):
    """`POST /v1/feedback`."""

    model_config = ConfigDict(extra="forbid")

    completion_id: str = Field(min_length=1, max_length=128)
    rating: Literal["up", "down"]
    correction: str | None = Field(None, max_length=100_000)
    comment: str | None = Field(None, max_length=10_000)


def parse_body(model: type[_Request], body: Any) -> Any:
    """Validate a JSON body; the first problem becomes a 400 naming its field."""
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        error = exc.errors()[0]
        param = ".".join(str(part) for part in error["loc"]) or None
        raise InvalidRequestError(f"{param}: {error['msg']}", param=param) from None


# --- responses -------------------------------------------------------------------------------
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
