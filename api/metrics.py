"""Prometheus metrics, computed from the store when scraped (nothing on the hot path).

Instances by tenant, process and state; jobs by topic and state; job latency (ready → done)
of jobs completed in the last hour; age of open user tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from loanflow.engine import Engine
from loanflow.engine.store.models import instances_table, jobs_table, user_tasks_table

__all__ = ["StoreCollector"]

LATENCY_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0)
AGE_BUCKETS = (60.0, 600.0, 3600.0, 4 * 3600.0, 86400.0, 2 * 86400.0, 7 * 86400.0, 30 * 86400.0)


def _histogram(
    values: list[float], buckets: tuple[float, ...]
) -> tuple[list[tuple[str, float]], float]:
    counts = []
    for bound in buckets:
        counts.append((repr(bound), float(sum(1 for v in values if v <= bound))))
    counts.append(("+Inf", float(len(values))))
    return counts, float(sum(values))


class StoreCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        now = self.engine.clock.now()
        with self.engine.db.connect() as conn:
            instances = GaugeMetricFamily(
                "loanflow_instances",
                "process instances by state",
                labels=["tenant", "process", "state"],
            )
            for row in conn.execute(
                select(
                    instances_table.c.tenant,
                    instances_table.c.process_key,
                    instances_table.c.state,
                    func.count(),
                ).group_by(
                    instances_table.c.tenant, instances_table.c.process_key, instances_table.c.state
                )
            ):
                instances.add_metric([row[0], row[1], row[2]], row[3])
            yield instances

            jobs = GaugeMetricFamily(
                "loanflow_jobs",
                "jobs by topic and state (failed = incident)",
                labels=["topic", "state"],
            )
            for row in conn.execute(
                select(jobs_table.c.topic, jobs_table.c.state, func.count()).group_by(
                    jobs_table.c.topic, jobs_table.c.state
                )
            ):
                jobs.add_metric([row[0], row[1]], row[2])
            yield jobs

            latency = HistogramMetricFamily(
                "loanflow_job_latency_seconds",
                "created → completed, jobs completed in the last hour",
                labels=["topic"],
            )
            per_topic: dict[str, list[float]] = {}
            for row in conn.execute(
                select(jobs_table.c.topic, jobs_table.c.created_at, jobs_table.c.completed_at)
                .where(
                    jobs_table.c.state == "completed",
                    jobs_table.c.completed_at >= now - timedelta(hours=1),
                )
                .limit(100_000)
            ):
                per_topic.setdefault(row[0], []).append(max((row[2] - row[1]).total_seconds(), 0.0))
            for topic, values in per_topic.items():
                buckets, total = _histogram(values, LATENCY_BUCKETS)
                latency.add_metric([topic], buckets, total)
            yield latency

            ages = [
                max((now - created).total_seconds(), 0.0)
                for (created,) in conn.execute(
                    select(user_tasks_table.c.created_at)
                    .where(user_tasks_table.c.state == "open")
                    .limit(100_000)
                )
            ]
            age = HistogramMetricFamily("loanflow_user_task_age_seconds", "age of open user tasks")
            buckets, total = _histogram(ages, AGE_BUCKETS)
            age.add_metric([], buckets, total)
            yield age
