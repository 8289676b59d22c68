"""``loanflow lint``: what the engine would do with each element of some diagrams.

Reads the files as ``deploy`` does, opens no store and deploys nothing. Every element is
``executed``, ``translated`` (rewritten into BPMN the engine runs, e.g. an implicit fork or a
link jump), ``ignored`` (accepted, no effect) or ``rejected`` (a deploy would fail), with why.
Exit 1 when anything is rejected. Service-task topics are not checked (which workers serve a
topic depends on where the diagram is deployed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from loanflow.engine.cli._common import _fail, _guard, _out
from loanflow.engine.cli._deploy import _read, _sources, _Unreadable
from loanflow.engine.deployments import lint as lint_files
from loanflow.engine.sandbox import Sandbox

_STYLE = {"rejected": "red", "translated": "yellow", "ignored": "blue", "executed": "green"}


@_guard
def lint(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="files, or directories of *.bpmn, *.dmn and *.json", show_default=False
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array")] = False,
    all_elements: Annotated[bool, typer.Option("--all", help="list executed elements too")] = False,
) -> None:
    """Report, per element, whether it is executed, translated, ignored or rejected, and why."""
    try:
        files = _read(_sources(paths))
    except _Unreadable as exc:
        _fail(f"cannot read {exc}", 2)
    sandbox = Sandbox()
    findings = lint_files(
        files,
        has_topic=lambda _topic: True,
        check_expression=sandbox.check_expression,
        check_script=sandbox.check_script,
        known_forms={},
    )
    rejected = sum(1 for f in findings if f.kind == "rejected")
    shown = [f for f in findings if all_elements or as_json or f.kind != "executed"]
    if as_json:
        _out().print_json(json.dumps([f.__dict__ for f in shown], ensure_ascii=False))
    else:
        table = Table("file:line", "element", "kind", "why")
        for f in shown:
            where = f"{f.file}:{f.line}" if f.line else f.file
            table.add_row(where, f.element or "", Text(f.kind, style=_STYLE[f.kind]), f.message)
        _out().print(table)
        executed = sum(1 for f in findings if f.kind == "executed")
        _out().print(
            f"{executed} executed, {len(findings) - executed - rejected} translated or ignored, "
            f"{rejected} rejected"
        )
    if rejected:
        raise typer.Exit(1)
