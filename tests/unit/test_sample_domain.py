"""The sample domain: counts, determinism, the QA format, and answers that the documents hold."""

from __future__ import annotations

import json
import re
from collections import Counter
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import pypdf
import pytest

from finerag.cli import main as cli_main
from finerag.sample_domain import SampleDomain, generate_sample_domain, iter_corpus_texts
from finerag.sample_domain.catalog import invent_catalog
from finerag.sample_domain.generator import drill_records
from finerag.sample_domain.knowledge_base import compose_documents
from finerag.sample_domain.variants import add_typos
from finerag.sample_domain.wording import _wording
from shared.contracts.schemas import QACase

SEED = 7
FORMATS = ("md", "txt", "html", "pdf")


class VisibleText(HTMLParser):
    """What a browser shows: no head, script, style or nav."""

    HIDDEN: ClassVar[frozenset[str]] = frozenset({"head", "script", "style", "nav"})

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in self.HIDDEN

    def handle_endtag(self, tag):
        self.hidden -= tag in self.HIDDEN

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def extract(path: Path) -> str:
    """A document's text as an ingestion parser would see it."""
    if path.suffix == ".pdf":
        return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    if path.suffix == ".html":
        parser = VisibleText()
        parser.feed(path.read_text(encoding="utf-8"))
        return "".join(parser.parts)
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def domain(tmp_path_factory: pytest.TempPathFactory) -> SampleDomain:
    return generate_sample_domain(tmp_path_factory.mktemp("sample"), seed=SEED)


