"""What every command shares: output, settings, the engine session and error handling.

Errors become a red message on stderr and an exit code (see the package docstring), never a
traceback: :func:`_fail` for the command's own checks, :func:`_guard` for a
:class:`LoanflowError` escaping the engine. :func:`_session` is the only way commands reach the
store, so each one gets a migrated schema and a closed engine, with the URL's password hidden in
any message.
"""

from __future__ import annotations

import functools
import getpass
import json
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from types import FrameType
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from loanflow.engine.engine import Engine
from loanflow.engine.errors import LoanflowError
from loanflow.engine.settings import EngineSettings
from loanflow.workers.registry import WorkerRegistry, collect_workers

P = ParamSpec("P")
R = TypeVar("R")


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


def _run_until_signal(label: str) -> None:
    """Say ``label`` is running, block until SIGINT or SIGTERM, say it is stopping."""
    out = _out()
    received = _wait_for_stop(lambda: out.print(f"{label} running; Ctrl-C to stop"))
    out.print(f"{received}: stopping")


def _start_metrics(port: int | None) -> None:
    """Serve this process's Prometheus metrics on ``127.0.0.1:port`` (nothing without one)."""
    if port is None:
        return
    from prometheus_client import start_http_server

    start_http_server(port, addr="127.0.0.1")
    _out().print(f"metrics on http://127.0.0.1:{port}/metrics")
