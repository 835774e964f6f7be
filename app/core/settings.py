"""Arena settings: one pydantic-settings model, read from the environment and a TOML file.

Environment variables use the prefix `ARENA_` and `__` for nesting, e.g.
`ARENA_DB_PATH=/srv/arena.duckdb` or `ARENA_GENERATION__TEMPERATURE=0.8`. A TOML file named
by `ARENA_CONFIG_FILE` (or `--config` on the command line) supplies defaults; the
environment overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from app.core.client_address import parse_trusted
from app.core.inference.base import GenerationParams
from app.core.session_secret import check_secret

CONFIG_FILE_ENV = "ARENA_CONFIG_FILE"


class GenerationSettings(BaseModel):
    """Sampling settings shared by both sides of every battle (a fresh seed per battle)."""

    max_new_tokens: int = Field(112, ge=1, le=2048)
    do_sample: bool = True
    temperature: float = Field(0.7, gt=0)
    top_p: float = Field(0.9, gt=0, lt=1, description="TGI requires 0 < top_p < 1")
    repetition_penalty: float = Field(1.2, gt=0)

    def with_seed(self, seed: int) -> GenerationParams:
        return GenerationParams(seed=seed, **self.model_dump())


class EngineSettings(BaseModel):
    """How the app talks to inference engines."""

    protocol: Literal["tgi", "openai"] = Field(
        "tgi", description="tgi: huggingface_hub client on TGI; openai: POST /v1/completions"
    )
    connect_timeout_s: float = Field(5.0, gt=0, description="connecting to an engine")
    first_token_timeout_s: float = Field(60.0, gt=0, description="request start to first token")
    token_timeout_s: float = Field(20.0, gt=0, description="longest silence between tokens")
    total_timeout_s: float = Field(180.0, gt=0, description="request start to last token")
    api_key: SecretStr | None = Field(None, description="bearer token sent to the engines")
    overload_retries: int = Field(3, ge=0, description="retries of an overloaded (429) engine")
    overload_backoff_s: float = Field(0.5, ge=0, description="first retry delay; doubles")


class StandinSettings(BaseModel):
    """The stand-in engine used where no GPU exists (demo, CI, laptops)."""

    token_interval_s: float = Field(0.03, ge=0, description="pause between streamed tokens")
    startup_delay_s: float = Field(1.0, ge=0, description="simulated model loading time")
    startup_s_per_billion_params: float = Field(
        0.0, ge=0, description="extra loading time per billion parameters (bigger loads slower)"
    )
    faults: dict[str, str] = Field(
        default_factory=dict,
        description="model id or glob -> start-up fault spec (exit:N, never-ready, ...)",
    )
    # vLLM's sleep mode, when supervisor.sleep_level > 0 (tgi/standin/sleep.py).
    sleep_s: float = Field(0.05, ge=0, description="time to fall asleep")
    wake_s_level1: float = Field(0.26, ge=0, description="time to wake from sleep level 1")
    wake_s_level2: float = Field(0.85, ge=0, description="time to wake from sleep level 2")


class SupervisorSettings(BaseModel):
    """The supervisor service, and where the app finds engines: the supervisor's URL, or
    engines run by someone else (`remote_endpoints`, `static_endpoints`). See
    docs/supervisor.md."""

    url: str | None = Field(None, description="supervisor base URL, e.g. http://127.0.0.1:8600")
    host: str = "127.0.0.1"
    port: int = 8600
    gpus: int = Field(2, ge=1, description="GPU slots; slot 0 serves MultiSynt, slot 1 HPLT")
    launcher: Literal["standin", "tgi", "vllm", "command", "slurm"] = Field(
        "standin",
        description="standin (no GPU), tgi or vllm (tgi/launch.sh containers), "
        "command (launch_command), slurm (each engine a Slurm job; see [slurm])",
    )
    launch_command: str | None = Field(
        None,
        description="engine command template with {model_id} {gpu} {port} {name} "
        "{memory_fraction}; it must stay in the foreground (required for launcher=command)",
    )
    stop_command: str | None = Field(
        None, description="run before stopping an engine (default for containers: docker stop)"
    )
    first_engine_port: int = 8700
    # Residency by memory (tgi/residency.py).
    gpu_memory_gb: float | list[float] | None = Field(
        None,
        description="memory per GPU in GB: one number, or a list by GPU index; unset: "
        "nvidia-smi's memory.total for tgi, vllm and command, else 80",
    )
    gpu_memory_reserve_gb: float = Field(2.0, ge=0, description="per GPU, kept from engines")
    engine_headroom_gb: float = Field(
        12.0, ge=0, description="per engine on top of bf16 weights: KV cache, CUDA graphs"
    )
    model_memory_gb: dict[str, float] = Field(
        default_factory=dict, description="model id or glob -> GB, overrides the estimate"
    )
    models_per_gpu: int | None = Field(
        None, ge=1, description="optional cap on engines per GPU; memory decides when unset"
    )
    # Sleeping engines (tgi/sleep_control.py; docs/supervisor.md).
    sleep_level: int = Field(
        0,
        ge=0,
        le=2,
        description="evicted engines sleep at this vLLM sleep level (1: weights kept in host "
        "memory, 2: dropped) instead of stopping; 0: never (TGI cannot sleep)",
    )
    host_memory_gb: float | None = Field(
        None, ge=0, description="host memory sleeping engines may hold; default: the machine's"
    )
    host_memory_reserve_gb: float = Field(
        16.0, ge=0, description="kept from sleeping engines when host_memory_gb is unset"
    )
    prewarm: bool = Field(
        False,
        description="at start, load every registry model once (voters first), so that with "
        "sleep_level the engines fall asleep and no voter waits for a cold start",
    )
    # Engine lifecycle (tgi/engine_runner.py).
    ready_timeout_s: float = Field(900.0, gt=0, description="launch until ready, then failed")
    poll_interval_s: float = Field(0.1, gt=0, description="readiness probe interval")
    health_interval_s: float = Field(10.0, gt=0, description="health probe of ready engines")
    unhealthy_after: int = Field(3, ge=1, description="failed health probes before a restart")
    max_restarts: int = Field(3, ge=0, description="restarts in a row before failed")
    restart_backoff_s: float = Field(2.0, ge=0, description="first restart delay, doubling")
    restart_backoff_max_s: float = Field(60.0, ge=0, description="longest restart delay")
    failed_retry_after_s: float = Field(
        60.0, ge=0, description="a failed model is refused at once for this long"
    )
    stop_grace_s: float = Field(15.0, gt=0, description="SIGTERM to SIGKILL")
    # Leases and estimates.
    acquire_timeout_s: float = Field(
        600.0, gt=0, description="how long a battle waits for its models"
    )
    lease_ttl_s: float = Field(
        300.0, gt=0, description="a lease not released or renewed by then is released"
    )
    expected_load_s: float = Field(
        60.0, gt=0, description="load-time estimate before any load was measured"
    )
    load_history_path: Path | None = Field(
        None, description="JSON file keeping measured load times across restarts"
    )
    # Engines run by someone else (app/arena/remote_engines.py), used when url is unset.
    remote_endpoints: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="model id -> base URL or list of replica URLs, probed before use",
    )
    remote_probe_ttl_s: float = Field(5.0, ge=0, description="a passed probe is trusted this long")
    remote_unhealthy_s: float = Field(
        30.0, ge=0, description="a failing replica is skipped this long"
    )
    remote_ready_wait_s: float = Field(
        120.0, gt=0, description="how long a battle waits for a remote model to answer"
    )
    static_endpoints: dict[str, str] = Field(
        default_factory=dict, description="model id -> engine URL, trusted without probing"
    )


class SlurmSettings(BaseModel):
    """Engines as Slurm jobs (`supervisor.launcher = "slurm"`; see docs/supervisor.md)."""

    engine: Literal["standin", "tgi", "vllm", "command"] = Field(
        "standin",
        description="what each job runs: the stand-in, the pinned TGI image (apptainer), "
        "vllm serve, or supervisor.launch_command",
    )
    partition: str | None = Field(None, description="sbatch --partition (unset: the default)")
    account: str | None = Field(None, description="sbatch --account")
    time_limit: str = Field(
        "12:00:00", min_length=1, description="sbatch --time: the longest any engine job lives"
    )
    gpu_option: Literal["gres", "gpus"] = Field(
        "gres", description="how a job asks for its GPU: --gres=gpu:1 or --gpus=1"
    )
    sbatch_options: list[str] = Field(
        default_factory=list, description='extra sbatch options, e.g. ["--qos=normal"]'
    )
    state_dir: Path = Field(
        Path("~/.cache/oellm-arena/slurm"),
        description="shared by the supervisor's host and the GPU nodes: job scripts, logs, "
        "the engines' host:port files and the supervisor's heartbeat",
    )
    bind_host: str = Field(
        "0.0.0.0", min_length=1, description="where the engine listens on its node"
    )
    heartbeat_s: float = Field(5.0, gt=0, description="how often the supervisor says it lives")
    heartbeat_timeout_s: float = Field(
        45.0, gt=0, description="a job whose supervisor was silent this long ends itself"
    )
    poll_s: float = Field(1.0, gt=0, description="how often squeue is asked about each job")
    memory_fraction: float = Field(
        0.9, gt=0, le=1, description="GPU memory share the engine may use (the job owns the GPU)"
    )
    image: str = Field(
        "docker://ghcr.io/huggingface/text-generation-inference:3.3.5",
        description="TGI image for apptainer/singularity run (a pulled .sif path is faster)",
    )
    model_cache: str = Field(
        "~/.cache/huggingface", description="model cache bound at /data in the TGI container"
    )


class AnalyticsSettings(BaseModel):
    """The analysts' snapshot and the /leaderboard page (see docs/analytics.md)."""

    snapshot_path: Path | None = Field(
        None, description="analysts' read-only copy (default: <db>.snapshot.duckdb beside it)"
    )
    snapshot_interval_s: float = Field(
        300.0, ge=0, description="how often the running app refreshes the snapshot; 0: never"
    )
    snapshot_request_poll_s: float = Field(
        1.0, gt=0, description="how often the app looks for `oellm-arena snapshot` requests"
    )
    refresh_s: float = Field(
        5.0, gt=0, description="how often an open /leaderboard looks for new votes"
    )
    bootstrap_rounds: int = Field(1000, ge=0, description="bootstrap rounds behind intervals")
    min_votes: int = Field(
        30, ge=1, description="fewer decisive votes than this and a number carries a warning"
    )


