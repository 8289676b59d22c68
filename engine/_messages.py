"""Messages: correlating them to waiting instances, or starting a process with them.

``correlate`` takes a message from outside; ``_route`` (installed as the runtime's router)
delivers the messages an instance throws to the other instances of its tenant, within the
sender's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from sqlalchemy import Connection, select

from loanflow.engine._state import EngineState, check_tenant
from loanflow.engine.commands import Loaded, check_json, subscriptions
from loanflow.engine.errors import Conflict, NotFound, ProcessError
from loanflow.engine.views import InstanceInfo

__all__ = ["MessagesMixin"]


class MessagesMixin(EngineState):
    """Correlating, routing and delivering BPMN messages."""

    def correlate(
        self,
        tenant: str,
        name: str,
        correlation_keys: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        actor: str | None = None,
    ) -> InstanceInfo:
        """Deliver message ``name`` to the one instance waiting for it with these keys.

        ``business_key`` matches the instance's business key; other keys match the
        message's correlation properties. With no waiting instance, a process with a
        message start event for ``name`` is started; otherwise NotFound.
        """
        check_tenant(tenant)
        keys = dict(correlation_keys or {})
        data = check_json(dict(payload) if payload is not None else None, "payload")
        with self.rt.transaction() as conn:
            rows = conn.execute(
                select(subscriptions).where(
                    subscriptions.c.tenant == tenant, subscriptions.c.name == name
                )
            ).all()
            matches = [
                r
                for r in rows
                if all(
                    (r.business_key == v) if k == "business_key" else (r.keys or {}).get(k) == v
                    for k, v in keys.items()
                )
            ]
            targets = {r.instance_id for r in matches}
            if len(targets) > 1:
                raise Conflict(
                    f"{len(targets)} instances wait for message {name!r} with {keys}; "
                    "give more correlation keys"
                )
            if targets:
                match = matches[0]
                loaded = self.rt.load(conn, tenant, match.instance_id)
                self._deliver(loaded, match.task_id, name, {**keys, **data})
                loaded.record(
                    "message.correlated", actor, name=name, keys=keys, payload=sorted(data)
                )
                self.rt.run(loaded)
                effects = self.rt.save(conn, loaded, actor)
            else:
                loaded, effects = self._message_start(conn, tenant, name, keys, data, actor)
        if effects.jobs:
            self._notify()
        return self._info(loaded, "completed" if loaded.workflow.completed else "running")

    def _route(self, conn: Connection, sender: Loaded, events: list[Any], depth: int = 0) -> None:
        """Deliver the messages an instance threw to the instances of its tenant waiting for them.

        A message goes to the one waiting instance whose correlation keys agree with it (the
        sender's business key decides between several), or starts a process with that message
        start event; otherwise it is recorded as undelivered. Signals are recorded.
        """
        for event in events:
            definition = event.event_definition
            name = getattr(definition, "name", None)
            if not isinstance(definition, MessageEventDefinition) or name is None:
                sender.record("event.unrouted", name=name, event_type=type(definition).__name__)
                continue
            payload = (
                event.payload if isinstance(event.payload, dict) else {"payload": event.payload}
            )
            keys: dict[str, Any] = {}
            for props in (event.correlations or {}).values():
                if isinstance(props, dict):
                    keys.update(props)
            rows = [
                r
                for r in conn.execute(
                    select(subscriptions).where(
                        subscriptions.c.tenant == sender.tenant,
                        subscriptions.c.name == name,
                        subscriptions.c.instance_id != sender.id,
                    )
                )
                if all((r.keys or {}).get(k, v) == v for k, v in keys.items())
            ]
            if len({r.instance_id for r in rows}) > 1 and sender.business_key:
                rows = [r for r in rows if r.business_key == sender.business_key]
            targets = {r.instance_id for r in rows}
            if len(targets) > 1:
                raise ProcessError(
                    f"message {name!r} thrown by {sender.process_key} matches {len(targets)} "
                    "waiting instances; add correlation keys"
                )
            if targets:
                match = rows[0]
                receiver = self.rt.load(conn, sender.tenant, match.instance_id)
                self._deliver(receiver, match.task_id, name, {**keys, **payload})
                receiver.record("message.correlated", None, name=name, sender=sender.id)
                self.rt.run(receiver)
                self.rt.save(conn, receiver)
                sender.record("message.sent", name=name, to=receiver.id)
                continue
            starters = [
                d for d in self._definitions_in(conn, sender.tenant) if name in d.message_starts
            ]
            if starters:
                started, _ = self._message_start(conn, sender.tenant, name, keys, payload, None)
                sender.record("message.sent", name=name, to=started.id, started=True)
            else:
                sender.record("message.undelivered", name=name, keys=keys)

    def _deliver(self, loaded: Loaded, task_id: str, name: str, payload: dict[str, Any]) -> None:
        task = self.rt.task(loaded, task_id)
        definition = task.task_spec.event_definition
        with self.rt.guard(loaded):
            task.task_spec.catch(task, BpmnEvent(definition, payload=payload, correlations={}))
            if getattr(definition, "message_var", None) is None:
                task.data.update(payload)
            task.task_spec._update(task)

    def _message_start(
        self,
        conn: Connection,
        tenant: str,
        name: str,
        keys: dict[str, Any],
        data: dict[str, Any],
        actor: str | None,
    ) -> tuple[Loaded, Any]:
        candidates = [d for d in self._definitions_in(conn, tenant) if name in d.message_starts]
        if not candidates:
            raise NotFound(
                f"no process instance of tenant {tenant!r} waits for message {name!r} "
                f"with {keys or 'no keys'}, "
                "and no process starts with it"
            )
        if len(candidates) > 1:
            raise Conflict(
                f"message {name!r} starts {len(candidates)} processes: "
                f"{[d.key for d in candidates]}"
            )
        process = self._resolve(conn, candidates[0].id)
        business_key = keys.get("business_key")
        loaded = self.rt.new_instance(
            tenant, process, str(business_key) if business_key else None, {}, actor, conn=conn
        )
        loaded.record(
            "instance.started",
            actor,
            process_key=process.key,
            version=process.version,
            message=name,
        )
        self.rt.run(loaded)
        waiting = [
            t
            for t in loaded.workflow.event_manager.tasks.values()
            if getattr(t.task_spec.event_definition, "name", None) == name
        ]
        if not waiting:
            raise ProcessError(
                f"process {process.key!r} does not wait for message {name!r} at its start"
            )
        self._deliver(loaded, str(waiting[0].id), name, {**keys, **data})
        self.rt.run(loaded)
        return loaded, self.rt.save(conn, loaded, actor)
