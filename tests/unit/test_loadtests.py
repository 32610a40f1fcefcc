"""Load-test logic without a stack: profiles, threshold arithmetic, the stress ramp, SSE reading.

Nothing here imports Locust (or loadtests.users / loadtests.shape, which do): Locust
monkey-patches the whole test process with gevent on import.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from loadtests.profiles import PROFILES, USER_KINDS, Ramp, get_profile
from loadtests.ramp import RampSteps
from loadtests.sse import StreamError, carries_output, chunks
from loadtests.thresholds import TTFT_TYPE, Step, Window, breaches, highest_held


def entry(method: str, requests: int, failures: int, times: dict[int, int]) -> SimpleNamespace:
    return SimpleNamespace(
        method=method, num_requests=requests, num_failures=failures, response_times=times
    )


def test_every_profile_weighs_every_user_kind_and_smoke_runs_each_at_least_once():
    for profile in PROFILES.values():
        assert set(profile.weights) == set(USER_KINDS), profile.name
    smoke = get_profile("smoke")
    assert smoke.duration_s == 30
    assert smoke.ramp is None
    assert all(w >= 1 for w in smoke.weights.values())
    assert smoke.constant_users == sum(smoke.weights.values())  # each kind its weight in users
    assert get_profile("soak").constant_users == 24
    assert get_profile("stress").ramp is not None


def test_an_unknown_profile_or_user_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="choose one of: smoke, stress, soak"):
        get_profile("spike")
    with pytest.raises(ValueError, match="unknown user kinds"):
        dataclasses.replace(get_profile("smoke"), weights={"chat": 1, "admin": 1})
    with pytest.raises(ValueError, match="every weight is 0"):
        dataclasses.replace(get_profile("smoke"), weights={"chat": 0})


def test_window_leaves_out_ttft_and_takes_percentiles_from_the_histogram():
    window = Window.of_entries(
        [
            entry("POST", 10, 1, {100: 8, 900: 2}),
            entry("GET", 10, 0, {10: 10}),
            entry(TTFT_TYPE, 5, 0, {5000: 5}),  # part of a request already counted
        ]
    )
    assert (window.requests, window.failures) == (20, 1)
    assert window.fail_ratio == pytest.approx(0.05)
    assert window.percentile(0.50) == 10
    assert window.percentile(0.95) == 900
    assert Window().percentile(0.95) == 0


def test_since_is_what_happened_between_two_snapshots():
    before = Window(10, 0, {100: 10})
    after = Window(30, 2, {100: 15, 2000: 15})
    step = after.since(before)
    assert (step.requests, step.failures) == (20, 2)
    assert step.response_times == {100: 5, 2000: 15}
    assert step.percentile(0.95) == 2000


def test_breaches_name_the_failure_ratio_and_the_p95_bound():
    assert breaches(Window(1000, 10, {200: 1000}), p95_bound_ms=500) == []  # 1% is allowed
    failing = breaches(Window(1000, 11, {200: 1000}), p95_bound_ms=500)
    assert len(failing) == 1
    assert "failure ratio 1.10%" in failing[0]
    slow = breaches(Window(100, 0, {200: 90, 800: 10}), p95_bound_ms=500)
    assert slow == ["p95 800 ms is over the profile's bound of 500 ms"]
    assert breaches(Window(), p95_bound_ms=500) == ["no requests were made"]


def test_highest_held_is_the_last_step_before_the_first_failing_one():
    steps = [
        Step(4, 20, Window(100, 0, {50: 100})),
        Step(12, 20, Window(300, 3, {80: 300})),
        Step(20, 20, Window(400, 40, {90: 400})),
        Step(28, 20, Window(400, 0, {90: 400})),  # after a failure: not counted
    ]
    assert highest_held(steps) == steps[1]
    assert steps[1].row()["held"] is True
    assert steps[2].row()["failure_ratio"] == 0.1
    assert highest_held(steps[2:]) is None


def test_the_stress_ramp_steps_up_and_stops_at_the_first_failing_step():
    ramp = RampSteps(Ramp(start_users=2, step_users=3, step_s=10), duration_s=100)
    assert ramp.users_at(0, Window(0, 0)) == 2
    assert ramp.users_at(5, Window(50, 0)) == 2  # within the step: no change
    assert ramp.users_at(10, Window(100, 0)) == 5
    assert ramp.users_at(20, Window(300, 1)) == 8  # 1 failure in 200: held
    assert ramp.users_at(30, Window(400, 20)) is None  # 19 in 100: failed
    assert [(s.users, s.window.requests, s.window.failures) for s in ramp.steps] == [
        (2, 100, 0),
        (5, 200, 1),
        (8, 100, 19),
    ]
    assert highest_held(ramp.steps).users == 5


def test_the_ramp_closes_its_last_step_at_the_duration_cap():
    ramp = RampSteps(Ramp(start_users=1, step_users=1, step_s=10), duration_s=15)
    ramp.users_at(0, Window(0, 0))
    ramp.users_at(10, Window(50, 0))
    assert ramp.users_at(15, Window(80, 0)) is None
    assert [(s.users, s.seconds, s.window.requests) for s in ramp.steps] == [
        (1, 10, 50),
        (2, 5, 30),
    ]


@pytest.mark.parametrize(
    ("chunk", "carries"),
    [
        ({"choices": [{"delta": {"role": "assistant", "content": ""}}]}, False),
        ({"choices": [{"delta": {"content": " the"}}]}, True),
        ({"choices": [{"delta": {}, "finish_reason": "stop"}]}, True),
        ({"choices": [], "usage": {"total_tokens": 3}}, False),
    ],
)
def test_time_to_first_token_waits_for_generated_output(chunk: dict, carries: bool):
    assert carries_output(chunk) is carries


def test_a_stream_is_read_to_done_and_a_broken_one_is_an_error():
    lines = [b'data: {"choices": [{"delta": {"content": "a"}}]}', b"", b"data: [DONE]", b"x"]
    assert [c["choices"][0]["delta"]["content"] for c in chunks(lines)] == ["a"]
    with pytest.raises(StreamError, match="without \\[DONE\\]"):
        list(chunks([b'data: {"choices": []}']))
    with pytest.raises(StreamError, match="error event: overloaded"):
        list(chunks([b'data: {"error": {"message": "overloaded"}}', b"data: [DONE]"]))
