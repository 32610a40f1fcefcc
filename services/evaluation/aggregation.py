"""From scored generations to metrics: one unit per case, bootstrapped overall and per slice.

Each metric turns a run's records into units `(type, kind, numerator, denominator)`, one per
question case (per case and variant kind for the customer metrics' kind breakdown), so the
bootstrap resamples cases. The definitions live in `catalog.py` and docs/evaluation.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from services.evaluation.bootstrap import Stat, bootstrap, paired_difference
from services.evaluation.cases import REASONING_TYPES
from services.evaluation.catalog import run_metric_names
from services.evaluation.normalisation import answer_tokens
from services.evaluation.records import GenerationRecord
from services.evaluation.report import MetricResult

# (case id, question type, variant kind or None, numerator, denominator)
SliceUnit = tuple[str, str, str | None, float, float]
UnitFn = Callable[[Sequence[GenerationRecord]], list[SliceUnit]]


def _originals(records: Iterable[GenerationRecord]) -> list[GenerationRecord]:
    return [r for r in records if r.variant is None and not r.step_by_step]


def _per_original(
    test: Callable[[GenerationRecord], tuple[float, float] | None],
    *,
    types: Sequence[str] | None = None,
    step_by_step: bool = False,
) -> UnitFn:
    """A unit per case from its answer as written (None: the metric does not apply)."""

    def units(records: Sequence[GenerationRecord]) -> list[SliceUnit]:
        out: list[SliceUnit] = []
        for record in records:
            if record.variant is not None or record.step_by_step != step_by_step:
                continue
            if types is not None and record.type not in types:
                continue
            value = test(record)
            if value is not None:
                out.append((record.case_id, record.type, None, value[0], value[1]))
        return out

    return units


def _answerable(
    get: Callable[[GenerationRecord], float],
) -> Callable[..., tuple[float, float] | None]:
    return lambda r: (get(r), 1.0) if r.reference is not None else None


def _unanswerable(
    get: Callable[[GenerationRecord], float],
) -> Callable[..., tuple[float, float] | None]:
    return lambda r: (get(r), 1.0) if r.reference is None else None


def _rag(
    get: Callable[[GenerationRecord], tuple[float, float] | None],
) -> Callable[..., tuple[float, float] | None]:
    return lambda r: get(r) if r.mode == "rag" else None


def _agree(variant: GenerationRecord, original: GenerationRecord) -> bool:
    """Two answers agree: both decline, both handled correctly, or the same normalised answer."""
    a, b = variant.scores, original.scores
    if a.abstained or b.abstained:
        return a.abstained and b.abstained
    if variant.reference is not None and a.handled and b.handled:
        return True
    return bool(answer_tokens(a.answer_text)) and answer_tokens(a.answer_text) == answer_tokens(
        b.answer_text
    )


def _customer(measure: str) -> UnitFn:
    def units(records: Sequence[GenerationRecord]) -> list[SliceUnit]:
        originals = {r.case_id: r for r in _originals(records)}
        variants: dict[str, list[GenerationRecord]] = defaultdict(list)
        for record in records:
            if record.variant is not None and not record.step_by_step:
                variants[record.case_id].append(record)
        out: list[SliceUnit] = []
        for case_id, asked in variants.items():
            original = originals.get(case_id)
            if measure == "accuracy":
                for record in asked:
                    handled = float(record.scores.handled)
                    out.append((case_id, record.type, record.variant, handled, 1.0))
            elif measure == "consistency" and original is not None:
                for record in asked:
                    agree = float(_agree(record, original))
                    out.append((case_id, record.type, record.variant, agree, 1.0))
            elif measure == "robust" and original is not None:
                robust = original.scores.handled and all(r.scores.handled for r in asked)
                out.append((case_id, original.type, None, float(robust), 1.0))
        return out

    return units


def _per_generation(get: Callable[[GenerationRecord], float]) -> UnitFn:
    return lambda records: [(r.case_id, r.type, r.variant, get(r), 1.0) for r in records]


def _judge(field: str) -> Callable[[GenerationRecord], tuple[float, float] | None]:
    def value(record: GenerationRecord) -> tuple[float, float] | None:
        outcome = record.scores.judge
        if outcome is None:
            return None
        if field == "error":
            return (float(outcome.error is not None), 1.0)
        return None if outcome.error else (float(outcome.supported), float(outcome.judged))

    return value


UNITS: dict[str, UnitFn] = {
    "accuracy.correct": _per_original(_answerable(lambda r: float(bool(r.scores.correct)))),
    "accuracy.exact_match": _per_original(_answerable(lambda r: float(bool(r.scores.exact_match)))),
    "accuracy.token_f1": _per_original(_answerable(lambda r: r.scores.token_f1 or 0.0)),
    "hallucination.hallucination_rate": _per_original(
        lambda r: (float(r.scores.hallucinated), 1.0)
    ),
    "hallucination.abstention_rate": _per_original(
        _unanswerable(lambda r: float(r.scores.abstained))
    ),
    "hallucination.false_answer_rate": _per_original(
        _unanswerable(lambda r: float(bool(r.scores.false_answer)))
    ),
    "hallucination.unsupported_claim_rate": _per_original(
        lambda r: (
            (len(r.scores.unsupported_claims), len(r.scores.claims))
            if r.reference is not None
            else None
        )
    ),
    "hallucination.over_abstention_rate": _per_original(
        _answerable(lambda r: float(r.scores.abstained))
    ),
    "faithfulness.sentence_support": _per_original(
        _rag(lambda r: (r.scores.supported_sentences or 0, r.scores.sentences or 0))
    ),
    "faithfulness.citation_precision": _per_original(
        _rag(
            lambda r: (
                None if r.scores.citation_precision is None else (r.scores.citation_precision, 1.0)
            )
        )
    ),
    "faithfulness.citation_recall": _per_original(
        _rag(
            lambda r: None if r.scores.citation_recall is None else (r.scores.citation_recall, 1.0)
        )
    ),
    "faithfulness.invalid_citation_rate": _per_original(
        _rag(lambda r: (r.scores.invalid_citations, len(r.scores.citations)))
    ),
    "faithfulness.judge_support": _per_original(_rag(_judge("support"))),
    "faithfulness.judge_error_rate": _per_original(_rag(_judge("error"))),
    "reasoning.correct": _per_original(
        lambda r: (float(bool(r.scores.correct)), 1.0), types=REASONING_TYPES
    ),
    "reasoning.correct_step_by_step": _per_original(
        lambda r: (float(bool(r.scores.correct)), 1.0), types=REASONING_TYPES, step_by_step=True
    ),
    "reasoning.exact_match": _per_original(
        lambda r: (float(bool(r.scores.exact_match)), 1.0), types=REASONING_TYPES
    ),
    "reasoning.exact_match_step_by_step": _per_original(
        lambda r: (float(bool(r.scores.exact_match)), 1.0),
        types=REASONING_TYPES,
        step_by_step=True,
    ),
    "customer.variant_accuracy": _customer("accuracy"),
    "customer.consistency": _customer("consistency"),
    "customer.robust_accuracy": _customer("robust"),
    "security.injection_follow_rate": _per_generation(
        lambda r: float(bool(r.scores.followed_injection))
    ),
    "behaviour.stop_rate": _per_generation(lambda r: float(r.scores.stopped)),
    "behaviour.error_rate": _per_generation(lambda r: float(r.error is not None)),
}


def _by_case(units: Iterable[SliceUnit]) -> dict[str, tuple[float, float]]:
    """Sum the units of each case (the resampling unit)."""
    sums: dict[str, list[float]] = {}
    for case_id, _type, _kind, num, den in units:
        pair = sums.setdefault(case_id, [0.0, 0.0])
        pair[0] += num
        pair[1] += den
    return {case_id: (num, den) for case_id, (num, den) in sums.items()}


def summarise(
    units: Sequence[SliceUnit],
    *,
    key: str,
    types: Sequence[str],
    seed: int,
    samples: int,
    by_kind: bool = False,
) -> MetricResult:
    """Bootstrap a metric overall, per question type, and per variant kind if asked."""

    def stat(selected: Iterable[SliceUnit], slice_: str) -> Stat:
        units = list(_by_case(selected).values())
        return bootstrap(units, key=f"{key}/{slice_}", seed=seed, samples=samples)

    result = MetricResult(overall=stat(units, "overall"))
    for type_ in types:
        result.by_type[type_] = stat((u for u in units if u[1] == type_), type_)
    if by_kind:
        for kind in sorted({u[2] for u in units if u[2] is not None}):
            result.by_kind[kind] = stat((u for u in units if u[2] == kind), f"kind={kind}")
    return result


def _units(name: str, records: Sequence[GenerationRecord]) -> list[SliceUnit]:
    """A metric's units over a run's records. The injection suite's generations count for its
    own metric only: a planted instruction must not move accuracy or hallucination, which
    measure the questions as customers ask them."""
    injected = name.startswith("security.")
    return UNITS[name]([r for r in records if (r.injection is not None) == injected])


def run_metrics(
    records: Sequence[GenerationRecord],
    *,
    run: str,
    types: Sequence[str],
    seed: int,
    samples: int,
    judge: bool,
) -> dict[str, MetricResult]:
    """Every run metric of one cell of the matrix."""
    return {
        name: summarise(
            _units(name, records),
            key=f"{run}/{name}",
            types=types,
            seed=seed,
            samples=samples,
            by_kind=name.startswith("customer.") or name.startswith("behaviour."),
        )
        for name in run_metric_names(judge)
    }


def gains(
    base: Sequence[GenerationRecord],
    fine_tuned: Sequence[GenerationRecord],
    *,
    mode: str,
    names: Sequence[str],
    seed: int,
    samples: int,
) -> dict[str, Stat]:
    """Fine-tuned minus base per metric, on the cases both answered, with a paired interval."""
    return {
        name: paired_difference(
            _by_case(_units(name, base)),
            _by_case(_units(name, fine_tuned)),
            key=f"gain/{mode}/{name}",
            seed=seed,
            samples=samples,
        )
        for name in names
    }
