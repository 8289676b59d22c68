"""Deployments: bundles of BPMN, DMN and form files, validated, versioned and parsed once.

Validation answers every problem with file, line and element before anything is stored:
unsafe or malformed XML, BPMN SpiffWorkflow cannot run, a service task whose topic has no
worker, a user task whose form is missing, a called DMN decision that is missing, a script or
expression that the sandbox refuses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.dmn.specs.business_rule_task_mixin import BusinessRuleTaskMixin
from SpiffWorkflow.exceptions import SpiffWorkflowException

from loanflow.engine.bpmn.normalize import normalize
from loanflow.engine.bpmn.parser import LoanflowParser, UnsafeXml, parse_xml
from loanflow.engine.bpmn.specs import _ISO_LITERAL, ExternalServiceTask, HumanTask, expression_of
from loanflow.engine.dmn import DmnProblems, check_requirements
from loanflow.engine.errors import DeploymentError, Problem, ScriptError
from loanflow.engine.expressions import check as check_expression_text
from loanflow.engine.parameters import parameter_sets_read_by

__all__ = [
    "DeploymentCache",
    "ParsedDeployment",
    "ParsedProcess",
    "build_deployment",
    "packaged_forms",
]

log = logging.getLogger(__name__)

BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml")
MAX_FILES = 200
UNSUPPORTED = {
    "compensateEventDefinition": "compensation is not executed by this engine yet",
    "complexGateway": "complex gateways are not supported",
}
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"


@dataclass
class ParsedProcess:
    key: str
    name: str | None
    file: str
    spec: Any
    subprocess_specs: dict[str, Any]
    start_form: str | None = None
    message_starts: list[str] = field(default_factory=list)
    timer_start: bool = False
    definition_id: str = ""
    version: int = 0
    #: the forms of the deployment this process came in (shared with its siblings)
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the tenant parameter sets its deployment reads (snapshotted into new instances)
    parameters: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Finding:
    """What the engine does with one element that is not plain executable BPMN."""

    file: str
    kind: str
    """``translated``, ``ignored`` (accepted, no effect) or ``rejected``."""
    message: str
    line: int | None = None
    element: str | None = None


@dataclass
class ParsedDeployment:
    """What one bundle parses to; shared read-only between threads once built."""

    id: str
    tenant: str
    content_hash: str
    processes: dict[str, ParsedProcess]
    forms: dict[str, dict[str, Any]]
    files: dict[str, bytes]
    #: what the deployment translated or ignored, element by element (rejections are errors)
    notes: list[Finding] = field(default_factory=list)


def content_hash(files: Mapping[str, bytes]) -> str:
    outer = hashlib.sha256()
    for name in sorted(files):
        outer.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return outer.hexdigest()


def packaged_forms() -> dict[str, dict[str, Any]]:
    """The forms shipped in ``loanflow.forms`` (the province's shared defaults)."""
    found: dict[str, dict[str, Any]] = {}
    for entry in resources.files("loanflow.forms").iterdir():
        if entry.name.endswith(".json"):
            found[entry.name[: -len(".json")]] = json.loads(entry.read_text("utf-8"))
    return found


def _line_of(tree: Any, element_id: str | None) -> int | None:
    if not element_id or tree is None:
        return None
    found = tree.xpath("//*[@id=$id]", id=element_id)
    return int(found[0].sourceline) if found else None


class _Validator:
    def __init__(
        self,
        files: Mapping[str, bytes],
        topics: Callable[[str], bool],
        check_expression: Callable[[str], None],
        check_script: Callable[[str], None],
        known_forms: Mapping[str, dict[str, Any]],
        resolve_process: Callable[[str], ParsedProcess | None],
        strict_topics: bool = True,
    ) -> None:
        self.strict_topics = strict_topics
        self.files = files
        self.has_topic = topics
        self.check_expression = check_expression
        self.check_script = check_script
        self.known_forms = known_forms
        self.resolve_process = resolve_process
        self.problems: list[Problem] = []
        self.notes: list[Finding] = []
        self.trees: dict[str, Any] = {}
        self.forms: dict[str, dict[str, Any]] = {}

    def problem(
        self, file: str, message: str, line: int | None = None, element: str | None = None
    ) -> None:
        self.problems.append(Problem(file=file, message=message, line=line, element=element))

    def _validation(self, exc: ValidationException, default_file: str) -> None:
        file = exc.file_name or default_file
        element = exc.id or None
        self.problem(file, str(exc).rstrip(". "), _line_of(self.trees.get(file), element), element)

    def run(self) -> dict[str, ParsedProcess]:
        if not self.files:
            self.problem("(bundle)", "the bundle has no files")
            return {}
        if len(self.files) > MAX_FILES:
            self.problem("(bundle)", f"more than {MAX_FILES} files in one deployment")
            return {}
        parser = LoanflowParser()
        bpmn: list[str] = []
        dmn: list[str] = []
        for name, content in self.files.items():
            lower = name.lower()
            if lower.endswith(".json"):
                self._read_form(name, content)
            elif lower.endswith(BPMN_SUFFIXES) or lower.endswith(".dmn"):
                try:
                    tree = parse_xml(content)
                except UnsafeXml as exc:
                    self.problem(name, str(exc), exc.line)
                    continue
                self.trees[name] = tree
                (dmn if lower.endswith(".dmn") else bpmn).append(name)
            else:
                self.problem(name, "unknown file type: expected .bpmn, .dmn or .json (a form)")
        for name in dmn:
            try:
                parser.add_dmn_xml(self.trees[name].getroot(), name)
            except DmnProblems as exc:
                for found in exc.problems:
                    self.problem(name, found.message, found.line, found.element)
        for found in check_requirements(parser.decisions):
            file = parser.decision_files.get(found.element or "", "(bundle)")
            self.problem(file, found.message, found.line, found.element)
        for name in bpmn:
            for note in normalize(self.trees[name]):
                if note.kind == "rejected":
                    self.problem(name, note.message, note.line, note.element)
                else:
                    self.notes.append(
                        Finding(name, note.kind, note.message, note.line, note.element)
                    )
            self._check_bpmn_xml(name)
            try:
                parser.add_bpmn_xml(self.trees[name], name)
            except ValidationException as exc:
                self._validation(exc, name)
            except Exception as exc:  # noqa: BLE001 - likewise on BPMN it cannot read
                self.problem(name, f"not a BPMN file this engine can read: {exc}")
        if self.problems:
            return {}
        return self._build_processes(parser)

    def _read_form(self, name: str, content: bytes) -> None:
        try:
            form = json.loads(content)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self.problem(name, f"form is not valid JSON: {exc}", getattr(exc, "lineno", None))
            return
        if not isinstance(form, dict):
            self.problem(name, "a form must be a JSON Schema object")
            return
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(form)
        except SchemaError as exc:
            self.problem(name, f"not a valid JSON Schema: {exc.message}")
            return
        key = name.rsplit("/", 1)[-1][: -len(".json")]
        self.forms[key.removesuffix(".schema")] = form

    def _compile(self, file: str, node: Any, text: str, *, script: bool = False) -> None:
        try:
            if script:
                self.check_script(text)
            else:
                check_expression_text(text, self.check_expression)
        except ScriptError as exc:
            line = node.sourceline
            if exc.line and script:
                line = (node.sourceline or 0) + exc.line - 1
            element = node.get("id") or _owner_id(node)
            self.problem(file, f"script refused: {exc.message}", line, element)

    def _check_bpmn_xml(self, name: str) -> None:
        root = self.trees[name].getroot()
        for node in root.iter(etree.Element):
            local = etree.QName(node).localname
            ns = etree.QName(node).namespace
            if ns == BPMN_NS and local in UNSUPPORTED:
                self.problem(name, UNSUPPORTED[local], node.sourceline, _owner_id(node))
            text = (node.text or "").strip()
            if ns == BPMN_NS and local == "script" and text:
                self._compile(name, node, node.text, script=True)
            elif ns == BPMN_NS and local == "conditionExpression" and text:
                self._compile(name, node, text)
            elif ns == BPMN_NS and local in ("timeDate", "timeDuration", "timeCycle") and text:
                if not _ISO_LITERAL.match(text.strip("'\"")):
                    self._compile(name, node, text)
            elif ns == SPIFF_NS and local in ("preScript", "postScript") and text:
                self._compile(name, node, node.text, script=True)
            elif ns == SPIFF_NS and local == "messagePayload" and text:
                self._compile(name, node, text)
            elif ns == SPIFF_NS and local == "parameter" and node.get("value"):
                self._compile(name, node, node.get("value"))

    def _build_processes(self, parser: LoanflowParser) -> dict[str, ParsedProcess]:
        processes: dict[str, ParsedProcess] = {}
        for key, process_parser in list(parser.process_parsers.items()):
            if not process_parser.process_executable:
                continue
            file = process_parser.filename or "(bundle)"
            try:
                spec = parser.get_spec(key)
                subs = parser.get_subprocess_specs(key, require_call_activity_specs=False)
            except ValidationException as exc:
                self._validation(exc, file)
                continue
            except SpiffWorkflowException as exc:
                self.problem(file, str(exc))
                continue
            for called, sub in list(subs.items()):
                if sub is None:
                    found = self.resolve_process(called)
                    if found is None:
                        self.problem(
                            file,
                            f"calls process {called!r}, which is neither in this bundle "
                            "nor deployed",
                        )
                        continue
                    subs[called] = found.spec
                    subs.update(found.subprocess_specs)
            for each_spec in [spec, *(s for s in subs.values() if s is not None)]:
                _connect_loops(each_spec)
            parsed = ParsedProcess(
                key=key, name=process_parser.get_name(), file=file, spec=spec, subprocess_specs=subs
            )
            for each in [spec, *(s for s in subs.values() if s is not None)]:
                self._check_specs(file, each, parsed)
            processes[key] = parsed
        if not processes and not self.problems:
            self.problem("(bundle)", 'no executable process (isExecutable="true") in the bundle')
        return processes

    def _check_specs(self, file: str, spec: Any, parsed: ParsedProcess) -> None:
        tree = self.trees.get(file)
        for task_spec in spec.task_specs.values():
            element = getattr(task_spec, "bpmn_id", None)
            if isinstance(task_spec, ExternalServiceTask):
                if not self.has_topic(task_spec.topic):
                    operator = (getattr(task_spec, "extensions", None) or {}).get(
                        "serviceTaskOperator"
                    )
                    if self.strict_topics or operator is not None:
                        self.problem(
                            file,
                            f"service task topic {task_spec.topic!r} has no worker"
                            + (
                                " (a spiffworkflow:serviceTaskOperator names a connector "
                                "of this engine)"
                                if operator is not None
                                else " (the tenant's deployment settings ask for strict topics)"
                            ),
                            _line_of(tree, element),
                            element,
                        )
                    else:
                        self.notes.append(
                            Finding(
                                file,
                                "executed",
                                f"topic {task_spec.topic!r} has no worker in this engine: a "
                                "remote worker must serve it",
                                _line_of(tree, element),
                                element,
                            )
                        )
            elif isinstance(task_spec, HumanTask):
                if (
                    task_spec.form_key
                    and task_spec.form_key not in self.forms
                    and task_spec.form_key not in self.known_forms
                ):
                    self.problem(
                        file,
                        f"user task form {task_spec.form_key!r} does not exist "
                        f"(add {task_spec.form_key}.json to the bundle or to forms/)",
                        _line_of(tree, element),
                        element,
                    )
                for text in (
                    task_spec.candidate_groups,
                    task_spec.candidate_users,
                    task_spec.assignee,
                    task_spec.due_date,
                ):
                    inner = expression_of(text)
                    if inner is not None and text is not None:
                        try:
                            check_expression_text(text, self.check_expression)
                        except ScriptError as exc:
                            self.problem(
                                file,
                                f"assignment expression refused: {exc.message}",
                                _line_of(tree, element),
                                element,
                            )
            elif isinstance(task_spec, SubWorkflowTask):
                continue
            definition = getattr(task_spec, "event_definition", None)
            if definition is not None and spec is parsed.spec and task_spec in spec.start.outputs:
                kind = type(definition).__name__
                if "Message" in kind:
                    parsed.message_starts.append(definition.name)
                elif "Timer" in kind:
                    parsed.timer_start = True
            if spec is parsed.spec and task_spec in spec.start.outputs:
                form = getattr(task_spec, "form_key", None)
                if form and form not in self.forms and form not in self.known_forms:
                    self.problem(
                        file,
                        f"start form {form!r} does not exist",
                        _line_of(tree, element),
                        element,
                    )
                parsed.start_form = parsed.start_form or form


def _connect_loops(spec: Any) -> None:
    """Wire each loop/multi-instance task to merge its children, as a live run would.

    SpiffWorkflow connects ``merge_child`` only when it creates the first child; an instance
    reloaded onto a freshly parsed spec already has its children, so without this their
    results (committee votes) would never be merged.
    """
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, LoopTask):
            child = spec.task_specs.get(task_spec.task_spec)
            if child is not None and not child.completed_event.is_connected(task_spec.merge_child):
                child.completed_event.connect(task_spec.merge_child)


