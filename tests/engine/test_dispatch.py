"""Dispatch through Redis Streams, against a real Redis and the engine on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from factories import CALLS
from redis import Redis
from typer.testing import CliRunner

from loanflow.engine import Engine
from loanflow.engine.cli import app
from loanflow.engine.dispatch import StreamConsumer, StreamPublisher, stream_key

ECHO_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_echo" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="echo_once" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="echo" name="Echo">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="test.echo" resultVariable="echoed">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="value" type="str" value="key"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="echo"/>
    <bpmn:sequenceFlow id="f2" sourceRef="echo" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


TEST_REDIS = os.environ.get("LOANFLOW_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def publisher(redis_client: Redis, redis_prefix: str) -> Iterator[StreamPublisher]:
    built = StreamPublisher(redis_client, redis_prefix)
    yield built
    built.close()


def consumer(
    engine: Engine, redis: Redis, prefix: str, name: str = "live", **kwargs: float
) -> StreamConsumer:
    return StreamConsumer(
        engine, redis, topics=["test.echo"], consumer_name=name, prefix=prefix, **kwargs
    )


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def start_echo(engine: Engine) -> tuple[str, str]:
    """Deploy and start the one-task echo process; returns the instance id and its key."""
    engine.deploy({"echo_once.bpmn": ECHO_BPMN}, tenant="enshi")
    key = uuid.uuid4().hex
    started = engine.start("enshi", "echo_once", variables={"key": key})
    return started.id, key


def stream_length(redis: Redis, prefix: str) -> int:
    length: int = redis.xlen(stream_key(prefix, "test.echo"))
    return length


def assert_done_once(engine: Engine, instance_id: str, key: str) -> None:
    instance = engine.get_instance("enshi", instance_id)
    assert instance.state == "completed"
    assert instance.variables is not None
    assert instance.variables["echoed"] == {"echoed": key, "calls": 1}
    assert CALLS[repr(key)] == 1


def test_a_committed_job_is_published_consumed_and_run_once(
    engine: Engine, redis_client: Redis, redis_prefix: str, publisher: StreamPublisher
) -> None:
    publisher.attach(engine)
    instance_id, key = start_echo(engine)
    wait_for(lambda: stream_length(redis_client, redis_prefix) >= 1)
    [job] = engine.job_list("enshi", instance_id=instance_id)
    publisher.publish("test.echo", job.id)  # a duplicate hint changes nothing

    handled = consumer(engine, redis_client, redis_prefix).run_once()

    assert handled == 2
    assert_done_once(engine, instance_id, key)
    assert engine.job_list("enshi", instance_id=instance_id)[0].state == "completed"
    pending = redis_client.xpending(stream_key(redis_prefix, "test.echo"), "loanflow")
    assert pending["pending"] == 0


def test_a_flushed_stream_is_refilled_by_the_sweeper(
    engine: Engine, redis_client: Redis, redis_prefix: str, publisher: StreamPublisher
) -> None:
    publisher.attach(engine)
    instance_id, key = start_echo(engine)
    wait_for(lambda: stream_length(redis_client, redis_prefix) >= 1)
    redis_client.delete(stream_key(redis_prefix, "test.echo"))  # Redis restarted empty
    live = consumer(engine, redis_client, redis_prefix)
    assert live.run_once() == 0

    assert publisher.sweep(engine, grace=0) == 1
    assert live.run_once() == 1

    assert_done_once(engine, instance_id, key)


def test_a_dead_consumers_delivery_is_reclaimed(
    engine: Engine, redis_client: Redis, redis_prefix: str, publisher: StreamPublisher
) -> None:
    live = consumer(engine, redis_client, redis_prefix, claim_idle=0.05)
    live.ensure_groups()
    publisher.attach(engine)
    instance_id, key = start_echo(engine)
    wait_for(lambda: stream_length(redis_client, redis_prefix) >= 1)
    stream = stream_key(redis_prefix, "test.echo")
    read = redis_client.xreadgroup("loanflow", "dead", {stream: ">"}, count=10)
    assert len(read[0][1]) == 1  # read, never acknowledged: the consumer died

    time.sleep(0.1)
    assert live.run_once() == 1

    assert_done_once(engine, instance_id, key)
    assert redis_client.xpending(stream, "loanflow")["pending"] == 0


def test_the_threaded_consumer_runs_jobs_as_they_are_committed(
    engine: Engine, redis_client: Redis, redis_prefix: str, publisher: StreamPublisher
) -> None:
    publisher.attach(engine)
    live = consumer(engine, redis_client, redis_prefix, block_ms=100)
    live.start()
    try:
        started = [start_echo(engine) for _ in range(3)]
        for instance_id, _key in started:
            wait_for(lambda i=instance_id: engine.get_instance("enshi", i).state == "completed")
    finally:
        live.stop()
    for instance_id, key in started:
        assert_done_once(engine, instance_id, key)


def test_a_running_consumer_survives_a_flush_of_its_streams(
    engine: Engine, redis_client: Redis, redis_prefix: str, publisher: StreamPublisher
) -> None:
    """After FLUSHDB the group is gone too (NOGROUP): the consumer makes it again."""
    publisher.attach(engine)
    live = consumer(engine, redis_client, redis_prefix, block_ms=100)
    live.start()
    try:
        first_id, first_key = start_echo(engine)
        wait_for(lambda: engine.get_instance("enshi", first_id).state == "completed")
        redis_client.delete(stream_key(redis_prefix, "test.echo"))  # stream and group gone
        second_id, second_key = start_echo(engine)
        wait_for(lambda: engine.get_instance("enshi", second_id).state == "completed")
    finally:
        live.stop()
    assert_done_once(engine, first_id, first_key)
    assert_done_once(engine, second_id, second_key)


@pytest.fixture
def db(tmp_path: Path, sqlite_template: Path) -> str:
    target = tmp_path / "cli.sqlite3"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


def test_cli_worker_refuses_an_unknown_topic(db: str) -> None:
    result = CliRunner().invoke(
        app,
        ["--database-url", db, "worker", "--topics", "no.such_topic", "--redis-url", TEST_REDIS],
    )
    assert result.exit_code == 2, result.output
    assert "no.such_topic" in result.output


def test_cli_worker_needs_topics(db: str) -> None:
    result = CliRunner().invoke(app, ["--database-url", db, "worker", "--once"])
    assert result.exit_code == 2, result.output
