"""The diagram around a session: open, wait for the outcome message or the expiry timer.

These run on both databases; the session is finished without media (what the vault and
the engine see is the same, minus the recordings: see test_live_session for those).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from factories import assert_round_trip, only
from pydantic import SecretStr
from video.support import TENANT, build_service, start_signing

from loanflow.engine import Conflict, Engine, ManualClock
from loanflow.engine.runner import EmbeddedRunner
from loanflow.workers import definition_of, run_worker
from loanflow.workers.video import VideoService

SECRET = SecretStr("t" * 40)


@pytest.fixture
def video_service(engine: Engine, tmp_path: Path) -> VideoService:
    built = build_service(engine, tmp_path, token_secret=SECRET)
    yield built  # type: ignore[misc]
    built.close()


def test_declined_session_ends_unsigned(engine: Engine, video_service: VideoService) -> None:
    instance_id, video = start_signing(engine)
    assert video["customer_url"].startswith("http://127.0.0.1:8000/video/customer.html#token=")
    assert video["disclosures"] == 5 and video["script_id"] == "personal-loan-v1"
    again = run_worker(
        definition_of(engine.workers.get("video.open_session").fn),  # type: ignore[union-attr]
        {"tenant": TENANT, "instance_id": instance_id, "product": "personal_loan"},
    )
    assert again["session_id"] == video["session_id"]  # a job run twice: the same session
    assert_round_trip(engine, instance_id)

    session = video_service.get(video["session_id"])
    video_service.submit(video_service.finish(session, "declined", "customer")).result(30)
    outcome = video_service.wait_finished(session.id)
    assert outcome["outcome"] == "declined" and outcome["recordings"] == []
    log = video_service.vault().info(TENANT, outcome["log_document_id"])
    assert log.kind == "video_session_log" and log.sm3 == outcome["log_sm3"]

    info = engine.get_instance(TENANT, instance_id)
    assert info.state == "completed"
    assert info.variables is not None
    assert info.variables["video_outcome"]["outcome"] == "declined"


def test_expiry_takes_the_timer_path(
    engine: Engine, video_service: VideoService, clock: ManualClock
) -> None:
    instance_id, video = start_signing(engine)
    clock.advance(timedelta(minutes=31))
    engine.fire_due_timers()
    info = engine.get_instance(TENANT, instance_id)
    assert info.state == "completed"
    assert info.variables is not None and info.variables["video_expired"] is True
    # the service notices too, and the late outcome finds nobody waiting (logged, no error)
    session = video_service.get(video["session_id"])
    video_service.submit(video_service.finish(session, "expired", None)).result(30)
    assert video_service.wait_finished(session.id)["outcome"] == "expired"


def test_links_survive_a_restart(
    engine: Engine, video_service: VideoService, tmp_path: Path
) -> None:
    instance_id, video = start_signing(engine)
    restarted = VideoService(engine, video_service.settings, vault=video_service.vault())
    claims = restarted.claims(video["customer_token"])
    session = restarted.session_for(claims)
    assert session.id == video["session_id"] and session.state == "waiting"
    assert session.entries[-1].event == "session.restored"
    assert session.script.id == "personal-loan-v1"

    engine.cancel(TENANT, instance_id)
    again = VideoService(engine, video_service.settings, vault=video_service.vault())
    with pytest.raises(Conflict, match="no longer waiting"):
        again.session_for(again.claims(video["agent_token"]))


def test_the_runner_fills_tenant_and_instance(engine: Engine, video_service: VideoService) -> None:
    instance_id, video = start_signing(engine)
    session = video_service.get(video["session_id"])
    assert (session.tenant, session.instance_id, session.locale) == (TENANT, instance_id, "zh-CN")
    assert only(engine.job_list(TENANT, instance_id=instance_id)).state in ("completed", "done")
    assert EmbeddedRunner(engine).run_once() == 0
