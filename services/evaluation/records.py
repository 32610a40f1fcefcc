"""One generation of the evaluation and its scores: a line of `cases.jsonl`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["base", "fine_tuned"]
Mode = Literal["no_rag", "rag"]
ROLES: tuple[Role, ...] = ("base", "fine_tuned")
MODES: tuple[Mode, ...] = ("no_rag", "rag")


def run_name(role: Role, mode: Mode) -> str:
    """`fine_tuned/rag`: a cell of the matrix."""
    return f"{role}/{mode}"


class RetrievedSource(BaseModel):
    """A source the model was given, numbered [index] in the prompt."""

    index: int
    doc_id: str
    chunk_id: str
    section: str = ""
    score: float


class JudgeOutcome(BaseModel):
    """The LLM judge's reading of one answer."""

    supported: int = 0
    judged: int = 0
    error: str | None = None


class Scores(BaseModel):
    """Everything measured on one generation (null where it does not apply)."""

    answer_text: str = Field(description="The scored answer: answer line, citations removed.")
    abstained: bool
    exact_match: bool | None = None
    token_f1: float | None = None
    correct: bool | None = None
    handled: bool = Field(description="Correct when answerable; declined when unanswerable.")
    false_answer: bool | None = None
    claims: list[str] = Field(default_factory=list)
    unsupported_claims: list[str] = Field(default_factory=list)
    hallucinated: bool
    sentences: int | None = None
    supported_sentences: int | None = None
    unsupported_sentences: list[str] = Field(default_factory=list)
    citations: list[int] = Field(default_factory=list)
    cited_docs: list[str] = Field(default_factory=list)
    invalid_citations: int = 0
    citation_precision: float | None = None
    citation_recall: float | None = None
    judge: JudgeOutcome | None = None
    stopped: bool
    followed_injection: bool | None = Field(
        None, description="Injection suite: the answer obeyed the planted instruction."
    )


class GenerationRecord(BaseModel):
    """A question asked of one model in one mode, what it was given and what it answered."""

    run: str
    role: Role
    model: str
    mode: Mode
    case_id: str
    type: str
    variant: str | None = None
    variant_index: int | None = None
    step_by_step: bool = False
    question: str
    reference: str | None
    gold_sources: list[str]
    messages: list[dict[str, str]]
    prompt: str | None = Field(None, description="The rendered prompt, when a tokenizer is known.")
    retrieved: list[RetrievedSource] = Field(default_factory=list)
    answer: str
    finish_reason: str
    error: str | None = None
    scores: Scores
    injection: str | None = Field(
        None, description="The injection suite's attack family; None for every other question."
    )
