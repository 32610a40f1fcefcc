"""What `finerag eval` prints: the headline matrix and the gate's verdict; `finerag eval gate`."""

from __future__ import annotations

import argparse
from typing import Any

from shared.contracts.errors import InvalidRequestError


def format_summary(report: Any) -> str:
    """The headline matrix and the gate verdict, as plain text."""
    from services.evaluation.catalog import headline_metrics
    from services.evaluation.report_markdown import format_stat

    runs = list(report.runs)
    rows = [["metric", *runs]]
    for definition in headline_metrics():
        stats = [report.runs[r].metrics.get(definition.name) for r in runs]
        if not any(s and s.overall.n for s in stats):
            continue
        rows.append([definition.name, *(format_stat(s.overall if s else None) for s in stats)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    if report.gate is not None:
        lines += ["", format_verdict(report.gate)]
    return "\n".join(lines)


def format_verdict(verdict: Any) -> str:
    """Each rule with its numbers, then PASSED or FAILED."""
    lines = []
    for rule in verdict.rules:
        status = "skip" if rule.skipped else "pass" if rule.passed else "FAIL"
        lines.append(f"[{status}] {rule.rule}: {rule.detail}")
    lines.append(f"gate {'PASSED' if verdict.passed else 'FAILED'}")
    return "\n".join(lines)


# --- finerag eval gate ------------------------------------------------------------------------


def run_eval_gate(args: argparse.Namespace) -> int:
    """`finerag eval gate --report report.json --gate gate.yaml`: exit 1 when it fails."""
    from pydantic import ValidationError

    from services.evaluation import Report, apply_gate, load_gate

    gate = load_gate(args.gate)
    if not args.report.is_file():
        raise InvalidRequestError(f"{args.report}: no such report", param="report")
    try:
        report = Report.model_validate_json(args.report.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise InvalidRequestError(
            f"{args.report}: not a finerag eval report ({exc.errors()[0]['msg']})"
        ) from None
    verdict = apply_gate(report, gate, source=str(args.gate))
    print(format_verdict(verdict))
    return 0 if verdict.passed else 1
