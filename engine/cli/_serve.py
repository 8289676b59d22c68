"""``loanflow serve``: the engine with its embedded workers, timer scheduler and HTTP API.

The API is optional: ``loanflow.api.create_app`` is looked up at run time and served with
uvicorn when present; without it the engine runs until SIGINT or SIGTERM. Either way workers
and scheduler are stopped on the way out.
"""

from __future__ import annotations

import importlib
import inspect
import os
import signal
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from loanflow.engine.cli._common import (
    _fail,
    _guard,
    _out,
    _redacted,
    _run_until_signal,
    _session,
    _settings,
)
from loanflow.engine.cli._deploy import DEPLOYABLE_SUFFIXES, _deploy, _report
from loanflow.engine.deployments import BPMN_SUFFIXES
from loanflow.engine.engine import Engine
from loanflow.engine.runner import EmbeddedRunner, Scheduler
from loanflow.engine.settings import SHARED_TENANT, EngineSettings

if TYPE_CHECKING:
    from loanflow.workers.vault import Vault


def _demo_bundle() -> dict[str, bytes]:
    """Every diagram and form shipped in ``loanflow.processes`` and ``loanflow.forms``."""
    files: dict[str, bytes] = {}
    for package in ("loanflow.processes", "loanflow.forms"):
        for entry in sorted(resources.files(package).iterdir(), key=lambda e: e.name):
            if entry.is_file() and entry.name.lower().endswith(DEPLOYABLE_SUFFIXES):
                files[entry.name] = entry.read_bytes()
    if not any(name.lower().endswith(BPMN_SUFFIXES) for name in files):
        return {}
    return files


def _add_evidence_workers(engine: Engine, demo: bool) -> Vault | None:
    """Register ``contract.*`` on this engine's database and vault, when a vault is configured.

    They need the engine's database (certificates) and the vault's keys, so they are built
    here rather than listed with the built-ins.
    """
    from loanflow.workers.contract import (
        CertificateStore,
        ContractService,
        VaultEvidenceKeys,
        contract_workers,
    )
    from loanflow.workers.registry import WorkerRegistry
    from loanflow.workers.vault import Vault, VaultSettings

    try:
        vault_settings = VaultSettings(demo=True) if demo else VaultSettings()
    except ValidationError:
        _out().print("contract workers: off (set LOANFLOW_VAULT_MASTER_KEY to enable)")
        return None
    vault = Vault(engine, vault_settings)
    service = ContractService(
        CertificateStore(engine.db, vault.keys.sealer("certificates"), engine.clock),
        storage=vault,
        evidence_keys=VaultEvidenceKeys(vault),
        clock=engine.clock,
    )
    existing = [d for d in engine.workers if not d.topic.startswith("contract.")]
    engine.workers = WorkerRegistry([*existing, *contract_workers(service)])
    return vault


def _add_ocr_workers(engine: Engine, vault: Vault | None) -> None:
    """Register ``ocr.*``: images from the vault when there is one, else inline (base64).

    The models load on the first job, once per process, not at start-up.
    """
    from loanflow.workers.ocr import OcrService, OcrSettings, ocr_workers
    from loanflow.workers.registry import WorkerRegistry

    try:
        settings = OcrSettings()
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        _fail(f"cannot configure the OCR workers: {problems}", 2)
    existing = [d for d in engine.workers if not d.topic.startswith("ocr.")]
    engine.workers = WorkerRegistry([*existing, *ocr_workers(OcrService(vault, settings))])


def _add_risk_workers(engine: Engine, settings: EngineSettings) -> None:
    """Register ``risk.*`` on this engine's database (and Redis for anti-fraud counts)."""
    from loanflow.workers.registry import WorkerRegistry
    from loanflow.workers.risk import ExternalDataSettings, risk_workers

    try:
        external = ExternalDataSettings()
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        _fail(f"cannot configure the risk workers: {problems}", 2)
    redis = None
    if settings.redis_url:
        from redis import Redis

        redis = Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    existing = [d for d in engine.workers if not d.topic.startswith("risk.")]
    engine.workers = WorkerRegistry([*existing, *risk_workers(engine, external, redis=redis)])
    _out().print(
        f"risk workers: external data from the {external.adapter} adapter, anti-fraud counts in "
        + ("Redis" if redis is not None else "the database")
    )


def _add_video_workers(engine: Engine, demo: bool) -> None:
    """Register ``video.open_session`` before the runner starts; the API built later around
    this engine finds the same service (sessions live in its memory)."""
    from loanflow.workers.video import VideoService

    VideoService.for_engine(engine, demo=demo)


