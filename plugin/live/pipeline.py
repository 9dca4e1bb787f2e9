"""The per-call live pipeline: audio frames → per-channel STT → turns → coach → events.

One ``LiveCall`` per call. Audio of each channel (channel = speaker) is decoded on a
process-wide bounded thread pool, one drain job per channel at a time, so decoding never
blocks any socket loop and a busy call cannot starve the others. The pool is larger than the
core count because a drain may wait for the speech engine (a local final queued behind
others, a network round trip), and meanwhile other channels' audio must keep moving. Final
transcript events become numbered turns, go to ``CoachSession.on_turn`` at once, are stored
with their nudges in one transaction, then pushed to every attached listener. ``on_tick`` runs
every 500 ms of call time with who is speaking (voice activity + partials) for the
monologue clock. Every few turns the deep tier (running summary, checklist review) is
enqueued on the ``live`` Celery queue; its results come back through ``plugin.live.bus``.

A network STT session (AssemblyAI) can end mid-call: it expires, or the connection drops.
So the audio of such a channel that the service has not finalised is kept (``KeptAudio``:
the open turn's audio, or the last two seconds when no turn is open), and a replacement
session is given it first, at ``REPLAY_SPEED`` times real time (the service wants
audio at about the pace it was spoken) until it has caught up with the live audio. A turn
cut by the end of a session is heard whole by the next one, and no audio is lost.

One mixed channel (one microphone, a mono recording) carries both voices: each final is cut
into pieces at pauses and word gaps and each piece is given to the rep or the customer by its
voice embedding (``plugin.speech.diarize.SpeakerTracker``), against the rep's voice print
when one is enrolled, else against the first voice heard. A call with a rep channel enrols
the rep's voice print from its first ``ENROLL_MS`` of voiced audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plugin.coach.types import Turn, Word
from plugin.eventloop import IoLoop
from plugin.live import store
from plugin.live.audio import SAMPLE_RATE, louder_than
from plugin.live.sources import AudioFrame
from plugin.metrics import AUDIO_TO_NUDGE
from plugin.providers.errors import ProviderUnavailable
from plugin.providers.stt import SpeechToText, SttStream, TranscriptEvent

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]

DEEP_TASK = "salescoach.live.deep_review"  # workers/live_tasks.py
DEEP_EVERY_TURNS = 4  # enqueue the deep review every N turns
TICK_EVERY_MS = 500  # on_tick cadence in call time
REOPEN_EVERY_S = 5.0  # a failed network STT session is replaced at most this often
VOICE_DBFS = -45.0  # a chunk louder than this counts as voice activity
SPEAKING_HOLD_MS = 800  # voice or a partial within this window = still speaking
RETAIN_MAX_MS = 30_000  # unfinalised audio of a network STT channel kept for a new session
RETAIN_LEAD_MS = 500  # ... from this long before the open turn's first word
RETAIN_IDLE_MS = 2_000  # ... or, with no turn open, this much (speech not yet answered for)
REPLAY_SPEED = 2.0  # a replacement session gets the kept audio at this multiple of real time
REPLAY_STEP_MS = 500  # ... in messages of this much audio
MIXED_KEEP_MS = 40_000  # audio of a mixed channel kept to tell its speakers apart
ENROLL_MS = 20_000  # voiced rep audio gathered for the rep's voice print ...
ENROLL_MIN_MS = 6_000  # ... and the least that makes one
SPEAKING_EVERY_MS = 1000  # who speaks on a mixed channel is checked this often
ARRIVALS_KEPT = 3000  # arrival times of the last chunks per channel (minutes of audio)

_pool_lock = threading.Lock()
_pools: dict[str, ThreadPoolExecutor] = {}


def shared_pool(name: str, workers: int) -> ThreadPoolExecutor:
    """The process's thread pool called ``name`` (created on first use)."""
    with _pool_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(max_workers=workers,
                                                     thread_name_prefix=name)
        return pool


def stt_pool() -> ThreadPoolExecutor:
    """The bounded pool every call's STT work runs on (see the module docstring)."""
    return shared_pool("live-stt", max(16, 8 * (os.cpu_count() or 2)))


