"""Bootstrap intervals: seeded, sane, and null (never NaN) without cases."""

from __future__ import annotations

import json
import math

import pytest

from services.evaluation.bootstrap import bootstrap, paired_difference


def test_no_case_is_null_with_n_zero():
    for units in ([], [(0.0, 0.0), (3.0, 0.0)]):
        stat = bootstrap(units, key="m")
        assert stat.value is None
        assert stat.ci_low is None
        assert stat.ci_high is None
        assert stat.n == 0
    assert "NaN" not in json.dumps(bootstrap([], key="m").model_dump())


def test_interval_brackets_the_value_and_shrinks_with_more_cases():
    small = bootstrap([(1.0, 1.0)] * 6 + [(0.0, 1.0)] * 4, key="m", seed=1)
    large = bootstrap([(1.0, 1.0)] * 600 + [(0.0, 1.0)] * 400, key="m", seed=1)
    for stat in (small, large):
        assert stat.value == 0.6
        assert stat.ci_low <= stat.value <= stat.ci_high
        assert stat.ci_low >= 0.0
        assert stat.ci_high <= 1.0
    assert (large.ci_high - large.ci_low) < (small.ci_high - small.ci_low) / 5
    # the binomial standard error at n=1000 is 0.0155: a 95% interval is about ±0.03
    assert math.isclose(large.ci_high - large.ci_low, 4 * 0.0155, rel_tol=0.25)


def test_seeded_and_keyed():
    units = [(float(i % 3 == 0), 1.0) for i in range(50)]
    assert bootstrap(units, key="a", seed=3) == bootstrap(units, key="a", seed=3)
    # another slice (or seed) draws other resamples
    intervals = {
        (s.ci_low, s.ci_high)
        for s in (bootstrap(units, key=key, seed=3, samples=40) for key in "abcdefgh")
    }
    assert len(intervals) > 1


def test_ratio_of_sums_resamples_whole_cases():
    stat = bootstrap([(2.0, 4.0), (1.0, 1.0), (0.0, 5.0)], key="m")
    assert stat.value == 0.3  # 3 of 10, not the mean of 0.5, 1, 0
    assert stat.n == 3


def test_constant_metric_has_a_degenerate_interval():
    stat = bootstrap([(1.0, 1.0)] * 5, key="m")
    assert stat.value == stat.ci_low == stat.ci_high == 1.0
    assert bootstrap([(1.0, 1.0)], key="m", samples=0).ci_low is None


def test_paired_difference_is_the_gain_on_shared_cases() -> None:
    before = {"a": (0.0, 1.0), "b": (1.0, 1.0), "c": (0.0, 1.0), "only-before": (1.0, 1.0)}
    after = {"a": (1.0, 1.0), "b": (1.0, 1.0), "c": (1.0, 1.0), "only-after": (0.0, 1.0)}
    stat = paired_difference(before, after, key="m")
    assert stat.n == 3
    assert stat.value == pytest.approx(2 / 3)
    assert stat.ci_low is not None
    assert stat.ci_high is not None
    assert stat.ci_low <= stat.value <= stat.ci_high


def test_pairing_narrows_the_interval_of_a_consistent_gain() -> None:
    """The base answers 8 of 40 questions, the fine-tuned model those 8 and 10 more: the two
    runs' own intervals overlap, the paired interval of the gain is clear of 0."""
    before = {f"q{i}": (float(i < 8), 1.0) for i in range(40)}
    after = {f"q{i}": (float(i < 18), 1.0) for i in range(40)}
    a = bootstrap(list(before.values()), key="m", seed=2)
    b = bootstrap(list(after.values()), key="m", seed=2)
    gain = paired_difference(before, after, key="m", seed=2)
    assert a.ci_high is not None
    assert b.ci_low is not None
    assert b.ci_low < a.ci_high
    assert gain.value == pytest.approx(0.25)
    assert gain.ci_low is not None
    assert gain.ci_low > 0


def test_paired_difference_without_shared_cases_is_null() -> None:
    stat = paired_difference({"a": (1.0, 1.0)}, {"b": (1.0, 1.0), "a": (0.0, 0.0)}, key="m")
    assert stat.value is None
    assert stat.n == 0
