"""`finerag eval --model NAME ...`: the evaluation matrix and release gate; `finerag eval gate`.

`finerag eval` is a command group (`finerag eval retrieval` lives in eval_retrieval.py). Given
`--model` and no subcommand it evaluates a model, as issue 6 spells it:

    finerag eval --model NAME [--base NAME] --qa FILE [--kb NAME] --out DIR [--gate FILE]
                 [--endpoint URL]

In-process (no `--endpoint`) the base model and the registry's adapter are loaded here with
`shared.models.loading`; with `--endpoint` every generation goes to that OpenAI-compatible server
(the FineRAG gateway, vLLM, ...). Retrieval runs client-side either way (FINERAG_RETRIEVAL_URL, or
the local store). Exit status: 0 done (gate passed or none), 1 gate failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from finerag.cli.eval_report import format_summary, run_eval_gate
from finerag.cli.eval_retrieval import add_retrieval, parse_ks
from finerag.cli.knowledge import _quiet_model_loading, open_retrieval
from shared.contracts.errors import InvalidRequestError, NotFoundError
from shared.infrastructure.settings import Settings, get_settings

MODES = ("no_rag", "rag")


def _csv(choices: Sequence[str] | None = None) -> Any:
    def parse(text: str) -> list[str]:
        values = [part.strip() for part in text.split(",") if part.strip()]
        if choices is not None:
            unknown = [v for v in values if v not in choices]
            if unknown:
                raise argparse.ArgumentTypeError(
                    f"unknown value(s) {unknown}; choose from {', '.join(choices)}"
                )
        if not values:
            raise argparse.ArgumentTypeError("give at least one value")
        return values

    return parse


def register(subparsers: Any) -> None:
    """Add `finerag eval`: `--model ...` evaluates a model; `retrieval` and `gate` are its
    subcommands."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "eval", help="measure retrieval or models"
    )
    # `finerag eval --model ...` takes no subcommand.
    group = parser.add_subparsers(dest="eval_command", metavar="WHAT", required=False)
    add_retrieval(group)
    parser.description = (
        "Evaluate a fine-tuned model against its base, without and with RAG "
        "(finerag eval --model NAME --qa FILE --kb NAME --out DIR [--gate FILE]), "
        "or run a subcommand. See docs/evaluation.md."
    )
    what = parser.add_argument_group("what to evaluate")
    what.add_argument(
        "--model", metavar="NAME", help="the fine-tuned model: a registry name (or served name)"
    )
    what.add_argument(
        "--base", metavar="NAME", help="the base to compare with (default: the model card's)"
    )
    what.add_argument(
        "--qa", metavar="FILE", type=Path, help="questions in the evaluation JSONL format"
    )
    what.add_argument(
        "--kb", metavar="NAME", help="knowledge base for the RAG runs (without: no-RAG runs only)"
    )
    what.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="folder for report.json, report.md, cases.jsonl, PNGs",
    )
    what.add_argument(
        "--gate",
        type=Path,
        metavar="FILE",
        help="release gate YAML: exit 1 when the model fails it",
    )
    what.add_argument(
        "--agents",
        type=_csv(("research", "calculate", "support")),
        default=[],
        metavar="GRAPH,...",
        help="also ask the multi-hop and arithmetic questions of these agents on --model, and "
        "of --model in single-shot RAG, through the gateway at --endpoint (needs --kb)",
    )
    what.add_argument(
        "--endpoint", metavar="URL", help="OpenAI-compatible server URL (default: in-process)"
    )
    what.add_argument(
        "--api-key", metavar="KEY", help="Bearer key for --endpoint (default: $OPENAI_API_KEY)"
    )
    what.add_argument(
        "--dataset",
        metavar="DIR",
        type=Path,
        help="dataset folder: check served prompts against it; needed for --split validation",
    )

    budget = parser.add_argument_group("how much to run")
    budget.add_argument(
        "--limit", metavar="N", type=int, help="at most N cases, spread over the types"
    )
    budget.add_argument(
        "--types",
        type=_csv(("factual", "unanswerable", "multi_hop", "arithmetic")),
        help="comma-separated question types (default: all)",
    )
    budget.add_argument(
        "--split",
        choices=("all", "validation"),
        default="all",
        help="validation: only cases of the dataset's validation split",
    )
    budget.add_argument(
        "--no-variants",
        dest="variants",
        action="store_false",
        help="skip the customer-simulation variants",
    )
    budget.add_argument(
        "--variant-kinds",
        type=_csv(),
        help="only these variant kinds (typo,paraphrase,terse,follow_up)",
    )
    budget.add_argument(
        "--no-step-by-step",
        dest="step_by_step",
        action="store_false",
        help="skip the step-by-step reasoning runs",
    )
    budget.add_argument(
        "--no-injection",
        dest="injection",
        action="store_false",
        help="skip the prompt-injection suite (instructions planted in retrieved sources)",
    )
    budget.add_argument(
        "--modes", type=_csv(MODES), default=list(MODES), help="no_rag,rag (default both)"
    )

    tuning = parser.add_argument_group("generation and scoring")
    tuning.add_argument(
        "--top-k", type=int, help="sources per RAG prompt (default: the dataset's, else 4)"
    )
    tuning.add_argument("--search-mode", choices=("hybrid", "dense", "sparse"), default="hybrid")
    tuning.add_argument(
        "--retrieval-k",
        type=parse_ks,
        default=[1, 3, 5, 10],
        help="cut-offs of recall@k and nDCG@k (default 1,3,5,10)",
    )
    tuning.add_argument("--max-tokens", type=int, default=64, help="answer budget (default 64)")
    tuning.add_argument("--step-by-step-max-tokens", type=int, default=192)
    tuning.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    tuning.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    tuning.add_argument("--batch-size", type=int, default=16, help="in-process generation batch")
    tuning.add_argument(
        "--concurrency", type=int, default=8, help="requests in flight (--endpoint)"
    )
    tuning.add_argument(
        "--quantization",
        choices=("none", "4bit"),
        help="in-process base precision (default FINERAG_SERVE_QUANTIZATION)",
    )
    tuning.add_argument(
        "--tokenizer",
        metavar="NAME",
        help="renders prompts for the records and the prompt check with --endpoint "
        "(default: --base when it is a local folder)",
    )
    tuning.add_argument(
        "--judge-endpoint", metavar="URL", help="OpenAI-compatible server of an LLM judge"
    )
    tuning.add_argument("--judge-model", metavar="NAME", help="the judge's model name")
    tuning.add_argument(
        "--judge-api-key", metavar="KEY", help="Bearer key of the judge (default: --api-key)"
    )
    parser.set_defaults(func=run_eval_models)

    gate = group.add_parser("gate", help="apply a release gate to an existing report.json")
    gate.add_argument("--report", type=Path, required=True, help="a report.json of finerag eval")
    gate.add_argument("--gate", type=Path, required=True, help="release gate YAML")
    gate.set_defaults(func=run_eval_gate)


