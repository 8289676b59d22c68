"""``loanflow worker --topics …``: a worker process fed through Redis Streams.

It consumes the topics' streams through a consumer group, locks each job in the database (the
table stays the truth), runs the registered worker and completes or fails the job; it also
announces the jobs its own completions create and sweeps the table for jobs the streams lost.
Without a Redis URL it polls the table like the embedded runner. SIGINT or SIGTERM stop it:
reading ends, running jobs finish, the exit status is 0.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from loanflow.engine.cli._common import (
    _fail,
    _guard,
    _out,
    _redacted,
    _run_until_signal,
    _session,
    _settings,
    _start_metrics,
)
from loanflow.engine.engine import Engine
from loanflow.engine.settings import EngineSettings

_FAMILIES = ("contract.", "ocr.", "risk.")


def _add_families(engine: Engine, settings: EngineSettings, topics: list[str]) -> None:
    """Register the worker families built on the engine (as ``serve`` does), when asked for."""
    from loanflow.engine.cli._serve import (
        _add_evidence_workers,
        _add_ocr_workers,
        _add_risk_workers,
    )

    wanted = {family for family in _FAMILIES for t in topics if t.startswith(family)}
    vault = None
    if "contract." in wanted or "ocr." in wanted:
        vault = _add_evidence_workers(engine, settings.demo)
    if "ocr." in wanted:
        _add_ocr_workers(engine, vault)
    if "risk." in wanted:
        _add_risk_workers(engine, settings)


@_guard
def worker_run(
    ctx: typer.Context,
    topics: Annotated[
        str | None,
        typer.Option("--topics", help="comma-separated topics to serve, e.g. ocr.id_card,risk.x"),
    ] = None,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="jobs run at the same time")
    ] = 4,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            help="Redis to consume from (default: $LOANFLOW_REDIS_URL; without it the job "
            "table is polled)",
            show_default=False,
        ),
    ] = None,
    group: Annotated[str, typer.Option("--group", help="Redis consumer group")] = "loanflow",
    once: Annotated[
        bool, typer.Option("--once", help="handle the jobs waiting now, then exit")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", min=1, max=65535, help="serve /metrics on this port"),
    ] = None,
) -> None:
    """Serve worker topics from Redis Streams (``loanflow worker --topics a,b``)."""
    if ctx.invoked_subcommand is not None:
        return
    if not topics:
        _fail("--topics is required, e.g. loanflow worker --topics ocr.id_card", 2)
    wanted = list(dict.fromkeys(t.strip() for t in topics.split(",") if t.strip()))
    settings = _settings(ctx)
    url = redis_url or settings.redis_url
    out = _out()
    with _session(settings) as engine:
        _add_families(engine, settings, wanted)
        unknown = [t for t in wanted if engine.workers.get(t) is None]
        if unknown:
            known = ", ".join(engine.workers.topics()) or "none"
            _fail(
                f"no worker registered here for topic(s) {', '.join(unknown)} (known: {known})",
                2,
            )
        out.print(f"database: {_redacted(settings.database_url)}", soft_wrap=True)
        _start_metrics(metrics_port)
        if url:
            _consume(engine, url, wanted, concurrency, group, once)
        else:
            _poll(engine, wanted, concurrency, once)


def _consume(
    engine: Engine, url: str, topics: list[str], concurrency: int, group: str, once: bool
) -> None:
    from redis import Redis, RedisError

    from loanflow.engine.dispatch import StreamConsumer, StreamPublisher, start_sweeper

    out = _out()
    redis = Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5)
    try:
        redis.ping()
    except (RedisError, OSError) as exc:
        _fail(f"cannot reach Redis at {_redacted(url)}: {exc}", 1)
    publisher = StreamPublisher(redis)
    consumer = StreamConsumer(
        engine,
        redis,
        topics=topics,
        group=group,
        consumer_name=f"{os.uname().nodename}:{os.getpid()}",
        concurrency=concurrency,
    )
    out.print(
        f"consuming {', '.join(topics)} from Redis {_redacted(url)} "
        f"(group {group}, {concurrency} at a time)",
        soft_wrap=True,
    )
    publisher.attach(engine)
    try:
        if once:
            publisher.sweep(engine)
            out.print(f"handled {consumer.run_once()} messages")
            return
        sweeper = start_sweeper(engine, publisher)
        consumer.start()
        try:
            _run_until_signal("worker")
        finally:
            consumer.stop()
            sweeper.stop()
    finally:
        publisher.close()
        redis.close()
    out.print("stopped")


def _poll(engine: Engine, topics: list[str], concurrency: int, once: bool) -> None:
    from loanflow.engine.runner import EmbeddedRunner

    out = _out()
    out.print(
        f"no Redis URL (--redis-url or LOANFLOW_REDIS_URL): polling the job table for "
        f"{', '.join(topics)} ({concurrency} at a time)",
        soft_wrap=True,
    )
    runner = EmbeddedRunner(engine, threads=concurrency, topics=topics)
    if once:
        out.print(f"handled {runner.run_once()} jobs")
        return
    runner.start()
    try:
        _run_until_signal("worker")
    finally:
        runner.stop()
    out.print("stopped")
