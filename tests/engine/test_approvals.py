"""Approval chains as data and the generic approval diagram, through the engine.

The same ``processes/approval.bpmn`` (deployed once, for the province) takes each county
bank's own path from the chain snapshot its instance started with.
"""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest
from factories import assert_round_trip, only

from loanflow.engine import (
    SHARED_TENANT,
    BusinessError,
    Engine,
    Forbidden,
    InvalidInput,
    ManualClock,
    NotFound,
    UserTaskInfo,
)
from loanflow.engine.approvals import (
    DEMO_CHAINS,
    ApprovalChains,
    plan,
    start_variables,
    validate_chain,
)
from loanflow.engine.runner import EmbeddedRunner
from loanflow.engine.sandbox import Sandbox
from loanflow.workers.builtin.approval import ApprovalPlanInput, plan_approval

OFFICER = "loan_officer.enshi"
ENSHI_PATH_400K = ["reviewer", "branch_approver", "head_approver"]


def _packaged(package: str, name: str) -> bytes:
    return resources.files(package).joinpath(name).read_bytes()


def deploy_approval(engine: Engine, tenant: str = SHARED_TENANT) -> None:
    engine.deploy(
        {
            "approval.bpmn": _packaged("loanflow.processes", "approval.bpmn"),
            "approval_decision.json": _packaged("loanflow.forms", "approval_decision.json"),
            "approval_chain.schema.json": _packaged("loanflow.forms", "approval_chain.schema.json"),
        },
        tenant=tenant,
    )


def demo_chains(engine: Engine) -> ApprovalChains:
    chains = ApprovalChains(engine)
    for tenant, products in DEMO_CHAINS.items():
        for product, chain in products.items():
            chains.put(tenant, product, chain, actor=f"tenant_admin.{tenant}")
    return chains


@pytest.fixture
def chains(engine: Engine) -> ApprovalChains:
    deploy_approval(engine)
    return demo_chains(engine)


def application(amount: int, risk_grade: str = "A", **more: Any) -> dict[str, Any]:
    return {"amount": amount, "risk_grade": risk_grade, "term": 12, **more}


def start(
    engine: Engine,
    chains: ApprovalChains,
    tenant: str,
    app: dict[str, Any],
    *,
    actor: str = OFFICER,
    **variables: Any,
) -> str:
    started = engine.start(
        tenant,
        "approval",
        variables=start_variables(chains, tenant, {"application": app, **variables}),
        actor=actor,
    )
    EmbeddedRunner(engine, worker_id="test-runner").run_once()
    assert_round_trip(engine, started.id)
    return started.id


def open_tasks(engine: Engine, tenant: str, instance_id: str) -> list[UserTaskInfo]:
    return engine.user_tasks(tenant, instance_id=instance_id)


def decide(
    engine: Engine,
    tenant: str,
    instance_id: str,
    decision: str,
    actor: str,
    comment: str | None = None,
    *,
    round_trip: bool = True,
) -> UserTaskInfo:
    task = only(open_tasks(engine, tenant, instance_id))
    data = {"decision": decision} if comment is None else {"decision": decision, "comment": comment}
    engine.complete_user_task(tenant, task.id, data, actor=actor)
    if round_trip and engine.get_instance(tenant, instance_id, variables=False).state == "running":
        assert_round_trip(engine, instance_id)
    return task


def variables(engine: Engine, tenant: str, instance_id: str) -> dict[str, Any]:
    info = engine.get_instance(tenant, instance_id)
    assert info.variables is not None
    return info.variables


def walk(engine: Engine, tenant: str, instance_id: str, decisions: list[str]) -> list[str]:
    """Decide one level after another (a different person each); the roles asked, in order."""
    roles = []
    for n, decision in enumerate(decisions):
        task = only(open_tasks(engine, tenant, instance_id))
        roles.append(only(task.candidate_groups))
        decide(engine, tenant, instance_id, decision, actor=f"approver{n}.{tenant}")
    return roles


# -- chains as data ---------------------------------------------------------------------------


def level(level_id: str, role: str = "reviewer", **more: Any) -> dict[str, Any]:
    return {"id": level_id, "name": {"zh-CN": level_id, "en": level_id}, "role": role, **more}


