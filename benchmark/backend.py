"""The backend benchmark: every contender of every language, on the real engines.

The old `benchmark_backend.py` loaded one MultiSynt variant per language into a pipeline and
wrote its outputs to `backend_benchmark_results.csv`. This one goes the production path:
per language it asks the supervisor for the language's models (every MultiSynt variant and
the HPLT model, as the arena would), runs the language's example prompts through each of
them with the arena's generation settings and its own engine clients, and measures each
generation. Results are written row by row, to the CSV (the old columns first, then the
timings) and to the `benchmark_runs` table of the DuckDB file, so an interrupted run keeps
what it measured. A failing model is recorded with its error and the run goes on.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.arena.engines import EngineDirectoryError, Lease, SupervisorDirectory
from app.core.inference.base import EngineError, GenerationParams
from app.core.inference.factory import make_client
from app.core.registry import Contender, Language
from app.core.settings import Settings
from benchmark.backend_output import BenchmarkRow, ResultSink
from benchmark.backend_report import Progress

log = logging.getLogger(__name__)


@dataclass
class Generation:
    """One continuation by one model, as the arena's client saw it."""

    contender: Contender
    output: str = ""
    ttft_ms: float | None = None
    tokens: int | None = None
    tokens_per_s: float | None = None
    total_ms: float | None = None
    error: str | None = None


