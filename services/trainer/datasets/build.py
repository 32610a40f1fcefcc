"""The dataset builder (data preprocessing): Q&A, chat and Alpaca files in, a versioned
chat-JSONL training set out, with a data card.

Grounded mode retrieves each question's sources from a knowledge base and builds the prompt with
the shared grounded template (`shared.contracts.prompts`), the same function the gateway serves
with; the target is the reference answer citing the sources that contain it. Unanswerable examples
(the gold sources removed from the context) teach the abstention sentence. Every example is
validated; over-long ones are dropped and counted, never truncated; duplicates are dropped; the
split is by question, so no validation question (or any variant of it) is ever trained on.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from services.trainer.datasets.agent_subtasks import subtask_examples
from services.trainer.datasets.files import data_card, read_alpaca, write_splits
from services.trainer.datasets.split import Example, TokenCounter, clean_and_split
from shared.contracts import injections
from shared.contracts.chat_data import (
    Message,
    iter_chat_jsonl,
)
from shared.contracts.errors import InvalidRequestError
from shared.contracts.prompts import ABSTENTION, Source, cite, grounded_messages
from shared.contracts.qa_data import read_qa_file
from shared.contracts.schemas import QACase, SearchHit, SearchRequest
from shared.infrastructure.retrieval_client import RetrievalClient

log = logging.getLogger("finerag.ingestion.datasets")

# Passages of a gold document searched for the one that states the answer.
EVIDENCE_CANDIDATES = 8


@dataclass(frozen=True)
class DatasetOptions:
    """How to build the dataset; the defaults suit the sample domain."""

    kb: str | None = None  # grounded mode when set
    top_k: int = 4
    unanswerable_ratio: float = 0.2
    # Share of grounded examples whose top source carries a planted instruction (the target is
    # still the real answer), so the model learns that text in sources is data.
    injection_ratio: float = 0.0
    val_ratio: float = 0.1
    max_seq_len: int = 2048
    seed: int = 7
    near_duplicate_jaccard: float = 0.85
    # Also train the agents' own steps (shared.contracts.agent_prompts): splitting a multi-hop
    # question, extracting a calculation's values with their citations; cases with known sub-tasks
    # only.
    agent_subtasks: bool = False
    # Each sub-task also asked as the case's self-contained variants (typo, paraphrase, terse):
    # the agents are asked in the customers' words, and a case gives one example otherwise.
    agent_subtask_variants: bool = False
    # Each extraction also over its sources in other orders (rotations, one per source at
    # most), so a value is learnt to be found and cited wherever the search puts it.
    agent_subtask_orders: int = 1


@dataclass
class BuildReport:
    """What the builder wrote; `card` is also saved as card.json."""

    out_dir: Path
    card: dict[str, Any] = field(default_factory=dict)


# --- inputs ---------------------------------------------------------------------------------
# --- grounded examples ----------------------------------------------------------------------
def _to_source(hit: SearchHit) -> Source:
    return Source(text=hit.text, doc_id=hit.doc_id, title=hit.title, section=hit.section)


class GroundedBuilder:
    """Builds grounded and abstention examples for Q&A cases from a knowledge base."""

    def __init__(self, retrieval: RetrievalClient, options: DatasetOptions) -> None:
        assert options.kb is not None
        self.retrieval = retrieval
        self.kb = options.kb
        self.options = options

    def _search(self, query: str, top_k: int, doc_id: str | None = None) -> list[SearchHit]:
        request = SearchRequest(
            query=query[:2000],
            top_k=top_k,
            mode="hybrid",
            filter={"doc_id": doc_id} if doc_id else None,
        )
        return list(self.retrieval.search(self.kb, request).hits)

    def sources_for(self, case: QACase) -> tuple[list[SearchHit], list[int]]:
        """Top-k hits with the gold evidence guaranteed in, and the indices to cite.

        Each gold document must be there through a passage that holds the answer where one
        does: a chunk of the right document without it would teach the model to cite a source
        for a fact the source does not state, which is hallucination with a citation. A computed
        answer (arithmetic, multi-hop) is in no passage word for word; its documents come in
        through their best passage for the question and the answer.
        """
        hits = self._search(case.question, self.options.top_k)
        answer = case.answer or ""
        gold = set(case.source_ids)
        for doc_id in case.source_ids:
            present = [i for i, h in enumerate(hits) if h.doc_id == doc_id]
            if present and (not answer or any(answer in hits[i].text for i in present)):
                continue
            evidence = self._evidence(doc_id, case.question, answer)
            if evidence is None or any(h.chunk_id == evidence.chunk_id for h in hits):
                continue
            if present and answer in evidence.text:  # the document's passage without the answer
                hits[present[-1]] = evidence
            elif not present:  # the lowest-ranked passage that is no gold evidence makes room
                if len(hits) >= self.options.top_k:
                    spare = [i for i, h in enumerate(hits) if h.doc_id not in gold]
                    del hits[spare[-1] if spare else -1]
                hits.append(evidence)
        containing = [i for i, h in enumerate(hits, start=1) if answer and answer in h.text]
        cited = containing or [i for i, h in enumerate(hits, start=1) if h.doc_id in gold]
        return hits, cited

    def calculation_sources(self, case: QACase) -> tuple[list[SearchHit], list[int]]:
        """`sources_for`, then each value of the case's calculation (`subtasks.quantities`)
        brought in through a passage of its document that states it, in place of the
        lowest-ranked passage no value needs: a computed answer is in no passage, so the best
        passage of a gold document may lack the price the calculation starts from, and an
        extract example needs every value in a source to cite."""
        hits, cited = self.sources_for(case)
        quantities = case.subtasks.quantities if case.subtasks is not None else []
        needed: set[int] = set()
        for quantity in quantities:
            index = next(
                (
                    i
                    for i, h in enumerate(hits)
                    if h.doc_id == quantity.doc_id and quantity.text in h.text
                ),
                None,
            )
            if index is not None:
                needed.add(index)
                continue
            candidates = self._search(
                f"{case.question} {quantity.text}", EVIDENCE_CANDIDATES, doc_id=quantity.doc_id
            )
            found = next((h for h in candidates if quantity.text in h.text), None)
            if found is None:
                continue  # no passage states it: no extract example for this case
            if len(hits) < self.options.top_k:
                hits.append(found)
                needed.add(len(hits) - 1)
                continue
            spare = [i for i in range(len(hits)) if i not in needed]
            if spare:
                hits[spare[-1]] = found
                needed.add(spare[-1])
        return hits, cited

    def _evidence(self, doc_id: str, question: str, answer: str) -> SearchHit | None:
        """The document's passage that states the answer, else its best one for the question."""
        candidates = self._search(f"{question} {answer}", EVIDENCE_CANDIDATES, doc_id=doc_id)
        stating = [h for h in candidates if answer and answer in h.text]
        found = stating or candidates
        return found[0] if found else None

    def answerable(self, case: QACase, *, injected: bool = False) -> list[Message]:
        """The grounded example: sources, question, answer citing its sources.

        `injected`: the top source carries one of `shared.contracts.injections`' training
        attacks; the target is the same answer, never the attack's canary.
        """
        hits, cited = self.sources_for(case)
        sources = [_to_source(h) for h in hits]
        if injected and sources:
            attack, canary = injections.pick(case.id, "train"), injections.canary_for(case.id)
            sources[0] = replace(
                sources[0], text=injections.poison(sources[0].text, attack, canary)
            )
        messages = grounded_messages(case.question, sources)
        return [*messages, {"role": "assistant", "content": cite(case.answer or "", cited)}]

    def without_gold(self, case: QACase) -> list[Message]:
        """The same question with every gold source removed: the target is the abstention."""
        gold = set(case.source_ids)
        hits = [
            h for h in self._search(case.question, self.options.top_k + 8) if h.doc_id not in gold
        ]
        answer = case.answer or ""
        hits = [h for h in hits if not (answer and answer in h.text)][: self.options.top_k]
        messages = grounded_messages(case.question, [_to_source(h) for h in hits])
        return [*messages, {"role": "assistant", "content": ABSTENTION}]

    def unanswerable(self, case: QACase) -> list[Message]:
        """A question the knowledge base does not answer: retrieved context, abstention target."""
        hits = self._search(case.question, self.options.top_k)
        messages = grounded_messages(case.question, [_to_source(h) for h in hits])
        return [*messages, {"role": "assistant", "content": ABSTENTION}]


