"""PNG charts of the matrix (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.evaluation.bootstrap import Stat
from services.evaluation.catalog import headline_metrics
from services.evaluation.report import Report, RunReport

_COLOURS = {"base/no_rag": "#bdbdbd", "base/rag": "#737373",
            "fine_tuned/no_rag": "#9ecae1", "fine_tuned/rag": "#2171b5"}  # fmt: skip


def _bars(ax: Any, labels: list[str], series: dict[str, list[Stat | None]]) -> None:
    """Grouped bars with 95% interval whiskers; a metric with no case (n = 0) is left out."""
    import numpy as np

    width = 0.8 / max(1, len(series))
    positions = np.arange(len(labels))
    for offset, (run, stats) in enumerate(series.items()):
        shown = [(i, s) for i, s in enumerate(stats) if s is not None and s.value is not None]
        values = [s.value or 0.0 for _, s in shown]
        lower = [s.value - s.ci_low if s.value is not None and s.ci_low is not None else 0.0
                 for _, s in shown]  # fmt: skip
        upper = [s.ci_high - s.value if s.value is not None and s.ci_high is not None else 0.0
                 for _, s in shown]  # fmt: skip
        ax.bar(
            positions[[i for i, _ in shown]] + offset * width - 0.4 + width / 2,
            values,
            width,
            yerr=[lower, upper],
            capsize=2,
            label=run,
            color=_COLOURS.get(run),
        )
    ax.set_xticks(positions)
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=7)


def write_charts(report: Report, out_dir: Path) -> list[Path]:
    """matrix.png (headline metrics × runs), by_type.png, variants.png; returns the files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return [
        _headline_chart(plt, report.runs, out_dir / "matrix.png"),
        _by_type_chart(plt, report.runs, out_dir / "by_type.png"),
        _variants_chart(plt, report.runs, out_dir / "variants.png"),
    ]


def _headline_chart(plt: Any, runs: dict[str, RunReport], path: Path) -> Path:
    """Every headline metric that some run measured, one bar per run."""
    names = [
        d.name
        for d in headline_metrics()
        if any((m := r.metrics.get(d.name)) and m.overall.n for r in runs.values())
    ]
    fig, ax = plt.subplots(figsize=(max(6.0, len(names) * 1.1), 4.5))
    _bars(
        ax,
        names,
        {
            run: [r.metrics[n].overall if n in r.metrics else None for n in names]
            for run, r in runs.items()
        },
    )
    ax.set_title("Headline metrics: base vs fine-tuned, without and with RAG")
    return _save(plt, fig, path)


def _by_type_chart(plt: Any, runs: dict[str, RunReport], path: Path) -> Path:
    """Accuracy and hallucination rate per question type, side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, metric in zip(
        axes, ("accuracy.correct", "hallucination.hallucination_rate"), strict=True
    ):
        types = list(
            dict.fromkeys(
                t
                for r in runs.values()
                if metric in r.metrics
                for t, s in r.metrics[metric].by_type.items()
                if s.n
            )
        )
        _bars(
            ax,
            types,
            {
                run: [
                    r.metrics[metric].by_type.get(t) if metric in r.metrics else None for t in types
                ]
                for run, r in runs.items()
            },
        )
        ax.set_title(f"{metric} by question type", fontsize=10)
    return _save(plt, fig, path)


def _variants_chart(plt: Any, runs: dict[str, RunReport], path: Path) -> Path:
    """The customer simulation: accuracy per kind of customer-style variant."""
    metric = "customer.variant_accuracy"
    kinds = list(dict.fromkeys(k for r in runs.values() if metric in r.metrics
                               for k in r.metrics[metric].by_kind))  # fmt: skip
    fig, ax = plt.subplots(figsize=(7, 4.5))
    _bars(
        ax,
        kinds,
        {
            run: [r.metrics[metric].by_kind.get(k) if metric in r.metrics else None for k in kinds]
            for run, r in runs.items()
        },
    )
    ax.set_title("Customer simulation: variant accuracy by kind", fontsize=10)
    return _save(plt, fig, path)


def _save(plt: Any, fig: Any, path: Path) -> Path:
    """Lay out and write a figure, then close it: pyplot keeps every open figure in memory."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
