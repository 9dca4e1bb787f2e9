"""The coach panel shell: one page per tab (live, practice, calls), all behind the session."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, make_response, redirect, render_template, request

from plugin.security import Identity
from plugin.web.auth import authenticate, signer, token_from_request
from plugin.web.errors import ApiError

bp = Blueprint("panel", __name__, url_prefix="/panel")

# (path, label) of the panel's tabs; each area serves its page at that path from its own
# blueprint and renders it with ``render_panel``.
TABS: list[tuple[str, str]] = [
    ("/panel/live", "Live call"),
    ("/panel/practice", "Practice"),
    ("/panel/calls", "Calls & reports"),
]

# What a rep reads instead of the session error's JSON when a panel page is loaded.
SENTENCES = {
    "expired": "Your Sales Coach session has expired.",
    "missing": "This page was opened without a Sales Coach session.",
    "invalid": "This Sales Coach link is not valid (it may have been cut short or changed).",
}


def panel_identity() -> Identity:
    """The page's session; a bad one answers a 401 HTML page with one sentence, not JSON."""
    try:
        return authenticate()
    except ApiError as exc:
        kind = next((k for k in SENTENCES if k in exc.message), "invalid")
        page = render_template("session_expired.html", sentence=SENTENCES[kind], code=kind)
        abort(make_response(page, 401))


@bp.before_app_request
def _panel_pages_need_a_session() -> None:
    """Every panel page (whichever area serves it) answers a bad session with the sentence
    page; shared report links (``?s=``) carry their own signature."""
    if request.method == "GET" and request.path.startswith("/panel") and "s" not in request.args:
        panel_identity()


def render_panel(template: str, **context: Any) -> str:
    """Render a panel page for the authenticated user (401 page if the token is bad)."""
    identity = panel_identity()
    from plugin.privacy.consent import policy_of

    context.setdefault("consent_policy", policy_of(identity.tenant_id))
    return render_template(template, identity=identity, tabs=TABS, token=token_from_request(),
                           session_ttl=signer().ttl_s, popout=request.args.get("popout") == "1",
                           **context)


@bp.get("/")
def index() -> Any:
    panel_identity()
    return redirect("/panel/live?" + request.query_string.decode())
