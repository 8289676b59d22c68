"""The ``loanflow`` command: run the engine, deploy diagrams, inspect and repair, try workers.

Commands that touch the store (``serve``, ``deploy``, ``instances``, ``incidents``, ``retry``)
build an :class:`Engine` from :class:`EngineSettings` (``--database-url`` overrides
``LOANFLOW_DATABASE_URL``) and bring its schema up to date first. ``workers``, ``worker call``
and ``bench`` never open the database, so they work on a machine without one.

Exit codes: 0 success, 1 a refused or failed command (any :class:`LoanflowError`), 2 bad
arguments or unreadable input, 3 a worker's business error (``worker call``).
"""

from __future__ import annotations

import functools
import getpass
import importlib
import inspect
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from loanflow.engine.deployments import BPMN_SUFFIXES
from loanflow.engine.engine import Engine
from loanflow.engine.errors import BusinessError, DeploymentError, LoanflowError, WorkerError
from loanflow.engine.runner import EmbeddedRunner, Scheduler
from loanflow.engine.settings import SHARED_TENANT, EngineSettings
from loanflow.engine.views import DeploymentInfo
from loanflow.workers.registry import WorkerRegistry, collect_workers
from loanflow.workers.sdk import WorkerDefinition, run_worker

__all__ = ["app", "main"]

P = ParamSpec("P")
R = TypeVar("R")

DEPLOYABLE_SUFFIXES = (*BPMN_SUFFIXES, ".dmn", ".json")
PROGRESS_THRESHOLD = 5