@pytest.mark.parametrize(
    ("chain", "paths"),
    [
        ({"levels": []}, {"levels"}),
        ({"levels": [level("a")], "extra": 1}, {"(root)"}),
        ({"levels": [{"id": "a", "name": {"zh-CN": "审查"}}]}, {"levels/0"}),
        ({"levels": [level("a", sla="2 days")]}, {"levels/0/sla"}),
        (
            {"levels": [level("a", quorum={"members": 0, "approve": 1})]},
            {"levels/0/quorum/members"},
        ),
        ({"levels": [level("a"), level("a", role="branch_approver")]}, {"levels/1/id"}),
        ({"levels": [level("a", escalation_role="tenant_admin")]}, {"levels/0/escalation_role"}),
        (
            {"levels": [level("a", quorum={"members": 3, "approve": 4})]},
            {"levels/0/quorum/approve"},
        ),
        ({"levels": [level("a"), level("b", when="__import__('os')")]}, {"levels/1/when"}),
        ({"levels": [level("a", when="amount >")]}, {"levels/0/when"}),
        (
            {
                "levels": [
                    level("a", when="amount >", sla="soon"),
                    level("a", role="Not A Role"),
                    *[level(f"l{i}") for i in range(19)],
                ]
            },
            {"levels", "levels/0/sla", "levels/0/when", "levels/1/role", "levels/1/id"},
        ),
    ],
)
def test_put_refuses_invalid_chains_naming_each_field(
    engine: Engine, chain: dict[str, Any], paths: set[str]
) -> None:
    chains = ApprovalChains(engine)
    with pytest.raises(InvalidInput) as refused:
        chains.put("enshi", "*", chain, actor="tenant_admin.enshi")
    assert set(refused.value.errors) == paths
    assert chains.get("enshi") is None


def test_put_reports_the_sandbox_reason() -> None:
    sandbox = Sandbox()
    with pytest.raises(InvalidInput) as refused:
        validate_chain({"levels": [level("a", when="().__class__")]}, sandbox)
    assert "__class__" in refused.value.errors["levels/0/when"]
    with pytest.raises(InvalidInput) as syntax:
        validate_chain({"levels": [level("a", when="amount >")]}, sandbox)
    assert "SyntaxError" in syntax.value.errors["levels/0/when"]
    assert "levels/0/when" in syntax.value.message


def test_put_versions_get_falls_back_to_the_default_and_snapshots(engine: Engine) -> None:
    chains = ApprovalChains(engine)
    with pytest.raises(InvalidInput):
        chains.put("enshi", "no spaces", {"levels": [level("a")]})
    first = chains.put("enshi", "*", {"levels": [level("review")]}, actor="admin")
    assert (first.version, first.updated_by) == (1, "admin")
    assert chains.put("enshi", "*", {"levels": [level("review")]}, actor="other").version == 1
    second = chains.put("enshi", "*", {"levels": [level("review"), level("head")]}, actor="b")
    assert second.version == 2
    agri = chains.put("enshi", "agri", {"levels": [level("agri_review")]})
    assert agri.version == 1

    got = chains.get("enshi", "agri")
    assert got is not None and got.product == "agri" and got.levels[0]["id"] == "agri_review"
    fallback = chains.get("enshi", "consumer")
    assert fallback is not None and (fallback.product, fallback.version) == ("*", 2)
    assert chains.get("xiantao", "consumer") is None
    assert [c.product for c in chains.chains("enshi")] == ["*", "agri"]
    assert chains.snapshot("enshi", "consumer") == {
        "tenant": "enshi",
        "product": "*",
        "version": 2,
        "levels": [level("review"), level("head")],
    }

    by_application = start_variables(chains, "enshi", {"application": {"product": "agri"}})
    assert by_application["approval_chain"]["product"] == "agri"
    by_variable = start_variables(chains, "enshi", {"product": "agri", "amount": 1})
    assert by_variable["approval_chain"]["product"] == "agri"
    assert start_variables(chains, "enshi", None)["approval_chain"]["product"] == "*"
    given = {"approval_chain": {"levels": [level("x")]}}
    assert start_variables(chains, "enshi", given) == given
    assert start_variables(chains, "xiantao", {"amount": 1}) == {"amount": 1}


