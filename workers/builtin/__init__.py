"""Workers shipped with loanflow, collected through :data:`BUILTIN_WORKERS`.

Each needs nothing outside the process (no network, no keys), so they run in the demo
and in tests as they run in production.
"""

from collections.abc import Callable
from typing import Any

from loanflow.workers.builtin.approval import plan_approval
from loanflow.workers.builtin.calc import repayment_schedule
from loanflow.workers.builtin.identity import check_id_number

__all__ = ["BUILTIN_WORKERS", "check_id_number", "plan_approval", "repayment_schedule"]

BUILTIN_WORKERS: list[Callable[..., Any]] = [repayment_schedule, check_id_number, plan_approval]
