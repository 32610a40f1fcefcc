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
from shared.retrieval_client import RetrievalClient
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


def run_demo(out: Path, report: Report = print, *, train_steps: int = 40) -> None:
    """The pipeline on the sample domain: ingest → dataset → QLoRA → compare base and tuned."""
    from finerag.embedded import InProcessRetrieval
    from services.trainer.config import CONFIGS_DIR, load_config
    from services.trainer.recipe import QLoRARecipe

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

        with _step(report, "6. evaluate base vs fine-tuned, without and with RAG; release gate"):
            evaluation, verdict = evaluate_demo(
                settings, retrieval, kb, domain, model_dir, dataset_dir, "acme-tiny", out
            )
            report(f"   {evaluation.report.meta.get('cases', '?')} held-out validation questions")
            for line in matrix_lines(evaluation.report):
                report(f"   {line}")
            report(f"   release gate: {'PASSED' if verdict.passed else 'FAILED'}")
            for rule in verdict.rules:
                if not rule.skipped:
                    report(f"     [{'x' if rule.passed else ' '}] {rule.rule}: {rule.detail}")
            report(f"   report: {out / 'evaluation' / 'report.md'}")


def evaluate_demo(
    settings: Settings,
    retrieval: RetrievalClient,
    kb: str,
    domain: SampleDomain,
    model_dir: Path,
    dataset_dir: Path,
    model_name: str,
    out: Path,
    *,
    max_cases: int = 40,
) -> tuple[Any, Any]:
    """The evaluation suite on the dataset's validation questions (and their variants)."""
    from services.trainer.evaluation import (
        EvalOptions,
        load_gate,
        read_cases,
        select_cases,
        validation_case_ids,
    )
    from services.trainer.evaluation.cases import dataset_top_k
    from services.trainer.job_evaluation import evaluate_in_process, gate_path

    cases = select_cases(
        read_cases(domain.qa_path), ids=validation_case_ids(dataset_dir), limit=max_cases
    )
    return evaluate_in_process(
        settings,
        cases,
        model_name=model_name,
        base_model=str(model_dir),
        quantization="4bit",
        options=EvalOptions(
            top_k=dataset_top_k(dataset_dir) or 4,  # the depth the model was trained with
            variant_kinds=("typo", "paraphrase", "terse"),
        ),
        retrieval=retrieval,
        kb=kb,
        dataset_dir=dataset_dir,
        gate=load_gate(gate_path(settings.eval_gate)),
        out_dir=out / "evaluation",
        meta={"cases": len(cases)},
    )


def matrix_lines(report: Any) -> list[str]:
    """The headline metrics of {base, fine-tuned} x {no RAG, RAG} as a small text table."""
    rows = [
        ("accuracy", "accuracy.correct"),
        ("hallucination", "hallucination.hallucination_rate"),
        ("abstains", "hallucination.abstention_rate"),
        ("variants", "customer.variant_accuracy"),
        ("stops", "behaviour.stop_rate"),
    ]
    columns = [(r, m) for r in ("base", "fine_tuned") for m in ("no_rag", "rag")]
    lines = [f"{'':<15}" + "".join(f"{r.replace('_', '-') + ' ' + m:>20}" for r, m in columns)]
    for label, metric in rows:
        cells = []
        for role, mode in columns:
            stat = report.stat(metric, role, mode)
            if stat is None or stat.value is None:
                cells.append(f"{'-':>20}")
            else:
                cells.append(f"{stat.value:>8.2f} [{stat.ci_low:.2f},{stat.ci_high:.2f}]".rjust(20))
        lines.append(f"{label:<15}" + "".join(cells))
    return lines
