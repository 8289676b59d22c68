"""One BPMN/DMN parser for both dialects loanflow accepts.

Diagrams from bpmn.io/SpiffArena carry ``spiffworkflow:`` extensions; diagrams from Camunda
Modeler carry ``camunda:`` attributes. Both deploy through :class:`LoanflowParser`, which
extends SpiffWorkflow's parser through ``OVERRIDE_PARSER_CLASSES`` only.

XML is read by :func:`parse_xml`, which refuses DTDs (so no XXE and no entity bombs), never
touches the network and keeps line numbers for error messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import (
    BoundaryEventParser,
    IntermediateCatchEventParser,
    StartEventParser,
)
from SpiffWorkflow.bpmn.parser.node_parser import DEFAULT_NSMAP
from SpiffWorkflow.bpmn.parser.task_parsers import SubprocessParser
from SpiffWorkflow.bpmn.parser.util import first
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import BoundaryEvent, IntermediateCatchEvent, StartEvent
from SpiffWorkflow.spiff.parser.event_parsers import SpiffEventDefinitionParser
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import SPIFFWORKFLOW_NSMAP, SpiffTaskParser
from SpiffWorkflow.spiff.parser.task_spec import CallActivityParser as SpiffCallActivityParser
from SpiffWorkflow.spiff.specs.defaults import BusinessRuleTask

from loanflow.engine.bpmn.extensions import (
    ExtensionError,
    camunda_call_mappings,
    zeebe_assignment,
    zeebe_called_decision,
    zeebe_form,
    zeebe_io_mapping,
    zeebe_task_definition,
    zeebe_task_headers,
)
from loanflow.engine.bpmn.specs import (
    ClockedCycleTimer,
    ClockedDateTimer,
    ClockedDurationTimer,
    ExternalServiceTask,
    HumanTask,
    MappedCallActivity,
    PassThroughTask,
)
from loanflow.engine.dmn import (
    MAP_RESULTS,
    Decision,
    DecisionRunner,
    DmnProblem,
    DmnProblems,
    compile_dmn,
)
from loanflow.engine.expressions import language_of

__all__ = ["CAMUNDA_NS", "LoanflowParser", "UnsafeXml", "parse_xml"]

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
NAMESPACES = {**DEFAULT_NSMAP, **SPIFFWORKFLOW_NSMAP, "camunda": CAMUNDA_NS, "zeebe": ZEEBE_NS}
MAX_XML_BYTES = 5 * 1024 * 1024


class UnsafeXml(ValueError):
    """The document is not XML this engine will read; ``line`` where known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def parse_xml(content: bytes) -> etree._ElementTree:
    """Parse untrusted XML: no DTD, no entities, no network, bounded size."""
    if len(content) > MAX_XML_BYTES:
        raise UnsafeXml(f"file is larger than {MAX_XML_BYTES // (1024 * 1024)} MB")
    if re.search(rb"<!DOCTYPE|<!ENTITY", content[:65536], re.IGNORECASE):
        line = content[: content.upper().find(b"<!")].count(b"\n") + 1
        raise UnsafeXml("DTDs and entity declarations are not allowed (XXE / entity bombs)", line)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )
    try:
        tree = etree.fromstring(content, parser).getroottree()
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"not well-formed XML: {exc.msg}", exc.lineno) from exc
    if tree.docinfo.doctype:  # type: ignore[union-attr]
        raise UnsafeXml("DTDs are not allowed", 1)
    return tree


def _camunda(node: Any, name: str) -> str | None:
    value: str | None = node.get(f"{{{CAMUNDA_NS}}}{name}")
    return value


class _LoanflowTaskParser(SpiffTaskParser):  # type: ignore[misc]
    """Reads ``spiffworkflow:properties`` and ``camunda:properties`` alike."""

    @contextmanager
    def extension_errors(self) -> Iterator[None]:
        """A malformed vendor extension is a validation problem on this element."""
        try:
            yield
        except ExtensionError as exc:
            raise ValidationException(exc.message, node=self.node, file_name=self.filename) from exc

    def properties(self) -> dict[str, str]:
        props: dict[str, str] = dict(self.parse_extensions().get("properties", {}))
        for node in self.xpath("./bpmn:extensionElements/camunda:properties/camunda:property"):
            props[node.get("name")] = node.get("value")
        return props

    def scripts(self) -> dict[str, Any]:
        ext = self.parse_extensions()
        return {"prescript": ext.get("preScript"), "postscript": ext.get("postScript")}


