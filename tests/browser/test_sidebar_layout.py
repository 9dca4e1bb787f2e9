"""Every panel page fits a 400 px CRM sidebar: nothing wider than the frame, the tab bar on
one line, no console errors; report charts scale with their container."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugin.reports import charts
from tests.support import chromium, serve_wsgi


@pytest.fixture
def base_url(app: Any) -> Iterator[str]:
    with serve_wsgi(app) as url:
        yield url


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs chromium")
@pytest.mark.parametrize("width", [320, 400])
def test_panel_pages_fit_a_sidebar_with_the_tabs_on_one_line(
        base_url: str, tenants: Any, width: int) -> None:
    token = tenants.token(tenants.identity("sf:00DSIDEBAR", "005W"))
    with chromium(viewport={"width": width, "height": 800}) as context:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        for path in ("/panel/live", "/panel/practice", "/panel/calls"):
            page.goto(f"{base_url}{path}?t={token}")
            page.wait_for_load_state("networkidle")
            got = page.evaluate("""() => ({
                scroll: document.documentElement.scrollWidth, inner: innerWidth,
                tabTops: [...document.querySelectorAll('nav.tabs a')].map(a => a.offsetTop),
                bar: document.querySelector('header.topbar').getBoundingClientRect().height})""")
            assert got["scroll"] <= got["inner"], (path, got)
            assert len(set(got["tabTops"])) == 1, (path, got)  # tabs never wrap
            assert got["bar"] < 48, (path, got)
        assert not errors, errors


def test_report_charts_scale_with_their_container() -> None:
    svg = charts.inline_svg(charts.render_trend([{"date": "2026-11-01", "score": 60},
                                                 {"date": "2026-11-08", "score": 72}]))
    head = svg.split(">", 1)[0]
    assert "viewBox=" in head and " width=" not in head and " height=" not in head
    assert svg.startswith("<svg")
