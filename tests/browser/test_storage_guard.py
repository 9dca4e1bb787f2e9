"""No page script touches browser storage or cookies directly: inside a CRM frame the
browser may refuse them (a SecurityError that would stop the script), so every access goes
through ``SalesCoach.store`` in panel.js, which never throws."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "plugin" / "web" / "static"
DIRECT = re.compile(r"\b(?:sessionStorage|localStorage|indexedDB)\b|document\.cookie")


def test_only_the_guarded_store_touches_storage() -> None:
    offenders = {}
    for path in sorted(STATIC.glob("*.js")):
        code = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
        code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("//"))
        hits = DIRECT.findall(code)
        if path.name == "panel.js":
            # the one guarded access: ``try { return window.sessionStorage; } catch ...``
            assert hits == ["sessionStorage"], hits
            assert "try { return window.sessionStorage; } catch (e) { return null; }" in code
        elif hits:
            offenders[path.name] = hits
    assert not offenders, offenders
