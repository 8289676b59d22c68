"""In-process runners: the embedded worker pool and the timer scheduler (``loanflow serve``).

Both are fed from the store, never from memory, so a crash loses nothing: a job whose
worker died is taken again when its lock expires, and a due timer fires on the next sweep.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from loanflow.engine.engine import Engine
from loanflow.engine.errors import BusinessError, LoanflowError, WorkerError
from loanflow.engine.views import LockedJob
from loanflow.workers.sdk import run_worker

__all__ = ["EmbeddedRunner", "Scheduler"]

log = logging.getLogger(__name__)


class EmbeddedRunner:
    """Runs the engine's registered workers in a thread pool."""

    def __init__(
        self,
        engine: Engine,
        *,
        threads: int = 4,
        topics: Iterable[str] | None = None,
        worker_id: str | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        self.engine = engine
        self.registry = engine.workers
        self.threads = max(1, threads)
        self.topics = list(topics) if topics is not None else self.registry.topics()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:embedded"
        self.poll_interval = poll_interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._slots = threading.Semaphore(self.threads)
        self._pool: ThreadPoolExecutor | None = None
        self._loop: threading.Thread | None = None
        engine.on_new_jobs(self._wake.set)

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="loanflow-worker")
        self._loop = threading.Thread(target=self._run, name="loanflow-runner", daemon=True)
        self._loop.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop fetching; jobs already running finish (or their locks expire)."""
        self._stop.set()
        self._wake.set()
        if self._loop is not None:
            self._loop.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            fetched = 0
            try:
                fetched = self._fetch_and_submit()
            except Exception:
                log.exception("fetching jobs failed; retrying")
            if not fetched:
                self._wake.wait(self.poll_interval)
                self._wake.clear()

    def _fetch_and_submit(self) -> int:
        free = 0
        while self._slots.acquire(blocking=False):
            free += 1
        if not free:
            self._slots.acquire()
            free = 1
        try:
            jobs = self.engine.fetch_and_lock(self.worker_id, self.topics, free)
        except BaseException:
            for _ in range(free):
                self._slots.release()
            raise
        for _ in range(free - len(jobs)):
            self._slots.release()
        assert self._pool is not None
        for job in jobs:
            self._pool.submit(self._guarded, job)
        return len(jobs)

    def _guarded(self, job: LockedJob) -> None:
        try:
            self.execute(job)
        finally:
            self._slots.release()
            self._wake.set()

    def run_once(self, max_jobs: int = 100) -> int:
        """Fetch and execute due jobs in this thread (tests, ``worker call``); returns the count."""
        jobs = self.engine.fetch_and_lock(self.worker_id, self.topics, max_jobs)
        for job in jobs:
            self.execute(job)
        return len(jobs)

    def execute(self, job: LockedJob) -> None:
        definition = self.registry.get(job.topic)
        if definition is None:
            self.engine.fail_job(
                job.id, self.worker_id, f"no worker for topic {job.topic!r} here", retryable=False
            )
            return
        payload = job.input
        if "tenant" in definition.input_model.model_fields:
            # a worker that acts for a tenant acts for the job's own, never one named in data
            if payload.get("tenant", job.tenant) != job.tenant:
                self._settle(
                    self.engine.fail_job,
                    job.id,
                    f"the job belongs to tenant {job.tenant!r} but its input names "
                    f"{payload.get('tenant')!r}",
                    retryable=False,
                )
                return
            payload = {**payload, "tenant": job.tenant}
        if "instance_id" in definition.input_model.model_fields and not payload.get("instance_id"):
            payload = {**payload, "instance_id": job.instance_id}  # documents bind to the loan
        try:
            output = run_worker(definition, payload)
        except BusinessError as exc:
            self._settle(self.engine.throw_bpmn_error, job.id, exc.code, exc.message, exc.variables)
        except WorkerError as exc:
            self._settle(self.engine.fail_job, job.id, exc.message, retryable=exc.retryable)
        except Exception as exc:  # noqa: BLE001 - any other failure is retryable by contract
            details = traceback.format_exc(limit=20)
            message = f"{type(exc).__name__}: {exc}"
            self._settle(self.engine.fail_job, job.id, message, details=details)
        else:
            self._settle(self.engine.complete_job, job.id, output)

    def _settle(self, action: Callable[..., None], job_id: str, *args: Any, **kwargs: Any) -> None:
        try:
            action(job_id, self.worker_id, *args, **kwargs)
        except LoanflowError as exc:
            log.warning("outcome of job %s not applied: %s", job_id, exc)


class Scheduler:
    """Fires due timers every ``interval`` seconds."""

    def __init__(self, engine: Engine, interval: float = 1.0) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="loanflow-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.engine.fire_due_timers()
            except Exception:
                log.exception("timer sweep failed; retrying")
            self._stop.wait(self.interval)
