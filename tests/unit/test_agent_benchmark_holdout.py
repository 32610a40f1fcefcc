"""The fine-tuned agents benchmark trains on arithmetic drills only where they leak nothing."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.agent_finetuned import allowed_drills
from finerag.sample_domain import generate_sample_domain
from finerag.sample_domain.reasoning import SHARED_PAGES


def test_no_drill_reads_a_held_out_page_or_is_worded_as_a_held_out_question(tmp_path: Path):
    qa = generate_sample_domain(tmp_path / "sample").qa_path
    cases = [json.loads(line) for line in qa.read_text(encoding="utf-8").splitlines()]
    arithmetic = sorted(c["id"] for c in cases if c["type"] == "arithmetic")
    held = set(arithmetic[::2])
    held_pages = {
        d for c in cases if c["id"] in held for d in c["source_ids"] if d not in SHARED_PAGES
    }
    held_questions = {c["question"] for c in cases if c["id"] in held}

    drills = allowed_drills(qa, held, per_pattern=4, seed=1)

    assert drills
    assert all(not held_pages & set(d["source_ids"]) for d in drills)
    assert all(d["question"] not in held_questions for d in drills)
    per_pattern = [d["id"].rsplit("-", 1)[0] for d in drills]
    assert max(per_pattern.count(p) for p in set(per_pattern)) == 4
    # Nothing held out, and every product and plan may be practised on: more drills.
    assert len(allowed_drills(qa, set(), per_pattern=4, seed=1)) > len(drills)
