"""The embedded pipeline: every stage's core in one process, state under one folder.

This is the composition root of `finerag demo`: the only code that wires several services' cores
together in-process. Each step prints what it did through `report`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finerag.sample_domain import SampleDomain, generate_sample_domain, iter_corpus_texts
from finerag.tiny_model import TinyModelSpec, build_tiny_model
from shared.prompts import Source, grounded_messages, render_prompt
from shared.retrieval_client import RetrievalClient
from shared.schemas import QACase
from shared.settings import Settings

Report = Callable[[str], None]


@contextmanager
def _step(report: Report, title: str) -> Iterator[None]:
    report(f"\n== {title}")
    started = time.monotonic()
    yield
    report(f"   ({time.monotonic() - started:.1f} s)")


def build_tiny_from_domain(out: Path, domain: SampleDomain, spec: TinyModelSpec) -> Path:
    """The tiny model pretrained on the domain's documents; its tokenizer sees the questions too."""
    texts = list(iter_corpus_texts(domain))
    documents = texts[: len(domain.doc_ids)]  # the documents come first, one text each
    return build_tiny_model(out, documents, spec, tokenizer_texts=texts[len(documents) :])


def ensure_tiny_model(out: Path, domain: SampleDomain, spec: TinyModelSpec) -> Path:
    """Build the tiny model into `out` unless the same spec was built there already."""
    card = out / "finerag_tiny.json"
    if card.exists() and json.loads(card.read_text()).get("spec") == spec.__dict__:
        return out
    return build_tiny_from_domain(out, domain, spec)


