"""A job's `config`: the recipe's knobs under their TRL names; an old name says the new one."""

from __future__ import annotations

import pytest

from services.gateway.core.fine_tuning import FineTuningService
from shared.contracts.errors import InvalidRequestError


def test_knobs_pass_under_their_trl_names():
    config = {
        "num_train_epochs": 2.0,
        "per_device_train_batch_size": 2,
        "max_length": 1024,
        "warmup_steps": 10,
        "bf16": "auto",
        "gradient_checkpointing": False,
        "packing_strategy": "bfd_split",
        "lora_target_modules": ["q_proj", "v_proj"],
    }
    assert FineTuningService._check_config(config) == config


@pytest.mark.parametrize(
    ("old", "new"), [("num_epochs", "num_train_epochs"), ("precision", "bf16")]
)
def test_an_old_name_is_a_400_that_names_the_new_one(old: str, new: str):
    with pytest.raises(InvalidRequestError, match=f"{old} was renamed {new}") as refused:
        FineTuningService._check_config({old: 1})
    assert refused.value.param == f"config.{old}"


def test_where_the_logs_go_is_the_servers_choice():
    with pytest.raises(InvalidRequestError, match="report_to"):
        FineTuningService._check_config({"report_to": ["wandb"]})


@pytest.mark.parametrize("method", [["qlora"], 4, None, "dpo", {"type": "dpo"}])
def test_a_method_that_is_not_one_of_the_names_is_a_400(method: object):
    with pytest.raises(InvalidRequestError) as refused:
        FineTuningService._check_method(method)
    assert refused.value.param == "method"


@pytest.mark.parametrize(
    ("method", "name"), [("qlora", "qlora"), ({"type": "supervised"}, "qlora")]
)
def test_openais_supervised_method_object_means_qlora(method: object, name: str):
    assert FineTuningService._check_method(method) == name