@pytest.fixture(scope="module")
def cases(domain: SampleDomain) -> list[dict]:
    return [json.loads(line) for line in domain.qa_path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def texts(domain: SampleDomain) -> dict[str, str]:
    return {doc_id: extract(domain.kb_dir / doc_id) for doc_id in domain.doc_ids}


def test_counts_per_format_and_type(domain: SampleDomain, cases: list[dict]) -> None:
    files = sorted(p for p in domain.kb_dir.rglob("*") if p.is_file())
    assert len(files) == len(domain.doc_ids) >= 32
    by_format = Counter(p.suffix.lstrip(".") for p in files)
    assert by_format == Counter(domain.documents)
    assert all(by_format[fmt] >= 4 for fmt in FORMATS)
    assert any("/" not in doc_id for doc_id in domain.doc_ids)  # top level, e.g. pricing.md
    assert len({doc_id.split("/")[0] for doc_id in domain.doc_ids if "/" in doc_id}) >= 4
    by_type = Counter(case["type"] for case in cases)
    assert by_type == Counter(domain.questions)
    assert by_type["factual"] >= 300
    assert by_type["unanswerable"] >= 60
    assert by_type["multi_hop"] >= 25
    assert by_type["arithmetic"] >= 25
    assert by_type["multi_hop"] + by_type["arithmetic"] >= 60
    assert domain.readme_path.is_file()


def test_same_seed_same_bytes_other_seed_other_company(tmp_path: Path) -> None:
    first = generate_sample_domain(tmp_path / "a", seed=SEED)
    second = generate_sample_domain(tmp_path / "b", seed=SEED)
    files_a = sorted(p.relative_to(first.out_dir) for p in first.out_dir.rglob("*") if p.is_file())
    files_b = sorted(
        p.relative_to(second.out_dir) for p in second.out_dir.rglob("*") if p.is_file()
    )
    assert files_a == files_b
    for rel in files_a:
        assert (first.out_dir / rel).read_bytes() == (second.out_dir / rel).read_bytes(), rel
    other = generate_sample_domain(tmp_path / "c", seed=SEED + 1)
    assert other.company != first.company
    assert other.qa_path.read_bytes() != first.qa_path.read_bytes()


def test_regenerating_with_another_seed_leaves_no_stale_documents(tmp_path: Path) -> None:
    generate_sample_domain(tmp_path, seed=1)
    domain = generate_sample_domain(tmp_path, seed=2)
    on_disk = sorted(p.relative_to(domain.kb_dir).as_posix() for p in domain.kb_dir.rglob("*.*"))
    assert on_disk == sorted(domain.doc_ids)


REASONING = ("multi_hop", "arithmetic")


def test_every_line_is_a_qa_case(cases: list[dict]) -> None:
    for case in cases:
        fields = {"id", "question", "answer", "source_ids", "type", "variants"}
        # The reasoning questions carry the agents' sub-tasks (dataset --agent-subtasks).
        assert set(case) == fields | ({"subtasks"} if case["type"] in REASONING else set())
        QACase.model_validate(case)


def test_ids_are_unique_and_readable(cases: list[dict]) -> None:
    ids = [case["id"] for case in cases]
    assert len(set(ids)) == len(ids)
    prefixes = {
        "factual": "fact",
        "unanswerable": "unans",
        "multi_hop": "multi",
        "arithmetic": "arith",
    }
    for case in cases:
        assert re.fullmatch(rf"{prefixes[case['type']]}-\d{{4}}", case["id"])
    questions = [case["question"] for case in cases]
    assert len(set(questions)) == len(questions)


def test_factual_answers_appear_verbatim_in_a_source(
    domain: SampleDomain, cases: list[dict], texts: dict[str, str]
) -> None:
    for case in cases:
        if case["type"] not in ("factual", "multi_hop"):
            continue
        assert case["answer"]
        assert case["source_ids"]
        assert set(case["source_ids"]) <= set(domain.doc_ids)
        assert any(case["answer"] in texts[s] for s in case["source_ids"]), case


def test_answers_are_short(cases: list[dict]) -> None:
    for case in cases:
        if case["answer"] is not None:
            assert len(case["answer"]) <= 80, case


def test_documents_carry_8_to_15_facts() -> None:
    for doc in compose_documents(invent_catalog(SEED)):
        assert 8 <= len(doc.facts) <= 15, (doc.doc_id, len(doc.facts))


def test_pdf_pages_extract_with_their_facts(domain: SampleDomain) -> None:
    for doc in compose_documents(invent_catalog(SEED)):
        if doc.fmt != "pdf":
            continue
        pages = pypdf.PdfReader(domain.kb_dir / doc.doc_id).pages
        assert len(pages) == len(doc.sections) >= 2
        for page, section in zip(pages, doc.sections, strict=True):
            text = page.extract_text()
            assert section.heading in text
            for fact in section.facts:
                assert fact.answer in text, (doc.doc_id, fact)


def test_html_noise_is_present_but_not_visible(domain: SampleDomain, texts: dict[str, str]) -> None:
    for doc_id in domain.doc_ids:
        if not doc_id.endswith(".html"):
            continue
        raw = (domain.kb_dir / doc_id).read_text(encoding="utf-8")
        assert "<script>" in raw
        assert "<style>" in raw
        assert "<nav>" in raw
        assert "dataLayer" not in texts[doc_id]
        assert "Cart (0)" not in texts[doc_id]
        assert "font-family" not in texts[doc_id]


def test_markdown_has_sections(domain: SampleDomain) -> None:
    for doc_id in domain.doc_ids:
        if doc_id.endswith(".md"):
            text = (domain.kb_dir / doc_id).read_text(encoding="utf-8")
            assert text.startswith("# ")
            assert text.count("\n## ") >= 2


def test_unanswerable_cases_have_no_answer_and_the_kb_is_silent(
    cases: list[dict], texts: dict[str, str]
) -> None:
    corpus = "\n".join(texts.values()).lower()
    for word in ("battery", "decibel", "watt", "smartwatch", "student", "price-match", "cfo"):
        assert word not in corpus, word
    unanswerable = [case for case in cases if case["type"] == "unanswerable"]
    for case in unanswerable:
        assert case["answer"] is None
        assert case["source_ids"] == []
    # Some ask about products that do not exist: their names appear nowhere in the KB.
    ghosts = {re.search(r"the (\w+ [A-Z]\d)", c["question"]) for c in unanswerable}
    names = {m.group(1) for m in ghosts if m}
    assert any(name.lower() not in corpus for name in names)


def _cents(text: str) -> int:
    return int(Decimal(text.replace(",", "")) * 100)


def _money(cents: int) -> str:
    dollars, rest = divmod(cents, 100)
    return f"${dollars:,}" if rest == 0 else f"${dollars:,}.{rest:02d}"


def _number(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, pattern
    return match.group(1)


def _expected_arithmetic(case: dict, texts: dict[str, str]) -> str:
    """Recompute an arithmetic answer from the numbers printed in its source documents."""
    q, sources = case["question"], case["source_ids"]
    doc = texts[sources[0]]
    price = r"\bPrice:\W*\$([\d,]+(?:\.\d\d)?)"
    if sources == ["pricing.md"]:
        plan = _number(r"(\w+ (?:Lite|Standard|Plus|Premier)) plan", q)
        months = int(_number(r"(\d+) months", q))
        monthly = _number(rf"(?s)## {plan}\n.*?Monthly price:\W*\$([\d,.]+)", doc)
        return _money(_cents(monthly) * months)
    if len(sources) == 2 and all(s.startswith("products/") for s in sources):
        a, b = (_cents(_number(price, texts[s])) for s in sources)
        return _money(abs(a - b))
    if "express" in q:
        fee = _number(r"Express shipping fee:\W*\$([\d,.]+)", texts[sources[1]])
        return _money(_cents(_number(price, doc)) + _cents(fee))
    if "extended warranty" in q:
        added = _number(r"Extended warranty adds:\W*(\d+) months", texts[sources[1]])
        own = _number(r"Warranty:\W*(\d+) months", doc)
        return f"{int(own) + int(added)} months"
    if "%" in q:
        pct = int(_number(r"(\d+)%", q))
        return _money(_cents(_number(price, doc)) * (100 - pct) // 100)
    units = int(_number(r"(\d+) (?:units|of|[A-Z])", q))
    if "weigh" in q:
        tenths = int(Decimal(_number(r"Weight:\W*([\d.]+) kg", doc)) * 10)
        return f"{tenths * units // 10}.{tenths * units % 10} kg"
    return _money(_cents(_number(price, doc)) * units)


def test_arithmetic_answers_recompute_from_documents(
    cases: list[dict], texts: dict[str, str]
) -> None:
    arithmetic = [case for case in cases if case["type"] == "arithmetic"]
    for case in arithmetic:
        assert case["answer"] == _expected_arithmetic(case, texts), case
    # Every pattern is represented: differences, discounts, weights, plans, shipping, warranty.
    sources = [case["source_ids"] for case in arithmetic]
    assert sum(all(s.startswith("products/") for s in ids) and len(ids) == 2 for ids in sources)
    for marker in ("%", "weigh", " plan ", "express", "extended warranty"):
        assert any(marker in case["question"] for case in arithmetic), marker


def test_drills_recompute_from_documents_in_every_pattern(
    domain: SampleDomain, texts: dict[str, str]
) -> None:
    drills = drill_records(domain.seed)
    for drill in drills:
        QACase.model_validate(drill)
        assert re.fullmatch(r"drill-[1-7]-\d{4}", drill["id"])
        assert drill["type"] == "arithmetic"
        assert drill["answer"] == _expected_arithmetic(drill, texts), drill
        for quantity in drill["subtasks"]["quantities"]:
            assert quantity["text"] in texts[quantity["doc_id"]], quantity
    assert {d["id"].split("-")[1] for d in drills} == {str(p) for p in range(1, 8)}
    assert len({d["id"] for d in drills}) == len(drills)


def test_multi_hop_cases_combine_facts(cases: list[dict]) -> None:
    multi = [case for case in cases if case["type"] == "multi_hop"]
    assert sum(len(case["source_ids"]) >= 2 for case in multi) >= len(multi) // 2
    assert any("model code" in case["question"] for case in multi)


def test_wordings_vary_for_one_kind_of_fact(cases: list[dict]) -> None:
    product_prices = [
        case["question"]
        for case in cases
        if case["type"] == "factual"
        and case["source_ids"][0].startswith("products/")
        and case["answer"].startswith("$")
    ]
    openings = {" ".join(question.split()[:2]) for question in product_prices}
    assert len(openings) >= 3, openings


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"questions": ["Price of {e}?", "Cost of {e}?"], "terse": "{t}?"}, "at least 3"),
        ({"questions": ["A {e}?", "B {e}?", "C {x}?"], "terse": "{t}?"}, "unknown placeholder"),
        ({"questions": ["A {e}?", "B {e}?", "C {e}?"]}, "needs 'questions' and 'terse'"),
    ],
)
def test_a_malformed_wording_is_refused_by_name(entry: dict, error: str) -> None:
    with pytest.raises(ValueError, match=rf"policy\.broken.*{error}"):
        _wording("policy.broken", entry)


