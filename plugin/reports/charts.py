"""Report charts drawn offline with matplotlib: SVG for the page, PNG for the PDF.

One function per chart, each taking the stored report dict; all share ``_figure``/``_export``.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

REP, CUSTOMER, ACCENT, MUTED = "#2f6fed", "#12b76a", "#f79009", "#98a2b3"
_LOCK = threading.Lock()  # pyplot's state is global; matplotlib is not thread-safe


_SCALE = threading.local()  # time axis of the chart being drawn: (divisor in ms, label)


def _minutes(ms: Any) -> float:
    """A time in the current chart's axis unit (seconds for short calls, else minutes)."""
    return float(ms or 0) / getattr(_SCALE, "unit", (60000.0, "minute"))[0]


def _unit_label() -> str:
    return str(getattr(_SCALE, "unit", (60000.0, "minute"))[1])


def _axis_unit(report: Mapping[str, Any]) -> tuple[float, str]:
    duration = float((report.get("call") or {}).get("duration_ms") or 0)
    return (1000.0, "second") if duration and duration < 180_000 else (60000.0, "minute")


# Figure widths (inches): the page's SVG is drawn at sidebar size so its 8 pt labels stay
# readable when a 400 px CRM frame scales it down; the PDF's PNG fills an A4 column.
SVG_WIDTH_IN, PNG_WIDTH_IN = 4.6, 7.2


def _figure(height: float = 2.2) -> tuple[Figure, Any]:
    width = getattr(_SCALE, "width", PNG_WIDTH_IN)
    fig = Figure(figsize=(width, height * (1.15 if width < PNG_WIDTH_IN else 1.0)), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", color="#eaecf0", linewidth=0.8)
    return fig, ax


def _export(fig: Figure, fmt: str) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=150 if fmt == "png" else 100, metadata=None
                if fmt == "png" else {"Date": None})
    return buf.getvalue()


