"""Infrastructure every service runs on: settings, logs, the job store, files, the registry,
the retrieval client and the FastAPI plumbing of the HTTP services."""