def test_variants_keep_the_question_and_cover_every_kind(cases: list[dict]) -> None:
    with_follow_up = 0
    for case in cases:
        kinds = [variant["kind"] for variant in case["variants"]]
        assert kinds[:3] == ["typo", "paraphrase", "terse"], case["id"]
        typo, paraphrase, terse = case["variants"][:3]
        assert typo["question"] != case["question"]
        assert paraphrase["question"] != case["question"]
        assert len(terse["question"]) < len(case["question"])
        assert terse["question"] == terse["question"].lower()
        if "follow_up" in kinds:
            with_follow_up += 1
            follow = case["variants"][kinds.index("follow_up")]
            assert [turn["role"] for turn in follow["turns"]] == ["user", "assistant"]
            entity = re.search(r"the [A-Z]\w+ [A-Z]\d \w+", follow["turns"][0]["content"])
            if entity:  # a product is named before, and only referred to after
                assert entity.group(0) not in follow["question"]
    assert with_follow_up >= len(cases) / 3


def test_typos_are_deterministic_and_spare_codes_and_names() -> None:
    import random

    question = "What is the price of the Velmora X2 air purifier with model code KX-4471?"
    one = add_typos(question, random.Random(3))
    assert one == add_typos(question, random.Random(3))
    assert one != question
    for token in ("Velmora", "X2", "KX-4471?"):
        assert token in one.split()
    changed = sum(a != b for a, b in zip(question.split(), one.split(), strict=True))
    assert 1 <= changed <= 3


def test_corpus_texts_are_plain(domain: SampleDomain, cases: list[dict]) -> None:
    documents = list(iter_corpus_texts(domain, documents_only=True))
    assert len(documents) == len(domain.doc_ids)
    assert not any("<script" in text or "%PDF" in text or "BT\n" in text for text in documents)
    assert all(domain.company.split()[0] in text for text in documents)
    everything = list(iter_corpus_texts(domain))
    assert len(everything) > len(documents) + 2 * len(cases)
    assert cases[0]["question"] in everything


def test_cli_generates_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["sample-domain", "--out", str(tmp_path), "--seed", "11"]) == 0
    out = capsys.readouterr().out
    assert "documents:" in out
    assert "factual" in out
    assert str(tmp_path / "qa.jsonl") in out
    assert (tmp_path / "kb" / "pricing.md").is_file()