def _series(report: Mapping[str, Any], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for p in report.get("timeline") or []:
        if p.get(key) is not None:
            xs.append(_minutes(p.get("t_ms")))
            ys.append(float(p[key]))
    return xs, ys


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", color=MUTED, transform=ax.transAxes)


def talk_ratio(report: Mapping[str, Any], fmt: str = "svg") -> bytes:
    fig, ax = _figure()
    xs, ys = _series(report, "talk_ratio")
    if xs:
        pct = [y * 100 if y <= 1.0 else y for y in ys]
        ax.plot(xs, pct, color=REP, linewidth=2, label="rep share of talk")
        ax.axhspan(35, 50, color=CUSTOMER, alpha=0.12, label="target zone (≈43 %)")
        ax.axhline(65, color=ACCENT, linestyle="--", linewidth=1, label="too much (65 %)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7, loc="upper right", frameon=False)
    else:
        _empty(ax, "no talk-ratio data")
    ax.set_xlabel(_unit_label(), fontsize=8)
    ax.set_ylabel("rep talk %", fontsize=8)
    return _export(fig, fmt)


def sentiment(report: Mapping[str, Any], fmt: str = "svg") -> bytes:
    fig, ax = _figure()
    drawn = False
    for key, color, label in (("rep_sentiment", REP, "rep"),
                              ("customer_sentiment", CUSTOMER, "customer")):
        xs, ys = _series(report, key)
        if xs:
            ax.plot(xs, ys, color=color, linewidth=1.8, marker="o", markersize=2.5, label=label)
            drawn = True
    if drawn:
        ax.axhline(0, color=MUTED, linewidth=0.8)
        ax.set_ylim(-1.05, 1.05)
        ax.legend(fontsize=7, loc="lower right", frameon=False)
    else:
        _empty(ax, "no sentiment data")
    ax.set_xlabel(_unit_label(), fontsize=8)
    ax.set_ylabel("sentiment", fontsize=8)
    return _export(fig, fmt)


def _question_times(report: Mapping[str, Any]) -> list[tuple[float, bool]]:
    out = []
    for q in report.get("questions") or []:
        if isinstance(q, Mapping):
            at = q.get("at_ms", q.get("t_ms", q.get("start_ms")))
            if at is not None:
                out.append((_minutes(at), bool(q.get("open"))))
    return out


def speakers(report: Mapping[str, Any], fmt: str = "svg") -> bytes:
    """Who spoke when (monologues stand out), with questions and objections marked."""
    fig, ax = _figure(1.9)
    rows = {"rep": 1, "customer": 0}
    longest = (report.get("monologues") or [{}])[0]
    for s in report.get("segments") or report.get("monologues") or []:
        y = rows.get(str(s.get("speaker")), 0)
        color = REP if s.get("speaker") == "rep" else CUSTOMER
        is_longest = s is longest or s == longest
        ax.broken_barh([(_minutes(s["start_ms"]), max(_minutes(s["duration_ms"]), 0.01))],
                       (y - 0.35, 0.7), facecolors=color, alpha=1.0 if is_longest else 0.55)
    for minute, is_open in _question_times(report):
        ax.plot([minute], [1.5], marker="v", color=REP if is_open else MUTED, markersize=5)
    for o in report.get("objections") or []:
        ax.plot([_minutes(o.get("at_ms"))], [-0.55], marker="^", color=ACCENT, markersize=6)
    ax.set_yticks([0, 1], ["customer", "rep"])
    ax.set_ylim(-0.8, 1.8)
    ax.set_xlabel(f"{_unit_label()}  (▼ question: blue open, grey closed · ▲ objection)",
                  fontsize=8)
    return _export(fig, fmt)


def pace(report: Mapping[str, Any], fmt: str = "svg") -> bytes:
    fig, ax = _figure()
    xs, ys = _series(report, "pace")
    if xs:
        ax.plot(xs, ys, color=REP, linewidth=1.8)
        ax.axhspan(150, 170, color=CUSTOMER, alpha=0.12, label="typical 150–170")
        ax.axhline(190, color=ACCENT, linestyle="--", linewidth=1, label="rushing (190)")
        ax.legend(fontsize=7, loc="upper right", frameon=False)
    else:
        _empty(ax, "no pace data")
    ax.set_xlabel(_unit_label(), fontsize=8)
    ax.set_ylabel("rep words/min", fontsize=8)
    return _export(fig, fmt)


def trend(points: Sequence[Mapping[str, Any]], fmt: str = "svg") -> bytes:
    """Score per call over time (the rep's progress), ``points`` = [{date, score}]."""
    fig, ax = _figure(2.0)
    pts = [p for p in points if p.get("score") is not None]
    if pts:
        ax.plot(range(len(pts)), [p["score"] for p in pts], color=REP, marker="o", linewidth=1.8)
        step = max(1, len(pts) // 8)
        ax.set_xticks(range(0, len(pts), step), [str(p.get("date", ""))[5:10]
                                                 for p in pts][::step])
        ax.set_ylim(0, 100)
    else:
        _empty(ax, "no scored calls yet")
    ax.set_ylabel("score", fontsize=8)
    return _export(fig, fmt)


CHARTS: dict[str, tuple[str, Callable[[Mapping[str, Any], str], bytes]]] = {
    "talk_ratio": ("Talk ratio over the call", talk_ratio),
    "sentiment": ("Sentiment per side", sentiment),
    "speakers": ("Who spoke when: monologues, questions, objections", speakers),
    "pace": ("Speaking pace", pace),
}


def render(name: str, report: Mapping[str, Any], fmt: str = "svg") -> bytes:
    with _LOCK:
        _SCALE.unit = _axis_unit(report)
        _SCALE.width = SVG_WIDTH_IN if fmt == "svg" else PNG_WIDTH_IN
        return CHARTS[name][1](report, fmt)


def render_trend(points: Sequence[Mapping[str, Any]], fmt: str = "svg") -> bytes:
    with _LOCK:
        _SCALE.width = SVG_WIDTH_IN if fmt == "svg" else PNG_WIDTH_IN
        return trend(points, fmt)


def inline_svg(data: bytes) -> str:
    """SVG bytes ready to inline in HTML (no XML prolog or DOCTYPE), without a fixed size:
    the ``viewBox`` stays, so the chart scales to its container (a 400 px sidebar too)."""
    text = re.sub(r"^.*?(<svg\b)", r"\1", data.decode("utf-8"), count=1, flags=re.S)
    head, sep, rest = text.partition(">")
    head = re.sub(r'\s(?:width|height)="[^"]*"', "", head)
    if "viewBox" in head and "preserveAspectRatio" not in head:
        head += ' preserveAspectRatio="xMidYMid meet"'
    return head + sep + rest


__all__ = ["CHARTS", "render", "render_trend", "inline_svg", "plt"]
