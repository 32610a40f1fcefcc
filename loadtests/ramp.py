"""The stress ramp's bookkeeping: which user count now, and what each step measured.

Kept apart from Locust (no import of it) so that it can be tested on its own: importing Locust
monkey-patches the whole process with gevent.
"""

from __future__ import annotations

import logging

from loadtests.profiles import Ramp
from loadtests.thresholds import Step, Window

log = logging.getLogger("finerag.loadtests")


class RampSteps:
    """Steps of a ramp; stops at the first step over the failure threshold or at the cap."""

    def __init__(self, ramp: Ramp, duration_s: float) -> None:
        self.ramp = ramp
        self.duration_s = duration_s
        self.steps: list[Step] = []
        self._open: tuple[int, float, Window] | None = None  # users, started at, stats then

    def users_at(self, run_time: float, now: Window) -> int | None:
        """The user count to run at `run_time` given the cumulative stats; None = stop."""
        users = self.ramp.start_users + self.ramp.step_users * int(run_time // self.ramp.step_s)
        over = run_time >= self.duration_s
        if self._open is not None and (self._open[0] != users or over):
            step_users, started, then = self._open
            step = Step(step_users, run_time - started, now.since(then))
            self.steps.append(step)
            self._open = None
            log.info("stress step: %s", step.row())
            if not step.held:
                log.info("stress: %d users broke the failure threshold; stopping", step_users)
                return None
        if over:
            return None
        if self._open is None:
            self._open = (users, run_time, now)
        return users
