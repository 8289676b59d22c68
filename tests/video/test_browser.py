"""The real pages in headless Chromium (Debian's), against a real uvicorn on loopback.

Chromium's fake camera and microphone feed both pages; the agent reads every disclosure,
the customer confirms each on the phone-sized page, the agent ends the session after about
ten seconds. Skipped without ``/usr/bin/chromium`` unless ``CI=true``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from factories import only
from video.support import TENANT, build_service, media_of, start_signing

from loanflow.api import ApiSettings, create_app
from loanflow.engine import Engine
from loanflow.workers.video import VideoService

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
]

pytestmark = pytest.mark.slow


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{CHROMIUM} is missing and CI=true (.ci/run installs Debian's chromium)")
    pytest.skip(f"{CHROMIUM} is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(
    sqlite_engine: Engine, tmp_path: Path, loopback_ice: None
) -> Iterator[tuple[str, VideoService]]:
    _require_chromium()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    service = build_service(sqlite_engine, tmp_path, public_base_url=base)
    app = create_app(
        ApiSettings(database_url=str(sqlite_engine.db.url), demo=True), engine=sqlite_engine
    )
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield base, service
    uv.should_exit = True
    thread.join(30)


def _with_lang(url: str, lang: str) -> str:
    page, fragment = url.split("#", 1)
    return f"{page}?lang={lang}#{fragment}"


def test_customer_and_agent_pages(
    server: tuple[str, VideoService], sqlite_engine: Engine, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    _base, service = server
    instance_id, video = start_signing(sqlite_engine)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        try:
            agent = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()
            customer = browser.new_context(
                viewport={"width": 390, "height": 844}, locale="zh-CN"
            ).new_page()
            errors: list[str] = []
            for page in (agent, customer):
                page.on("pageerror", lambda exc: errors.append(str(exc)))
            started = time.monotonic()
            agent.goto(_with_lang(video["agent_url"], "en"))
            customer.goto(_with_lang(video["customer_url"], "zh-CN"))
            agent.get_by_text("Customer: connected").wait_for(timeout=20_000)
            customer.get_by_text("已连接").wait_for(timeout=20_000)
            _drive(agent, customer, service, video["session_id"])
            remaining = 10.0 - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)
            agent.get_by_test_id("complete").click()
            outcome = service.wait_finished(video["session_id"], 60)
            customer.get_by_text("面签已完成").wait_for(timeout=10_000)
            ended = time.monotonic()
            assert not errors, errors
        finally:
            browser.close()

    assert outcome["outcome"] == "completed"
    assert outcome["disclosures"]["confirmed"] == 5
    assert outcome["face_check"]["available"] is True  # the fake camera shows no face
    vault = service.vault()
    for recording in outcome["recordings"]:
        content = vault.read(TENANT, recording["document_id"])
        media = media_of(content, tmp_path / f"{recording['role']}.mp4")
        assert media["video_packets"] > 100 and media["audio_packets"] > 100, media
        session = ended - started
        for kind in ("audio", "video"):
            assert 0.5 * session < media[kind] <= session + 1, (recording["role"], kind, media)
    info = sqlite_engine.get_instance(TENANT, instance_id)
    assert only(info.user_tasks).element_id == "sign_contract"


def _drive(agent: Any, customer: Any, service: VideoService, session_id: str) -> None:
    ids = service.get(session_id).script.ids()
    assert customer.locator("li").first.inner_text().startswith("请您出示本人身份证")
    for disclosure in ids:
        agent.get_by_test_id(f"read-{disclosure}").click()
        customer.get_by_test_id(f"confirm-{disclosure}").click(timeout=10_000)
        agent.locator(f'li[data-id="{disclosure}"].confirmed').wait_for(timeout=10_000)
    assert agent.get_by_test_id("complete").is_enabled()