def _announcer(engine: Engine, settings: EngineSettings) -> Callable[[], None] | None:
    """With ``LOANFLOW_REDIS_URL``: announce committed jobs on Redis streams for
    ``loanflow worker`` processes, and sweep what a stream lost. Returns how to stop it."""
    if not settings.redis_url:
        return None
    from redis import Redis

    from loanflow.engine.dispatch import DEFAULT_PREFIX, StreamPublisher, start_sweeper

    publisher = StreamPublisher(
        Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5),
        DEFAULT_PREFIX,
    )
    publisher.attach(engine)
    sweeper = start_sweeper(engine, publisher)
    _out().print(f"jobs announced on Redis streams: {_redacted(settings.redis_url)}")

    def stop() -> None:
        sweeper.stop()
        publisher.close()

    return stop


def _api_factory() -> Callable[..., Any] | None:
    try:
        api = importlib.import_module("loanflow.api")
    except ImportError:
        return None
    factory = getattr(api, "create_app", None)
    return factory if callable(factory) else None


def _api_settings(settings: EngineSettings, demo: bool) -> EngineSettings:
    """The API's settings (its secrets, host and port) on top of the engine's."""
    try:
        from loanflow.api.settings import ApiSettings
    except ImportError:
        return settings
    try:
        return ApiSettings(**{**settings.model_dump(), "demo": demo or settings.demo})
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        _fail(f"cannot start the API: {problems}", 2)


def _serve_api(factory: Callable[..., Any], settings: EngineSettings, engine: Engine) -> None:
    try:
        port = int(getattr(settings, "port", None) or os.environ.get("LOANFLOW_PORT", "8000"))
    except ValueError:
        _fail(f"LOANFLOW_PORT must be a port number, got {os.environ['LOANFLOW_PORT']!r}", 2)
    host = getattr(settings, "host", None) or os.environ.get("LOANFLOW_HOST", "127.0.0.1")
    try:
        uvicorn = importlib.import_module("uvicorn")
    except ImportError:
        _fail("the HTTP API needs uvicorn: pip install uvicorn", 1)
    parameters = inspect.signature(factory).parameters
    kwargs: dict[str, Any] = {}
    if "engine" in parameters:
        kwargs["engine"] = engine
    if "background" in parameters:
        kwargs["background"] = True
    api = factory(settings, **kwargs)
    _out().print(f"API on http://{host}:{port} (reference at /docs); Ctrl-C to stop")
    # uvicorn shuts down on SIGINT/SIGTERM, then re-raises the signal to the handler that was
    # there before it: make that a no-op so a requested stop ends the process with status 0.
    previous = {
        sig: signal.signal(sig, lambda _signum, _frame: None)
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        uvicorn.run(api, host=host, port=port)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@_guard
def serve(
    ctx: typer.Context,
    demo: Annotated[
        bool, typer.Option("--demo", help="deploy the shipped processes and forms first")
    ] = False,
    no_workers: Annotated[
        bool, typer.Option("--no-workers", help="do not run the built-in and plugin workers")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=0,
            help="worker threads (default: $LOANFLOW_EMBEDDED_WORKERS, else 4)",
            show_default=False,
        ),
    ] = None,
    no_api: Annotated[
        bool, typer.Option("--no-api", help="run the engine side only (workers and timers)")
    ] = False,
) -> None:
    """Run the engine: embedded workers, the timer scheduler and (once built) the HTTP API."""
    settings = _settings(ctx)
    factory = None if no_api else _api_factory()
    if factory is not None:
        settings = _api_settings(settings, demo)
    out = _out()
    with _session(settings) as engine:
        vault = _add_evidence_workers(engine, demo or settings.demo)
        _add_ocr_workers(engine, vault)
        _add_risk_workers(engine, settings)
        _add_video_workers(engine, demo or settings.demo)
        if demo or settings.demo:
            bundle = _demo_bundle()
            if bundle:
                _report(_deploy(engine, bundle, SHARED_TENANT, "demo"))
        count = settings.embedded_workers if threads is None else threads
        runner: EmbeddedRunner | None = None
        if not no_workers and count > 0 and len(engine.workers):
            runner = EmbeddedRunner(engine, threads=count)
        scheduler = Scheduler(engine, settings.scheduler_interval)
        announcer = _announcer(engine, settings)
        out.print(f"database: {_redacted(settings.database_url)}", soft_wrap=True)
        if runner is not None:
            out.print(f"workers: {len(engine.workers)} topics on {runner.threads} threads")
        else:
            out.print("workers: off")
        try:
            if runner is not None:
                runner.start()
            scheduler.start()
            if factory is not None:
                _serve_api(factory, settings, engine)
            else:
                _run_until_signal("engine")
        finally:
            if runner is not None:
                runner.stop()
            scheduler.stop()
            if announcer is not None:
                announcer()
        out.print("stopped")
