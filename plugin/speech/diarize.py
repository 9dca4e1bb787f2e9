"""Who spoke when on one audio channel: voice embeddings of short pieces, two speakers.

Words (with times) are cut into *pieces* of at most ~2 s: at pauses, at sentence ends, and
long stretches at their largest gaps, so a change of speaker without a pause still falls
between two pieces (speaker-change detection at word resolution). Each piece gets a voice
embedding (``plugin.speech.voiceprint``).

- Recordings (``diarize_words``): the pieces are clustered into two speakers (cosine
  k-means, seeded with the two most different long pieces); pieces too short to embed take
  their neighbour's side. The rep is the cluster nearest the rep's enrolled voice print, or
  without one the speaker heard first.
- Live (``SpeakerTracker``): with each final the call's pieces so far are clustered again
  and the final's pieces take their cluster's side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from plugin.coach.types import Speaker, Turn, Word

from .turns import Utterance, utterances_to_turns
from .voiceprint import SAMPLE_RATE, Embedder

PIECE_MAX_MS = 2000
PAUSE_MS = 250
SAME_SPEAKER_SIM = 0.93  # two clusters this alike are one voice


def pieces(words: Sequence[Word], max_ms: int = PIECE_MAX_MS,
           pause_ms: int = PAUSE_MS) -> list[list[Word]]:
    """Cut at pauses and sentence ends; split longer runs at their largest gaps."""
    runs: list[list[Word]] = []
    for w in words:
        if runs and w.start_ms - runs[-1][-1].end_ms < pause_ms and not runs[-1][-1].text.endswith(
                (".", "?", "!")):
            runs[-1].append(w)
        else:
            runs.append([w])
    out: list[list[Word]] = []
    stack = list(reversed(runs))
    while stack:
        run = stack.pop()
        if len(run) < 2 or run[-1].end_ms - run[0].start_ms <= max_ms:
            out.append(run)
            continue
        gaps = [(run[i + 1].start_ms - run[i].end_ms, i) for i in range(len(run) - 1)]
        mid = (run[0].start_ms + run[-1].end_ms) / 2
        # the largest gap; among equal gaps the one nearest the middle
        _, cut = max(gaps, key=lambda g: (g[0], -abs(run[g[1]].end_ms - mid)))
        stack.append(run[cut + 1:])
        stack.append(run[:cut + 1])
    return out


def piece_audio(audio: np.ndarray, piece: Sequence[Word], offset_ms: int = 0) -> np.ndarray:
    a = max(0, (piece[0].start_ms - offset_ms) * SAMPLE_RATE // 1000)
    b = max(a, (piece[-1].end_ms - offset_ms) * SAMPLE_RATE // 1000)
    return audio[a:b]


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _prepare(embeds: list[np.ndarray | None], embedder: Embedder) -> list[np.ndarray | None]:
    """Remove what every piece of the call shares (line, room, codec: the mean), so the two
    voices' differences decide; the classical features are also standardised."""
    known = [e for e in embeds if e is not None]
    if len(known) < 2:
        return embeds
    x = np.stack(known).astype(np.float64)
    mean = x.mean(0)
    scale = x.std(0) + 1e-6 if embedder.name == "mfcc" else 1.0
    return [None if e is None else _unit((e - mean) / scale) for e in embeds]


@dataclass(frozen=True, slots=True)
class Clusters:
    labels: list[int]  # per piece: 0 or 1 (-1: no embedding)
    centroids: np.ndarray  # (2, dim)


