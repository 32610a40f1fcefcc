"""What a run (or a step of a ramp) measured, and whether it passed the profile's thresholds.

Locust keeps cumulative statistics per entry: a request count, a failure count and a histogram
of response times (rounded milliseconds -> count). A `Window` sums them over the HTTP entries
(time-to-first-token entries measure part of a request already counted, so they are left out),
and the difference of two windows is what happened between them: one step of a stress ramp.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from loadtests.profiles import FAILURE_RATIO_LIMIT

TTFT_TYPE = "TTFT"  # request_type of the time-to-first-token entries


class _Entry(Protocol):
    method: str | None
    num_requests: int
    num_failures: int
    response_times: dict[int, int]


@dataclass(frozen=True)
class Window:
    """Requests, failures and response times over some span of a run."""

    requests: int = 0
    failures: int = 0
    response_times: dict[int, int] = field(default_factory=dict)

    @classmethod
    def of_entries(cls, entries: Iterable[_Entry]) -> Window:
        """The sum over Locust stats entries, time-to-first-token entries left out."""
        requests = failures = 0
        times: Counter[int] = Counter()
        for entry in entries:
            if entry.method == TTFT_TYPE:
                continue
            requests += entry.num_requests
            failures += entry.num_failures
            times.update(entry.response_times)
        return cls(requests, failures, dict(times))

    @classmethod
    def of_stats(cls, stats: Any) -> Window:
        """The cumulative window of a `locust.stats.RequestStats`."""
        return cls.of_entries(stats.entries.values())

    def since(self, earlier: Window) -> Window:
        """What happened after `earlier` (a snapshot of the same cumulative counters)."""
        times = Counter(self.response_times)
        times.subtract(earlier.response_times)
        return Window(
            self.requests - earlier.requests,
            self.failures - earlier.failures,
            {ms: n for ms, n in times.items() if n > 0},
        )

    @property
    def fail_ratio(self) -> float:
        """Failed share of the requests (0 when there were none)."""
        return self.failures / self.requests if self.requests else 0.0

    def percentile(self, fraction: float) -> int:
        """Response time (ms) that `fraction` of the timed requests stayed within."""
        timed = sum(self.response_times.values())
        if not timed:
            return 0
        wanted = fraction * timed
        seen = 0
        for ms in sorted(self.response_times):
            seen += self.response_times[ms]
            if seen >= wanted:
                return ms
        return max(self.response_times)


def breaches(window: Window, p95_bound_ms: float) -> list[str]:
    """Why the run fails its thresholds; empty when it passes."""
    found = []
    if window.requests == 0:
        found.append("no requests were made")
    if window.fail_ratio > FAILURE_RATIO_LIMIT:
        found.append(
            f"failure ratio {window.fail_ratio:.2%} is over {FAILURE_RATIO_LIMIT:.0%} "
            f"({window.failures} of {window.requests} requests)"
        )
    p95 = window.percentile(0.95)
    if p95 > p95_bound_ms:
        found.append(f"p95 {p95} ms is over the profile's bound of {p95_bound_ms:g} ms")
    return found


@dataclass(frozen=True)
class Step:
    """One step of a ramp: the user count it ran at and what it measured."""

    users: int
    seconds: float
    window: Window

    @property
    def held(self) -> bool:
        """Whether the step stayed within the failure threshold."""
        return self.window.requests > 0 and self.window.fail_ratio <= FAILURE_RATIO_LIMIT

    def row(self) -> dict[str, Any]:
        """The step as a CSV row."""
        return {
            "users": self.users,
            "seconds": round(self.seconds, 1),
            "requests": self.window.requests,
            "failures": self.window.failures,
            "failure_ratio": round(self.window.fail_ratio, 4),
            "requests_per_s": round(self.window.requests / self.seconds, 2) if self.seconds else 0,
            "p50_ms": self.window.percentile(0.50),
            "p95_ms": self.window.percentile(0.95),
            "held": self.held,
        }


def highest_held(steps: Sequence[Step]) -> Step | None:
    """The last step held before the first one that failed (None if the first one failed)."""
    best = None
    for step in steps:
        if not step.held:
            break
        best = step
    return best
