"""The agents' sub-tasks as training examples: the agents' own prompts, parseable targets."""

from __future__ import annotations

from services.trainer.datasets.agent_subtasks import subtask_examples
from shared.contracts.agent_prompts import parse_extraction, parse_sub_questions
from shared.contracts.prompts import DEFAULT_SYSTEM_PROMPT
from shared.contracts.schemas import AgentSubtasks, QACase, SearchHit, SubtaskQuantity


def _hit(doc_id: str, text: str) -> SearchHit:
    return SearchHit(chunk_id=f"{doc_id}#0", doc_id=doc_id, source=doc_id, text=text, score=1.0)


HITS = [_hit("policies/shipping.md", "Express: $25."), _hit("products/nb.md", "Price: $149.")]


def _case(**subtasks) -> QACase:
    return QACase(
        id="c1",
        question="What do the NB headphones cost with express shipping?",
        answer="$174",
        source_ids=["products/nb.md", "policies/shipping.md"],
        type="arithmetic",
        subtasks=AgentSubtasks(**subtasks),
    )


def test_an_arithmetic_case_teaches_the_extract_step_with_real_citations():
    case = _case(
        quantities=[
            SubtaskQuantity(name="price", text="$149", doc_id="products/nb.md"),
            SubtaskQuantity(name="express", text="$25", doc_id="policies/shipping.md"),
        ],
        calculation="price + express",
    )
    [(messages, kind)] = subtask_examples(case, lambda _case: (HITS, [1, 2]))
    assert kind == "agent_extract"
    assert messages[0]["content"] != DEFAULT_SYSTEM_PROMPT  # the extract step's own prompt
    parsed = parse_extraction(messages[-1]["content"])
    assert [(q.name, q.citation) for q in parsed.quantities] == [("price", 2), ("express", 1)]
    assert parsed.calculation == "price + express"


def test_each_order_of_the_sources_cites_the_values_where_that_order_puts_them():
    case = _case(
        quantities=[
            SubtaskQuantity(name="price", text="$149", doc_id="products/nb.md"),
            SubtaskQuantity(name="express", text="$25", doc_id="policies/shipping.md"),
        ],
        calculation="price + express",
    )
    phrasings = [case.question, "nb price with express?"]
    examples = subtask_examples(case, lambda _case: (HITS, [1, 2]), phrasings, orders=5)
    assert len(examples) == 4  # 2 orders (one per source, at most) x 2 phrasings
    cited = [
        [(q.name, q.citation) for q in parse_extraction(messages[-1]["content"]).quantities]
        for messages, _ in examples
    ]
    assert cited == [[("price", 2), ("express", 1)]] * 2 + [[("price", 1), ("express", 2)]] * 2
    rotated = examples[2][0][1]["content"]
    assert rotated.index("Price: $149") < rotated.index("Express: $25")
    assert "nb price with express?" in examples[3][0][1]["content"]


def test_a_value_no_source_states_gives_no_example():
    case = _case(
        quantities=[SubtaskQuantity(name="price", text="$150", doc_id="products/nb.md")],
        calculation="price",
    )
    assert subtask_examples(case, lambda _case: (HITS, [2])) == []


def test_a_multi_hop_case_teaches_the_decomposition():
    case = _case(sub_questions=["Which product is NB?", "What does it cost?"])
    [(messages, kind)] = subtask_examples(case, lambda _case: (HITS, []))
    assert kind == "agent_decompose"
    assert parse_sub_questions(messages[-1]["content"]) == case.subtasks.sub_questions


def test_each_phrasing_of_the_question_gives_its_own_example_of_each_step():
    case = _case(
        sub_questions=["Which product is NB?", "What does it cost?"],
        quantities=[SubtaskQuantity(name="price", text="$149", doc_id="products/nb.md")],
        calculation="price + 25",
    )
    phrasings = [case.question, "nb headphones price with express?", case.question]
    examples = subtask_examples(case, lambda _case: (HITS, [2]), phrasings)
    assert [kind for _, kind in examples] == ["agent_decompose"] * 2 + ["agent_extract"] * 2
    asked = [messages[1]["content"] for messages, _ in examples]
    assert "nb headphones price with express?" in asked[1]
    assert "nb headphones price with express?" in asked[3]
    assert all(messages[-1]["content"] == examples[3][0][-1]["content"] for messages, _ in
               examples[2:])  # fmt: skip