app = typer.Typer(
    name="loanflow",
    help="BPMN lending engine: serve, deploy diagrams, inspect instances, try workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
worker_app = typer.Typer(help="Run one worker by hand.", no_args_is_help=True)
app.add_typer(worker_app, name="worker")


# -- output -------------------------------------------------------------------------------


def _out() -> Console:
    return Console(highlight=False, markup=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False, markup=False)


def _error(message: str) -> None:
    _err().print(Text(message, style="red"), soft_wrap=True)


def _fail(message: str, code: int) -> NoReturn:
    _error(message)
    raise typer.Exit(code)


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _dumps(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(sep=" ", timespec="seconds")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


# -- building the engine ------------------------------------------------------------------


@dataclass(frozen=True)
class _Options:
    database_url: str | None


@app.callback()
def _options(
    ctx: typer.Context,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy URL of the store (default: $LOANFLOW_DATABASE_URL, "
            "else sqlite:///var/loanflow.sqlite3)",
            show_default=False,
        ),
    ] = None,
) -> None:
    ctx.obj = _Options(database_url)


def _settings(ctx: typer.Context) -> EngineSettings:
    options = ctx.find_object(_Options)
    url = options.database_url if options is not None else None
    try:
        return EngineSettings(database_url=url) if url else EngineSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"LOANFLOW_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        _fail(f"invalid settings: {problems}", 2)


def _registry() -> WorkerRegistry:
    """The built-in and plugin workers; broken plugins are reported here, once."""
    registry_log = logging.getLogger("loanflow.workers.registry")
    level = registry_log.level
    registry_log.setLevel(logging.ERROR)
    try:
        registry, problems = collect_workers()
    finally:
        registry_log.setLevel(level)
    for problem in problems:
        _err().print(
            Text(f"warning: skipped worker plugin {problem}", style="yellow"), soft_wrap=True
        )
    return registry


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"


@contextmanager
def _session(settings: EngineSettings) -> Iterator[Engine]:
    """An engine on an up-to-date schema, closed afterwards."""
    from sqlalchemy.exc import ArgumentError, OperationalError

    registry = _registry()
    where = _redacted(settings.database_url)
    try:
        engine = Engine(settings, workers=registry)
    except (ArgumentError, ModuleNotFoundError) as exc:
        _fail(f"cannot use database URL {where}: {exc}", 2)
    except OSError as exc:
        _fail(f"cannot open database {where}: {exc.strerror or exc}: {exc.filename}", 1)
    try:
        try:
            engine.migrate()
        except (OperationalError, OSError) as exc:
            reason = getattr(exc, "orig", None) or exc
            _fail(f"cannot open database {where}: {reason}", 1)
        yield engine
    finally:
        engine.close()


def _guard(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a LoanflowError escaping a command into its message and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except LoanflowError as exc:
            _fail(str(exc), 1)

    return wrapper


# -- deploy -------------------------------------------------------------------------------


class _Unreadable(Exception):
    pass


def _sources(paths: Sequence[Path]) -> list[tuple[str, Path]]:
    """(name in the bundle, file) for every deployable file under ``paths``."""
    found: list[tuple[str, Path]] = []
    for path in paths:
        try:
            if path.is_dir():
                inside = [
                    f
                    for f in sorted(path.rglob("*"))
                    if f.is_file()
                    and f.name.lower().endswith(DEPLOYABLE_SUFFIXES)
                    and not any(part.startswith(".") for part in f.relative_to(path).parts)
                ]
                if not inside:
                    raise _Unreadable(f"{path}: no .bpmn, .dmn or .json files in this directory")
                found.extend((f.relative_to(path).as_posix(), f) for f in inside)
            elif path.is_file():
                found.append((path.name, path))
            elif path.exists():
                raise _Unreadable(f"{path}: not a regular file or directory")
            else:
                raise _Unreadable(f"{path}: no such file or directory")
        except OSError as exc:
            raise _Unreadable(f"{path}: {exc.strerror or exc}") from exc
    seen: dict[str, Path] = {}
    for name, file in found:
        if name in seen and seen[name] != file:
            raise _Unreadable(
                f"{seen[name]} and {file} would both be deployed as {name!r}; "
                "deploy their common directory instead"
            )
        seen[name] = file
    return list(seen.items())


def _read(sources: list[tuple[str, Path]]) -> dict[str, bytes]:
    def read(file: Path) -> bytes:
        try:
            return file.read_bytes()
        except OSError as exc:
            raise _Unreadable(f"{file}: {exc.strerror or exc}") from exc

    if len(sources) <= PROGRESS_THRESHOLD:
        return {name: read(file) for name, file in sources}
    files: dict[str, bytes] = {}
    with Progress(console=_err(), transient=True) as progress:
        task = progress.add_task("reading files", total=len(sources))
        for name, file in sources:
            files[name] = read(file)
            progress.advance(task)
    return files


def _deploy(
    engine: Engine, files: dict[str, bytes], tenant: str, name: str | None
) -> DeploymentInfo:
    """Deploy, or print every problem of a refused bundle and exit 1."""
    try:
        return engine.deploy(files, tenant=tenant, name=name, actor=_actor())
    except DeploymentError as exc:
        count = len(exc.problems)
        _error(f"deployment refused ({count} problem{'s' if count != 1 else ''}):")
        for problem in exc.problems:
            _error(f"  {problem}")
        raise typer.Exit(1) from None


def _report(info: DeploymentInfo) -> None:
    out = _out()
    if info.created:
        out.print(f"deployed {info.id} to tenant {info.tenant!r}", soft_wrap=True)
    else:
        out.print(
            f"unchanged: identical content is already deployed as {info.id} "
            f"to tenant {info.tenant!r}",
            soft_wrap=True,
        )
    suffix = "" if info.created else " (unchanged)"
    for definition in info.definitions:
        out.print(f"  {definition.key} version {definition.version}{suffix}", soft_wrap=True)


@app.command()
@_guard
def deploy(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="files, or directories searched for *.bpmn, *.dmn and *.json (forms)",
            show_default=False,
        ),
    ],
    tenant: Annotated[
        str, typer.Option("--tenant", "-t", help="tenant to deploy to; '*' is shared")
    ] = SHARED_TENANT,
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="label of the deployment")
    ] = None,
) -> None:
    """Deploy diagrams and forms as one bundle; identical content deploys nothing new."""
    try:
        files = _read(_sources(paths))
    except _Unreadable as exc:
        _fail(f"cannot read {exc}", 2)
    with _session(_settings(ctx)) as engine:
        _report(_deploy(engine, files, tenant, name))


# -- serve --------------------------------------------------------------------------------


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


def _wait_for_stop(ready: Callable[[], None]) -> str:
    """Call ``ready`` once the handlers are in place, block until SIGINT or SIGTERM.

    Returns the signal's name.
    """
    stop = threading.Event()
    received: list[str] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        ready()
        while not stop.wait(1.0):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return received[0]


def _api_factory() -> Callable[..., Any] | None:
    try:
        api = importlib.import_module("loanflow.api")
    except ImportError:
        return None
    factory = getattr(api, "create_app", None)
    return factory if callable(factory) else None


