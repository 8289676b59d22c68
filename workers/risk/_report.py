"""An application's risk report: the machine part stored once, the human part read later.

``risk.report`` writes what the machines found (application summary, external data,
antifraud hits, scorecard results with the challenger's, every DMN decision and ``risk.*``
job the instance's audit log holds, the pricing trail, the final decision) as JSON in
``risk_reports``. ID and phone numbers are masked before anything is stored, wherever they
appear, so the report, its HTML and its PDF never carry one in full.

Reading a report adds the human decisions taken after it ("system decided X, approver chose
Y"): the ``task.completed`` and ``instance.cancelled`` events that follow it in the audit
log. They are found by audit sequence number, not by time, so a decision taken in the same
second as the report still counts as later.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, insert, select

from loanflow.engine.store.models import audit_table, risk_reports_table, user_tasks_table
from loanflow.workers.risk._models import Application
from loanflow.workers.risk._report_html import render_html, render_pdf
from loanflow.workers.sdk import worker

if TYPE_CHECKING:
    from loanflow.engine import Engine

__all__ = [
    "HUMAN_EVENT_KINDS",
    "ReportInput",
    "ReportOutput",
    "ReportService",
    "human_decisions",
    "mask_id_number",
    "mask_phone",
    "render_html",
    "render_pdf",
    "report_worker",
    "scrub",
]

log = logging.getLogger(__name__)

#: audit events that record a person's decision on the instance
HUMAN_EVENT_KINDS = ("task.completed", "instance.cancelled")
#: which report section a ``risk.*`` job's output fills when the worker was not given it
_SECTION_OF_TOPIC = {
    "risk.external_data": "external",
    "risk.antifraud": "antifraud",
    "risk.scorecard": "scorecard",
    "risk.pricing": "pricing",
}
SECTIONS = ("external", "antifraud", "scorecard", "pricing", "decision")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_APPROVE = {"approve", "approved", "accept", "accepted", "pass", "yes", "同意", "通过"}
_REJECT = {"reject", "rejected", "decline", "declined", "refuse", "no", "拒绝", "否决"}


def mask_id_number(number: str) -> str:
    """``420***********1234``: the region's first three digits and the last four."""
    return number[:3] + "*" * (len(number) - 7) + number[-4:] if len(number) > 7 else "****"


def mask_phone(number: str) -> str:
    """``138****5678``."""
    return number[:3] + "****" + number[-4:] if len(number) > 7 else "****"


