"""Speech-to-text for Sales Coach: local Whisper (offline default) or AssemblyAI.

```python
from plugin.speech import get_stt
stt = get_stt(settings)
turns = stt.transcribe_file(path, progress=lambda f: ...)   # list[Turn], rep/customer
stream = stt.open_stream(16000)                              # one per audio channel
events = stream.push(pcm16_bytes)                            # list[TranscriptEvent]
events += stream.finish()
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from plugin.providers.errors import ProviderInputError
from plugin.providers.stt import SpeechToText, SttStream, TranscriptEvent

from .wer import normalize, wer

if TYPE_CHECKING:
    from plugin.settings import Settings

__all__ = ["get_stt", "wer", "normalize", "SpeechToText", "SttStream", "TranscriptEvent"]


def get_stt(settings: Settings) -> SpeechToText:
    """The configured provider: AssemblyAI when chosen or keyed, else local Whisper.

    Cheap to call: the Whisper model is loaded once per process on first use.
    """
    if settings.stt_provider == "assemblyai":
        if not settings.assemblyai_api_key:
            raise ProviderInputError(
                "SALESCOACH_STT_ENGINE=assemblyai needs SALESCOACH_ASSEMBLYAI_API_KEY")
        from .assemblyai import AssemblyAiStt

        return AssemblyAiStt.from_settings(settings)
    import os

    from .engine import WhisperEngine
    from .local import LocalWhisperStt

    decoders = settings.stt_live_decoders or os.cpu_count() or 1
    return LocalWhisperStt(
        WhisperEngine.shared(settings.whisper_model, settings.stt_threads),
        live_engine=WhisperEngine.shared(settings.whisper_model, 1, workers=decoders))