class MatchmakingSettings(BaseModel):
    """Which MultiSynt variant a language's next battle gets (app/arena/matchmaking.py,
    app/arena/vote_allocation.py; docs/analytics.md, "Where votes go")."""

    policy: Literal["active", "balanced"] = Field(
        "active",
        description="active: more battles for the variants whose verdict against HPLT still "
        "needs votes (every variant keeps a floor); balanced: equal battles per variant",
    )
    target_width: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="active: a verdict whose 95% interval is narrower than this (its full "
        "width; 0.2 is about 96 decisive votes at parity) needs no more votes",
    )
    min_decisive: int = Field(
        10, ge=1, description="active: decisive votes a verdict needs before it counts as done"
    )
    floor: float = Field(
        0.1,
        ge=0,
        le=1,
        description="active: the part of an equal share every variant keeps, so none starves",
    )
    slack: int = Field(
        3,
        ge=0,
        description="battles a variant may run ahead of its target to use a loaded model",
    )


class TrustSettings(BaseModel):
    """Abuse limits and privacy (see the README's security and data section)."""

    battles_per_minute_per_session: int = Field(10, ge=1, description="battle starts")
    battles_per_hour_per_address: int = Field(
        300, ge=1, description="battle starts per client address (shared NATs need room)"
    )
    anomaly_votes: int = Field(5, ge=2, description="same-side votes that, within ...")
    anomaly_window_s: float = Field(30.0, gt=0, description="... this many seconds, get flagged")
    hash_retention_days: int | None = Field(
        90, ge=0, description="session/address hashes are erased after this many days"
    )
    battle_retention_days: int | None = Field(
        None, ge=0, description="battles are deleted after this many days (unset: kept)"
    )
    sessions_per_address: int = Field(
        8,
        ge=1,
        description="open pages (server sessions) per client address; more are refused "
        "with 429 until one ends (a page's session ends about 15-30 s after it is closed)",
    )
    websocket_message_max_bytes: int = Field(
        256 * 1024,
        ge=16 * 1024,
        description="largest message a browser may send on the websocket, all its frames "
        "together (a 4,000-character prompt is under 30 KB)",
    )
    request_body_max_bytes: int = Field(
        64 * 1024, ge=1024, description="largest HTTP request body (no page takes uploads)"
    )


