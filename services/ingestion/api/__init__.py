"""The ingestion service's HTTP routes (thin: validate, queue a job, map errors)."""
