"""Standard BPMN that SpiffWorkflow refuses or would run wrongly, rewritten before parsing.

SpiffWorkflow rejects an activity with several outgoing flows and a non-default gateway flow
without a condition, waits forever on a plain ``bpmn:task``, and parses link events as
"none" events (a workflow then reports "completed" having skipped work). Modelers write all
of these. :func:`normalize` rewrites the XML tree, before SpiffWorkflow sees it, into
constructs that mean the same in BPMN and that SpiffWorkflow executes:

- an activity (task, sub-process, call activity, intermediate event) with several outgoing
  flows gets a generated gateway after it: parallel when no flow has a condition (an
  implicit fork), inclusive when some do (conditional flows; an unconditioned one is always
  taken);
- a non-default flow without a condition out of an exclusive or inclusive gateway becomes
  the gateway's default when it has none, otherwise a flow that is always taken;
- a link throw event jumps: it gets a flow to the catch event of the same link name, and both
  become pass-through events;
- a data store reference becomes a data object of the process (a variable the tasks
  associated with it read and write); the engine has no external store behind it;
- ``bpmn:task``, and a ``manualTask`` with neither a form nor anyone to do it (no lane,
  candidates or assignee), pass straight through as in Camunda (the parser makes them so);
  a manual task that is assigned still waits for its person.

Each rewrite is a :class:`Note` (``translated``); what the engine cannot execute is a note
``rejected``, which the deployment turns into an error naming the element. Nothing is skipped
silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from lxml import etree

from loanflow.engine.bpmn.extensions import (
    ExtensionError,
    camunda_engine_hints,
    vendor_elements,
    zeebe_called_element,
    zeebe_loop,
    zeebe_subscription,
)

__all__ = ["BPMN_NS", "Note", "normalize"]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_B = f"{{{BPMN_NS}}}"

_ACTIVITIES = frozenset(
    {
        "task",
        "userTask",
        "manualTask",
        "serviceTask",
        "scriptTask",
        "businessRuleTask",
        "sendTask",
        "receiveTask",
        "callActivity",
        "subProcess",
        "transaction",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "startEvent",
    }
)
_CHOICE_GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway"})
#: a condition every language the engine reads takes as true
ALWAYS = "True"

Kind = Literal["executed", "translated", "ignored", "rejected"]


@dataclass(frozen=True)
class Note:
    """What the engine does with one element that is not plain executable BPMN."""

    kind: Kind
    element: str | None
    line: int | None
    message: str


def _local(node: Any) -> str:
    return str(etree.QName(node).localname)


def _is_bpmn(node: Any, *names: str) -> bool:
    return isinstance(node.tag, str) and node.tag.startswith(_B) and _local(node) in names


def _condition(flow: Any) -> Any | None:
    for child in flow:
        if _is_bpmn(child, "conditionExpression") and (child.text or "").strip():
            return child
    return None


def _set_condition(flow: Any, text: str) -> None:
    for child in list(flow):
        if _is_bpmn(child, "conditionExpression"):
            flow.remove(child)
    condition = etree.SubElement(flow, f"{_B}conditionExpression")
    condition.set(f"{{{_XSI}}}type", "bpmn:tFormalExpression")
    condition.text = text


def _unique(process: Any, wanted: str) -> str:
    ids = {n.get("id") for n in process.iter() if isinstance(n.tag, str)}
    candidate, n = wanted, 1
    while candidate in ids:
        n += 1
        candidate = f"{wanted}_{n}"
    return candidate


def normalize(tree: Any) -> list[Note]:
    """Rewrite ``tree`` in place (see the module docstring); what was done, element by element."""
    notes: list[Note] = []
    root = tree.getroot() if hasattr(tree, "getroot") else tree
    _vendor_extensions(root, notes)
    _zeebe_messages(root, notes)
    for scope in root.iter(f"{_B}process", f"{_B}subProcess", f"{_B}transaction"):
        _data_stores(scope, notes)
        _links(scope, notes)
        _gateway_flows(scope, notes)
        _split_activities(scope, notes)
    for node in root.iter(f"{_B}task", f"{_B}manualTask"):
        if _local(node) == "task":
            notes.append(
                Note(
                    "translated",
                    node.get("id"),
                    node.sourceline,
                    "a plain task passes straight through (it has no work to wait for)",
                )
            )
    return notes


def _vendor_extensions(root: Any, notes: list[Note]) -> None:
    """Zeebe's call activities and loops in the standard's terms; engine hints and other
    vendors' extensions reported as accepted and ignored."""
    for node in root.iter(f"{_B}callActivity"):
        try:
            called = zeebe_called_element(node)
        except ExtensionError as exc:
            notes.append(Note("rejected", exc.element_id, exc.line, exc.message))
            continue
        if called is None or node.get("calledElement"):
            continue
        if called.process_id.startswith("="):
            notes.append(
                Note(
                    "rejected",
                    node.get("id"),
                    node.sourceline,
                    "zeebe:calledElement processId computed by an expression is not supported",
                )
            )
            continue
        node.set("calledElement", called.process_id)
        if not called.propagate_all_child_variables:
            notes.append(
                Note(
                    "ignored",
                    node.get("id"),
                    node.sourceline,
                    "propagateAllChildVariables=false: all variables still come back",
                )
            )
    for node in root.iter(f"{_B}multiInstanceLoopCharacteristics"):
        try:
            loop = zeebe_loop(node)
        except ExtensionError as exc:
            notes.append(Note("rejected", exc.element_id, exc.line, exc.message))
            continue
        if loop is not None:
            _standard_loop(node, loop, notes)
    for node in root.iter(etree.Element):
        hints = camunda_engine_hints(node)
        if hints:
            notes.append(
                Note(
                    "ignored",
                    node.get("id"),
                    node.sourceline,
                    f"engine hints accepted and ignored: {', '.join(hints)}",
                )
            )
    for name, element, line in vendor_elements(root):
        notes.append(Note("ignored", element, line, f"vendor extension {name} is ignored"))


