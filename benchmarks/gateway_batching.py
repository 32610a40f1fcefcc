"""Dynamic batching in the gateway: throughput and latency at 1, 8 and 32 concurrent clients.

    .venv/bin/python benchmarks/gateway_batching.py [--model DIR] [--max-tokens 32]

Starts the gateway under gunicorn twice on the same tiny model, with dynamic batching on and
off, and drives each with closed-loop clients (each sends its next request when the previous
answer arrives). Prints completion tokens/s, requests/s and p50/p95 latency per level, then the
ratios the serving goals are stated in: 32-client vs 1-client throughput with batching on, and
the 32-client p95 against the single-request latency.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.integration.gateway_processes import gateway_env, running_gateway

LEVELS = (1, 8, 32)


@dataclass
class LevelResult:
    """One concurrency level of one configuration."""

    batching: bool
    clients: int
    requests: int
    seconds: float
    completion_tokens: int
    latencies: list[float]

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _drive(
    url: str, model: str, clients: int, per_client: int, max_tokens: int
) -> tuple[float, int, list[float]]:
    latencies: list[float] = []
    tokens = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=600) as http:
            barrier.wait()
            for turn in range(per_client):
                body = {
                    "model": model,
                    "messages": [
                        {
                            "role": "user",
                            "content": f"Question {index}-{turn}: what does plan {index} cost?",
                        }
                    ],
                    "max_tokens": max_tokens,
                    "temperature": 0.8,
                    "seed": index * 1000 + turn,
                }
                started = time.perf_counter()
                response = http.post("/v1/chat/completions", json=body)
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                with lock:
                    latencies.append(elapsed)
                    tokens[0] += response.json()["usage"]["completion_tokens"]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, tokens[0], latencies


def run_configuration(
    model_dir: Path, batching: bool, max_tokens: int, per_client: dict[int, int]
) -> list[LevelResult]:
    """Start a gateway with batching on or off and measure every level."""
    with tempfile.TemporaryDirectory(prefix="finerag-bench-") as data:
        env = gateway_env(
            base_model=str(model_dir),
            data_dir=data,
            batching="true" if batching else "false",
            max_batch_size="32",
            batch_wait_ms="10",
            max_concurrency="64",
            rate_limit_per_minute="0",
        )
        with running_gateway(env, Path(data) / "gateway.log") as url:
            _drive(url, str(model_dir), 1, 2, max_tokens)  # warm up
            results = []
            for clients in LEVELS:
                seconds, tokens, latencies = _drive(
                    url, str(model_dir), clients, per_client[clients], max_tokens
                )
                results.append(
                    LevelResult(batching, clients, len(latencies), seconds, tokens, latencies)
                )
                print(
                    f"  batching={'on' if batching else 'off'} clients={clients}: {seconds:.1f} s",
                    flush=True,
                )
            return results


def _table(results: list[LevelResult]) -> str:
    header = ("batching", "clients", "requests", "tok/s", "req/s", "p50 s", "p95 s")
    lines = [" ".join(f"{h:>8}" for h in header)]
    for r in results:
        lines.append(
            f"{'on' if r.batching else 'off':>8} {r.clients:>8} {r.requests:>8} "
            f"{r.tokens_per_s:>8.1f} {r.requests_per_s:>8.2f} "
            f"{r.percentile(0.5):>8.2f} {r.percentile(0.95):>8.2f}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="tiny model folder (built when absent)")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--requests-per-client", type=int, default=2, help="at 8 and 32 clients")
    parser.add_argument("--single-requests", type=int, default=8, help="requests at 1 client")
    args = parser.parse_args()
    model_dir = args.model
    if model_dir is None:
        from finerag.cli.model import build_from_sample
        from finerag.tiny_model import TinyModelSpec

        model_dir = Path(tempfile.mkdtemp(prefix="finerag-bench-model-"))
        # Throughput does not depend on what the weights learned: skip pretraining.
        build_from_sample(model_dir, TinyModelSpec(pretrain_steps=0))
    per_client = {
        1: args.single_requests,
        8: args.requests_per_client,
        32: args.requests_per_client,
    }
    results = []
    for batching in (True, False):
        results += run_configuration(model_dir, batching, args.max_tokens, per_client)
    print()
    print(f"model {model_dir}, max_tokens {args.max_tokens}, temperature 0.8 (seeded)")
    print(_table(results))
    by = {(r.batching, r.clients): r for r in results}
    single = by[(True, 1)]
    print()
    for clients in LEVELS:
        on, off = by[(True, clients)], by[(False, clients)]
        print(
            f"{clients:>2} clients: batching on/off throughput "
            f"{on.tokens_per_s / off.tokens_per_s:.2f}x; "
            f"on vs 1 client {on.tokens_per_s / single.tokens_per_s:.2f}x; "
            f"p95 / single-request p50 {on.percentile(0.95) / single.percentile(0.5):.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