def test_plan_keeps_the_levels_whose_condition_holds_in_order() -> None:
    sandbox = Sandbox()
    levels = DEMO_CHAINS["enshi"]["*"]["levels"]
    ids = [lvl["id"] for lvl in plan(levels, application(40_000), sandbox)]
    assert ids == ["review"]
    assert [lvl["id"] for lvl in plan(levels, application(40_000, "C"), sandbox)] == [
        "review",
        "head_office",
    ]
    planned = plan(levels, application(1_200_000), sandbox)
    assert [(lvl["index"], lvl["id"]) for lvl in planned] == [
        (0, "review"),
        (1, "branch"),
        (2, "head_office"),
        (3, "committee"),
    ]
    assert planned[3]["quorum"] == {"members": 5, "approve": 3}
    # the documented fields are always names (None when unknown); other fields when present
    assert [lvl["id"] for lvl in plan(levels, {"amount": 60_000}, sandbox)] == ["review", "branch"]
    custom = [level("farm", when="application.get('sector') == 'agri' and hectares > 10")]
    assert plan(custom, {"sector": "agri", "hectares": 12}, sandbox)[0]["id"] == "farm"
    with pytest.raises(InvalidInput) as failed:
        plan(custom, {"sector": "agri"}, sandbox)
    assert "'farm'" in failed.value.message and "levels/0/when" in failed.value.errors
    with pytest.raises(InvalidInput, match="'branch'"):
        plan(levels, {"risk_grade": "A"}, sandbox)  # amount None > 50000: an error, not False


def test_plan_worker_and_preview(engine: Engine) -> None:
    chains = demo_chains(engine)
    snapshot = chains.snapshot("enshi")
    out = plan_approval(ApprovalPlanInput(chain=snapshot, application=application(400_000)))
    assert out.count == 3
    assert out.summary == "审查 → 支行审批 → 总行审批"
    assert [lvl.index for lvl in out.levels] == [0, 1, 2]
    assert out.levels[2].escalation_role == "tenant_admin"
    levels_only = {"levels": DEMO_CHAINS["xiantao"]["*"]["levels"]}
    assert plan_approval(
        ApprovalPlanInput(chain=levels_only, application=application(400_000))
    ).summary == ("审查 → 总行审批")
    with pytest.raises(BusinessError) as missing:
        plan_approval(ApprovalPlanInput(chain=None, application={}))
    assert missing.value.code == "CHAIN_INVALID"
    with pytest.raises(BusinessError) as failing:
        plan_approval(ApprovalPlanInput(chain=snapshot, application={"risk_grade": "A"}))
    assert failing.value.code == "CHAIN_INVALID" and "'branch'" in failing.value.message
    assert "approval_error" in failing.value.variables

    preview = chains.preview("xiantao", "consumer", application(400_000))
    assert [lvl["role"] for lvl in preview] == ["reviewer", "head_approver"]
    with pytest.raises(NotFound):
        chains.preview("lichuan", "*", application(1))


# -- the approval diagram ---------------------------------------------------------------------


def test_small_loan_needs_only_the_review(engine: Engine, chains: ApprovalChains) -> None:
    instance = start(engine, chains, "enshi", application(40_000))
    task = only(open_tasks(engine, "enshi", instance))
    assert (task.element_id, task.form_key, task.candidate_groups) == (
        "decide",
        "approval_decision",
        ["reviewer"],
    )
    with pytest.raises(InvalidInput) as bad:
        engine.complete_user_task("enshi", task.id, {"decision": "maybe"}, actor="reviewer.enshi")
    assert "decision" in bad.value.errors
    decide(engine, "enshi", instance, "approve", "reviewer.enshi", "资料齐全")
    data = variables(engine, "enshi", instance)
    assert engine.get_instance("enshi", instance).state == "completed"
    assert data["approval_outcome"] == "approved"
    assert data["plan"]["summary"] == "审查"
    assert data["approval_history"] == [
        {
            "round": 1,
            "level": "review",
            "name": {"zh-CN": "审查", "en": "Review"},
            "role": "reviewer",
            "decision": "approve",
            "comment": "资料齐全",
            "escalated": False,
            "votes": None,
        }
    ]


def test_two_tenants_two_paths_one_diagram(engine: Engine, chains: ApprovalChains) -> None:
    enshi = start(engine, chains, "enshi", application(400_000))
    xiantao = start(engine, chains, "xiantao", application(400_000), actor="loan_officer.xiantao")
    assert walk(engine, "enshi", enshi, ["approve"] * 3) == ENSHI_PATH_400K
    assert walk(engine, "xiantao", xiantao, ["approve"] * 2) == ["reviewer", "head_approver"]
    for tenant, instance, levels in (
        ("enshi", enshi, ["review", "branch", "head_office"]),
        ("xiantao", xiantao, ["review", "head_office"]),
    ):
        data = variables(engine, tenant, instance)
        assert data["approval_outcome"] == "approved"
        assert [h["level"] for h in data["approval_history"]] == levels
        assert data["approval_chain"]["tenant"] == tenant
    assert engine.user_tasks("enshi") == [] and engine.user_tasks("xiantao") == []


