"""Timers as the standard and Camunda write them: cycles with and without an end, cron, and
expressions in JUEL and FEEL, on a non-interrupting boundary timer that fires repeatedly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from factories import assert_round_trip, only

from loanflow.engine import Engine, ManualClock

TENANT = "enshi"


def reminders(cycle: str) -> bytes:
    """A user task with a non-interrupting cycle timer that counts reminders."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:process id="remind" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="wait" camunda:candidateGroups="reviewer">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:boundaryEvent id="tick" attachedToRef="wait" cancelActivity="false">
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeCycle>{cycle}</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:scriptTask id="count"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>reminded = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="e1"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="e2"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="e1"/>
    <bpmn:sequenceFlow id="f3" sourceRef="tick" targetRef="count"/>
    <bpmn:sequenceFlow id="f4" sourceRef="count" targetRef="e2"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def fires(engine: Engine, clock: ManualClock, cycle: str, variables: dict[str, object],
          steps: list[timedelta]) -> list[int]:  # fmt: skip
    engine.deploy({"remind.bpmn": reminders(cycle)}, tenant=TENANT)
    started = engine.start(TENANT, "remind", variables=variables)
    counts: list[int] = []
    for step in steps:
        clock.advance(seconds=step.total_seconds())
        counts.append(engine.fire_due_timers())
        assert_round_trip(engine, started.id)
    only(engine.user_tasks(TENANT))  # the task itself is still open
    return counts


@pytest.mark.parametrize(
    ("cycle", "variables"),
    [
        ("R2/PT1H", {}),
        ("${reminder_cycle}", {"reminder_cycle": "R2/PT1H"}),
        ('= "R" + string(times) + "/PT1H"', {"times": 2}),
    ],
)
def test_a_bounded_cycle_fires_its_count_then_stops(
    engine: Engine, clock: ManualClock, cycle: str, variables: dict[str, object]
) -> None:
    hour = timedelta(hours=1, seconds=1)
    assert fires(engine, clock, cycle, variables, [hour, hour, hour]) == [1, 1, 0]


def test_an_unbounded_cycle_keeps_firing(engine: Engine, clock: ManualClock) -> None:
    hour = timedelta(hours=1, seconds=1)
    assert fires(engine, clock, "R/PT1H", {}, [hour] * 4) == [1, 1, 1, 1]


def test_a_cron_cycle_fires_at_nine_beijing_time(engine: Engine, clock: ManualClock) -> None:
    clock.set(datetime(2027, 3, 1, 0, 30, tzinfo=UTC))  # 08:30 in Beijing
    engine.deploy({"remind.bpmn": reminders("0 0 9 * * ?")}, tenant=TENANT)
    started = engine.start(TENANT, "remind")
    info = engine.get_instance(TENANT, started.id)
    assert info.next_due == datetime(2027, 3, 1, 1, 0, tzinfo=UTC)
    clock.advance(minutes=31)
    assert engine.fire_due_timers() == 1
    assert engine.get_instance(TENANT, started.id).next_due == datetime(
        2027, 3, 2, 1, 0, tzinfo=UTC
    )
