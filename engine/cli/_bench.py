"""``loanflow bench``: run the engine-overhead benchmark of a repository checkout.

The benchmark script lives in ``bench/`` at the repository root, outside the package, so it is
found relative to this file and is missing from an installed copy.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from loanflow.engine.cli._common import _fail


def bench(
    n: Annotated[
        int | None, typer.Option("--n", min=1, help="iterations, passed on to the script")
    ] = None,
) -> None:
    """Measure the engine's overhead with bench/engine_overhead.py (repository checkouts only)."""
    script = Path(__file__).resolve().parents[2] / "bench" / "engine_overhead.py"
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
