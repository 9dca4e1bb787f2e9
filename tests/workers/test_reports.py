"""Post-call reports: built from stored turns by the instant tier, versioned, shown as a page
with charts, as JSON, as a PDF, and behind the tenant wall."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from plugin.db import db
from plugin.models import Call, Report, Turn
from plugin.pipeline import stages

LINES = [
    ("rep", "Hi Sam, thanks for joining. What does your current process for coaching look like?"),
    ("customer", "We do ride-alongs, but honestly your product is too expensive for our budget."),
    ("rep", "I hear you, price matters. What budget did you have in mind for this quarter?"),
    ("customer", "Around ten thousand. We also looked at Gong last month."),
    ("rep", "Makes sense. I will send you a proposal on Friday. Can we meet next Tuesday?"),
    ("customer", "Yes, Tuesday works. Send the proposal and I will share it with my boss."),
]


def make_call(tenant_id: str, user_id: int | None, record_id: str = "") -> str:
    """A finished call with its turns stored, as a live call leaves it."""
    with db.session_scope() as s:
        call = Call(tenant_id=tenant_id, user_id=user_id, record_id=record_id,
                    record_type="Contact", source="panel", status="ended", title="Discovery")
        s.add(call)
        s.flush()
        t = 0
        for seq, (speaker, text) in enumerate(LINES):
            dur = 350 * len(text.split())
            s.add(Turn(tenant_id=tenant_id, call_id=call.id, seq=seq, speaker=speaker, text=text,
                       start_ms=t, end_ms=t + dur, words=[]))
            t += dur + 600
        call.duration_ms = t
        return call.id


@pytest.fixture
def analysed(app: Any, tenants: Any) -> tuple[Any, str]:
    ident = tenants.identity("demo", "rep-rpt")
    call_id = make_call("demo", ident.user_id)
    with app.app_context():
        assert stages.analyse(call_id, app.config["SETTINGS"]) == 1
    return ident, call_id


def test_report_is_built_from_stored_turns_with_scores_tips_and_objections(
        analysed: tuple[Any, str], client: Any, tenants: Any) -> None:
    ident, call_id = analysed
    resp = client.get(f"/api/v1/calls/{call_id}/report", headers=tenants.headers(ident))
    assert resp.status_code == 200
    report = resp.json
    assert report["version"] == 1 and 0 <= report["scores"]["overall"] <= 100
    assert 1 <= len(report["tips"]) <= 3
    assert any(o["label"] == "price" for o in report["objections"])
    price = next(o for o in report["objections"] if o["label"] == "price")
    assert "expensive" in price["text"] and "budget" in price["response"]
    assert len(report["timeline"]) == len(LINES) and report["monologues"][0]["duration_ms"] > 0
    assert report["summary"]


def test_same_turns_give_the_same_version_and_new_turns_a_new_one(
        analysed: tuple[Any, str], app: Any) -> None:
    _ident, call_id = analysed
    settings = app.config["SETTINGS"]
    with app.app_context():
        assert stages.analyse(call_id, settings) == 1  # redelivered: nothing new
        with db.session_scope() as s:
            s.add(Turn(tenant_id="demo", call_id=call_id, seq=99, speaker="rep",
                       text="Thanks again, talk on Tuesday.", start_ms=60000, end_ms=62000))
        assert stages.analyse(call_id, settings) == 2
    with db.session_scope() as s:
        versions = s.scalars(select(Report.version).where(Report.call_id == call_id)).all()
    assert sorted(versions) == [1, 2]


def test_report_page_shows_charts_objections_tips_and_pdf_link(
        analysed: tuple[Any, str], client: Any, tenants: Any) -> None:
    ident, call_id = analysed
    token = tenants.token(ident)
    html = client.get(f"/panel/calls/{call_id}?t={token}").get_data(as_text=True)
    for chart in ("talk_ratio", "sentiment", "speakers", "pace"):
        assert f'id="chart-{chart}"' in html
    assert html.count("<svg") >= 4 and "Coaching tips" in html and "expensive" in html
    assert f"/api/v1/calls/{call_id}/report.pdf" in html


def test_pdf_holds_the_report(analysed: tuple[Any, str], client: Any, tenants: Any) -> None:
    ident, call_id = analysed
    resp = client.get(f"/api/v1/calls/{call_id}/report.pdf", headers=tenants.headers(ident))
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    assert resp.data.startswith(b"%PDF") and len(resp.data) > 20_000  # charts embedded


def test_signed_report_link_opens_only_its_own_report(
        analysed: tuple[Any, str], app: Any, client: Any) -> None:
    from plugin.reports.links import share_token

    _ident, call_id = analysed
    settings = app.config["SETTINGS"]
    good = share_token(settings, "demo", call_id)
    assert client.get(f"/panel/calls/{call_id}?s={good}").status_code == 200
    assert client.get(f"/api/v1/calls/{call_id}/report.pdf?s={good}").status_code == 200
    other = make_call("demo", None)
    assert client.get(f"/panel/calls/{other}?s={good}").status_code == 401
    assert client.get(f"/panel/calls/{call_id}?s=forged").status_code == 401


def test_calls_list_has_the_score_and_a_trend(analysed: tuple[Any, str], client: Any,
                                              tenants: Any) -> None:
    ident, call_id = analysed
    body = client.get("/api/v1/calls", headers=tenants.headers(ident)).json
    row = next(c for c in body["calls"] if c["id"] == call_id)
    assert row["score"] is not None and row["report_version"] == 1
    assert any(p["call_id"] == call_id for p in body["trend"])
    page = client.get(f"/panel/calls?t={tenants.token(ident)}").get_data(as_text=True)
    assert 'id="trend"' in page and call_id in page


def test_another_tenant_cannot_read_the_report(analysed: tuple[Any, str], client: Any,
                                               tenants: Any) -> None:
    _ident, call_id = analysed
    other = tenants.headers(tenants.identity("sf:00DOTHER", "005Y"))
    for path in ("", "/report", "/report.pdf"):
        assert client.get(f"/api/v1/calls/{call_id}{path}", headers=other).status_code == 404


def test_report_not_ready_is_a_409_with_the_call_state(client: Any, tenants: Any) -> None:
    ident = tenants.identity("demo", "rep-rpt")
    call_id = make_call("demo", ident.user_id)
    resp = client.get(f"/api/v1/calls/{call_id}/report", headers=tenants.headers(ident))
    assert resp.status_code == 409 and resp.json["error"]["code"] == "report_not_ready"


def test_call_without_turns_fails_analysis_with_a_reason(app: Any) -> None:
    with db.session_scope() as s:
        call = Call(tenant_id="demo", source="panel", status="ended", title="Silent")
        s.add(call)
        s.flush()
        call_id = call.id
    with app.app_context(), pytest.raises(stages.StageFailed, match="no transcript"):
        stages.analyse(call_id, app.config["SETTINGS"])


class TestWithACloudModel:
    """With a Gemini key the language-model analyser runs too (against the local server that
    speaks the Gemini API) and refines the summary; risks show on the page."""

    KEY = "test-key"

    @pytest.fixture
    def gemini_url(self) -> Any:
        from plugin.devservers import gemini as gemini_server

        _app, srv = gemini_server.start(self.KEY)
        yield f"http://127.0.0.1:{srv.server_port}"
        srv.shutdown()

    @pytest.fixture
    def app_overrides(self, gemini_url: str) -> dict[str, Any]:
        return {"gemini_api_key": self.KEY, "gemini_base_url": gemini_url}

    def test_language_model_summary_is_merged_into_the_report(
            self, app: Any, client: Any, tenants: Any) -> None:
        ident = tenants.identity("demo", "rep-llm")
        call_id = make_call("demo", ident.user_id)
        with app.app_context():
            assert stages.analyse(call_id, app.config["SETTINGS"]) == 1
        report = client.get(f"/api/v1/calls/{call_id}/report", headers=tenants.headers(ident)).json
        llm = report["analysers"]["llm"]
        assert llm["summary"] and report["summary"] == llm["summary"]
        assert "gemini" in llm["model"]
