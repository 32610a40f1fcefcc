"""Write the sample domain to disk: the knowledge base, the question set and a README."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finerag.sample_domain.catalog import invent_catalog
from finerag.sample_domain.knowledge_base import FORMATS, compose_documents
from finerag.sample_domain.questions import (
    Case,
    factual_cases,
    to_record,
    unanswerable_cases,
)
from finerag.sample_domain.reasoning import arithmetic_cases, arithmetic_drills, multi_hop_cases
from finerag.sample_domain.rendering import plain_text, render

ID_PREFIXES = {
    "factual": "fact",
    "unanswerable": "unans",
    "multi_hop": "multi",
    "arithmetic": "arith",
}


@dataclass(frozen=True)
class SampleDomain:
    """Where a generated sample domain lives, and what it holds."""

    out_dir: Path
    kb_dir: Path  # the knowledge base: ingest this folder
    qa_path: Path  # the labelled questions, one shared.contracts.schemas.QACase per line
    readme_path: Path
    company: str
    seed: int
    doc_ids: tuple[str, ...]  # paths relative to kb_dir, with forward slashes
    documents: dict[str, int]  # count per format: md, txt, html, pdf
    questions: dict[str, int]  # count per question type


def _records(cases_by_type: dict[str, list[Case]], seed: int) -> list[dict[str, Any]]:
    """Number the cases per type ("fact-0001") and word them."""
    records = []
    for kind, cases in cases_by_type.items():
        for number, case in enumerate(cases, start=1):
            records.append(to_record(case, f"{ID_PREFIXES[kind]}-{number:04d}", seed))
    return records


def _readme(
    domain_company: str, seed: int, documents: Counter[str], questions: Counter[str]
) -> str:
    formats = ", ".join(f"{documents[fmt]} {fmt}" for fmt in FORMATS)
    types = ", ".join(f"{count} {kind}" for kind, count in questions.items())
    return f"""# Sample domain: {domain_company}

An invented company, generated with `finerag sample-domain --seed {seed}`; the same seed
always writes the same bytes. Every fact is made up, so a model can only know it by reading
these documents.

- `kb/`: the knowledge base ({formats} documents). A document's id is its path under
  `kb/`, e.g. `pricing.md` or `policies/returns.html`. HTML pages carry a script, a style
  sheet and a navigation bar that are not content; PDFs have one section per page.
- `qa.jsonl`: labelled questions ({types}), one `shared.contracts.schemas.QACase` per line.
  `answer` is short and, for factual questions, appears verbatim in a document listed in
  `source_ids`; unanswerable questions have `answer: null` and no sources. `variants` hold
  the same question as customers type it: with typos, paraphrased, terse, and as a
  follow-up turn of a conversation that named the subject earlier.
"""


def _clear_stale(kb_dir: Path, keep: set[Path]) -> None:
    """Remove documents a previous run (another seed) left behind, so kb/ is exactly this run."""
    if not kb_dir.is_dir():
        return
    for path in sorted(kb_dir.rglob("*"), reverse=True):
        if path.is_file() and path.suffix.lstrip(".") in FORMATS and path not in keep:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def generate_sample_domain(out_dir: Path, seed: int = 7) -> SampleDomain:
    """Write a fictitious company's knowledge base and labelled questions under `out_dir`.

    Args:
        out_dir: folder to write `kb/`, `qa.jsonl` and `README.md` into (created if missing).
        seed: the same seed gives byte-identical files; another seed, another company.
    """
    catalog = invent_catalog(seed)
    documents = compose_documents(catalog)
    kb_dir = out_dir / "kb"
    paths = {doc.doc_id: kb_dir / doc.doc_id for doc in documents}
    _clear_stale(kb_dir, set(paths.values()))
    for doc in documents:
        paths[doc.doc_id].parent.mkdir(parents=True, exist_ok=True)
        paths[doc.doc_id].write_bytes(render(doc, catalog.company))

    # Question choice draws from its own RNG, so changing a document's layout leaves it alone.
    rng = random.Random(f"{seed}/questions")
    cases_by_type = {
        "factual": factual_cases(catalog, documents),
        "unanswerable": unanswerable_cases(catalog, rng),
        "multi_hop": multi_hop_cases(catalog, rng),
        "arithmetic": arithmetic_cases(catalog, rng),
    }
    for cases in cases_by_type.values():
        # Mixed order, so the first N questions of a type are a fair sample of it.
        rng.shuffle(cases)
    records = _records(cases_by_type, seed)
    qa_path = out_dir / "qa.jsonl"
    qa_path.write_text(
        "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records),
        encoding="utf-8",
    )
    doc_counts = Counter(doc.fmt for doc in documents)
    question_counts = Counter(str(record["type"]) for record in records)
    readme_path = out_dir / "README.md"
    readme_path.write_text(_readme(catalog.company, seed, doc_counts, question_counts), "utf-8")
    return SampleDomain(
        out_dir=out_dir,
        kb_dir=kb_dir,
        qa_path=qa_path,
        readme_path=readme_path,
        company=catalog.company,
        seed=seed,
        doc_ids=tuple(doc.doc_id for doc in documents),
        documents={fmt: doc_counts[fmt] for fmt in FORMATS},
        questions=dict(question_counts),
    )


def drill_records(seed: int = 7) -> list[dict[str, Any]]:
    """The arithmetic drills of the company `seed` invents, as `qa.jsonl` records (ids
    `drill-P-NNNN`, P the pattern), worded as the question set's cases are. Not written by
    `generate_sample_domain`: a training set adds the ones its held-out questions allow."""
    pools = arithmetic_drills(invent_catalog(seed), random.Random(f"{seed}/drills"))
    return [
        to_record(case, f"drill-{pattern}-{number:04d}", seed)
        for pattern, cases in enumerate(pools, start=1)
        for number, case in enumerate(cases, start=1)
    ]


def iter_corpus_texts(domain: SampleDomain, *, documents_only: bool = False) -> Iterator[str]:
    """The plain text of every document, then every question, answer and variant.

    This is the text a tokenizer for the tiny test model is trained on. `documents_only`
    stops after the documents, for a corpus that holds no evaluation questions.
    """
    for doc_id in domain.doc_ids:
        path = domain.kb_dir / doc_id
        yield plain_text(path.suffix.lstrip("."), path.read_bytes())
    if documents_only:
        return
    with domain.qa_path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            yield record["question"]
            if record["answer"] is not None:
                yield record["answer"]
            for variant in record["variants"]:
                yield from (turn["content"] for turn in variant.get("turns", ()))
                yield variant["question"]