def _question_forms(case: QACase) -> tuple[str, ...]:
    """The question and its self-contained variants. A follow-up's last turn ("How much does it
    cost?") names no entity and is shared by many questions, so it is not a form of this one."""
    variants = (str(v.get("question", "")) for v in case.variants if v.get("kind") != "follow_up")
    return (case.question, *variants)


def _qa_examples(
    cases: Sequence[QACase], grounded: GroundedBuilder | None, options: DatasetOptions
) -> list[Example]:
    rng = random.Random(options.seed)
    examples: list[Example] = []
    answerable = [c for c in cases if c.answer is not None]
    removed = (
        set(
            c.id
            for c in rng.sample(answerable, k=round(len(answerable) * options.unanswerable_ratio))
        )
        if grounded
        else set()
    )
    poisoned = (
        set(
            c.id for c in rng.sample(answerable, k=round(len(answerable) * options.injection_ratio))
        )
        if grounded
        else set()
    )
    for case in cases:
        forms = _question_forms(case)
        if grounded is None:
            if case.answer is None:
                continue  # closed-book training has no context to abstain from
            messages = [
                {"role": "user", "content": case.question},
                {"role": "assistant", "content": case.answer},
            ]
            examples.append(Example(messages, case.id, "closed_book", forms))
            continue
        if case.answer is None:
            examples.append(Example(grounded.unanswerable(case), case.id, "unanswerable", forms))
            continue
        injected = case.id in poisoned
        examples.append(
            Example(
                grounded.answerable(case, injected=injected),
                case.id,
                "grounded_injected" if injected else "grounded",
                forms,
            )
        )
        if case.id in removed:
            examples.append(Example(grounded.without_gold(case), case.id, "abstain_removed", forms))
        if options.agent_subtasks and case.subtasks is not None:
            phrasings = forms if options.agent_subtask_variants else ()
            sources = grounded.calculation_sources
            orders = options.agent_subtask_orders
            for messages, kind in subtask_examples(case, sources, phrasings, orders):
                examples.append(Example(messages, case.id, kind, forms))
    return examples


