"""loanflow's process engine: deployments, instances, jobs, user tasks, timers and audit.

Build an :class:`Engine` from :class:`EngineSettings`; nothing connects at import time.
"""

from loanflow.engine.clock import Clock, ManualClock, SystemClock
from loanflow.engine.engine import Engine
from loanflow.engine.errors import (
    BusinessError,
    Conflict,
    DeploymentError,
    Forbidden,
    InvalidInput,
    LoanflowError,
    NotFound,
    Problem,
    ProcessError,
    ScriptError,
    WorkerError,
)
from loanflow.engine.settings import SHARED_TENANT, EngineSettings
from loanflow.engine.views import (
    DefinitionInfo,
    DeploymentInfo,
    IncidentInfo,
    InstanceInfo,
    JobInfo,
    LockedJob,
    UserTaskInfo,
)

__all__ = [
    "SHARED_TENANT",
    "BusinessError",
    "Clock",
    "Conflict",
    "DefinitionInfo",
    "DeploymentError",
    "DeploymentInfo",
    "Engine",
    "EngineSettings",
    "Forbidden",
    "IncidentInfo",
    "InstanceInfo",
    "InvalidInput",
    "JobInfo",
    "LoanflowError",
    "LockedJob",
    "ManualClock",
    "NotFound",
    "Problem",
    "ProcessError",
    "ScriptError",
    "SystemClock",
    "UserTaskInfo",
    "WorkerError",
]
