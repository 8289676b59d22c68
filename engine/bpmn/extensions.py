"""Readers for vendor extensions of BPMN elements: Zeebe (Camunda 8) and Camunda 7.

Each reader is a pure function of one lxml element (the task, event or message itself) and
returns frozen data, or raises :class:`ExtensionError` naming the element and line. Nothing
is compiled here: expressions come back as written, stripped (Zeebe ``=…`` is FEEL, Camunda
``${…}`` is JUEL), so the parser decides how to evaluate them.

Mapping lists are tuples (the dataclasses are frozen and hashable); iterate them like lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lxml import etree

__all__ = [
    "BPMN_NS",
    "CAMUNDA_NS",
    "IGNORED_CAMUNDA_HINTS",
    "KNOWN_NAMESPACES",
    "MODELER_NS",
    "SPIFF_NS",
    "ZEEBE_NS",
    "Assignment",
    "CallMapping",
    "CallMappings",
    "CalledDecision",
    "CalledElement",
    "ExtensionError",
    "IoMapping",
    "Loop",
    "Mapping",
    "TaskDefinition",
    "camunda_call_mappings",
    "camunda_engine_hints",
    "camunda_io",
    "dialect_of",
    "vendor_elements",
    "zeebe_assignment",
    "zeebe_called_decision",
    "zeebe_called_element",
    "zeebe_form",
    "zeebe_io_mapping",
    "zeebe_loop",
    "zeebe_subscription",
    "zeebe_task_definition",
    "zeebe_task_headers",
]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
MODELER_NS = "http://camunda.org/schema/modeler/1.0"

_OMG = "http://www.omg.org/spec/"
_READ = (BPMN_NS, CAMUNDA_NS, ZEEBE_NS, SPIFF_NS, MODELER_NS)
_DRAWING = (f"{_OMG}BPMN/20100524/DI", f"{_OMG}DD/20100524/DC", f"{_OMG}DD/20100524/DI")
_COLOURS = ("http://bpmn.io/schema/bpmn/biocolor/1.0", f"{_OMG}BPMN/non-normative/color/1.0")
_XML = ("http://www.w3.org/2001/XMLSchema-instance", "http://www.w3.org/XML/1998/namespace")
#: Namespaces whose content is understood, or is drawing only (bpmn-js colours included).
KNOWN_NAMESPACES = frozenset((*_READ, *_DRAWING, *_COLOURS, *_XML))

_JOBS = ("async", "asyncBefore", "asyncAfter", "exclusive", "jobPriority", "taskPriority")
_PROCESS = ("historyTimeToLive", "versionTag", "isStartableInTasklist")
_STARTERS = ("candidateStarterGroups", "candidateStarterUsers")
_LISTENERS = ("executionListener", "taskListener")
IGNORED_CAMUNDA_HINTS = frozenset((*_JOBS, *_PROCESS, *_STARTERS, *_LISTENERS))

Element = etree._Element
Dialect = Literal["zeebe", "camunda7", "spiff", "plain"]
_DIALECTS: dict[str, Dialect] = {ZEEBE_NS: "zeebe", CAMUNDA_NS: "camunda7", SPIFF_NS: "spiff"}


class ExtensionError(ValueError):
    """An extension element or attribute that is malformed or not supported."""

    def __init__(self, message: str, element_id: str | None, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.element_id = element_id
        self.line = line


@dataclass(frozen=True)
class TaskDefinition:
    """``zeebe:taskDefinition``: the job type (may be an ``=`` expression) and retries."""

    type: str
    retries: str | None = None


@dataclass(frozen=True)
class Mapping:
    """One input or output: ``source`` expression or text into variable ``target``.

    An empty ``source`` means null (an empty ``camunda:inputParameter``, or a Zeebe
    mapping without ``source``).
    """

    source: str
    target: str


@dataclass(frozen=True)
class IoMapping:
    inputs: tuple[Mapping, ...] = ()
    outputs: tuple[Mapping, ...] = ()


@dataclass(frozen=True)
class CalledDecision:
    decision_id: str
    result_variable: str


@dataclass(frozen=True)
class Assignment:
    """``zeebe:assignmentDefinition``; each value literal text or an ``=`` expression."""

    assignee: str | None = None
    candidate_groups: str | None = None
    candidate_users: str | None = None


@dataclass(frozen=True)
class CalledElement:
    process_id: str
    propagate_all_child_variables: bool = True
    propagate_all_parent_variables: bool = True


@dataclass(frozen=True)
class Loop:
    """``zeebe:loopCharacteristics`` of a multi-instance activity."""

    input_collection: str
    input_element: str | None = None
    output_collection: str | None = None
    output_element: str | None = None


@dataclass(frozen=True)
class CallMapping:
    """One ``camunda:in``/``camunda:out``: ``source`` names a variable, unless ``expression``.

    With ``expression`` it is the ``sourceExpression`` as written (``${…}``). ``local``
    reads (``in``) or writes (``out``) local variables only.
    """

    source: str
    target: str
    expression: bool = False
    local: bool = False


@dataclass(frozen=True)
class CallMappings:
    """Variable passing of a Camunda 7 call activity."""

    inputs: tuple[CallMapping, ...] = ()
    outputs: tuple[CallMapping, ...] = ()
    all_in: bool = False
    all_out: bool = False
    business_key: str | None = None


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _id_of(node: Element) -> str | None:
    current: Element | None = node
    while current is not None:
        found = current.get("id")
        if found:
            return found
        current = current.getparent()
    return None


def _line(node: Element) -> int | None:
    line: int | None = getattr(node, "sourceline", None)  # lxml-stubs leave it untyped
    return line


def _attributes(node: Element) -> list[str]:
    return [name for name in node.attrib if isinstance(name, str)]


def _error(node: Element, message: str) -> ExtensionError:
    return ExtensionError(message, _id_of(node), _line(node))


def _extensions(node: Element, namespace: str, name: str) -> list[Element]:
    """Children ``namespace:name`` of the node's ``bpmn:extensionElements``."""
    found: list[Element] = []
    for ext in node.iterchildren(_q(BPMN_NS, "extensionElements")):
        found.extend(ext.iterchildren(_q(namespace, name)))
    return found


