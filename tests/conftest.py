"""Session fixtures: the sample domain and the tiny model are built once per test run."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub: nothing in the tests may reach the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sample_domain(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The generated sample domain (knowledge base + question set), seed 7."""
    from finerag.sample_domain import generate_sample_domain

    return generate_sample_domain(tmp_path_factory.mktemp("sample-domain"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, sample_domain) -> Path:  # type: ignore[no-untyped-def]
    """The tiny Llama, built from the sample domain with the default spec."""
    from finerag.cli.model import build_from_sample
    from finerag.tiny_model import TinyModelSpec

    return build_from_sample(
        tmp_path_factory.mktemp("tiny-model"), TinyModelSpec(), sample_domain.out_dir
    )
