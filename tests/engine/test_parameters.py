"""Tenant parameters: defaults ← province ← county bank, validated, snapshotted at start."""

from __future__ import annotations

import pytest

from loanflow.engine import Engine, InvalidInput, NotFound
from loanflow.engine.parameters import Parameters, deep_merge, parameter_sets_read_by
from loanflow.engine.tenancy import Directory
from loanflow.workers.risk import validate_risk_parameters
from loanflow.workers.risk.schema import render

READS_PARAMS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="d" targetNamespace="x">
  <bpmn:process id="reads" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="t"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>cutoff = risk_params["admission"]["min_score"]</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""
IGNORES_PARAMS = READS_PARAMS.replace(b'"reads"', b'"ignores"').replace(
    b'cutoff = risk_params["admission"]["min_score"]', b"cutoff = 1"
)


@pytest.fixture
def params(engine: Engine) -> Parameters:
    directory = Directory(engine)
    directory.add_tenant("hubei", "province", {"zh-CN": "湖北省联社"})
    directory.add_tenant("enshi", "county", {"zh-CN": "恩施"}, parent="hubei")
    directory.add_tenant("xiantao", "county", {"zh-CN": "仙桃"}, parent="hubei")
    engine.parameters.validators["risk"] = validate_risk_parameters
    return engine.parameters


def test_the_shipped_schema_is_generated_from_the_worker_models() -> None:
    from importlib import resources

    shipped = resources.files("loanflow.forms").joinpath("risk_params.schema.json").read_text()
    assert shipped == render(), "run: python -m loanflow.workers.risk.schema"


def test_without_documents_a_bank_reads_the_schema_defaults(params: Parameters) -> None:
    effective = params.effective("enshi", "risk")
    assert effective == Parameters.schema("risk")["default"]
    assert effective["admission"]["min_score"] == 550
    assert params.own("enshi", "risk") is None


def test_a_county_overrides_one_number_of_the_province(params: Parameters) -> None:
    params.put("hubei", "risk", {"admission": {"min_score": 580, "max_overdue_24m": 2}}, "p")
    info = params.put("enshi", "risk", {"admission": {"min_score": 620}}, "e")
    assert info.version == 1 and info.updated_by == "e"
    enshi = params.effective("enshi", "risk")["admission"]
    xiantao = params.effective("xiantao", "risk")["admission"]
    assert enshi == {"min_score": 620, "auto_approve_score": 650, "max_overdue_24m": 2}
    assert xiantao == {"min_score": 580, "auto_approve_score": 650, "max_overdue_24m": 2}
    again = params.put("enshi", "risk", {"admission": {"min_score": 630}}, "e")
    assert again.version == 2


def test_the_same_document_again_changes_nothing(params: Parameters) -> None:
    first = params.put("enshi", "risk", {"admission": {"min_score": 600}})
    second = params.put("enshi", "risk", {"admission": {"min_score": 600}})
    assert (first.version, second.version) == (1, 1)


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        ({"admission": {"min_score": "high"}}, "/admission/min_score"),
        ({"admission": {"cutoff": 1}}, "/admission"),
        ({"antifraud": {"window_days": 0}}, "/antifraud/window_days"),
        ({"pricing": {"max_rate": 2}}, "/pricing/max_rate"),
        ({"unknown": {}}, "/"),
    ],
)
def test_schema_violations_name_the_field(
    params: Parameters, document: dict[str, object], pointer: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        params.put("enshi", "risk", document)
    assert pointer in caught.value.errors, caught.value.errors
    assert params.own("enshi", "risk") is None


def test_checks_beyond_the_schema_run_too(params: Parameters) -> None:
    with pytest.raises(InvalidInput, match="min_age"):
        params.put("enshi", "risk", {"antifraud": {"min_age": 70, "max_age": 60}})


def test_a_province_change_that_breaks_a_county_is_refused(params: Parameters) -> None:
    params.put("enshi", "risk", {"antifraud": {"max_age": 60}})
    with pytest.raises(InvalidInput, match="parameters of enshi invalid"):
        params.put("hubei", "risk", {"antifraud": {"min_age": 65}})
    assert params.own("hubei", "risk") is None


def test_reset_returns_to_the_province(params: Parameters) -> None:
    params.put("hubei", "risk", {"admission": {"min_score": 580}})
    params.put("enshi", "risk", {"admission": {"min_score": 620}})
    params.reset("enshi", "risk")
    assert params.effective("enshi", "risk")["admission"]["min_score"] == 580
    with pytest.raises(NotFound):
        params.reset("enshi", "risk")


def test_unknown_sets_and_bad_tenants_are_clear_errors(params: Parameters) -> None:
    with pytest.raises(NotFound, match="no parameter set 'pricing'"):
        params.effective("enshi", "pricing")
    with pytest.raises(InvalidInput, match="not a tenant id"):
        params.put("../x", "risk", {})
    with pytest.raises(InvalidInput, match="JSON object"):
        params.put("enshi", "risk", [1, 2])  # type: ignore[arg-type]


def test_a_process_that_reads_the_parameters_gets_a_snapshot(
    engine: Engine, params: Parameters
) -> None:
    engine.deploy({"reads.bpmn": READS_PARAMS}, tenant="enshi")
    engine.deploy({"ignores.bpmn": IGNORES_PARAMS}, tenant="enshi")
    params.put("enshi", "risk", {"admission": {"min_score": 640}})
    reads = engine.get_instance("enshi", engine.start("enshi", "reads").id)
    ignores = engine.get_instance("enshi", engine.start("enshi", "ignores").id)
    assert reads.variables is not None and ignores.variables is not None
    assert reads.variables["cutoff"] == 640
    assert reads.variables["risk_params"] == params.effective("enshi", "risk")
    assert "risk_params" not in ignores.variables


def test_a_caller_cannot_pass_its_own_thresholds(engine: Engine, params: Parameters) -> None:
    engine.deploy({"reads.bpmn": READS_PARAMS}, tenant="enshi")
    with pytest.raises(InvalidInput, match="risk_params is set by the engine"):
        engine.start("enshi", "reads", variables={"risk_params": {"admission": {"min_score": 0}}})


def test_parameter_sets_read_by_looks_for_the_variable_name() -> None:
    assert parameter_sets_read_by([READS_PARAMS]) == frozenset({"risk"})
    assert parameter_sets_read_by([IGNORES_PARAMS]) == frozenset()


def test_deep_merge_merges_objects_and_replaces_the_rest() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert deep_merge(base, {"a": {"c": [3]}, "e": 2}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}
