"""The ``loanflow`` Typer app: every command registered here, explicitly, in help order.

Command modules define plain functions and never touch the app, so what the command offers is
read in one place and importing a command module registers nothing.
"""

from __future__ import annotations

import logging

import typer

from loanflow.engine.cli._bench import bench
from loanflow.engine.cli._common import _options
from loanflow.engine.cli._deploy import deploy
from loanflow.engine.cli._inspect import incidents, instances, retry
from loanflow.engine.cli._lint import lint
from loanflow.engine.cli._scheduler import scheduler
from loanflow.engine.cli._serve import serve
from loanflow.engine.cli._verify import verify
from loanflow.engine.cli._worker import worker_run
from loanflow.engine.cli._workers import worker_call, workers

__all__ = ["app", "main"]

app = typer.Typer(
    name="loanflow",
    help="BPMN lending engine: serve, deploy diagrams, inspect instances, try workers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
worker_app = typer.Typer(help="Run one worker by hand.", no_args_is_help=True)
app.add_typer(worker_app, name="worker")
app.callback()(_options)
app.command()(deploy)
app.command()(lint)
app.command()(serve)
app.command()(scheduler)
app.command()(instances)
app.command()(incidents)
app.command()(retry)
app.command()(workers)
worker_app.callback(invoke_without_command=True)(worker_run)
worker_app.command("call")(worker_call)
app.command()(bench)
app.command()(verify)


def _mount_keys() -> None:
    from loanflow.engine.cli._certificates import ca
    from loanflow.workers.vault.cli import keys_app

    keys_app.command("ca")(ca)
    app.add_typer(keys_app, name="keys")


_mount_keys()


def main() -> None:
    """Entry point of the ``loanflow`` script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app(prog_name="loanflow")
