"""Local speech-to-text on the bundled Whisper model: recordings and live streams, offline."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from plugin.coach.types import Turn
from plugin.providers.stt import SpeechToText, SttCapabilities

from .audio import DecodedAudio, channels_identical, load_audio
from .diarize import diarize_words
from .engine import WhisperEngine
from .streaming import LocalWhisperStream, StreamTuning
from .turns import MONO_GAP_MS, mono_turns, stereo_turns
from .voices import pitch_turns

log = logging.getLogger(__name__)


class LocalWhisperStt(SpeechToText):
    """Whisper (CTranslate2, int8, CPU). Stereo recordings: left = rep, right = customer."""

    name = "local-whisper"
    capabilities = SttCapabilities(streaming=True, interim_results=True, word_times=True,
                                   diarization=False)

    def __init__(self, engine: WhisperEngine | None = None, *, tuning: StreamTuning | None = None,
                 mono_gap_ms: int = MONO_GAP_MS, beam_size: int = 5,
                 pitch_speakers: bool = True, live_engine: WhisperEngine | None = None,
                 speaker_embedder: str = "resemblyzer") -> None:
        self.engine = engine or WhisperEngine.shared()
        # Live streams: many short decodes from many channels, best on single-threaded
        # replicas with batching (plugin.speech.scheduler); recordings: one multi-threaded.
        self.live_engine = live_engine or self.engine
        self.tuning = tuning or StreamTuning()
        self.mono_gap_ms = mono_gap_ms
        self.beam_size = beam_size
        self.pitch_speakers = pitch_speakers
        self.speaker_embedder = speaker_embedder  # "resemblyzer", "mfcc" or "" (pitch only)

    def transcribe_file(self, path: Path, *, progress: object | None = None,
                        rep_print: object | None = None) -> list[Turn]:
        """Turns of a recording. Mono: speakers from voice embeddings (the rep is the voice
        nearest ``rep_print`` when given, else the first heard), else pitch, else pauses."""
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
            turns = self._mono_turns(audio.channels[0], channel_words[0], rep_print)
        if report:
            report(1.0)
        return turns

    def _mono_turns(self, audio: object, words: list, rep_print: object | None) -> list[Turn]:
        import numpy as np

        samples = np.asarray(audio, dtype=np.float32)
        turns = None
        if self.speaker_embedder:
            from .voiceprint import get_embedder

            vector = None if rep_print is None else np.asarray(rep_print, dtype=np.float64)
            try:
                embedder = get_embedder(self.speaker_embedder)
            except RuntimeError:  # resemblyzer's weights not installed: pitch, then pauses
                log.warning("no speaker embedder; mono speakers from pitch", exc_info=True)
            else:
                turns = diarize_words(samples, words, embedder, vector)
        if turns is None and self.pitch_speakers:
            turns = pitch_turns(samples, words)
        return turns or mono_turns(words, gap_ms=self.mono_gap_ms)

    def open_stream(self, sample_rate: int = 16000) -> LocalWhisperStream:
        """A live stream; the first one in a process loads and warms the model (~1–2 s)."""
        stream = LocalWhisperStream(self.live_engine, sample_rate, self.tuning)
        self.live_engine.ensure_ready()
        return stream