def two_clusters(embeds: list[np.ndarray | None], weights: Sequence[float]) -> Clusters | None:
    """Cosine k-means with k = 2; None when fewer than two pieces have embeddings or the two
    clusters are one voice."""
    idx = [i for i, e in enumerate(embeds) if e is not None]
    if len(idx) < 2:
        return None
    x = np.stack([embeds[i] for i in idx]).astype(np.float64)  # type: ignore[misc]
    w = np.array([weights[i] for i in idx], dtype=np.float64)
    long = [j for j in range(len(idx)) if w[j] >= np.median(w)]
    if len(long) < 2:
        long = list(range(len(idx)))
    sims = x[long] @ x[long].T
    a, b = np.unravel_index(np.argmin(sims), sims.shape)
    centroids = np.stack([x[long[a]], x[long[b]]])
    assign = np.zeros(len(idx), dtype=int)
    for _ in range(20):
        new = np.argmax(x @ centroids.T, axis=1)
        if new.min() == new.max():
            break
        centroids = np.stack([_unit((x[new == k] * w[new == k, None]).sum(0)) for k in (0, 1)])
        if (new == assign).all():
            break
        assign = new
    assign = np.argmax(x @ centroids.T, axis=1)
    if assign.min() == assign.max() or float(centroids[0] @ centroids[1]) > SAME_SPEAKER_SIM:
        return None
    labels = [-1] * len(embeds)
    for j, i in enumerate(idx):
        labels[i] = int(assign[j])
    return Clusters(labels, centroids)


def _fill(labels: list[int]) -> list[int]:
    """Pieces without a label take the previous piece's (or the next one's at the start)."""
    out = list(labels)
    for i in range(len(out)):
        if out[i] < 0 and i > 0:
            out[i] = out[i - 1]
    first = next((x for x in out if x >= 0), 0)
    return [first if x < 0 else x for x in out]


def diarize_words(audio: np.ndarray, words: Sequence[Word], embedder: Embedder,
                  rep_print: np.ndarray | None = None) -> list[Turn] | None:
    """Rep/customer turns of a mono recording, or None when two voices cannot be found."""
    if len(words) < 2:
        return None
    parts = pieces(words)
    raw = embedder.embed_many([piece_audio(audio, p) for p in parts])
    weights = [max(1, p[-1].end_ms - p[0].start_ms) for p in parts]
    clusters = two_clusters(_prepare(raw, embedder), weights)
    if clusters is None:
        return None
    labels = _fill(clusters.labels)
    if rep_print is not None and embedder.name != "mfcc":
        mean = np.mean([e for e in raw if e is not None], axis=0)
        rep_label = int(np.argmax(clusters.centroids @ _unit(rep_print - mean)))
    else:
        rep_label = labels[0]
    utterances = [Utterance("rep" if lab == rep_label else "customer", tuple(p))
                  for p, lab in zip(parts, labels, strict=True)]
    return utterances_to_turns(utterances)


def rep_label_by_print(audio: np.ndarray, words_by_label: Mapping[str, Sequence[Word]],
                       embedder: Embedder, rep_print: np.ndarray,
                       max_pieces: int = 12) -> str | None:
    """Which of a diarizer's speaker labels is the rep: the one whose voice (its pieces'
    mean embedding, less what all pieces share) is nearest the rep's print. None when
    fewer than two labels can be heard or the embedder cannot tell voices by a print."""
    if embedder.name == "mfcc" or len(words_by_label) < 2:
        return None
    labels, embeds = [], []
    for label, words in words_by_label.items():
        parts = pieces(words)[:max_pieces]
        vecs = [e for e in embedder.embed_many([piece_audio(audio, q) for q in parts])
                if e is not None]
        if vecs:
            labels.append(label)
            embeds.append(vecs)
    if len(labels) < 2:
        return None
    mean = np.mean([e for vecs in embeds for e in vecs], axis=0)
    target = _unit(np.asarray(rep_print, np.float64) - mean)
    sims = [float(_unit(np.mean(vecs, axis=0) - mean) @ target) for vecs in embeds]
    return labels[int(np.argmax(sims))]


