"""Local speech-to-text on the bundled Whisper model: recordings and live streams, offline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from plugin.coach.types import Turn
from plugin.providers.stt import SpeechToText, SttCapabilities

from .audio import DecodedAudio, channels_identical, load_audio
from .engine import WhisperEngine
from .streaming import LocalWhisperStream, StreamTuning
from .turns import MONO_GAP_MS, mono_turns, stereo_turns
from .voices import pitch_turns


class LocalWhisperStt(SpeechToText):
    """Whisper (CTranslate2, int8, CPU). Stereo recordings: left = rep, right = customer."""

    name = "local-whisper"
    capabilities = SttCapabilities(streaming=True, interim_results=True, word_times=True,
                                   diarization=False)

    def __init__(self, engine: WhisperEngine | None = None, *, tuning: StreamTuning | None = None,
                 mono_gap_ms: int = MONO_GAP_MS, beam_size: int = 5,
                 pitch_speakers: bool = True, live_engine: WhisperEngine | None = None) -> None:
        self.engine = engine or WhisperEngine.shared()
        # Live streams: many short decodes from many channels, best on single-threaded
        # replicas with batching (plugin.speech.scheduler); recordings: one multi-threaded.
        self.live_engine = live_engine or self.engine
        self.tuning = tuning or StreamTuning()
        self.mono_gap_ms = mono_gap_ms
        self.beam_size = beam_size
        self.pitch_speakers = pitch_speakers

    def transcribe_file(self, path: Path, *, progress: object | None = None) -> list[Turn]:
        report: Callable[[float], None] | None = progress if callable(progress) else None
        audio = load_audio(Path(path))  # raises ProviderInputError for bad files
        if audio.stereo and channels_identical(audio.channels[0], audio.channels[1]):
            audio = DecodedAudio(channels=(audio.channels[0],))  # mono saved as stereo
        n = len(audio.channels)
        if report:
            report(0.0)
        channel_words = []
        for i, channel in enumerate(audio.channels):
            def part(fraction: float, i: int = i) -> None:
                if report:
                    report(min(1.0, (i + fraction) / n))
            channel_words.append(
                self.engine.transcribe_words(channel, beam_size=self.beam_size, progress=part))
        if audio.stereo:
            turns = stereo_turns(channel_words[0], channel_words[1])
        else:
            turns = (pitch_turns(audio.channels[0], channel_words[0]) if self.pitch_speakers
                     else None) or mono_turns(channel_words[0], gap_ms=self.mono_gap_ms)
        if report:
            report(1.0)
        return turns

    def open_stream(self, sample_rate: int = 16000) -> LocalWhisperStream:
        """A live stream; the first one in a process loads and warms the model (~1–2 s)."""
        stream = LocalWhisperStream(self.live_engine, sample_rate, self.tuning)
        self.live_engine.ensure_ready()
        return stream
