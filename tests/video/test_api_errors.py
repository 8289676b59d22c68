"""Bad input to the signaling routes: clear answers in the project's error shape, never 500."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from video.support import build_service, start_signing

from loanflow.api import ApiSettings, create_app
from loanflow.engine import Engine, ManualClock
from loanflow.workers.video import VideoService


@pytest.fixture
def setup(
    sqlite_engine: Engine, tmp_path: Path, loopback_ice: None
) -> Iterator[tuple[TestClient, VideoService, dict[str, Any]]]:
    service = build_service(sqlite_engine, tmp_path)
    app = create_app(
        ApiSettings(database_url=str(sqlite_engine.db.url), demo=True, max_body_bytes=100_000),
        engine=sqlite_engine,
    )
    _instance_id, video = start_signing(sqlite_engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, service, video


def shape(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "message", "details"} and body["error"] == error, body
    return body


def test_tokens(setup: tuple[TestClient, VideoService, dict[str, Any]]) -> None:
    client, service, video = setup
    shape(client.get("/api/v1/video/session"), 401, "unauthorized")
    for bad in ("nonsense", video["customer_token"][:-3] + "AAA", "a" * 5000):
        body = shape(
            client.get("/api/v1/video/session", headers={"X-Video-Token": bad}), 404, "not_found"
        )
        assert "token" in body["message"]
    ok = client.get(
        "/api/v1/video/session?locale=en", headers={"X-Video-Token": video["customer_token"]}
    )
    assert ok.status_code == 200
    assert ok.json()["role"] == "customer" and ok.json()["disclosures"][0]["id"] == "identity"
    assert ok.json()["disclosures"][0]["text"].startswith("Please show your ID card")
    shape(
        client.get(
            "/api/v1/video/session?locale=fr", headers={"X-Video-Token": video["agent_token"]}
        ),
        422,
        "invalid_input",
    )
    clock = service.engine.clock
    assert isinstance(clock, ManualClock)
    clock.advance(timedelta(minutes=31))
    body = shape(
        client.get("/api/v1/video/session", headers={"X-Video-Token": video["agent_token"]}),
        404,
        "not_found",
    )
    assert "expired" in body["message"]


def test_bad_offers_and_actions(setup: tuple[TestClient, VideoService, dict[str, Any]]) -> None:
    client, service, video = setup
    agent = {"X-Video-Token": video["agent_token"]}
    customer = {"X-Video-Token": video["customer_token"]}
    for sdp in ("v=0\r\ngarbage", "x", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"):
        body = shape(
            client.post("/api/v1/video/join", json={"sdp": sdp}, headers=agent),
            422,
            "invalid_input",
        )
        assert body["details"]["fields"]
    shape(client.post("/api/v1/video/join", json={"sdp": ""}, headers=agent), 422, "invalid_input")
    shape(
        client.post("/api/v1/video/join", json={"sdp": "v" * 64_001}, headers=agent),
        422,
        "invalid_input",
    )
    shape(
        client.post(
            "/api/v1/video/join",
            content=b"{" * 200_000,
            headers={**agent, "Content-Type": "application/json"},
        ),
        413,
        "too_large",
    )
    shape(
        client.post(
            "/api/v1/video/join",
            content=b"not json",
            headers={**agent, "Content-Type": "application/json"},
        ),
        422,
        "invalid_input",
    )
    shape(client.post("/api/v1/video/disclosures/identity/read", headers=agent), 409, "conflict")
    shape(
        client.post("/api/v1/video/disclosures/identity/read", headers=customer), 403, "forbidden"
    )
    shape(client.post("/api/v1/video/disclosures/nope/confirm", headers=customer), 404, "not_found")
    shape(client.post("/api/v1/video/disclosures/a%20b/read", headers=agent), 422, "invalid_input")
    shape(client.post("/api/v1/video/complete", headers=customer), 403, "forbidden")
    shape(client.post("/api/v1/video/complete", headers=agent), 409, "conflict")
    assert client.post("/api/v1/video/leave", json={}, headers=agent).status_code == 200

    # none of that harmed the session: it is still waiting, nothing recorded
    session = service.get(video["session_id"])
    assert session.state == "waiting" and not session.read
    assert client.post("/api/v1/video/decline", headers=customer).status_code == 200
    service.wait_finished(session.id)
    shape(client.post("/api/v1/video/decline", headers=customer), 409, "conflict")
    shape(client.post("/api/v1/video/join", json={"sdp": "v=0"}, headers=customer), 409, "conflict")


def test_the_pages_are_served(setup: tuple[TestClient, VideoService, dict[str, Any]]) -> None:
    client, _service, _video = setup
    for page in ("customer.html", "agent.html", "video.js"):
        response = client.get(f"/video/{page}")
        assert response.status_code == 200
    assert 'name="viewport"' in client.get("/video/customer.html").text
    shape(client.get("/video/missing.html"), 404, "not_found")