#: the correlation key name Zeebe messages are correlated by (as Zeebe's API calls it)
ZEEBE_CORRELATION_KEY = "correlationKey"


def _zeebe_messages(root: Any, notes: list[Note]) -> None:
    """``zeebe:subscription correlationKey`` as a standard correlation property, so a message
    correlates with ``{"correlationKey": value}``."""
    expressions: list[tuple[str, str]] = []
    for message in root.iter(f"{_B}message"):
        try:
            key = zeebe_subscription(message)
        except ExtensionError as exc:
            notes.append(Note("rejected", exc.element_id, exc.line, exc.message))
            continue
        if key:
            expressions.append((message.get("id"), key))
    if not expressions:
        return
    prop = etree.SubElement(root, f"{_B}correlationProperty")
    prop.set("id", ZEEBE_CORRELATION_KEY)
    prop.set("name", ZEEBE_CORRELATION_KEY)
    for message_id, key in expressions:
        retrieval = etree.SubElement(prop, f"{_B}correlationPropertyRetrievalExpression")
        retrieval.set("messageRef", message_id)
        etree.SubElement(retrieval, f"{_B}messagePath").text = key
        notes.append(
            Note(
                "translated",
                message_id,
                None,
                f"zeebe:subscription correlationKey {key!r}: correlate with "
                f'{{"{ZEEBE_CORRELATION_KEY}": …}}',
            )
        )


def _plain_name(expression: str | None) -> str | None:
    text = (expression or "").strip().removeprefix("=").strip()
    return text if text.isidentifier() else None


def _standard_loop(node: Any, loop: Any, notes: list[Note]) -> None:
    owner = node.getparent()
    collection = _plain_name(loop.input_collection)
    output = _plain_name(loop.output_collection) if loop.output_collection else None
    element = _plain_name(loop.output_element) if loop.output_element else None
    if collection is None or (loop.output_collection and (output is None or element is None)):
        notes.append(
            Note(
                "rejected",
                owner.get("id"),
                node.sourceline,
                "zeebe:loopCharacteristics with computed collections is not supported: name "
                'the variables (inputCollection="=items", outputElement="=result")',
            )
        )
        return
    etree.SubElement(node, f"{_B}loopDataInputRef").text = collection
    if loop.input_element:
        item = etree.SubElement(node, f"{_B}inputDataItem")
        item.set("id", loop.input_element)
        item.set("name", loop.input_element)
    if output and element:
        etree.SubElement(node, f"{_B}loopDataOutputRef").text = output
        out = etree.SubElement(node, f"{_B}outputDataItem")
        out.set("id", element)
        out.set("name", element)
    notes.append(
        Note(
            "translated",
            owner.get("id"),
            node.sourceline,
            f"zeebe multi-instance over {collection!r} as a standard multi-instance loop",
        )
    )


def _data_stores(scope: Any, notes: list[Note]) -> None:
    for node in list(scope):
        if not _is_bpmn(node, "dataStoreReference"):
            continue
        name = node.get("name") or node.get("id")
        object_id = _unique(scope, f"{node.get('id')}__data")
        data_object = etree.Element(f"{_B}dataObject", id=object_id, name=name)
        scope.insert(scope.index(node), data_object)
        node.tag = f"{_B}dataObjectReference"
        node.set("dataObjectRef", object_id)
        node.attrib.pop("dataStoreRef", None)
        notes.append(
            Note(
                "translated",
                node.get("id"),
                node.sourceline,
                f"data store {name!r} is kept as a process variable (data object "
                f"{object_id!r}); nothing outside the instance is read or written",
            )
        )


def _flows(scope: Any) -> list[Any]:
    return [c for c in scope if _is_bpmn(c, "sequenceFlow")]


