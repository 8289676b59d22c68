"""Completion callbacks: deliver the outbox rows, signed, with retries and backoff.

Each delivery is a POST of the JSON payload with ``X-Loanflow-Signature: sha256=<hex>`` (HMAC
of the exact body with the webhook secret), ``X-Loanflow-Event`` and ``X-Loanflow-Delivery``
(the outbox id: receivers de-duplicate with it, since delivery is at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from loanflow.api.settings import ApiSettings
from loanflow.engine import Engine
from loanflow.engine.store.models import outbox_table as outbox

__all__ = ["MAX_ATTEMPTS", "WebhookSender", "sign"]

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 10


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookSender:
    def __init__(self, engine: Engine, settings: ApiSettings, *, timeout: float = 10.0) -> None:
        self.engine = engine
        self.secret = settings.webhook_secret.get_secret_value().encode()
        self.interval = settings.webhook_interval
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="loanflow-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("webhook sweep failed")
            self._stop.wait(self.interval)

    def run_once(self, limit: int = 50) -> int:
        """Deliver what is due; returns the number of attempts made."""
        attempts = 0
        for _ in range(limit):
            if not self._deliver_one():
                break
            attempts += 1
        return attempts

    def _deliver_one(self) -> bool:
        now = self.engine.clock.now()
        with self.engine.db.begin() as conn:
            query = (
                select(outbox)
                .where(outbox.c.state == "pending", outbox.c.next_attempt_at <= now)
                .order_by(outbox.c.next_attempt_at)
                .limit(1)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).one_or_none()
            if row is None:
                return False
            body = json.dumps(row.payload, ensure_ascii=False, sort_keys=True).encode()
            error = None
            try:
                response = self.client.post(
                    row.url,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-Loanflow-Signature": sign(self.secret, body),
                        "X-Loanflow-Event": str(row.payload.get("event", "")),
                        "X-Loanflow-Delivery": row.id,
                    },
                )
                if not 200 <= response.status_code < 300:
                    error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            attempts = row.attempts + 1
            if error is None:
                values = {"state": "delivered", "attempts": attempts, "delivered_at": now}
            elif attempts >= MAX_ATTEMPTS:
                values = {"state": "failed", "attempts": attempts, "last_error": error}
            else:
                delay = min(5 * 2 ** (attempts - 1), 3600)
                values = {
                    "attempts": attempts,
                    "last_error": error,
                    "next_attempt_at": now + timedelta(seconds=delay),
                }
            conn.execute(update(outbox).where(outbox.c.id == row.id).values(**values))
            if error is not None:
                log.warning(
                    "webhook %s to %s failed (%s), attempt %s", row.id, row.url, error, attempts
                )
        return True
