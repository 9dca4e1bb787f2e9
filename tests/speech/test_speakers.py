"""Speakers on one channel: the bundled voice encoder (numpy, no torch), voice prints,
piece cutting, clustering a mono recording into rep and customer, the live tracker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plugin.coach.types import Word
from plugin.live.scripted import (
    DISTINCT_VOICES,
    OVERLAP_CALL,
    build_call,
    espeak_available,
    render,
    synthesize,
    write_wav,
)
from plugin.speech.diarize import (
    SpeakerTracker,
    pieces,
    rep_label_by_print,
    word_attribution,
)
from plugin.speech.voiceprint import (
    MfccEmbedder,
    ResemblyzerEmbedder,
    VoicePrintStore,
    enroll,
    mel_filters,
)

pytestmark = pytest.mark.skipif(not espeak_available(), reason="needs espeak-ng")

REP_LINES = ("Thanks for taking the time today.", "Our platform routes every ticket.",
             "What budget did you have in mind?", "Let me show you the starter plan.")
CUSTOMER_LINES = ("The price is too high for us.", "We get two thousand tickets a month.",
                  "Ten thousand dollars at most.", "Send me the proposal by Friday.")


def _clip(text: str, speaker: str) -> np.ndarray:
    return synthesize(text, DISTINCT_VOICES[speaker]).astype(np.float32) / 32768.0


def test_voice_encoder_runs_from_the_packaged_weights_in_numpy() -> None:
    encoder = ResemblyzerEmbedder.shared()
    assert [w.shape for w in encoder.layers[0][:2]] == [(40, 1024), (256, 1024)]
    embed = encoder.embed(_clip(REP_LINES[0], "rep"))
    assert embed is not None and embed.shape == (256,)
    assert abs(float(np.linalg.norm(embed)) - 1.0) < 1e-5 and embed.min() >= 0
    assert encoder.embed(np.zeros(1000, dtype=np.float32)) is None  # too short to say
    assert mel_filters().shape == (40, 201)


@pytest.mark.parametrize("embedder", [ResemblyzerEmbedder.shared(), MfccEmbedder()],
                         ids=["resemblyzer", "mfcc"])
def test_one_voice_is_closer_to_itself_than_to_the_other(embedder: object) -> None:
    from plugin.speech.diarize import _prepare

    clips = [_clip(t, "rep") for t in REP_LINES] + [_clip(t, "customer") for t in CUSTOMER_LINES]
    vectors = _prepare(embedder.embed_many(clips), embedder)  # type: ignore[attr-defined]
    x = np.stack([v / np.linalg.norm(v) for v in vectors if v is not None])
    sims = x @ x.T
    upper = np.triu_indices(4, 1)
    within = min(sims[:4, :4][upper].min(), sims[4:, 4:][upper].min())
    across = sims[:4, 4:].max()
    assert within > across


def test_long_runs_are_cut_at_their_largest_gap() -> None:
    words = [Word("one", 0, 400), Word("two", 450, 900), Word("three", 1000, 1400),
             Word("four", 1700, 2100), Word("five", 2150, 2600), Word("six.", 2650, 3000),
             Word("Next", 3400, 3800)]
    cut = pieces(words, max_ms=2000, pause_ms=350)
    assert [[w.text for w in p] for p in cut] == [["one", "two", "three"],
                                                 ["four", "five", "six."], ["Next"]]


def test_voice_prints_are_stored_per_tenant_and_user_and_blend(tmp_path: Path) -> None:
    store = VoicePrintStore(tmp_path)
    a = np.zeros(256, dtype=np.float32)
    a[0] = 1.0
    b = np.zeros(256, dtype=np.float32)
    b[1] = 1.0
    store.save("sf:00D/x", 7, a)
    assert np.allclose(store.load("sf:00D/x", 7), a)
    assert store.load("sf:00D/x", 8) is None and store.load("other", 7) is None
    store.save("sf:00D/x", 7, b)  # a second enrolment moves the print halfway
    blended = store.load("sf:00D/x", 7)
    assert blended is not None and abs(blended[0] - blended[1]) < 1e-6


def test_tracker_knows_the_rep_by_voice_print_when_the_customer_speaks_first() -> None:
    encoder = ResemblyzerEmbedder.shared()
    rep_print = enroll(encoder, [_clip(t, "rep") for t in REP_LINES[1:]])
    assert rep_print is not None
    tracker = SpeakerTracker(encoder, rep_print)
    truth = ["customer", "rep", "customer", "customer", "rep"]
    texts = [CUSTOMER_LINES[0], REP_LINES[0], CUSTOMER_LINES[1], CUSTOMER_LINES[2],
             REP_LINES[2]]
    sides = []
    for speaker, text in zip(truth, texts, strict=True):
        audio = _clip(text, speaker)
        runs = tracker.assign(audio, [Word(text, 0, len(audio) * 1000 // 16000)])
        sides.append("+".join(side for side, _ in runs))
    # the first final has nothing to compare with (taken as the rep); from the second on,
    # the print picks the rep's voice, even with the customer speaking twice in a row
    assert sides[1:] == truth[1:]


def test_a_diarizers_label_is_matched_to_the_reps_print_whoever_spoke_first() -> None:
    """A cloud diarizer's A/B labels (A: heard first, here the customer) are mapped by the
    rep's enrolled print, as for an uploaded mono recording."""
    encoder = ResemblyzerEmbedder.shared()
    rep_print = enroll(encoder, [_clip(t, "rep") for t in REP_LINES[1:]])
    assert rep_print is not None
    clips = [("A", _clip(CUSTOMER_LINES[0], "customer")), ("B", _clip(REP_LINES[0], "rep")),
             ("A", _clip(CUSTOMER_LINES[1], "customer")), ("B", _clip(REP_LINES[2], "rep"))]
    audio, words, at = [], {"A": [], "B": []}, 0
    for label, clip in clips:
        ms = len(clip) * 1000 // 16000
        words[label].append(Word("x", at, at + ms))
        audio.append(clip)
        audio.append(np.zeros(8000, np.float32))
        at += ms + 500
    mixed = np.concatenate(audio)
    assert rep_label_by_print(mixed, words, encoder, rep_print) == "B"
    assert rep_label_by_print(mixed, {"A": words["A"]}, encoder, rep_print) is None
    assert rep_label_by_print(mixed, words, MfccEmbedder(), rep_print) is None


