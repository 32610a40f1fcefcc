"""Per-knowledge-base prompting: system prompt, few-shot examples, step-by-step by default.

Read from the YAML file named by FINERAG_KB_PROMPTS_FILE:

    knowledge_bases:
      acme:
        system_prompt: "You answer for ACME support. ..."
        step_by_step: false
        few_shot:
          - question: "How much is the Pro plan?"
            sources: [{text: "The Pro plan costs $12.", doc_id: pricing.md, section: Plans}]
            answer: "The Pro plan costs $12 [1]."

Everything here only feeds `shared.contracts.prompts.grounded_messages()`'s parameters, so the
evaluation can switch each option and measure it against the same template.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.prompts import FewShotExample, Source


class SourceConfig(BaseModel):
    """A source of a few-shot example."""

    model_config = ConfigDict(extra="forbid")

    text: str
    doc_id: str = ""
    title: str = ""
    section: str = ""


class ExampleConfig(BaseModel):
    """A worked example shown before the question."""

    model_config = ConfigDict(extra="forbid")

    question: str
    sources: list[SourceConfig] = Field(default_factory=list)
    answer: str


class KnowledgeBasePrompt(BaseModel):
    """How questions against one knowledge base are prompted."""

    model_config = ConfigDict(extra="forbid")

    system_prompt: str | None = None
    step_by_step: bool = False
    few_shot: list[ExampleConfig] = Field(default_factory=list)

    def examples(self) -> tuple[FewShotExample, ...]:
        """The few-shot examples in the template's types."""
        return tuple(
            FewShotExample(
                question=ex.question,
                sources=tuple(Source(**s.model_dump()) for s in ex.sources),
                answer=ex.answer,
            )
            for ex in self.few_shot
        )


class KnowledgeBasePrompts(BaseModel):
    """The whole file: prompt options per knowledge base name."""

    model_config = ConfigDict(extra="forbid")

    knowledge_bases: dict[str, KnowledgeBasePrompt] = Field(default_factory=dict)

    def for_kb(self, kb: str) -> KnowledgeBasePrompt:
        """The options of `kb` (the template's defaults when it has none)."""
        return self.knowledge_bases.get(kb, KnowledgeBasePrompt())


def load_kb_prompts(path: Path | None) -> KnowledgeBasePrompts:
    """Read and validate the file; no file means defaults everywhere."""
    if path is None:
        return KnowledgeBasePrompts()
    if not path.is_file():
        raise ValueError(f"FINERAG_KB_PROMPTS_FILE={path} does not exist; fix the path or unset it")
    return KnowledgeBasePrompts.model_validate(yaml.safe_load(path.read_text("utf-8")) or {})
