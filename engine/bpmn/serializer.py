"""Instance state without the spec, and the serializer registry for loanflow's task specs.

SpiffWorkflow embeds the whole process spec in every serialized instance (about two thirds of
its size, and most of its load time is rebuilding specs). loanflow keeps one parsed spec per
deployment in memory and stores instance state without it: :func:`dump_state` leaves the spec
out and :func:`load_state` reattaches the cached one.
"""

from __future__ import annotations

import json
from copy import deepcopy
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.event_definition import (
    TimerConditionalEventDefinitionConverter,
)
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.serializer.task_spec import (
    SpiffBpmnTaskConverter,
    SubWorkflowTaskConverter,
)
from SpiffWorkflow.spiff.specs.defaults import BusinessRuleTask

from loanflow.engine.bpmn.specs import (
    ClockedCycleTimer,
    ClockedDateTimer,
    ClockedDurationTimer,
    ExternalServiceTask,
    HumanTask,
    MappedCallActivity,
    PassThroughTask,
)

__all__ = ["SERIALIZER_VERSION", "dump_state", "load_state", "serializer"]

#: stored beside every instance; bump when the stored shape changes and add a migration
SERIALIZER_VERSION = "lf1+spiff1.5"


class ExternalServiceTaskConverter(SpiffBpmnTaskConverter):  # type: ignore[misc]
    def to_dict(self, spec: ExternalServiceTask) -> dict[str, Any]:
        dct: dict[str, Any] = super().to_dict(spec)
        dct.update(
            topic=spec.topic,
            input_map=spec.input_map,
            output_map=spec.output_map,
            result_variable=spec.result_variable,
            retries=spec.retries,
            retry_backoff=spec.retry_backoff,
        )
        return dct


class HumanTaskConverter(SpiffBpmnTaskConverter):  # type: ignore[misc]
    def to_dict(self, spec: HumanTask) -> dict[str, Any]:
        dct: dict[str, Any] = super().to_dict(spec)
        dct.update(
            form_key=spec.form_key,
            candidate_groups=spec.candidate_groups,
            candidate_users=spec.candidate_users,
            assignee=spec.assignee,
            due_date=spec.due_date,
            variable=spec.variable,
            sod_group=spec.sod_group,
            display_name=spec.display_name,
        )
        return dct


class SpeclessWorkflowConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """The top workflow without its spec; ``spec`` and ``subprocess_specs`` come on restore."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct: dict[str, Any] = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(
        self,
        dct: dict[str, Any],
        spec: Any = None,
        subprocess_specs: dict[str, Any] | None = None,
    ) -> BpmnWorkflow:
        if spec is None:
            raise ValueError("instance state is stored without its spec; pass the cached spec")
        workflow = self.target_class(spec, subprocess_specs or {}, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class DecisionTaskConverter(SpiffBpmnTaskConverter):  # type: ignore[misc]
    """A business rule task names its decision; the compiled decision is not serialized.

    Decisions are compiled from the deployment's DMN files (closures, not data), so a spec
    written with :meth:`_Serializers.full` can be read for what it is but not rebuilt from the
    dictionary: reparse the deployment instead. Instance state never contains specs.
    """

    def to_dict(self, spec: Any) -> dict[str, Any]:
        dct: dict[str, Any] = super().to_dict(spec)
        runner = spec.dmnEngine
        dct.update(
            decision=runner.decision.id,
            result_variable=runner.result_variable,
            map_result=runner.map_result,
        )
        return dct

    def from_dict(self, dct: dict[str, Any]) -> Any:
        raise ValueError(
            f"business rule task {dct.get('bpmn_id')!r}: decisions are compiled from the "
            "deployment's DMN files; parse the deployment instead of restoring its spec"
        )


def _config() -> dict[Any, Any]:
    config: dict[Any, Any] = deepcopy(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpeclessWorkflowConverter
    config[ExternalServiceTask] = ExternalServiceTaskConverter
    config[HumanTask] = HumanTaskConverter
    config[BusinessRuleTask] = DecisionTaskConverter
    config[PassThroughTask] = SpiffBpmnTaskConverter
    config[MappedCallActivity] = SubWorkflowTaskConverter
    for timer in (ClockedDateTimer, ClockedDurationTimer, ClockedCycleTimer):
        config[timer] = TimerConditionalEventDefinitionConverter
    return config


def _full_config() -> dict[Any, Any]:
    config = _config()
    config[BpmnWorkflow] = BpmnWorkflowConverter
    return config


class _Serializers:
    """Built on first use, never at import time."""

    def __init__(self) -> None:
        self._state: BpmnWorkflowSerializer | None = None
        self._full: BpmnWorkflowSerializer | None = None

    @property
    def state(self) -> BpmnWorkflowSerializer:
        if self._state is None:
            self._state = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_config()))
        return self._state

    @property
    def full(self) -> BpmnWorkflowSerializer:
        """SpiffWorkflow's own format (spec included): for export and for comparison."""
        if self._full is None:
            self._full = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_full_config()))
        return self._full


serializer = _Serializers()


def dump_state(workflow: BpmnWorkflow) -> str:
    """The instance's state as JSON, without the spec."""
    return str(serializer.state.serialize_json(workflow))


def load_state(
    state: str, spec: Any, subprocess_specs: dict[str, Any], script_engine: Any
) -> BpmnWorkflow:
    """Rebuild an instance from :func:`dump_state` output and the deployment's cached spec."""
    ser = serializer.state
    dct = json.loads(state)
    ser.migrate(dct)
    workflow = ser.registry.restore(dct, spec=spec, subprocess_specs=subprocess_specs)
    workflow.script_engine = script_engine
    return workflow
