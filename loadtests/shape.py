"""The user count over time, from the profile: constant for smoke and soak, a stepped ramp for
stress that stops at the first step whose requests fail more than the threshold allows.
"""

from __future__ import annotations

from locust import LoadTestShape

from loadtests.profiles import Profile
from loadtests.ramp import RampSteps
from loadtests.thresholds import Step, Window


class ProfileShape(LoadTestShape):
    """Drives Locust's user count from a `Profile` (set by the locustfile's init listener)."""

    def __init__(self) -> None:
        super().__init__()
        self.profile: Profile | None = None
        self.ramp: RampSteps | None = None

    def configure(self, profile: Profile) -> None:
        """Run this profile."""
        self.profile = profile
        self.ramp = RampSteps(profile.ramp, profile.duration_s) if profile.ramp else None

    @property
    def steps(self) -> list[Step]:
        """The ramp's finished steps (empty for constant profiles)."""
        return self.ramp.steps if self.ramp else []

    def tick(self) -> tuple[int, float] | None:
        if self.profile is None:
            raise RuntimeError("ProfileShape.configure(profile) was not called")
        run_time = self.get_run_time()
        if self.ramp is None:
            if run_time >= self.profile.duration_s:
                return None
            return self.profile.constant_users, self.profile.spawn_rate
        stats = self.runner.stats if self.runner else None
        users = self.ramp.users_at(run_time, Window.of_stats(stats) if stats else Window())
        return None if users is None else (users, self.profile.spawn_rate)