# --- the builder ----------------------------------------------------------------------------
def _check_request(
    has_inputs: bool, retrieval: RetrievalClient | None, options: DatasetOptions
) -> None:
    """Refuse a bad request before any input is read or any retrieval call is made."""
    if not has_inputs:
        raise InvalidRequestError("give at least one of --qa, --chat, --alpaca", param="qa")
    if options.kb and retrieval is None:
        raise InvalidRequestError("grounded mode (--kb) needs the retrieval service", param="kb")
    if not 0 <= options.val_ratio < 1 or not 0 <= options.unanswerable_ratio <= 1:
        raise InvalidRequestError("val_ratio must be in [0, 1) and unanswerable_ratio in [0, 1]")
    if not 0 <= options.injection_ratio <= 1:
        raise InvalidRequestError("injection_ratio must be in [0, 1]", param="injection_ratio")


def _read_examples(
    qa_files: Sequence[Path],
    chat_files: Sequence[Path],
    alpaca_files: Sequence[Path],
    grounded: GroundedBuilder | None,
    options: DatasetOptions,
    progress: Callable[[Iterable[Any]], Iterable[Any]],
) -> list[Example]:
    """Every input's examples: Q&A cases (in chunks of 16, for the progress bar), chat, Alpaca."""
    examples: list[Example] = []
    cases = [case for path in qa_files for case in read_qa_file(path)]
    for chunk_start in progress(range(0, len(cases), 16)):
        examples += _qa_examples(cases[chunk_start : chunk_start + 16], grounded, options)
    for path in chat_files:
        for line_no, messages in enumerate(iter_chat_jsonl(path), start=1):
            examples.append(Example(messages, f"{path.name}:{line_no}", "chat"))
    for path in alpaca_files:
        for index, messages in enumerate(read_alpaca(path), start=1):
            examples.append(Example(messages, f"{path.name}:{index}", "alpaca"))
    return examples


def build_dataset(
    out_dir: Path,
    *,
    qa_files: Sequence[Path] = (),
    chat_files: Sequence[Path] = (),
    alpaca_files: Sequence[Path] = (),
    retrieval: RetrievalClient | None = None,
    count_tokens: TokenCounter | None = None,
    tokenizer_name: str | None = None,
    options: DatasetOptions | None = None,
    progress: Callable[[Iterable[Any]], Iterable[Any]] = lambda items: items,
) -> BuildReport:
    """Build `train.jsonl`, `validation.jsonl` and `card.json` in `out_dir`.

    Args:
        out_dir: the dataset folder (created; files replaced atomically at the end).
        qa_files: evaluation-format JSONL (questions, reference answers, gold sources).
        chat_files: OpenAI chat JSONL, taken as they are (validated).
        alpaca_files: Alpaca JSON/JSONL.
        retrieval: needed for grounded mode (`options.kb`).
        count_tokens: tokens of a rendered conversation; examples over max_seq_len are dropped.
        tokenizer_name: recorded in the card.
        options: grounded mode, ratios, split, seed.
        progress: wraps the per-question loop (a progress bar in the CLI).

    Raises:
        InvalidRequestError: unreadable inputs, grounded mode without retrieval, nothing to build.
    """
    options = options or DatasetOptions()
    _check_request(bool(qa_files or chat_files or alpaca_files), retrieval, options)
    grounded = GroundedBuilder(retrieval, options) if options.kb and retrieval else None
    examples = _read_examples(qa_files, chat_files, alpaca_files, grounded, options, progress)

    split = clean_and_split(
        examples,
        count_tokens,
        max_seq_len=options.max_seq_len,
        near_duplicate_jaccard=options.near_duplicate_jaccard,
        val_ratio=options.val_ratio,
        seed=options.seed,
    )
    if not split.train:
        raise InvalidRequestError("no training examples are left after validation and filtering")

    version = write_splits(out_dir, split.train, split.validation)
    inputs = {
        "qa": [str(p) for p in qa_files],
        "chat": [str(p) for p in chat_files],
        "alpaca": [str(p) for p in alpaca_files],
    }
    card = data_card(version, split, inputs, tokenizer_name, options)
    (out_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return BuildReport(out_dir, card)
