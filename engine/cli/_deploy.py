"""``loanflow deploy``: collect diagrams and forms from paths and deploy them as one bundle.

Unreadable input (a missing path, a directory with nothing deployable, two files that would
share a name in the bundle) exits 2 before the store is opened; a bundle the engine refuses
lists every problem and exits 1. :func:`_deploy` and :func:`_report` are shared with
``serve --demo``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from loanflow.engine.cli._common import (
    _actor,
    _err,
    _error,
    _fail,
    _guard,
    _out,
    _session,
    _settings,
)
from loanflow.engine.deployments import BPMN_SUFFIXES
from loanflow.engine.engine import Engine
from loanflow.engine.errors import DeploymentError
from loanflow.engine.settings import SHARED_TENANT
from loanflow.engine.views import DeploymentInfo

DEPLOYABLE_SUFFIXES = (*BPMN_SUFFIXES, ".dmn", ".json")
PROGRESS_THRESHOLD = 5


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
