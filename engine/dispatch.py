"""Distributed dispatch: committed jobs announced on Redis Streams, consumed by worker processes.

A stream message is only a wake-up hint ("a job of this topic is ready"); the job table stays
the truth. A consumer that receives a hint locks *a* ready job of that topic with
:meth:`Engine.fetch_and_lock`, so two hints for one job, or a hint for a job another worker
already took, change nothing. Losing Redis (restart, flush, trim) delays work but loses none:
:meth:`StreamPublisher.sweep` reads the table and announces jobs that are due but were never
picked up, retries whose backoff passed and jobs whose lock expired; deliveries left pending by
a dead consumer are reclaimed with ``XAUTOCLAIM``.

Keys: ``{prefix}jobs:{topic}``, one stream per topic, trimmed approximately to ``maxlen``;
one consumer group per worker pool (``loanflow`` by default).
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from redis import Redis, RedisError, ResponseError
from sqlalchemy import and_, or_, select

from loanflow.engine.commands import jobs
from loanflow.engine.engine import Engine
from loanflow.engine.runner import EmbeddedRunner
from loanflow.workers.registry import WorkerRegistry

__all__ = ["StreamConsumer", "StreamPublisher", "Sweeper", "start_sweeper", "stream_key"]

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "loanflow:"
DEFAULT_GROUP = "loanflow"


def stream_key(prefix: str, topic: str) -> str:
    return f"{prefix}jobs:{topic}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class StreamPublisher:
    """Announces ready jobs on their topic's stream.

    ``republish_after`` is how long a ready job may wait, never fetched, before a sweep
    announces it again (its first message may have been lost); it also keeps one publisher
    from announcing the same job twice within that time.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str = DEFAULT_PREFIX,
        *,
        maxlen: int = 100_000,
        batch: int = 500,
        republish_after: float = 10.0,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.maxlen = maxlen
        self.batch = batch
        self.republish_after = republish_after
        self._recent: dict[str, float] = {}
        self._recent_lock = threading.Lock()
        self._wake = queue.SimpleQueue[bool]()
        self._thread: threading.Thread | None = None

    def publish(self, topic: str, job_id: str) -> None:
        self.redis.xadd(
            stream_key(self.prefix, topic),
            {"job": job_id, "topic": topic},
            maxlen=self.maxlen,
            approximate=True,
        )

    def publish_many(self, items: Iterable[tuple[str, str]]) -> int:
        """Announce ``(topic, job_id)`` pairs in one round trip, skipping recent ones."""
        now = time.monotonic()
        fresh: list[tuple[str, str]] = []
        with self._recent_lock:
            if len(self._recent) > 10 * self.batch:
                self._recent = {
                    k: t for k, t in self._recent.items() if now - t < self.republish_after
                }
            for topic, job_id in items:
                seen = self._recent.get(job_id)
                if seen is not None and now - seen < self.republish_after:
                    continue
                self._recent[job_id] = now
                fresh.append((topic, job_id))
        if not fresh:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for topic, job_id in fresh:
            pipe.xadd(
                stream_key(self.prefix, topic),
                {"job": job_id, "topic": topic},
                maxlen=self.maxlen,
                approximate=True,
            )
        try:
            pipe.execute()
        except RedisError:
            with self._recent_lock:
                for _, job_id in fresh:
                    self._recent.pop(job_id, None)
            raise
        return len(fresh)

    def publish_ready(self, engine: Engine) -> int:
        """Announce ready, due jobs (bounded by ``batch``) not announced recently."""
        now = engine.clock.now()
        query = (
            select(jobs.c.id, jobs.c.topic)
            .where(jobs.c.state == "ready", jobs.c.next_attempt_at <= now)
            .order_by(jobs.c.created_at.desc())
            .limit(self.batch)
        )
        with engine.db.connect() as conn:
            rows = conn.execute(query).all()
        return self.publish_many((r.topic, r.id) for r in rows)

    def sweep(self, engine: Engine, *, grace: float | None = None) -> int:
        """Announce what the streams may have lost; returns how many jobs were announced.

        That is: retries whose backoff passed, jobs whose lock expired, and jobs due for
        longer than ``grace`` seconds (default ``republish_after``) that nobody fetched.
        """
        grace = self.republish_after if grace is None else grace
        now = engine.clock.now()
        stale = now - timedelta(seconds=grace)
        due = or_(
            and_(jobs.c.state == "ready", jobs.c.attempts > 0, jobs.c.next_attempt_at <= now),
            and_(jobs.c.state == "ready", jobs.c.next_attempt_at <= stale),
            and_(jobs.c.state == "locked", jobs.c.lock_expires_at < now),
        )
        query = (
            select(jobs.c.id, jobs.c.topic)
            .where(due)
            .order_by(jobs.c.next_attempt_at)
            .limit(self.batch)
        )
        with engine.db.connect() as conn:
            rows = conn.execute(query).all()
        if grace == 0:
            with self._recent_lock:
                for r in rows:
                    self._recent.pop(r.id, None)
        return self.publish_many((r.topic, r.id) for r in rows)

    def attach(self, engine: Engine) -> None:
        """Announce jobs after every command that created some, from a background thread."""
        if self._thread is not None:
            return
        engine.on_new_jobs(lambda: self._wake.put(True))
        self._thread = threading.Thread(
            target=self._run, args=(engine,), name="loanflow-publisher", daemon=True
        )
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the background publisher (jobs not yet announced are left to the sweeper)."""
        if self._thread is not None:
            self._wake.put(False)
            self._thread.join(timeout)
            self._thread = None

    def _run(self, engine: Engine) -> None:
        while True:
            keep = self._wake.get()
            while not self._wake.empty():  # coalesce a burst of notifications into one query
                keep = self._wake.get() and keep
            if not keep:
                return
            try:
                self.publish_ready(engine)
            except Exception:
                log.exception("publishing new jobs failed; the sweeper will announce them")


class Sweeper:
    """Runs :meth:`StreamPublisher.sweep` every ``interval`` seconds in a thread."""

    def __init__(self, publisher: StreamPublisher, engine: Engine, interval: float) -> None:
        self.publisher = publisher
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loanflow-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.publisher.sweep(self.engine)
            except Exception:
                log.exception("sweeping jobs into the streams failed; retrying")
            self._stop.wait(self.interval)


def start_sweeper(engine: Engine, publisher: StreamPublisher, interval: float = 5.0) -> Sweeper:
    """Start a sweeper thread; call ``stop()`` on the result to end it."""
    sweeper = Sweeper(publisher, engine, interval)
    sweeper.start()
    return sweeper


class StreamConsumer:
    """Reads job hints of ``topics`` through a consumer group and runs the jobs.

    Each message is acknowledged once handled, whatever the job's outcome: retries are the
    table's business. Messages left pending longer than ``claim_idle`` seconds (a dead
    consumer's) are taken over with ``XAUTOCLAIM`` every ``claim_interval`` seconds.
    """

    def __init__(
        self,
        engine: Engine,
        redis: Redis,
        registry: WorkerRegistry | None = None,
        topics: Sequence[str] | None = None,
        *,
        group: str = DEFAULT_GROUP,
        consumer_name: str | None = None,
        concurrency: int = 4,
        prefix: str = DEFAULT_PREFIX,
        block_ms: int = 1000,
        claim_idle: float = 60.0,
        claim_interval: float = 5.0,
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.registry = registry if registry is not None else engine.workers
        self.topics = list(topics) if topics is not None else self.registry.topics()
        self.group = group
        self.consumer_name = consumer_name or f"{socket.gethostname()}:{os.getpid()}"
        self.worker_id = f"{self.consumer_name}:stream"
        self.concurrency = max(1, concurrency)
        self.prefix = prefix
        self.block_ms = block_ms
        self.claim_idle = claim_idle
        self.claim_interval = claim_interval
        self.keys = {stream_key(prefix, t): t for t in self.topics}
        self._runner = EmbeddedRunner(engine, topics=self.topics, worker_id=self.worker_id)
        self._runner.registry = self.registry
        self._stop = threading.Event()
        self._slots = threading.Semaphore(self.concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._loop: threading.Thread | None = None
        self._next_claim = 0.0
        self.handled = 0

    def ensure_groups(self) -> None:
        for key in self.keys:
            try:
                self.redis.xgroup_create(key, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    # -- running ------------------------------------------------------------------------

    def start(self) -> None:
        self.ensure_groups()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="loanflow-stream")
        self._loop = threading.Thread(target=self._run, name="loanflow-consumer", daemon=True)
        self._loop.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop reading; running jobs finish (their messages are then acknowledged)."""
        self._stop.set()
        if self._loop is not None:
            self._loop.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def run_once(self) -> int:
        """Handle every hint waiting now (reclaimed ones included) in this thread."""
        self.ensure_groups()
        handled = 0
        while True:
            batch = self._claim(100, force=True) + self._read(100, block=False)
            if not batch:
                return handled
            handled += self._handle_batch(batch)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                free = self._take_slots()
                try:
                    batch = self._claim(free) or self._read(free, block=True)
                except BaseException:
                    self._give_slots(free)
                    raise
                self._give_slots(free - len(batch))
                assert self._pool is not None
                skip: set[str] = set()
                for key, message_id in batch:
                    self._pool.submit(self._guarded, key, message_id, skip)
            except ResponseError as exc:
                if "NOGROUP" in str(exc):
                    # the streams were flushed (a Redis restart or FLUSHDB): make them again
                    log.warning("job streams or their group are gone; creating them again")
                    self._recreate_groups()
                else:
                    log.exception("reading job streams failed; retrying")
                    self._stop.wait(1.0)
            except Exception:
                log.exception("reading job streams failed; retrying")
                self._stop.wait(1.0)

    def _recreate_groups(self) -> None:
        try:
            self.ensure_groups()
        except Exception:
            log.exception("creating the job streams' group failed; retrying")
            self._stop.wait(1.0)

    def _take_slots(self) -> int:
        free = 0
        while self._slots.acquire(blocking=False):
            free += 1
        while not free and not self._stop.is_set():
            if self._slots.acquire(timeout=0.5):
                free = 1
        return free

    def _give_slots(self, count: int) -> None:
        for _ in range(count):
            self._slots.release()

    def _guarded(self, key: str, message_id: str, skip: set[str]) -> None:
        try:
            self._handle(key, message_id, skip)
        except Exception:
            log.exception("handling message %s of %s failed", message_id, key)
        finally:
            self._slots.release()

    # -- reading ------------------------------------------------------------------------

    def _read(self, count: int, *, block: bool) -> list[tuple[str, str]]:
        if not count or (block and self._stop.is_set()):
            return []
        response: Any = self.redis.xreadgroup(
            self.group,
            self.consumer_name,
            dict.fromkeys(self.keys, ">"),
            count=count,
            block=self.block_ms if block else None,
        )
        return [
            (_text(key), _text(message_id))
            for key, messages in response or []
            for message_id, _fields in messages
        ]

    def _claim(self, count: int, *, force: bool = False) -> list[tuple[str, str]]:
        """Take over deliveries idle longer than ``claim_idle`` (a dead consumer's)."""
        now = time.monotonic()
        if not count or (not force and now < self._next_claim):
            return []
        self._next_claim = now + self.claim_interval
        claimed: list[tuple[str, str]] = []
        for key in self.keys:
            if len(claimed) >= count:
                break
            response: Any = self.redis.xautoclaim(
                key,
                self.group,
                self.consumer_name,
                min_idle_time=int(self.claim_idle * 1000),
                start_id="0-0",
                count=count - len(claimed),
            )
            for message_id, fields in response[1]:
                if fields is not None:  # None: trimmed away while pending
                    claimed.append((key, _text(message_id)))
                else:
                    self.redis.xack(key, self.group, message_id)
        if claimed:
            log.info("reclaimed %d idle job messages", len(claimed))
        return claimed

    # -- handling -----------------------------------------------------------------------

    def _handle_batch(self, batch: list[tuple[str, str]]) -> int:
        skip: set[str] = set()
        for key, message_id in batch:
            self._handle(key, message_id, skip)
        return len(batch)

    def _handle(self, key: str, message_id: str, skip: set[str]) -> None:
        """Lock a ready job of the message's topic, run it, acknowledge the message.

        ``skip`` holds topics found empty in this batch: the batch's other hints for them
        were for jobs already taken, so they are acknowledged without asking the table.
        """
        topic = self.keys[key]
        try:
            if topic in skip:
                return
            definition = self.engine.workers.get(topic)
            lock_seconds = definition.lock_seconds if definition is not None else None
            locked = self.engine.fetch_and_lock(
                self.worker_id, [topic], 1, lock_seconds=lock_seconds
            )
            if not locked:
                skip.add(topic)
                return
            for job in locked:
                self._runner.execute(job)
                self.handled += 1
        finally:
            self.redis.xack(key, self.group, message_id)