class ExternalTaskParser(_LoanflowTaskParser):
    """``serviceTask`` → :class:`ExternalServiceTask` from either dialect."""

    def create_task(self) -> ExternalServiceTask:
        operator = self.parse_extensions().get("serviceTaskOperator")
        if operator is not None:
            return ExternalServiceTask(
                self.spec,
                self.bpmn_id,
                topic=operator["name"],
                input_map={k: v["value"] for k, v in operator["parameters"].items()},
                result_variable=operator.get("resultVariable") or None,
                retries=operator.get("retries"),
                retry_backoff=operator.get("retryBackoffBase"),
                **self.scripts(),
                **self.bpmn_attributes,
            )
        topic = _camunda(self.node, "topic")
        if _camunda(self.node, "type") == "external" and topic:
            inputs, outputs = self._camunda_io()
            props = self.properties()
            retries, backoff = self._camunda_retries()
            return ExternalServiceTask(
                self.spec,
                self.bpmn_id,
                topic=topic,
                input_map=inputs,
                output_map=outputs,
                result_variable=props.get("resultVariable"),
                retries=retries,
                retry_backoff=backoff,
                **self.bpmn_attributes,
            )
        zeebe = self._zeebe_task()
        if zeebe is not None:
            return zeebe
        raise ValidationException(
            "a service task needs a worker topic: spiffworkflow:serviceTaskOperator, "
            'camunda:type="external" with camunda:topic, or zeebe:taskDefinition type',
            node=self.node,
            file_name=self.filename,
        )

    def _zeebe_task(self) -> ExternalServiceTask | None:
        """Camunda 8: ``zeebe:taskDefinition`` (type → topic, retries), ``zeebe:ioMapping``,
        ``zeebe:taskHeaders`` (given to the worker as ``headers``)."""
        with self.extension_errors():
            definition = zeebe_task_definition(self.node)
            if definition is None:
                return None
            io = zeebe_io_mapping(self.node)
            headers = zeebe_task_headers(self.node)
        if definition.type.startswith("="):
            raise ValidationException(
                f"zeebe:taskDefinition type {definition.type!r}: a topic computed by an "
                "expression is not supported; name the topic",
                node=self.node,
                file_name=self.filename,
            )
        retries = definition.retries
        if retries is not None and not retries.isdigit():
            raise ValidationException(
                f"zeebe:taskDefinition retries {retries!r}: give a number",
                node=self.node,
                file_name=self.filename,
            )
        inputs = {m.target: _zeebe_source(m.source) for m in io.inputs}
        if headers:
            inputs["headers"] = repr(dict(headers))
        return ExternalServiceTask(
            self.spec,
            self.bpmn_id,
            topic=definition.type,
            input_map=inputs,
            output_map={m.target: _zeebe_source(m.source) for m in io.outputs},
            retries=int(retries) if retries is not None else None,
            **self.bpmn_attributes,
        )

    def _camunda_io(self) -> tuple[dict[str, str], dict[str, str]]:
        def mapping(kind: str) -> dict[str, str]:
            result: dict[str, str] = {}
            path = f"./bpmn:extensionElements/camunda:inputOutput/camunda:{kind}"
            for node in self.xpath(path):
                if len(node):
                    raise ValidationException(
                        f"camunda:{kind} {node.get('name')!r}: only text values are supported",
                        node=self.node,
                        file_name=self.filename,
                    )
                text = (node.text or "").strip()
                result[node.get("name")] = _expression_or_literal(text)
            return result

        return mapping("inputParameter"), mapping("outputParameter")

    def _camunda_retries(self) -> tuple[int | None, float | None]:
        cycle = first(self.xpath("./bpmn:extensionElements/camunda:failedJobRetryTimeCycle"))
        if cycle is None or not cycle.text:
            return None, None
        match = re.fullmatch(r"R(\d+)/(P.+)", cycle.text.strip())
        if not match:
            raise ValidationException(
                f"camunda:failedJobRetryTimeCycle {cycle.text!r}: expected R<n>/<ISO duration>",
                node=self.node,
                file_name=self.filename,
            )
        from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

        parsed = TimerEventDefinition.parse_iso_duration(match.group(2))
        seconds = TimerEventDefinition.get_timedelta_from_start(parsed).total_seconds()
        return int(match.group(1)), seconds


def _zeebe_source(source: str) -> str:
    """A Zeebe mapping source: ``=…`` is FEEL, empty is null, anything else a literal."""
    if not source:
        return "None"
    return source if source.startswith("=") else repr(source)


