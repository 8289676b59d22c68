"""fetch_and_lock never locks more jobs than asked for.

On PostgreSQL an ``UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`` may run
its subquery more than once and lock more than ``n`` rows; the picked ids are now read first.
"""

from __future__ import annotations

from loanflow.engine import Engine

ECHO = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">
  <bpmn:process id="echo_many" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="echo" camunda:type="external" camunda:topic="test.echo">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:serviceTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="echo"/>
    <bpmn:sequenceFlow id="f2" sourceRef="echo" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_each_fetch_locks_at_most_max_jobs(engine: Engine) -> None:
    engine.deploy({"echo_many.bpmn": ECHO}, tenant="enshi")
    for _ in range(12):
        engine.start("enshi", "echo_many")
    seen: set[str] = set()
    for size in (1, 1, 2, 3, 1):
        locked = engine.fetch_and_lock("limit-test", ["test.echo"], max_jobs=size)
        assert len(locked) == size
        seen.update(job.id for job in locked)
    assert len(seen) == 8
    assert len(engine.fetch_and_lock("limit-test", ["test.echo"], max_jobs=10)) == 4
