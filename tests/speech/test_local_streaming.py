"""Local live transcription: partials while speaking, a final with words at the end of a turn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plugin.providers.errors import ProviderInputError
from plugin.providers.stt import TranscriptEvent
from plugin.settings import load_settings
from plugin.speech import get_stt, wer
from plugin.speech.audio import float_to_pcm16, load_audio, resample
from plugin.speech.local import LocalWhisperStt

from .conftest import CUSTOMER_TEXT, REP_TEXT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stt(tmp_path_factory: pytest.TempPathFactory) -> LocalWhisperStt:
    provider = get_stt(load_settings({"instance_path": tmp_path_factory.mktemp("inst")}))
    assert isinstance(provider, LocalWhisperStt)
    return provider


def feed(stt: LocalWhisperStt, samples: np.ndarray, rate: int, chunk_ms: int = 40
         ) -> list[TranscriptEvent]:
    stream = stt.open_stream(rate)
    pcm = float_to_pcm16(samples)
    step = rate * 2 * chunk_ms // 1000
    events: list[TranscriptEvent] = []
    for i in range(0, len(pcm), step):
        events += stream.push(pcm[i:i + step])
    return events + stream.finish()


def test_stream_emits_partials_then_one_final_with_the_turn_text(
        stt: LocalWhisperStt, stereo_call: Path) -> None:
    left = load_audio(stereo_call).channels[0]  # rep speaks, then a long silence

    events = feed(stt, left, 16000)

    kinds = [e.kind for e in events]
    assert "partial" in kinds
    assert kinds[-1] == "final" and kinds.count("final") == 1
    assert kinds.index("partial") < kinds.index("final")
    final = events[-1]
    assert wer(REP_TEXT, final.text) < 0.2
    assert final.words and final.words[0].start_ms < 1000
    assert [w.start_ms for w in final.words] == sorted(w.start_ms for w in final.words)
    assert final.end_ms <= len(left) * 1000 // 16000


def test_final_word_times_are_relative_to_the_stream_start(
        stt: LocalWhisperStt, stereo_call: Path) -> None:
    right = load_audio(stereo_call).channels[1]  # silence, then the customer
    speech_starts_ms = int(np.argmax(np.abs(right) > 0.01)) * 1000 // 16000

    finals = [e for e in feed(stt, right, 16000) if e.kind == "final"]

    assert len(finals) == 1
    assert wer(CUSTOMER_TEXT, finals[0].text) < 0.25
    assert abs(finals[0].words[0].start_ms - speech_starts_ms) < 400


def test_telephone_rate_audio_is_resampled_and_transcribed(
        stt: LocalWhisperStt, rep_wav: Path) -> None:
    samples = load_audio(rep_wav).channels[0]
    narrowband = resample(samples, 16000, 8000)

    finals = [e for e in feed(stt, narrowband, 8000, chunk_ms=20) if e.kind == "final"]

    assert finals
    assert wer(REP_TEXT, " ".join(e.text for e in finals)) < 0.35


def test_silence_produces_no_events(stt: LocalWhisperStt) -> None:
    assert feed(stt, np.zeros(16000 * 3, dtype=np.float32), 16000) == []


def test_bad_sample_rate_and_odd_bytes_are_input_errors(stt: LocalWhisperStt) -> None:
    with pytest.raises(ProviderInputError):
        stt.open_stream(1000)
    stream = stt.open_stream(16000)
    with pytest.raises(ProviderInputError):
        stream.push(b"\x00\x01\x02")