def _single(node: Element, namespace: str, name: str) -> Element | None:
    found = _extensions(node, namespace, name)
    if len(found) > 1:
        prefix = "zeebe" if namespace == ZEEBE_NS else "camunda"
        raise _error(found[1], f"more than one {prefix}:{name}")
    return found[0] if found else None


def _text(value: str | None) -> str | None:
    stripped = (value or "").strip()
    return stripped or None


def _required(element: Element, attribute: str, what: str) -> str:
    value = _text(element.get(attribute))
    if value is None:
        raise _error(element, f"{what} needs the attribute {attribute!r}")
    return value


def _flag(element: Element, attribute: str, default: bool, what: str) -> bool:
    value = _text(element.get(attribute))
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise _error(element, f"{what} {attribute}={value!r}: expected true or false")
    return value.lower() == "true"


def _namespace(name: str) -> str | None:
    return name[1:].split("}", 1)[0] if name.startswith("{") else None


def dialect_of(root: Element | etree._ElementTree) -> Dialect:
    """Which modeler wrote a ``bpmn:definitions``: its execution platform, else its namespaces.

    A namespace that is used (by an element or attribute) counts before one merely declared;
    Zeebe wins over Camunda 7, which wins over SpiffWorkflow.
    """
    element = root.getroot() if isinstance(root, etree._ElementTree) else root
    platform = (element.get(_q(MODELER_NS, "executionPlatform")) or "").strip()
    if platform == "Camunda Cloud":
        return "zeebe"
    if platform == "Camunda Platform":
        return "camunda7"
    used: set[str] = set()
    declared: set[str] = set()
    for node in element.iter(etree.Element):
        declared.update(ns for ns in node.nsmap.values() if ns)
        used.add(_namespace(node.tag) or "")
        used.update(_namespace(name) or "" for name in _attributes(node))
    for namespaces in (used, declared):
        for namespace, dialect in _DIALECTS.items():
            if namespace in namespaces:
                return dialect
    return "plain"


def zeebe_task_definition(node: Element) -> TaskDefinition | None:
    """``zeebe:taskDefinition type retries``; None when the element has none."""
    found = _single(node, ZEEBE_NS, "taskDefinition")
    if found is None:
        return None
    retries = _text(found.get("retries"))
    if retries is not None and not retries.startswith("=") and not retries.isdigit():
        raise _error(found, f"zeebe:taskDefinition retries={retries!r}: expected a number")
    return TaskDefinition(_required(found, "type", "zeebe:taskDefinition"), retries)


def _zeebe_mappings(io: Element, kind: str) -> tuple[Mapping, ...]:
    return tuple(
        Mapping(_text(item.get("source")) or "", _required(item, "target", f"zeebe:{kind}"))
        for item in io.iterchildren(_q(ZEEBE_NS, kind))
    )


