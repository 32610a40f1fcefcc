"""FineRAG under load: `make load PROFILE=smoke|stress|soak` against `make up-local`.

    python -m locust -f loadtests/locustfile.py --headless --load-profile smoke \
        --host http://127.0.0.1:8000 --retrieval-host http://127.0.0.1:8001 \
        --csv .finerag/loadtests/smoke --html .finerag/loadtests/smoke.html

The profile (`loadtests/profiles.py`) sets the users' weights and think times, the user count
over time and the thresholds. Locust exits 1 when the run breaks a threshold (more than 1% of
requests failed, or the p95 over the profile's bound; for stress: not even the first step held)
and 2 when the stack is not ready. With `--csv PREFIX` it also writes `PREFIX_summary.json`, and
for stress `PREFIX_steps.csv` (one row per step of the ramp).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

from locust import between, events

from loadtests.preflight import PreflightError, prepare
from loadtests.profiles import PROFILES, Profile, get_profile
from loadtests.shape import ProfileShape
from loadtests.thresholds import Window, breaches, highest_held
from loadtests.users import (
    TARGET,
    USER_CLASSES,
    ChatUser,
    JobStatusUser,
    RagChatUser,
    RetrievalSearchUser,
    StreamingChatUser,
)

__all__ = [
    "ChatUser",
    "JobStatusUser",
    "ProfileShape",
    "RagChatUser",
    "RetrievalSearchUser",
    "StreamingChatUser",
]

log = logging.getLogger("finerag.loadtests")

EXIT_THRESHOLDS = 1
EXIT_NOT_READY = 2


@events.init_command_line_parser.add_listener
def _add_options(parser: Any) -> None:
    profiles = "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values())
    group = parser.add_argument_group("FineRAG")
    group.add_argument(
        "--load-profile",
        choices=sorted(PROFILES),
        default="smoke",
        help=f"FineRAG load profile ({profiles})",
    )
    group.add_argument(
        "--retrieval-host",
        default="http://127.0.0.1:8001",
        help="base URL of the retrieval service (search users)",
    )
    group.add_argument("--kb", default="acme", help="knowledge base for RAG and search")
    group.add_argument(
        "--model", default="", help="model to chat with (default: the first of GET /v1/models)"
    )
    group.add_argument("--api-key", default="", help="Bearer key when the gateway requires one")
    group.add_argument(
        "--no-job-seed",
        action="store_true",
        help="never create a job to poll (a gateway without jobs then gets list requests only)",
    )
    group.add_argument(
        "--p95-ms", type=float, default=None, help="override the profile's p95 bound (ms)"
    )
    group.add_argument(
        "--duration-s",
        type=float,
        default=None,
        help="override the profile's duration (for stress: its longest run)",
    )
    group.add_argument(
        "--max-tokens", type=int, default=None, help="override the profile's completion length"
    )


def effective_profile(options: Any) -> Profile:
    """The named profile with the command line's overrides."""
    profile = get_profile(options.load_profile)
    changes: dict[str, Any] = {}
    if options.p95_ms is not None:
        changes["p95_bound_ms"] = options.p95_ms
    if options.duration_s is not None:
        changes["duration_s"] = options.duration_s
    if options.max_tokens is not None:
        changes["max_tokens"] = options.max_tokens
    return dataclasses.replace(profile, **changes)


@events.init.add_listener
def _apply_profile(environment: Any, **_kwargs: Any) -> None:
    options = environment.parsed_options
    if options is None:  # run as a library without a command line: nothing to apply
        return
    profile = effective_profile(options)
    for user_class in USER_CLASSES:
        user_class.weight = profile.weights.get(user_class.profile_key, 0)
        user_class.wait_time = between(*profile.think_s)
    environment.user_classes = [c for c in environment.user_classes if c.weight > 0]
    if isinstance(environment.shape_class, ProfileShape):
        environment.shape_class.configure(profile)
    TARGET.retrieval_url = options.retrieval_host.rstrip("/")
    TARGET.knowledge_base = options.kb
    TARGET.max_tokens = profile.max_tokens
    TARGET.timeout_s = profile.timeout_s
    TARGET.api_key = options.api_key
    if not environment.host:
        log.error("--host (the gateway's base URL) is required")
        sys.exit(EXIT_NOT_READY)
    try:
        prepare(
            TARGET,
            environment.host.rstrip("/"),
            TARGET.retrieval_url,
            model=options.model,
            create_job=not options.no_job_seed,
        )
    except PreflightError as exc:
        log.error("the stack is not ready for a load test: %s", exc)
        sys.exit(EXIT_NOT_READY)
    log.info("profile %s against model %r, kb %r", profile.name, TARGET.model, options.kb)


@events.quitting.add_listener
def _judge(environment: Any, **_kwargs: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    profile = effective_profile(options)
    window = Window.of_stats(environment.stats)
    summary: dict[str, Any] = {
        "profile": profile.name,
        "requests": window.requests,
        "failures": window.failures,
        "failure_ratio": round(window.fail_ratio, 4),
        "p50_ms": window.percentile(0.50),
        "p95_ms": window.percentile(0.95),
        "p95_bound_ms": profile.p95_bound_ms,
    }
    shape = environment.shape_class
    if profile.ramp is not None and isinstance(shape, ProfileShape):
        best = highest_held(shape.steps)
        problems = [] if best else ["not even the first step stayed under 1% failures"]
        summary["steps"] = [step.row() for step in shape.steps]
        summary["held"] = best.row() if best else None
        if best:
            log.info(
                "stress: held %d users with %.2f%% failures, p95 %d ms",
                best.users,
                best.window.fail_ratio * 100,
                best.window.percentile(0.95),
            )
        _write_steps(options.csv_prefix, summary["steps"])
    else:
        problems = breaches(window, profile.p95_bound_ms)
    summary["breaches"] = problems
    for problem in problems:
        log.error("threshold broken: %s", problem)
    environment.process_exit_code = EXIT_THRESHOLDS if problems else 0
    if options.csv_prefix:
        path = Path(f"{options.csv_prefix}_summary.json")
        path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def _write_steps(csv_prefix: str | None, rows: list[dict[str, Any]]) -> None:
    if not csv_prefix or not rows:
        return
    with Path(f"{csv_prefix}_steps.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