def test_reject_ends_the_chain(engine: Engine, chains: ApprovalChains) -> None:
    instance = start(engine, chains, "enshi", application(400_000))
    assert walk(engine, "enshi", instance, ["approve", "reject"]) == ENSHI_PATH_400K[:2]
    data = variables(engine, "enshi", instance)
    assert engine.get_instance("enshi", instance).state == "completed"
    assert data["approval_outcome"] == "rejected"
    assert [(h["level"], h["decision"]) for h in data["approval_history"]] == [
        ("review", "approve"),
        ("branch", "reject"),
    ]


def test_return_for_revision_ends_returned(engine: Engine, chains: ApprovalChains) -> None:
    instance = start(engine, chains, "enshi", application(400_000))
    walk(engine, "enshi", instance, ["approve", "approve", "return"])
    data = variables(engine, "enshi", instance)
    assert data["approval_outcome"] == "returned"
    assert data["approval_history"][-1]["level"] == "head_office"
    assert data["approval_history"][-1]["decision"] == "return"


def _committee(engine: Engine, chains: ApprovalChains) -> tuple[str, list[UserTaskInfo]]:
    instance = start(engine, chains, "enshi", application(1_200_000))
    decide(engine, "enshi", instance, "approve", "reviewer.enshi")
    decide(engine, "enshi", instance, "approve", "branch_approver.enshi")
    # no reload from here until the last vote: see test_committee_vote_survives_a_reload
    decide(engine, "enshi", instance, "approve", "head_approver.enshi", round_trip=False)
    votes = open_tasks(engine, "enshi", instance)
    assert len(votes) == 5
    assert {(t.element_id, t.form_key, tuple(t.candidate_groups)) for t in votes} == {
        ("committee_vote", "approval_decision", ("committee_member",))
    }
    return instance, votes


def test_committee_approves_at_the_quorum(engine: Engine, chains: ApprovalChains) -> None:
    instance, votes = _committee(engine, chains)
    with pytest.raises(Forbidden, match="already decided"):
        engine.complete_user_task(
            "enshi", votes[0].id, {"decision": "approve"}, actor="head_approver.enshi"
        )
    for n, (task, vote) in enumerate(
        zip(votes, ["reject", "approve", "approve", "reject", "approve"], strict=True)
    ):
        engine.complete_user_task(
            "enshi", task.id, {"decision": vote}, actor=f"committee_member{n + 1}.enshi"
        )
        if n == 0:
            with pytest.raises(Forbidden, match="already decided"):
                engine.complete_user_task(
                    "enshi", votes[1].id, {"decision": "approve"}, actor="committee_member1.enshi"
                )
    data = variables(engine, "enshi", instance)
    assert engine.get_instance("enshi", instance).state == "completed"
    assert data["approval_outcome"] == "approved"
    committee = data["approval_history"][-1]
    assert (committee["level"], committee["decision"]) == ("committee", "approve")
    assert committee["comment"] == "3/5 approved, 3 needed"
    assert sorted(v["decision"] for v in committee["votes"]) == ["approve"] * 3 + ["reject"] * 2
    assert "votes" not in data and "vote" not in data


def test_committee_rejects_below_the_quorum(engine: Engine, chains: ApprovalChains) -> None:
    instance, votes = _committee(engine, chains)
    for n, (task, vote) in enumerate(
        zip(votes, ["approve", "reject", "reject", "approve", "reject"], strict=True)
    ):
        engine.complete_user_task(
            "enshi", task.id, {"decision": vote}, actor=f"committee_member{n + 1}.enshi"
        )
    data = variables(engine, "enshi", instance)
    assert data["approval_outcome"] == "rejected"
    assert data["approval_history"][-1]["comment"] == "2/5 approved, 3 needed"


