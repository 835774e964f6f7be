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

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from app.inference.base import GenerationParams

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


class StandinSettings(BaseModel):
    """The stand-in engine used where no GPU exists (demo, CI, laptops)."""

    token_interval_s: float = Field(0.03, ge=0, description="pause between streamed tokens")
    startup_delay_s: float = Field(1.0, ge=0, description="simulated model loading time")


class SupervisorSettings(BaseModel):
    """Where the app finds engines: a supervisor, or static per-model endpoints."""

    url: str | None = Field(None, description="supervisor base URL, e.g. http://127.0.0.1:8600")
    host: str = "127.0.0.1"
    port: int = 8600
    gpus: int = Field(2, ge=1, description="GPU slots; slot 0 serves MultiSynt, slot 1 HPLT")
    models_per_gpu: int = Field(3, ge=1, description="engines kept resident per GPU slot")
    launcher: Literal["standin", "tgi"] = "standin"
    first_engine_port: int = 8700
    ready_timeout_s: float = Field(900.0, gt=0, description="launch until ready, then failed")
    acquire_timeout_s: float = Field(
        600.0, gt=0, description="how long a battle waits for its models"
    )
    static_endpoints: dict[str, str] = Field(
        default_factory=dict, description="model id -> engine URL, used when url is unset"
    )


class Settings(BaseSettings):
    """Every arena setting, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="ARENA_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    db_path: Path = Field(Path("data/arena.duckdb"), description="the DuckDB battle log")
    registry_path: Path | None = Field(None, description="registry TOML (default: built in)")
    session_salt: SecretStr = Field(
        SecretStr(""), description="salt for session hashes; set it in production"
    )
    demo: bool = Field(False, description="stand-in engines: the page says so")
    stream_flush_interval_s: float = Field(
        0.08, gt=0, description="how often streamed text is pushed to the browser"
    )
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    standin: StandinSettings = Field(default_factory=StandinSettings)
    supervisor: SupervisorSettings = Field(default_factory=SupervisorSettings)

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
