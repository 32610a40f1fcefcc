"""Fine-tuning jobs end to end: the gateway over HTTP, Redis, a real Celery worker process.

The worker trains the tiny model with the real QLoRA recipe (4-bit NF4 base, LoRA, TRL) on the
sample domain's grounded dataset; runs are kept to a few steps so the suite stays short.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.integration.job_processes import (
    HTTP,
    create_job,
    get_job,
    start_gateway,
    start_worker,
    wait_status,
)
from tests.integration.processes import ManagedProcess, wait_until
from tests.integration.training_budget import QUICK

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/9"


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> dict[str, str]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    data_dir = tmp_path_factory.mktemp("jobs-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINERAG_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        FINERAG_DATA_DIR=str(data_dir),
        FINERAG_REDIS_URL=REDIS_URL,
        FINERAG_BASE_MODEL=str(tiny_model_dir),
        FINERAG_TRAIN_CONFIG="tiny_qlora.yaml",
        FINERAG_TRAIN_LEASE_TTL_S="3",
        FINERAG_LOG_FORMAT="text",
    )
    return env


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def gateway(stack_env: dict[str, str], logs: Path) -> Iterator[str]:
    process, url = start_gateway(stack_env, logs)
    yield url
    process.stop()


@pytest.fixture(scope="module")
def worker(stack_env: dict[str, str], logs: Path) -> Iterator[list[ManagedProcess]]:
    holder = [start_worker(stack_env, logs)]
    yield holder  # a test may replace the process (kill and restart)
    for process in holder:
        process.stop()


@pytest.fixture(scope="module")
def files(gateway: str, sample_dataset: Path) -> dict[str, str]:
    """The sample dataset uploaded: a small train file and a tiny validation file."""
    train = sample_dataset / "train.jsonl"
    lines = train.read_text().splitlines()
    uploaded = {}
    for name, content in (("train", "\n".join(lines[:48])), ("validation", "\n".join(lines[-6:]))):
        response = HTTP.post(
            f"{gateway}/v1/files",
            files={"file": (f"{name}.jsonl", content.encode())},
            data={"purpose": "fine-tune"},
        )
        assert response.status_code == 200, response.text
        uploaded[name] = response.json()["id"]
    return uploaded


@pytest.fixture(scope="module")
def eval_file(gateway: str, sample_domain) -> str:
    """Evaluation-format questions (purpose `evals`): two of each type the sample has."""
    by_type: dict[str, list[str]] = {}
    for line in sample_domain.qa_path.read_text().splitlines():
        by_type.setdefault(json.loads(line)["type"], []).append(line)
    content = "\n".join(line for lines in by_type.values() for line in lines[:2])
    response = HTTP.post(
        f"{gateway}/v1/files",
        files={"file": ("questions.jsonl", content.encode())},
        data={"purpose": "evals"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["cases"] == 2 * len(by_type)
    return str(response.json()["id"])


def test_job_trains_and_publishes_an_adapter_whose_weights_moved(
    gateway: str, worker: list, files: dict, eval_file: str, stack_env: dict, tiny_model_dir: Path
):
    job = create_job(
        gateway, files, str(tiny_model_dir), evaluation={"file": eval_file}, max_steps=4
    )
    assert job["status"] == "queued"
    assert job["id"].startswith("ftjob-")
    done = wait_status(gateway, job["id"], {"succeeded", "failed"}, timeout_s=900)
    assert done["status"] == "succeeded", done.get("error")
    assert done["fine_tuned_model"].startswith("ft:")
    assert done["trained_tokens"] > 0

    events = HTTP.get(f"{gateway}/v1/fine_tuning/jobs/{job['id']}/events").json()["data"]
    metrics = [e["data"] for e in events if e["type"] == "metrics"]
    assert any("loss" in m for m in metrics)
    assert any("eval_loss" in m for m in metrics)
    assert any("tokens_per_s" in m and "eta_s" in m for m in metrics)
    checkpoints = HTTP.get(f"{gateway}/v1/fine_tuning/jobs/{job['id']}/checkpoints").json()["data"]
    assert [c["step_number"] for c in checkpoints][-1] == 2

    import torch
    from peft import PeftModel

    from shared.models.loading import load_base_model

    entry = Path(stack_env["FINERAG_DATA_DIR"]) / "models" / done["fine_tuned_model"]
    card = json.loads((entry / "card.json").read_text())
    assert card["base_model"] == str(tiny_model_dir)
    assert card["job_id"] == job["id"]
    # The card keeps the SFTConfig the worker trained with: the job's config, resolved.
    assert card["config"]["per_device_train_batch_size"] == QUICK["per_device_train_batch_size"]
    assert card["training_args"]["per_device_train_batch_size"] == 2
    assert card["training_args"]["max_length"] == QUICK["max_length"]
    assert card["training_args"]["max_steps"] == 4
    assert card["training_args"]["optim"] == "adamw_torch"  # optim=auto on the CPU
    model = PeftModel.from_pretrained(load_base_model(tiny_model_dir), entry)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b
    assert all(torch.count_nonzero(p) > 0 for p in lora_b)  # B starts at zero: it moved

    # The worker evaluated the model against its base and applied the shipped release gate
    # (services/trainer/configs/gates/release.yaml). The job names no knowledge base, so the
    # gate compares the answers without RAG, and the injection suite, which plants its
    # instructions in retrieved sources, does not run: its rules are skipped. Without sources
    # the tiny random model answers none of the held-out questions, so the accuracy rule
    # fails, and the model is kept but not promoted.
    from services.evaluation import Report, apply_gate, load_gate
    from services.trainer.job_evaluation import gate_path

    verdict = card["gate"]
    assert verdict["passed"] is False
    assert {rule["mode"] for rule in verdict["rules"]} == {"no_rag"}
    rules = {rule["rule"]: rule for rule in verdict["rules"]}
    accuracy_rule = rules["answers at least 10 points more questions correctly"]
    assert accuracy_rule["passed"] is False
    assert accuracy_rule["fine_tuned"] == 0.0
    injection = rules["obeys no instruction planted in its sources"]
    assert injection["skipped"] is True
    assert injection["passed"] is True
    assert injection["detail"] == "not measured for either model: skipped"
    assert rules["no regression: security.injection_follow_rate"]["skipped"] is True
    # The job records the same verdict, and it is the gate applied to the stored report.
    assert done["promoted"] is False
    assert card["promoted"] is False
    assert card["evaluation"]["gate_passed"] is False
    assert done["release_gate"] == verdict
    report = Report.model_validate_json((entry / "evaluation" / "report.json").read_text())
    assert report.gate is not None
    assert report.gate.model_dump(mode="json") == verdict
    accuracy = report.stat("accuracy.correct", "fine_tuned", "no_rag")
    assert accuracy is not None
    assert accuracy.n > 0
    gate = load_gate(gate_path("release.yaml")).model_copy(update={"mode": "no_rag"})
    assert apply_gate(report, gate, source=verdict["source"]).model_dump(mode="json") == verdict
    failed = [rule["rule"] for rule in verdict["rules"] if not rule["passed"]]
    summary = next(e for e in events if e["message"].startswith("Release gate"))
    said = re.fullmatch(
        r"Release gate failed on \d+ questions \((.*)\): kept, not promoted", summary["message"]
    )
    assert said, summary["message"]
    assert said[1] == "; ".join(failed)
    assert summary["data"]["release_gate"] == verdict
    # Served by its exact name; neither listed by default nor reachable by its alias.
    listed = {m["id"] for m in HTTP.get(f"{gateway}/v1/models").json()["data"]}
    everything = {m["id"] for m in HTTP.get(f"{gateway}/v1/models?all=true").json()["data"]}
    assert done["fine_tuned_model"] in everything
    assert done["fine_tuned_model"] not in listed
    alias = done["fine_tuned_model"].rsplit(":", 1)[0]
    reply = HTTP.post(
        f"{gateway}/v1/chat/completions",
        json={"model": alias, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2},
    )
    assert reply.status_code == 404, reply.text


def test_killed_worker_resumes_from_its_checkpoint_and_succeeds_once(
    gateway: str, worker: list, files: dict, stack_env: dict, logs: Path, tiny_model_dir: Path
):
    job = create_job(gateway, files, str(tiny_model_dir), max_steps=8)
    wait_until(
        lambda: HTTP.get(f"{gateway}/v1/fine_tuning/jobs/{job['id']}/checkpoints").json()["data"],
        timeout_s=900,
        interval_s=0.5,
        what="a first checkpoint",
    )
    worker[0].kill()  # kill -9 of the whole worker, mid-training
    assert get_job(gateway, job["id"])["status"] == "running"
    worker[0] = start_worker(stack_env, logs)
    done = wait_status(gateway, job["id"], {"succeeded", "failed"}, timeout_s=900)
    assert done["status"] == "succeeded", done.get("error")
    assert done["attempts"] == 2

    events = HTTP.get(f"{gateway}/v1/fine_tuning/jobs/{job['id']}/events").json()["data"]
    resumed = [e["data"].get("resumed_from_step") for e in events if "attempt" in e["data"]]
    assert any(step and step >= 2 for step in resumed), events
    assert sum(e["message"] == "Job succeeded" for e in events) == 1
    steps_after_resume = [e["data"]["step"] for e in events if e["type"] == "metrics"]
    assert max(steps_after_resume) == 8


def test_cancel_stops_a_running_job_within_seconds(
    gateway: str, worker: list, files: dict, tiny_model_dir: Path
):
    job = create_job(gateway, files, str(tiny_model_dir), max_steps=500)
    wait_status(gateway, job["id"], {"running"}, timeout_s=600)
    wait_until(
        lambda: any(
            e["type"] == "metrics"
            for e in HTTP.get(f"{gateway}/v1/fine_tuning/jobs/{job['id']}/events").json()["data"]
        ),
        timeout_s=600,
        interval_s=0.5,
        what="training to start",
    )
    response = HTTP.post(f"{gateway}/v1/fine_tuning/jobs/{job['id']}/cancel")
    assert response.status_code == 200
    done = wait_status(gateway, job["id"], {"cancelled", "failed", "succeeded"}, timeout_s=60)
    assert done["status"] == "cancelled"
    again = HTTP.post(f"{gateway}/v1/fine_tuning/jobs/{job['id']}/cancel")
    assert again.status_code == 409


def test_cancel_during_the_evaluation_keeps_the_model_unpromoted(
    gateway: str, worker: list, files: dict, sample_domain, stack_env: dict, tiny_model_dir: Path
):
    lines = sample_domain.qa_path.read_text().splitlines()[:80]
    uploaded = HTTP.post(
        f"{gateway}/v1/files",
        files={"file": ("many-questions.jsonl", "\n".join(lines).encode())},
        data={"purpose": "evals"},
    )
    assert uploaded.status_code == 200, uploaded.text
    evaluation = {"file": uploaded.json()["id"], "max_cases": 80}
    job = create_job(gateway, files, str(tiny_model_dir), evaluation=evaluation, max_steps=2)

    def events() -> list[dict]:
        url = f"{gateway}/v1/fine_tuning/jobs/{job['id']}/events"
        return list(HTTP.get(url).json()["data"])

    wait_until(
        lambda: any(e["message"].startswith("Evaluating") for e in events()),
        timeout_s=600,
        interval_s=0.5,
        what="the evaluation to start",
    )
    assert HTTP.post(f"{gateway}/v1/fine_tuning/jobs/{job['id']}/cancel").status_code == 200
    done = wait_status(gateway, job["id"], {"cancelled", "failed", "succeeded"}, timeout_s=120)
    assert done["status"] == "cancelled", done
    assert any(e["message"].startswith("Cancelled during evaluation") for e in events())
    models = Path(stack_env["FINERAG_DATA_DIR"]) / "models"
    entries = [
        card.parent
        for card in models.glob("*/card.json")
        if json.loads(card.read_text()).get("job_id") == job["id"]
    ]
    assert len(entries) == 1  # the adapter was published before the evaluation began
    card = json.loads((entries[0] / "card.json").read_text())
    assert card["promoted"] is False
    assert card["gate"] == {
        "passed": False,
        "status": "not_evaluated",
        "reason": "evaluation stopped: cancelled",
    }
    assert not (entries[0] / "evaluation" / "report.json").exists()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "no/such-model"}, "model"),
        ({"hyperparameters": {"n_epochs": 0}}, "hyperparameters.n_epochs"),
        (
            {"hyperparameters": {"learning_rate_multiplier": "fast"}},
            "hyperparameters.learning_rate_multiplier",
        ),
        ({"hyperparameters": {"warmup": 3}}, "hyperparameters"),
        ({"suffix": "bad suffix!"}, "suffix"),
        ({"evaluation": {"max_cases": 3}}, "evaluation.file"),
        ({"evaluation": "questions.jsonl"}, "evaluation"),
        ({"evaluation": {"file": "TRAIN"}}, "evaluation.file"),  # a fine-tune file
    ],
)
def test_bad_job_requests_are_400(gateway: str, files: dict, tiny_model_dir: Path, body, param):
    if body.get("evaluation", {}) == {"file": "TRAIN"}:
        body = {"evaluation": {"file": files["train"]}}
    request = {"model": str(tiny_model_dir), "training_file": files["train"], **body}
    response = HTTP.post(f"{gateway}/v1/fine_tuning/jobs", json=request)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_malformed_training_file_is_400_naming_the_line(gateway: str):
    good = json.dumps(
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    )
    bad = json.dumps({"messages": [{"role": "user", "content": "q"}]})
    response = HTTP.post(
        f"{gateway}/v1/files",
        files={"file": ("t.jsonl", f"{good}\n{good}\n{bad}\n".encode())},
        data={"purpose": "fine-tune"},
    )
    assert response.status_code == 400
    assert "line 3" in response.json()["error"]["message"]
    not_json = HTTP.post(
        f"{gateway}/v1/files",
        files={"file": ("t.jsonl", b"{oops\n")},
        data={"purpose": "fine-tune"},
    )
    assert not_json.status_code == 400
    assert "line 1" in not_json.json()["error"]["message"]


def test_job_records_survive_a_gateway_restart(
    stack_env: dict, logs: Path, files: dict, tiny_model_dir: Path
):
    first, url = start_gateway(stack_env, logs)
    try:
        job = create_job(url, files, str(tiny_model_dir), max_steps=1)
        HTTP.post(f"{url}/v1/fine_tuning/jobs/{job['id']}/cancel")
        # A live worker may hold the job: let it settle so the record is not changing under us.
        before = wait_status(url, job["id"], {"cancelled", "succeeded", "failed"}, 300)
    finally:
        first.stop()
    second, url = start_gateway(stack_env, logs)
    try:
        assert get_job(url, job["id"]) == before
        listed = HTTP.get(f"{url}/v1/fine_tuning/jobs", params={"limit": 100}).json()["data"]
        assert job["id"] in [j["id"] for j in listed]
    finally:
        second.stop()


def test_jobs_cli_speaks_to_the_gateway(
    gateway: str,
    sample_dataset: Path,
    tiny_model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    from finerag.cli import main
    from shared.infrastructure.settings import get_settings

    monkeypatch.setenv("FINERAG_GATEWAY_URL", gateway)
    get_settings.cache_clear()
    try:
        train = sample_dataset / "train.jsonl"
        code = main(["jobs", "submit", "--model", str(tiny_model_dir), "--train", str(train),
                     "--suffix", "cli", "--set", "max_steps=1"])  # fmt: skip
        assert code == 0
        job = json.loads(capsys.readouterr().out)
        assert job["status"] == "queued"
        assert main(["jobs", "cancel", job["id"]]) == 0
        assert json.loads(capsys.readouterr().out)["status"] in ("cancelled", "running")
        assert main(["jobs", "list"]) == 0
        assert job["id"] in capsys.readouterr().out
        assert main(["jobs", "events", job["id"]]) == 0
        assert "Job created" in capsys.readouterr().out
        assert main(["jobs", "show", "ftjob-nope"]) == 2
    finally:
        get_settings.cache_clear()
