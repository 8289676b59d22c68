"""Scripts, tokens and the session rules, without any media."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loanflow.engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from loanflow.workers.video import DEFAULT_SCRIPTS, Claims, Disclosure, Script, TokenError
from loanflow.workers.video import script_for as pick
from loanflow.workers.video._session import SessionState
from loanflow.workers.video._tokens import sign_token, verify_token

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECRET = b"s" * 32


def claims(**overrides: str) -> Claims:
    values = {
        "session_id": "abc",
        "role": "customer",
        "tenant": "enshi",
        "instance_id": "i-1",
        "product": "personal_loan",
        "locale": "zh-CN",
        "expires_at": (NOW + timedelta(minutes=30)).isoformat(),
        **overrides,
    }
    return Claims(**values)  # type: ignore[arg-type]


def test_the_most_specific_script_wins() -> None:
    own = Script("enshi-v1", (Disclosure("only", {"zh-CN": "仅此一条", "en": "Just this"}),))
    scripts = {**DEFAULT_SCRIPTS, ("enshi", "personal_loan"): own}
    assert pick("enshi", "personal_loan", scripts) is own
    assert pick("lichuan", "personal_loan", scripts).id == "personal-loan-v1"
    assert pick("enshi", "car_loan", scripts).id == "default-v1"
    with pytest.raises(InvalidInput):
        pick("enshi", "car_loan", {})


def test_every_disclosure_in_both_languages() -> None:
    for script in DEFAULT_SCRIPTS.values():
        assert len(set(script.ids())) == len(script.ids())
        for disclosure in script.disclosures:
            assert disclosure.text["zh-CN"] and disclosure.text["en"]
            assert disclosure.render("fr") == disclosure.text["zh-CN"]


def test_tokens_verify_and_refuse() -> None:
    token = sign_token(claims(), SECRET)
    assert verify_token(token, SECRET, NOW) == claims()
    body, mac = token.split(".")
    forged = sign_token(claims(role="agent"), b"x" * 32)
    for bad in ("", "x", token + "x", f"{body}.{mac[:-2]}", forged, "a.b.c", "é" * 3000):
        with pytest.raises(TokenError):
            verify_token(bad, SECRET, NOW)
    with pytest.raises(TokenError, match="expired"):
        verify_token(token, SECRET, NOW + timedelta(minutes=31))
    assert issubclass(TokenError, NotFound)


def session() -> SessionState:
    return SessionState(
        id="s",
        tenant="enshi",
        instance_id="i-1",
        product="personal_loan",
        locale="zh-CN",
        script=pick("enshi", "personal_loan"),
        expires_at=NOW + timedelta(minutes=30),
    )


def test_the_agent_reads_the_customer_confirms_the_agent_completes() -> None:
    state = session()
    with pytest.raises(Conflict, match="nobody has joined"):
        state.mark_read("agent", "identity", NOW)
    state.started = 0.0
    with pytest.raises(Forbidden):
        state.mark_read("customer", "identity", NOW)
    with pytest.raises(NotFound):
        state.mark_read("agent", "no_such_thing", NOW)
    with pytest.raises(Conflict, match="not been read"):
        state.confirm("customer", "identity", NOW)
    state.mark_read("agent", "identity", NOW)
    with pytest.raises(Forbidden):
        state.confirm("agent", "identity", NOW)
    state.confirm("customer", "identity", NOW)
    state.confirm("customer", "identity", NOW)  # twice is once
    assert [e.event for e in state.entries].count("disclosure.confirmed") == 1
    with pytest.raises(Conflict, match="unread"):
        state.check_complete("agent")
    for disclosure in state.script.ids():
        state.mark_read("agent", disclosure, NOW)
        state.confirm("customer", disclosure, NOW)
    with pytest.raises(Forbidden):
        state.check_complete("customer")
    state.check_complete("agent")
    state.state = "completed"
    with pytest.raises(Conflict, match="ended"):
        state.mark_read("agent", "identity", NOW)
    assert all(d["read"] and d["confirmed"] for d in state.view("en"))
