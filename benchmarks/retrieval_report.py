"""The retrieval benchmark's results and their printing: one table per section, each goal met or
missed, the two backends side by side (`retrieval_throughput.py` measures, this reports)."""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.evaluation.retrieval_metrics import RetrievalScores
from shared.contracts.schemas import SearchMode

BACKENDS = ("edge", "local")
MODES: tuple[SearchMode, ...] = ("dense", "sparse", "hybrid")


@dataclass
class BackendResult:
    """What one backend measured; None where a section was skipped."""

    ingest_rate: float = 0.0
    fill_s: float = 0.0
    optimise: str = "-"
    in_process: dict[str, list[float]] | None = None
    http: dict[str, list[float]] | None = None
    service_mean: dict[str, float] = field(default_factory=dict)
    points: int | None = None
    quality: list[RetrievalScores] = field(default_factory=list)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


# --- report ------------------------------------------------------------------------------------
LABEL = 46
CELL = 16


def row(label: str, *cells: str) -> None:
    print(f"  {label:<{LABEL}}" + "".join(f"{cell:>{CELL}}" for cell in cells))


def p50_p95(times: Sequence[float] | None) -> str:
    if times is None:
        return "skipped"
    return f"{percentile(times, 0.5):.1f} / {percentile(times, 0.95):.1f}"


def of_mode(section: dict[str, list[float]] | None, mode: str) -> list[float] | None:
    return None if section is None else section[mode]


def p95(times: Sequence[float] | None) -> float | None:
    return None if times is None else percentile(times, 0.95)


def verdict(value: float | None, goal: float, *, at_most: bool) -> str:
    if value is None:
        return "n/a"
    met = value <= goal if at_most else value >= goal
    return "met" if met else "MISSED"


def compare(label: str, edge: float | None, local: float | None) -> str:
    if edge is None:
        return f"{label}: n/a"
    if local is None:
        return f"{label}: edge {edge:.1f} ms, local skipped"
    return f"{label}: edge {edge:.1f} ms, local {local:.1f} ms, edge/local {edge / local:.2f}"


def report(
    args: argparse.Namespace,
    model: str,
    results: dict[str, BackendResult],
    bare_rate: float,
    chunks: int,
    embed_ms: list[float],
    questions: int,
) -> None:
    edge, local = results["edge"], results["local"]
    ratios = {backend: r.ingest_rate / bare_rate for backend, r in results.items()}
    print(f"\nRetrieval benchmark: Qdrant Edge vs qdrant-client local mode ({os.cpu_count()} CPUs)")
    print(f"embedder {model}; latency store {args.points:,} points; {args.queries} searches/mode")
    if local.in_process is None:
        print(f"local mode's latency sections skipped: more than {args.skip_local_above:,} points")

    print(f"\nIngestion ({args.docs} documents, {chunks} chunks)")
    row("", *BACKENDS)
    row("bare embedder, chunks/s (measured once)", *[f"{bare_rate:.1f}"] * len(BACKENDS))
    row("end to end over HTTP, chunks/s", *(f"{r.ingest_rate:.1f}" for r in results.values()))
    row("ratio (goal >= 0.8)", *(f"{ratio:.2f}" for ratio in ratios.values()))

    print(f"\nLatency store ({args.points:,} points, written before the service opens it)")
    row("", *BACKENDS)
    row("write, s", *(f"{r.fill_s:.1f}" if r.in_process else "skipped" for r in results.values()))
    row("points the service reports", *(str(r.points or "skipped") for r in results.values()))
    print(f"  Edge optimisation (synchronous, before timing): {edge.optimise}")

    print("\nIn-process ChunkStore.search, precomputed vectors, ms p50 / p95")
    print("(goal: Edge p95 <= 5 ms at 100,000 points)")
    row("mode", *BACKENDS)
    for mode in MODES:
        row(mode, *(p50_p95(of_mode(r.in_process, mode)) for r in results.values()))
    row("query embedding alone (one text)", p50_p95(embed_ms), "(same model)")

    print("\nSearch over HTTP, query embedding included, ms p50 / p95 (goal: hybrid p95 <= 25)")
    row("mode", *BACKENDS)
    for mode in MODES:
        row(mode, *(p50_p95(of_mode(r.http, mode)) for r in results.values()))
    print("where the time goes, means in ms: round trip / inside the service (embed + store)")
    for mode in MODES:
        cells = []
        for result in results.values():
            times = of_mode(result.http, mode)
            inside = result.service_mean.get(mode)
            cells.append(
                "skipped" if times is None else f"{statistics.mean(times):.1f} / {inside:.1f}"
            )
        row(mode, *cells)

    print(f"\nRetrieval quality, sample domain ({questions} questions with sources; chunk_tokens")
    print("128, overlap 16; MRR over the top 10 hits, as `finerag eval retrieval`)")
    row("backend, mode", "recall@5", "MRR", "nDCG@5")
    for backend, result in results.items():
        for s in result.quality:
            row(f"{backend} {s.mode}", f"{s.recall[5]:.3f}", f"{s.mrr:.3f}", f"{s.ndcg[5]:.3f}")

    http_edge, http_local = (p95(of_mode(r.http, "hybrid")) for r in (edge, local))
    own_edge, own_local = (p95(of_mode(r.in_process, "hybrid")) for r in (edge, local))
    at = "" if args.points == 100_000 else "; the goal is set at 100,000 points"
    print("\nSummary")
    print(f"  {compare('hybrid p95 over HTTP', http_edge, http_local)}")
    print(f"  {compare('hybrid p95 in-process', own_edge, own_local)}")
    print(
        "  ingestion / bare embedder: "
        + ", ".join(
            f"{b} {ratio:.2f} ({verdict(ratio, 0.8, at_most=False)})" for b, ratio in ratios.items()
        )
        + " (goal >= 0.8)"
    )
    print(
        f"  hybrid p95 over HTTP <= 25 ms: edge {verdict(http_edge, 25, at_most=True)}, "
        f"local {verdict(http_local, 25, at_most=True)}"
    )
    print(
        f"  Edge in-process p95 <= 5 ms: {verdict(own_edge, 5, at_most=True)}"
        f" (at {args.points:,} points{at})"
    )
