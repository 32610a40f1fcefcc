"""The smoke load profile against a real local stack, as `make up-local` + `make load` run it.

honcho starts the services of infra/local/Procfile (retrieval with embedded Qdrant, ingestion
API and worker, the gateway serving the tiny model under gunicorn) on free loopback ports with
Redis DB 11; the sample knowledge base goes in through the ingestion API; Locust runs the smoke
profile headless as a subprocess, and the test reads its CSV. The p95 bound is lifted: this test
checks that every path works under load, never how fast this machine is.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.processes import PYTHON, ManagedProcess, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/11"
KB = "acme"
SERVICES = ("retrieval", "ingestion", "ingestion-worker", "gateway")
# The entries the smoke profile must produce: (Type, Name) in Locust's stats CSV.
ENTRIES = {
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/chat/completions [rag]"),
    ("POST", "/v1/chat/completions [stream]"),
    ("TTFT", "/v1/chat/completions [stream]"),
    ("POST", "/v1/collections/[kb]/search"),
    ("GET", "/v1/fine_tuning/jobs/[id]"),
}


class LocalStack:
    """URLs of the honcho-run stack and the environment its clients use."""

    def __init__(self, ports: dict[str, int], env: dict[str, str]) -> None:
        self.gateway = f"http://127.0.0.1:{ports['gateway']}"
        self.retrieval = f"http://127.0.0.1:{ports['retrieval']}"
        self.ingestion = f"http://127.0.0.1:{ports['ingestion']}"
        self.env = env


@pytest.fixture(scope="module")
def local_stack(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, sample_domain
) -> Iterator[LocalStack]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    tmp = tmp_path_factory.mktemp("load-stack")
    ports = {name: free_port() for name in ("gateway", "retrieval", "ingestion", "tensorboard")}
    settings = {
        **{f"LOCAL_{name.upper()}_PORT": str(port) for name, port in ports.items()},
        "FINERAG_DATA_DIR": str(tmp / "data"),
        "FINERAG_BASE_MODEL": str(tiny_model_dir),
        "FINERAG_REDIS_URL": REDIS_URL,
        "FINERAG_RATE_LIMIT_PER_MINUTE": "0",
        "FINERAG_LOG_LEVEL": "WARNING",
        "FINERAG_LOG_FORMAT": "text",
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env_file = tmp / "stack.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINERAG_")}
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}"
    argv = [PYTHON, "-m", "honcho", "--app-root", str(REPO), "--procfile", "infra/local/Procfile",
            "--env", str(env_file), "start", *SERVICES]  # fmt: skip
    stack = LocalStack(ports, {**env, **settings})
    honcho = ManagedProcess.start(
        "honcho", argv, env=env, log_dir=tmp, ready_url=f"{stack.ingestion}/ready",
        ready_timeout_s=300,
    )  # fmt: skip
    try:
        honcho.wait_ready(f"{stack.gateway}/ready", timeout_s=300)
        ingest = subprocess.run(
            [PYTHON, "-m", "finerag", "ingest", str(sample_domain.kb_dir), "--kb", KB],
            env={**stack.env, "FINERAG_INGESTION_URL": stack.ingestion},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert ingest.returncode == 0, ingest.stdout + ingest.stderr + honcho.log_tail()
        yield stack
    finally:
        honcho.stop(timeout_s=30)


def _run_locust(
    stack: LocalStack, prefix: Path, *extra: str, kb: str = KB
) -> subprocess.CompletedProcess[str]:
    argv = [PYTHON, "-m", "locust", "-f", "loadtests/locustfile.py", "--headless",
            "--host", stack.gateway, "--retrieval-host", stack.retrieval, "--kb", kb,
            "--csv", str(prefix), "--html", f"{prefix}.html", "--only-summary", *extra]  # fmt: skip
    return subprocess.run(
        argv, cwd=REPO, env=stack.env, capture_output=True, text=True, timeout=300
    )


def test_smoke_profile_exercises_every_path_without_failures(
    local_stack: LocalStack, tmp_path: Path
):
    prefix = tmp_path / "smoke"
    run = _run_locust(local_stack, prefix, "--load-profile", "smoke", "--p95-ms", "3600000")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]

    with Path(f"{prefix}_stats.csv").open(newline="") as stats_file:
        rows = {(row["Type"], row["Name"]): row for row in csv.DictReader(stats_file)}
    for entry in ENTRIES:
        assert entry in rows, (entry, sorted(rows))
        assert int(rows[entry]["Request Count"]) > 0, entry
    total = rows[("", "Aggregated")]
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    assert requests >= len(ENTRIES)
    assert failures <= 0.01 * requests, Path(f"{prefix}_failures.csv").read_text()

    summary = json.loads(Path(f"{prefix}_summary.json").read_text())
    assert summary["profile"] == "smoke"
    assert summary["breaches"] == []
    assert Path(f"{prefix}.html").stat().st_size > 0


def test_a_broken_threshold_makes_locust_exit_non_zero(local_stack: LocalStack, tmp_path: Path):
    # A bound no real request can meet: the run must fail on p95 alone (and say so).
    prefix = tmp_path / "strict"
    run = _run_locust(
        local_stack, prefix, "--load-profile", "smoke", "--duration-s", "5", "--p95-ms", "0"
    )
    assert run.returncode == 1, run.stderr[-3000:]
    summary = json.loads(Path(f"{prefix}_summary.json").read_text())
    assert any("p95" in breach for breach in summary["breaches"])


def test_a_missing_knowledge_base_stops_locust_before_the_load(
    local_stack: LocalStack, tmp_path: Path
):
    run = _run_locust(local_stack, tmp_path / "missing", "--load-profile", "smoke", kb="no-such-kb")
    assert run.returncode == 2
    assert "knowledge base 'no-such-kb'" in run.stderr