def test_sla_escalates_to_the_escalation_role(
    engine: Engine, chains: ApprovalChains, clock: ManualClock
) -> None:
    instance = start(engine, chains, "enshi", application(400_000))
    decide(engine, "enshi", instance, "approve", "reviewer.enshi")
    branch = only(open_tasks(engine, "enshi", instance))
    assert branch.candidate_groups == ["branch_approver"]
    clock.advance(days=1, hours=23)
    assert engine.fire_due_timers() == 0
    clock.advance(hours=1, seconds=1)
    assert engine.fire_due_timers() == 1
    assert_round_trip(engine, instance)
    assert engine.get_user_task("enshi", branch.id).state == "cancelled"
    escalated = only(open_tasks(engine, "enshi", instance))
    assert (escalated.element_id, escalated.candidate_groups) == ("escalate", ["tenant_admin"])
    with pytest.raises(Forbidden, match="already decided"):
        engine.complete_user_task(
            "enshi", escalated.id, {"decision": "approve"}, actor="reviewer.enshi"
        )
    decide(engine, "enshi", instance, "approve", "tenant_admin.enshi", "超时，代为审批")
    head = only(open_tasks(engine, "enshi", instance))
    assert head.candidate_groups == ["head_approver"]
    history = variables(engine, "enshi", instance)["approval_history"]
    assert [(h["level"], h["escalated"]) for h in history] == [
        ("review", False),
        ("branch", True),
    ]


def test_sla_without_escalation_role_goes_back_to_the_role(
    engine: Engine, chains: ApprovalChains, clock: ManualClock
) -> None:
    instance = start(engine, chains, "xiantao", application(50_000), actor="lo.xiantao")
    clock.advance(days=1, seconds=1)
    assert engine.fire_due_timers() == 1
    escalated = only(open_tasks(engine, "xiantao", instance))
    assert (escalated.element_id, escalated.candidate_groups) == ("escalate", ["reviewer"])


def _committee_past_its_sla(
    engine: Engine, chains: ApprovalChains, clock: ManualClock
) -> tuple[str, list[UserTaskInfo]]:
    instance, votes = _committee(engine, chains)
    engine.complete_user_task(
        "enshi", votes[0].id, {"decision": "approve"}, actor="committee_member1.enshi"
    )
    clock.advance(days=5, seconds=1)
    assert engine.fire_due_timers() == 1
    assert_round_trip(engine, instance)
    return instance, votes


def test_committee_past_its_sla_escalates(
    engine: Engine, chains: ApprovalChains, clock: ManualClock
) -> None:
    instance, _ = _committee_past_its_sla(engine, chains, clock)
    escalated = only(
        [t for t in open_tasks(engine, "enshi", instance) if t.element_id == "escalate"]
    )
    assert escalated.candidate_groups == ["tenant_admin"]
    engine.complete_user_task(
        "enshi", escalated.id, {"decision": "reject"}, actor="tenant_admin.enshi"
    )
    data = variables(engine, "enshi", instance)
    assert engine.get_instance("enshi", instance).state == "completed"
    assert data["approval_outcome"] == "rejected"
    assert data["approval_history"][-1]["escalated"] is True
    assert data["approval_history"][-1]["votes"] is None


def test_votes_cut_short_by_the_sla_leave_the_inbox(
    engine: Engine, chains: ApprovalChains, clock: ManualClock
) -> None:
    instance, votes = _committee_past_its_sla(engine, chains, clock)
    assert {engine.get_user_task("enshi", t.id).state for t in votes[1:]} == {"cancelled"}
    assert only(open_tasks(engine, "enshi", instance)).element_id == "escalate"


def test_separation_of_duties(engine: Engine, chains: ApprovalChains) -> None:
    instance = start(engine, chains, "enshi", application(400_000))
    review = only(open_tasks(engine, "enshi", instance))
    with pytest.raises(Forbidden, match="submitted"):
        engine.complete_user_task("enshi", review.id, {"decision": "approve"}, actor=OFFICER)
    decide(engine, "enshi", instance, "approve", "alice.enshi")
    branch = only(open_tasks(engine, "enshi", instance))
    with pytest.raises(Forbidden, match="already decided"):
        engine.complete_user_task("enshi", branch.id, {"decision": "approve"}, actor="alice.enshi")
    decide(engine, "enshi", instance, "approve", "bob.enshi")
    assert only(open_tasks(engine, "enshi", instance)).candidate_groups == ["head_approver"]


def test_a_chain_change_applies_to_new_applications_only(
    engine: Engine, chains: ApprovalChains
) -> None:
    running = start(engine, chains, "enshi", application(400_000))
    decide(engine, "enshi", running, "approve", "reviewer.enshi")

    changed = copy.deepcopy(DEMO_CHAINS["enshi"]["*"])
    changed["levels"][1]["when"] = "amount > 500000"  # branch approval only above 500,000
    changed["levels"].insert(1, level("risk", role="risk_officer", when="amount > 200000"))
    assert chains.put("enshi", "*", changed, actor="tenant_admin.enshi").version == 2

    new = start(engine, chains, "enshi", application(400_000))
    assert walk(engine, "enshi", new, ["approve"] * 3) == [
        "reviewer",
        "risk_officer",
        "head_approver",
    ]
    assert walk(engine, "enshi", running, ["approve"] * 2) == ENSHI_PATH_400K[1:]
    assert variables(engine, "enshi", running)["approval_chain"]["version"] == 1
    assert variables(engine, "enshi", new)["approval_chain"]["version"] == 2


