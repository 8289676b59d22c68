"""``Idempotency-Key``: a retried request returns the first result, never a second loan.

The key is claimed in its own committed transaction before the work starts, so concurrent
retries see it: they wait for the first request's answer (or get 409 if it takes too long).
A key reused with a different body is refused. A failed request releases its key.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from loanflow.engine import Conflict, Engine, InvalidInput
from loanflow.engine.store.models import idempotency_table as keys

__all__ = ["IdempotencyKeys"]


class IdempotencyKeys:
    def __init__(self, engine: Engine, wait_seconds: float = 10.0) -> None:
        self.engine = engine
        self.wait_seconds = wait_seconds

    def run(
        self, tenant: str, key: str, request: dict[str, Any], work: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """``work()``'s result, or the stored one for a retry; the flag says it was replayed."""
        digest = hashlib.sha256(
            json.dumps(request, sort_keys=True, default=str).encode()
        ).hexdigest()
        for _attempt in range(3):
            try:
                with self.engine.db.begin() as conn:
                    conn.execute(
                        insert(keys),
                        {
                            "tenant": tenant,
                            "key": key,
                            "request_hash": digest,
                            "status_code": None,
                            "response": None,
                            "created_at": self.engine.clock.now(),
                        },
                    )
                break
            except IntegrityError:
                stored = self._replay(tenant, key, digest)
                if stored is not None:
                    return stored, True
        else:
            raise Conflict("this Idempotency-Key is contended; retry later")
        try:
            result = work()
        except BaseException:
            with self.engine.db.begin() as conn:
                conn.execute(delete(keys).where(keys.c.tenant == tenant, keys.c.key == key))
            raise
        with self.engine.db.begin() as conn:
            conn.execute(
                update(keys)
                .where(keys.c.tenant == tenant, keys.c.key == key)
                .values(status_code=201, response=result)
            )
        return result, False

    def _replay(self, tenant: str, key: str, digest: str) -> dict[str, Any] | None:
        """The stored answer; None when the first request failed and released the key."""
        deadline = time.monotonic() + self.wait_seconds
        delay = 0.01
        while True:
            with self.engine.db.connect() as conn:
                row = conn.execute(
                    select(keys.c.request_hash, keys.c.response).where(
                        keys.c.tenant == tenant, keys.c.key == key
                    )
                ).one_or_none()
            if row is not None and row.request_hash != digest:
                raise InvalidInput(
                    "this Idempotency-Key was used with a different request",
                    {"Idempotency-Key": "reused with a different body"},
                )
            if row is not None and row.response is not None:
                response: dict[str, Any] = row.response
                return response
            if time.monotonic() > deadline:
                raise Conflict(
                    "a request with this Idempotency-Key is still in progress; retry later"
                )
            if row is None:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
