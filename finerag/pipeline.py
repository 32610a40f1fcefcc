"""The embedded pipeline: every stage's core in one process, state under one folder.

This is the composition root of `finerag demo`: the only code that wires several services' cores
together in-process. Each step prints what it did through `report`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def ensure_tiny_model(out: Path, domain: SampleDomain, spec: TinyModelSpec) -> Path:
    """Build the tiny model into `out` unless the same spec was built there already."""
    card = out / "finerag_tiny.json"
    if card.exists() and json.loads(card.read_text()).get("spec") == spec.__dict__:
        return out
    documents = list(iter_corpus_texts(domain, documents_only=True))
    questions = list(iter_corpus_texts(domain))[len(documents) :]
    return build_tiny_model(out, documents, spec, tokenizer_texts=questions)


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


def _passages(domain: SampleDomain, doc_id: str) -> list[str]:
    """A document's paragraphs, as plain text."""
    documents = dict(
        zip(domain.doc_ids, iter_corpus_texts(domain, documents_only=True), strict=True)
    )
    return [p.strip() for p in documents[doc_id].split("\n\n") if p.strip()]


def run_demo(out: Path, report: Report = print) -> None:
    """Sample domain → tiny model → grounded answer from the base model, loaded as in production."""
    with _step(report, "1. sample domain"):
        domain = generate_sample_domain(out / "sample")
        report(
            f"   {sum(domain.documents.values())} documents {domain.documents} in {domain.kb_dir}"
        )
        report(
            f"   {sum(domain.questions.values())} questions {domain.questions} in {domain.qa_path}"
        )

    with _step(report, "2. tiny Llama base model"):
        spec = TinyModelSpec()
        model_dir = ensure_tiny_model(out / "models" / "tiny-base", domain, spec)
        card = json.loads((model_dir / "finerag_tiny.json").read_text())
        report(
            f"   {card['parameters']:,} parameters, pretrained {spec.pretrain_steps} steps on the "
            f"documents (loss {card['pretrain_loss_first']:.2f} -> "
            f"{card['pretrain_loss_last']:.2f})"
        )
        report(f"   written to {model_dir}")

    with _step(report, "3. grounded answer from the base model (4-bit NF4 + LoRA, as in QLoRA)"):
        import torch
        from peft import get_peft_model

        from shared.modeling import load_base_model, load_tokenizer, lora_config

        tokenizer = load_tokenizer(model_dir)
        model = get_peft_model(load_base_model(model_dir, quantization="4bit"), lora_config())
        model.eval()
        case = next(
            QACase.model_validate_json(line)
            for line in domain.qa_path.read_text().splitlines()
            if '"factual"' in line
        )
        doc_id = case.source_ids[0]
        answer_ref = case.answer or ""
        passages = [p for p in _passages(domain, doc_id) if answer_ref in p] or _passages(
            domain, doc_id
        )
        sources = [Source(passages[0][:600], doc_id=doc_id)]
        prompt = render_prompt(tokenizer, grounded_messages(case.question, sources))
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            output = model.generate(
                input_ids=ids,
                max_new_tokens=24,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        answer = str(tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True))
        report(f"   question:  {case.question}")
        report(f"   source:    [1] {doc_id}")
        report(f"   reference: {case.answer}")
        report(f"   base answer (not fine-tuned yet): {answer.strip()!r}")
        report(f"   prompt: {ids.shape[1]} tokens, rendered with the Llama 3.1 chat template")
