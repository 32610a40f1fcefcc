"""The research agent's check: which cited facts their sources state, and re-citing a fact
cited to the wrong source."""

from __future__ import annotations

import pytest

from services.gateway.core.agents.grounding import recite, unsupported_facts

SOURCES = [
    "Soulques X9 smart thermostat. Colours: 3 finishes. Weight: 1.2 kg.",
    "Soulques X9. Model code: XB-5103. Price: $1,729. Warranty: 27 months.",
]


def test_a_fact_in_its_cited_source_passes_and_one_elsewhere_does_not():
    assert unsupported_facts("$1,729 [2]", SOURCES) == []
    assert unsupported_facts("$1,729 [1]", SOURCES) == ["not in source [1]: 1729"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("$1,729 [1]", "$1,729 [2]"),
        ("The warranty is 27 months [1].", "The warranty is 27 months [2]."),
        ("XB-5103 [1]", "XB-5103 [2]"),
        ("It is 1.2 kg [1]. It costs $1,729 [1].", "It is 1.2 kg [1]. It costs $1,729 [2]."),
    ],
)
def test_a_fact_cited_to_the_wrong_source_is_cited_to_the_one_that_states_it(answer, expected):
    repaired = recite(answer, SOURCES)
    assert repaired == expected
    assert unsupported_facts(repaired, SOURCES) == []


@pytest.mark.parametrize("answer", ["$999 [1]", "3 months [2]", "Error E-42 [1]"])
def test_a_fact_no_source_states_is_not_recited(answer):
    # "3 months": source 1 has a 3 (three finishes), but no source says "3 months".
    assert recite(answer, SOURCES) is None
