"""A metric's value with a seeded bootstrap 95% interval and its case count; never NaN.

Every metric is a ratio of sums over *units*, one unit per question case: a unit is a
(numerator, denominator) pair, e.g. (1, 1) for a correct answer, (2, 4) for a case with two of
four variants answered correctly, (0, 0) for a case the metric does not apply to. The value is
sum(numerators) / sum(denominators); the interval resamples cases with replacement, so answers
to the variants of one case stay together. With no applicable case the value and interval are
null and n is 0.

`paired_difference` compares two runs on the same cases (the fine-tuned model against its
base): it resamples the cases once for both, so the interval of the gain is far narrower than
the two runs' intervals side by side, which ignore that each question was asked of both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, Field

Unit = tuple[float, float]

DEFAULT_SAMPLES = 1000


class Stat(BaseModel):
    """One metric on one slice: value, 95% interval, and the cases it rests on."""

    value: float | None = Field(description="null when no case applies (n = 0)")
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = Field(0, description="Cases the metric applies to (denominator > 0).")


def _seed(seed: int, key: str) -> int:
    """A seed per metric slice, independent of the order metrics are computed in."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def bootstrap(
    units: Sequence[Unit], *, key: str, seed: int = 0, samples: int = DEFAULT_SAMPLES
) -> Stat:
    """The ratio of sums over `units`, with a percentile bootstrap 95% interval.

    Args:
        units: (numerator, denominator) per case; cases with denominator 0 are left out.
        key: names the slice (metric, run, type); with `seed` it seeds the resampling.
        seed: the evaluation's seed.
        samples: bootstrap resamples (0 = no interval).
    """
    kept = [(float(num), float(den)) for num, den in units if den > 0]
    n = len(kept)
    if n == 0:
        return Stat(value=None, n=0)
    numerators = np.array([u[0] for u in kept])
    denominators = np.array([u[1] for u in kept])
    value = float(numerators.sum() / denominators.sum())
    if samples <= 0:
        return Stat(value=value, n=n)
    picks = _resamples(n, key=key, seed=seed, samples=samples)
    ratios = numerators[picks].sum(axis=1) / denominators[picks].sum(axis=1)
    return _interval(value, ratios, n)


def _resamples(n: int, *, key: str, seed: int, samples: int) -> np.ndarray:
    """`samples` draws of n case indices with replacement, seeded per slice."""
    return np.random.default_rng(_seed(seed, key)).integers(0, n, size=(samples, n))


def _interval(value: float, resampled: np.ndarray, n: int) -> Stat:
    """The value with the 2.5th and 97.5th percentiles of its resampled values."""
    low, high = np.percentile(resampled, [2.5, 97.5])
    # Rounding can leave the point a hair outside a degenerate interval.
    return Stat(value=value, ci_low=min(float(low), value), ci_high=max(float(high), value), n=n)


def paired_difference(
    before: Mapping[str, Unit],
    after: Mapping[str, Unit],
    *,
    key: str,
    seed: int = 0,
    samples: int = DEFAULT_SAMPLES,
) -> Stat:
    """`after` minus `before` (ratios of sums) on the cases both measured, with a paired
    percentile bootstrap 95% interval: each resample draws the same cases for both.

    Args:
        before, after: (numerator, denominator) per case id; a case missing from either, or
            with denominator 0 in either, is left out.
        key, seed, samples: as for `bootstrap`.
    """
    cases = sorted(c for c in before.keys() & after.keys() if before[c][1] > 0 and after[c][1] > 0)
    n = len(cases)
    if n == 0:
        return Stat(value=None, n=0)
    a = np.array([before[c] for c in cases], dtype=float)
    b = np.array([after[c] for c in cases], dtype=float)
    value = float(b[:, 0].sum() / b[:, 1].sum() - a[:, 0].sum() / a[:, 1].sum())
    if samples <= 0:
        return Stat(value=value, n=n)
    picks = _resamples(n, key=key, seed=seed, samples=samples)
    a_sums, b_sums = a[picks].sum(axis=1), b[picks].sum(axis=1)  # (samples, 2) each
    return _interval(value, b_sums[:, 0] / b_sums[:, 1] - a_sums[:, 0] / a_sums[:, 1], n)
