"""Every common call format reads: μ-law / A-law phone WAVs, 8–48 kHz, stereo or mono, MP3;
a codec nothing here decodes is refused with its name, in the library and at the CLI."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.live.audio import alaw_to_pcm16, pcm16_to_ulaw, ulaw_to_pcm16
from plugin.live.sources import FileSource
from plugin.providers.errors import ProviderInputError
from plugin.speech.audio import check_codec, describe_format, load_audio

from .conftest import speak


@pytest.fixture(scope="module")
def source_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("formats")
    return speak("Hello, this is a phone call about the price.", "en-us", folder / "src.wav")


def _sox(src: Path, out: Path, *args: str) -> Path:
    subprocess.run(["sox", str(src), *args, str(out)], check=True, capture_output=True)
    return out


@pytest.mark.parametrize(("name", "args", "rate", "channels"), [
    ("ulaw.wav", ("-r", "8000", "-e", "u-law"), 8000, 1),
    ("alaw.wav", ("-r", "8000", "-e", "a-law"), 8000, 1),
    ("gsm.wav", ("-r", "8000", "-e", "gsm-full-rate"), 8000, 1),
    ("pcm44.wav", ("-r", "44100", "-c", "2"), 44100, 2),
    ("float48.wav", ("-r", "48000", "-e", "floating-point"), 48000, 1),
    ("call.mp3", ("-r", "44100"), 44100, 1),
])
def test_recordings_of_every_common_format_decode_to_16k_channels(
        source_wav: Path, tmp_path: Path, name: str, args: tuple[str, ...], rate: int,
        channels: int) -> None:
    path = _sox(source_wav, tmp_path / name, *args)
    length = load_audio(source_wav).duration_s
    audio = load_audio(path)
    assert len(audio.channels) == channels
    assert abs(audio.duration_s - length) < 0.1
    source = FileSource(path)  # what `salescoach replay` streams
    assert source.original_rate == rate
    assert source.channels == (("rep", "customer") if channels == 2 else ("mixed",))
    assert abs(source.duration_ms - length * 1000) < 100
    assert np.abs(source.channels_pcm[0]).max() > 1000  # real signal, not silence


def _wav_with_tag(path: Path, tag: int) -> Path:
    data = bytes(4000)
    fmt = struct.pack("<HHIIHH", tag, 1, 8000, 8000, 1, 8)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE"
                     + b"fmt " + struct.pack("<I", len(fmt)) + fmt
                     + b"data" + struct.pack("<I", len(data)) + data)
    return path


def test_a_wav_codec_nothing_decodes_is_refused_by_name(tmp_path: Path) -> None:
    path = _wav_with_tag(tmp_path / "odd.wav", 0x1234)
    assert describe_format(path) == "WAV with codec unknown (format tag 4660)"
    with pytest.raises(ProviderInputError, match="format tag 4660"):
        load_audio(path)
    with pytest.raises(ProviderInputError, match="format tag 4660"):
        check_codec(path)
    with pytest.raises(ProviderInputError, match="format tag 4660"):
        FileSource(path)


def test_replay_names_the_format_it_cannot_read(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESCOACH_INSTANCE_PATH", str(tmp_path))
    path = _wav_with_tag(tmp_path / "odd.wav", 0x1234)
    result = CliRunner().invoke(main, ["replay", str(path), "--no-post-call"])
    assert result.exit_code == 1
    assert "format tag 4660" in result.output and "Traceback" not in result.output


def test_g711_tables_match_ffmpeg(source_wav: Path, tmp_path: Path) -> None:
    for law, decode in (("u-law", ulaw_to_pcm16), ("a-law", alaw_to_pcm16)):
        path = _sox(source_wav, tmp_path / f"{law}.wav", "-r", "8000", "-e", law)
        raw = path.read_bytes()
        start = raw.index(b"data") + 8
        codes = raw[start:start + 4000]
        import av

        with av.open(str(path)) as container:
            ref = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
        assert np.array_equal(decode(codes), ref[:len(codes)])
    samples = np.arange(-32768, 32767, 7, dtype=np.int16)
    again = ulaw_to_pcm16(pcm16_to_ulaw(samples)).astype(np.int32)
    assert np.all(np.abs(again - samples) <= np.maximum(16, np.abs(samples.astype(np.int32)) // 16))


def test_upload_of_a_codec_nothing_decodes_is_415_naming_it(client: object, tenants: object,
                                                            tmp_path: Path) -> None:
    import io
    from typing import Any

    c: Any = client
    t: Any = tenants
    ident = t.identity("demo", "rep-formats")
    data = _wav_with_tag(tmp_path / "odd.wav", 0x1234).read_bytes()
    resp = c.post("/api/v1/recordings", headers=t.headers(ident),
                  data={"file": (io.BytesIO(data), "phone call.wav")},
                  content_type="multipart/form-data")
    assert resp.status_code == 415, resp.json
    assert resp.json["error"]["code"] == "unsupported_format"
    assert "phone call.wav" in resp.json["error"]["message"]
    assert "format tag 4660" in resp.json["error"]["message"]


def test_upload_of_a_mulaw_phone_recording_is_accepted(client: object, tenants: object,
                                                       source_wav: Path, tmp_path: Path) -> None:
    import io
    from typing import Any

    c: Any = client
    t: Any = tenants
    data = _sox(source_wav, tmp_path / "phone.wav", "-r", "8000", "-e", "u-law").read_bytes()
    resp = c.post("/api/v1/recordings", headers=t.headers(t.identity("demo", "rep-formats")),
                  data={"file": (io.BytesIO(data), "phone.wav")},
                  content_type="multipart/form-data")
    assert resp.status_code == 202, resp.json