def side_pool() -> ThreadPoolExecutor:
    """Small pool for work that may wait on a broker (enqueueing deep tasks, submit_call)."""
    return shared_pool("live-side", 2)


def enqueue_deep(call_id: str, tenant_id: str, upto_seq: int) -> bool:
    """Send the deep review task to the ``live`` queue; False when no Celery app exists."""
    try:
        from workers.celery_app import get_celery
    except ImportError:
        log.info("workers.celery_app not available; deep review skipped for %s", call_id)
        return False
    get_celery().send_task(DEEP_TASK, kwargs={"call_id": call_id, "tenant_id": tenant_id,
                                              "upto_seq": upto_seq}, queue="live")
    return True


def submit_post_call(call_id: str) -> bool:
    """Hand the ended call to the post-call pipeline (analysis, report, CRM write-back)."""
    try:
        from plugin.pipeline import submit_call
    except ImportError:
        log.warning("plugin.pipeline not available; call %s not submitted", call_id)
        return False
    submit_call(call_id)
    return True


class KeptAudio:
    """A network channel's audio the service has not finalised, for a replacement session:
    the open turn's audio from ``lead_ms`` before its first word (the service's partials say
    where it began), or with no turn open the last ``idle_ms`` (speech it has not answered
    for yet); never more than ``max_ms``. Times are in samples."""

    def __init__(self, lead_ms: int = RETAIN_LEAD_MS, idle_ms: int = RETAIN_IDLE_MS,
                 max_ms: int = RETAIN_MAX_MS, rate: int = SAMPLE_RATE) -> None:
        self._lead, self._idle, self._max = (ms * rate // 1000 for ms in (lead_ms, idle_ms,
                                                                          max_ms))
        self._chunks: deque[tuple[int, bytes]] = deque()  # (start sample, PCM16)
        self._turns: list[int] = []  # where the turns the service has open began (partials)

    def add(self, start: int, pcm16: bytes) -> None:
        """Keep the chunk of PCM16 that begins at sample ``start`` (right after the last)."""
        self._chunks.append((start, pcm16))
        end = start + len(pcm16) // 2
        keep = min(self._turns) - self._lead if self._turns else end - self._idle
        self._drop_chunks_ending_by(max(keep, end - self._max))

    def open_turn(self, start: int) -> None:
        """A partial: the service hears a turn that began at sample ``start``."""
        if start not in self._turns:
            self._turns.append(start)

    def cover(self, upto: int) -> None:
        """A final ends at sample ``upto``: the audio before it need not be kept."""
        # That turn is done; a later turn's partial may have come before this final.
        self._turns = [t for t in self._turns if t >= upto]
        self._drop_chunks_ending_by(upto)
        chunks = self._chunks
        if chunks and chunks[0][0] < upto:  # the chunk the final ends in: keep the rest
            start, pcm = chunks.popleft()
            chunks.appendleft((upto, pcm[(upto - start) * 2:]))

    def start(self) -> int | None:
        """The first kept sample, or None when nothing is kept."""
        return self._chunks[0][0] if self._chunks else None

    def _drop_chunks_ending_by(self, sample: int) -> None:
        chunks = self._chunks
        while chunks and chunks[0][0] + len(chunks[0][1]) // 2 <= sample:
            chunks.popleft()

    def pcm(self) -> list[bytes]:
        """The kept audio, oldest first."""
        return [pcm for _start, pcm in self._chunks]


@dataclass
class _Channel:
    index: int
    role: str  # rep | customer | mixed
    stream: SttStream
    pending: deque[bytes] = field(default_factory=deque)
    running: bool = False
    wake: bool = False  # the stream has events waiting (see SttStream.on_ready)
    failure: str = ""  # the last STT error reported to listeners
    reopened_at: float = -1e9  # monotonic time of the last STT reopen
    base_ms: int = 0  # channel time at which the current STT session started
    samples: int = 0
    last_voice_ms: int = -10_000
    last_partial_ms: int = -10_000
    # Network streams only: audio the service has not finalised, and the audio a replacement
    # session has still to be given (see the module docstring).
    kept: KeptAudio = field(default_factory=KeptAudio)
    replay: deque[bytes] = field(default_factory=deque)
    replaying: bool = False
    mixed: Any = None  # a mixed channel's speakers (plugin.speech.diarize.MixedChannel)
    enroll: list[bytes] | None = None  # rep channels: voiced audio for the voice print
    enroll_ms: int = 0
    # (channel ms reached, monotonic time) of each chunk as it arrived, for the
    # audio-to-nudge latency (plugin.metrics); the last ARRIVALS_KEPT chunks only.
    arrived_samples: int = 0
    arrivals: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=ARRIVALS_KEPT))
    lock: threading.Lock = field(default_factory=threading.Lock)
    idle: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.idle = threading.Condition(self.lock)