def _owner_id(node: Any) -> str | None:
    while node is not None:
        if node.get("id"):
            value: str = node.get("id")
            return value
        node = node.getparent()
    return None


def build_deployment(
    deployment_id: str,
    tenant: str,
    files: Mapping[str, bytes],
    *,
    has_topic: Callable[[str], bool],
    check_expression: Callable[[str], None],
    check_script: Callable[[str], None],
    known_forms: Mapping[str, dict[str, Any]],
    resolve_process: Callable[[str], ParsedProcess | None] = lambda _key: None,
    strict_topics: bool = True,
) -> ParsedDeployment:
    """Parse and validate a bundle; raise :class:`DeploymentError` listing every problem.

    With ``strict_topics`` off, a service task whose topic ``has_topic`` denies deploys with a
    note (a remote worker will serve it) instead of failing.
    """
    validator = _Validator(
        files,
        has_topic,
        check_expression,
        check_script,
        known_forms,
        resolve_process,
        strict_topics,
    )
    processes = validator.run()
    if validator.problems:
        raise DeploymentError(validator.problems)
    decisions = [content for name, content in files.items() if name.lower().endswith(".dmn")]
    for process in processes.values():
        process.forms = validator.forms
        texts = [files[process.file]] if process.file in files else list(files.values())
        if _has_decisions(process):
            texts += decisions
        process.parameters = parameter_sets_read_by(texts)
    return ParsedDeployment(
        id=deployment_id,
        tenant=tenant,
        content_hash=content_hash(files),
        processes=processes,
        forms=validator.forms,
        files=dict(files),
        notes=validator.notes,
    )


