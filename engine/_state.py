"""What the engine's mixins share: the state ``Engine`` builds and the seams between them.

:class:`~loanflow.engine.engine.Engine` is assembled from one mixin per concern
(deployments, instances, user tasks, forms, messages, timers). Each mixin inherits
:class:`EngineState`, which declares for mypy the attributes ``Engine.__init__`` sets and
the methods one mixin calls on another. The method declarations exist only while type
checking and are abstract, so mypy rejects an ``Engine`` that lost one; at run time the
class is empty and adds nothing to the MRO but its name.

Also here: the tenant-id check every command that names a tenant makes first.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from sqlalchemy import Connection
from sqlalchemy import Engine as SqlEngine

from loanflow.engine.bpmn.scripting import LoanflowScriptEngine
from loanflow.engine.clock import Clock
from loanflow.engine.commands import Loaded, Runtime
from loanflow.engine.deployments import DeploymentCache, ParsedProcess
from loanflow.engine.errors import InvalidInput
from loanflow.engine.jobs import JobService
from loanflow.engine.parameters import Parameters
from loanflow.engine.sandbox import Sandbox
from loanflow.engine.settings import EngineSettings
from loanflow.engine.views import DefinitionInfo, IncidentInfo, InstanceInfo, UserTaskInfo
from loanflow.workers.registry import WorkerRegistry

__all__ = ["TENANT_RE", "EngineState", "check_tenant"]

TENANT_RE = re.compile(r"^(\*|[a-z][a-z0-9_-]{0,62})$")


def check_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not TENANT_RE.match(tenant):
        raise InvalidInput(f"{tenant!r} is not a tenant id (lowercase letters, digits, - and _)")
    return tenant


class EngineState:
    """The attributes and cross-mixin methods every engine mixin may use through ``self``."""

    settings: EngineSettings
    clock: Clock
    workers: WorkerRegistry
    db: SqlEngine
    sandbox: Sandbox
    script_engine: LoanflowScriptEngine
    cache: DeploymentCache
    rt: Runtime
    jobs: JobService
    parameters: Parameters
    _definitions: dict[str, tuple[str, str]]
    _newest: dict[tuple[str, str], tuple[float, str]]
    _forms: dict[str, dict[str, Any]] | None
    _validators: dict[tuple[str, str], Draft202012Validator]

    if TYPE_CHECKING:
        # engine.py
        @abstractmethod
        def _notify(self) -> None: ...

        @staticmethod
        @abstractmethod
        def _incident_info(row: Any) -> IncidentInfo: ...

        # _deploying.py
        @abstractmethod
        def _definitions_in(self, conn: Connection, tenant: str) -> list[DefinitionInfo]: ...

        @abstractmethod
        def _latest(self, conn: Connection, tenant: str, key: str) -> ParsedProcess: ...

        @abstractmethod
        def _resolve(self, conn: Connection, definition_id: str) -> ParsedProcess: ...

        # _instances.py
        @abstractmethod
        def start(
            self,
            tenant: str,
            process_key: str,
            *,
            business_key: str | None = None,
            variables: Mapping[str, Any] | None = None,
            actor: str | None = None,
            callback_url: str | None = None,
        ) -> InstanceInfo: ...

        @abstractmethod
        def _info(self, loaded: Loaded, state: str) -> InstanceInfo: ...

        # _user_tasks.py
        @staticmethod
        @abstractmethod
        def _task_info(row: Any) -> UserTaskInfo: ...

        # _forms.py
        @abstractmethod
        def forms(self) -> dict[str, dict[str, Any]]: ...

        @abstractmethod
        def form(self, process: ParsedProcess, key: str) -> dict[str, Any]: ...

        @abstractmethod
        def _validate_form(
            self, process: ParsedProcess, key: str, data: dict[str, Any]
        ) -> None: ...
