"""Speech-to-text interface: batch (files) and streaming (live audio), local or cloud."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from plugin.coach.types import Turn, Word


@dataclass(frozen=True, slots=True)
class SttCapabilities:
    streaming: bool
    interim_results: bool
    word_times: bool
    diarization: bool


@dataclass(frozen=True, slots=True)
class TranscriptEvent:
    """A partial (may still change) or final piece of transcript of one audio stream."""

    kind: Literal["partial", "final"]
    text: str
    start_ms: int
    end_ms: int
    words: tuple[Word, ...] = ()


class SttStream(ABC):
    """One mono PCM16 stream (one speaker channel). Not thread-safe: one feeder at a time."""

    #: Set by the consumer: called (from any thread) when a stream whose results arrive
    #: on their own (a network service) has events waiting, so they can be collected with
    #: ``push(b"")`` at once instead of with the next audio.
    on_ready: Callable[[], None] | None = None
    #: True when the stream has a ``send`` that never waits (it only hands audio to a network
    #: service), so a feeder may call it straight from its socket's event loop and collect
    #: the results later, after ``on_ready``, with ``push(b"")`` on another thread.
    inline_push: bool = False

    @abstractmethod
    def push(self, pcm16: bytes) -> list[TranscriptEvent]:
        """Feed little-endian PCM16 samples; return the events ready now (may be empty)."""

    def send(self, pcm16: bytes) -> None:
        """Hand over audio without collecting results (only streams with ``inline_push``)."""
        raise NotImplementedError(f"{type(self).__name__} has no non-blocking send")

    @abstractmethod
    def finish(self) -> list[TranscriptEvent]:
        """End of audio: flush and return the remaining (final) events, then release."""


class SpeechToText(ABC):
    """A speech-to-text provider."""

    name: str = "stt"
    capabilities: SttCapabilities

    @abstractmethod
    def transcribe_file(self, path: Path, *, progress: object | None = None,
                        rep_print: object | None = None) -> list[Turn]:
        """Transcribe a recording into speaker turns (rep/customer).

        Stereo files: left channel = rep, right channel = customer. Mono files: speakers
        from the provider's diarization, or alternated by turn where it has none; the rep
        is the voice nearest ``rep_print`` (the rep's enrolled voice print) when given.
        ``progress``, if given, is called as ``progress(fraction: float)``.
        """

    @abstractmethod
    def open_stream(self, sample_rate: int = 16000) -> SttStream:
        """Start a streaming session for one channel."""
