"""Vendor extension readers: Zeebe, Camunda 7, and what a deployment reports as ignored."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from lxml import etree

from loanflow.engine.bpmn.extensions import (
    Assignment,
    CalledDecision,
    CalledElement,
    CallMapping,
    CallMappings,
    ExtensionError,
    IoMapping,
    Loop,
    Mapping,
    TaskDefinition,
    camunda_call_mappings,
    camunda_engine_hints,
    camunda_io,
    dialect_of,
    vendor_elements,
    zeebe_assignment,
    zeebe_called_decision,
    zeebe_called_element,
    zeebe_form,
    zeebe_io_mapping,
    zeebe_loop,
    zeebe_subscription,
    zeebe_task_definition,
    zeebe_task_headers,
)

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
    "zeebe": "http://camunda.org/schema/zeebe/1.0",
    "modeler": "http://camunda.org/schema/modeler/1.0",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
    "signavio": "http://www.signavio.com",
    "color": "http://www.omg.org/spec/BPMN/non-normative/color/1.0",
}
DECLARE = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())


def element(body: str) -> etree._Element:
    """The first element of ``body``, parsed with every namespace above declared."""
    root = etree.fromstring(f"<bpmn:definitions {DECLARE} id='defs'>{body}</bpmn:definitions>")
    return root[0]


def definitions(declared: str, body: str = "", attributes: str = "") -> etree._Element:
    return etree.fromstring(
        f"<bpmn:definitions xmlns:bpmn='{NS['bpmn']}' {declared} id='defs' {attributes}>"
        f"{body}</bpmn:definitions>"
    )


def ext(inner: str, tag: str = "bpmn:serviceTask", attributes: str = "") -> etree._Element:
    return element(
        f"<{tag} id='task' {attributes}>"
        f"<bpmn:extensionElements>{inner}</bpmn:extensionElements></{tag}>"
    )


def refused(
    call: Callable[[etree._Element], object], node: etree._Element, message: str
) -> ExtensionError:
    with pytest.raises(ExtensionError, match=re.escape(message)) as caught:
        call(node)
    assert caught.value.element_id == "task"
    assert isinstance(caught.value.line, int)
    assert isinstance(caught.value, ValueError)
    return caught.value


# --- dialect --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("root", "dialect"),
    [
        (
            definitions(
                f"xmlns:modeler='{NS['modeler']}'", "", 'modeler:executionPlatform="Camunda Cloud"'
            ),
            "zeebe",
        ),
        (
            definitions(
                f"xmlns:modeler='{NS['modeler']}'",
                "",
                'modeler:executionPlatform="Camunda Platform"',
            ),
            "camunda7",
        ),
        (definitions(f"xmlns:zeebe='{NS['zeebe']}'"), "zeebe"),
        (definitions(f"xmlns:camunda='{NS['camunda']}'"), "camunda7"),
        (definitions(f"xmlns:spiffworkflow='{NS['spiffworkflow']}'"), "spiff"),
        (definitions(""), "plain"),
        (definitions(f"xmlns:signavio='{NS['signavio']}'"), "plain"),
        # declared on an inner element only
        (definitions("", f"<bpmn:process id='p' xmlns:zeebe='{NS['zeebe']}'/>"), "zeebe"),
        # used beats merely declared
        (
            definitions(
                f"xmlns:zeebe='{NS['zeebe']}' xmlns:camunda='{NS['camunda']}'",
                "<bpmn:process id='p' camunda:versionTag='1'/>",
            ),
            "camunda7",
        ),
    ],
)
def test_dialect_of(root: etree._Element, dialect: str) -> None:
    assert dialect_of(root) == dialect
    assert dialect_of(root.getroottree()) == dialect


# --- Zeebe ----------------------------------------------------------------------------------


def test_zeebe_task_definition() -> None:
    node = ext('<zeebe:taskDefinition type=" ocr.id_card " retries="3"/>')
    assert zeebe_task_definition(node) == TaskDefinition("ocr.id_card", "3")
    node = ext('<zeebe:taskDefinition type="=&quot;ocr.&quot; + kind"/>')
    assert zeebe_task_definition(node) == TaskDefinition('="ocr." + kind', None)
    assert zeebe_task_definition(ext("")) is None
    assert zeebe_task_definition(element("<bpmn:serviceTask id='t'/>")) is None


def test_zeebe_task_definition_errors() -> None:
    refused(zeebe_task_definition, ext("<zeebe:taskDefinition retries='3'/>"), "'type'")
    refused(
        zeebe_task_definition, ext("<zeebe:taskDefinition type='x' retries='many'/>"), "retries"
    )
    twice = "<zeebe:taskDefinition type='a'/><zeebe:taskDefinition type='b'/>"
    refused(zeebe_task_definition, ext(twice), "more than one zeebe:taskDefinition")


def test_zeebe_io_mapping() -> None:
    node = ext(
        "<zeebe:ioMapping>"
        '<zeebe:input source="=applicant.name" target="name"/>'
        '<zeebe:input target="empty"/>'
        '<zeebe:output source="=score" target="riskScore"/>'
        "</zeebe:ioMapping>"
    )
    assert zeebe_io_mapping(node) == IoMapping(
        (Mapping("=applicant.name", "name"), Mapping("", "empty")),
        (Mapping("=score", "riskScore"),),
    )
    assert zeebe_io_mapping(ext("")) == IoMapping((), ())
    bad = ext("<zeebe:ioMapping><zeebe:input source='=x'/></zeebe:ioMapping>")
    refused(zeebe_io_mapping, bad, "zeebe:input needs the attribute 'target'")


def test_zeebe_called_decision() -> None:
    node = ext(
        '<zeebe:calledDecision decisionId="risk" resultVariable="risk"/>', "bpmn:businessRuleTask"
    )
    assert zeebe_called_decision(node) == CalledDecision("risk", "risk")
    assert zeebe_called_decision(ext("", "bpmn:businessRuleTask")) is None
    missing = ext('<zeebe:calledDecision decisionId="risk"/>', "bpmn:businessRuleTask")
    refused(zeebe_called_decision, missing, "resultVariable")


def test_zeebe_assignment() -> None:
    node = ext(
        '<zeebe:assignmentDefinition assignee="=initiator" candidateGroups="credit, risk"/>',
        "bpmn:userTask",
    )
    assert zeebe_assignment(node) == Assignment("=initiator", "credit, risk", None)
    assert zeebe_assignment(ext("", "bpmn:userTask")) == Assignment(None, None, None)


@pytest.mark.parametrize(
    ("inner", "attributes", "form"),
    [
        ('<zeebe:formDefinition formId="loan-review"/>', "", "loan-review"),
        (
            '<zeebe:formDefinition formKey="camunda-forms:bpmn:form_1"/>',
            "",
            "camunda-forms:bpmn:form_1",
        ),
        ('<zeebe:formDefinition externalReference="/forms/review"/>', "", "/forms/review"),
        ("", 'zeebe:formKey="review"', "review"),
        ("", "", None),
    ],
)
def test_zeebe_form(inner: str, attributes: str, form: str | None) -> None:
    assert zeebe_form(ext(inner, "bpmn:userTask", attributes)) == form


def test_zeebe_form_with_two_keys() -> None:
    node = ext('<zeebe:formDefinition formId="a" formKey="b"/>', "bpmn:userTask")
    refused(zeebe_form, node, "only one of formId, formKey, externalReference")


def test_zeebe_called_element() -> None:
    node = ext(
        '<zeebe:calledElement processId="kyc" propagateAllChildVariables="false"/>',
        "bpmn:callActivity",
    )
    assert zeebe_called_element(node) == CalledElement("kyc", False, True)
    node = ext('<zeebe:calledElement processId="=kind"/>', "bpmn:callActivity")
    assert zeebe_called_element(node) == CalledElement("=kind", True, True)
    assert zeebe_called_element(ext("", "bpmn:callActivity")) is None
    bad = ext(
        '<zeebe:calledElement processId="kyc" propagateAllChildVariables="no"/>',
        "bpmn:callActivity",
    )
    refused(zeebe_called_element, bad, "expected true or false")


def test_zeebe_subscription_is_read_from_the_message() -> None:
    message = ext('<zeebe:subscription correlationKey="=applicationId"/>', "bpmn:message")
    assert zeebe_subscription(message) == "=applicationId"
    assert zeebe_subscription(element("<bpmn:message id='m' name='paid'/>")) is None
    refused(zeebe_subscription, ext("<zeebe:subscription/>", "bpmn:message"), "correlationKey")


def test_zeebe_loop() -> None:
    node = element(
        "<bpmn:serviceTask id='task'><bpmn:multiInstanceLoopCharacteristics>"
        "<bpmn:extensionElements><zeebe:loopCharacteristics inputCollection='=guarantors' "
        "inputElement='guarantor' outputCollection='checks' outputElement='=check'/>"
        "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics></bpmn:serviceTask>"
    )
    expected = Loop("=guarantors", "guarantor", "checks", "=check")
    assert zeebe_loop(node) == expected
    assert zeebe_loop(node[0]) == expected
    assert zeebe_loop(ext("")) is None
    plain = element(
        "<bpmn:serviceTask id='task'><bpmn:multiInstanceLoopCharacteristics/></bpmn:serviceTask>"
    )
    assert zeebe_loop(plain) is None


def test_zeebe_loop_errors() -> None:
    def loop(attributes: str) -> etree._Element:
        return element(
            "<bpmn:serviceTask id='task'><bpmn:multiInstanceLoopCharacteristics>"
            f"<bpmn:extensionElements><zeebe:loopCharacteristics {attributes}/>"
            "</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics></bpmn:serviceTask>"
        )

    refused(zeebe_loop, loop("inputElement='x'"), "inputCollection")
    refused(zeebe_loop, loop("inputCollection='=xs' outputCollection='ys'"), "go together")


def test_zeebe_task_headers() -> None:
    node = ext(
        "<zeebe:taskHeaders><zeebe:header key='channel' value='sms'/>"
        "<zeebe:header key='template' value='=tpl'/><zeebe:header key='blank'/></zeebe:taskHeaders>"
    )
    assert zeebe_task_headers(node) == {"channel": "sms", "template": "=tpl", "blank": ""}
    assert list(zeebe_task_headers(node)) == ["channel", "template", "blank"]
    assert zeebe_task_headers(ext("")) == {}
    twice = "<zeebe:taskHeaders><zeebe:header key='a'/><zeebe:header key='a'/></zeebe:taskHeaders>"
    refused(zeebe_task_headers, ext(twice), "'a' is given twice")


# --- Camunda 7 ------------------------------------------------------------------------------


def test_camunda_io() -> None:
    node = ext(
        "<camunda:inputOutput>"
        '<camunda:inputParameter name="amount">${loan.amount}</camunda:inputParameter>'
        '<camunda:inputParameter name="channel">  branch  </camunda:inputParameter>'
        '<camunda:inputParameter name="nothing"/>'
        '<camunda:outputParameter name="score">${result.score}</camunda:outputParameter>'
        "</camunda:inputOutput>"
    )
    assert camunda_io(node) == IoMapping(
        (Mapping("${loan.amount}", "amount"), Mapping("branch", "channel"), Mapping("", "nothing")),
        (Mapping("${result.score}", "score"),),
    )
    assert camunda_io(ext("")) == IoMapping()


@pytest.mark.parametrize("nested", ["list", "map", "script"])
def test_camunda_io_refuses_nested_values(nested: str) -> None:
    node = ext(
        '<camunda:inputOutput><camunda:inputParameter name="docs">'
        f"<camunda:{nested}/></camunda:inputParameter></camunda:inputOutput>"
    )
    error = refused(camunda_io, node, f"'docs': camunda:{nested} is not supported")
    assert "text or a ${…} expression" in error.message


def test_camunda_call_mappings() -> None:
    node = ext(
        '<camunda:in businessKey="${execution.processBusinessKey}"/>'
        '<camunda:in source="applicant" target="customer"/>'
        '<camunda:in sourceExpression="${amount * 2}" target="limit" local="true"/>'
        '<camunda:in variables="all"/>'
        '<camunda:out source="decision" target="kycDecision"/>',
        "bpmn:callActivity",
    )
    assert camunda_call_mappings(node) == CallMappings(
        inputs=(
            CallMapping("applicant", "customer"),
            CallMapping("${amount * 2}", "limit", expression=True, local=True),
        ),
        outputs=(CallMapping("decision", "kycDecision"),),
        all_in=True,
        all_out=False,
        business_key="${execution.processBusinessKey}",
    )
    out_all = ext('<camunda:out variables="all"/>', "bpmn:callActivity")
    assert camunda_call_mappings(out_all) == CallMappings(all_out=True)
    assert camunda_call_mappings(ext("", "bpmn:callActivity")) == CallMappings()


@pytest.mark.parametrize(
    ("inner", "message"),
    [
        ('<camunda:in source="a"/>', "camunda:in needs the attribute 'target'"),
        ('<camunda:in target="a"/>', "needs one of source, sourceExpression"),
        ('<camunda:in source="a" sourceExpression="${b}" target="c"/>', "needs one of"),
        ('<camunda:in variables="some"/>', 'only "all" is supported'),
        ('<camunda:out businessKey="${k}"/>', "camunda:out cannot set a businessKey"),
        ('<camunda:in source="a" target="b" local="yes"/>', "expected true or false"),
    ],
)
def test_camunda_call_mapping_errors(inner: str, message: str) -> None:
    refused(camunda_call_mappings, ext(inner, "bpmn:callActivity"), message)


def test_camunda_engine_hints() -> None:
    node = ext(
        '<camunda:executionListener event="start" class="x"/>'
        '<camunda:executionListener event="end" class="y"/>'
        "<camunda:failedJobRetryTimeCycle>R3/PT5M</camunda:failedJobRetryTimeCycle>"
        '<camunda:properties><camunda:property name="a" value="b"/></camunda:properties>',
        "bpmn:serviceTask",
        'camunda:asyncBefore="true" camunda:exclusive="false" camunda:jobPriority="5" '
        'camunda:type="external" camunda:topic="ocr"',
    )
    assert camunda_engine_hints(node) == [
        "camunda:asyncBefore",
        "camunda:exclusive",
        "camunda:jobPriority",
        "camunda:executionListener",
    ]
    process = element(
        "<bpmn:process id='p' camunda:historyTimeToLive='180' camunda:versionTag='v2' "
        "camunda:isStartableInTasklist='false'/>"
    )
    assert camunda_engine_hints(process) == [
        "camunda:historyTimeToLive",
        "camunda:versionTag",
        "camunda:isStartableInTasklist",
    ]
    user_task = ext(
        '<camunda:taskListener event="create"/>', "bpmn:userTask", 'camunda:asyncAfter="true"'
    )
    assert camunda_engine_hints(user_task) == ["camunda:asyncAfter", "camunda:taskListener"]
    assert camunda_engine_hints(element("<bpmn:task id='t'/>")) == []


# --- vendor elements ------------------------------------------------------------------------


def test_vendor_elements_reports_foreign_namespaces_with_id_and_line() -> None:
    root = etree.fromstring(
        f"""<bpmn:definitions {DECLARE} id="defs" signavio:exportVersion="16">
<bpmn:process id="p" camunda:versionTag="1">
  <bpmn:serviceTask id="task" zeebe:modelerTemplate="x">
    <bpmn:extensionElements>
      <signavio:signavioMetaData metaKey="bgcolor" metaValue="#fff">
        <signavio:nested/>
      </signavio:signavioMetaData>
      <spiffworkflow:properties/>
    </bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:task id="t2" color:background-color="#fff"/>
</bpmn:process>
<bpmndi:BPMNDiagram id="d"><bpmndi:BPMNPlane id="pl"><bpmndi:BPMNShape id="s">
  <dc:Bounds x="1" y="2" width="3" height="4"/>
</bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
<other xmlns="http://example.com/vendor" id="o"/>
</bpmn:definitions>"""
    )
    assert vendor_elements(root) == [
        ("signavio:exportVersion", "defs", 1),
        ("signavio:signavioMetaData", "task", 5),
        ("{http://example.com/vendor}other", "o", 16),
    ]
    assert vendor_elements(root.getroottree()) == vendor_elements(root)


def test_vendor_elements_of_a_plain_diagram() -> None:
    assert vendor_elements(element("<bpmn:process id='p'><bpmn:task id='t'/></bpmn:process>")) == []
