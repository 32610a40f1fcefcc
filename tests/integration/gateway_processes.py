"""Gateways as real processes (gunicorn on loopback) for the gateway's tests and benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from services.gateway.server import gunicorn_argv
from shared.infrastructure.settings import Settings
from tests.integration.processes import free_port

REPO = Path(__file__).resolve().parents[2]
REDIS_TEST_URL = "redis://127.0.0.1:6379/7"


def gateway_env(**values: str) -> dict[str, str]:
    """The environment of a gateway process: FINERAG_* from `values`, offline, one thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINERAG_")}
    env.update(
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",  # the batch worker is the only compute thread; spinning hurts
        FINERAG_LOG_LEVEL="WARNING",
        FINERAG_REDIS_URL=REDIS_TEST_URL,
    )
    env.update({f"FINERAG_{k.upper()}": v for k, v in values.items()})
    return env


def build_adapter(base_dir: Path, models_dir: Path, name: str, seed: int = 0) -> Path:
    """A registry entry whose LoRA weights really change the base model's answers."""
    import torch
    from peft import get_peft_model

    from shared.infrastructure.registry import ModelCard, write_card
    from shared.models.loading import load_base_model, load_tokenizer, lora_config

    model = get_peft_model(load_base_model(base_dir), lora_config(r=8, alpha=16))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param_name, param in model.named_parameters():
            if "lora_B" in param_name:  # zero at init: the adapter would be a no-op
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    folder = models_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    load_tokenizer(base_dir).save_pretrained(folder)
    write_card(folder, ModelCard(name=name, base_model=str(base_dir), method="lora"))
    return folder


@contextmanager
def running_gateway(env: dict[str, str], log_path: Path, ready_s: float = 300) -> Iterator[str]:
    """Start the gateway under gunicorn; yield its base URL once /ready answers 200."""
    port = free_port()
    argv = gunicorn_argv("127.0.0.1", port, Settings(_env_file=None, **_settings_kwargs(env)))
    argv[0] = sys.executable
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(process, url, env, ready_s, log_path)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _settings_kwargs(env: dict[str, str]) -> dict[str, object]:
    # Only what shapes the gunicorn command line.
    out: dict[str, object] = {}
    if "FINERAG_MAX_CONCURRENCY" in env:
        out["max_concurrency"] = int(env["FINERAG_MAX_CONCURRENCY"])
    if "FINERAG_REQUEST_TIMEOUT_S" in env:
        out["request_timeout_s"] = float(env["FINERAG_REQUEST_TIMEOUT_S"])
    return out


def _wait_ready(
    process: subprocess.Popen[bytes], url: str, env: dict[str, str], ready_s: float, log: Path
) -> None:
    keys = env.get("FINERAG_API_KEYS", "")
    first_key = keys.split(",")[0].split(":")[0]  # KEY or KEY:kb1|kb2
    headers = {"Authorization": f"Bearer {first_key}"} if keys else {}
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/ready", headers=headers, timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"gateway not ready after {ready_s} s:\n{log.read_text()}")
