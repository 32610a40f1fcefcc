"""The recipe overrides that keep a fine-tuning job in an integration test to a few steps."""

from __future__ import annotations

# Sent as a job's `config`: tiny batches, a checkpoint and an evaluation every two steps.
QUICK: dict[str, object] = {
    "per_device_train_batch_size": 2,
    "max_length": 1024,
    "eval_steps": 2,
    "save_steps": 2,
    "logging_steps": 1,
    "early_stopping_patience": 0,
}
