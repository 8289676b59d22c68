"""Task specs loanflow adds to SpiffWorkflow: external service tasks, human tasks, clocked timers.

SpiffWorkflow runs a service task's work inside ``do_engine_steps``; loanflow never does. An
:class:`ExternalServiceTask` evaluates its input mapping, then waits (STARTED) until the engine
completes it with a worker's result. Timers read the engine's injectable clock instead of the
wall clock, so tests and the scheduler decide what "now" is.
"""

from __future__ import annotations

import re
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.service_task import ServiceTask as ServiceTaskMixin
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask as UserTaskMixin
from SpiffWorkflow.spiff.specs.defaults import CallActivity as SpiffCallActivity
from SpiffWorkflow.spiff.specs.defaults import NoneTask
from SpiffWorkflow.spiff.specs.spiff_task import SpiffBpmnTask
from SpiffWorkflow.util.deep_merge import DeepMerge

from loanflow.engine.bpmn.schedules import parse_timer
from loanflow.engine.expressions import iso_duration

__all__ = [
    "ClockedCycleTimer",
    "ClockedDateTimer",
    "ClockedDurationTimer",
    "ExternalServiceTask",
    "HumanTask",
    "MappedCallActivity",
    "PassThroughTask",
    "now_for",
]

#: internal_data keys the engine keeps on spiff tasks (they travel with the instance state)
JOB_KEY = "lf_job"
INPUT_KEY = "lf_input"
PROJECTED_KEY = "lf_projected"
CLOSED_KEY = "lf_closed"
#: workflow.data key: the jobs and user tasks the store holds open for this instance
OPEN_KEY = "lf_open"


def now_for(my_task: Any) -> datetime:
    """The engine's notion of now for this task (its script engine carries the clock)."""
    clock = getattr(my_task.workflow.script_engine, "clock", None)
    if clock is None:
        return datetime.now(UTC)
    value: datetime = clock.now()
    return value


class ExternalServiceTask(ServiceTaskMixin, SpiffBpmnTask):  # type: ignore[misc]
    """A service task done by a worker outside the engine, reached through a job row.

    ``inputs`` maps each input field to an expression over the task data; only those values
    go to the worker. The worker's output lands in ``result_variable``, or is merged into the
    data field by field when there is none (Camunda's semantics for external tasks).
    """

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        topic: str,
        input_map: dict[str, str] | None = None,
        output_map: dict[str, str] | None = None,
        result_variable: str | None = None,
        retries: int | None = None,
        retry_backoff: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.topic = topic
        self.input_map = input_map or {}
        self.output_map = output_map or {}
        self.result_variable = result_variable
        self.retries = retries
        self.retry_backoff = retry_backoff

    def _run_hook(self, my_task: Any) -> bool | None:
        engine = my_task.workflow.script_engine
        my_task.internal_data[INPUT_KEY] = {
            name: engine.evaluate(my_task, expression)
            for name, expression in self.input_map.items()
        }
        return None  # STARTED: the engine writes the job row and waits for a worker

    def apply_result(self, my_task: Any, output: dict[str, Any]) -> None:
        """Write a worker's output into the task data as the diagram asks."""
        if self.output_map:
            env = my_task.workflow.script_engine.environment
            for name, expression in self.output_map.items():
                my_task.data[name] = env.evaluate(expression, output)
        elif self.result_variable:
            my_task.data[self.result_variable] = output
        else:
            DeepMerge.merge(my_task.data, output)


class HumanTask(UserTaskMixin, SpiffBpmnTask):  # type: ignore[misc]
    """A user task with the assignment attributes loanflow projects into its inbox table.

    ``candidate_groups``, ``candidate_users``, ``assignee`` and ``due_date`` are either literal
    text or, written as ``${expr}`` or ``=expr``, sandboxed expressions over the task data.
    ``sod_group`` (property ``separationOfDuties``) names a separation-of-duties group: the
    person who started the instance completes none of its tasks, and nobody completes two.
    ``display_name`` (property ``displayName``, literal or expression) names the task in the
    inbox when the diagram's name is too generic (e.g. one task serving every approval level).
    """

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        form_key: str | None = None,
        candidate_groups: str | None = None,
        candidate_users: str | None = None,
        assignee: str | None = None,
        due_date: str | None = None,
        variable: str | None = None,
        sod_group: str | None = None,
        display_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.sod_group = sod_group
        self.display_name = display_name
        self.form_key = form_key
        self.candidate_groups = candidate_groups
        self.candidate_users = candidate_users
        self.assignee = assignee
        self.due_date = due_date
        self.variable = variable

    def add_data_from_form(self, my_task: Any, data: dict[str, Any]) -> None:
        if self.variable:
            my_task.data[self.variable] = data
        else:
            DeepMerge.merge(my_task.data, data)


def expression_of(text: str | None) -> str | None:
    """The expression inside ``${…}`` or after ``=``, or None for literal text."""
    if text is None:
        return None
    stripped = text.strip()
    if stripped.startswith("${") and stripped.endswith("}"):
        return stripped[2:-1].strip()
    if stripped.startswith("="):
        return stripped[1:].strip()
    return None


_ISO_LITERAL = re.compile(
    r"""^(?:
        R\d*/.+                                   # recurring interval
      | P(?!$)(?:\d+(?:[.,]\d+)?[YMWD])*(?:T(?:\d+(?:[.,]\d+)?[HMS])+)?   # duration
      | \d{4}-\d{2}-\d{2}(?:[T\ ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?          # date-time
      | (?:(?:[0-9*?,/\-\#LW]+|[A-Z]{3}(?:[-,][A-Z]{3})*)\ +){4,6}
        (?:[0-9*?,/\-\#LW]+|[A-Z]{3}(?:[-,][A-Z]{3})*)                       # cron
      | @(?:yearly|annually|monthly|weekly|daily|midnight|hourly)            # cron macro
    )$""",
    re.VERBOSE,
)


