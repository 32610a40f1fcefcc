"""Write an evaluation into its folder: report.json, report.md, cases.jsonl and the charts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from services.evaluation.charts import write_charts
from services.evaluation.report import Report
from services.evaluation.report_markdown import render_markdown
from services.evaluation.runner import Evaluation
from shared.infrastructure.files import write_text_atomically


@dataclass(frozen=True)
class OutputFiles:
    """Where each output went."""

    report_json: Path
    report_md: Path
    cases_jsonl: Path
    charts: list[Path]


def write_report(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """report.json and report.md (again after a gate verdict is added)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    write_text_atomically(json_path, report.model_dump_json(indent=2) + "\n")
    write_text_atomically(md_path, render_markdown(report))
    return json_path, md_path


def write_outputs(evaluation: Evaluation, out_dir: Path) -> OutputFiles:
    """Every output of an evaluation in `out_dir` (created)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cases_path = out_dir / "cases.jsonl"
    tmp = cases_path.with_name(f".{cases_path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for record in evaluation.records:
            out.write(record.model_dump_json() + "\n")
    os.replace(tmp, cases_path)
    charts = write_charts(evaluation.report, out_dir)
    json_path, md_path = write_report(evaluation.report, out_dir)
    return OutputFiles(json_path, md_path, cases_path, charts)
