"""Words → speaker turns.

Stereo (one speaker per channel): each channel's words are cut into utterances at pauses,
then all utterances are ordered by start time and consecutive utterances of the same
speaker are joined into one turn.

Mono (no speaker information): a pause of at least ``mono_gap_ms`` between two words is
taken as a change of speaker, starting with the rep. This is a heuristic; it suits calls
where speakers take clean turns and fails on back-to-back speech or long thinking pauses.
For reliable speakers record in stereo (rep left, customer right) or use AssemblyAI.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from plugin.coach.types import Speaker, Turn, Word

UTTERANCE_GAP_MS = 1200  # within one channel, a pause this long starts a new utterance
MONO_GAP_MS = 700


@dataclass(frozen=True, slots=True)
class Utterance:
    speaker: Speaker
    words: tuple[Word, ...]

    @property
    def start_ms(self) -> int:
        return self.words[0].start_ms

    @property
    def end_ms(self) -> int:
        return self.words[-1].end_ms


def join_words(words: Iterable[Word]) -> str:
    """Whisper words carry their own punctuation, so a space join reads naturally."""
    return " ".join(w.text for w in words).strip()


def split_at_pauses(words: Sequence[Word], gap_ms: int) -> list[list[Word]]:
    groups: list[list[Word]] = []
    for word in words:
        if groups and word.start_ms - groups[-1][-1].end_ms < gap_ms:
            groups[-1].append(word)
        else:
            groups.append([word])
    return groups


def stereo_turns(rep_words: Sequence[Word], customer_words: Sequence[Word],
                 gap_ms: int = UTTERANCE_GAP_MS) -> list[Turn]:
    """Merge the two channels into turns ordered by time."""
    utterances = [Utterance("rep", tuple(g)) for g in split_at_pauses(rep_words, gap_ms)]
    utterances += [Utterance("customer", tuple(g)) for g in split_at_pauses(customer_words, gap_ms)]
    utterances.sort(key=lambda u: (u.start_ms, u.end_ms))
    return utterances_to_turns(utterances)


def mono_turns(words: Sequence[Word], gap_ms: int = MONO_GAP_MS,
               first: Speaker = "rep") -> list[Turn]:
    """Alternate speakers at pauses of ``gap_ms`` or more (see the module docstring)."""
    speaker: Speaker = first
    utterances: list[Utterance] = []
    for group in split_at_pauses(words, gap_ms):
        utterances.append(Utterance(speaker, tuple(group)))
        speaker = "customer" if speaker == "rep" else "rep"
    return utterances_to_turns(utterances)


def utterances_to_turns(utterances: Iterable[Utterance]) -> list[Turn]:
    """Join consecutive utterances of one speaker; number the turns from 0."""
    merged: list[tuple[Speaker, list[Word]]] = []
    for u in utterances:
        if not u.words:
            continue
        if merged and merged[-1][0] == u.speaker:
            merged[-1][1].extend(u.words)
        else:
            merged.append((u.speaker, list(u.words)))
    return [
        Turn(seq=i, speaker=speaker, text=join_words(words), start_ms=words[0].start_ms,
             end_ms=max(w.end_ms for w in words), words=tuple(words))
        for i, (speaker, words) in enumerate(merged)
    ]