def zeebe_io_mapping(node: Element) -> IoMapping:
    """``zeebe:ioMapping``; empty when the element has none."""
    io = _single(node, ZEEBE_NS, "ioMapping")
    if io is None:
        return IoMapping()
    return IoMapping(_zeebe_mappings(io, "input"), _zeebe_mappings(io, "output"))


def zeebe_called_decision(node: Element) -> CalledDecision | None:
    """``zeebe:calledDecision decisionId resultVariable`` (both required, as in Zeebe)."""
    found = _single(node, ZEEBE_NS, "calledDecision")
    if found is None:
        return None
    what = "zeebe:calledDecision"
    return CalledDecision(
        _required(found, "decisionId", what), _required(found, "resultVariable", what)
    )


def zeebe_assignment(node: Element) -> Assignment:
    """``zeebe:assignmentDefinition``; all None when the element has none."""
    found = _single(node, ZEEBE_NS, "assignmentDefinition")
    if found is None:
        return Assignment()
    names = ("assignee", "candidateGroups", "candidateUsers")
    return Assignment(*(_text(found.get(name)) for name in names))


def zeebe_form(node: Element) -> str | None:
    """The form of a user task or start event, as written.

    ``zeebe:formDefinition`` ``formId`` (a linked Camunda form), ``formKey`` (an embedded
    ``camunda-forms:bpmn:…`` or custom key) or ``externalReference``; else the older
    ``zeebe:formKey`` attribute. Two of them on one definition are an error.
    """
    found = _single(node, ZEEBE_NS, "formDefinition")
    if found is not None:
        names = ("formId", "formKey", "externalReference")
        values = [(name, _text(found.get(name))) for name in names if _text(found.get(name))]
        if len(values) > 1:
            raise _error(found, "zeebe:formDefinition: give only one of " + ", ".join(names))
        if values:
            return values[0][1]
    return _text(node.get(_q(ZEEBE_NS, "formKey")))


def zeebe_called_element(node: Element) -> CalledElement | None:
    """``zeebe:calledElement processId`` and its propagation flags (default true)."""
    found = _single(node, ZEEBE_NS, "calledElement")
    if found is None:
        return None
    what = "zeebe:calledElement"
    return CalledElement(
        _required(found, "processId", what),
        _flag(found, "propagateAllChildVariables", True, what),
        _flag(found, "propagateAllParentVariables", True, what),
    )


def zeebe_subscription(message: Element) -> str | None:
    """The ``correlationKey`` of a ``bpmn:message``'s ``zeebe:subscription``."""
    found = _single(message, ZEEBE_NS, "subscription")
    if found is None:
        return None
    return _required(found, "correlationKey", "zeebe:subscription")


def zeebe_loop(node: Element) -> Loop | None:
    """``zeebe:loopCharacteristics`` of an activity (or of its loop characteristics)."""
    characteristics = node.find(_q(BPMN_NS, "multiInstanceLoopCharacteristics"))
    if node.tag == _q(BPMN_NS, "multiInstanceLoopCharacteristics"):
        characteristics = node
    if characteristics is None:
        return None
    found = _single(characteristics, ZEEBE_NS, "loopCharacteristics")
    if found is None:
        return None
    what = "zeebe:loopCharacteristics"
    output_collection = _text(found.get("outputCollection"))
    output_element = _text(found.get("outputElement"))
    if (output_collection is None) != (output_element is None):
        raise _error(found, f"{what}: outputCollection and outputElement go together")
    return Loop(
        _required(found, "inputCollection", what),
        _text(found.get("inputElement")),
        output_collection,
        output_element,
    )


def zeebe_task_headers(node: Element) -> dict[str, str]:
    """``zeebe:taskHeaders/zeebe:header key value``, in order; duplicate keys are an error."""
    headers: dict[str, str] = {}
    for container in _extensions(node, ZEEBE_NS, "taskHeaders"):
        for header in container.iterchildren(_q(ZEEBE_NS, "header")):
            key = _required(header, "key", "zeebe:header")
            if key in headers:
                raise _error(header, f"zeebe:header {key!r} is given twice")
            headers[key] = header.get("value") or ""
    return headers