def test_tracker_splits_a_final_that_holds_both_voices() -> None:
    tracker = SpeakerTracker(ResemblyzerEmbedder.shared())
    rep, customer = _clip(REP_LINES[2], "rep"), _clip(CUSTOMER_LINES[2], "customer")
    tracker.assign(rep, [Word("x", 0, len(rep) * 1000 // 16000)])  # the rep is heard first
    tracker.assign(customer, [Word("y", 0, len(customer) * 1000 // 16000)])
    # one final, no pause: the rep's question, then at once the customer's answer
    both = np.concatenate([_clip(REP_LINES[3], "rep"), _clip(CUSTOMER_LINES[3], "customer")])
    split = len(_clip(REP_LINES[3], "rep")) * 1000 // 16000
    words = [Word("Let", 0, split // 2), Word("plan.", split // 2, split - 20),
             Word("Send", split + 10, split + 900), Word("Friday.", split + 900,
                                                         len(both) * 1000 // 16000)]
    runs = tracker.assign(both, words)
    assert [(side, [w.text for w in run]) for side, run in runs] == [
        ("rep", ["Let", "plan."]), ("customer", ["Send", "Friday."])]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mono", "phone"])
def test_mono_recording_gets_rep_and_customer_from_their_voices(kind: str,
                                                                tmp_path: Path) -> None:
    from plugin.speech.engine import WhisperEngine
    from plugin.speech.local import LocalWhisperStt

    call, timeline = build_call(OVERLAP_CALL, voices=DISTINCT_VOICES)
    samples, rate = render(call, kind)
    path = write_wav(tmp_path / f"{kind}.wav", samples, rate)
    stt = LocalWhisperStt(WhisperEngine.shared("", 2), pitch_speakers=False)
    turns = stt.transcribe_file(path)
    share = word_attribution(turns, [(t.speaker, t.start_ms, t.end_ms) for t in timeline])
    assert share is not None and share >= (0.95 if kind == "mono" else 0.9), share
    assert turns[0].speaker == "rep" and len(turns) >= 7


def test_mixed_channel_splits_live_finals_by_voice_after_the_first_turns() -> None:
    from plugin.live.scripted import Line
    from plugin.speech.diarize import MixedChannel

    lines = [Line("rep", REP_LINES[0]), Line("customer", CUSTOMER_LINES[0]),
             Line("rep", REP_LINES[1]), Line("customer", CUSTOMER_LINES[1]),
             Line("customer", CUSTOMER_LINES[2], gap_ms=300), Line("rep", REP_LINES[2]),
             Line("rep", REP_LINES[3], gap_ms=300), Line("customer", CUSTOMER_LINES[3])]
    call, timeline = build_call(lines, voices=DISTINCT_VOICES, gap_ms=700)
    mono, _ = render(call, "mono")
    channel = MixedChannel(ResemblyzerEmbedder.shared())
    channel.add(mono.tobytes())
    sides = []
    for line in timeline:  # one final per line, as the live segmenter cuts them
        texts = line.text.split()
        step = (line.end_ms - line.start_ms) / len(texts)
        words = [Word(w, int(line.start_ms + i * step), int(line.start_ms + (i + 0.9) * step))
                 for i, w in enumerate(texts)]
        runs = channel.split(line.text, line.start_ms, line.end_ms, words)
        sides.append("+".join(side for side, _text, _words in runs))
    assert sides == [t.speaker for t in timeline]


@pytest.mark.slow
def test_an_upload_where_the_customer_speaks_first_knows_the_rep_by_the_stored_print(
        tmp_path: Path) -> None:
    from plugin.pipeline.stages import rep_voice_print
    from plugin.settings import load_settings
    from plugin.speech.engine import WhisperEngine
    from plugin.speech.local import LocalWhisperStt

    settings = load_settings({"instance_path": tmp_path})
    encoder = ResemblyzerEmbedder.shared()
    enrolled = enroll(encoder, [_clip(t, "rep") for t in REP_LINES])
    assert enrolled is not None
    VoicePrintStore(tmp_path / "voiceprints").save("sf:00Dx", 7, enrolled)
    rep_print = rep_voice_print(settings, "sf:00Dx", 7)
    assert rep_print is not None and rep_voice_print(settings, "sf:00Dx", 8) is None

    call, timeline = build_call(OVERLAP_CALL[1:], voices=DISTINCT_VOICES)  # customer first
    samples, rate = render(call, "mono")
    path = write_wav(tmp_path / "upload.wav", samples, rate)
    turns = LocalWhisperStt(WhisperEngine.shared("", 2), pitch_speakers=False) \
        .transcribe_file(path, rep_print=rep_print)
    share = word_attribution(turns, [(t.speaker, t.start_ms, t.end_ms) for t in timeline])
    assert turns[0].speaker == "customer"
    assert share is not None and share >= 0.9, share
