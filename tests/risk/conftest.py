"""Risk fixtures: a real Redis on loopback (skipped without it unless CI=true)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from redis import Redis

REDIS_URL = os.environ.get("LOANFLOW_TEST_REDIS", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def redis_client() -> Iterator[Redis]:
    client = Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        client.close()
        reason = f"Redis is not reachable at {REDIS_URL}"
        if IN_CI:
            pytest.fail(f"{reason} and CI=true: {exc}")
        pytest.skip(reason)
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: Redis) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"loanflow-test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        redis_client.delete(*keys)
