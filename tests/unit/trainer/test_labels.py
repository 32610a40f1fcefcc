"""Training and serving see the same prompt tokens; only the answer and its end-of-turn token
are trained, for Llama 3.1's template (the tiny model) and ChatML (SmolLM2) alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from services.trainer.labels import label_example
from shared.contracts.chat_data import to_prompt_completion
from shared.contracts.prompts import ABSTENTION, Source, cite, grounded_messages, render_prompt
from shared.models.loading import turn_end_token_ids

SOURCES = [
    Source("The Viaxsto Plus plan costs $46.95 a month.", doc_id="pricing.md", section="Plus"),
    Source("Returns are accepted within 45 days.", doc_id="policies/returns.html"),
]


@pytest.fixture(scope="module")
def tokenizer(random_tiny_model_dir: Path):
    return AutoTokenizer.from_pretrained(random_tiny_model_dir)


@pytest.fixture(
    scope="module",
    params=["random_tiny_model_dir", pytest.param("smollm2_dir", marks=pytest.mark.slow)],
)
def any_tokenizer(request: pytest.FixtureRequest):
    """The tiny model's Llama 3.1 template, then SmolLM2's ChatML."""
    from shared.models.loading import load_tokenizer

    return load_tokenizer(request.getfixturevalue(request.param))


@pytest.mark.parametrize("answer", [cite("$46.95", [1]), ABSTENTION])
def test_prompt_tokens_equal_the_served_prompt_and_only_the_answer_is_trained(
    any_tokenizer, answer
):
    tokenizer = any_tokenizer
    prompt_messages = grounded_messages("What does the Viaxsto Plus plan cost?", SOURCES)
    example = label_example(tokenizer, [*prompt_messages, {"role": "assistant", "content": answer}])

    served = tokenizer(render_prompt(tokenizer, prompt_messages), add_special_tokens=False)
    assert example.prompt_ids == served["input_ids"]

    trained = [t for t, on in zip(example.input_ids, example.trained, strict=True) if on]
    (eot,) = turn_end_token_ids(tokenizer)  # <|eot_id|> or <|im_end|>
    assert trained.count(eot) == 1
    end = trained.index(eot)
    assert tokenizer.decode(trained[:end]) == answer
    assert tokenizer.decode(trained[end + 1 :]).strip() == ""  # ChatML ends the turn with "\n"
    # The masked part is exactly the prompt: nothing of the answer leaks into it.
    assert len(example.prompt_ids) + len(trained) == len(example.input_ids)


def test_trl_masks_the_same_tokens(tokenizer, tmp_path: Path):
    """TRL's own prompt-completion processing agrees with label_example, token for token."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from shared.models.loading import DeviceProfile, load_base_model

    messages = [
        *grounded_messages("What does the Viaxsto Plus plan cost?", SOURCES),
        {"role": "assistant", "content": cite("$46.95", [1])},
    ]
    model = load_base_model(tokenizer.name_or_path, profile=DeviceProfile("cpu", bf16=False))
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(
            output_dir=str(tmp_path),
            use_cpu=True,
            bf16=False,
            report_to=[],
            completion_only_loss=True,
            max_length=1024,
            packing=False,
        ),
        train_dataset=Dataset.from_list([to_prompt_completion(messages)]),
        processing_class=tokenizer,
    )
    row = trainer.train_dataset[0]
    expected = label_example(tokenizer, messages)
    assert row["input_ids"] == expected.input_ids
    trained_by_trl = (
        [label != -100 for label in row["labels"]]
        if "labels" in row
        else [bool(m) for m in row["completion_mask"]]
    )
    assert trained_by_trl == expected.trained
