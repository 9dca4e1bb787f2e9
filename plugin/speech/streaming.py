"""Live transcription with a non-streaming model: voice-activity segmenting + re-decoding.

Audio (PCM16, any rate; resampled to 16 kHz) is cut into 20 ms frames and classified by
WebRTC VAD (plus an energy floor, so digital silence and hiss never open a segment).

- A segment opens when ``start_frames`` of the last ``start_window`` frames are speech; it
  keeps ``preroll_ms`` of audio from before the trigger so the first syllable is not lost.
- While it is open, every ``partial_interval_ms`` of new audio the open segment is decoded
  again with a short encoder context (fast, slightly less accurate) → a ``partial`` event.
  Partials are skipped when the decoders are busy (``plugin.speech.scheduler``), or once
  trailing silence suggests the turn is ending, so they never delay a final.
- After ``end_silence_ms`` of non-speech the segment closes and is decoded once more (wider
  encoder context, word alignment) → a ``final`` event, ms times relative to the stream
  start. That decode is started speculatively once ``tail_ms`` of silence has passed (the
  audio it needs is complete by then) and reused at the endpoint unless speech resumed, so
  in live use it overlaps the endpoint wait instead of following it.
- A segment longer than ``max_segment_ms`` is closed where it stands (Whisper sees ≤ 30 s).

Latency of a final after the last speech sample ≈ max(``end_silence_ms``, ``tail_ms`` + one
decode); a decode is ~0.1–0.4 s for a few seconds of speech with tiny.en on 2 threads.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np
import webrtcvad

from plugin.providers.errors import ProviderInputError
from plugin.providers.stt import SttStream, TranscriptEvent

from .audio import SAMPLE_RATE, StreamResampler, pcm16_to_float
from .engine import SegmentDecode, WhisperEngine

FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000


@dataclass(frozen=True, slots=True)
class StreamTuning:
    """Knobs of the local live transcriber (see the module docstring)."""

    vad_aggressiveness: int = 2  # 0 (lenient) … 3 (strict)
    energy_floor_dbfs: float = -50.0  # frames quieter than this are never speech
    start_window: int = 10  # frames (200 ms)
    start_frames: int = 6  # voiced frames within the window that open a segment
    preroll_ms: int = 300
    end_silence_ms: int = 400
    tail_ms: int = 200  # trailing silence kept in the decoded audio
    min_segment_ms: int = 250  # shorter voiced blips are dropped
    max_segment_ms: int = 20000
    partial_interval_ms: int = 600
    min_partial_ms: int = 400
    partial_context_s: float | None = 1.0  # None = full 30 s window
    final_context_s: float | None = 3.0
    partials: bool = True
    speculative_final: bool = True


class LocalWhisperStream(SttStream):
    """One mono channel of live audio → partial and final ``TranscriptEvent``s."""

    def __init__(self, engine: WhisperEngine, sample_rate: int = SAMPLE_RATE,
                 tuning: StreamTuning | None = None) -> None:
        if sample_rate < 8000 or sample_rate > 48000:
            raise ProviderInputError(f"unsupported sample rate {sample_rate} Hz (8000–48000)")
        self.engine = engine
        self.sample_rate = sample_rate
        self.tuning = tuning or StreamTuning()
        self._vad = webrtcvad.Vad(self.tuning.vad_aggressiveness)
        self._resampler = StreamResampler(sample_rate, SAMPLE_RATE)
        self._pending = np.zeros(0, dtype=np.float32)  # < one frame, not yet classified
        self._frames_done = 0  # frames classified so far (stream clock)
        self._recent: deque[tuple[np.ndarray, bool]] = deque(
            maxlen=max(self.tuning.start_window, self.tuning.preroll_ms // FRAME_MS))
        self._segment: list[np.ndarray] | None = None
        self._segment_start_frame = 0
        self._voiced_in_segment = 0
        self._trailing_silence = 0
        self._frames_since_partial = 0
        self._last_partial = ""
        self._speculative: tuple[int, SegmentDecode] | None = None  # (frames, result)
        self._closed = False
        self.final_decode_seconds: list[float] = []  # for benchmarks

    # SttStream -----------------------------------------------------------------------------
    def push(self, pcm16: bytes) -> list[TranscriptEvent]:
        if self._closed:
            raise ProviderInputError("the stream is finished")
        samples = self._resampler.process(pcm16_to_float(pcm16))
        if len(self._pending):
            samples = np.concatenate([self._pending, samples])
        n_frames = len(samples) // FRAME_SAMPLES
        self._pending = samples[n_frames * FRAME_SAMPLES:].copy()
        events: list[TranscriptEvent] = []
        for i in range(n_frames):
            frame = samples[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES]
            event = self._on_frame(frame)
            if event is not None:
                events.append(event)
        return events

    def finish(self) -> list[TranscriptEvent]:
        if self._closed:
            return []
        events: list[TranscriptEvent] = []
        if len(self._pending) and self._segment is not None:
            self._segment.append(self._pending)
        self._pending = np.zeros(0, dtype=np.float32)
        if self._segment is not None:
            final = self._close_segment(trim_tail=False)
            if final is not None:
                events.append(final)
        self._closed = True
        return events

    def force_endpoint(self) -> list[TranscriptEvent]:
        """End the open segment now (e.g. the caller knows the speaker stopped)."""
        if self._closed or self._segment is None:
            return []
        final = self._close_segment(trim_tail=True)
        return [final] if final is not None else []

    @property
    def position_ms(self) -> int:
        """Stream clock: ms of audio classified so far."""
        return self._frames_done * FRAME_MS

    # Frame state machine ---------------------------------------------------------------------
    def _is_speech(self, frame: np.ndarray) -> bool:
        rms = float(np.sqrt(np.mean(frame * frame))) + 1e-9
        if 20 * np.log10(rms) < self.tuning.energy_floor_dbfs:
            return False
        pcm = (np.clip(frame, -1.0, 32767 / 32768) * 32768).astype("<i2").tobytes()
        return bool(self._vad.is_speech(pcm, SAMPLE_RATE))

    def _on_frame(self, frame: np.ndarray) -> TranscriptEvent | None:
        t = self.tuning
        voiced = self._is_speech(frame)
        self._frames_done += 1
        if self._segment is None:
            self._recent.append((frame, voiced))
            window = list(self._recent)[-t.start_window:]
            if sum(v for _, v in window) >= t.start_frames:
                preroll = list(self._recent)[-max(t.preroll_ms // FRAME_MS, t.start_window):]
                self._segment = [f for f, _ in preroll]
                self._segment_start_frame = self._frames_done - len(preroll)
                self._voiced_in_segment = sum(v for _, v in preroll)
                self._trailing_silence = 0
                self._frames_since_partial = 0
                self._last_partial = ""
                self._recent.clear()
            return None

        self._segment.append(frame)
        self._frames_since_partial += 1
        if voiced:
            self._voiced_in_segment += 1
            self._trailing_silence = 0
            self._speculative = None
        else:
            self._trailing_silence += 1
        seg_frames = len(self._segment)
        if (t.speculative_final and self._speculative is None
                and self._trailing_silence == t.tail_ms // FRAME_MS
                and t.tail_ms < t.end_silence_ms
                and self._voiced_in_segment * FRAME_MS >= t.min_segment_ms):
            self._speculative = (seg_frames, self._decode_final(self._segment))
        if (self._trailing_silence * FRAME_MS >= t.end_silence_ms
                or seg_frames * FRAME_MS >= t.max_segment_ms):
            return self._close_segment(trim_tail=True)
        if (t.partials and self._frames_since_partial * FRAME_MS >= t.partial_interval_ms
                and seg_frames * FRAME_MS >= t.min_partial_ms
                and self._trailing_silence * FRAME_MS < min(200, t.end_silence_ms // 2)):
            return self._partial()
        return None

    def _partial(self) -> TranscriptEvent | None:
        assert self._segment is not None
        audio = np.concatenate(self._segment)
        result = self.engine.scheduler.try_partial(audio, self.tuning.partial_context_s)
        if result is None:  # decoders busy: try again on the next frame
            return None
        self._frames_since_partial = 0
        if not result.is_speech or result.text == self._last_partial:
            return None
        self._last_partial = result.text
        start_ms = self._segment_start_frame * FRAME_MS
        end_ms = start_ms + len(audio) * 1000 // SAMPLE_RATE
        return TranscriptEvent("partial", result.text, start_ms, end_ms)

    def _close_segment(self, *, trim_tail: bool) -> TranscriptEvent | None:
        assert self._segment is not None
        t = self.tuning
        frames = self._segment
        if trim_tail:
            keep_tail = t.tail_ms // FRAME_MS
            cut = max(0, self._trailing_silence - keep_tail)
            if cut:
                frames = frames[: len(frames) - cut]
        start_frame = self._segment_start_frame
        voiced = self._voiced_in_segment
        speculative, self._speculative = self._speculative, None
        self._segment = None
        self._recent.clear()
        if voiced * FRAME_MS < t.min_segment_ms or not frames:
            return None
        audio = np.concatenate(frames)
        if speculative is not None and speculative[0] == len(frames):
            result = speculative[1]  # decoded while the endpoint silence was running
        else:
            result = self._decode_final(frames)
        if not result.is_speech:
            return None
        start_ms = start_frame * FRAME_MS
        words = tuple(replace(w, start_ms=w.start_ms + start_ms, end_ms=w.end_ms + start_ms)
                      for w in result.words)
        end_ms = start_ms + len(audio) * 1000 // SAMPLE_RATE
        if words:
            return TranscriptEvent("final", result.text, words[0].start_ms,
                                   max(w.end_ms for w in words), words)
        return TranscriptEvent("final", result.text, start_ms, end_ms, ())

    def _decode_final(self, frames: list[np.ndarray]) -> SegmentDecode:
        result = self.engine.scheduler.decode_final(np.concatenate(frames),
                                                    self.tuning.final_context_s)
        self.final_decode_seconds.append(result.seconds)
        return result