def _expression_or_literal(text: str) -> str:
    """A Camunda parameter's text as an expression: JUEL (``${x}``) or FEEL (``=x``) as
    written, anything else a string literal."""
    if language_of(text) != "python":
        return text
    return repr(text)


class HumanTaskParser(_LoanflowTaskParser):
    """``userTask`` / ``manualTask`` → :class:`HumanTask` from either dialect."""

    def create_task(self) -> HumanTask | PassThroughTask:
        props = self.properties()
        ext = self.parse_extensions()

        with self.extension_errors():
            zeebe = zeebe_assignment(self.node)
            zeebe_form_key = zeebe_form(self.node)
        zeebe_values = {
            "candidateGroups": zeebe.candidate_groups,
            "candidateUsers": zeebe.candidate_users,
            "assignee": zeebe.assignee,
            "formKey": zeebe_form_key,
        }

        def pick(camunda_name: str, prop_name: str | None = None) -> str | None:
            return (
                _camunda(self.node, camunda_name)
                or zeebe_values.get(camunda_name)
                or props.get(prop_name or camunda_name)
            )

        form_key = pick("formKey") or props.get("formJsonSchemaFilename")
        assigned = any(
            (pick("candidateGroups"), pick("candidateUsers"), pick("assignee"), self.lane)
        )
        if etree.QName(self.node).localname == "manualTask" and not (form_key or assigned):
            # Camunda runs a manual task straight through; one with nobody to do it and no
            # form would wait forever here
            return PassThroughTask(self.spec, self.bpmn_id, **self.bpmn_attributes)
        if form_key and form_key.endswith(".json"):
            form_key = form_key[: -len(".json")]
        if form_key and form_key.endswith("-schema"):
            form_key = form_key[: -len("-schema")]
        groups = pick("candidateGroups")
        if groups is None and self.lane:
            groups = self.lane
        return HumanTask(
            self.spec,
            self.bpmn_id,
            form_key=form_key,
            candidate_groups=groups,
            candidate_users=pick("candidateUsers"),
            assignee=pick("assignee"),
            due_date=pick("dueDate"),
            variable=ext.get("variableName"),
            sod_group=props.get("separationOfDuties"),
            display_name=props.get("displayName"),
            **self.scripts(),
            **self.bpmn_attributes,
        )


class DecisionTaskParser(_LoanflowTaskParser):
    """``businessRuleTask`` naming its DMN decision in either dialect."""

    @staticmethod
    def get_decision_ref(node: Any) -> str | None:
        ref: str | None = SpiffTaskParser._parse_extensions(node).get("calledDecisionId")
        if ref or _camunda(node, "decisionRef"):
            return ref or _camunda(node, "decisionRef")
        try:
            called = zeebe_called_decision(node)
        except ExtensionError:
            return None
        return called.decision_id if called is not None else None

    def create_task(self) -> Any:
        ref = self.get_decision_ref(self.node)
        if not ref:
            raise ValidationException(
                "a business rule task needs a decision: spiffworkflow:calledDecisionId or "
                "camunda:decisionRef",
                node=self.node,
                file_name=self.filename,
            )
        result_variable = _camunda(self.node, "resultVariable")
        map_result = _camunda(self.node, "mapDecisionResult")
        with self.extension_errors():
            called = zeebe_called_decision(self.node)
        if called is not None:
            result_variable, map_result = called.result_variable, "zeebe"
        if map_result is not None and map_result not in (*MAP_RESULTS, "zeebe"):
            raise ValidationException(
                f"camunda:mapDecisionResult {map_result!r}: expected one of "
                + ", ".join(sorted(MAP_RESULTS)),
                node=self.node,
                file_name=self.filename,
            )
        decision = self.process_parser.parser.get_decision(ref, self.node, self.filename)
        return BusinessRuleTask(
            self.spec,
            self.bpmn_id,
            dmnEngine=DecisionRunner(
                decision, self.process_parser.parser.decisions, result_variable, map_result
            ),
            **self.scripts(),
            **self.bpmn_attributes,
        )


