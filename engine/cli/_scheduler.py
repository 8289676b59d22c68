"""``loanflow scheduler``: only the timer sweep, for a node that runs neither API nor workers.

Every ``serve`` already sweeps timers; several sweepers are safe together (a due timer is
claimed with ``FOR UPDATE SKIP LOCKED`` and fires once), so this process is optional: it lets
an operator keep timers firing while API nodes are drained. ``--metrics-port`` exposes the
process's Prometheus metrics (CPU, memory, open files) for its own monitoring.
"""

from __future__ import annotations

from typing import Annotated

import typer

from loanflow.engine.cli._common import (
    _guard,
    _out,
    _run_until_signal,
    _session,
    _settings,
    _start_metrics,
)
from loanflow.engine.runner import Scheduler


@_guard
def scheduler(
    ctx: typer.Context,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=0.05,
            help="seconds between sweeps (default: $LOANFLOW_SCHEDULER_INTERVAL, else 1)",
            show_default=False,
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", min=1, max=65535, help="serve /metrics on this port"),
    ] = None,
) -> None:
    """Fire due timers until SIGTERM or Ctrl-C; nothing else."""
    settings = _settings(ctx)
    out = _out()
    with _session(settings) as engine:
        _start_metrics(metrics_port)
        sweeper = Scheduler(engine, interval or settings.scheduler_interval)
        sweeper.start()
        try:
            _run_until_signal("scheduler")
        finally:
            sweeper.stop()
        out.print("stopped")