# --- finerag eval --model ---------------------------------------------------------------------


def _base_for(args: argparse.Namespace, settings: Settings, chat: Any | None) -> str:
    """--base, else the registry card's base, else the endpoint's parent, else the settings'."""
    from shared.infrastructure.registry import read_card

    if args.base:
        return str(args.base)
    try:
        return read_card(settings.models_dir, args.model).base_model
    except (NotFoundError, InvalidRequestError):
        if chat is None:
            names = [p.name for p in settings.models_dir.glob("*") if (p / "card.json").is_file()]
            raise NotFoundError(
                f"The model {args.model!r} is not in the registry {settings.models_dir} "
                f"(it holds {sorted(names)}); give a registry name, or --base with --endpoint.",
                param="model",
            ) from None
    for model in chat.list_models():
        if model.get("id") == args.model and model.get("parent"):
            return str(model["parent"])
    return settings.base_model


def _top_k(args: argparse.Namespace) -> int:
    from services.evaluation.cases import dataset_top_k

    if args.top_k:
        return int(args.top_k)
    return (dataset_top_k(args.dataset) if args.dataset is not None else None) or 4


def _renderer(name: str | None) -> Any:
    if not name:
        return None
    from shared.contracts.prompts import render_prompt
    from shared.models.loading import load_tokenizer

    tokenizer = load_tokenizer(name)
    return lambda messages: render_prompt(tokenizer, messages)


