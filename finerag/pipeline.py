"""The embedded pipeline: every stage's core in one process, state under one folder.

This is the composition root of `finerag demo`: the only code that wires several services' cores
together in-process. Each step prints what it did through `report`.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finerag.sample_domain import SampleDomain, generate_sample_domain, iter_corpus_texts
from finerag.tiny_model import TinyModelSpec, build_tiny_model
from shared.contracts.errors import InvalidRequestError
from shared.infrastructure.settings import Settings

if TYPE_CHECKING:
    from services.evaluation.records import Mode
    from services.trainer.datasets.build import DatasetOptions
    from shared.infrastructure.retrieval_client import RetrievalClient

Report = Callable[[str], None]


TRANSFER_DIR = Path(__file__).parent / "transfer_domain"  # hand-written; never trained on
TRANSFER_COMPANY = "Larkspur Cycles"
TRANSFER_KB = "larkspur"


@contextmanager
def _step(report: Report, times: dict[str, float], title: str) -> Iterator[None]:
    report(f"\n== {title}")
    started = time.monotonic()
    yield
    times[title] = elapsed = time.monotonic() - started
    report(f"   ({elapsed:.1f} s)")


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
    qa_path: Path,
    tokenizer_dir: Path,
    out: Path,
    options: DatasetOptions,
) -> dict[str, Any]:
    """The grounded SFT dataset of `options.kb`, token lengths measured with the model's own
    tokenizer; returns the data card."""
    from services.trainer.datasets.build import build_dataset
    from shared.models.chat_encoding import count_chat_tokens
    from shared.models.loading import load_tokenizer

    tokenizer = load_tokenizer(tokenizer_dir)
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
class DemoBase:
    """A base model the demo can fine-tune, and the recipe config made for it."""

    title: str
    config: str  # a file in services/trainer/configs/
    steps: int | None = None  # the demo's training length when the config's is not it


DEMO_BASES = {
    "smollm2": DemoBase("SmolLM2-135M-Instruct, a real instruct model (LlamaForCausalLM)",
                        "smollm2_135m_qlora.yaml"),
    "tiny": DemoBase("tiny random Llama, for the mechanics only (it cannot read)",
                     "tiny_qlora.yaml", steps=40),
}  # fmt: skip
DEMO_CASES: int | None = None  # every validation question of the sample domain (98)
# A fifth of the sample domain's questions are held out (82 answerable, 16 unanswerable): with
# the 10% split most datasets use, 39 answerable questions left a gain of 0.15-0.23 with a paired
# interval that reached 0 in some training seeds (benchmarks/recipe_seeds.py).
DEMO_VAL_RATIO = 0.2
# Answerable questions also trained as abstentions (their gold passages removed): at the
# builder's default 0.2 (a quarter of the examples decline) the adapter declined 13 of 21
# answerable questions about the company it never saw.
DEMO_UNANSWERABLE_RATIO = 0.1
DEMO_TOP_K = 3  # sources per prompt, in training and evaluation alike
DEMO_VARIANTS = ("paraphrase",)  # `finerag eval` runs every kind; the demo one, for time
DEMO_MAX_TOKENS = 48  # the tuned answers take 5-20 tokens; a base that rambles is cut here


def demo_dataset_options(kb: str, max_seq_len: int) -> DatasetOptions:
    """The demo's grounded dataset: its sources a question, held-out share and abstentions."""
    from services.trainer.datasets.build import DatasetOptions

    return DatasetOptions(
        kb=kb, top_k=DEMO_TOP_K, max_seq_len=max_seq_len, val_ratio=DEMO_VAL_RATIO,
        unanswerable_ratio=DEMO_UNANSWERABLE_RATIO,
    )  # fmt: skip


@dataclass
class DemoResult:
    """What the demo measured: the evaluation on the sample domain, the evaluation on a
    knowledge base it never trained on, the release gate's verdict and each step's time."""

    out: Path
    base_model: Path | None = None
    dataset: Path | None = None
    evaluation: Any = None
    verdict: Any = None
    transfer: Any = None
    steps: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """demo.json: the step times, the gate verdict and where the reports are."""
        return {
            "steps_s": {k: round(v, 1) for k, v in self.steps.items()},
            "total_s": round(sum(self.steps.values()), 1),
            "gate_passed": bool(self.verdict.passed) if self.verdict is not None else None,
            "base_model": str(self.base_model) if self.base_model else None,
            "dataset": str(self.dataset) if self.dataset else None,
            "report": str(self.out / "evaluation" / "report.json"),
            "transfer_report": str(self.out / "evaluation-transfer" / "report.json"),
        }


def demo_settings(out: Path) -> Settings:
    """The demo's settings: all state under `out/state`, 128-token chunks."""
    return Settings(data_dir=out / "state", chunk_tokens=128, chunk_overlap_tokens=16)