class SpeakerTracker:
    """Live speaker assignment on one mixed channel (see the module docstring).

    Every piece heard so far is kept (its embedding); with each final the whole history is
    clustered again into two voices, after removing the call's mean embedding (what every
    piece shares: the line, the room, the codec), and the final's pieces take their
    cluster's side. The rep's cluster is the one nearest the rep's voice print, or without
    one the cluster of the first piece heard. Until there is enough to cluster (pieces from
    ``MIN_FINALS`` finals and four pieces; two pieces with a voice print), finals alternate,
    starting with the rep.

    Not thread-safe: one per call, used under the call's lock.
    """

    MIN_FINALS = 2
    MAX_PIECES = 400

    def __init__(self, embedder: Embedder, rep_print: np.ndarray | None = None) -> None:
        self.embedder = embedder
        self.rep_print = None if rep_print is None else _unit(np.asarray(rep_print, np.float64))
        self._embeds: list[np.ndarray] = []
        self._weights: list[float] = []
        self._finals = 0
        self._first: np.ndarray | None = None  # the first piece heard (the rep without print)
        self._model: tuple[np.ndarray, np.ndarray, int] | None = None  # mean, centroids, rep
        self.last: Speaker | None = None

    def _fit(self) -> None:
        """Cluster the history; keep (mean, centred centroids, rep cluster) or None."""
        # with a print, two finals are enough: the print says which voice is the rep
        known = self.rep_print is not None
        if (self._finals < (2 if known else self.MIN_FINALS)
                or len(self._embeds) < (2 if known else 4)):
            return
        x = np.stack(self._embeds)
        mean = x.mean(axis=0)
        centred: list[np.ndarray | None] = [_unit(e - mean) for e in x]
        clusters = two_clusters(centred, self._weights)
        if clusters is None:
            return
        if self.rep_print is not None:  # compared as the pieces are: without the call's mean
            rep = int(np.argmax(clusters.centroids @ _unit(self.rep_print - mean)))
        else:
            assert self._first is not None
            rep = int(np.argmax(clusters.centroids @ _unit(self._first - mean)))
        self._model = (mean, clusters.centroids, rep)

    def _side(self, embed: np.ndarray) -> Speaker | None:
        if self._model is None:
            return None
        mean, centroids, rep = self._model
        label = int(np.argmax(centroids @ _unit(embed - mean)))
        return "rep" if label == rep else "customer"

    def assign(self, audio: np.ndarray, words: Sequence[Word], offset_ms: int = 0
               ) -> list[tuple[Speaker, list[Word]]]:
        """Split one final (its words, times in ms; ``audio`` starts at ``offset_ms``) into
        runs of one speaker."""
        if not words:
            return []
        parts = pieces(words)
        embeds = self.embedder.embed_many([piece_audio(audio, p, offset_ms) for p in parts])
        for part, embed in zip(parts, embeds, strict=True):
            if embed is not None:
                if self._first is None:
                    self._first = embed.astype(np.float64)
                self._embeds.append(embed.astype(np.float64))
                self._weights.append(max(0.1, (part[-1].end_ms - part[0].start_ms) / 1000))
        del self._embeds[:-self.MAX_PIECES], self._weights[:-self.MAX_PIECES]
        self._finals += 1
        self._fit()
        sides = [None if e is None else self._side(e.astype(np.float64)) for e in embeds]
        if all(s is None for s in sides):  # too early or too short to tell: take turns
            guess: Speaker = "customer" if self.last == "rep" else "rep"
            sides = [guess] * len(parts)
        filled: list[Speaker] = []
        for i, s in enumerate(sides):
            side = s if s is not None else (
                filled[-1] if filled else next(x for x in sides[i:] if x is not None))
            filled.append(side)
        runs: list[tuple[Speaker, list[Word]]] = []
        for part, side in zip(parts, filled, strict=True):
            if runs and runs[-1][0] == side:
                runs[-1][1].extend(part)
            else:
                runs.append((side, list(part)))
        runs = _absorb_short_runs(runs)
        self.last = runs[-1][0]
        return runs

    def speaking(self, audio: np.ndarray) -> Speaker | None:
        """Who is on the last second or so of audio (for the monologue clock)."""
        if self._model is None:
            return self.last
        embed = self.embedder.embed(audio)
        return self.last if embed is None else self._side(embed.astype(np.float64))


MIN_RUN_MS = 800  # inside one final, a shorter run of the other voice is taken as noise


