"""Talk time: talk ratio, longest rep monologue, longest customer story, interruptions."""

from __future__ import annotations

from dataclasses import dataclass, field

from plugin.coach.types import Turn

INTERRUPT_OVERLAP_MS = 200  # overlaps shorter than this are back-channel timing noise


@dataclass(slots=True)
class TalkTracker:
    """Speaking time per side and uninterrupted stretches (consecutive turns of one side)."""

    talk_ms: dict[str, int] = field(default_factory=lambda: {"rep": 0, "customer": 0})
    longest_ms: dict[str, int] = field(default_factory=lambda: {"rep": 0, "customer": 0})
    run_speaker: str | None = None
    run_start_ms: int = 0
    run_end_ms: int = 0
    last_customer_end_ms: int = -1
    interruptions: list[int] = field(default_factory=list)  # rep turn start times

    def add(self, turn: Turn) -> bool:
        """Account for ``turn``; return True if it is a rep interruption."""
        self.talk_ms[turn.speaker] += turn.duration_ms
        interrupted = (turn.speaker == "rep" and self.run_speaker == "customer"
                       and turn.start_ms < self.last_customer_end_ms - INTERRUPT_OVERLAP_MS)
        if interrupted:
            self.interruptions.append(turn.start_ms)
        if turn.speaker != self.run_speaker:
            self.run_speaker = turn.speaker
            self.run_start_ms = turn.start_ms
            self.run_end_ms = turn.end_ms
        self.run_end_ms = max(self.run_end_ms, turn.end_ms)
        run = self.run_end_ms - self.run_start_ms
        self.longest_ms[turn.speaker] = max(self.longest_ms[turn.speaker], run)
        if turn.speaker == "customer":
            self.last_customer_end_ms = max(self.last_customer_end_ms, turn.end_ms)
        return interrupted

    def rep_ratio(self) -> float:
        total = self.talk_ms["rep"] + self.talk_ms["customer"]
        return self.talk_ms["rep"] / total if total else 0.0

    def total_s(self) -> float:
        return (self.talk_ms["rep"] + self.talk_ms["customer"]) / 1000.0

    def monologue_ms(self, now_ms: int) -> int:
        """How long the rep has been talking uninterrupted as of ``now_ms`` (0 if not)."""
        if self.run_speaker != "rep":
            return 0
        return max(0, now_ms - self.run_start_ms)

    def recent_interruptions(self, now_ms: int, window_ms: int) -> int:
        return sum(1 for t in self.interruptions if now_ms - t <= window_ms)