class Settings(BaseSettings):
    """Every arena setting, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="ARENA_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    db_path: Path = Field(Path("data/arena.duckdb"), description="the DuckDB battle log")
    adopt_foreign_db: bool = Field(
        False,
        description="let the arena add its tables to a DuckDB file that is not a battle log "
        "(such a file is refused otherwise, so a wrong path cannot alter another database)",
    )
    registry_path: Path | None = Field(None, description="registry TOML (default: built in)")
    session_salt: SecretStr = Field(
        SecretStr(""), description="salt for session hashes; set it in production"
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        description="signs the browser sessions (at least 32 bytes; `uv run bokeh secret` "
        "makes one): required by `serve`; `demo` makes one and keeps it beside the battle log",
    )
    demo: bool = Field(False, description="stand-in engines: the page says so")
    stream_flush_interval_s: float = Field(
        0.08, gt=0, description="how often streamed text is pushed to the browser (at most)"
    )
    stream_flush_max_interval_s: float = Field(
        0.4, gt=0, description="the longest interval between pushes on a busy server"
    )
    stream_pushes_per_s: float = Field(
        100.0,
        gt=0,
        description="pushes per second the whole server aims at: with many pages streaming, "
        "each is pushed less often (app/arena/flush_rate.py)",
    )
    equal_pace: bool = Field(
        True,
        description="show both continuations at one pace, finishing together "
        "(real timings are still logged); see app/arena/pacing.py",
    )
    # A union with str so the environment may give "127.0.0.1, 10.0.0.0/8" as well as JSON;
    # always a list after validation (app/core/client_address.py says why only these are trusted).
    trusted_proxies: list[str] | str = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For is believed",
    )
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    standin: StandinSettings = Field(default_factory=StandinSettings)
    supervisor: SupervisorSettings = Field(default_factory=SupervisorSettings)
    slurm: SlurmSettings = Field(default_factory=SlurmSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    trust: TrustSettings = Field(default_factory=TrustSettings)
    matchmaking: MatchmakingSettings = Field(default_factory=MatchmakingSettings)

    @field_validator("secret_key", mode="after")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            check_secret(value.get_secret_value(), "ARENA_SECRET_KEY")
        return value

    @field_validator("trusted_proxies", mode="after")
    @classmethod
    def _trusted_proxy_list(cls, value: list[str] | str) -> list[str]:
        items = value.split(",") if isinstance(value, str) else value
        items = [item.strip() for item in items if item.strip()]
        parse_trusted(items)  # fail at start-up on a typo, naming it
        return items

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_ENV)
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise FileNotFoundError(f"{CONFIG_FILE_ENV} names {path}, which does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: object) -> Settings:
    """Settings from (in order of precedence) overrides, the environment, the TOML file."""
    if config_file is not None:
        os.environ[CONFIG_FILE_ENV] = str(config_file)
    return Settings(**overrides)  # type: ignore[arg-type]
