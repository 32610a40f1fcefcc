"""Celery task and queue names: the only thing a sender needs to know about a worker.

A service sends a task by name (`celery.send_task(INGEST_TASK, ...)`) and never imports the
worker's code.
"""

INGEST_QUEUE = "ingest"
INGEST_TASK = "finerag.ingestion.ingest_documents"

TRAIN_QUEUE = "train"
TRAIN_TASK = "finerag.trainer.run_fine_tuning_job"
