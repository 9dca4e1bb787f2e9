"""The coach engine (instant tier): pure Python, no web, worker or CRM imports.

Public API (see docs/contracts.md and docs/coach.md)::

    pb = default_playbook()              # or load_playbook(yaml_text)
    s = CoachSession(pb, context=None)
    r = s.on_turn(turn)                  # TurnResult: analysis, moments, nudges, metrics
    s.on_tick(now_ms, speaking="rep")    # timers
    s.report().to_dict()                 # CallReport
    analyse_utterance(text, "rep", pb)   # stateless, one line
    analyse_transcript(turns, pb)        # a whole transcript: moments per turn + report
"""

from plugin.coach.playbook import (
    DEFAULT_PLAYBOOK_PATH,
    Playbook,
    PlaybookError,
    default_playbook,
    load_playbook,
)
from plugin.coach.report import CallReport
from plugin.coach.session import CoachSession, TurnResult
from plugin.coach.transcript import TranscriptAnalysis, TurnMoments, analyse_transcript
from plugin.coach.types import CustomerContext, Moment, Nudge, Turn, Word
from plugin.coach.utterance import UtteranceAnalysis, analyse_utterance

__all__ = [
    "DEFAULT_PLAYBOOK_PATH", "CallReport", "CoachSession", "CustomerContext", "Moment", "Nudge",
    "Playbook", "PlaybookError", "TranscriptAnalysis", "Turn", "TurnMoments", "TurnResult",
    "UtteranceAnalysis", "Word", "analyse_transcript", "analyse_utterance", "default_playbook",
    "load_playbook",
]
