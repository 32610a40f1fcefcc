"""The knowledge CLI: parsing, file collection, `eval retrieval`, embedded ingest and search."""

from __future__ import annotations

import argparse
import json

import pytest

from finerag.cli import build_parser, eval_retrieval, knowledge


@pytest.fixture
def parser() -> argparse.ArgumentParser:
    return build_parser()


def test_commands_parse(parser):
    args = parser.parse_args(["search", "refund window", "--kb", "docs", "--mode", "dense"])
    assert (args.query, args.kb, args.mode, args.top_k, args.json) == (
        "refund window",
        "docs",
        "dense",
        5,
        False,
    )
    args = parser.parse_args(
        ["eval", "retrieval", "--kb", "docs", "--qa", "qa.jsonl", "--k", "5,1"]
    )
    assert args.k == [1, 5]
    assert parser.parse_args(["serve", "ingestion-worker"]).port is None
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "toaster"])


def test_eval_takes_a_model_or_a_subcommand_whatever_the_modules_order():
    root = argparse.ArgumentParser(prog="finerag")
    subparsers = root.add_subparsers(dest="command", required=True)
    from finerag.cli import evaluation

    evaluation.register(subparsers)  # alone: it owns the `eval` group
    assert root.parse_args(["eval", "retrieval", "--kb", "k", "--qa", "q"]).func is not None
    assert root.parse_args(["eval", "gate", "--report", "r", "--gate", "g"]).func is not None
    assert root.parse_args(["eval", "--model", "m"]).func is evaluation.run_eval_models


def test_collect_files_walks_folders_with_relative_doc_ids(tmp_path):
    (tmp_path / "kb" / "policies").mkdir(parents=True)
    (tmp_path / "kb" / "policies" / "returns.md").write_text("# Returns")
    (tmp_path / "kb" / "logo.png").write_bytes(b"\x89PNG")
    (tmp_path / "loose.txt").write_text("x")
    found = knowledge.collect_files([tmp_path / "kb", tmp_path / "loose.txt"])
    assert [doc_id for doc_id, _ in found] == ["policies/returns.md", "loose.txt"]


@pytest.mark.parametrize("text", ["0", "a,b", ""])
def test_bad_k_lists_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        eval_retrieval.parse_ks(text)


def test_embedded_ingest_then_search(parser, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FINERAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FINERAG_RETRIEVAL_URL", raising=False)
    monkeypatch.delenv("FINERAG_INGESTION_URL", raising=False)
    monkeypatch.setattr(knowledge, "get_settings", lambda: knowledge.Settings())
    (tmp_path / "kb").mkdir()
    (tmp_path / "kb" / "hours.md").write_text("# Hours\nThe shop opens at nine on Saturdays.")
    (tmp_path / "kb" / "pets.txt").write_text("Dogs on a lead are welcome in every store.")

    args = parser.parse_args(["ingest", str(tmp_path / "kb"), "--kb", "shop"])
    assert args.func(args) == 0
    args = parser.parse_args(["search", "are dogs allowed", "--kb", "shop", "--json"])
    assert args.func(args) == 0

    output = capsys.readouterr().out
    response = json.loads(output[output.index("{") :])
    assert response["hits"][0]["doc_id"] == "pets.txt"
