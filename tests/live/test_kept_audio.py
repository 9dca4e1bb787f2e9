"""What a network STT channel keeps for a replacement session (``KeptAudio``)."""

from __future__ import annotations

from plugin.live.pipeline import KeptAudio

MS = 16  # samples per millisecond at 16 kHz


def feed(kept: KeptAudio, ms: int, start_ms: int = 0, frame_ms: int = 100) -> int:
    """Add ``ms`` of audio in frames from ``start_ms``; return the end (ms)."""
    for t in range(start_ms, start_ms + ms, frame_ms):
        kept.add(t * MS, b"\x01\x00" * (frame_ms * MS))
    return start_ms + ms


def kept_ms(kept: KeptAudio) -> tuple[int | None, int]:
    """(first kept ms, how many ms are kept)."""
    first = kept.start()
    return (None if first is None else first // MS), sum(len(p) for p in kept.pcm()) // 2 // MS


def test_with_no_turn_open_only_the_last_idle_window_is_kept() -> None:
    kept = KeptAudio(idle_ms=2000)
    feed(kept, 10_000)
    assert kept_ms(kept) == (8000, 2000)


def test_an_open_turn_is_kept_from_just_before_its_first_word() -> None:
    kept = KeptAudio(lead_ms=500, idle_ms=2000)
    feed(kept, 3000)
    kept.open_turn(2500 * MS)  # a partial: the turn began at 2.5 s
    feed(kept, 7000, start_ms=3000)  # the turn goes on for 7 s
    assert kept_ms(kept) == (2000, 8000)


def test_a_final_frees_what_it_covers_even_inside_a_chunk() -> None:
    kept = KeptAudio(lead_ms=500)
    feed(kept, 1000)
    kept.open_turn(200 * MS)
    end = feed(kept, 2000, start_ms=1000)
    kept.cover(2450 * MS)  # the final ends inside the 2.4–2.5 s chunk
    assert kept_ms(kept) == (2450, end - 2450)


def test_after_a_final_the_idle_window_applies_again() -> None:
    kept = KeptAudio(lead_ms=500, idle_ms=2000)
    kept.open_turn(0)
    end = feed(kept, 5000)
    kept.cover(end * MS)
    assert kept.start() is None and kept.pcm() == []
    feed(kept, 6000, start_ms=end)
    assert kept_ms(kept) == (end + 4000, 2000)


def test_a_later_turn_heard_before_the_earlier_final_stays_kept() -> None:
    kept = KeptAudio(lead_ms=500, idle_ms=1000)
    kept.open_turn(0)
    feed(kept, 3000)
    kept.open_turn(2600 * MS)  # the next turn's partial came before the first's final
    kept.cover(2000 * MS)  # the first turn's final
    feed(kept, 3000, start_ms=3000)
    assert kept_ms(kept) == (2100, 3900)


def test_a_monologue_with_no_final_is_capped() -> None:
    kept = KeptAudio(max_ms=5000)
    kept.open_turn(0)
    feed(kept, 20_000)
    assert kept_ms(kept) == (15_000, 5000)
