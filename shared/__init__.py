"""Code every service uses, in three rooms.

- `shared.contracts`: what crosses a boundary: wire schemas, the one error shape, the one
  grounded prompt template and the agents' step prompts, the chat and evaluation data formats,
  names, queue and task names, the injection canaries. No I/O beyond parsing.
- `shared.infrastructure`: what talks to the outside: the one settings object, logging, the
  Redis job store, uploaded files, the model registry, the retrieval client, the FastAPI
  plumbing the HTTP services share.
- `shared.models`: loading a base model (4-bit or not) with its adapters, the chat encoding
  training and serving share, the embedding model, and the one generation engine.

`shared` imports no service and nothing of `finerag` (an import-linter contract in
pyproject.toml); contracts import nothing from the other two rooms.
"""