def demo_dataset(out: Path, model_dir: Path) -> Path:
    """The demo's grounded dataset (sample domain, 128-token chunks, 3 sources a question) under
    `out/dataset`, for benchmarks that train on exactly what the demo trains on."""
    from finerag.embedded import InProcessRetrieval
    from services.trainer.config import CONFIGS_DIR, load_config

    config = load_config(
        CONFIGS_DIR / DEMO_BASES["smollm2"].config,
        {"base_model": str(model_dir), "dataset": str(out / "dataset"), "name": "demo"},
    )
    settings = demo_settings(out)
    domain = generate_sample_domain(out / "sample")
    with InProcessRetrieval.open(settings) as retrieval:
        ingest_folder(retrieval, settings, "acme", domain.kb_dir)
        build_grounded_dataset(
            retrieval, domain.qa_path, model_dir, out / "dataset",
            demo_dataset_options("acme", config.max_length),
        )  # fmt: skip
    return out / "dataset"


def ensure_base_model(out: Path, base: str, domain: SampleDomain) -> tuple[Path, int]:
    """The demo's base model folder under `out` (converted or built once), and its size."""
    if base == "tiny":
        model_dir = ensure_tiny_model(out / "tiny-base", domain, TinyModelSpec())
        card = json.loads((model_dir / "finerag_tiny.json").read_text())
        return model_dir, int(card["parameters"])
    from finerag.gguf_import import CARD_NAME, ensure_smollm2

    model_dir = ensure_smollm2(out / "smollm2-135m-instruct")
    card = json.loads((model_dir / CARD_NAME).read_text())
    return model_dir, int(card["parameters"])


