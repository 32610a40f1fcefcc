"""Bootstrap intervals: seeded, sane, and null (never NaN) without cases."""

from __future__ import annotations

import json
import math

from services.trainer.evaluation.bootstrap import bootstrap


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