def run_eval_models(args: argparse.Namespace) -> int:
    """`finerag eval --model NAME --qa FILE [--kb NAME] --out DIR [--gate FILE] [--endpoint]`."""
    from services.evaluation import (
        EvalOptions,
        HttpChatClient,
        LlmJudge,
        LocalChatClient,
        ModelPair,
        apply_gate,
        evaluate,
        load_gate,
        read_cases,
        select_cases,
        validation_case_ids,
        write_outputs,
    )

    missing = [flag for flag, value in (("--model", args.model), ("--qa", args.qa),
                                        ("--out", args.out)) if not value]  # fmt: skip
    if missing:
        raise InvalidRequestError(
            f"finerag eval needs {', '.join(missing)} (or a subcommand: retrieval, gate); "
            "see finerag eval --help"
        )
    if bool(args.judge_endpoint) != bool(args.judge_model):
        raise InvalidRequestError("--judge-endpoint and --judge-model go together")
    settings = get_settings()
    _quiet_model_loading()
    gate = load_gate(args.gate) if args.gate else None  # fail on a bad gate before any work

    ids = None
    if args.split == "validation":
        if args.dataset is None:
            raise InvalidRequestError("--split validation needs --dataset DIR", param="split")
        ids = validation_case_ids(args.dataset)
    cases = select_cases(read_cases(args.qa), types=args.types, ids=ids, limit=args.limit)
    modes = tuple(m for m in MODES if m in args.modes)
    if args.kb is None and "rag" in modes:
        if args.modes != list(MODES):
            raise InvalidRequestError("--modes rag needs --kb", param="kb")
        modes = ("no_rag",)
        print("no --kb: running without RAG only", file=sys.stderr)
    options = EvalOptions(
        modes=modes,  # type: ignore[arg-type]
        top_k=_top_k(args),
        search_mode=args.search_mode,
        retrieval_ks=tuple(args.retrieval_k),
        max_tokens=args.max_tokens,
        step_by_step=args.step_by_step,
        step_by_step_max_tokens=args.step_by_step_max_tokens,
        injection=args.injection,
        variants=args.variants,
        variant_kinds=tuple(args.variant_kinds) if args.variant_kinds else None,
        bootstrap_samples=args.bootstrap,
        seed=args.seed,
    )

    from tqdm import tqdm

    with ExitStack() as stack:
        chat: Any
        if args.endpoint:
            api_key = args.api_key or os.environ.get("OPENAI_API_KEY")
            chat = stack.enter_context(
                HttpChatClient(args.endpoint, api_key=api_key, concurrency=args.concurrency)
            )
            base = _base_for(args, settings, chat)
            local_base = args.tokenizer or (base if Path(base).is_dir() else None)
            render = _renderer(local_base)
        else:
            base = _base_for(args, settings, None)
            chat = LocalChatClient(
                base,
                models_dir=settings.models_dir,
                quantization=args.quantization or settings.serve_quantization,
                batch_size=args.batch_size,
            )
            stack.callback(chat.close)
            render = chat.render
        judge = None
        if args.judge_endpoint:
            judge_client = stack.enter_context(
                HttpChatClient(
                    args.judge_endpoint,
                    api_key=args.judge_api_key or args.api_key or os.environ.get("OPENAI_API_KEY"),
                    concurrency=args.concurrency,
                )
            )
            judge = LlmJudge(judge_client, args.judge_model)
        retrieval = stack.enter_context(open_retrieval(settings)) if args.kb else None
        bar = stack.enter_context(tqdm(unit="answer", desc="evaluating", file=sys.stderr))

        def total(count: int) -> None:
            bar.total = count
            bar.refresh()

        evaluation = evaluate(
            cases,
            chat=chat,
            models=ModelPair(fine_tuned=args.model, base=base),
            options=options,
            retrieval=retrieval,
            kb=args.kb,
            render=render,
            dataset_dir=args.dataset,
            judge=judge,
            on_progress=bar.update,
            on_total=total,
            meta={
                "qa": str(args.qa),
                "endpoint": args.endpoint,
                "dataset": str(args.dataset) if args.dataset else None,
                "split": args.split,
            },
        )
        if args.agents:
            _agent_column(args, cases, evaluation)
    report = evaluation.report
    if gate is not None:
        report.gate = apply_gate(report, gate, source=str(args.gate))
    files = write_outputs(evaluation, args.out)
    print(format_summary(report))
    print(f"\nwritten: {files.report_md}, {files.report_json}, {files.cases_jsonl}, "
          f"{', '.join(str(p) for p in files.charts)}")  # fmt: skip
    return 1 if report.gate is not None and not report.gate.passed else 0


def _agent_column(args: argparse.Namespace, cases: Any, evaluation: Any) -> None:
    """`--agents`: the reasoning questions asked of each agent and of single-shot RAG, on the
    fine-tuned model through the gateway; the column joins the report, its answers a file."""
    from services.evaluation.agent_column import evaluate_agents

    if not args.endpoint or not args.kb:
        raise InvalidRequestError("--agents needs --endpoint (a gateway) and --kb", param="agents")
    print(f"agents {args.agents} on {args.model}", file=sys.stderr)
    report, answers = evaluate_agents(
        cases,
        endpoint=args.endpoint,
        api_key=args.api_key or os.environ.get("OPENAI_API_KEY"),
        model=args.model,
        kb=args.kb,
        agents=args.agents,
        options={
            "variants": args.variants,
            "variant_kinds": args.variant_kinds,
            "top_k": _top_k(args),
            "max_tokens": args.max_tokens,
            "concurrency": args.concurrency,
            "seed": args.seed,
            "bootstrap": args.bootstrap,
        },
    )
    evaluation.report.agents = report
    args.out.mkdir(parents=True, exist_ok=True)
    lines = "".join(a.model_dump_json() + "\n" for a in answers)
    (args.out / "agents.jsonl").write_text(lines, encoding="utf-8")
