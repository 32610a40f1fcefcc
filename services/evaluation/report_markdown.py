"""`report.md`: the tables a person reads first (gate verdict, the matrix, then each suite)."""

from __future__ import annotations

from collections.abc import Sequence

from services.evaluation.agent_column import agent_markdown
from services.evaluation.bootstrap import Stat
from services.evaluation.catalog import SUITES, headline_metrics, metric_def
from services.evaluation.report import MetricResult, Report

CHARTS = ("matrix.png", "by_type.png", "variants.png")


def format_stat(stat: Stat | None, *, signed: bool = False) -> str:
    """`0.812 [0.74, 0.87] n=120` (`+0.281 [...]` when `signed`), or `—` when nothing was
    measured."""
    if stat is None or stat.value is None:
        return "— (n=0)"
    value = f"{stat.value:+.3f}" if signed else f"{stat.value:.3f}"
    if stat.ci_low is None or stat.ci_high is None:
        return f"{value} n={stat.n}"
    return f"{value} [{stat.ci_low:.2f}, {stat.ci_high:.2f}] n={stat.n}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _measured(results: Sequence[MetricResult | None], slice_: str) -> bool:
    for result in results:
        if result is None:
            continue
        stat = result.overall if slice_ == "overall" else result.by_type.get(slice_)
        if stat is not None and stat.n > 0:
            return True
    return False


def _gate_section(report: Report) -> list[str]:
    verdict = report.gate
    if verdict is None:
        return []
    word = "PASSED" if verdict.passed else "FAILED"
    lines = [f"## Release gate: {word}", ""]
    if verdict.source:
        lines += [f"Gate file: `{verdict.source}`", ""]
    rows = []
    for rule in verdict.rules:
        status = "skipped" if rule.skipped else "pass" if rule.passed else "**FAIL**"
        rows.append(
            [
                rule.rule,
                _num(rule.fine_tuned),
                _num(rule.base),
                _num(rule.required),
                status,
                rule.detail,
            ]
        )
    return [
        *lines,
        *_table(["rule", "fine-tuned", "base", "required", "result", "detail"], rows),
        "",
    ]


def _gains_section(report: Report) -> list[str]:
    """Fine-tuned minus base, per mode, with the paired interval (the same cases resampled)."""
    modes = [mode for mode, by_metric in report.gains.items() if by_metric]
    if not modes:
        return []
    names = list(dict.fromkeys(name for mode in modes for name in report.gains[mode]))
    rows = [
        [name] + [format_stat(report.gains[mode].get(name), signed=True) for mode in modes]
        for name in names
        if any((stat := report.gains[mode].get(name)) is not None and stat.n for mode in modes)
    ]
    return [
        "## Fine-tuned minus base",
        "",
        "On the same cases, with a paired bootstrap interval: each resample draws the same "
        "questions for both models, so an interval clear of 0 is a difference the questions "
        "support even where the two runs' intervals above overlap.",
        "",
        *_table(["metric", *modes], rows),
        "",
    ]


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def render_markdown(report: Report) -> str:
    """The whole report as Markdown."""
    meta = report.meta
    models = meta.get("models", {})
    run_names = list(report.runs)
    lines = [
        "# Evaluation report",
        "",
        f"Fine-tuned model `{models.get('fine_tuned')}` against base `{models.get('base')}`; "
        f"knowledge base `{meta.get('kb')}`; {meta.get('cases')} cases "
        f"{meta.get('cases_by_type')}, {meta.get('generations')} generations in "
        f"{meta.get('seconds')} s; created {meta.get('created')}.",
        "",
        "Each cell: value [95% bootstrap interval] n = cases it rests on. Rates are shares "
        "(0-1); a margin of 0.10 is 10 points. `—` means no applicable case.",
        "",
    ]
    lines += _gate_section(report)

    lines += ["## The matrix", ""]
    rows = []
    for definition in headline_metrics():
        results = [report.runs[name].metrics.get(definition.name) for name in run_names]
        if not _measured(results, "overall"):
            continue
        arrow = "↑" if definition.direction == "higher" else "↓"
        rows.append([f"{definition.name} {arrow}"] + [
            format_stat(r.overall if r else None) for r in results
        ])  # fmt: skip
    lines += [*_table(["metric", *run_names], rows), ""]
    lines += _gains_section(report)
    if report.agents is not None:
        lines += agent_markdown(report.agents)
    lines += [f"![{chart}]({chart})" for chart in CHARTS] + [""]

    for suite in SUITES:
        lines += _suite_section(report, suite, run_names)

    check = report.prompt_check
    if check is not None:
        lines += [
            "## Served prompt against the training prompt",
            "",
            f"Dataset `{check.dataset}`: {check.compared} cases compared "
            f"({'rendered text, byte for byte' if check.rendered else 'messages'}), "
            f"{check.identical} identical, {check.template_identical} with the same template, "
            f"{check.missing} not in the dataset.",
            "",
        ]
        lines += [f"- note: {note}" for note in check.notes]
        if check.mismatches:
            rows = [
                [m.case_id, m.reason, str(m.offset), _code(m.served), _code(m.dataset)]
                for m in check.mismatches
            ]
            lines += [*_table(["case", "reason", "offset", "served", "dataset"], rows), ""]
    return "\n".join(lines).rstrip() + "\n"


def _code(text: str) -> str:
    cleaned = " ".join(text.split()).replace("|", "\\|").replace("`", "'")
    return f"`{cleaned[:80]}`"


def _suite_section(report: Report, suite: str, run_names: list[str]) -> list[str]:
    names = sorted(
        {n for run in report.runs.values() for n in run.metrics if n.startswith(f"{suite}.")}
        | {n for n in report.metrics if n.startswith(f"{suite}.")},
        key=_metric_order,
    )
    rows = []
    for name in names:
        if name in report.metrics:  # global: the same for every run
            result = report.metrics[name]
            slices = ["overall", *result.by_type]
            for slice_ in slices:
                if not _measured([result], slice_):
                    continue
                stat = result.overall if slice_ == "overall" else result.by_type[slice_]
                rows.append([name, slice_] + [format_stat(stat)] * len(run_names))
            continue
        results = [report.runs[r].metrics.get(name) for r in run_names]
        types = list(dict.fromkeys(t for r in results if r for t in r.by_type))
        kinds = list(dict.fromkeys(k for r in results if r for k in r.by_kind))
        for slice_ in ["overall", *types]:
            if not _measured(results, slice_):
                continue
            cells = [
                format_stat(
                    (r.overall if slice_ == "overall" else r.by_type.get(slice_)) if r else None
                )
                for r in results
            ]
            rows.append([name, slice_, *cells])
        for kind in kinds:
            cells = [format_stat(r.by_kind.get(kind) if r else None) for r in results]
            rows.append([name, f"variant: {kind}", *cells])
    if not rows:
        return []
    title = {"behaviour": "Behaviour checks", "customer": "Customer simulation"}.get(
        suite, suite.capitalize()
    )
    return [f"## {title}", "", *_table(["metric", "slice", *run_names], rows), ""]


def _metric_order(name: str) -> tuple[int, str]:
    try:
        return (0 if metric_def(name).headline else 1, name)
    except KeyError:
        return (2, name)
