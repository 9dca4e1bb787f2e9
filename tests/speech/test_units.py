"""Small pure pieces of the speech area: WER, resampling, turn building."""

from __future__ import annotations

import numpy as np
import pytest

from plugin.coach.types import Word
from plugin.providers.errors import ProviderInputError
from plugin.speech import normalize, wer
from plugin.speech.audio import StreamResampler, float_to_pcm16, pcm16_to_float, resample
from plugin.speech.engine import has_loop
from plugin.speech.turns import mono_turns, stereo_turns


def test_wer_ignores_case_punctuation_number_format_and_contractions() -> None:
    assert wer("That is about $40,000 a year, OK?", "that's about forty thousand dollars a "
               "year okay") == 0.0
    assert normalize("It's 25% of the follow-up") == ["it", "is", "twenty", "five", "percent",
                                                      "of", "the", "follow", "up"]


def test_wer_counts_substitutions_insertions_and_deletions() -> None:
    assert wer("the price is too high", "the price is high") == pytest.approx(0.2)
    assert wer("the price is too high", "the prize is too high for us") == pytest.approx(0.6)
    assert wer("", "") == 0.0 and wer("", "hello") == 1.0


def test_streaming_resampler_matches_whole_array_resampling_across_chunks() -> None:
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    whole = resample(tone, 8000, 16000)
    rs = StreamResampler(8000, 16000)
    pieces = np.concatenate([rs.process(tone[i:i + 160]) for i in range(0, len(tone), 160)])

    assert abs(len(whole) - 16000) <= 2
    n = min(len(whole), len(pieces))
    assert np.allclose(whole[:n], pieces[:n], atol=1e-5)
    reference = (0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / 16000)).astype(np.float32)
    assert np.max(np.abs(pieces[:n] - reference)) < 0.05


def test_pcm16_round_trip_and_odd_length_is_an_input_error() -> None:
    samples = np.array([0.0, 0.5, -0.5, 0.999], dtype=np.float32)
    assert np.allclose(pcm16_to_float(float_to_pcm16(samples)), samples, atol=1e-4)
    with pytest.raises(ProviderInputError):
        pcm16_to_float(b"\x00")


def w(text: str, start: int, end: int) -> Word:
    return Word(text, start, end)


def test_stereo_turns_interleave_channels_by_time_and_join_same_speaker() -> None:
    rep = [w("Hello", 0, 400), w("there.", 400, 800), w("Any", 5000, 5300),
           w("budget?", 5300, 5800)]
    customer = [w("Hi.", 1500, 1800), w("We", 2000, 2200), w("are", 2200, 2400)]

    turns = stereo_turns(rep, customer)

    assert [(t.seq, t.speaker, t.text) for t in turns] == [
        (0, "rep", "Hello there."), (1, "customer", "Hi. We are"), (2, "rep", "Any budget?")]
    assert (turns[1].start_ms, turns[1].end_ms) == (1500, 2400)


def test_mono_turns_switch_speaker_at_long_pauses_starting_with_the_rep() -> None:
    words = [w("Hello", 0, 400), w("there.", 450, 800), w("Hi.", 1800, 2000),
             w("Pricing?", 3000, 3500)]

    turns = mono_turns(words, gap_ms=700)

    assert [(t.speaker, t.text) for t in turns] == [
        ("rep", "Hello there."), ("customer", "Hi."), ("rep", "Pricing?")]


def test_repetition_loops_are_detected_but_real_repeats_are_not() -> None:
    assert has_loop(["thanks", "for...", "thanks", "for...", "thanks", "for"])
    assert not has_loop(["no,", "no,", "no.", "that", "is", "fine"])
    assert not has_loop(["we", "want", "to", "want", "to", "understand"])


def test_devserver_mulaw_table_matches_the_g711_reference() -> None:
    import warnings

    from plugin.devservers.assemblyai import MULAW_TO_PCM16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop  # stdlib reference until Python 3.13

    reference = np.frombuffer(audioop.ulaw2lin(bytes(range(256)), 2), dtype="<i2")
    assert np.array_equal(MULAW_TO_PCM16, reference)


def test_get_stt_picks_the_provider_from_settings(tmp_path: object,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from plugin.settings import load_settings
    from plugin.speech import get_stt
    from plugin.speech.assemblyai import AssemblyAiStt
    from plugin.speech.local import LocalWhisperStt

    for name in ("SALESCOACH_ASSEMBLYAI_API_KEY", "SALESCOACH_STT_ENGINE"):
        monkeypatch.delenv(name, raising=False)
    base = {"instance_path": tmp_path}
    assert isinstance(get_stt(load_settings(base)), LocalWhisperStt)
    keyed = get_stt(load_settings({**base, "assemblyai_api_key": "k",
                                   "assemblyai_base_url": "http://127.0.0.1:9",
                                   "assemblyai_streaming_host": "ws://127.0.0.1:9"}))
    assert isinstance(keyed, AssemblyAiStt)
    assert (keyed.base_url, keyed.streaming_host) == ("http://127.0.0.1:9", "ws://127.0.0.1:9")
    forced_local = load_settings({**base, "assemblyai_api_key": "k", "stt_engine": "local"})
    assert isinstance(get_stt(forced_local), LocalWhisperStt)
    with pytest.raises(ProviderInputError, match="ASSEMBLYAI_API_KEY"):
        get_stt(load_settings({**base, "stt_engine": "assemblyai"}))
