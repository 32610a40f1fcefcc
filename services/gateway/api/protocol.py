"""The OpenAI-compatible wire format of the gateway's own routes: the requests (the responses
are in `responses.py`).

Fields clients send that FineRAG does not use are ignored, as OpenAI's own SDKs add new ones
over time; a field of the wrong type or out of range is a 400 naming it.

The fine-tuning API's bodies are in `shared.contracts.schemas` (the CLI reads them too); errors
have one shape, `shared.contracts.errors.error_body`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.gateway.core.agents.runner import AgentRequest
from services.gateway.core.rag import RagOptions
from services.gateway.core.serving import CompletionRequest
from shared.contracts.errors import InvalidRequestError
from shared.contracts.names import KnowledgeBaseName
from shared.contracts.prompts import Message
from shared.contracts.schemas import SearchMode

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
    thread_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.:-]{1,128}$",
        description="FineRAG, agents only: the conversation a message continues (a paused "
        "support case resumes on it); returned in every agent answer.",
    )

    def core_messages(self) -> list[Message]:
        """The messages as the cores take them (`developer` is a system message)."""
        return [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
            for m in self.messages
        ]

    def to_agent(
        self, gateway_url: str, api_key: str | None, request_id: str | None
    ) -> AgentRequest:
        """The agent runner's request (model steps go to `gateway_url` with `api_key`)."""
        return AgentRequest(
            model=self.model,
            messages=self.core_messages(),
            knowledge_base=self.rag.knowledge_base if self.rag else None,
            thread_id=self.thread_id,
            gateway_url=gateway_url,
            api_key=api_key,
            request_id=request_id,
        )

    def to_core(self) -> CompletionRequest:
        """The serving core's request."""
        messages = self.core_messages()
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
            stream=self.stream,
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
            stream=self.stream,
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