#: BPMN elements a lint report lists (the flow nodes, flows and data a modeler draws)
_REPORTED = frozenset(
    {
        "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
        "boundaryEvent", "task", "userTask", "manualTask", "serviceTask", "scriptTask",
        "businessRuleTask", "sendTask", "receiveTask", "callActivity", "subProcess",
        "transaction", "exclusiveGateway", "inclusiveGateway", "parallelGateway",
        "eventBasedGateway", "complexGateway", "sequenceFlow", "dataObjectReference",
        "dataStoreReference", "dataObject",
    }
)  # fmt: skip


def lint(
    files: Mapping[str, bytes],
    *,
    has_topic: Callable[[str], bool],
    check_expression: Callable[[str], None],
    check_script: Callable[[str], None],
    known_forms: Mapping[str, dict[str, Any]],
) -> list[Finding]:
    """Every element of every diagram: ``executed``, ``translated``, ``ignored`` or
    ``rejected``, and why; what :func:`build_deployment` would do, without storing anything."""
    originals = {
        name: parse_xml(content)
        for name, content in files.items()
        if name.lower().endswith(BPMN_SUFFIXES) and _parses(content)
    }
    validator = _Validator(
        files, has_topic, check_expression, check_script, known_forms, lambda _key: None
    )
    validator.run()
    found: list[Finding] = list(validator.notes)
    found += [Finding(p.file, "rejected", p.message, p.line, p.element) for p in validator.problems]
    named = {(f.file, f.element) for f in found}
    for name, tree in originals.items():
        for node in tree.getroot().iter(etree.Element):
            qname = etree.QName(node)
            if qname.namespace != BPMN_NS or qname.localname not in _REPORTED:
                continue
            if (name, node.get("id")) not in named:
                found.append(
                    Finding(
                        name,
                        "executed",
                        qname.localname,
                        _source_line(node),
                        node.get("id"),
                    )
                )
    order = {"rejected": 0, "translated": 1, "ignored": 2, "executed": 3}
    return sorted(found, key=lambda f: (f.file, order.get(f.kind, 9), f.line or 0))


def _source_line(node: Any) -> int | None:
    line = node.sourceline
    return line if isinstance(line, int) else None


def _parses(content: bytes) -> bool:
    try:
        parse_xml(content)
    except UnsafeXml:
        return False
    return True


def _has_decisions(process: ParsedProcess) -> bool:
    specs = [process.spec, *(s for s in process.subprocess_specs.values() if s is not None)]
    return any(
        isinstance(task, BusinessRuleTaskMixin)
        for spec in specs
        for task in spec.task_specs.values()
    )


class DeploymentCache:
    """Parsed deployments by id, least recently used evicted; thread-safe."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, ParsedDeployment] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, deployment_id: str) -> ParsedDeployment | None:
        with self._lock:
            item = self._items.get(deployment_id)
            if item is not None:
                self._items.move_to_end(deployment_id)
            return item

    def put(self, item: ParsedDeployment) -> None:
        with self._lock:
            self._items[item.id] = item
            self._items.move_to_end(item.id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __iter__(self) -> Iterable[ParsedDeployment]:
        with self._lock:
            return iter(list(self._items.values()))