def _camunda_parameters(io: Element, kind: str) -> tuple[Mapping, ...]:
    mappings: list[Mapping] = []
    for parameter in io.iterchildren(_q(CAMUNDA_NS, kind)):
        name = _required(parameter, "name", f"camunda:{kind}")
        for child in parameter:
            if isinstance(child.tag, str):
                nested = etree.QName(child).localname
                raise _error(
                    child,
                    f"camunda:{kind} {name!r}: camunda:{nested} is not supported; "
                    "write the value as text or a ${…} expression",
                )
        mappings.append(Mapping((parameter.text or "").strip(), name))
    return tuple(mappings)


def camunda_io(node: Element) -> IoMapping:
    """``camunda:inputOutput``: each parameter's text (literal or ``${…}``) into its name."""
    io = _single(node, CAMUNDA_NS, "inputOutput")
    if io is None:
        return IoMapping()
    return IoMapping(
        _camunda_parameters(io, "inputParameter"), _camunda_parameters(io, "outputParameter")
    )


def _call_mappings(node: Element, kind: str) -> tuple[list[CallMapping], bool, str | None]:
    mappings: list[CallMapping] = []
    every = False
    business_key: str | None = None
    what = f"camunda:{kind}"
    for item in _extensions(node, CAMUNDA_NS, kind):
        source = _text(item.get("source"))
        expression = _text(item.get("sourceExpression"))
        variables = _text(item.get("variables"))
        key = _text(item.get("businessKey"))
        local = _flag(item, "local", False, what)
        if sum(x is not None for x in (source, expression, variables, key)) != 1:
            needs = "one of source, sourceExpression, variables or businessKey"
            raise _error(item, f"{what} needs {needs}")
        if variables is not None:
            if variables != "all":
                raise _error(item, f'{what} variables={variables!r}: only "all" is supported')
            every = True
        elif key is not None:
            if kind == "out":
                raise _error(item, "camunda:out cannot set a businessKey")
            business_key = key
        else:
            target = _required(item, "target", what)
            if expression is not None:
                mappings.append(CallMapping(expression, target, expression=True, local=local))
            else:
                mappings.append(CallMapping(source or "", target, local=local))
    return mappings, every, business_key


def camunda_call_mappings(node: Element) -> CallMappings:
    """``camunda:in``/``camunda:out`` of a call activity; empty when it has none."""
    inputs, all_in, business_key = _call_mappings(node, "in")
    outputs, all_out, _ = _call_mappings(node, "out")
    return CallMappings(tuple(inputs), tuple(outputs), all_in, all_out, business_key)


def camunda_engine_hints(node: Element) -> list[str]:
    """Camunda 7 engine hints on the element that loanflow accepts and ignores.

    Returned as ``camunda:<name>`` in document order (attributes first), so a deployment
    can warn "accepted and ignored: camunda:asyncBefore". ``camunda:failedJobRetryTimeCycle``
    is not among them: loanflow reads it.
    """
    names = [etree.QName(a).localname for a in _attributes(node) if _namespace(a) == CAMUNDA_NS]
    for ext in node.iterchildren(_q(BPMN_NS, "extensionElements")):
        names += [etree.QName(child).localname for child in ext.iterchildren(_q(CAMUNDA_NS, "*"))]
    return list(dict.fromkeys(f"camunda:{n}" for n in names if n in IGNORED_CAMUNDA_HINTS))


def _qualified(node: Element, name: str) -> str:
    namespace = _namespace(name)
    local = etree.QName(name).localname
    for prefix, uri in node.nsmap.items():
        if uri == namespace and prefix:
            return f"{prefix}:{local}"
    return name


def vendor_elements(root: Element | etree._ElementTree) -> list[tuple[str, str, int]]:
    """Elements and attributes in namespaces loanflow neither reads nor knows as drawing-only.

    Each as (``prefix:name``, or ``{namespace}name`` without a prefix; id of the element or of
    its nearest ancestor with one; line). Inside a reported element nothing more is reported.
    """
    found: list[tuple[str, str, int]] = []
    pending = [root.getroot() if isinstance(root, etree._ElementTree) else root]
    while pending:
        node = pending.pop()
        where = (_id_of(node) or "", _line(node) or 0)
        if _namespace(node.tag) not in KNOWN_NAMESPACES:
            found.append((_qualified(node, node.tag), *where))
            continue
        for name in _attributes(node):
            namespace = _namespace(name)
            if namespace is not None and namespace not in KNOWN_NAMESPACES:
                found.append((_qualified(node, name), *where))
        pending.extend(child for child in reversed(node) if isinstance(child.tag, str))
    return found