def _split_activities(scope: Any, notes: list[Note]) -> None:
    flows = _flows(scope)
    by_source: dict[str, list[Any]] = {}
    for flow in flows:
        by_source.setdefault(flow.get("sourceRef"), []).append(flow)
    for node in list(scope):
        if not _is_bpmn(node, *_ACTIVITIES):
            continue
        outgoing = by_source.get(node.get("id"), [])
        if len(outgoing) < 2:
            continue
        conditional = [f for f in outgoing if _condition(f) is not None]
        default = node.get("default")
        kind = "inclusiveGateway" if conditional or default else "parallelGateway"
        gateway_id = _unique(scope, f"{node.get('id')}__split")
        gateway = etree.Element(f"{_B}{kind}", id=gateway_id)
        link_id = _unique(scope, f"{node.get('id')}__to_split")
        link = etree.Element(
            f"{_B}sequenceFlow", id=link_id, sourceRef=node.get("id"), targetRef=gateway_id
        )
        etree.SubElement(gateway, f"{_B}incoming").text = link_id
        for flow in outgoing:
            flow.set("sourceRef", gateway_id)
            etree.SubElement(gateway, f"{_B}outgoing").text = flow.get("id")
            if kind == "inclusiveGateway" and _condition(flow) is None:
                if flow.get("id") == default:
                    continue
                _set_condition(flow, ALWAYS)
        if default:
            gateway.set("default", default)
            del node.attrib["default"]
        for child in list(node):
            if _is_bpmn(child, "outgoing"):
                node.remove(child)
        etree.SubElement(node, f"{_B}outgoing").text = link_id
        scope.append(gateway)
        scope.append(link)
        what = "conditional flows" if kind == "inclusiveGateway" else "an implicit parallel fork"
        notes.append(
            Note(
                "translated",
                node.get("id"),
                node.sourceline,
                f"{len(outgoing)} outgoing flows: {what}, run through a generated {kind}",
            )
        )


def _gateway_flows(scope: Any, notes: list[Note]) -> None:
    flows = _flows(scope)
    for gateway in scope:
        if not _is_bpmn(gateway, *_CHOICE_GATEWAYS):
            continue
        outgoing = [f for f in flows if f.get("sourceRef") == gateway.get("id")]
        if len(outgoing) < 2:
            continue
        bare = [
            f for f in outgoing if _condition(f) is None and f.get("id") != gateway.get("default")
        ]
        if not bare:
            continue
        if gateway.get("default") is None and len(bare) == 1:
            gateway.set("default", bare[0].get("id"))
            notes.append(
                Note(
                    "translated",
                    bare[0].get("id"),
                    bare[0].sourceline,
                    "a gateway flow without a condition is taken when no other is: it is the "
                    "gateway's default",
                )
            )
            continue
        for flow in bare:
            _set_condition(flow, ALWAYS)
            notes.append(
                Note(
                    "translated",
                    flow.get("id"),
                    flow.sourceline,
                    "a gateway flow without a condition is always taken",
                )
            )


def _link_name(event: Any) -> str | None:
    for child in event:
        if _is_bpmn(child, "linkEventDefinition"):
            return str(child.get("name") or child.get("id") or "")
    return None


def _strip_link(event: Any) -> None:
    for child in list(event):
        if _is_bpmn(child, "linkEventDefinition"):
            event.remove(child)


def _links(scope: Any, notes: list[Note]) -> None:
    throws: list[tuple[Any, str]] = []
    catches: dict[str, Any] = {}
    for node in scope:
        if not _is_bpmn(node, "intermediateThrowEvent", "intermediateCatchEvent"):
            continue
        name = _link_name(node)
        if name is None:
            continue
        if _local(node) == "intermediateThrowEvent":
            throws.append((node, name))
        elif name in catches:
            notes.append(
                Note(
                    "rejected",
                    node.get("id"),
                    node.sourceline,
                    f"link {name!r} has two catch events ({catches[name].get('id')} and "
                    f"{node.get('id')}); a link jumps to exactly one",
                )
            )
        else:
            catches[name] = node
    for throw, name in throws:
        catch = catches.get(name)
        if catch is None:
            notes.append(
                Note(
                    "rejected",
                    throw.get("id"),
                    throw.sourceline,
                    f"link {name!r} is thrown but no intermediate catch event of that name is "
                    "in the same process",
                )
            )
            continue
        flow_id = _unique(scope, f"{throw.get('id')}__link")
        scope.append(
            etree.Element(
                f"{_B}sequenceFlow",
                id=flow_id,
                sourceRef=throw.get("id"),
                targetRef=catch.get("id"),
            )
        )
        etree.SubElement(throw, f"{_B}outgoing").text = flow_id
        incoming = etree.Element(f"{_B}incoming")
        incoming.text = flow_id
        catch.insert(0, incoming)
        _strip_link(throw)
        notes.append(
            Note(
                "translated",
                throw.get("id"),
                throw.sourceline,
                f"link {name!r} jumps to {catch.get('id')}",
            )
        )
    for name, catch in catches.items():
        _strip_link(catch)
        catch.tag = f"{_B}intermediateThrowEvent"  # a catch with incoming flows passes through
        if not any(n == name for _, n in throws):
            notes.append(
                Note(
                    "rejected",
                    catch.get("id"),
                    catch.sourceline,
                    f"link catch event {name!r} is never thrown to: its path can never run",
                )
            )