class MappedCallActivityParser(SpiffCallActivityParser):  # type: ignore[misc]
    """``callActivity`` with Camunda 7 ``camunda:in``/``camunda:out`` variable mappings."""

    def create_task(self) -> MappedCallActivity:
        try:
            mappings = camunda_call_mappings(self.node)
        except ExtensionError as exc:
            raise ValidationException(exc.message, node=self.node, file_name=self.filename) from exc
        extensions = self.parse_extensions()
        return MappedCallActivity(
            self.spec,
            self.bpmn_id,
            subworkflow_spec=SubprocessParser.get_call_activity_spec(self),
            in_mappings=[(m.source, m.target, m.expression) for m in mappings.inputs],
            out_mappings=[(m.source, m.target, m.expression) for m in mappings.outputs],
            all_in=mappings.all_in,
            all_out=mappings.all_out,
            prescript=extensions.get("preScript"),
            postscript=extensions.get("postScript"),
            **self.bpmn_attributes,
        )


class _ClockedTimers:
    """Mixin: timer definitions that read the engine clock and accept plain ISO text."""

    node: Any
    filename: str
    xpath: Any  # provided by the parser this is mixed into

    def parse_timer_event(self, event: Any) -> Any:
        name = self.node.get("name", self.node.get("id"))
        for tag, cls in (
            ("timeDate", ClockedDateTimer),
            ("timeDuration", ClockedDurationTimer),
            ("timeCycle", ClockedCycleTimer),
        ):
            found = first(self.xpath(f".//bpmn:{tag}"))
            if found is not None:
                if not (found.text or "").strip():
                    raise ValidationException(
                        f"empty {tag}", node=self.node, file_name=self.filename
                    )
                return cls(name, found.text.strip(), description=f"Timer ({tag})")
        raise ValidationException(
            "timer without timeDate, timeDuration or timeCycle",
            node=self.node,
            file_name=self.filename,
        )


class StartParser(_ClockedTimers, SpiffEventDefinitionParser, StartEventParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        task = StartEventParser.create_task(self)
        props = self.parse_extensions().get("properties", {})
        task.form_key = _camunda(self.node, "formKey") or props.get("formKey")
        return task


class CatchParser(_ClockedTimers, SpiffEventDefinitionParser, IntermediateCatchEventParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        return IntermediateCatchEventParser.create_task(self)


class BoundaryParser(_ClockedTimers, SpiffEventDefinitionParser, BoundaryEventParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        return BoundaryEventParser.create_task(self)


class LoanflowParser(SpiffBpmnParser):  # type: ignore[misc]
    """SpiffWorkflow's spiff parser, taught the Camunda attributes and loanflow's task specs."""

    OVERRIDE_PARSER_CLASSES: ClassVar[dict[str, tuple[Any, Any]]] = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (ExternalTaskParser, ExternalServiceTask),
        full_tag("userTask"): (HumanTaskParser, HumanTask),
        full_tag("manualTask"): (HumanTaskParser, HumanTask),
        full_tag("task"): (_LoanflowTaskParser, PassThroughTask),
        full_tag("callActivity"): (MappedCallActivityParser, MappedCallActivity),
        full_tag("businessRuleTask"): (DecisionTaskParser, BusinessRuleTask),
        full_tag("startEvent"): (StartParser, StartEvent),
        full_tag("intermediateCatchEvent"): (CatchParser, IntermediateCatchEvent),
        full_tag("boundaryEvent"): (BoundaryParser, BoundaryEvent),
    }

    def __init__(self) -> None:
        super().__init__(namespaces=dict(NAMESPACES))
        self.decisions: dict[str, Decision] = {}
        self.decision_files: dict[str, str] = {}

    def add_dmn_xml(self, node: Any, filename: str | None = None) -> None:
        """Compile every decision of a DMN file (SpiffWorkflow's own DMN parser is not used).

        Raises :class:`DmnProblems` listing every cell that does not parse and every decision
        id that another file of the deployment already defines.
        """
        file = filename or "(dmn)"
        decisions = compile_dmn(node, file)
        clashes = [
            DmnProblem(
                f"decision {d.id!r} is also defined in {self.decision_files[d.id]}", d.line, d.id
            )
            for d in decisions
            if d.id in self.decision_files
        ]
        if clashes:
            raise DmnProblems(clashes)
        for decision in decisions:
            self.decisions[decision.id] = decision
            self.decision_files[decision.id] = file

    def get_decision(self, ref: str, node: Any, filename: str | None) -> Decision:
        decision = self.decisions.get(ref)
        if decision is None:
            known = ", ".join(sorted(self.decisions)) or "none"
            raise ValidationException(
                f"calls decision {ref!r}, which no DMN file in the deployment defines "
                f"(decisions: {known})",
                node=node,
                file_name=filename,
            )
        return decision

    def get_engine(self, decision_ref: str, node: Any) -> DecisionRunner:
        return DecisionRunner(self.get_decision(decision_ref, node, None), self.decisions)
