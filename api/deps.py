"""Shared dependencies of the routes: the engine and the role sets."""

from __future__ import annotations

from fastapi import Request

from loanflow.engine import Engine

__all__ = ["ANY_STAFF", "APPROVERS", "engine_of"]

APPROVERS = ("reviewer", "branch_approver", "head_approver", "committee_member")
#: every role that works with applications (designers only see diagrams)
ANY_STAFF = (
    "loan_officer",
    *APPROVERS,
    "operator",
    "tenant_admin",
    "integrator",
    "province_auditor",
)


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine
