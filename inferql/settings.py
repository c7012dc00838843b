"""The one Settings object. Built once (by the CLI or by whoever calls
``create_app``) and passed down; no other module reads the environment.

Every field is a flat environment variable ``INFERQL_<NAME>`` and a CLI flag
``--<name-with-dashes>``; the README lists them all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Settings(BaseSettings):
    """inferql's configuration. Unknown ``INFERQL_*`` variables are ignored."""

    model_config = SettingsConfigDict(env_prefix="INFERQL_", extra="ignore", frozen=True)

    # Serving
    host: str = Field("127.0.0.1", description="Address the server listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the server listens on.")
    graphiql: bool = Field(True, description="Serve the GraphiQL IDE on GET /graphql.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level of the server and worker."
    )
    log_format: Literal["human", "json"] = Field(
        "human",
        description="Log lines for people (`human`, for development) or one JSON object "
        "per line (`json`, for production log pipelines).",
    )
    ssl_certfile: Path | None = Field(
        None, description="TLS certificate (PEM) to serve HTTPS and WSS; needs `ssl_keyfile`."
    )
    ssl_keyfile: Path | None = Field(None, description="Private key (PEM) of `ssl_certfile`.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins whose pages may call the API and open its websockets, "
        "comma-separated (`*`: any).",
    )
    queries_over_get: bool = Field(
        True, description="Run queries sent with GET (mutations never run over GET)."
    )
    ws_keep_alive_s: float = Field(
        15, ge=0, description="Seconds between the server's pings on a websocket (0: none)."
    )
    ws_compression: bool = Field(
        False,
        description="Compress websocket messages (permessage-deflate) for clients that offer "
        "it. Off by default: it costs CPU for every message on every socket, and memory for "
        "every socket, to shrink messages of a few hundred bytes.",
    )
    ws_init_timeout_s: float = Field(
        10, gt=0, description="Seconds a websocket has to send `connection_init` (then 4408)."
    )
    ws_auth_check_s: float = Field(
        15,
        gt=0,
        description="Seconds between checks of an open websocket's API key: the socket of a "
        "revoked key is closed with 4403 within this time (its new operations are refused at "
        "once; a JWT's socket is closed when the token expires).",
    )

    # Hostile queries
    max_body_bytes: int = Field(
        4_194_304,
        ge=1,
        description="Largest request body or websocket message, in bytes (larger: 413).",
    )
    max_query_depth: int = Field(
        12, ge=1, description="Deepest nesting of selections in an operation."
    )
    max_query_aliases: int = Field(64, ge=0, description="Most aliases in one document.")
    max_query_tokens: int = Field(4_000, ge=1, description="Most tokens in one document.")
    max_query_bytes: int = Field(
        65_536,
        ge=1,
        description="Largest query document, in bytes of UTF-8 (larger: QUERY_TOO_COMPLEX, "
        "before it is parsed, hashed or stored); send long values as variables.",
    )
    introspection: bool = Field(True, description="Answer introspection (`__schema`, `__type`).")
    field_suggestions: bool = Field(
        True, description='Add "Did you mean ...?" hints to validation errors.'
    )
    apq: bool = Field(True, description="Accept automatic persisted queries (Apollo's APQ).")
    apq_ttl_s: float = Field(
        604_800, gt=0, description="How long a persisted query is kept after it was last used."
    )
    apq_max_entries: int = Field(
        10_000, ge=1, description="Most persisted queries kept (the least recently used go)."
    )
    apq_max_bytes: int = Field(
        16_777_216,
        ge=1,
        description="Most bytes of persisted query documents kept, in memory or in Redis "
        "(the least recently used go).",
    )
    allowed_operations_path: Path | None = Field(
        None,
        description="A JSON manifest of registered operations; when set, only these run.",
    )

    # Observability
    tracing: Literal["off", "console", "otlp"] = Field(
        "off",
        description="OpenTelemetry traces (needs the `otel` extra): `otlp` exports to the "
        "collector that the standard `OTEL_EXPORTER_OTLP_*` variables name, `console` "
        "prints spans.",
    )
    stats_window_s: float = Field(
        60, gt=0, description="The recent window of the `stats` subscription, in seconds."
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="`inferql worker`: serve Prometheus metrics on this port (unset: none; "
        "`inferql serve` serves them at /metrics on its own port).",
    )

    # Backend
    redis_url: str | None = Field(
        None,
        description="Redis to share jobs, queue, events and cache with other processes "
        "(`redis://host:6379/0`); unset: the embedded in-process backend.",
    )
    redis_prefix: str = Field(
        "inferql:", description="Prefix of every Redis key, so several deployments share one."
    )
    run_worker: bool | None = Field(
        None,
        description="Run a model worker inside the API process (default: yes on the "
        "embedded backend, no with Redis, where `inferql worker` runs them).",
    )
    claim_idle_ms: int = Field(
        30_000,
        ge=100,
        description="Redis: a job whose worker has not renewed its claim for this long is "
        "taken over by another worker (live workers renew every third of it).",
    )
    max_deliveries: int = Field(
        3,
        ge=1,
        description="Redis: deliveries of one job before it goes to the dead-letter stream "
        "and is marked FAILED (a job handed back unrun, after a lost connection, counts no "
        "delivery).",
    )

    # Models
    classifiers_path: Path | None = Field(
        None,
        description="A TOML file, or a directory of them, with your own classifiers.",
    )
    default_model: str = Field(
        "sentiment", description="Classifier used when a request names no model."
    )
    model_calls: int | None = Field(
        None,
        ge=1,
        description="Model calls one worker runs at once, each on a batch of its own "
        "(default: the cores divided by `model_threads`, so one per core).",
    )
    model_threads: int | None = Field(
        None,
        ge=1,
        description="Threads for one model call (default: the cores divided by "
        "`model_calls`, so 1).",
    )
    model_runtime: Literal["onnx", "torch"] = Field(
        "onnx",
        description="What runs the encoder: `onnx` (ONNX Runtime, the graph exported once "
        "and cached; faster here, see BENCHMARKS.md) or `torch`.",
    )
    model_cache_dir: Path | None = Field(
        None,
        description="Where the ONNX export is cached (default: `$XDG_CACHE_HOME/inferql`, "
        "else `~/.cache/inferql`).",
    )

    # Batching
    max_batch_texts: int = Field(32, ge=1, description="Most texts in one model call.")
    max_batch_tokens: int = Field(
        8_192,
        ge=1,
        description="Most padded tokens in one model call (texts x the longest, estimated "
        "from length): bounds a batch's memory and keeps long texts from padding short ones.",
    )
    batch_wait: Literal["adaptive", "fixed"] = Field(
        "adaptive",
        description="`adaptive`: an idle worker sends a text to the model at once, a busy one "
        "waits at most `batch_wait_fraction` of the measured model call (and `max_wait_ms`) "
        "for more; `fixed`: wait `max_wait_ms` after a batch's first text.",
    )
    batch_wait_fraction: float = Field(
        0.1,
        ge=0,
        le=1,
        description="`adaptive`: the share of the measured model call a busy worker waits "
        "for more texts (0: take what queued during the last call and go).",
    )
    max_wait_ms: float = Field(
        5.0,
        ge=0,
        description="Most a worker waits to fill a batch after its first text (`fixed`: "
        "always this long).",
    )

    # Limits
    max_texts_per_job: int = Field(
        256, ge=1, description="Most texts in one job, and in one request over all its fields."
    )
    max_text_chars: int = Field(10_000, ge=1, description="Longest text accepted, in characters.")
    sync_deadline_ms: float = Field(
        30_000, gt=0, description="How long `classify` and `classifyBatch` wait for a result."
    )
    max_page_size: int = Field(100, ge=1, description="Largest `first` of a `jobs` page.")
    job_retention_s: float = Field(
        86_400, gt=0, description="How long a finished job stays readable."
    )
    max_jobs_in_memory: int = Field(
        100_000, ge=1, description="Memory backend: most jobs kept before the oldest go."
    )
    cache_ttl_s: float = Field(
        86_400, ge=0, description="How long a prediction stays in the inference cache (0: off)."
    )
    cache_max_entries: int = Field(
        50_000, ge=0, description="Memory backend: most cached predictions kept."
    )
    subscriber_buffer: int = Field(
        1_000, ge=1, description="Events buffered per subscriber before a slow one is dropped."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _certificate_and_key_together(self) -> Self:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile must be given together")
        return self

    @property
    def runs_worker(self) -> bool:
        """Whether the API process runs a worker: as told, else only when embedded."""
        return self.redis_url is None if self.run_worker is None else self.run_worker

    # Security: authentication
    auth: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Require credentials: `auto` turns them on with Redis (which holds the "
        "API keys) or when any API key or JWT setting is given; `off` serves every request "
        "as one local caller (development).",
    )
    api_keys_file: Path | None = Field(
        None,
        description="Memory backend: the JSON file of hashed API keys and webhook secrets "
        "that `inferql keys` manages.",
    )
    jwt_secret: SecretStr | None = Field(None, description="Secret that signs HS256 JWTs.")
    jwt_jwks_file: Path | None = Field(
        None, description="A JWKS file with the public keys that sign RS256 JWTs."
    )
    jwt_issuer: str | None = Field(
        None, description="The `iss` every JWT must carry (required with JWTs)."
    )
    jwt_audience: str | None = Field(
        None, description="The `aud` every JWT must carry (required with JWTs)."
    )
    jwt_scopes_claim: str = Field(
        "scope", description="JWT claim with the scopes: a space-separated string or a list."
    )
    jwt_leeway_s: float = Field(
        30, ge=0, description="Clock skew allowed when checking a JWT's `exp` and `nbf`."
    )

    # Security: rate limits, back-pressure, idempotency
    rate_limit_texts: int | None = Field(
        None, ge=1, description="Texts each caller may send per window (unset: no limit)."
    )
    rate_limit_window_s: int = Field(
        60, ge=1, description="The window of `rate_limit_texts`, in seconds."
    )
    max_queue_depth: int | None = Field(
        10_000,
        ge=0,
        description="Jobs waiting for a worker before new work is refused with OVERLOADED "
        "(unset: no bound).",
    )
    idempotency_retention_s: float = Field(
        86_400, gt=0, description="How long an idempotency key is remembered."
    )

    # Webhooks
    webhook_allowed_hosts: str | None = Field(
        None,
        description="Comma-separated host names webhooks may go to (`*.example.com` for "
        "subdomains); unset: any public host.",
    )
    webhook_allow_private: bool = Field(
        False,
        description="Allow webhooks to loopback, private and link-local addresses.",
    )
    webhook_max_attempts: int = Field(
        8, ge=1, description="Deliveries tried per webhook before it is dropped."
    )
    webhook_retry_base_s: float = Field(
        5, gt=0, description="Delay before the first webhook retry; doubles every attempt."
    )
    webhook_timeout_s: float = Field(
        10, gt=0, description="How long one webhook delivery may take."
    )

    @model_validator(mode="after")
    def _jwt_needs_issuer_and_audience(self) -> Settings:
        if (self.jwt_secret or self.jwt_jwks_file) and not (self.jwt_issuer and self.jwt_audience):
            raise ValueError("jwt_issuer and jwt_audience are required when JWTs are accepted")
        return self

    @property
    def model_parallelism(self) -> tuple[int, int]:
        """(calls at once, threads per call) of a worker's model: the settings, or
        else filled in so that calls x threads is the cores this process may use."""
        cores = available_cores()
        calls, threads = self.model_calls, self.model_threads
        if calls is None:
            calls = max(1, cores // (threads or 1))
        if threads is None:
            threads = max(1, cores // calls)
        return calls, threads

    @property
    def auth_enabled(self) -> bool:
        """Whether requests need credentials (see ``auth``). ``auto`` fails closed
        wherever keys may exist: with Redis they live there (``inferql keys
        --redis-url``), so no setting says whether any were made."""
        if self.auth != "auto":
            return self.auth == "on"
        return any((self.redis_url, self.api_keys_file, self.jwt_secret, self.jwt_jwks_file))

    @property
    def webhook_hosts(self) -> tuple[str, ...]:
        """``webhook_allowed_hosts`` as lower-case names; empty means any public host."""
        raw = self.webhook_allowed_hosts or ""
        return tuple(h.strip().lower() for h in raw.split(",") if h.strip())
