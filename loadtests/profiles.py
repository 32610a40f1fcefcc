"""Named load profiles: who the users are (weights), how they pace (think time), how long, how hard.

A profile is plain data; `loadtests/locustfile.py` applies it (`--profile NAME`), the shape in
`loadtests/shape.py` drives the user count from it, and `loadtests/thresholds.py` judges the run
against its bounds. Weights are relative counts of each user class; with a constant user count
equal to the sum of the weights every class gets exactly its weight in users.
"""

from __future__ import annotations

from dataclasses import dataclass

# The user classes a profile weighs (names match the `profile_key` of each class).
USER_KINDS = ("chat", "rag_chat", "stream_chat", "retrieval_search", "job_status")

FAILURE_RATIO_LIMIT = 0.01  # more than 1% failed requests fails the run


@dataclass(frozen=True)
class Ramp:
    """A stepped ramp: start with `start_users`, add `step_users` every `step_s` seconds."""

    start_users: int
    step_users: int
    step_s: float


@dataclass(frozen=True)
class Profile:
    """One load profile."""

    name: str
    description: str
    weights: dict[str, int]  # user kind -> relative weight (0 = not run)
    think_s: tuple[float, float]  # each user waits uniformly in [min, max] between requests
    duration_s: float  # constant profiles: the run; ramps: the longest the ramp may run
    p95_bound_ms: float  # the run fails when the p95 of all requests is over this
    max_tokens: int  # completion length asked of the model
    timeout_s: float = 120.0  # a request slower than this counts as failed
    users: int | None = None  # constant user count; None = the sum of the weights
    ramp: Ramp | None = None  # set: ramp until failures appear (stress)
    spawn_rate: float = 10.0  # users started per second

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(USER_KINDS)
        if unknown:
            raise ValueError(f"profile {self.name!r}: unknown user kinds {sorted(unknown)}")
        if not any(self.weights.values()):
            raise ValueError(f"profile {self.name!r}: every weight is 0, no user would run")
        low, high = self.think_s
        if not 0 <= low <= high:
            raise ValueError(f"profile {self.name!r}: think_s must be (min, max) with min <= max")

    @property
    def constant_users(self) -> int:
        """Users of a constant profile."""
        return self.users if self.users is not None else sum(self.weights.values())


# Users per kind as a production gateway sees them: RAG chat most, job polls least.
_PRODUCTION_MIX = {
    "chat": 3,
    "rag_chat": 4,
    "stream_chat": 2,
    "retrieval_search": 2,
    "job_status": 1,
}

PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            name="smoke",
            description="30 s, one to two users of each kind: does every path work under load?",
            weights={
                "chat": 2,
                "rag_chat": 2,
                "stream_chat": 2,
                "retrieval_search": 2,
                "job_status": 1,
            },
            think_s=(0.5, 1.5),
            duration_s=30,
            p95_bound_ms=10_000,
            max_tokens=8,
        ),
        Profile(
            name="stress",
            description="add users step by step until more than 1% of a step's requests fail",
            weights=dict(_PRODUCTION_MIX),
            think_s=(0.5, 1.5),
            duration_s=600,
            p95_bound_ms=30_000,
            max_tokens=16,
            timeout_s=30,  # past this a person gives up: under overload, errors appear here
            ramp=Ramp(start_users=8, step_users=16, step_s=20),
        ),
        Profile(
            name="soak",
            description="one hour at a steady, moderate load: leaks, slow drift, stuck workers",
            weights=dict(_PRODUCTION_MIX),
            think_s=(2.0, 5.0),
            duration_s=3600,
            p95_bound_ms=15_000,
            max_tokens=32,
            timeout_s=60,
            users=24,
        ),
    )
}


def get_profile(name: str) -> Profile:
    """The profile called `name`; a clear error naming the known ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown load profile {name!r}; choose one of: {', '.join(PROFILES)}"
        ) from None