def _serve_api(factory: Callable[..., Any], settings: EngineSettings, engine: Engine) -> None:
    try:
        port = int(os.environ.get("LOANFLOW_PORT", "8000"))
    except ValueError:
        _fail(f"LOANFLOW_PORT must be a port number, got {os.environ['LOANFLOW_PORT']!r}", 2)
    host = os.environ.get("LOANFLOW_HOST", "127.0.0.1")
    try:
        uvicorn = importlib.import_module("uvicorn")
    except ImportError:
        _fail("the HTTP API needs uvicorn: pip install uvicorn", 1)
    takes_engine = "engine" in inspect.signature(factory).parameters
    api = factory(settings, engine=engine) if takes_engine else factory(settings)
    uvicorn.run(api, host=host, port=port)


@app.command()
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
) -> None:
    """Run the engine: embedded workers, the timer scheduler and (once built) the HTTP API."""
    settings = _settings(ctx)
    out = _out()
    with _session(settings) as engine:
        if demo or settings.demo:
            bundle = _demo_bundle()
            if bundle:
                _report(_deploy(engine, bundle, SHARED_TENANT, "demo"))
        count = settings.embedded_workers if threads is None else threads
        runner: EmbeddedRunner | None = None
        if not no_workers and count > 0 and len(engine.workers):
            runner = EmbeddedRunner(engine, threads=count)
        scheduler = Scheduler(engine, settings.scheduler_interval)
        out.print(f"database: {_redacted(settings.database_url)}", soft_wrap=True)
        if runner is not None:
            out.print(f"workers: {len(engine.workers)} topics on {runner.threads} threads")
        else:
            out.print("workers: off")
        try:
            if runner is not None:
                runner.start()
            scheduler.start()
            factory = _api_factory()
            if factory is not None:
                _serve_api(factory, settings, engine)
            else:
                received = _wait_for_stop(
                    lambda: out.print("engine running (API not built yet); Ctrl-C to stop")
                )
                out.print(f"{received}: stopping")
        finally:
            if runner is not None:
                runner.stop()
            scheduler.stop()
        out.print("stopped")


# -- inspection and repair ----------------------------------------------------------------


@app.command()
@_guard
def instances(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="only this tenant")] = None,
    state: Annotated[
        str | None, typer.Option("--state", "-s", help="running, completed, cancelled…")
    ] = None,
    business_key: Annotated[str | None, typer.Option("--business-key", "-k")] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=1, max=500)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for machines")] = False,
) -> None:
    """Process instances, newest first."""
    with _session(_settings(ctx)) as engine:
        found = engine.instances(tenant, state=state, business_key=business_key, limit=limit)
    if as_json:
        typer.echo(
            _dumps(
                [
                    {
                        "id": i.id,
                        "tenant": i.tenant,
                        "process_key": i.process_key,
                        "definition_id": i.definition_id,
                        "business_key": i.business_key,
                        "state": i.state,
                        "version": i.version,
                        "created_at": i.created_at,
                        "updated_at": i.updated_at,
                        "ended_at": i.ended_at,
                        "next_due": i.next_due,
                    }
                    for i in found
                ]
            )
        )
        return
    if not found:
        _out().print("no process instances")
        return
    table = Table("id", "tenant", "process", "business key", "state", "updated")
    for i in found:
        table.add_row(
            i.id, i.tenant, i.process_key, i.business_key or "", i.state, _when(i.updated_at)
        )
    _out().print(table)


@app.command()
@_guard
def incidents(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="only this tenant")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON for machines")] = False,
) -> None:
    """Open incidents: jobs out of retries and failed timers."""
    with _session(_settings(ctx)) as engine:
        found = engine.incidents(tenant)
    if as_json:
        typer.echo(
            _dumps(
                [
                    {
                        "id": i.id,
                        "tenant": i.tenant,
                        "instance_id": i.instance_id,
                        "job_id": i.job_id,
                        "element_id": i.element_id,
                        "message": i.message,
                        "created_at": i.created_at,
                    }
                    for i in found
                ]
            )
        )
        return
    if not found:
        _out().print("no open incidents")
        return
    table = Table("id", "instance", "job", "element", "message", "created")
    for i in found:
        table.add_row(
            i.id, i.instance_id, i.job_id or "", i.element_id or "", i.message, _when(i.created_at)
        )
    _out().print(table)