def test_a_chain_that_cannot_be_planned_ends_chain_invalid(
    engine: Engine, chains: ApprovalChains
) -> None:
    broken = {"levels": [level("review"), level("big", when="income > 10000")]}
    instance = start(engine, chains, "enshi", application(1), approval_chain=broken)
    data = variables(engine, "enshi", instance)
    assert engine.get_instance("enshi", instance).state == "completed"
    assert data["approval_outcome"] == "chain_invalid"
    assert "'big'" in data["approval_error"] and "income" in data["approval_error"]

    lichuan = start(engine, chains, "lichuan", application(1), actor="lo.lichuan")  # no chain
    assert variables(engine, "lichuan", lichuan)["approval_outcome"] == "chain_invalid"


LOAN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_loan" targetNamespace="x">
  <bpmn:process id="loan" name="Loan calling the approval" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:callActivity id="approve" name="Approval" calledElement="approval">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:callActivity>
    <bpmn:exclusiveGateway id="gw" default="f3">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:userTask id="revise" name="Revise" camunda:candidateGroups="loan_officer">
      <bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:scriptTask id="next_round" scriptFormat="python">
      <bpmn:incoming>f6</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:script>approval_round = approval_round + 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="gw"/>
    <bpmn:sequenceFlow id="f3" sourceRef="gw" targetRef="end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="revise">
      <bpmn:conditionExpression>approval_outcome == 'returned'</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f6" sourceRef="revise" targetRef="next_round"/>
    <bpmn:sequenceFlow id="f5" sourceRef="next_round" targetRef="approve"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_called_from_a_loan_process_a_return_starts_a_new_round(
    engine: Engine, chains: ApprovalChains
) -> None:
    engine.deploy({"loan.bpmn": LOAN}, tenant="enshi")
    started = engine.start(
        "enshi",
        "loan",
        variables=start_variables(chains, "enshi", {"application": application(100_000)}),
        actor=OFFICER,
    )
    instance = started.id
    EmbeddedRunner(engine, worker_id="test-runner").run_once()
    assert_round_trip(engine, instance)
    decide(engine, "enshi", instance, "approve", "reviewer.enshi")
    decide(engine, "enshi", instance, "return", "branch_approver.enshi", "补充收入证明")
    revise = decide(engine, "enshi", instance, "approve", OFFICER)  # no separation of duties
    assert revise.element_id == "revise"
    EmbeddedRunner(engine, worker_id="test-runner").run_once()
    # round 2: the same people may decide again, still not two levels each
    review = only(open_tasks(engine, "enshi", instance))
    with pytest.raises(Forbidden, match="submitted"):
        engine.complete_user_task("enshi", review.id, {"decision": "approve"}, actor=OFFICER)
    decide(engine, "enshi", instance, "approve", "reviewer.enshi")
    branch = only(open_tasks(engine, "enshi", instance))
    with pytest.raises(Forbidden):
        engine.complete_user_task(
            "enshi", branch.id, {"decision": "approve"}, actor="reviewer.enshi"
        )
    decide(engine, "enshi", instance, "approve", "branch_approver.enshi")
    data = variables(engine, "enshi", instance)
    assert engine.get_instance("enshi", instance).state == "completed"
    assert data["approval_outcome"] == "approved"
    assert data["approval_round"] == 2
    assert [(h["round"], h["level"], h["decision"]) for h in data["approval_history"]] == [
        (1, "review", "approve"),
        (1, "branch", "return"),
        (2, "review", "approve"),
        (2, "branch", "approve"),
    ]


def test_committee_vote_survives_a_reload(engine: Engine, chains: ApprovalChains) -> None:
    instance, votes = _committee(engine, chains)
    engine.cache.clear()  # a restart, another node or an evicted deployment
    for n, task in enumerate(votes):
        engine.complete_user_task(
            "enshi", task.id, {"decision": "approve"}, actor=f"committee_member{n + 1}.enshi"
        )
    assert variables(engine, "enshi", instance)["approval_outcome"] == "approved"
