"""What a network STT channel keeps for a replacement session (``KeptAudio``)."""

from __future__ import annotations

from plugin.live.pipeline import KeptAudio

MS = 16  # samples per millisecond at 16 kHz


def chunk(ms: int, fill: int = 0) -> bytes:
    return int(fill).to_bytes(2, "little", signed=True) * (ms * MS)


def feed(kept: KeptAudio, plan: list[tuple[int, bool]]) -> int:
    """Add chunks of ``(ms, voiced)`` back to back; return the next start sample."""
    pos = 0
    for ms, voiced in plan:
        kept.add(pos, chunk(ms, 1000 if voiced else 0), voiced)
        pos += ms * MS
    return pos


def test_only_a_second_of_silence_before_voice_is_kept() -> None:
    kept = KeptAudio(silence_ms=1000)
    feed(kept, [(100, False)] * 30 + [(100, True)] * 5)
    assert kept.start() == 2000 * MS  # 3 s of silence, the last 1 s of it kept
    assert sum(len(p) for p in kept.pcm()) == 1500 * MS * 2


def test_silence_alone_keeps_at_most_the_silence_window() -> None:
    kept = KeptAudio(silence_ms=1000)
    end = feed(kept, [(100, False)] * 50)
    assert kept.start() == end - 1000 * MS


def test_a_final_frees_what_it_covers_and_splits_the_chunk_it_ends_in() -> None:
    kept = KeptAudio()
    feed(kept, [(100, True)] * 10)  # 0–1000 ms of speech
    kept.cover(450 * MS)
    assert kept.start() == 450 * MS
    pcm = kept.pcm()
    assert len(pcm[0]) == 50 * MS * 2  # the rest of the 400–500 ms chunk
    assert sum(len(p) for p in pcm) == 550 * MS * 2


def test_a_final_that_covers_everything_leaves_nothing() -> None:
    kept = KeptAudio()
    end = feed(kept, [(100, True)] * 4)
    kept.cover(end)
    assert kept.start() is None and kept.pcm() == []


def test_after_a_final_trailing_silence_is_trimmed_again() -> None:
    kept = KeptAudio(silence_ms=1000)
    end = feed(kept, [(100, True)] * 10)
    kept.cover(end)  # the turn is final; what follows is silence
    for i in range(30):
        kept.add(end + i * 100 * MS, chunk(100), False)
    assert kept.start() == end + 2000 * MS


def test_a_monologue_with_no_final_is_capped() -> None:
    kept = KeptAudio(max_ms=2000)
    end = feed(kept, [(100, True)] * 50)
    assert kept.start() == end - 2000 * MS