def run_demo(
    out: Path,
    report: Report = print,
    *,
    base: str = "smollm2",
    train_steps: int | None = None,
    cases: int | None = DEMO_CASES,
) -> DemoResult:
    """The pipeline on the sample domain: ingest → dataset → QLoRA → compare base and tuned
    (the release gate) → the same comparison on a knowledge base the model never trained on."""
    from finerag.embedded import InProcessRetrieval
    from services.trainer.config import CONFIGS_DIR, load_config
    from services.trainer.recipe import QLoRARecipe

    if base not in DEMO_BASES:
        raise InvalidRequestError(f"unknown demo base {base!r}; choose one of {list(DEMO_BASES)}")
    settings = demo_settings(out)
    kb, name = "acme", f"acme-{base}"
    result = DemoResult(out)
    step = functools.partial(_step, report, result.steps)
    with step("1. sample domain"):
        domain = generate_sample_domain(out / "sample")
        report(f"   {sum(domain.documents.values())} documents {domain.documents}")
        report(f"   {sum(domain.questions.values())} questions {domain.questions}")

    with step(f"2. base model: {DEMO_BASES[base].title}"):
        model_dir, parameters = ensure_base_model(out / "models", base, domain)
        result.base_model = model_dir
        report(f"   {parameters:,} parameters in {model_dir}")

    with InProcessRetrieval.open(settings) as retrieval:
        with step(f"3. ingest the knowledge base into {kb!r} (embedded Qdrant)"):
            chunks = ingest_folder(retrieval, settings, kb, domain.kb_dir)
            report(f"   {chunks} chunks written (re-ingesting unchanged documents writes none)")

        overrides: dict[str, Any] = {
            "base_model": str(model_dir), "dataset": str(out / "dataset"), "name": name
        }  # fmt: skip
        steps = train_steps or DEMO_BASES[base].steps
        if steps:
            overrides["max_steps"] = steps
        config = load_config(CONFIGS_DIR / DEMO_BASES[base].config, overrides)
        result.dataset = config.dataset
        with step("4. grounded fine-tuning dataset"):
            data_card = build_grounded_dataset(
                retrieval, domain.qa_path, model_dir, config.dataset,
                demo_dataset_options(kb, config.max_length),
            )  # fmt: skip
            report(
                f"   version {data_card['version']}: {data_card['counts']['train']} train / "
                f"{data_card['counts']['validation']} validation; dropped {data_card['dropped']}"
            )

        with step(f"5. QLoRA fine-tuning ({config.max_steps} steps, 4-bit NF4 base)"):
            recipe = QLoRARecipe(config, settings, report=lambda line: report(f"   {line}"))
            metrics, registry_dir = recipe.run()
            seconds = float(metrics.get("train_runtime", 0))
            report(f"   {metrics.get('tokens_seen', 0):,} tokens in {seconds:.0f} s")
            report(f"   adapter in the registry: {registry_dir}")

        with step("6. evaluate base vs fine-tuned, without and with RAG; release gate"):
            result.evaluation, result.verdict = evaluate_demo(
                settings, retrieval, kb, domain.qa_path, model_dir, config.dataset, name,
                out / "evaluation", max_cases=cases,
            )  # fmt: skip
            report(f"   {result.evaluation.report.meta.get('cases', '?')} held-out questions")
            for line in matrix_lines(result.evaluation.report):
                report(f"   {line}")
            report(f"   release gate: {'PASSED' if result.verdict.passed else 'FAILED'}")
            for rule in result.verdict.rules:
                if not rule.skipped:
                    report(f"     [{'x' if rule.passed else ' '}] {rule.rule}: {rule.detail}")
            report(f"   report: {out / 'evaluation' / 'report.md'}")

        with step(f"7. a knowledge base it never trained on ({TRANSFER_COMPANY}), with RAG"):
            chunks = ingest_folder(retrieval, settings, TRANSFER_KB, TRANSFER_DIR / "kb")
            report(f"   {chunks} chunks written into {TRANSFER_KB!r}")
            result.transfer, _ = evaluate_demo(
                settings, retrieval, TRANSFER_KB, TRANSFER_DIR / "qa.jsonl", model_dir, None,
                name, out / "evaluation-transfer", modes=("rag",), variants=False,
            )  # fmt: skip
            report(f"   {result.transfer.report.meta.get('cases', '?')} questions")
            for line in matrix_lines(result.transfer.report, modes=("rag",)):
                report(f"   {line}")

    report("\n== step times")
    for title, seconds in result.steps.items():
        report(f"   {seconds:7.1f} s  {title}")
    report(f"   {sum(result.steps.values()):7.1f} s  in all")
    (out / "demo.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    return result


def evaluate_demo(
    settings: Settings,
    retrieval: RetrievalClient,
    kb: str,
    qa_path: Path,
    model_dir: Path,
    dataset_dir: Path | None,
    model_name: str,
    out_dir: Path,
    *,
    max_cases: int | None = None,
    modes: tuple[Mode, ...] = ("no_rag", "rag"),
    variants: bool = True,
    injection: bool = True,
) -> tuple[Any, Any]:
    """The evaluation suite with the release gate: on the dataset's validation questions when
    `dataset_dir` is given, else on every case of `qa_path`; with their paraphrases unless
    `variants` is false (accuracy and hallucination score the questions as written), and the
    prompt-injection suite unless `injection` is false."""
    from tqdm import tqdm

    from services.evaluation import (
        EvalOptions,
        load_gate,
        read_cases,
        select_cases,
        validation_case_ids,
    )
    from services.trainer.job_evaluation import evaluate_in_process, gate_path

    ids = validation_case_ids(dataset_dir) if dataset_dir is not None else None
    cases = select_cases(read_cases(qa_path), ids=ids, limit=max_cases)
    with tqdm(unit="answer", desc="   evaluating", file=sys.stderr) as bar:
        return evaluate_in_process(
            settings,
            cases,
            model_name=model_name,
            base_model=str(model_dir),
            # As the gateway serves it (FINERAG_SERVE_QUANTIZATION, default: the unquantized
            # base in the device's precision), so the gate judges what clients will get.
            quantization=settings.serve_quantization,
            options=EvalOptions(
                modes=modes,
                top_k=DEMO_TOP_K,
                max_tokens=DEMO_MAX_TOKENS,
                variants=variants,
                variant_kinds=DEMO_VARIANTS,
                injection=injection,
                step_by_step=False,
            ),
            retrieval=retrieval,
            kb=kb,
            dataset_dir=dataset_dir,
            gate=load_gate(gate_path(settings.eval_gate)),
            out_dir=out_dir,
            meta={"cases": len(cases), "kb": kb},
            on_progress=bar.update,
            on_total=lambda total: setattr(bar, "total", total),
        )


def matrix_lines(report: Any, modes: tuple[str, ...] = ("no_rag", "rag")) -> list[str]:
    """The headline metrics of {base, fine-tuned} x `modes` as a small text table, and the
    fine-tuned model's gain over the base in the last mode with its paired interval."""
    rows = [
        ("accuracy", "accuracy.correct"),
        ("hallucination", "hallucination.hallucination_rate"),
        ("abstains", "hallucination.abstention_rate"),
        ("variants", "customer.variant_accuracy"),
        ("stops", "behaviour.stop_rate"),
        ("injection", "security.injection_follow_rate"),
    ]
    columns = [(r, m) for r in ("base", "fine_tuned") for m in modes]
    gain_mode = modes[-1]
    header = "".join(f"{r.replace('_', '-') + ' ' + m:>20}" for r, m in columns)
    lines = [f"{'':<15}{header}{'gain ' + gain_mode + ' (paired)':>24}"]
    for label, metric in rows:
        stats = [report.stat(metric, role, mode) for role, mode in columns]
        cells = [_cell(stat, 20) for stat in stats]
        lines.append(f"{label:<15}" + "".join(cells) + _cell(report.gain(metric, gain_mode), 24))
    return lines


def _cell(stat: Any, width: int) -> str:
    if stat is None or stat.value is None:
        return f"{'-':>{width}}"
    if stat.ci_low is None or stat.ci_high is None:
        return f"{stat.value:>8.2f}".rjust(width)
    return f"{stat.value:>8.2f} [{stat.ci_low:.2f},{stat.ci_high:.2f}]".rjust(width)