def ingest_folder(retrieval: RetrievalClient, settings: Settings, kb: str, folder: Path) -> int:
    """Ingest the supported files under `folder` (doc id = relative path); returns chunks."""
    from services.ingestion.core.chunking import Chunker
    from services.ingestion.core.parsing import SUPPORTED_SUFFIXES
    from services.ingestion.core.pipeline import IngestItem, Ingestor
    from services.ingestion.core.tokens import load_token_counter

    chunker = Chunker(
        load_token_counter(settings.embedding_model),
        chunk_tokens=settings.chunk_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
    )
    items = [
        IngestItem(path.relative_to(folder).as_posix(), path=path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES
    ]
    report = Ingestor(retrieval, chunker).ingest(kb, items, None)
    if report.errors:
        raise RuntimeError(f"ingestion failed for {[e.file for e in report.errors]}")
    return sum(d.chunks for d in report.documents)


def build_grounded_dataset(
    retrieval: RetrievalClient,
    kb: str,
    qa_path: Path,
    tokenizer_dir: Path,
    out: Path,
    *,
    top_k: int = 3,
    max_seq_len: int = 1024,
    seed: int = 7,
) -> dict[str, Any]:
    """The grounded SFT dataset of a knowledge base, token lengths measured with the model's
    own tokenizer; returns the data card."""
    from services.ingestion.core.datasets import DatasetOptions, build_dataset
    from shared.modeling import load_tokenizer
    from shared.prompts import count_chat_tokens

    tokenizer = load_tokenizer(tokenizer_dir)

    options = DatasetOptions(kb=kb, top_k=top_k, max_seq_len=max_seq_len, seed=seed)
    report = build_dataset(
        out,
        qa_files=[qa_path],
        retrieval=retrieval,
        count_tokens=lambda messages: count_chat_tokens(tokenizer, messages),
        tokenizer_name=str(tokenizer_dir),
        options=options,
    )
    return report.card


@dataclass(frozen=True)
class GroundedAnswer:
    """A model's reply to a grounded question, with what it was given."""

    case_id: str
    question: str
    reference: str | None
    answer: str
    cited_docs: list[str]
    stopped: bool  # ended with <|eot_id|> within max_new_tokens


def answer_cases(
    model: Any,
    tokenizer: Any,
    retrieval: RetrievalClient,
    kb: str,
    cases: Sequence[QACase],
    *,
    top_k: int = 3,
    max_new_tokens: int = 32,
) -> list[GroundedAnswer]:
    """Retrieve, build the served prompt with the shared template, generate greedily."""
    import torch

    from shared.prompts import parse_citations
    from shared.schemas import SearchRequest

    answers = []
    for case in cases:
        hits = retrieval.search(kb, SearchRequest(query=case.question, top_k=top_k)).hits
        sources = [Source(h.text, doc_id=h.doc_id, title=h.title, section=h.section) for h in hits]
        prompt = render_prompt(tokenizer, grounded_messages(case.question, sources))
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            output = model.generate(
                input_ids=ids, max_new_tokens=max_new_tokens, do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )  # fmt: skip
        new = output[0, ids.shape[1] :].tolist()
        eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
        text = str(tokenizer.decode(new, skip_special_tokens=True)).strip()
        cited = [hits[i - 1].doc_id for i in parse_citations(text) if 0 < i <= len(hits)]
        answers.append(GroundedAnswer(case.id, case.question, case.answer, text, cited, eot in new))
    return answers


def score_answers(answers: Sequence[GroundedAnswer]) -> dict[str, float]:
    """Quick demo scores: exact answer found, abstention where due, confident wrong answers."""
    from shared.prompts import is_abstention, strip_citations

    answerable = [a for a in answers if a.reference is not None]
    unanswerable = [a for a in answers if a.reference is None]

    def share(items: Sequence[GroundedAnswer], test: Callable[[GroundedAnswer], bool]) -> float:
        return sum(map(test, items)) / len(items) if items else 0.0

    return {
        "accuracy": share(answerable, lambda a: (a.reference or "") in strip_citations(a.answer)),
        "abstention_when_unanswerable": share(unanswerable, lambda a: is_abstention(a.answer)),
        "hallucination_when_unanswerable": share(
            unanswerable, lambda a: not is_abstention(a.answer)
        ),
        "stops": share(answers, lambda a: a.stopped),
    }


def run_demo(out: Path, report: Report = print, *, train_steps: int = 40) -> None:
    """The pipeline on the sample domain: ingest → dataset → QLoRA → compare base and tuned."""
    from finerag.embedded import InProcessRetrieval
    from services.trainer.config import CONFIGS_DIR, load_config
    from services.trainer.recipe import QLoRARecipe
    from shared.modeling import load_base_model, load_tokenizer

    settings = Settings(data_dir=out / "state", chunk_tokens=128, chunk_overlap_tokens=16)
    kb = "acme"
    with _step(report, "1. sample domain"):
        domain = generate_sample_domain(out / "sample")
        report(f"   {sum(domain.documents.values())} documents {domain.documents}")
        report(f"   {sum(domain.questions.values())} questions {domain.questions}")

    with _step(report, "2. tiny Llama base model (same code paths as Llama 3.1 8B)"):
        spec = TinyModelSpec()
        model_dir = ensure_tiny_model(out / "models" / "tiny-base", domain, spec)
        card = json.loads((model_dir / "finerag_tiny.json").read_text())
        report(f"   {card['parameters']:,} parameters in {model_dir}")

    with InProcessRetrieval.open(settings) as retrieval:
        with _step(report, f"3. ingest the knowledge base into {kb!r} (embedded Qdrant)"):
            chunks = ingest_folder(retrieval, settings, kb, domain.kb_dir)
            report(f"   {chunks} chunks written (re-ingesting unchanged documents writes none)")

        with _step(report, "4. grounded fine-tuning dataset"):
            dataset_dir = out / "dataset"
            data_card = build_grounded_dataset(
                retrieval, kb, domain.qa_path, model_dir, dataset_dir
            )
            report(
                f"   version {data_card['version']}: {data_card['counts']['train']} train / "
                f"{data_card['counts']['validation']} validation; dropped {data_card['dropped']}"
            )

        with _step(report, f"5. QLoRA fine-tuning ({train_steps} steps, 4-bit NF4 base)"):
            config = load_config(
                CONFIGS_DIR / "tiny_qlora.yaml",
                {"base_model": str(model_dir), "dataset": str(dataset_dir),
                 "name": "acme-tiny", "max_steps": train_steps},
            )  # fmt: skip
            recipe = QLoRARecipe(config, settings, report=lambda line: report(f"   {line}"))
            _metrics, registry_dir = recipe.run()
            report(f"   adapter in the registry: {registry_dir}")

        with _step(report, "6. base vs fine-tuned, with RAG, on held-out validation questions"):
            from peft import PeftModel

            validation_ids = _validation_case_ids(dataset_dir)
            cases = [
                QACase.model_validate_json(line)
                for line in domain.qa_path.read_text().splitlines()
                if line.strip()
            ]
            held_out = [c for c in cases if c.id in validation_ids][:40]
            tokenizer = load_tokenizer(model_dir)
            base = load_base_model(model_dir, quantization="4bit")
            rows = {"base": answer_cases(base, tokenizer, retrieval, kb, held_out)}
            tuned = PeftModel.from_pretrained(base, registry_dir)
            rows["fine-tuned"] = answer_cases(tuned, tokenizer, retrieval, kb, held_out)
            report(f"   {len(held_out)} questions the model never trained on")
            report(f"   {'model':<12}{'accuracy':>10}{'abstains':>10}{'halluc.':>10}{'stops':>8}")
            for name, answers in rows.items():
                scores = score_answers(answers)
                report(
                    f"   {name:<12}{scores['accuracy']:>10.2f}"
                    f"{scores['abstention_when_unanswerable']:>10.2f}"
                    f"{scores['hallucination_when_unanswerable']:>10.2f}{scores['stops']:>8.2f}"
                )
            for answer in rows["fine-tuned"][:3]:
                report(f"   Q: {answer.question}")
                report(f"      fine-tuned: {answer.answer!r} (reference: {answer.reference})")


def _validation_case_ids(dataset_dir: Path) -> set[str]:
    """Case ids of the dataset's validation split (from its card)."""
    card = json.loads((dataset_dir / "card.json").read_text())
    return set(card.get("validation_groups", []))
