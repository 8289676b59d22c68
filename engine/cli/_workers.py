"""``loanflow workers`` and ``loanflow worker call``: list and try workers without a store.

Both use the registry of built-in and plugin workers only, so they work on a machine with no
database. ``worker call`` maps a worker's outcome to exit codes: a business error exits 3 with
its variables on stdout, any other failure exits 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from loanflow.engine.cli._common import _dumps, _error, _fail, _guard, _out, _registry
from loanflow.engine.errors import BusinessError, WorkerError
from loanflow.workers.sdk import WorkerDefinition, run_worker


def _describe(defn: WorkerDefinition) -> dict[str, Any]:
    return {
        "topic": defn.topic,
        "description": defn.description,
        "retries": defn.retries,
        "input_schema": defn.input_schema(),
        "output_schema": defn.output_schema(),
    }


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
