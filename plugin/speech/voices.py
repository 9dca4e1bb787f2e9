"""Who spoke when, in a mono recording, from voice pitch (no speaker-embedding model).

Words are cut into fragments at pauses and sentence ends; each fragment gets the median
fundamental frequency (F0, autocorrelation pitch) of its voiced frames. If the fragments
fall into two pitch groups far enough apart (e.g. a lower and a higher voice), each group is
one speaker and the group heard first is the rep. If not (two similar voices), the caller
falls back to alternating speakers at long pauses. Cheap: a few ms per second of audio.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from plugin.coach.types import Speaker, Turn, Word

from .turns import Utterance, utterances_to_turns

SAMPLE_RATE = 16000
FRAME = 640  # 40 ms
HOP = 160  # 10 ms
F0_MIN, F0_MAX = 70.0, 400.0
MIN_RATIO = 1.25  # the two pitch groups' medians must differ at least this much


def pitch_track(audio: np.ndarray) -> np.ndarray:
    """F0 in Hz per 10 ms frame, NaN where unvoiced."""
    if len(audio) < FRAME:
        return np.full(0, np.nan)
    n = 1 + (len(audio) - FRAME) // HOP
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    frames = audio[idx] * np.hanning(FRAME)[None, :]
    frames = frames - frames.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(frames, 2048, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :FRAME]
    energy = acf[:, 0] + 1e-12
    lo, hi = int(SAMPLE_RATE / F0_MAX), int(SAMPLE_RATE / F0_MIN)
    lags = np.argmax(acf[:, lo:hi], axis=1) + lo
    strength = acf[np.arange(n), lags] / energy
    rms = np.sqrt(energy / FRAME)
    voiced = (strength > 0.45) & (rms > 0.005)
    f0 = SAMPLE_RATE / lags.astype(np.float64)
    return np.where(voiced, f0, np.nan)


def fragments(words: Sequence[Word], gap_ms: int = 250) -> list[list[Word]]:
    """Cut at pauses of ``gap_ms`` and after sentence-ending punctuation."""
    out: list[list[Word]] = []
    for w in words:
        if out and w.start_ms - out[-1][-1].end_ms < gap_ms and not out[-1][-1].text.endswith(
                (".", "?", "!")):
            out[-1].append(w)
        else:
            out.append([w])
    return out


def _two_means(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """1-D k-means with k=2 on log pitch; returns labels and the two centres (Hz)."""
    logs = np.log(values)
    lo, hi = np.percentile(logs, 20), np.percentile(logs, 80)
    labels = np.zeros(len(values), dtype=int)
    for _ in range(20):
        labels = (np.abs(logs - hi) < np.abs(logs - lo)).astype(int)
        if labels.all() or not labels.any():
            break
        new_lo, new_hi = logs[labels == 0].mean(), logs[labels == 1].mean()
        if np.isclose(new_lo, lo) and np.isclose(new_hi, hi):
            break
        lo, hi = new_lo, new_hi
    return labels, float(np.exp(lo)), float(np.exp(hi))


def pitch_turns(audio: np.ndarray, words: Sequence[Word], first: Speaker = "rep"
                ) -> list[Turn] | None:
    """Turns by pitch group, or ``None`` when the voices cannot be told apart."""
    if len(words) < 2:
        return None
    track = pitch_track(audio)
    frags = fragments(words)
    medians = []
    for frag in frags:
        a, b = frag[0].start_ms // 10, max(frag[-1].end_ms // 10, frag[0].start_ms // 10 + 1)
        f0 = track[a:b]
        f0 = f0[~np.isnan(f0)]
        medians.append(float(np.median(f0)) if len(f0) >= 5 else np.nan)
    values = np.array(medians)
    known = ~np.isnan(values)
    if known.sum() < 2:
        return None
    labels_known, low, high = _two_means(values[known])
    if high / max(low, 1e-6) < MIN_RATIO or labels_known.all() or not labels_known.any():
        return None
    labels = np.full(len(frags), -1)
    labels[known] = labels_known
    for i in range(len(labels)):  # unknown pitch (very short fragment): previous speaker
        if labels[i] < 0:
            labels[i] = labels[i - 1] if i > 0 else -1
    if labels[0] < 0:
        labels[0] = next(int(x) for x in labels if x >= 0)
        for i in range(1, len(labels)):
            if labels[i] < 0:
                labels[i] = labels[i - 1]
    other: Speaker = "customer" if first == "rep" else "rep"
    first_label = int(labels[0])
    utterances = [Utterance(first if int(lab) == first_label else other, tuple(frag))
                  for frag, lab in zip(frags, labels, strict=True)]
    return utterances_to_turns(utterances)
