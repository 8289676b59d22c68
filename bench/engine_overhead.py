"""What loanflow's persistence costs over raw SpiffWorkflow, on the packaged demo loan process.

Three variants, measured in one process and one run (see DESIGN.md, "Performance budget"):

raw
    The two files parsed once with loanflow's parser; then per instance: a ``BpmnWorkflow``
    with the engine's sandboxed script engine, the start variables in the start task,
    ``do_engine_steps()`` to the first wait (the ID-check service task) and SpiffWorkflow's own
    ``serialize_json`` (spec embedded), which is what a raw library user stores.
sqlite
    ``Engine`` on a fresh SQLite file: migrate, deploy, then ``engine.start(...)`` per instance
    (run to the first wait, job row, audit chain, one committed transaction).
postgres
    The same on a fresh PostgreSQL database, created and dropped by this script.

Each variant is warmed up first. The N instances of each variant are then run in interleaved
blocks (raw, sqlite, postgres, raw, …), so load from other processes on the machine falls on
all variants alike and the ratios stay meaningful. The budget: loanflow starts and persists at
least as fast as the raw library starts and serializes, i.e. ratio (loanflow rate / raw rate)
of at least 1.

Usage: ``python bench/engine_overhead.py [--n 300] [--postgres-url URL] [--profile]``.
The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from loanflow.engine import Engine, EngineSettings, SystemClock
from loanflow.engine.bpmn.parser import LoanflowParser, parse_xml
from loanflow.engine.bpmn.scripting import LoanflowScriptEngine
from loanflow.engine.bpmn.serializer import serializer
from loanflow.engine.commands import instances
from loanflow.engine.sandbox import Sandbox
from loanflow.workers import WorkerRegistry
from loanflow.workers.builtin import BUILTIN_WORKERS
from loanflow.workers.builtin.identity import check_digit

PROCESS_KEY = "demo_loan"
TENANT = "bench"
WARMUP = 20
BLOCK = 50
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FIRST_WAIT = "check_id"
START_VARIABLES: dict[str, Any] = {
    "applicant_id": "42280219850314002" + check_digit("42280219850314002"),
    "amount": 100000,
    "term": 12,
    "monthly_income": 20000,
    "application_date": "2026-01-05",
}


@dataclass
class Variant:
    """One way of starting an instance; ``once(i)`` starts instance ``i``."""

    name: str
    once: Callable[[int], Any]
    state_bytes: Callable[[], float | None] = lambda: None
    seconds: float = 0.0
    done: int = 0
    blocks: list[float] = field(default_factory=list)

    def warm_up(self) -> None:
        for i in range(WARMUP):
            self.once(-1 - i)

    def run_block(self, count: int) -> None:
        start = self.done
        began = time.perf_counter()
        for i in range(start, start + count):
            self.once(i)
        elapsed = time.perf_counter() - began
        self.seconds += elapsed
        self.blocks.append(count / elapsed)
        self.done += count

    @property
    def per_s(self) -> float:
        return self.done / self.seconds

    @property
    def ms(self) -> float:
        return self.seconds * 1000 / self.done


def demo_files() -> dict[str, bytes]:
    processes = resources.files("loanflow.processes")
    forms = resources.files("loanflow.forms")
    return {
        "demo_loan.bpmn": processes.joinpath("demo_loan.bpmn").read_bytes(),
        "demo_grade.dmn": processes.joinpath("demo_grade.dmn").read_bytes(),
        "demo_review.json": forms.joinpath("demo_review.json").read_bytes(),
    }


# -- raw SpiffWorkflow --------------------------------------------------------------------


def raw_variant(files: dict[str, bytes]) -> Variant:
    parser = LoanflowParser()
    parser.add_dmn_xml(parse_xml(files["demo_grade.dmn"]).getroot(), "demo_grade.dmn")
    parser.add_bpmn_xml(parse_xml(files["demo_loan.bpmn"]), "demo_loan.bpmn")
    spec = parser.get_spec(PROCESS_KEY)
    subprocess_specs = parser.get_subprocess_specs(PROCESS_KEY)
    script_engine = LoanflowScriptEngine(Sandbox(), SystemClock())
    full = serializer.full
    sizes: list[int] = []

    def start() -> BpmnWorkflow:
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine)
        variables = dict(START_VARIABLES)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(variables)
        workflow.do_engine_steps()
        return workflow

    def once(_i: int) -> None:
        sizes.append(len(full.serialize_json(start())))

    waiting = [t.task_spec.bpmn_id for t in start().get_tasks(state=TaskState.STARTED)]
    if waiting != [FIRST_WAIT]:
        raise SystemExit(f"raw: the workflow did not stop at {FIRST_WAIT!r} but at {waiting}")
    return Variant("raw SpiffWorkflow", once, lambda: sum(sizes) / len(sizes))


# -- loanflow -----------------------------------------------------------------------------


@contextmanager
def engine_variant(label: str, url: str, files: dict[str, bytes]) -> Iterator[Variant]:
    engine = Engine(EngineSettings(database_url=url), workers=WorkerRegistry(BUILTIN_WORKERS))
    try:
        engine.migrate()
        engine.deploy(files, tenant=TENANT, name="bench")
        run_id = uuid.uuid4().hex[:8]

        def once(i: int) -> None:
            engine.start(
                TENANT, PROCESS_KEY, business_key=f"B-{run_id}-{i}", variables=START_VARIABLES
            )

        first = engine.start(TENANT, PROCESS_KEY, variables=START_VARIABLES)
        jobs = engine.job_list(TENANT, instance_id=first.id)
        if first.state != "running" or [j.element_id for j in jobs] != [FIRST_WAIT]:
            raise SystemExit(f"{label}: the instance did not stop at {FIRST_WAIT!r}: {jobs}")

        def state_bytes() -> float | None:
            with engine.db.connect() as conn:
                size = conn.execute(select(func.avg(func.length(instances.c.data)))).scalar()
            return None if size is None else float(size)

        yield Variant(f"loanflow on {label}", once, state_bytes)
    finally:
        engine.close()


@contextmanager
def sqlite_variant(files: dict[str, bytes]) -> Iterator[Variant]:
    with tempfile.TemporaryDirectory(prefix="loanflow-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        with engine_variant("SQLite", url, files) as variant:
            yield variant


@contextmanager
def postgres_variant(files: dict[str, bytes], admin_url: str) -> Iterator[Variant | None]:
    """A variant on a scratch database, or None (with a note) when the server is unreachable."""
    admin = create_engine(
        admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means: not measured
        admin.dispose()
        lines = str(exc).strip().splitlines()
        print(f"note: PostgreSQL is not reachable at {admin_url} ({lines[0] if lines else exc!r})")
        yield None
        return
    name = f"loanflow_bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        with engine_variant("PostgreSQL", url, files) as variant:
            yield variant
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- running and reporting ----------------------------------------------------------------


def measure(variants: list[Variant], n: int) -> None:
    """Warm every variant up, then run n instances of each in interleaved blocks."""
    for variant in variants:
        variant.warm_up()
    gc.collect()
    remaining = n
    while remaining:
        count = min(BLOCK, remaining)
        for variant in variants:
            variant.run_block(count)
        remaining -= count


def profile(variant: Variant, n: int) -> None:
    """Run n more instances under cProfile; the top 25 cumulative entries go to stderr."""
    profiler = cProfile.Profile()
    base = variant.done + WARMUP
    profiler.enable()
    for i in range(n):
        variant.once(base + i)
    profiler.disable()
    report = io.StringIO()
    pstats.Stats(profiler, stream=report).sort_stats(pstats.SortKey.CUMULATIVE).print_stats(25)
    print(f"--- cProfile: {n} starts, {variant.name} (top 25 cumulative) ---", file=sys.stderr)
    print(report.getvalue(), file=sys.stderr)


def table(raw: Variant, others: list[tuple[str, Variant | None]]) -> str:
    lines = [
        f"{'variant':<24} {'inst/s':>9} {'ms/inst':>9} {'vs raw':>7} {'blocks inst/s':>15} "
        f"{'state bytes':>12}",
        "-" * 81,
    ]
    for label, variant in [(raw.name, raw), *others]:
        if variant is None:
            dashes = " ".join(f"{'-':>{width}}" for width in (9, 9, 7, 15, 12))
            lines.append(f"{label:<24} {dashes}  not measured")
            continue
        size = variant.state_bytes()
        spread = f"{min(variant.blocks):.0f}-{max(variant.blocks):.0f}"
        lines.append(
            f"{variant.name:<24} {variant.per_s:>9.1f} {variant.ms:>9.3f} "
            f"{variant.per_s / raw.per_s:>6.2f}x {spread:>15} "
            f"{f'{size:,.0f}' if size is not None else '-':>12}"
        )
    lines += [
        "vs raw = loanflow rate / raw rate; the budget (DESIGN.md) is at least 1.00x.",
        "blocks = slowest-fastest rate over the interleaved blocks (machine noise).",
        "state bytes = raw: SpiffWorkflow JSON with the spec; loanflow: stored state without it.",
    ]
    return "\n".join(lines)


def rate(variant: Variant | None) -> float | None:
    return None if variant is None else round(variant.per_s, 1)


def ratio(variant: Variant | None, raw: Variant) -> float | None:
    return None if variant is None else round(variant.per_s / raw.per_s, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="instances per variant (default 300)")
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_PG_URL,
        help="admin URL of a PostgreSQL server; a scratch database is created and dropped",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="afterwards run the SQLite variant under cProfile; top 25 cumulative to stderr",
    )
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")

    files = demo_files()
    print(
        f"demo_loan to its first wait: {args.n} instances per variant after {WARMUP} warm-up, "
        f"in interleaved blocks of {BLOCK}"
    )
    with ExitStack() as stack:
        raw = raw_variant(files)
        sqlite = stack.enter_context(sqlite_variant(files))
        postgres = stack.enter_context(postgres_variant(files, args.postgres_url))
        measure([v for v in (raw, sqlite, postgres) if v is not None], args.n)
        print(table(raw, [("loanflow on SQLite", sqlite), ("loanflow on PostgreSQL", postgres)]))
        if args.profile:
            profile(sqlite, args.n)
    figures = {
        "raw_per_s": rate(raw),
        "sqlite_per_s": rate(sqlite),
        "postgres_per_s": rate(postgres),
        "sqlite_ratio": ratio(sqlite, raw),
        "postgres_ratio": ratio(postgres, raw),
        "n": args.n,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