def timer_value(my_task: Any, expression: str) -> str:
    """A timer's ISO text: written plainly (``PT15M``) or as an expression that yields it."""
    text = expression.strip()
    unquoted = text.strip("'\"")
    if _ISO_LITERAL.match(unquoted):
        return unquoted
    value = my_task.workflow.script_engine.evaluate(my_task, text)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return iso_duration(value)
    return str(value)


def _as_utc(text: str) -> datetime:
    parsed = TimerEventDefinition.parse_time_or_duration(text)
    if not isinstance(parsed, datetime):
        raise ValueError(f"{text!r} is a duration, a date-time was expected")
    return parsed


class ClockedDateTimer(TimeDateEventDefinition):  # type: ignore[misc]
    """``timeDate``: fires once at a fixed instant."""

    def has_fired(self, my_task: Any) -> bool:
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = _as_utc(timer_value(my_task, self.expression)).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if datetime.fromisoformat(event_value) <= now_for(my_task):
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class ClockedDurationTimer(DurationTimerEventDefinition):  # type: ignore[misc]
    """``timeDuration``: fires a duration after the event started waiting."""

    def has_fired(self, my_task: Any) -> bool:
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            parsed = TimerEventDefinition.parse_iso_duration(timer_value(my_task, self.expression))
            start = now_for(my_task)
            delta = TimerEventDefinition.get_timedelta_from_start(parsed, start)
            event_value = (start + delta).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if datetime.fromisoformat(event_value) <= now_for(my_task):
            my_task._set_internal_data(event_fired=True)
        return bool(my_task._get_internal_data("event_fired", False))


class ClockedCycleTimer(CycleTimerEventDefinition):  # type: ignore[misc]
    """``timeCycle``: ``R[n]/[start/]duration`` (n times, forever without n), ``R/start/end``
    or a cron expression (Quartz, 6 or 7 fields, or Unix, 5; read in Asia/Shanghai time).

    The schedule is computed by :mod:`loanflow.engine.bpmn.schedules`; the task keeps only
    the evaluated text, the next due time and how often it fired, so a reload mid-cycle
    continues where it was.
    """

    def cycle_complete(self, my_task: Any) -> bool:
        now = now_for(my_task)
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            text = timer_value(my_task, self.expression)
            first = parse_timer("timeCycle", text).first(now)
            event_value = {
                "text": text,
                "next": first.isoformat() if first else None,
                "fired": 0,
            }
        if event_value["next"] is None:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
            return False
        ready = False
        due = datetime.fromisoformat(event_value["next"])
        if due <= now:
            fired = int(event_value["fired"]) + 1
            following = parse_timer("timeCycle", event_value["text"]).following(due, fired)
            event_value = {
                **event_value,
                "next": following.isoformat() if following else None,
                "fired": fired,
            }
            ready = True
        my_task._set_internal_data(event_value=event_value)
        return ready


class PassThroughTask(NoneTask):  # type: ignore[misc]
    """``bpmn:task`` and a ``manualTask`` without a form: nothing to wait for, as in Camunda.

    SpiffWorkflow's ``NoneTask`` is manual (it waits until someone completes it), which leaves
    a diagram drawn with plain tasks stuck forever.
    """

    def __init__(self, wf_spec: Any, bpmn_id: str, **kwargs: Any) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.manual = False


class MappedCallActivity(SpiffCallActivity):  # type: ignore[misc]
    """A call activity with Camunda 7's ``camunda:in`` / ``camunda:out`` mappings.

    Without any mapping every variable goes to the called process and comes back (what
    SpiffWorkflow does, and what loanflow's diagrams rely on). With mappings only the mapped
    variables travel, plus all of them where ``variables="all"`` says so. A mapping is
    ``(source, target, is_expression)``; an expression is read in its own language.
    """

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        *,
        in_mappings: list[tuple[str, str, bool]] | None = None,
        out_mappings: list[tuple[str, str, bool]] | None = None,
        all_in: bool = False,
        all_out: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.in_mappings = in_mappings or []
        self.out_mappings = out_mappings or []
        self.all_in = all_in
        self.all_out = all_out

    @property
    def mapped(self) -> bool:
        return bool(self.in_mappings or self.out_mappings or self.all_in or self.all_out)

    @staticmethod
    def _value(my_task: Any, source: str, expression: bool, data: dict[str, Any]) -> Any:
        if not expression:
            return deepcopy(data.get(source))
        return my_task.workflow.script_engine.environment.evaluate(source, data)

    def copy_data(self, my_task: Any, subworkflow: Any) -> None:
        if not self.mapped:
            super().copy_data(my_task, subworkflow)
            return
        start = subworkflow.get_next_task(
            subworkflow.task_tree, skip_subprocesses=True, spec_name="Start"
        )
        data: dict[str, Any] = deepcopy(my_task.data) if self.all_in else {}
        for source, target, expression in self.in_mappings:
            data[target] = self._value(my_task, source, expression, my_task.data)
        start.set_data(**data)

    def update_data(self, my_task: Any, subworkflow: Any) -> None:
        if not self.mapped:
            super().update_data(my_task, subworkflow)
            return
        child = subworkflow.last_task.data
        if self.all_out:
            my_task.data.update(deepcopy(child))
        for source, target, expression in self.out_mappings:
            my_task.data[target] = self._value(my_task, source, expression, child)
