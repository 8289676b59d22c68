"""Deployments and process definitions: storing bundles, and finding the spec to run.

Holds ``deploy`` with its audit stream (``deployments:<tenant>``), the definition queries
(``definitions``, ``definition_xml``, ``deployment_list``) and the resolution every other
part of the engine goes through: ``_latest`` (the newest version a tenant may start, its
own before the shared one, remembered for ``definition_cache_seconds``) and ``_resolve``
(a definition id to its parsed spec, reparsed from the stored files after a restart or a
cache eviction).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.exc import IntegrityError

from loanflow.engine._state import EngineState, check_tenant
from loanflow.engine.audit import GENESIS, AuditRecord, seal_all
from loanflow.engine.commands import audit, new_id
from loanflow.engine.deployments import (
    ParsedDeployment,
    ParsedProcess,
    build_deployment,
    content_hash,
)
from loanflow.engine.errors import Conflict, NotFound
from loanflow.engine.settings import SHARED_TENANT
from loanflow.engine.store.models import (
    definitions_table,
    deployment_files_table,
    deployments_table,
)
from loanflow.engine.views import DefinitionInfo, DeploymentInfo

__all__ = ["DeploymentsMixin"]

deployments = deployments_table
deployment_files = deployment_files_table
definitions = definitions_table


class DeploymentsMixin(EngineState):
    """Deploying bundles and resolving the process definitions they hold."""

    def deploy(
        self,
        files: Mapping[str, bytes | str],
        *,
        tenant: str = SHARED_TENANT,
        name: str | None = None,
        actor: str | None = None,
    ) -> DeploymentInfo:
        """Validate and store a bundle; identical content deployed again changes nothing."""
        check_tenant(tenant)
        raw = {n: (c.encode() if isinstance(c, str) else bytes(c)) for n, c in files.items()}
        digest = content_hash(raw)
        try:
            with self.rt.transaction() as conn:
                existing = conn.execute(
                    select(deployments).where(
                        deployments.c.tenant == tenant, deployments.c.content_hash == digest
                    )
                ).one_or_none()
                if existing is not None:
                    return self._deployment_info(conn, existing, created=False)
                deployment_id = new_id()
                parsed = build_deployment(
                    deployment_id,
                    tenant,
                    raw,
                    has_topic=self.workers.__contains__,
                    check_expression=self.sandbox.check_expression,
                    check_script=self.sandbox.check_script,
                    known_forms=self.forms(),
                    strict_topics=self._strict_topics(conn, tenant),
                    resolve_process=lambda key: self._latest_or_none(conn, tenant, key),
                )
                now = self.clock.now()
                label = name or ", ".join(sorted(raw))[:200]
                conn.execute(
                    insert(deployments),
                    {
                        "id": deployment_id,
                        "tenant": tenant,
                        "name": label,
                        "content_hash": digest,
                        "created_at": now,
                        "created_by": actor,
                    },
                )
                conn.execute(
                    insert(deployment_files),
                    [
                        {
                            "deployment_id": deployment_id,
                            "name": n,
                            "kind": n.rsplit(".", 1)[-1].lower(),
                            "content": c,
                        }
                        for n, c in raw.items()
                    ],
                )
                for key, process in parsed.processes.items():
                    latest = conn.execute(
                        select(func.max(definitions.c.version)).where(
                            definitions.c.tenant == tenant, definitions.c.key == key
                        )
                    ).scalar()
                    process.version = (latest or 0) + 1
                    process.definition_id = new_id()
                    conn.execute(
                        insert(definitions),
                        {
                            "id": process.definition_id,
                            "deployment_id": deployment_id,
                            "tenant": tenant,
                            "key": key,
                            "version": process.version,
                            "name": process.name,
                            "file": process.file,
                            "start_form": process.start_form,
                            "message_starts": process.message_starts,
                            "timer_start": process.timer_start,
                            "created_at": now,
                        },
                    )
                    self._definitions[process.definition_id] = (deployment_id, key)
                record = AuditRecord(
                    "deployment.created",
                    {
                        "deployment_id": deployment_id,
                        "files": {n: content_hash({n: c}) for n, c in raw.items()},
                        "processes": {k: p.version for k, p in parsed.processes.items()},
                    },
                    actor,
                )
                self._append_stream(conn, tenant, f"deployments:{tenant}", [record], now)
                info = self._deployment_info(
                    conn,
                    conn.execute(
                        select(deployments).where(deployments.c.id == deployment_id)
                    ).one(),
                )
                info = dataclasses.replace(
                    info, report=[dataclasses.asdict(note) for note in parsed.notes]
                )
        except IntegrityError as exc:
            raise Conflict(
                "another deployment of the same processes happened at the same time; deploy again"
            ) from exc
        self.cache.put(parsed)
        self._newest.clear()
        for process in parsed.processes.values():
            if process.timer_start:
                self.start(tenant, process.key, actor="timer-start")
        return info

    def _append_stream(
        self, conn: Connection, tenant: str, stream: str, records: list[AuditRecord], now: datetime
    ) -> None:
        last = conn.execute(
            select(audit.c.seq, audit.c.hash)
            .where(audit.c.stream == stream)
            .order_by(audit.c.seq.desc())
            .limit(1)
        ).one_or_none()
        rows, _, _ = seal_all(
            records,
            tenant=tenant,
            stream=stream,
            seq=last.seq if last else 0,
            head=last.hash if last else GENESIS,
            at=now,
        )
        conn.execute(insert(audit), rows)

    def _strict_topics(self, conn: Connection, tenant: str) -> bool:
        """The tenant's deployment setting; the shared (province) tenant is never strict."""
        if tenant == SHARED_TENANT:
            return False
        settings = self.parameters.effective(tenant, "deployment", conn)
        return bool(settings.get("strict_topics", False))

    def _deployment_info(self, conn: Connection, row: Any, created: bool = True) -> DeploymentInfo:
        defs = conn.execute(
            select(definitions)
            .where(definitions.c.deployment_id == row.id)
            .order_by(definitions.c.key)
        ).all()
        return DeploymentInfo(
            id=row.id,
            tenant=row.tenant,
            name=row.name,
            created_at=row.created_at,
            definitions=[self._definition_info(d) for d in defs],
            created=created,
        )

    @staticmethod
    def _definition_info(row: Any) -> DefinitionInfo:
        return DefinitionInfo(
            id=row.id,
            tenant=row.tenant,
            key=row.key,
            version=row.version,
            name=row.name,
            deployment_id=row.deployment_id,
            start_form=row.start_form,
            message_starts=list(row.message_starts or []),
        )

    def definitions(self, tenant: str) -> list[DefinitionInfo]:
        """The newest version of each process the tenant can start (its own, then shared)."""
        with self.db.connect() as conn:
            return self._definitions_in(conn, tenant)

    def _definitions_in(self, conn: Connection, tenant: str) -> list[DefinitionInfo]:
        rows = conn.execute(
            select(definitions)
            .where(definitions.c.tenant.in_((tenant, SHARED_TENANT)))
            .order_by(definitions.c.key, definitions.c.version)
        ).all()
        newest: dict[str, Any] = {}
        for row in rows:
            current = newest.get(row.key)
            if current is None or (row.tenant == tenant) >= (current.tenant == tenant):
                newest[row.key] = row
        return [self._definition_info(r) for r in newest.values()]

    def _latest_row(self, conn: Connection, tenant: str, key: str) -> Any:
        own_first = (definitions.c.tenant == tenant).desc()
        return conn.execute(
            select(definitions.c.id, definitions.c.deployment_id, definitions.c.key)
            .where(definitions.c.key == key, definitions.c.tenant.in_((tenant, SHARED_TENANT)))
            .order_by(own_first, definitions.c.version.desc())
            .limit(1)
        ).one_or_none()

    def _latest_or_none(self, conn: Connection, tenant: str, key: str) -> ParsedProcess | None:
        row = self._latest_row(conn, tenant, key)
        return None if row is None else self._resolve(conn, row.id)

    def _latest(self, conn: Connection, tenant: str, key: str) -> ParsedProcess:
        """The newest definition for starting; remembered briefly (deploys here forget it)."""
        now = time.monotonic()
        hit = self._newest.get((tenant, key))
        if hit is not None and hit[0] > now:
            return self._resolve(conn, hit[1])
        found = self._latest_or_none(conn, tenant, key)
        if found is not None:
            self._newest[(tenant, key)] = (
                now + self.settings.definition_cache_seconds,
                found.definition_id,
            )
        if found is None:
            raise NotFound(f"no process {key!r} is deployed for tenant {tenant!r}")
        return found

    def _resolve(self, conn: Connection, definition_id: str) -> ParsedProcess:
        where = self._definitions.get(definition_id)
        if where is None:
            row = conn.execute(
                select(definitions.c.deployment_id, definitions.c.key).where(
                    definitions.c.id == definition_id
                )
            ).one_or_none()
            if row is None:
                raise NotFound(f"process definition {definition_id} not found")
            where = (row.deployment_id, row.key)
            self._definitions[definition_id] = where
        deployment_id, key = where
        parsed = self.cache.get(deployment_id) or self._reparse(conn, deployment_id)
        return parsed.processes[key]

    def _reparse(self, conn: Connection, deployment_id: str) -> ParsedDeployment:
        """Rebuild a deployment's specs from its stored files (after a restart or eviction)."""
        dep = conn.execute(select(deployments).where(deployments.c.id == deployment_id)).one()
        files = {
            r.name: r.content
            for r in conn.execute(
                select(deployment_files).where(deployment_files.c.deployment_id == deployment_id)
            )
        }
        parsed = build_deployment(
            deployment_id,
            dep.tenant,
            files,
            has_topic=lambda _topic: (
                True
            ),  # validated when deployed; a removed worker must not hide old instances
            check_expression=lambda _s: None,
            check_script=lambda _s: None,
            known_forms=self.forms(),
            resolve_process=lambda key: self._latest_or_none(conn, dep.tenant, key),
        )
        for row in conn.execute(
            select(definitions).where(definitions.c.deployment_id == deployment_id)
        ):
            if row.key in parsed.processes:
                parsed.processes[row.key].definition_id = row.id
                parsed.processes[row.key].version = row.version
        self.cache.put(parsed)
        return parsed

    def definition_xml(self, tenant: str, key: str) -> tuple[str, bytes]:
        """The BPMN file of the newest version of ``key`` the tenant sees."""
        with self.db.connect() as conn:
            row = self._latest_row(conn, tenant, key)
            if row is None:
                raise NotFound(f"no process {key!r} is deployed for tenant {tenant!r}")
            process = self._resolve(conn, row.id)
            content = conn.execute(
                select(deployment_files.c.content).where(
                    deployment_files.c.deployment_id == row.deployment_id,
                    deployment_files.c.name == process.file,
                )
            ).scalar_one()
        return process.file, bytes(content)

    def deployment_list(self, tenant: str, limit: int = 100) -> list[DeploymentInfo]:
        with self.db.connect() as conn:
            rows = conn.execute(
                select(deployments)
                .where(deployments.c.tenant == tenant)
                .order_by(deployments.c.created_at.desc())
                .limit(limit)
            ).all()
            return [self._deployment_info(conn, r, created=True) for r in rows]