@dataclass
class CallStats:
    """Counters for the benchmark and the ended event."""

    audio_ms: int = 0
    turns: int = 0
    nudges: int = 0
    stt_errors: int = 0
    timings: list[tuple[str, float]] = field(default_factory=list)


class LiveCall:
    """One live call: its STT streams, coach session, sequence numbers and listeners."""

    def __init__(self, *, call_id: str, tenant_id: str, channels: tuple[str, ...],
                 stt: SpeechToText, coach: Any, next_seq: int = 1, offset_ms: int = 0,
                 last_speaker: str = "customer", deep: bool = True,
                 deep_every: int = DEEP_EVERY_TURNS, post_call: bool = True,
                 source: str = "panel",
                 app_context: Callable[[], AbstractContextManager[Any]] = nullcontext) -> None:
        self.call_id, self.tenant_id, self.channels = call_id, tenant_id, channels
        self.source = source
        self._app_context = app_context  # enqueueing needs the web app's Celery app
        self.coach = coach
        self.next_seq = next_seq
        self.offset_ms = offset_ms
        self._last_speaker = last_speaker
        self._deep, self._deep_every, self._post_call = deep, deep_every, post_call
        self._stt = stt
        self._channels = [_Channel(i, role, stt.open_stream(SAMPLE_RATE))
                          for i, role in enumerate(channels)]
        self._lock = threading.RLock()  # coach, seq, store order, emission order
        self._listeners: list[Listener] = []
        self._last_tick_ms = 0
        self._nudge_texts: set[str] = set()  # the deep tier does not repeat instant advice
        self.ending = False
        self.ended: dict[str, Any] | None = None
        self._end_lock = threading.Lock()
        self.stats = CallStats()
        self.on_end: list[Callable[[LiveCall], None]] = []
        self.started_monotonic = time.monotonic()
        for ch in self._channels:  # a network STT's final is handled when it arrives
            ch.stream.on_ready = lambda ch=ch: self._kick(ch)
        self._speaking_at = -SPEAKING_EVERY_MS
        self._told_speaking: str | None = None  # last "speaking" event sent (mixed channel)
        self._speaking: str | None = None
        self._setup_voices()

    def _setup_voices(self) -> None:
        """A mixed channel gets a speaker tracker (with the rep's voice print if enrolled); a
        rep channel gathers audio to enrol one. Neither may stop a call."""
        from plugin.live import engines

        try:
            roles = {ch.role for ch in self._channels}
            if "mixed" in roles:
                from plugin.speech.diarize import MixedChannel

                embedder = engines.speaker_embedder()
                if embedder is not None:
                    prints = engines.voiceprints()
                    tenant, user = engines.call_user(self.call_id)
                    rep_print = prints.load(tenant, user) if prints is not None else None
                    for ch in self._channels:
                        ch.mixed = MixedChannel(embedder, rep_print, MIXED_KEEP_MS)
            elif "rep" in roles and engines.voiceprints() is not None:
                for ch in self._channels:
                    if ch.role == "rep":
                        ch.enroll = []
        except Exception:  # noqa: BLE001
            log.warning("speaker identification off for call %s", self.call_id, exc_info=True)

    def _observe(self, ch: _Channel, data: bytes) -> None:
        """Keep what speaker identification needs of a chunk (caller holds ``ch.lock`` or is
        the channel's only drain)."""
        if ch.mixed is not None:
            ch.mixed.add(data)
        if ch.enroll is not None and ch.enroll_ms < ENROLL_MS and louder_than(data, VOICE_DBFS):
            ch.enroll.append(data)
            ch.enroll_ms += len(data) * 1000 // (2 * SAMPLE_RATE)

    # Listeners ---------------------------------------------------------------------------
    def attach(self, listener: Listener, replay: Callable[[], None] | None = None) -> None:
        """Add a listener; ``replay`` (resending stored events) runs under the call lock so
        nothing stored in between is missed or sent twice."""
        with self._lock:
            if replay is not None:
                replay()
            self._listeners.append(listener)

    def detach(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    @property
    def listener_count(self) -> int:
        with self._lock:
            return len(self._listeners)

    def emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a dead listener is dropped, the call goes on
                log.warning("dropping a listener of call %s", self.call_id, exc_info=True)
                self.detach(listener)

    # Audio in ----------------------------------------------------------------------------
    def push(self, frame: AudioFrame) -> None:
        """Queue audio of one channel and return at once: decoding runs on the pool; a stream
        that only hands audio to a network service (``inline_push``) is fed right here."""
        if self.ending:
            return
        ch = self._channels[frame.channel]
        ch.arrived_samples += len(frame.pcm16) // 2
        ch.arrivals.append((self.offset_ms + ch.arrived_samples * 1000 // SAMPLE_RATE,
                            time.monotonic()))
        if ch.stream.inline_push:
            self._feed(ch, frame.pcm16)
            return
        with ch.lock:
            ch.pending.append(frame.pcm16)
            if ch.running:
                return
            ch.running = True
        stt_pool().submit(self._drain, ch)

    def _feed(self, ch: _Channel, data: bytes) -> None:
        """Send audio to a network stream from the caller's thread (the socket's event loop),
        which only counts and keeps it. Results, ticks, errors and reopening run on the pool
        (``_kick``), since they store turns and may wait."""
        voiced = bool(data) and louder_than(data[-SAMPLE_RATE // 5:], VOICE_DBFS)  # last 100 ms
        due = False
        with ch.lock:  # keep, count and send in one step, so a reopen sees all or none of it
            start = ch.samples
            ch.samples += len(data) // 2
            ch.kept.add(start, data)
            self._observe(ch, data)
            if ch.replaying:
                ch.replay.append(data)  # the new session is still catching up
            else:
                try:
                    ch.stream.send(data)
                except Exception:  # noqa: BLE001 - the pool's drain reports it and reopens
                    due = True
            now_ms = self.offset_ms + ch.samples * 1000 // SAMPLE_RATE
        if voiced:
            ch.last_voice_ms = now_ms
        if due or now_ms - self._last_tick_ms >= TICK_EVERY_MS:
            self._kick(ch)

    async def _catch_up(self, ch: _Channel, stream: SttStream) -> None:
        """Give a replacement session the kept audio, then the live audio queued meanwhile,
        at ``REPLAY_SPEED`` times real time; then ``_feed`` sends straight to it again."""
        step = SAMPLE_RATE * 2 * REPLAY_STEP_MS // 1000
        while True:
            with ch.lock:
                if ch.stream is not stream:  # replaced again; that session catches up itself
                    return
                chunk = bytearray()
                while ch.replay and len(chunk) < step:  # whole frames (each ≤ 1 s)
                    chunk += ch.replay.popleft()
                if not chunk:
                    ch.replaying = False
                    return
                try:
                    stream.send(bytes(chunk))
                except Exception:  # noqa: BLE001 - this session failed too: reopen again
                    ch.replay.clear()
                    ch.replaying = False
                    failed = True
                else:
                    failed = False
            if failed:
                self._kick(ch)
                return
            await asyncio.sleep(len(chunk) / (SAMPLE_RATE * 2) / REPLAY_SPEED)

    def _kick(self, ch: _Channel) -> None:
        """Collect a stream's waiting events now (a drain with no new audio)."""
        if self.ending:
            return
        with ch.lock:
            ch.wake = True
            if ch.running:
                return
            ch.running = True
        stt_pool().submit(self._drain, ch)

    def _drain(self, ch: _Channel) -> None:
        """Decode what this channel has queued, then yield the pool thread: if more audio
        came meanwhile, the channel goes to the back of the pool's queue (round robin), so one
        busy channel can never starve the others."""
        with ch.lock:
            if not ch.pending and not ch.wake:
                ch.running = False
                ch.idle.notify_all()
                return
            data = b"".join(ch.pending)
            ch.pending.clear()
            ch.wake = False
        try:
            self._decode(ch, data)
        except BaseException:
            with ch.lock:  # the next push starts a new drain
                ch.running = False
                ch.idle.notify_all()
            raise
        with ch.lock:
            if ch.pending or ch.wake:
                stt_pool().submit(self._drain, ch)
            else:
                ch.running = False
                ch.idle.notify_all()

    def _decode(self, ch: _Channel, data: bytes) -> None:
        """Push audio to the channel's STT stream; turn what comes out into events."""
        failed: Exception | None = None
        if data:  # before the push: a final it returns may end in this chunk
            self._observe(ch, data)
        try:
            events = ch.stream.push(data)
            ch.failure = ""
        except Exception as exc:  # noqa: BLE001 - report, keep the call alive
            self.stats.stt_errors += 1
            message = f"speech-to-text failed on the {ch.role} channel: {exc}"
            if message != ch.failure:  # once per failure, not once per audio frame
                log.exception("STT failed on call %s channel %s", self.call_id, ch.role)
                self.emit({"type": "error", "code": "stt_failed", "fatal": False,
                           "message": message})
            ch.failure = message
            events = []
            failed = exc
        if data:  # an inline stream's audio is counted by _feed, on another thread
            ch.samples += len(data) // 2
        if isinstance(failed, ProviderUnavailable):
            self._reopen(ch)  # after counting: the new session starts at this call time
        now_ms = self.offset_ms + ch.samples * 1000 // SAMPLE_RATE
        if data and louder_than(data[-SAMPLE_RATE // 5:], VOICE_DBFS):  # last ~100 ms
            ch.last_voice_ms = now_ms
        try:
            with self._lock:
                for ev in events:
                    self._on_transcript(ch, ev, now_ms)
                self._maybe_tick(now_ms)
        except Exception:  # noqa: BLE001 - never let one event kill the drain
            log.exception("live pipeline failed on call %s", self.call_id)

    def _reopen(self, ch: _Channel) -> None:
        """Replace a channel's failed STT session (a dropped or expired network session) with
        a new one, at most every ``REOPEN_EVERY_S``; its times continue from the call clock."""
        now = time.monotonic()
        if now - ch.reopened_at < REOPEN_EVERY_S:
            return
        ch.reopened_at = now
        with contextlib.suppress(Exception):  # the old session is gone either way
            ch.stream.finish()
        try:
            stream = self._stt.open_stream(SAMPLE_RATE)
        except Exception:  # noqa: BLE001 - tried again on a later frame
            log.warning("could not reopen STT on call %s channel %s", self.call_id, ch.role,
                        exc_info=True)
            return
        stream.on_ready = lambda: self._kick(ch)
        with ch.lock:  # from the oldest audio kept (all audio so far, if not a network
            # stream); later audio queues behind it until the new session has caught up
            kept_from = ch.kept.start()
            ch.base_ms = (ch.samples if kept_from is None else kept_from) * 1000 // SAMPLE_RATE
            ch.replay = deque(ch.kept.pcm())
            ch.replaying = bool(ch.replay)
            ch.stream = stream
        ch.failure = ""
        if ch.replaying:
            IoLoop.get().spawn(self._catch_up(ch, stream))
        log.info("STT reopened on call %s channel %s at %d ms", self.call_id, ch.role,
                 ch.base_ms)
        self.emit({"type": "error", "code": "stt_reconnected", "fatal": False,
                   "message": f"speech-to-text on the {ch.role} channel reconnected"})

    # Transcript → turns → coach ----------------------------------------------------------
    def _speaker_of(self, ch: _Channel) -> str:
        if ch.role != "mixed":
            return ch.role
        # One mixed channel (speakerphone, mono recording): speakers alternate by turn.
        self._last_speaker = "rep" if self._last_speaker == "customer" else "customer"
        return self._last_speaker

    def _on_transcript(self, ch: _Channel, ev: TranscriptEvent, now_ms: int) -> None:
        off = self.offset_ms + ch.base_ms  # STT times count from its session's start
        if ev.kind == "partial":
            ch.last_partial_ms = now_ms
            if ch.stream.inline_push and ev.words:
                with ch.lock:
                    ch.kept.open_turn((ch.base_ms + ev.start_ms) * SAMPLE_RATE // 1000)
            if ev.text.strip():
                self.emit({"type": "partial", "channel": ch.index,
                           "speaker": ch.role if ch.role != "mixed" else "mixed",
                           "text": ev.text, "start_ms": ev.start_ms + off,
                           "end_ms": ev.end_ms + off})
            return
        if ch.stream.inline_push:
            with ch.lock:
                ch.kept.cover((ch.base_ms + ev.end_ms) * SAMPLE_RATE // 1000)
        text = ev.text.strip()
        if not text:
            return
        if ch.mixed is not None:
            self._mixed_turns(ch, ev)
            return
        turn = Turn(self.next_seq, self._speaker_of(ch), text,  # type: ignore[arg-type]
                    ev.start_ms + off, ev.end_ms + off,
                    tuple(Word(w.text, w.start_ms + off, w.end_ms + off, w.confidence)
                          for w in ev.words))
        self.next_seq += 1
        self.handle_turn(turn)

    def _mixed_turns(self, ch: _Channel, ev: TranscriptEvent) -> None:
        """One final of a mixed channel → one turn per run of one voice."""
        base = ch.base_ms  # channel ms = session ms + base
        words = [Word(w.text, w.start_ms + base, w.end_ms + base, w.confidence)
                 for w in ev.words]
        try:
            runs = ch.mixed.split(ev.text, ev.start_ms + base, ev.end_ms + base, words)
        except Exception:  # noqa: BLE001 - fall back to taking turns
            log.exception("speaker identification failed on call %s", self.call_id)
            runs = [(self._speaker_of(ch), ev.text.strip(), words)]
        off = self.offset_ms
        for speaker, text, run in runs:
            self._last_speaker = speaker
            start = run[0].start_ms if run else ev.start_ms + base
            end = max(w.end_ms for w in run) if run else ev.end_ms + base
            turn = Turn(self.next_seq, speaker, text, start + off, end + off,
                        tuple(Word(w.text, w.start_ms + off, w.end_ms + off, w.confidence)
                              for w in run))
            self.next_seq += 1
            self.handle_turn(turn)

    def handle_turn(self, turn: Turn) -> None:
        """Coach, store and announce one turn (caller holds no lock or the call lock)."""
        with self._lock:
            t0 = time.perf_counter()
            analysis: dict[str, Any] = {}
            nudges: list[dict[str, Any]] = []
            metrics: dict[str, Any] | None = None
            try:
                result = self.coach.on_turn(turn)
                analysis = result.analysis.to_dict()
                nudges = [{**n.to_dict(), "source": "instant"} for n in result.nudges]
                metrics = result.metrics
            except Exception as exc:  # noqa: BLE001 - the turn is stored whatever happens
                log.exception("coach failed on call %s turn %s", self.call_id, turn.seq)
                self.emit({"type": "error", "code": "coach_failed", "fatal": False,
                           "message": f"coaching failed on turn {turn.seq}: {exc}"})
            ids = store.save_turn(self.tenant_id, self.call_id, turn, analysis, nudges)
            self.stats.turns += 1
            self.emit(store.turn_event(turn))
            self._emit_nudges(nudges, ids)
            if nudges:
                self._observe_latency(turn.end_ms, "instant", len(nudges))
            self.stats.timings.append(("turn", time.perf_counter() - t0))
            if metrics is not None:
                self.emit({"type": "metrics", "metrics": metrics, "seq": turn.seq})
            if self._deep and turn.seq % self._deep_every == 0:
                side_pool().submit(self._enqueue_deep, turn.seq)

    def audio_arrived_at(self, call_ms: int) -> float | None:
        """Monotonic time at which the first channel's audio reached ``call_ms``."""
        times = []
        for ch in self._channels:
            for reached, at in ch.arrivals:
                if reached >= call_ms:
                    times.append(at)
                    break
        return min(times) if times else None

    def _observe_latency(self, call_ms: int, source: str, count: int) -> None:
        """Audio-to-nudge: from the audio ending the turn to its nudges being sent."""
        arrived = self.audio_arrived_at(call_ms)
        if arrived is not None:
            elapsed = max(0.0, time.monotonic() - arrived)
            for _ in range(count):
                AUDIO_TO_NUDGE.labels(source=source).observe(elapsed)

    def _emit_nudges(self, nudges: list[dict[str, Any]], ids: list[int]) -> None:
        for n, nid in zip(nudges, ids, strict=True):
            self.stats.nudges += 1
            self._nudge_texts.add(str(n.get("text")))
            self.emit({"type": "nudge", "id": nid, "seq": n.get("turn_seq"),
                       "category": n.get("category"), "severity": n.get("severity"),
                       "text": n.get("text"), "rule": n.get("rule"), "at_ms": n.get("at_ms"),
                       "source": n.get("source", "instant"), "rating": None})

    def speaking(self, now_ms: int) -> str | None:
        """Who is talking now: voice activity or a fresh partial on their channel."""
        active = [ch for ch in self._channels
                  if now_ms - max(ch.last_voice_ms, ch.last_partial_ms) <= SPEAKING_HOLD_MS]
        roles = {ch.role for ch in active}
        if "rep" in roles:
            return "rep"
        if "customer" in roles:
            return "customer"
        if "mixed" in roles:
            return self._mixed_speaking(now_ms, next(ch for ch in active if ch.role == "mixed"))
        return None

    def _mixed_speaking(self, now_ms: int, ch: _Channel) -> str | None:
        """Who is on a mixed channel now: the voice of its last 1.6 s, checked at most every
        ``SPEAKING_EVERY_MS``; without a tracker, the last speaker."""
        if ch.mixed is None:
            return self._last_speaker if self._last_speaker in ("rep", "customer") else None
        if now_ms - self._speaking_at >= SPEAKING_EVERY_MS:
            self._speaking_at = now_ms
            try:
                self._speaking = ch.mixed.speaking()
            except Exception:  # noqa: BLE001
                log.exception("speaker check failed on call %s", self.call_id)
        return self._speaking or self._last_speaker

    def _maybe_tick(self, now_ms: int) -> None:
        if now_ms - self._last_tick_ms < TICK_EVERY_MS:
            return
        self._last_tick_ms = now_ms
        who = self.speaking(now_ms)
        if who != self._told_speaking and any(ch.mixed is not None for ch in self._channels):
            # One microphone hears both voices, so the panel cannot tell from its level whether
            # the rep is talking (its spoken cues wait for the rep); the tracker can.
            self._told_speaking = who
            self.emit({"type": "speaking", "speaker": who, "at_ms": now_ms})
        try:
            produced = self.coach.on_tick(now_ms, speaking=who)
        except Exception:  # noqa: BLE001
            log.exception("coach tick failed on call %s", self.call_id)
            return
        if produced:
            nudges = [{**n.to_dict(), "source": "instant"} for n in produced]
            ids = store.save_nudges(self.tenant_id, self.call_id, nudges)
            self._emit_nudges(nudges, ids)

    # Deep tier ---------------------------------------------------------------------------
    def _enqueue_deep(self, upto_seq: int) -> None:
        try:
            with self._app_context():
                enqueue_deep(self.call_id, self.tenant_id, upto_seq)
        except Exception:  # noqa: BLE001 - the deep tier is optional at run time
            log.exception("could not enqueue deep review for %s", self.call_id)

    def on_bus_event(self, event: dict[str, Any]) -> None:
        """Results of the deep tier (from a worker): store their nudges, forward to listeners."""
        if event.get("type") != "deep":
            return
        with self._lock:
            nudges = [{**n, "source": "deep"} for n in event.get("nudges", [])
                      if isinstance(n, dict) and n.get("text")
                      and n.get("text") not in self._nudge_texts]
            ids = store.save_nudges(self.tenant_id, self.call_id, nudges)
            store.update_metrics(self.tenant_id, self.call_id, {"deep": {
                k: event.get(k) for k in ("summary", "checklist", "upto_seq")}})
            self.emit({k: v for k, v in event.items() if k != "nudges"})
            self._emit_nudges(nudges, ids)

    # End ---------------------------------------------------------------------------------
    def _enrol_rep(self) -> None:
        """Refresh the rep's voice print from this call's rep channel (on the side pool)."""
        clips = [b"".join(ch.enroll) for ch in self._channels
                 if ch.enroll is not None and ch.enroll_ms >= ENROLL_MIN_MS]
        if not clips:
            return

        def enrol() -> None:
            from plugin.live import engines
            from plugin.speech.voiceprint import enroll

            try:
                prints, embedder = engines.voiceprints(), engines.speaker_embedder()
                tenant, user = engines.call_user(self.call_id)
                if prints is None or embedder is None or user is None:
                    return
                audio = np.frombuffer(clips[0], dtype="<i2").astype(np.float32) / 32768.0
                step = 4 * SAMPLE_RATE  # 4 s clips
                vector = enroll(embedder, [audio[i:i + step] for i in range(0, len(audio), step)])
                if vector is not None:
                    prints.save(tenant, user, vector)
            except Exception:  # noqa: BLE001 - a voice print is a bonus
                log.exception("enrolling the rep's voice failed on call %s", self.call_id)

        side_pool().submit(enrol)

    def drain(self, timeout_s: float = 120.0) -> None:
        """Wait until all queued audio has been decoded."""
        deadline = time.monotonic() + timeout_s
        for ch in self._channels:
            with ch.lock:
                while (ch.running or ch.pending) and time.monotonic() < deadline:
                    ch.idle.wait(timeout=max(0.01, deadline - time.monotonic()))

    def finish(self, reason: str = "stop") -> dict[str, Any]:
        """End the call: flush STT, store the end state, submit post-call work, emit ``ended``.

        Idempotent; returns the ``ended`` event.
        """
        with self._end_lock:
            if self.ended is not None:
                return self.ended
            self.ending = True
            self.drain()
            for ch in self._channels:
                with ch.lock:  # a replacement session still catching up gets the rest now
                    rest, ch.replaying = b"".join(ch.replay), False
                    ch.replay.clear()
                if rest:
                    with contextlib.suppress(Exception):
                        ch.stream.send(rest)
                try:
                    events = ch.stream.finish()
                except Exception:  # noqa: BLE001
                    log.exception("STT finish failed on call %s", self.call_id)
                    events = []
                now_ms = self.offset_ms + ch.samples * 1000 // SAMPLE_RATE
                with self._lock:
                    for ev in events:
                        if ev.kind == "final":
                            self._on_transcript(ch, ev, now_ms)
            duration_ms = self.offset_ms + max((ch.samples for ch in self._channels), default=0) \
                * 1000 // SAMPLE_RATE
            summary, metrics, scores = "", {}, {}
            with self._lock:
                try:
                    metrics = self.coach.metrics()
                    report = self.coach.report().to_dict()
                    summary, scores = report.get("summary", ""), report.get("scores", {})
                except Exception:  # noqa: BLE001
                    log.exception("coach report failed on call %s", self.call_id)
            self._enrol_rep()
            store.end_call(self.tenant_id, self.call_id, duration_ms=duration_ms,
                           metrics={**metrics, "summary": summary, "scores": scores,
                                    "end_reason": reason})
            if self._post_call:
                try:
                    with self._app_context():
                        submit_post_call(self.call_id)
                except Exception:  # noqa: BLE001 - the call is stored; analysis can be re-run
                    log.exception("submit_call failed for %s", self.call_id)
            self.ended = {"type": "ended", "call_id": self.call_id, "summary": summary,
                          "scores": scores, "metrics": metrics, "reason": reason,
                          "duration_ms": duration_ms, "turns": self.next_seq - 1}
            self.emit(self.ended)
        for hook in list(self.on_end):
            try:
                hook(self)
            except Exception:  # noqa: BLE001
                log.exception("on_end hook failed for %s", self.call_id)
        return self.ended
