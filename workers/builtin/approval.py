"""Approval planning: which levels of a tenant's approval chain an application goes through.

The generic approval diagram (``processes/approval.bpmn``) calls ``approval.plan`` with the
chain snapshot its instance started with, then walks the planned levels. The ``when``
conditions are tenant-authored, so they run in the sandbox like every script of a diagram.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from loanflow.engine.approvals import plan, validate_chain
from loanflow.engine.errors import BusinessError, InvalidInput
from loanflow.engine.sandbox import Sandbox
from loanflow.workers.sdk import worker

__all__ = [
    "ApprovalPlanInput",
    "ApprovalPlanOutput",
    "PlannedLevel",
    "Quorum",
    "plan_approval",
]

#: trusted code evaluating tenant conditions: they get the sandbox, not plain eval
_SANDBOX = Sandbox()


class ApprovalPlanInput(BaseModel):
    chain: dict[str, Any] | None = Field(
        default=None,
        description="The chain snapshot ({tenant, product, version, levels}) or {levels}.",
    )
    application: dict[str, Any] = Field(
        default_factory=dict,
        description="The application the conditions read: amount, product, risk_grade, term, …",
    )


class Quorum(BaseModel):
    members: int
    approve: int


class PlannedLevel(BaseModel):
    index: int = Field(description="Position in the plan, from 0.")
    id: str
    name: dict[str, str]
    role: str
    when: str | None = None
    quorum: Quorum | None = None
    sla: str | None = None
    escalation_role: str | None = None


class ApprovalPlanOutput(BaseModel):
    levels: list[PlannedLevel]
    count: int
    summary: str = Field(description="The planned levels' Chinese names joined by ' → '.")


@worker("approval.plan", retries=0)
def plan_approval(job: ApprovalPlanInput) -> ApprovalPlanOutput:
    """Plan the approval levels that apply to an application, in order.

    A missing or invalid chain, or a condition that fails on this application, is the
    business error ``CHAIN_INVALID`` (with ``approval_error``): retrying cannot fix it.
    """
    if job.chain is None:
        message = "the instance has no approval chain (variable approval_chain)"
        raise BusinessError("CHAIN_INVALID", message, {"approval_error": message})
    try:
        levels = validate_chain({"levels": job.chain.get("levels")}, _SANDBOX)["levels"]
        planned = plan(levels, job.application, _SANDBOX)
    except InvalidInput as exc:
        raise BusinessError("CHAIN_INVALID", exc.message, {"approval_error": exc.message}) from None
    result = [PlannedLevel.model_validate(level) for level in planned]
    return ApprovalPlanOutput(
        levels=result,
        count=len(result),
        summary=" → ".join(level.name.get("zh-CN") or level.id for level in result),
    )