@dataclass
class LanguageModels:
    """What getting a language's models took: the wait, each engine's load time, and the
    engine URL (or why there is none) per model."""

    load_s: float | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    load_seconds: dict[str, float | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    leases: list[Lease] = field(default_factory=list)


@dataclass(frozen=True)
class BenchmarkPlan:
    languages: Sequence[Language]
    prompts_per_language: int
    params: GenerationParams
    launcher: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def generations(self) -> int:
        return sum(
            len(lang.contenders) * min(self.prompts_per_language, len(lang.prompts))
            for lang in self.languages
        )


async def generate(
    contender: Contender, url: str, prompt: str, params: GenerationParams, settings: Settings
) -> Generation:
    """Stream one continuation; failures become `error`, never exceptions."""
    result = Generation(contender)
    client = make_client(url, contender.model_id, settings.engine)
    start = time.perf_counter()
    events = 0
    try:
        async for event in client.stream(prompt, params):
            if event.text:
                events += 1
                if result.ttft_ms is None:
                    result.ttft_ms = (time.perf_counter() - start) * 1000
                result.output += event.text
            if event.final:
                result.tokens = event.generated_tokens if event.generated_tokens else events
    except EngineError as exc:
        result.error = f"{exc.kind}: {exc.detail}"
    except Exception as exc:  # a bug or an unexpected answer: keep measuring the others
        result.error = f"internal: {type(exc).__name__}: {exc}"
    result.total_ms = (time.perf_counter() - start) * 1000
    if result.tokens and result.total_ms:
        # Decode speed: the tokens after the first, over the time after the first.
        decode_ms = result.total_ms - (result.ttft_ms or 0.0)
        if result.tokens > 1 and decode_ms > 0:
            result.tokens_per_s = (result.tokens - 1) / (decode_ms / 1000)
        else:
            result.tokens_per_s = result.tokens / (result.total_ms / 1000)
    return result


async def acquire_language(
    directory: SupervisorDirectory, language: Language, run_id: str
) -> LanguageModels:
    """Lease every model of `language` at once (as a battle would, all or nothing); if
    that fails, lease them one by one, so one broken model costs only its own rows."""
    models = [c.model_id for c in language.contenders]
    got = LanguageModels()
    start = time.perf_counter()
    holder = f"benchmark-{run_id}-{language.code}"
    try:
        got.leases.append(await directory.acquire(models, holder=holder))
    except EngineDirectoryError as exc:
        log.warning("%s: leasing all models failed (%s); trying one by one", language.code, exc)
        for model in models:
            try:
                got.leases.append(await directory.acquire([model], holder=holder))
            except EngineDirectoryError as one:
                got.errors[model] = f"load: {one.kind}: {one.detail}"
    got.load_s = time.perf_counter() - start
    for lease in got.leases:
        got.endpoints.update(lease.endpoints)
    status = await directory.status() or {}
    for slot in status.get("slots", []):
        for engine in slot.get("engines", []):
            if engine.get("model") in models:
                got.load_seconds[engine["model"]] = engine.get("load_seconds")
    return got


async def bench_language(
    language: Language,
    plan: BenchmarkPlan,
    directory: SupervisorDirectory,
    settings: Settings,
    sink: ResultSink,
    progress: Progress,
) -> None:
    models = await acquire_language(directory, language, plan.run_id)
    try:
        for example in language.prompts[: plan.prompts_per_language]:
            results: dict[str, Generation] = {}
            for contender in (language.hplt, *language.multisynt):
                url = models.endpoints.get(contender.model_id)
                if url is None:
                    why = models.errors.get(contender.model_id, "load: no engine")
                    results[contender.model_id] = Generation(contender, error=why)
                else:
                    results[contender.model_id] = await generate(
                        contender, url, example.text, plan.params, settings
                    )
                progress.step()
            hplt = results[language.hplt.model_id]
            for contender in language.multisynt:
                sink.write(
                    _row(
                        plan,
                        language,
                        example.kind,
                        example.text,
                        models,
                        hplt,
                        results[contender.model_id],
                    )
                )
    finally:
        for lease in models.leases:
            await directory.release(lease)


def _row(
    plan: BenchmarkPlan,
    language: Language,
    kind: str,
    prompt: str,
    models: LanguageModels,
    hplt: Generation,
    ms: Generation,
) -> BenchmarkRow:
    def rounded(value: float | None, digits: int = 1) -> float | None:
        return None if value is None else round(value, digits)

    return BenchmarkRow(
        Language=language.name,
        Prompt=prompt,
        HPLT_Model=hplt.contender.model_id,
        MultiSynt_Model=ms.contender.model_id,
        HPLT_Output=hplt.output,
        MultiSynt_Output=ms.output,
        Language_Code=language.code,
        Prompt_Kind=kind,
        Load_s=rounded(models.load_s, 3),
        HPLT_Load_s=rounded(models.load_seconds.get(hplt.contender.model_id), 3),
        MultiSynt_Load_s=rounded(models.load_seconds.get(ms.contender.model_id), 3),
        HPLT_TTFT_ms=rounded(hplt.ttft_ms),
        MultiSynt_TTFT_ms=rounded(ms.ttft_ms),
        HPLT_Tokens=hplt.tokens,
        MultiSynt_Tokens=ms.tokens,
        HPLT_Tokens_per_s=rounded(hplt.tokens_per_s, 2),
        MultiSynt_Tokens_per_s=rounded(ms.tokens_per_s, 2),
        HPLT_Total_ms=rounded(hplt.total_ms),
        MultiSynt_Total_ms=rounded(ms.total_ms),
        HPLT_Error=hplt.error,
        MultiSynt_Error=ms.error,
        Run_Id=plan.run_id,
        Started_At=plan.started_at,
        Launcher=plan.launcher,
        Max_New_Tokens=plan.params.max_new_tokens,
        Seed=plan.params.seed,
    )


async def run_benchmark(
    plan: BenchmarkPlan,
    settings: Settings,
    supervisor_url: str,
    sink: ResultSink,
    progress: Progress,
) -> None:
    """Benchmark `plan.languages` in order through the supervisor at `supervisor_url`."""
    directory = SupervisorDirectory(
        supervisor_url,
        settings.supervisor.acquire_timeout_s,
        connect_timeout=settings.engine.connect_timeout_s,
    )
    try:
        for index, language in enumerate(plan.languages):
            progress.language(index, language)
            await bench_language(language, plan, directory, settings, sink, progress)
    finally:
        progress.done()
        await directory.aclose()


def choose_languages(
    all_languages: Sequence[Language], codes: Sequence[str] | None, limit: int | None
) -> list[Language]:
    """The languages named by `codes` (registry order kept), or all; then the first `limit`."""
    chosen = list(all_languages)
    if codes:
        known = {lang.code for lang in all_languages}
        unknown = [c for c in codes if c not in known]
        if unknown:
            raise KeyError(
                f"unknown language code(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        chosen = [lang for lang in chosen if lang.code in set(codes)]
    return chosen[:limit] if limit else chosen