def _absorb_short_runs(runs: list[tuple[Speaker, list[Word]]]
                       ) -> list[tuple[Speaker, list[Word]]]:
    """Join a run shorter than ``MIN_RUN_MS`` to its longer neighbour (one embedding of a
    second of speech is too noisy to change speakers on)."""
    def length(run: tuple[Speaker, list[Word]]) -> int:
        return run[1][-1].end_ms - run[1][0].start_ms

    runs = list(runs)
    while len(runs) > 1:
        short = min(range(len(runs)), key=lambda i: length(runs[i]))
        if length(runs[short]) >= MIN_RUN_MS:
            break
        neighbours = [i for i in (short - 1, short + 1) if 0 <= i < len(runs)]
        into = max(neighbours, key=lambda i: length(runs[i]))
        side = runs[into][0]
        lo, hi = sorted((short, into))
        runs[lo:hi + 1] = [(side, runs[lo][1] + runs[hi][1])]
        merged: list[tuple[Speaker, list[Word]]] = []
        for run in runs:  # neighbours of one side are one run again
            if merged and merged[-1][0] == run[0]:
                merged[-1] = (run[0], merged[-1][1] + run[1])
            else:
                merged.append(run)
        runs = merged
    return runs


class RecentAudio:
    """The last ``keep_ms`` of a channel's PCM16, addressed by channel sample."""

    def __init__(self, keep_ms: int = 40_000) -> None:
        self._buf = np.zeros(keep_ms * SAMPLE_RATE // 1000, dtype=np.int16)
        self.end = 0  # samples written so far

    def add(self, pcm16: bytes) -> None:
        x = np.frombuffer(pcm16, dtype="<i2")[-len(self._buf):]
        idx = (self.end + np.arange(len(x))) % len(self._buf)
        self._buf[idx] = x
        self.end += len(pcm16) // 2

    def slice(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) as float32 (what is still kept of them)."""
        start = max(start, self.end - len(self._buf), 0)
        stop = min(stop, self.end)
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        idx = np.arange(start, stop) % len(self._buf)
        return self._buf[idx].astype(np.float32) / 32768.0


class MixedChannel:
    """One live channel carrying both voices: keeps its recent audio and splits each final
    into runs of one speaker (``SpeakerTracker``). Used by ``plugin.live.pipeline`` and the
    benchmark alike."""

    def __init__(self, embedder: Embedder, rep_print: np.ndarray | None = None,
                 keep_ms: int = 40_000) -> None:
        self.tracker = SpeakerTracker(embedder, rep_print)
        self.recent = RecentAudio(keep_ms)

    def add(self, pcm16: bytes) -> None:
        """Audio of the channel, in order (16 kHz PCM16)."""
        self.recent.add(pcm16)

    def split(self, text: str, start_ms: int, end_ms: int, words: Sequence[Word]
              ) -> list[tuple[Speaker, str, list[Word]]]:
        """A final (times in channel ms) → (speaker, text, words) per run of one voice;
        a final without words is one piece."""
        pieces_in = list(words) or [Word(text.strip(), start_ms, end_ms, 1.0)]
        start = min(start_ms, pieces_in[0].start_ms)
        end = max(end_ms, pieces_in[-1].end_ms)
        audio = self.recent.slice(start * SAMPLE_RATE // 1000, end * SAMPLE_RATE // 1000)
        runs = self.tracker.assign(audio, pieces_in, offset_ms=start)
        return [(side, text.strip() if len(runs) == 1 else " ".join(w.text for w in run),
                 run if words else []) for side, run in runs]

    def speaking(self, window_ms: int = 1600) -> Speaker | None:
        """Who is on the last ``window_ms`` of audio."""
        end = self.recent.end
        return self.tracker.speaking(self.recent.slice(end - window_ms * SAMPLE_RATE // 1000,
                                                       end))


def word_attribution(turns: Sequence[Turn], reference: Sequence[tuple[str, int, int]]
                     ) -> float | None:
    """Share of transcribed words on the right side: a word counts for the reference line(s)
    its middle falls in (either side during overlap); words outside every line are left out."""
    right = total = 0
    for turn in turns:
        for w in turn.words or ():
            mid = (w.start_ms + w.end_ms) / 2
            sides = {s for s, a, b in reference if a - 150 <= mid <= b + 150}
            if not sides:
                continue
            total += 1
            right += turn.speaker in sides
    return right / total if total else None