def scrub(value: Any) -> Any:
    """``value`` as JSON data with every ID and mobile number in it masked, at any depth."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, str):
        value = _ID_NUMBER.sub(lambda m: mask_id_number(m.group()), value)
        return _PHONE.sub(lambda m: mask_phone(m.group()), value)
    if isinstance(value, Mapping):
        return {str(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))


def _application_summary(application: Application) -> dict[str, Any]:
    applicant = application.applicant
    summary: dict[str, Any] = {
        "id": application.id,
        "product": application.product,
        "amount": application.amount,
        "term_months": application.term_months,
        "applied_on": application.applied_on.isoformat() if application.applied_on else None,
        "applicant": {
            "name": applicant.name,
            "id_number": mask_id_number(applicant.id_number),
            "phone": mask_phone(applicant.phone) if applicant.phone else None,
            "monthly_income": applicant.monthly_income,
            "monthly_debt_payment": applicant.monthly_debt_payment,
        },
    }
    if application.business is not None:
        summary["business"] = {
            "name": application.business.name,
            "credit_code": application.business.credit_code,
            "annual_revenue": application.business.annual_revenue,
        }
    return scrub(summary)  # type: ignore[no-any-return]


def _outcome(value: Any) -> str | None:
    text = str(value).strip().lower() if value is not None else ""
    if text in _APPROVE:
        return "approve"
    if text in _REJECT:
        return "reject"
    return None


def _final_decision(decision: Mapping[str, Any], pricing: Mapping[str, Any]) -> dict[str, Any]:
    final = dict(decision)
    if "outcome" not in final:
        stated = final.get("decision")
        if stated is not None:
            final["outcome"] = stated
        elif isinstance(pricing.get("approved"), bool):
            final["outcome"] = "approve" if pricing["approved"] else "reject"
    return final


def human_decisions(
    conn: Connection, tenant: str, instance_id: str, after: datetime | int
) -> list[dict[str, Any]]:
    """People's decisions on the instance after ``after`` (an audit sequence number, or a time).

    Each: ``at``, ``actor``, ``kind``, ``element``, ``task_id``, ``task_name``, ``decision``
    (the form's ``decision`` field, if any), ``comment`` and the submitted ``data`` (masked).
    """
    query = select(audit_table).where(
        audit_table.c.tenant == tenant,
        audit_table.c.stream == instance_id,
        audit_table.c.kind.in_(HUMAN_EVENT_KINDS),
    )
    if isinstance(after, int):
        query = query.where(audit_table.c.seq > after)
    else:
        query = query.where(audit_table.c.at > after)
    rows = conn.execute(query.order_by(audit_table.c.seq)).mappings().all()
    task_ids = [r["data"].get("task_id") for r in rows if r["data"].get("task_id")]
    names: dict[str, str | None] = {}
    if task_ids:
        names = {
            t.id: t.name
            for t in conn.execute(
                select(user_tasks_table.c.id, user_tasks_table.c.name).where(
                    user_tasks_table.c.id.in_(task_ids)
                )
            )
        }
    decisions = []
    for row in rows:
        data = dict(row["data"])
        form: dict[str, Any] = data["data"] if isinstance(data.get("data"), dict) else {}
        decisions.append(
            scrub(
                {
                    "seq": row["seq"],
                    "at": row["at"].isoformat(),
                    "actor": row["actor"],
                    "kind": row["kind"],
                    "element": data.get("element"),
                    "task_id": data.get("task_id"),
                    "task_name": names.get(data.get("task_id") or ""),
                    "decision": form.get("decision")
                    if row["kind"] == "task.completed"
                    else "cancel",
                    "comment": form.get("comment") or data.get("reason"),
                    "data": form,
                }
            )
        )
    return decisions


class ReportService:
    """Writes risk reports and reads the newest one of an instance, with later overrides."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write(
        self,
        tenant: str,
        instance_id: str | None,
        application: Application,
        sections: Mapping[str, Any],
    ) -> str:
        """Store the report of ``application``; returns its id.

        ``sections`` may hold ``external``, ``antifraud``, ``scorecard``, ``pricing`` and
        ``decision``; an empty or absent one is taken from the newest completed ``risk.*``
        job of the instance, as the audit log recorded it.
        """
        report_id = str(uuid.uuid4())
        now = self.engine.clock.now()
        with self.engine.db.begin() as conn:
            events: list[Any] = []
            if instance_id is not None:
                events = list(
                    conn.execute(
                        select(audit_table)
                        .where(audit_table.c.tenant == tenant, audit_table.c.stream == instance_id)
                        .order_by(audit_table.c.seq)
                    ).mappings()
                )
            report = self._build(report_id, tenant, instance_id, application, sections, events)
            report["generated_at"] = now.isoformat()
            conn.execute(
                insert(risk_reports_table).values(
                    id=report_id,
                    tenant=tenant,
                    instance_id=instance_id,
                    application_id=application.id,
                    report=report,
                    created_at=now,
                )
            )
        log.info("risk report %s written for instance %s", report_id, instance_id)
        return report_id

    @staticmethod
    def _build(
        report_id: str,
        tenant: str,
        instance_id: str | None,
        application: Application,
        sections: Mapping[str, Any],
        events: list[Mapping[str, Any]],
    ) -> dict[str, Any]:
        from_jobs: dict[str, Any] = {}
        decisions, jobs = [], []
        for event in events:
            data = event["data"]
            at = event["at"].isoformat()
            if event["kind"] == "decision.evaluated":
                decisions.append({"at": at, **data})
            elif event["kind"] == "job.completed" and str(data.get("topic", "")).startswith(
                "risk."
            ):
                topic = data["topic"]
                jobs.append(
                    {
                        "at": at,
                        "topic": topic,
                        "element": data.get("element"),
                        "worker": event["actor"],
                    }
                )
                if topic in _SECTION_OF_TOPIC:
                    from_jobs[_SECTION_OF_TOPIC[topic]] = data.get("output") or {}
        chosen = {name: sections.get(name) or from_jobs.get(name) or {} for name in SECTIONS}
        chosen["decision"] = _final_decision(chosen["decision"], chosen["pricing"])
        return {
            "version": 1,
            "report_id": report_id,
            "tenant": tenant,
            "instance_id": instance_id,
            "audit_seq": max((int(e["seq"]) for e in events), default=0),
            "application": _application_summary(application),
            **{name: scrub(chosen[name]) for name in SECTIONS},
            "decisions": scrub(decisions),
            "risk_jobs": scrub(jobs),
        }

    def latest(self, tenant: str, instance_id: str) -> dict[str, Any] | None:
        """The instance's newest report and the human decisions after it; None without one.

        ``{"id", "tenant", "instance_id", "application_id", "created_at", "report",
        "overrides"}``; each override says whether it ``agrees`` with the system's outcome
        (None when either side is not a plain approve/reject).
        """
        with self.engine.db.connect() as conn:
            row = (
                conn.execute(
                    select(risk_reports_table)
                    .where(
                        risk_reports_table.c.tenant == tenant,
                        risk_reports_table.c.instance_id == instance_id,
                    )
                    .order_by(risk_reports_table.c.created_at.desc(), risk_reports_table.c.id)
                    .limit(1)
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            report: dict[str, Any] = dict(row["report"])
            overrides = human_decisions(conn, tenant, instance_id, int(report.get("audit_seq", 0)))
        system = _outcome((report.get("decision") or {}).get("outcome"))
        for override in overrides:
            human = _outcome(override.get("decision"))
            override["agrees"] = None if system is None or human is None else system == human
        return {
            "id": row["id"],
            "tenant": row["tenant"],
            "instance_id": row["instance_id"],
            "application_id": row["application_id"],
            "created_at": row["created_at"].isoformat(),
            "report": report,
            "overrides": overrides,
        }


class ReportInput(BaseModel):
    tenant: str = Field(min_length=1, max_length=64)
    instance_id: str | None = Field(default=None, max_length=36)
    application: Application
    external: dict[str, Any] = Field(default_factory=dict)
    antifraud: dict[str, Any] = Field(default_factory=dict)
    scorecard: dict[str, Any] = Field(default_factory=dict)
    pricing: dict[str, Any] = Field(default_factory=dict)
    decision: dict[str, Any] = Field(default_factory=dict)


class ReportOutput(BaseModel):
    report_id: str


def report_worker(service: ReportService) -> Callable[[ReportInput], ReportOutput]:
    """``risk.report`` writing through ``service`` (it needs the store, so it is made here)."""

    @worker("risk.report", retries=2, backoff=2.0)
    def risk_report(job: ReportInput) -> ReportOutput:
        """Write the application's risk report (masked) for reviewers and the archive."""
        sections = job.model_dump(include=set(SECTIONS))
        report_id = service.write(job.tenant, job.instance_id, job.application, sections)
        return ReportOutput(report_id=report_id)

    return risk_report
