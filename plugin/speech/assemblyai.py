"""AssemblyAI through the official ``assemblyai`` SDK: recordings (v2 REST) and live (v3 WS).

Speakers: a stereo recording is sent with ``multichannel`` (channel 1 = left = rep, channel 2
= customer). A mono recording is sent with ``speaker_labels`` and two expected speakers; the
first speaker heard is taken to be the rep (``first_speaker="customer"`` flips that for
inbound calls). Live audio is one session per channel, so no diarization is needed there.

Errors become ``plugin.providers.errors``: 400/401/403/404 and failed transcripts are
``ProviderInputError`` (never retried); 408/429/5xx, timeouts and connection failures are
``ProviderUnavailable`` (retryable).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import assemblyai as aai
import httpx
from assemblyai.streaming import v3 as aai_stream

from plugin.coach.types import Speaker, Turn, Word
from plugin.eventloop import IoLoop
from plugin.providers.errors import (
    ProviderError,
    ProviderInputError,
    ProviderUnavailable,
    classify_status,
)
from plugin.providers.stt import SpeechToText, SttCapabilities, SttStream, TranscriptEvent

from .audio import probe_channels
from .turns import Utterance, utterances_to_turns

if TYPE_CHECKING:
    from plugin.settings import Settings

log = logging.getLogger(__name__)

CHUNK_MS = 50  # the v3 API takes 50–1000 ms of audio per message
MAX_CHUNK_MS = 1000
# Streaming close codes / errors that a retry cannot fix (bad key, bad request, no funds…).
_STREAM_INPUT_CODES = {400, 401, 403, 404, 3006, 3007, 4000, 4001, 4002, 4003, 4032, 4033,
                       4034, 4100, 4101}


def error_from_status(message: str, status: int | None) -> ProviderError:
    """An SDK/HTTP failure → our error type (no status: the service was not reachable)."""
    if status is None:
        return ProviderUnavailable(message)
    return classify_status(status)(message, status=status)


class AssemblyAiStt(SpeechToText):
    """AssemblyAI speech-to-text (needs an API key; ``base_url``/``streaming_host`` optional)."""

    name = "assemblyai"
    capabilities = SttCapabilities(streaming=True, interim_results=True, word_times=True,
                                   diarization=True)

    def __init__(self, api_key: str, *, base_url: str = "", streaming_host: str = "",
                 poll_interval: float | None = None, first_speaker: Speaker = "rep",
                 timeout_s: float = 3600.0, format_turns: bool = True,
                 speech_model: str | None = None, send_ms: int = 200) -> None:
        if not api_key:
            raise ProviderInputError("AssemblyAI needs an API key (SALESCOACH_ASSEMBLYAI_API_KEY)")
        self.api_key = api_key
        self.base_url = (base_url or "https://api.assemblyai.com").rstrip("/")
        self.streaming_host = (streaming_host or "streaming.assemblyai.com").rstrip("/")
        # The real service takes seconds to minutes; a local server answers at once.
        self.poll_interval = poll_interval or (1.0 if self.base_url.startswith("https") else 0.1)
        self.first_speaker = first_speaker
        self.timeout_s = timeout_s
        self.format_turns = format_turns
        self.speech_model = speech_model
        if not CHUNK_MS <= send_ms <= MAX_CHUNK_MS:
            raise ProviderInputError(f"send_ms must be {CHUNK_MS}–{MAX_CHUNK_MS} ms")
        self.send_ms = send_ms

    @classmethod
    def from_settings(cls, settings: Settings) -> AssemblyAiStt:
        return cls(settings.assemblyai_api_key, base_url=settings.assemblyai_base_url,
                   streaming_host=settings.assemblyai_streaming_host,
                   send_ms=settings.assemblyai_send_ms)

    # Batch ----------------------------------------------------------------------------------
    def _client(self) -> aai.Client:
        sdk_settings = aai.Settings(api_key=self.api_key, base_url=self.base_url,
                                    polling_interval=self.poll_interval)
        return aai.Client(settings=sdk_settings)

    def transcribe_file(self, path: Path, *, progress: object | None = None,
                        rep_print: object | None = None) -> list[Turn]:
        report: Callable[[float], None] | None = progress if callable(progress) else None
        path = Path(path)
        if not path.is_file():
            raise ProviderInputError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise ProviderInputError(f"{path.name}: the file is empty")
        stereo = probe_channels(path) == 2  # also rejects non-audio before uploading it
        config = (aai.TranscriptionConfig(multichannel=True) if stereo
                  else aai.TranscriptionConfig(speaker_labels=True, speakers_expected=2))
        client = self._client()
        try:
            if report:
                report(0.0)
            transcriber = aai.Transcriber(client=client)
            audio_url = transcriber.upload_file(str(path))
            if report:
                report(0.3)
            transcript = transcriber.submit(audio_url, config=config)
            if report:
                report(0.4)
            transcript.wait_for_completion(poll_timeout=self.timeout_s)
        except aai.types.TranscriptError as exc:
            if exc.status_code is None and "did not finish" in str(exc):
                raise ProviderUnavailable(f"AssemblyAI: {exc}") from exc
            raise error_from_status(f"AssemblyAI: {exc}", exc.status_code) from exc
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"AssemblyAI timed out: {exc}") from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"AssemblyAI unreachable at {self.base_url}: {exc}") from exc
        finally:
            client.http_client.close()
        if transcript.status == aai.TranscriptStatus.error:
            raise ProviderInputError(f"AssemblyAI could not transcribe {path.name}: "
                                     f"{transcript.error}")
        utterances = transcript.utterances or []
        rep_label = None if stereo or rep_print is None else \
            self._rep_label(path, utterances, rep_print)
        turns = self._turns(utterances, stereo, rep_label)
        if report:
            report(1.0)
        return turns

    @staticmethod
    def _rep_label(path: Path, utterances: Sequence[Any], rep_print: object) -> str | None:
        """The diarization label whose voice is nearest the rep's print (decoded and
        embedded here, on the CPU), or None when it cannot be told."""
        import numpy as np

        from .audio import load_audio
        from .diarize import rep_label_by_print
        from .voiceprint import get_embedder

        by_label: dict[str, list[Word]] = {}
        for u in utterances:
            by_label.setdefault(str(u.speaker or "A"), []).extend(
                Word(w.text, int(w.start), int(w.end)) for w in u.words or ())
        try:
            audio = load_audio(path)
            embedder = get_embedder("resemblyzer")
        except (RuntimeError, ProviderInputError):
            log.warning("no voice print match for %s", path.name, exc_info=True)
            return None
        samples = np.asarray(audio.channels[0], dtype=np.float32)
        return rep_label_by_print(samples, by_label, embedder,
                                  np.asarray(rep_print, dtype=np.float64))

    def _turns(self, utterances: Sequence[Any], stereo: bool,
               rep_label: str | None = None) -> list[Turn]:
        speakers: dict[str, Speaker] = {}
        other: Speaker = "customer" if self.first_speaker == "rep" else "rep"
        out: list[Utterance] = []
        for u in sorted(utterances, key=lambda u: u.start):
            if stereo:
                channel = str(u.channel or u.speaker or "1")
                speaker: Speaker = "rep" if channel in ("1", "A") else "customer"
            else:
                label = str(u.speaker or "A")
                if rep_label is not None:
                    speakers.setdefault(label, "rep" if label == rep_label else "customer")
                elif label not in speakers:
                    speakers[label] = self.first_speaker if not speakers else other
                speaker = speakers[label]
            words = tuple(Word(w.text, int(w.start), int(w.end), round(float(w.confidence), 3))
                          for w in u.words or ())
            if not words and u.text:
                words = (Word(u.text, int(u.start), int(u.end)),)
            if words:
                out.append(Utterance(speaker, words))
        return utterances_to_turns(out)

    # Streaming ------------------------------------------------------------------------------
    def open_stream(self, sample_rate: int = 16000) -> AssemblyAiStream:
        return AssemblyAiStream(self, sample_rate)


class AssemblyAiStream(SttStream):
    """One Universal-Streaming v3 session (one channel) through the SDK's asyncio client, on
    the process's I/O loop (``plugin.eventloop``): a few tasks per session, not a websocket
    and two threads as with the SDK's threaded client."""

    CONNECT_TIMEOUT_S = 30.0
    inline_push = True

    def __init__(self, provider: AssemblyAiStt, sample_rate: int = 16000) -> None:
        if not 8000 <= sample_rate <= 48000:
            raise ProviderInputError(f"unsupported sample rate {sample_rate} Hz (8000–48000)")
        self.sample_rate = sample_rate
        self.format_turns = provider.format_turns
        self._chunk_bytes = sample_rate * 2 * CHUNK_MS // 1000
        self._send_bytes = sample_rate * 2 * provider.send_ms // 1000
        self._max_bytes = sample_rate * 2 * MAX_CHUNK_MS // 1000
        self._buffer = bytearray()
        self._events: queue.Queue[TranscriptEvent] = queue.Queue()
        self._held: dict[int, TranscriptEvent] = {}  # end-of-turn waiting for its formatted copy
        self._emitted_final: set[int] = set()
        self._error: ProviderError | None = None
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._finished = False
        self.session_id = ""
        self._loop = IoLoop.get()
        options = aai_stream.RealTimeTranscriberOptions(
            api_key=provider.api_key, api_host=provider.streaming_host)
        params = aai_stream.RealTimeParameters(
            sample_rate=sample_rate, encoding=aai_stream.Encoding.pcm_s16le,
            format_turns=provider.format_turns, speaker_labels_revision_interval_ms=None,
            speech_model=(aai_stream.SpeechModel(provider.speech_model)
                          if provider.speech_model else None))
        try:
            self._client: aai_stream.AsyncRealTimeTranscriber = self._loop.run(
                self._connect(options, params), timeout=self.CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise ProviderUnavailable(
                f"AssemblyAI streaming did not connect within {self.CONNECT_TIMEOUT_S:.0f} s "
                f"({provider.streaming_host})") from None
        self._raise_if_failed()

    async def _connect(self, options: aai_stream.RealTimeTranscriberOptions,
                       params: aai_stream.RealTimeParameters
                       ) -> aai_stream.AsyncRealTimeTranscriber:
        client = aai_stream.AsyncRealTimeTranscriber(options)
        client.on(aai_stream.RealTimeEvents.Begin, self._on_begin)
        client.on(aai_stream.RealTimeEvents.Turn, self._on_turn)
        client.on(aai_stream.RealTimeEvents.Error, self._on_error)
        await client.connect(params)  # failures arrive through _on_error, not as exceptions
        return client

    # SDK callbacks (on the loop thread) ----------------------------------------------------
    def _on_begin(self, _client: Any, event: aai_stream.BeginEvent) -> None:
        self.session_id = event.id

    def _on_error(self, _client: Any, error: aai_stream.RealTimeError) -> None:
        code = error.code
        message = f"AssemblyAI streaming: {error}"
        if code is not None and (code in _STREAM_INPUT_CODES or 400 <= code < 500):
            err: ProviderError = ProviderInputError(message, status=code)
        else:
            err = ProviderUnavailable(message, status=code)
        with self._lock:
            self._error = self._error or err

    def _on_turn(self, _client: Any, event: aai_stream.TurnEvent) -> None:
        words = tuple(Word(w.text, int(w.start), int(w.end), round(float(w.confidence), 3))
                      for w in event.words)
        text = event.transcript.strip()
        if words:
            start_ms, end_ms = words[0].start_ms, max(w.end_ms for w in words)
        else:
            start_ms = end_ms = 0
        order = event.turn_order
        with self._lock:
            if order in self._emitted_final:
                return
            if not event.end_of_turn:
                if text:
                    self._events.put(TranscriptEvent("partial", text, start_ms, end_ms, words))
                    self._notify()
                return
            final = TranscriptEvent("final", text, start_ms, end_ms, words)
            if self.format_turns and not event.turn_is_formatted:
                self._held[order] = final  # the formatted version follows
                return
            self._held.pop(order, None)
            self._emitted_final.add(order)
            if text:
                self._events.put(final)
                self._notify()

    def _notify(self) -> None:
        callback = self.on_ready
        if callback is not None:
            try:
                callback()
            except Exception:  # noqa: BLE001 - the events are still collected on the next push
                log.exception("on_ready callback failed")

    # SttStream ------------------------------------------------------------------------------
    def push(self, pcm16: bytes) -> list[TranscriptEvent]:
        self.send(pcm16)
        return self._drain()

    def send(self, pcm16: bytes) -> None:
        """Hand audio to the session in chunks of the size the API takes; never waits."""
        self._raise_if_failed()  # first: a failed session keeps saying why (so it is reopened)
        if self._finished:
            raise ProviderInputError("the stream is finished")
        if len(pcm16) % 2:
            raise ProviderInputError("PCM16 audio must have an even number of bytes")
        if not pcm16:
            return
        with self._send_lock:  # the socket's thread sends; a pool thread may push(b"")
            self._buffer.extend(pcm16)
            while len(self._buffer) >= self._send_bytes:
                n = min(len(self._buffer), self._max_bytes) // self._chunk_bytes * self._chunk_bytes
                self._loop.spawn(self._client.stream(bytes(self._buffer[:n])))
                del self._buffer[:n]

    def force_endpoint(self) -> list[TranscriptEvent]:
        """Ask the service to end the current turn now; its final arrives in a later call."""
        self._raise_if_failed()
        with self._send_lock:
            if self._buffer:
                self._loop.spawn(self._client.stream(
                    bytes(self._buffer).ljust(self._chunk_bytes, b"\x00")))
                self._buffer.clear()
            self._loop.spawn(self._client.force_endpoint())
        return self._drain()

    def finish(self) -> list[TranscriptEvent]:
        if self._finished:
            return []
        self._finished = True
        with self._send_lock:
            if self._buffer and self._error is None:
                tail = bytes(self._buffer).ljust(self._chunk_bytes, b"\x00")  # min. chunk
                self._loop.spawn(self._client.stream(tail))
                self._buffer.clear()
        # Waits for the final Turn and Termination (the SDK bounds that by its
        # terminate_timeout); our bound only guards against a wedged loop.
        self._loop.run(self._client.disconnect(terminate=True), timeout=120)
        with self._lock:  # a turn whose formatted copy never came: use the raw one
            for order in sorted(self._held):
                held = self._held[order]
                if held.text:
                    self._events.put(held)
            self._held.clear()
        events = self._drain()
        self._raise_if_failed()
        return events

    def _drain(self) -> list[TranscriptEvent]:
        events: list[TranscriptEvent] = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    def _raise_if_failed(self) -> None:
        with self._lock:
            err = self._error
        if err is not None:
            if not self._finished:
                self._finished = True
                self._loop.spawn(self._client.disconnect())
            raise err
