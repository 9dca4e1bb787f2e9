"""Local Whisper transcription of recordings: stereo speakers, words with times, bad files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from plugin.providers.errors import ProviderInputError
from plugin.settings import load_settings
from plugin.speech import get_stt, wer
from plugin.speech.local import LocalWhisperStt

from .conftest import CUSTOMER_TEXT, REP_TEXT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stt(tmp_path_factory: pytest.TempPathFactory) -> LocalWhisperStt:
    settings = load_settings({"instance_path": tmp_path_factory.mktemp("inst"),
                              "stt_engine": "local"})
    provider = get_stt(settings)
    assert isinstance(provider, LocalWhisperStt)
    return provider


def test_stereo_recording_becomes_rep_then_customer_turns_with_word_times(
        stt: LocalWhisperStt, stereo_call: Path) -> None:
    progress: list[float] = []

    turns = stt.transcribe_file(stereo_call, progress=progress.append)

    assert [t.speaker for t in turns] == ["rep", "customer"]
    assert wer(REP_TEXT, turns[0].text) < 0.2
    assert wer(CUSTOMER_TEXT, turns[1].text) < 0.2
    assert turns[0].end_ms < turns[1].start_ms
    for turn in turns:
        assert turn.words, "every turn carries its words"
        starts = [w.start_ms for w in turn.words]
        assert starts == sorted(starts)
        assert turn.start_ms == turn.words[0].start_ms
        assert all(w.start_ms <= w.end_ms for w in turn.words)
    assert progress[0] == 0.0 and progress[-1] == 1.0
    assert progress == sorted(progress)


def test_mono_recording_alternates_speakers_at_pauses(stt: LocalWhisperStt, audio_dir: Path,
                                                       rep_wav: Path, customer_wav: Path) -> None:
    gap = audio_dir / "gap_mono.wav"
    subprocess.run(["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(gap), "trim", "0",
                    "1.5"], check=True)
    mono = audio_dir / "mono.mp3"
    subprocess.run(["sox", str(rep_wav), str(gap), str(customer_wav), str(mono)], check=True)

    turns = stt.transcribe_file(mono)

    assert [t.speaker for t in turns][:2] == ["rep", "customer"]
    assert "price" in turns[-1].text.lower()


def test_empty_file_is_a_clear_input_error(stt: LocalWhisperStt, tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(ProviderInputError, match="empty"):
        stt.transcribe_file(empty)


def test_corrupt_file_is_a_clear_input_error(stt: LocalWhisperStt, tmp_path: Path) -> None:
    bad = tmp_path / "call.mp3"
    bad.write_bytes(b"this is not audio at all " * 200)
    with pytest.raises(ProviderInputError, match="not a readable audio file"):
        stt.transcribe_file(bad)


def test_missing_file_is_a_clear_input_error(stt: LocalWhisperStt, tmp_path: Path) -> None:
    with pytest.raises(ProviderInputError, match="no such file"):
        stt.transcribe_file(tmp_path / "nope.wav")
