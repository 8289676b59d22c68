"""Many threads on one PostgreSQL database: each job locked once, one winner per user task."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from factories import diagram, only, registry

from loanflow.engine import Conflict, Engine, EngineSettings
from loanflow.engine.runner import EmbeddedRunner

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    from conftest import _truncate

    _truncate(pg_url)
    engine = Engine(EngineSettings(database_url=pg_url), workers=registry())
    yield engine
    engine.close()


def test_many_workers_fetch_each_job_once(pg_engine: Engine) -> None:
    pg_engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    for n in range(40):
        pg_engine.start(
            "enshi", "basic_loan", business_key=f"A-{n}", variables={"amount": 1000 + n, "term": 6}
        )
    fetched: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(number: int) -> None:
        barrier.wait()
        while True:
            jobs = pg_engine.fetch_and_lock(f"w{number}", ["calc.repayment_schedule"], 3)
            if not jobs:
                return
            with lock:
                fetched.extend(job.id for job in jobs)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    counts = Counter(fetched)
    assert len(counts) == 40
    assert max(counts.values()) == 1


def test_concurrent_completions_of_one_task_have_one_winner(pg_engine: Engine) -> None:
    pg_engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    started = pg_engine.start("enshi", "basic_loan", variables={"amount": 1000, "term": 6})
    EmbeddedRunner(pg_engine).run_once()
    task = only(pg_engine.user_tasks("enshi"))
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(10)

    def complete(number: int) -> None:
        barrier.wait()
        try:
            pg_engine.complete_user_task(
                "enshi", task.id, {"decision": "approve", "comment": str(number)}
            )
            result = "won"
        except Conflict:
            result = "conflict"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=complete, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["conflict"] * 9 + ["won"]
    kinds = [e["kind"] for e in pg_engine.audit_events("enshi", started.id)]
    assert kinds.count("task.completed") == 1
    assert pg_engine.get_instance("enshi", started.id).state == "completed"
    assert pg_engine.verify_audit("enshi", started.id).ok


def test_concurrent_job_completions_and_runner_threads_lose_nothing(pg_engine: Engine) -> None:
    pg_engine.deploy(diagram("spiff_basic.bpmn", "review.json"), tenant="enshi")
    ids = [
        pg_engine.start("enshi", "basic_loan", variables={"amount": 500 + n, "term": 3}).id
        for n in range(30)
    ]
    runners = [
        EmbeddedRunner(pg_engine, threads=3, worker_id=f"node{n}", poll_interval=0.05)
        for n in range(3)
    ]
    for runner in runners:
        runner.start()
    try:
        deadline = threading.Event()
        for _ in range(400):
            if len(pg_engine.user_tasks("enshi", limit=500)) == 30:
                break
            deadline.wait(0.05)
    finally:
        for runner in runners:
            runner.stop()
    assert len(pg_engine.user_tasks("enshi", limit=500)) == 30
    jobs = pg_engine.job_list("enshi", limit=500)
    assert len(jobs) == 30 and {j.state for j in jobs} == {"completed"}
    for instance_id in ids:
        kinds = [e["kind"] for e in pg_engine.audit_events("enshi", instance_id)]
        assert kinds.count("job.completed") == 1