@app.command()
@_guard
def retry(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="id of the failed job (see `incidents`)")],
    retries: Annotated[
        int, typer.Option("--retries", "-r", min=1, help="attempts the workers get")
    ] = 1,
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="the job's tenant")] = None,
) -> None:
    """Send a failed job back to its workers and resolve its incident."""
    with _session(_settings(ctx)) as engine:
        engine.retry_job(job_id, tenant=tenant, retries=retries, actor=_actor())
    attempts = "attempt" if retries == 1 else "attempts"
    _out().print(f"job {job_id} sent back to its workers ({retries} {attempts})", soft_wrap=True)


# -- workers ------------------------------------------------------------------------------


def _describe(defn: WorkerDefinition) -> dict[str, Any]:
    return {
        "topic": defn.topic,
        "description": defn.description,
        "retries": defn.retries,
        "input_schema": defn.input_schema(),
        "output_schema": defn.output_schema(),
    }


@app.command()
@_guard
def workers(
    as_json: Annotated[
        bool, typer.Option("--json", help="print a JSON array for machines")
    ] = False,
) -> None:
    """Every registered worker topic with its input and output JSON Schema."""
    registry = _registry()
    described = [_describe(defn) for defn in registry]
    if as_json:
        typer.echo(_dumps(described))
        return
    out = _out()
    if not described:
        out.print("no workers registered")
    for item in described:
        out.print(Text(item["topic"], style="bold"), Text(f"  retries {item['retries']}"))
        if item["description"]:
            out.print(Text(f"  {item['description']}"))
        for label in ("input", "output"):
            schema = json.dumps(item[f"{label}_schema"], indent=2, ensure_ascii=False)
            out.print(Text(f"  {label} schema:"))
            out.print(
                Text("\n".join(f"    {line}" for line in schema.splitlines())), soft_wrap=True
            )
        out.print()


def _payload(source: str) -> Any:
    where = "stdin" if source == "-" else source
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
    except OSError as exc:
        _fail(f"cannot read {where}: {exc.strerror or exc}", 2)
    except UnicodeDecodeError:
        _fail(f"{where} is not UTF-8 text", 2)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"{where} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}", 2)


@worker_app.command("call")
def worker_call(
    topic: Annotated[str, typer.Argument(help="the worker's topic, e.g. calc.repayment_schedule")],
    source: Annotated[
        str, typer.Argument(metavar="INPUT", help="JSON file with the job input, or - for stdin")
    ],
) -> None:
    """Run one worker once on a JSON input and print its JSON output.

    On a business error the message goes to stderr, its variables as JSON to stdout, exit 3.
    """
    registry = _registry()
    defn = registry.get(topic)
    if defn is None:
        known = ", ".join(registry.topics()) or "none"
        _fail(f"no worker for topic {topic!r}; known topics: {known}", 2)
    payload = _payload(source)
    try:
        output = run_worker(defn, payload)
    except BusinessError as exc:
        _error(f"business error {exc.code}: {exc.message}")
        typer.echo(_dumps(exc.variables))
        raise typer.Exit(3) from None
    except WorkerError as exc:
        _fail(str(exc), 1)
    except Exception as exc:  # noqa: BLE001 - the worker's own failure, reported not raised
        _fail(f"worker {topic!r} failed: {type(exc).__name__}: {exc}", 1)
    typer.echo(_dumps(output))


# -- bench --------------------------------------------------------------------------------


@app.command()
def bench(
    n: Annotated[
        int | None, typer.Option("--n", min=1, help="iterations, passed on to the script")
    ] = None,
) -> None:
    """Measure the engine's overhead with bench/engine_overhead.py (repository checkouts only)."""
    script = Path(__file__).resolve().parents[1] / "bench" / "engine_overhead.py"
    if not script.is_file():
        _fail(
            "the benchmark is not available in an installed copy: "
            "run it from a checkout of the loanflow repository",
            1,
        )
    command = [sys.executable, str(script)]
    if n is not None:
        command += ["--n", str(n)]
    raise typer.Exit(subprocess.run(command, check=False).returncode)


def main() -> None:
    """Entry point of the ``loanflow`` script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app(prog_name="loanflow")
