"""The ``video.open_session`` worker, bound to one :class:`VideoService`.

Made by :func:`video_workers` around a service (like ``contract_workers``) because the
sessions live in that service's memory, next to the peer connections::

    service = VideoService(engine, VideoSettings())
    registry = WorkerRegistry([*BUILTIN_WORKERS, *video_workers(service)])

The diagram then waits for the message :data:`OUTCOME_MESSAGE`, correlated by
``video_session_id`` (see ``tests/diagrams/video_signing.bpmn``), with a timer boundary at
``video['expires_at']``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from loanflow.workers.sdk import worker
from loanflow.workers.video._service import VideoService

__all__ = ["OpenSessionInput", "OpenSessionOutput", "video_workers"]


class OpenSessionInput(BaseModel):
    tenant: str = Field(description="filled in by the runner from the job")
    instance_id: str = Field(description="filled in by the runner from the job")
    product: str = Field("*", max_length=64, description="selects the disclosure script")
    locale: str = Field("zh-CN", description="zh-CN or en: the script's language")


class OpenSessionOutput(BaseModel):
    session_id: str
    expires_at: str = Field(description="ISO 8601; the diagram's timer boundary uses it")
    customer_url: str = Field(description="the customer's H5 page, token in the fragment")
    agent_url: str
    customer_token: str = Field(description="for a native app; the same as in the link")
    agent_token: str
    script_id: str
    disclosures: int


def video_workers(service: VideoService) -> list[Callable[..., Any]]:
    """``video.open_session`` working on ``service``."""

    @worker("video.open_session", retries=3, backoff=5.0)
    def open_session(job: OpenSessionInput) -> OpenSessionOutput:
        """Open a dual-recording session for the loan: links for customer and agent, script.

        Running twice for one instance (at-least-once delivery) returns the same session.
        """
        session, tokens = service.open_session(job.tenant, job.instance_id, job.product, job.locale)
        return OpenSessionOutput(
            session_id=session.id,
            expires_at=session.expires_at.isoformat(),
            customer_url=service.link("customer", tokens["customer"]),
            agent_url=service.link("agent", tokens["agent"]),
            customer_token=tokens["customer"],
            agent_token=tokens["agent"],
            script_id=session.script.id,
            disclosures=len(session.script.disclosures),
        )

    open_session.video_service = service  # type: ignore[attr-defined]
    return [open_session]
