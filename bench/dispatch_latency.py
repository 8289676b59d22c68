"""Dispatch latency through Redis Streams: job committed → worker starts, on PostgreSQL.

One engine starts instances of a one-service-task process (its publisher announces each job
after commit); a second engine on the same database consumes the stream in a thread, as a
``loanflow worker`` process would. Instances are started one at a time, each after the
previous job completed, so the figure is the idle-path latency, not queueing.

    .venv/bin/python bench/dispatch_latency.py [--jobs 500] [--concurrency 4]

Needs PostgreSQL ($LOANFLOW_TEST_POSTGRES) and Redis ($LOANFLOW_TEST_REDIS); creates and
drops a database and a key prefix of its own. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid

from pydantic import BaseModel
from redis import Redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from loanflow.engine import Engine, EngineSettings
from loanflow.engine.dispatch import StreamConsumer, StreamPublisher
from loanflow.engine.store.db import connect, migrate
from loanflow.workers import WorkerRegistry, worker

PG_URL = os.environ.get(
    "LOANFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("LOANFLOW_TEST_REDIS", "redis://127.0.0.1:6379/0")

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="Definitions_bench" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="bench_dispatch" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="noop" name="No-op">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="bench.noop" resultVariable="out">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="key" type="str" value="key"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="noop"/>
    <bpmn:sequenceFlow id="f2" sourceRef="noop" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""

STARTED: dict[str, float] = {}
ARRIVED = threading.Event()


class NoopIn(BaseModel):
    key: str


class NoopOut(BaseModel):
    ok: bool = True


@worker("bench.noop", retries=0)
def noop(data: NoopIn) -> NoopOut:
    STARTED[data.key] = time.perf_counter()
    ARRIVED.set()
    return NoopOut()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    name = f"loanflow_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    redis = Redis.from_url(REDIS_URL, socket_timeout=10)
    prefix = f"loanflow-bench:{uuid.uuid4().hex[:8]}:"
    registry = WorkerRegistry([noop])
    committed: dict[str, float] = {}
    current: list[str] = [""]
    try:
        db = connect(url)
        migrate(db)
        db.dispose()
        producer = Engine(EngineSettings(database_url=url), workers=registry)
        consumer_engine = Engine(EngineSettings(database_url=url), workers=registry)
        # registered before the publisher's listener: the moment the command has committed
        producer.on_new_jobs(lambda: committed.setdefault(current[0], time.perf_counter()))
        publisher = StreamPublisher(redis, prefix)
        publisher.attach(producer)
        producer.deploy({"bench.bpmn": BPMN}, tenant="bench")
        consumer = StreamConsumer(
            consumer_engine,
            redis,
            topics=["bench.noop"],
            consumer_name="bench",
            concurrency=args.concurrency,
            prefix=prefix,
        )
        consumer.start()
        warmup = 20
        for n in range(args.jobs + warmup):
            key = f"k{n}"
            current[0] = key
            ARRIVED.clear()
            producer.start("bench", "bench_dispatch", variables={"key": key})
            if not ARRIVED.wait(10):
                raise SystemExit(f"job {key} was not dispatched within 10 s")
            # the consumer shares this process's GIL: let it finish the job (complete_job
            # is CPU work) before the next commit, as a separate worker process would
            while consumer.handled < n + 1:
                time.sleep(0.0005)
        consumer.stop()
        publisher.close()
        producer.close()
        consumer_engine.close()
    finally:
        redis.delete(*(list(redis.scan_iter(match=f"{prefix}*")) or ["-"]))
        redis.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    latencies = [
        (STARTED[k] - committed[k]) * 1000
        for k in (f"k{n}" for n in range(warmup, warmup + args.jobs))
    ]
    result = {
        "bench": "dispatch_latency",
        "database": "postgresql",
        "transport": "redis-streams",
        "jobs": len(latencies),
        "p50_ms": round(statistics.median(latencies), 3),
        "p90_ms": round(percentile(latencies, 0.90), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies), 3),
        "target_p50_ms": 5.0,
        "target_p99_ms": 50.0,
    }
    result["meets_target"] = result["p50_ms"] < 5.0 and result["p99_ms"] < 50.0
    print(f"{'metric':<10} {'ms':>10}")
    for label in ("p50", "p90", "p99", "max"):
        print(f"{label:<10} {result[f'{label}_ms']:>10.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
